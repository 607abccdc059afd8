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
from collections.abc import Callable, Mapping
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
# Beyond this many wrong answers no pair of mistakes is tried (nor, in answers.py, another
# book's convention or a chopped reading): such a sheet is not one slip or two, and the search
# would cost minutes (a 21,606-answer sheet of noise: 442 s before this bound, 6 s after).
MAX_PAIRED_WRONG = 2_000
MEMO_LAYOUTS = 64  # sheets of different layouts whose unwritten spread a truth keeps
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
                 unwritten: Callable[[], dict[str, np.ndarray]],
                 spreads: dict[str, np.ndarray] | None = None,
                 base: "_Reading | None" = None) -> None:
        self.rules, self.start, self.given, self.truth = rules, start, given, truth
        self.base = base  # the correct reading, whose spreads a mistake's may share
        self._predicted: tuple | None = None
        # how far the given numbers' rounding spreads each quantity (computed on first use,
        # or given: two mistakes together take the larger of each one's)
        self._spreads: dict[str, np.ndarray] = {} if spreads is None else spreads
        self._unwritten = unwritten

    @property
    def predicted(self) -> dict[str, np.ndarray]:
        if self._predicted is None:  # made when first asked: most readings never are
            self._predicted = predictions(self.rules, self.start, self.given)
        return self._predicted[0]

    @property
    def used(self) -> dict[str, np.ndarray]:
        self.predicted
        return self._predicted[1]

    @property
    def unwritten(self) -> dict[str, np.ndarray]:
        return self._unwritten()

    def prediction(self, cell: Cell) -> np.ndarray:
        source = self.predicted if cell.key in self.predicted else self.truth
        return np.asarray(source[cell.key])[cell.index]

    def spread(self, cell: Cell, unwritten: bool = True) -> np.ndarray:
        """How far rounding spreads the prediction: of the given numbers it is worked from,
        and with ``unwritten``, of the numbers worked but not written as well."""
        return np.asarray(self.spread_of(cell.key, unwritten))[cell.index]

    def spread_of(self, key: str, unwritten: bool = True) -> np.ndarray:
        """:meth:`spread` for every element of quantity ``key``."""
        if key not in self.rules:
            return np.zeros(np.shape(self.truth[key]))
        if key not in self._spreads:
            self._spreads[key] = self.own_spread(key)
        if not unwritten or key not in self.unwritten:
            return self._spreads[key]
        return self._spreads[key] + self.unwritten[key]

    def own_spread(self, key: str) -> np.ndarray:
        """The spread of ``key``'s rule at this reading's numbers; a mistake's rule that is
        the correct one's function (the same result from the same numbers: most rules of
        most mistakes) takes the correct reading's spread rather than perturbing again."""
        base = self.base
        if base is not None and key in base.rules:
            with np.errstate(all="ignore"):
                mine, right = self.rules[key](base.used), base.rules[key](base.used)
            if np.shape(mine) == np.shape(right) and np.allclose(
                    mine, right, rtol=UNCHANGED, atol=UNCHANGED, equal_nan=True):
                return base.spread_of(key, unwritten=False)
        return spread(self.rules[key], self.used, self.given)

    def prediction_of(self, key: str) -> np.ndarray:
        """:meth:`prediction` for every element of quantity ``key``."""
        return np.asarray(self.predicted[key] if key in self.predicted else self.truth[key],
                          dtype=float)


class _Larger(dict):
    """The spread of two readings' given numbers, the larger of the two, element by element:
    a pair of mistakes is judged with a spread each of them has already computed (the spread
    is a linear estimate of rounding, and computing it afresh for each pair dominated the
    marking of a large sheet)."""

    def __init__(self, first: _Reading, second: _Reading) -> None:
        super().__init__()
        self._first, self._second = first, second

    def __missing__(self, key: str) -> np.ndarray:
        self[key] = np.maximum(self._first.spread_of(key, unwritten=False),
                               self._second.spread_of(key, unwritten=False))
        return self[key]

    def __contains__(self, key: object) -> bool:  # every key has one, made on first use
        return True


