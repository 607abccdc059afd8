"""Judging given numbers against the correct step, and naming the mistake that explains them.

Shared by :mod:`chainrule.verify.answers` (numbers written by hand, judged at the precision
they were written with), :mod:`chainrule.verify.impl` (numbers returned by someone's
function, judged at full precision) and :mod:`chainrule.verify.expression_answers` (both, for
an expression's graph). Each answered element is a :class:`Cell`; what it is judged against is
a :class:`Truth`, the correct numbers and every applicable catalogue mistake's, computed once
(a network's step, or an expression's recorded graph), and a wrong cell is *explained* by each
mistake whose own number it matches at the same tolerance.

A network's answers are judged as examiners mark them (``marking="carried-forward"``, the
default): each answer against what it should be *from the answerer's own earlier numbers*
(chainrule.verify.carried), so one slip costs its own answer and what follows correctly from
it is credited (status ``carried``); an answer worked from rounded numbers is ``rounded``, not a
mistake; a truncated or last-digit slip is ``close``. ``marking="strict"`` credits only answers
right on their own (rounding still is not a mistake). A mistake is named only if it explains
wrong answers and contradicts none of the credited ones (under it they would have come out
otherwise); where no single mistake explains them all, pairs are tried; the diagnosis is the
one explaining the most, and ties are all reported in ``candidates``.

Without a step's rules (an expression's graph), each answer is judged against the correct
number alone (``close`` too), and the diagnosis is the mistake that explains the most wrong
answers without changing a right one; ties keep catalogue order and are all reported in
``candidates``; where every mistake that explains answers would also change right ones, none
is named and ``uncertain`` says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.frozen import Frozen
from chainrule.explain.numfmt import number
from chainrule.spec.network import Spec
from chainrule.verify.mistakes import applicable_mistakes, correct_step

CORRECT, ROUNDED, CARRIED, CLOSE, WRONG = "correct", "rounded", "carried", "close", "wrong"
BLANK = "blank"  # left out: not credited, not wrong
BLANK_NOTE = "no answer given"
CREDITED = (CORRECT, ROUNDED, CARRIED)  # statuses that earn the answer's marks
MARKINGS = ("carried-forward", "strict")


@dataclass(unsafe_hash=True)
class Tolerance(Frozen):
    """|given − true| ≤ half_unit + rel·|true| + abs, half_unit from the written precision."""

    rel: float
    abs: float

    def allowed(self, half_unit: Any, true: Any) -> Any:
        return half_unit + self.rel * np.abs(true) + self.abs


# Written answers: the precision written plus a hair for float error (float64 values computed
# another way agree to ~1e-15 relative). The hair stays below half a unit of a 10-decimal
# answer, and far below the ≥1e-6 relative difference a mistake makes.
WRITTEN = Tolerance(rel=1e-10, abs=1e-14)


@dataclass(unsafe_hash=True)
class Truth(Frozen):
    """What answers are judged against: the correct numbers by quantity, and each applicable
    mistake's (id → (mistake, its numbers)). A mistake is anything with ``id``, ``title``,
    ``explanation`` and ``formula``: a network :class:`~chainrule.verify.mistakes.Mistake` or a
    :class:`~chainrule.verify.circuit_mistakes.CircuitMistake`."""

    subject: str  # "network" or "expression", as the report says
    name: str  # the network's name, or the expression's text
    values: dict[str, np.ndarray]
    variants: dict[str, tuple[Any, dict[str, np.ndarray]]]
    at: dict[str, float] | None = None  # an expression's inputs
    spec: Spec | None = None  # a network's: its step's rules judge answers carried forward
    # what marking computes once per truth and reuses for every sheet (a class's sheets ask
    # the same quantities): not part of what the truth is
    memo: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def ruled(self) -> bool:
        return self.spec is not None


def network_truth(spec: Spec) -> Truth:
    """The correct step of ``spec`` and every catalogue mistake that can be made on it."""
    return Truth("network", spec.name, correct_step(spec),
                 {m.id: (m, m.compute(spec)) for m in applicable_mistakes(spec)}, spec=spec)


@dataclass(unsafe_hash=True)
class Cell(Frozen):
    """One answered element, or a whole answered array whose shape is wrong (``shape_note``)."""

    quantity: str  # the label shown: "updated.W1[0][1]"
    key: str  # the quantity in the step: "updated.W1"
    index: tuple[int, ...]  # the element (or sub-array) of the quantity
    given: str  # the text shown for the answer
    value: np.ndarray  # the number(s) given, float
    half_unit: np.ndarray  # half a unit of the last written digit, per number (0: full precision)
    note: str = ""  # why the answer is wrong whatever its numbers: a shape, a non-finite value


# An answer within this many units of its last written digit of what it should be is
# "close" (a slip of the last digit, or truncation) when no mistake explains it,
CLOSE_UNITS = 2
CLOSE_DIGITS = 2  # if the number has at least this many significant digits at that precision


def close_reason(cell: Cell, target: Any, spread: float = 0.0) -> str:
    """Why ``cell``, not ``target`` at its precision, is still close ("" if it is not):
    truncated rather than rounded, or off in the last digit written (give or take ``spread``,
    how far the rounding of the numbers it was worked from spreads ``target``)."""
    half = float(np.max(np.ravel(cell.half_unit))) if np.size(cell.half_unit) else 0.0
    if half <= 0 or np.size(cell.value) != 1 or np.size(target) != 1:
        return ""
    given, target = float(np.ravel(cell.value)[0]), float(np.ravel(target)[0])
    unit = 2 * half
    if not np.isfinite(target) or abs(target) < 10 ** (CLOSE_DIGITS - 1) * unit:
        return ""  # too few digits at this precision for a last one
    difference = target - given
    if 0 < abs(difference) < unit and np.sign(difference) == np.sign(target):
        return "truncated rather than rounded"
    if abs(difference) <= CLOSE_UNITS * unit + spread:
        return "off in the last digit written"
    return ""


@dataclass(unsafe_hash=True)
class AnswerRow(Frozen):
    """One line of the report."""

    quantity: str  # "updated.W1[0][1]", or "updated.b1" for a whole array of the wrong shape
    given: str  # as written (or as returned, to 10 decimals)
    expected: float | list  # the correct value (a nested list for a whole array)
    status: str  # "correct" or "wrong"
    mistakes: tuple[str, ...] = ()  # ids of the catalogue mistakes whose numbers match
    note: str = ""  # "shape (1, 2), expected (2,)", "not a finite number", ...
    tolerance: float | None = None  # the largest |given − expected| accepted

    def to_dict(self) -> dict[str, Any]:
        return {"quantity": self.quantity, "given": self.given,
                "expected": _plain(self.expected), "status": self.status,
                "mistakes": list(self.mistakes), "note": self.note,
                "tolerance": self.tolerance}


@dataclass
class AnswerReport:
    """Answers judged against one network's step (or an expression's graph), with the best
    explaining mistake."""

    network: str  # the network's name, or the expression's text (``subject`` says which)
    rows: list[AnswerRow]
    diagnosis: Any  # the mistake explaining the most wrong answers (a Truth's), or None
    candidates: tuple[str, ...] = ()  # every mistake explaining them equally well
    explained: int = 0  # how many wrong answers the diagnosis explains
    source: str = "answers"  # where the answers came from (a file, "impl.py:step")
    precision: str = "as written"  # how numbers were judged
    notes: list[str] = field(default_factory=list)  # remarks for the reader (shapes, ...)
    sandbox: dict[str, str] | None = None  # for code that ran: {"level", "description"}
    subject: str = "network"  # or "expression": the JSON key and the header's word
    at: dict[str, float] | None = None  # an expression's inputs, shown after it
    diagnoses: tuple = ()  # the mistakes named together (two for a pair), diagnosis first
    marking: str = "correct value only"  # "carried-forward" or "strict" for a network
    first_wrong: dict[str, Any] | None = None  # the first answer not credited, in step order
    uncertain: str = ""  # why no mistake is named although some would explain answers
    convention: str | None = None  # another book's convention the answers were read in
    # {"mistake": id, "answers": [quantity, ...]}: wrong answers a mistake gives worked from
    # the start but not from the numbers before them, so the sheet mixes two computations
    two_computations: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return all(row.status in (CORRECT, ROUNDED) for row in self.rows)

    @property
    def wrong(self) -> list[AnswerRow]:
        return [row for row in self.rows if row.status == WRONG]

    def count(self, status: str) -> int:
        return sum(1 for row in self.rows if row.status == status)

    @property
    def unexplained(self) -> list[str]:
        named = {m.id for m in self.diagnoses} or \
            ({self.diagnosis.id} if self.diagnosis is not None else set())
        if not named:
            return [row.quantity for row in self.wrong]
        return [row.quantity for row in self.wrong if not named & set(row.mistakes)]

    @property
    def verdict(self) -> str:
        total, wrong = len(self.rows), len(self.wrong)
        if wrong:
            text = self._wrong_verdict(total, wrong)
        elif self.count(ROUNDED) and not any(self.count(s) for s in (CARRIED, CLOSE, BLANK)):
            rounded = self.count(ROUNDED)
            return (f"All {total} answers are right: {total - rounded} as they are, "
                    f"{rounded} from the rounded numbers before "
                    f"{'it' if rounded == 1 else 'them'} (rounding is not a mistake).")
        elif self.count(BLANK) or self.count(CLOSE):
            credited = sum(self.count(s) for s in CREDITED)
            text = f"No answer is wrong; {credited} of {total} are credited."
        else:
            text = f"All {total} answers are correct." if total > 1 else \
                "The answer is correct."
        return " ".join([text, *self._credit_sentences()])

    def _wrong_verdict(self, total: int, wrong: int) -> str:
        head = f"{wrong} of {total} answers {'is' if wrong == 1 else 'are'} wrong"
        if self.first_wrong is not None and self.count(CARRIED):
            head += f", the first {self.first_wrong['quantity']}"
        if self.diagnosis is None:
            text = head + (", and no mistake in the catalogue explains "
                           f"{'it' if wrong == 1 else 'them'}.")
            return text + (f" {self.uncertain}" if self.uncertain else "")
        named = self.diagnoses or (self.diagnosis,)
        which = ("it" if wrong == 1 else "all of them") if self.explained == wrong else \
            f"{self.explained} of them"
        if len(named) == 1:
            m = named[0]
            text = (f"{head}; the known mistake {m.id} ({m.title}) explains {which}: "
                    f"{m.explanation}")
        else:
            text = (f"{head}; two known mistakes together explain {which}: "
                    + "; ".join(f"{m.id} ({m.title}): {m.explanation.rstrip('.')}"
                                for m in named) + ".")
        ids = {getattr(m, "key", m.id) for m in named} | {" + ".join(m.id for m in named)}
        others = [c for c in self.candidates if c not in ids]
        if others:
            text += f" (These numbers fit {', '.join(others)} equally well.)"
        if self.explained < wrong:
            text += f" Not explained: {', '.join(self.unexplained)}."
        return text

    def _credit_sentences(self) -> list[str]:
        out = []
        carried, rounded, close = self.count(CARRIED), self.count(ROUNDED), self.count(CLOSE)
        if carried:
            out.append(f"{carried} {'answer follows' if carried == 1 else 'answers follow'} "
                       "correctly from the earlier numbers given, and "
                       f"{'is' if carried == 1 else 'are'} credited (error carried forward).")
        if rounded:
            out.append(f"{rounded} {'answer is' if rounded == 1 else 'answers are'} right from "
                       "the rounded numbers before "
                       f"{'it' if rounded == 1 else 'them'}: rounding is not a mistake.")
        if close:
            out.append(f"{close} {'answer is' if close == 1 else 'answers are'} close: "
                       "off in the last digits written (see the notes).")
        blank = self.count(BLANK)
        if blank:
            out.append(f"{blank} {'answer was' if blank == 1 else 'answers were'} left blank.")
        return out

    def __str__(self) -> str:
        header = ("quantity", "given", "expected", "result")
        lines = [(row.quantity, row.given, _shown(row.expected), _result(row))
                 for row in self.rows]
        widths = [max(len(line[i]) for line in [header, *lines]) for i in range(3)]
        at = "" if self.at is None else " at " + ", ".join(
            f"{name}={value:g}" for name, value in self.at.items())
        out = [f"{self.source} on {self.subject} {self.network}{at} (numbers judged "
               f"{self.precision})"]
        if self.sandbox:
            out.append(f"sandbox: {self.sandbox['description']}")
        for line in [header, *lines]:
            out.append("  " + "  ".join(c.ljust(w) for c, w in zip(line, widths))
                       + "  " + line[3])
        return "\n".join([*out, "", *self.notes, self.verdict])

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: numbers are floats (None where not finite), mistakes by id."""
        diagnosis = None
        if self.diagnosis is not None:
            m = self.diagnosis
            diagnosis = {"id": m.id, "title": m.title, "explanation": m.explanation,
                         "formula": m.formula, "explains": self.explained,
                         "wrong": len(self.wrong),
                         **({"sites": list(m.sites), "alters": m.alterations.as_dict()}
                            if getattr(m, "alterations", None) else {}),
                         **({"layer": m.layer} if getattr(m, "layer", None) else {})}
        return {self.subject: self.network,
                **({"at": dict(self.at)} if self.at is not None else {}),
                "source": self.source, "precision": self.precision,
                "ok": self.ok, "answers": len(self.rows),
                "correct": len(self.rows) - len(self.wrong), "wrong": len(self.wrong),
                "rows": [row.to_dict() for row in self.rows], "diagnosis": diagnosis,
                "candidates": list(self.candidates), "unexplained": self.unexplained,
                "notes": list(self.notes), "verdict": self.verdict,
                "marking": self.marking, "diagnoses": [m.id for m in self.diagnoses],
                "first_wrong": self.first_wrong, "uncertain": self.uncertain,
                "convention": self.convention, "two_computations": self.two_computations,
                "statuses": {status: self.count(status)
                             for status in (CORRECT, ROUNDED, CARRIED, CLOSE, WRONG, BLANK)},
                **({"sandbox": dict(self.sandbox)} if self.sandbox else {})}


