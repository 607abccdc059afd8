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

A catalogue mistake explains a wrong answer when its own rules, applied to the numbers given
before it, give that answer. It is named only if it contradicts no credited answer (under the
mistake that answer would have come out otherwise); where no single mistake explains every
wrong answer, pairs are tried. The first answer not credited, in the step's order, is
reported with what it should have been and how many later answers followed from it.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, NamedTuple

import numpy as np

from chainrule.spec.network import Spec
from chainrule.verify.carried import Given, predictions, spread, unwritten_spread
from chainrule.verify.judging import (
    BLANK, BLANK_NOTE, CARRIED, CLOSE, CORRECT, CREDITED, MARKINGS, ROUNDED, WRONG, AnswerReport,
    AnswerRow, Cell, Tolerance, Truth, close_reason, judge_plain, network_truth,
)
from chainrule.verify.reference import CORRECT as CORRECT_SWITCHES
from chainrule.verify.reference import Switches, start_values, step_rules

# How many mistakes explaining an answer are combined in pairs (the pairs grow as its square).
MAX_PAIRED = 12
# A mistake's number this close to the correct one (relative and absolute) is the same number
# computed another way: float error, not a change the mistake made.
UNCHANGED = 1e-9


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


class _Reading:
    """One way the step could have been worked (correct, or with a mistake) applied to the
    given numbers: each ruled answer's prediction, and how far rounding spreads it (the
    given numbers' rounding, and ``unwritten``: that of numbers worked but not written)."""

    def __init__(self, rules, start, given: Given, truth: dict[str, np.ndarray],
                 unwritten: dict[str, np.ndarray] | None = None) -> None:
        self.rules, self.given, self.truth = rules, given, truth
        self.predicted, self.used = predictions(rules, start, given)
        self._spreads: dict[str, np.ndarray] = {}
        self.unwritten = unwritten or {}

    def prediction(self, cell: Cell) -> np.ndarray:
        source = self.predicted if cell.key in self.predicted else self.truth
        return np.asarray(source[cell.key])[cell.index]

    def spread(self, cell: Cell, unwritten: bool = True) -> np.ndarray:
        """How far rounding spreads the prediction: of the given numbers it is worked from,
        and with ``unwritten``, of the numbers worked but not written as well."""
        if cell.key not in self.rules:
            return np.zeros(np.shape(np.asarray(self.truth[cell.key])[cell.index]))
        if cell.key not in self._spreads:
            self._spreads[cell.key] = spread(self.rules[cell.key], self.used, self.given)
        given = np.asarray(self._spreads[cell.key])[cell.index]
        if not unwritten or cell.key not in self.unwritten:
            return given
        return given + np.asarray(self.unwritten[cell.key])[cell.index]


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
        # numbers worked but not written were rounded as those written were (a calculator)
        halves = [float(h) for c in self.cells if not c.note for h in np.ravel(c.half_unit)]
        self.unwritten = unwritten_spread(self.rules, self.start, self.given,
                                          float(np.median(halves)) if halves else 0.0)
        self.correct = self._reading(self.rules)
        self.variants = {mid: self._reading(step_rules(spec, mistake.switches))
                         for mid, (mistake, _) in truth.variants.items()}

    def _reading(self, rules) -> _Reading:
        return _Reading(rules, self.start, self.given, self.truth.values, self.unwritten)

    # --- one answer ------------------------------------------------------------------------

    def _fits(self, cell: Cell, reading: _Reading, unwritten: bool = True) -> bool:
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

    def _touches(self, cell: Cell, *mistakes: str) -> bool:
        """Whether any of ``mistakes``, made throughout the step, changes ``cell``'s number: a
        mistake that leaves an answer as it is explains nothing about it (it still fits)."""
        if cell.note:
            return True  # a wrong shape's numbers are compared as they are
        right = np.asarray(self.truth.values[cell.key], dtype=float)[cell.index]
        for mid in mistakes:
            mine = np.asarray(self.truth.variants[mid][1][cell.key], dtype=float)[cell.index]
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
        after_slip = cell.key in self.rules and \
            any(p in slipped for p in self.rules[cell.key].parents)
        follows = cell.key in self.rules and self._fits(cell, self.correct)
        if self._exact(cell, np.asarray(self.truth.values[cell.key])[cell.index]):
            # the right number is credited even where it does not follow from a wrong number
            # before it: that number is more often miscopied onto the sheet than worked with
            return CORRECT
        if follows:
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
        fits = [tuple(mid for mid, reading in self.variants.items()
                      if self._touches(cell, mid) and self._fits(cell, reading))
                for cell in self.cells]
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
        diagnoses, candidates, explained, uncertain, together = self._diagnose(statuses, fits)
        two = None if diagnoses else self._two_computations(statuses, fits)
        if two is not None:
            uncertain = " ".join(filter(None, [uncertain, _two_computations_text(
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
        allowed = None if cell.note or np.ndim(expected) else \
            float(self.tolerance.allowed(cell.half_unit, expected) + self.correct.spread(cell))
        if cell.note.startswith("shape") and self._exact(cell, expected):
            note += "; the numbers themselves are right"
        return AnswerRow(quantity=cell.quantity, given=cell.given,
                         expected=float(expected) if np.ndim(expected) == 0 else
                         expected.tolist(), status=status,
                         mistakes=() if status in CREDITED else fits, note=note,
                         tolerance=allowed)

    def _diagnose(self, statuses: list[str], fits: list[tuple[str, ...]]):
        """(mistakes named, candidates, answers explained, why uncertain, the answers a named
        pair explains together)."""
        wrong = [i for i, s in enumerate(statuses) if s == WRONG]
        if not wrong:
            return [], (), 0, "", set()
        credited = [i for i, s in enumerate(statuses) if s in CREDITED]
        singles = {}
        for mid in self.variants:
            explains = sum(1 for i in wrong if mid in fits[i])
            if explains:
                singles[mid] = (explains, self._contradicts(self.variants[mid], credited))
        consistent = {mid: e for mid, (e, against) in singles.items() if not against}
        best = max(consistent.values(), default=0)
        named: list[str] = [mid for mid, e in consistent.items() if e == best]
        together: set[int] = set()
        if best < len(wrong):
            pairs, pair_best, together = self._pairs(singles, wrong, credited)
            if pair_best > best:
                named, best = [" + ".join(p) for p in pairs], pair_best
            else:
                together = set()
        if not named:
            return [], (), 0, self._uncertain(singles), set()
        mistakes = [self.truth.variants[mid][0] for mid in named[0].split(" + ")]
        return mistakes, tuple(named), best, "", together

    def _contradicts(self, reading: _Reading, credited: list[int]) -> list[int]:
        return [i for i in credited if not self._fits(self.cells[i], reading)]

    def _contradicts_any(self, reading: _Reading, credited: list[int]) -> bool:
        return any(not self._fits(self.cells[i], reading) for i in credited)

    def _pairs(self, singles: dict, wrong: list[int], credited: list[int]):
        """The pairs of mistakes explaining the most wrong answers without contradicting a
        credited one, and how many they explain."""
        spec = self.truth.spec
        ranked = sorted(singles, key=lambda mid: -singles[mid][0])[:MAX_PAIRED]
        # one of the two explains some wrong answer; the other may explain none alone (an
        # ascent that undoes a flipped sign leaves the right updates)
        found: dict[tuple[str, str], list[int]] = {}
        pairs = {tuple(sorted((a, b), key=list(self.variants).index))
                 for a in ranked for b in self.variants if a != b}
        for first, second in sorted(pairs, key=lambda p: [list(self.variants).index(m)
                                                          for m in p]):
            switches = _combined(self.truth.variants[first][0].switches,
                                 self.truth.variants[second][0].switches)
            if switches is None:
                continue
            reading = self._reading(step_rules(spec, switches))
            explains = [i for i in wrong if self._touches(self.cells[i], first, second)
                        and self._fits(self.cells[i], reading)]
            if explains and not self._contradicts_any(reading, credited):
                found[(first, second)] = explains
        best = max((len(e) for e in found.values()), default=0)
        pairs = [pair for pair, e in found.items() if len(e) == best]
        return pairs, best, set(found[pairs[0]]) if pairs else set()

    def _two_computations(self, statuses: list[str], fits: list[tuple[str, ...]]
                          ) -> dict[str, Any] | None:
        """Wrong answers that no mistake gives from the numbers before them, but one gives
        worked from the start: the sheet's numbers come from two computations (Mazur's loss
        after the step is the step's with updated weights in the backward pass, while his
        updated weights are the correct step's). The mistake matching the most such answers,
        and which they are; None if there are none."""
        lone = [i for i, s in enumerate(statuses) if s == WRONG and not fits[i]
                and not self.cells[i].note]
        found: dict[str, list[str]] = {}
        for i in lone:
            cell = self.cells[i]
            for mid, (_, values) in self.truth.variants.items():
                if self._touches(cell, mid) and \
                        self._exact(cell, np.asarray(values[cell.key])[cell.index]):
                    found.setdefault(mid, []).append(cell.quantity)
        if not found:
            return None
        mid = max(found, key=lambda m: len(found[m]))  # ties: catalogue order
        return {"mistake": mid, "answers": found[mid]}

    def _uncertain(self, singles: dict) -> str:
        if not singles:
            return ""
        mid = max(singles, key=lambda m: singles[m][0])
        explains, against = singles[mid]
        shown = ", ".join(self.cells[i].quantity for i in against[:3])
        return (f"{mid} would explain {explains} of them, but would also have changed "
                f"{len(against)} answer{'s' if len(against) != 1 else ''} that "
                f"{'are' if len(against) != 1 else 'is'} right ({shown}"
                f"{', …' if len(against) > 3 else ''}): no diagnosis is certain.")


class _Written(NamedTuple):
    """Numbers as if written at a cell's precision (what :meth:`_Marker._exact` reads)."""

    value: np.ndarray
    half_unit: np.ndarray


def _two_computations_text(mistake: Any, answers: list[str]) -> str:
    one = len(answers) == 1
    return (f"{', '.join(answers)} {'is' if one else 'are'} what {mistake.id} "
            f"({mistake.title.lower()}) gives worked from the start, but not what follows "
            f"from the numbers given before {'it' if one else 'them'}: the numbers read as two "
            f"computations, {'this one' if one else 'these'} from a step with that mistake and "
            f"the rest from another.")


def _combined(a: Switches, b: Switches) -> Switches | None:
    """Both mistakes' switches at once; None where they set the same switch two ways."""
    merged = {}
    for f in fields(Switches):
        default, one, two = (getattr(s, f.name) for s in (CORRECT_SWITCHES, a, b))
        if one != default and two != default and one != two:
            return None
        merged[f.name] = one if one != default else two
    return Switches(**merged)


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