class _Readings(Mapping):
    """Each mistake's reading by id, made on first access (in the truth's order)."""

    def __init__(self, ids, make: Callable[[str], _Reading]) -> None:
        self._ids, self._make, self._made = list(ids), make, {}

    def __getitem__(self, mid: str) -> _Reading:
        if mid not in self._made:
            if mid not in self._ids:
                raise KeyError(mid)
            self._made[mid] = self._make(mid)
        return self._made[mid]

    def __iter__(self):
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


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
        self.correct = self._reading(self.rules)
        # each mistake's reading is made when first needed: a sheet with nothing wrong needs none
        self.variants = _Readings(truth.variants, lambda mid: self._reading(
            step_rules(spec, truth.variants[mid][0].switches)))

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

    def _reading(self, rules, spreads: dict | None = None) -> _Reading:
        return _Reading(rules, self.start, self.given, self.truth.values, self.unwritten,
                        spreads, getattr(self, "correct", None))

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

    def _fits_many(self, among: list[int], reading: _Reading, mistakes: tuple[str, ...] = (),
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
            pick = _picker(cells, np.ndim(self.truth.values[key]))
            given = np.array([float(c.value) for c in cells])
            half = np.array([float(c.half_unit) for c in cells])
            target = pick(reading.prediction_of(key))
            allowed = self.tolerance.allowed(half, target) + pick(reading.spread_of(key,
                                                                                  unwritten))
            with np.errstate(invalid="ignore"):
                ok = np.isfinite(target) & np.isfinite(given) & (np.abs(given - target) <= allowed)
            if mistakes:
                ok &= pick(self._touched(key, mistakes)).astype(bool)
            found += [i for i, flag in zip(members, ok) if flag]
        return sorted(found)

    def _touched(self, key: str, mistakes: tuple[str, ...]) -> np.ndarray:
        """Which elements of ``key`` any of ``mistakes`` changes (:meth:`_touches`), kept in
        the truth's memo: it is the same for every sheet."""
        memo = self.truth.memo.setdefault("touched", {})
        if (mistakes, key) not in memo:
            right = np.asarray(self.truth.values[key], dtype=float)
            flags = np.zeros(np.shape(right), dtype=bool)
            for mid in mistakes:
                mine = np.asarray(self.truth.variants[mid][1][key], dtype=float)
                flags |= mine.shape != right.shape or ~np.isclose(
                    mine, right, rtol=UNCHANGED, atol=UNCHANGED, equal_nan=True)
            memo[mistakes, key] = flags
        return memo[mistakes, key]

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
                       self._touched(self.cells[i].key, (mid,))[self.cells[i].index]]
            for i in self._fits_many(touched, self.variants[mid], (mid,)) if touched else ():
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
        if best < len(wrong) <= MAX_PAIRED_WRONG:
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
        fitting = set(self._fits_many(credited, reading))
        return [i for i in credited if i not in fitting]

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
            reading = self._reading(step_rules(spec, switches), _Larger(
                self.variants[first], self.variants[second]))
            explains = self._fits_many(wrong, reading, (first, second))
            if explains and not self._contradicts(reading, credited):
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
        groups: dict[str, list[int]] = {}
        for i in lone:
            groups.setdefault(self.cells[i].key, []).append(i)
        found: dict[str, list[str]] = {}
        for mid, (_, values) in self.truth.variants.items():
            for key, members in groups.items():  # a quantity's elements at once
                cells = [self.cells[i] for i in members]
                pick = _picker(cells, np.ndim(self.truth.values[key]))
                given = np.array([float(c.value) for c in cells])
                target = pick(np.asarray(values[key], dtype=float))
                allowed = self.tolerance.allowed(np.array([float(c.half_unit) for c in cells]),
                                                 target)
                with np.errstate(invalid="ignore"):
                    ok = np.isfinite(target) & (np.abs(given - target) <= allowed) & \
                        pick(self._touched(key, (mid,))).astype(bool)
                found.setdefault(mid, []).extend(c.quantity for c, flag in zip(cells, ok) if flag)
        found = {mid: answers for mid, answers in found.items() if answers}
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


def _picker(cells: list[Cell], ndim: int) -> Callable[[np.ndarray], np.ndarray]:
    """A function picking each cell's element of a quantity with ``ndim`` axes, as a 1-D
    array in the cells' order."""
    if ndim == 0:
        return lambda array: np.full(len(cells), float(np.asarray(array)))
    index = tuple(np.array([c.index[axis] for c in cells], dtype=int) for axis in range(ndim))
    return lambda array: np.asarray(array)[index]


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