def judge_plain(truth: Truth, cells: list[Cell], tolerance: Tolerance, source: str,
                precision: str) -> AnswerReport:
    """Every cell against the correct number alone, the wrong ones explained by whole-step
    mistakes (for a truth without rules: an expression's graph)."""
    variants = truth.variants
    rows, agreements = [], []
    for cell in cells:
        expected = _select(truth.values, cell)
        right = not cell.note and _matches(cell, expected, tolerance)
        fits = tuple(mid for mid, (_, values) in variants.items()
                     if _matches(cell, _select(values, cell), tolerance))
        agreements.append((right, set(fits)))
        allowed = None if cell.note or np.ndim(expected) else \
            float(tolerance.allowed(cell.half_unit, expected))
        note, status = cell.note, CORRECT if right else WRONG
        if note == BLANK_NOTE:
            status = BLANK
        elif note.startswith("shape") and _matches(cell, expected, tolerance):
            note += "; the numbers themselves are right"
        elif status == WRONG and not fits and not note:
            note = close_reason(cell, expected)
            status = CLOSE if note else WRONG
        rows.append(AnswerRow(
            quantity=cell.quantity, given=cell.given,
            expected=float(expected) if np.ndim(expected) == 0 else expected.tolist(),
            status=status, mistakes=() if right else fits, note=note, tolerance=allowed))

    # a mistake is named only if it explains wrong answers and would have left every right
    # one as it is (it fits them too); the most explained first, then catalogue order
    scores, against = {}, {}
    for mid in variants:
        explained = sum(1 for right, fits in agreements if not right and mid in fits)
        changed = [row.quantity for row, (right, fits) in zip(rows, agreements)
                   if right and mid not in fits]
        if explained and not changed:
            scores[mid] = explained
        elif explained:
            against[mid] = (explained, changed)
    diagnosis, candidates, explained, uncertain = None, (), 0, ""
    if scores:
        best = max(scores.values())
        candidates = tuple(mid for mid, score in scores.items() if score == best)
        diagnosis, explained = variants[candidates[0]][0], best
    elif against:
        mid = max(against, key=lambda m: against[m][0])
        count, changed = against[mid]
        uncertain = (f"{mid} would explain {count} of them, but would also have changed "
                     f"{len(changed)} answer{'s' if len(changed) != 1 else ''} that "
                     f"{'are' if len(changed) != 1 else 'is'} right "
                     f"({', '.join(changed[:3])}{', …' if len(changed) > 3 else ''}): no "
                     f"diagnosis is certain.")
    notes = [f"{row.quantity}: {row.note}." for row in rows if row.note]
    return AnswerReport(network=truth.name, rows=rows, diagnosis=diagnosis,
                        candidates=candidates, explained=explained, source=source,
                        precision=precision, notes=notes, subject=truth.subject,
                        at=truth.at, uncertain=uncertain)


