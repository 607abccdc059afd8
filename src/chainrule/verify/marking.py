"""Marking answers as a careful teacher does: from the answerer's own earlier numbers.

:func:`judge` is the way in. For a network's step (a :class:`Truth` with a spec) every answer
is compared with what it should be from the numbers given before it (verify/carried.py):

- ``correct``: the correct number, at the precision written;
- ``rounded``: not the correct number, but right from the rounded numbers it was worked from;
- ``carried``: right from earlier numbers that were wrong (error carried forward: credited
  under ``marking="carried-forward"``, wrong under ``"strict"``);
- ``close``: off only in the last digits written, or truncated rather than rounded, and no
  mistake explains it;
- ``wrong``.

Each way of working the step is a reading of the given numbers (verify/readings.py); the
mistake behind the wrong answers is named by verify/diagnosis.py. The first answer not
credited, in the step's order, is reported with what it should have been and how many later
answers followed from it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from chainrule.spec.network import Spec
from chainrule.verify.alterations import CORRECT as CORRECT_STEP
from chainrule.verify.carried import Given, unwritten_spread
from chainrule.verify.diagnosis import Diagnoser, two_computations_text
from chainrule.verify.mistakes import split_key
from chainrule.verify.readings import UNCHANGED, Reading, Readings, picker
from chainrule.verify.judging import (
    BLANK, BLANK_NOTE, CARRIED, CLOSE, CORRECT, CREDITED, MARKINGS, ROUNDED, WRONG, AnswerReport,
    AnswerRow, Cell, Tolerance, Truth, close_reason, judge_plain, network_truth,
)
from chainrule.verify.reference import reference_step, start_values, step_rules

MEMO_LAYOUTS = 64  # sheets of different layouts whose unwritten spread a truth keeps


def judge(truth: Truth | Spec, cells: list[Cell], tolerance: Tolerance, source: str,
          precision: str, marking: str = "carried-forward") -> AnswerReport:
    """Judge every cell and explain the wrong ones (see the module docstring); a Spec stands
    for its :func:`network_truth`. A truth without a spec is judged against its correct
    numbers alone (:func:`chainrule.verify.judging.judge_plain`)."""
    if isinstance(truth, Spec):
        truth = network_truth(truth)
    if marking not in MARKINGS:
        raise ValueError(f"marking: expected one of {', '.join(MARKINGS)}, got {marking!r}")
    if not truth.ruled:
        return judge_plain(truth, cells, tolerance, source, precision)
    return _Marker(truth, cells, tolerance, marking).report(source, precision)


class _Marker:
    def __init__(self, truth: Truth, cells: list[Cell], tolerance: Tolerance,
                 marking: str) -> None:
        self.truth, self.tolerance, self.marking = truth, tolerance, marking
        order = {key: i for i, key in enumerate(truth.values)}
        self.cells = list(cells)  # rows keep the order given; the first wrong is in step order
        self.step_order = sorted(range(len(cells)), key=lambda i: (
            order.get(cells[i].key, len(order)), cells[i].index))
        self.given = Given(truth.values)
        for cell in self.cells:
            if not cell.note and np.all(np.isfinite(cell.value)):
                self.given.add(cell.key, cell.index, cell.value, cell.half_unit)
        spec = truth.spec
        self.start = start_values(spec)
        self.rules = step_rules(spec)
        self._unwritten: dict[str, np.ndarray] | None = None
        self.correct = self.reading(self.rules)
        # each mistake's reading is made when first needed: a sheet with nothing wrong needs none
        self.variants = Readings(truth.variants, lambda mid: self.reading(
            step_rules(spec, truth.variants[mid][0].alterations)))

    def unwritten(self) -> dict[str, np.ndarray]:
        """How far the rounding of numbers worked but not written spreads each quantity:
        they are taken to be rounded as those written were (a calculator), at the sheet's
        median half unit. A linear estimate, so it is taken at the correct numbers of the
        elements given: the same for every sheet asking the same quantities, computed once
        per truth and layout (a class's sheets), when first needed."""
        if self._unwritten is None:
            halves = [float(h) for c in self.cells if not c.note for h in np.ravel(c.half_unit)]
            half = float(np.median(halves)) if halves else 0.0
            layout = (half, tuple(sorted((key, mask.tobytes())
                                         for key, mask in self.given.mask.items())))
            memo = self.truth.memo.setdefault("unwritten", {})
            if layout not in memo:
                if len(memo) >= MEMO_LAYOUTS:
                    memo.clear()
                memo[layout] = unwritten_spread(self.rules, self.start,
                                                self.given.at(self.truth.values), half)
            self._unwritten = memo[layout]
        return self._unwritten

    def reading(self, rules, spreads: dict | None = None) -> Reading:
        return Reading(rules, self.start, self.given, self.truth.values, self.unwritten,
                        spreads, getattr(self, "correct", None))

    # --- one answer ------------------------------------------------------------------------

    def _fits(self, cell: Cell, reading: Reading, unwritten: bool = True) -> bool:
        """Whether ``cell`` is what ``reading`` predicts from the numbers given before it, at
        the precision written, give or take how far their rounding spreads."""
        given = np.ravel(cell.value)
        target = np.ravel(np.asarray(reading.prediction(cell), dtype=float))
        if cell.note or given.size != target.size or not np.all(np.isfinite(target)) \
                or not np.all(np.isfinite(given)):
            return False
        allowed = self.tolerance.allowed(np.ravel(cell.half_unit), target) + \
            np.ravel(reading.spread(cell, unwritten))
        return bool(np.all(np.abs(given - target) <= allowed))

    def fits_many(self, among: list[int], reading: Reading, mistakes: tuple[str, ...] = (),
                   unwritten: bool = True) -> list[int]:
        """The cells of ``among`` (indices) that :meth:`_fits` ``reading`` and, with
        ``mistakes``, that one of them :meth:`_touches`: the same tests, a quantity's elements
        at once (a sheet of thousands of answers is marked in seconds, not minutes)."""
        groups: dict[str, list[int]] = {}
        for i in among:
            cell = self.cells[i]
            if cell.note:
                if not mistakes and self._fits(cell, reading, unwritten):
                    groups.setdefault("", []).append(i)  # a wrong shape: one by one
                continue
            groups.setdefault(cell.key, []).append(i)
        found = list(groups.pop("", []))
        for key, members in groups.items():
            cells = [self.cells[i] for i in members]
            pick = picker(cells, np.ndim(self.truth.values[key]))
            given = np.array([float(c.value) for c in cells])
            half = np.array([float(c.half_unit) for c in cells])
            target = pick(reading.prediction_of(key))
            allowed = self.tolerance.allowed(half, target) + pick(reading.spread_of(key,
                                                                                  unwritten))
            with np.errstate(invalid="ignore"):
                ok = np.isfinite(target) & np.isfinite(given) & (np.abs(given - target) <= allowed)
            if mistakes:
                ok &= pick(self.touched(key, mistakes)).astype(bool)
            found += [i for i, flag in zip(members, ok) if flag]
        return sorted(found)

    def variant(self, mid: str) -> tuple[Any, dict[str, np.ndarray]] | None:
        """(the mistake, its step) of a catalogue id, or of a mistake made in one layer only
        (``derivative_of_z@layer1``, made when first asked and kept in the truth's memo; None
        where it is the mistake made throughout, or changes nothing)."""
        if mid in self.truth.variants:
            return self.truth.variants[mid]
        memo = self.truth.memo.setdefault("confined", {})
        if mid not in memo:
            whole, layer = split_key(mid)
            mistake, throughout = self.truth.variants[whole]
            confined = mistake.confined(layer)
            acted = self._acted(confined.alterations)
            if not acted or acted == self._acted(mistake.alterations):
                memo[mid] = None  # its rules are all in that layer, or none are
                return None
            values = reference_step(self.truth.spec, confined.alterations)
            same = any(all(np.array_equal(values[k], other[k], equal_nan=True) or (
                np.shape(values[k]) == np.shape(other[k]) and np.allclose(
                    values[k], other[k], rtol=UNCHANGED, atol=UNCHANGED, equal_nan=True))
                for k in other) for other in (throughout, self.truth.values))
            memo[mid] = None if same else (confined, values)
        return memo[mid]

    def _acted(self, alterations) -> set[str]:
        """The rules whose parts ``alterations`` change (no number computed)."""
        return {name for name, rule in self.rules.items()
                if alterations.parts(rule.kind, rule.layer) != CORRECT_STEP.parts(rule.kind,
                                                                                rule.layer)}

    def touched(self, key: str, mistakes: tuple[str, ...]) -> np.ndarray:
        """Which elements of ``key`` any of ``mistakes`` changes (:meth:`_touches`), kept in
        the truth's memo: it is the same for every sheet."""
        memo = self.truth.memo.setdefault("touched", {})
        if (mistakes, key) not in memo:
            right = np.asarray(self.truth.values[key], dtype=float)
            flags = np.zeros(np.shape(right), dtype=bool)
            for mid in mistakes:
                mine = np.asarray(self.variant(mid)[1][key], dtype=float)
                flags |= mine.shape != right.shape or ~np.isclose(
                    mine, right, rtol=UNCHANGED, atol=UNCHANGED, equal_nan=True)
            memo[mistakes, key] = flags
        return memo[mistakes, key]

    def touched_count(self, among: list[int], mistakes: tuple[str, ...]) -> int:
        """How many cells of ``among`` one of ``mistakes`` changes the number of: the most
        answers it can explain."""
        return sum(1 for i in among if self.cells[i].note or
                   self.touched(self.cells[i].key, mistakes)[self.cells[i].index])

    def _touches(self, cell: Cell, *mistakes: str) -> bool:
        """Whether any of ``mistakes``, made throughout the step, changes ``cell``'s number: a
        mistake that leaves an answer as it is explains nothing about it (it still fits)."""
        if cell.note:
            return True  # a wrong shape's numbers are compared as they are
        right = np.asarray(self.truth.values[cell.key], dtype=float)[cell.index]
        for mid in mistakes:
            mine = np.asarray(self.variant(mid)[1][cell.key], dtype=float)[cell.index]
            if mine.shape != right.shape or not np.allclose(
                    mine, right, rtol=UNCHANGED, atol=UNCHANGED, equal_nan=True):
                return True
        return False

    def _exact(self, cell: Cell, target: Any) -> bool:
        """``target`` at the precision written, without any spread of rounding."""
        given, target = np.ravel(cell.value), np.ravel(np.asarray(target, dtype=float))
        if given.size != target.size or not np.all(np.isfinite(target)):
            return False
        allowed = self.tolerance.allowed(np.ravel(cell.half_unit), target)
        return bool(np.all(np.abs(given - target) <= allowed))

    def status(self, cell: Cell, slipped: set[str]) -> str:
        """The cell's status; ``slipped``: the quantities judged so far with an answer that
        is not right on its own (wrong, close, or carried from a slip before it)."""
        if cell.note == BLANK_NOTE:
            return BLANK
        if cell.note or not np.all(np.isfinite(cell.value)):
            return WRONG
        if self._exact(cell, np.asarray(self.truth.values[cell.key])[cell.index]):
            # the right number is credited even where it does not follow from a wrong number
            # before it: that number is more often miscopied onto the sheet than worked with
            return CORRECT
        after_slip = cell.key in self.rules and \
            any(p in slipped for p in self.rules[cell.key].parents)
        if cell.key in self.rules and self._fits(cell, self.correct):
            if after_slip:
                return CARRIED if self.marking == "carried-forward" else WRONG
            # right only if the numbers worked but not written were rounded too: it may be,
            # and it is no mistake, but the sheet cannot show it
            return ROUNDED if self._fits(cell, self.correct, unwritten=False) else CLOSE
        return WRONG

    def _close(self, cell: Cell) -> str:
        """Why a wrong answer is only close ("" if it is not): truncated, or the last digit."""
        return close_reason(cell, self.correct.prediction(cell),
                            float(np.max(self.correct.spread(cell))))

    # --- the whole answer sheet ------------------------------------------------------------

    def report(self, source: str, precision: str) -> AnswerReport:
        statuses = [""] * len(self.cells)
        slipped: set[str] = set()
        for i in self.step_order:  # parents before children, so a slip is known when used
            statuses[i] = self.status(self.cells[i], slipped)
            if statuses[i] not in (CORRECT, ROUNDED, BLANK):
                slipped.add(self.cells[i].key)
        # only answers not credited are explained (a credited row names no mistake)
        open_ = [i for i, s in enumerate(statuses) if s in (WRONG, CLOSE)]
        fitting: dict[int, list[str]] = {i: [] for i in open_}
        for mid in self.variants if open_ else ():
            touched = [i for i in open_ if self.cells[i].note or
                       self.touched(self.cells[i].key, (mid,))[self.cells[i].index]]
            for i in self.fits_many(touched, self.variants[mid], (mid,)) if touched else ():
                fitting[i].append(mid)
        fits = [tuple(fitting.get(i, ())) for i in range(len(self.cells))]
        notes_by_cell = [cell.note for cell in self.cells]
        for i, cell in enumerate(self.cells):
            if statuses[i] == CLOSE:
                notes_by_cell[i] = ("right if the numbers worked before it but not written "
                                    "were rounded as the ones written")
            # wrong, and not only for following a slip under strict marking
            if statuses[i] == WRONG and not fits[i] and not cell.note and not (
                    cell.key in self.rules and self._fits(cell, self.correct)):
                why = self._close(cell)
                if why:
                    statuses[i], notes_by_cell[i] = CLOSE, why
        diagnoses, candidates, explained, uncertain, together = Diagnoser(self).diagnose(statuses, fits)
        two = None if diagnoses else Diagnoser(self).two_computations(statuses, fits)
        if two is not None:
            uncertain = " ".join(filter(None, [uncertain, two_computations_text(
                self.truth.variants[two["mistake"]][0], two["answers"])]))
        ids = tuple(m.id for m in diagnoses)
        fits = [f + tuple(m for m in ids if m not in f) if i in together else f
                for i, f in enumerate(fits)]
        rows = [self._row(cell, status, fit, note)
                for cell, status, fit, note in zip(self.cells, statuses, fits, notes_by_cell)]
        later = [i for i in self.step_order]
        first = next((n for n, i in enumerate(later) if statuses[i] not in (*CREDITED, BLANK)),
                     None)
        first_wrong = None
        if first is not None:
            cell = self.cells[later[first]]
            first_wrong = {"quantity": cell.quantity, "given": cell.given,
                           "expected": _plain(self.correct.prediction(cell)),
                           "followed": sum(1 for i in later[first:] if statuses[i] == CARRIED)}
        notes = [f"{row.quantity}: {row.note}." for row in rows if row.note]
        return AnswerReport(
            network=self.truth.name, rows=rows,
            diagnosis=diagnoses[0] if diagnoses else None, candidates=candidates,
            explained=explained, source=source, precision=precision, notes=notes,
            subject=self.truth.subject, at=self.truth.at, diagnoses=tuple(diagnoses),
            marking=self.marking, first_wrong=first_wrong, uncertain=uncertain,
            two_computations=two)

    def _row(self, cell: Cell, status: str, fits: tuple[str, ...], note: str) -> AnswerRow:
        expected = np.asarray(self.truth.values[cell.key])[cell.index]
        from_given = self.correct.prediction(cell)
        # what follows from the given numbers, where it is another number at the precision
        # written than the correct one
        differs = cell.key in self.rules and not cell.note and not self._exact(
            _Written(np.asarray(from_given, dtype=float), cell.half_unit), expected)
        if status == CARRIED or (status in (WRONG, CLOSE) and differs):
            note = "; ".join(filter(None, [note, "from the numbers given before it: "
                                           + _shown_value(from_given)]))
        # the largest difference accepted: at the precision written, and for an answer not
        # right as it stands, give or take the spread of the numbers it was worked from
        allowed = None if cell.note or np.ndim(expected) else float(
            self.tolerance.allowed(cell.half_unit, expected) +
            (0.0 if status == CORRECT else self.correct.spread(cell)))
        if cell.note.startswith("shape") and self._exact(cell, expected):
            note += "; the numbers themselves are right"
        return AnswerRow(quantity=cell.quantity, given=cell.given,
                         expected=float(expected) if np.ndim(expected) == 0 else
                         expected.tolist(), status=status,
                         mistakes=() if status in CREDITED else fits, note=note,
                         tolerance=allowed)

class _Written(NamedTuple):
    """Numbers as if written at a cell's precision (what :meth:`_Marker._exact` reads)."""

    value: np.ndarray
    half_unit: np.ndarray


def _plain(value: Any) -> Any:
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        return float(array) if np.isfinite(array) else None
    return np.where(np.isfinite(array), array, None).tolist()


def _shown_value(value: Any) -> str:
    from chainrule.explain.numfmt import number

    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        return number(float(array))
    return "[" + ", ".join(number(float(v)) for v in array.ravel()) + "]"