def _select(values: dict[str, np.ndarray], cell: Cell) -> np.ndarray:
    return np.asarray(values[cell.key])[cell.index]


def _matches(cell: Cell, target: np.ndarray, tolerance: Tolerance) -> bool:
    """Whether the cell's numbers are ``target``'s at the cell's precision (sizes must agree:
    a whole array of the wrong shape is compared element by element in reading order)."""
    given, target = np.ravel(cell.value), np.ravel(target)
    if given.size != target.size or not np.all(np.isfinite(target)):
        return False
    if not np.all(np.isfinite(given)):
        return False
    allowed = tolerance.allowed(np.ravel(cell.half_unit), target)
    return bool(np.all(np.abs(given - target) <= allowed))


def _plain(value: Any) -> Any:
    array = np.asarray(value, dtype=float)
    if np.all(np.isfinite(array)):
        return array.tolist()
    return np.where(np.isfinite(array), array, None).tolist()


def _shown(expected: float | list) -> str:
    if isinstance(expected, list):
        return np.array2string(np.asarray(expected), separator=", ",
                               formatter={"float_kind": lambda v: number(v)})
    return number(expected)


def _result(row: AnswerRow) -> str:
    text = row.status
    if row.mistakes:
        text += " (" + ", ".join(row.mistakes) + ")"
    return text + (f" — {row.note}" if row.note else "")
