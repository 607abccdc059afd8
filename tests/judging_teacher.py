"""The careful teacher of the judging cases (tests/judging_cases.py): what they credit, marking
error carried forward from the student's own numbers, and which catalogued mistakes give the
same sheet. Independent of chainrule's marking: the correct step comes from the student model
(tests/student_model.py) worked without mistakes."""

from __future__ import annotations

import numpy as np

from tests import student_model as sm
from tests import student_sheet
from tests.student_model import Student


def right(values: dict, correct: dict, key: str, decimals: int | None) -> bool:
    """Whether the student's written answer for ``key`` is the correct number, as written."""
    given = float(student_sheet.written(student_sheet.element(values, key), decimals))
    true = student_sheet.element(correct, key)
    half = 0.0 if decimals is None else 0.5 * 10.0 ** -decimals
    return abs(given - true) <= half + 1e-10 * abs(true) + 1e-14


def follows(spec, numbers: dict[str, float], written: float, key: str,
             decimals: int | None) -> bool:
    """Whether ``written`` (the answer to ``key``) is what correct working gives from the
    sheet's other ``numbers`` (copied where they are on the sheet, worked out where not)."""
    copied: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    shapes = {name: np.shape(value) for name, value in sm.work(spec).items()}
    for k, number in numbers.items():
        if k == key:
            continue
        name, _, rest = k.partition("[")
        index = tuple(int(i) for i in rest.rstrip("]").split("][")) if rest else ()
        mask, values = copied.setdefault(name, (np.zeros(shapes[name], bool),
                                                np.zeros(shapes[name])))
        mask[index], values[index] = True, number
    worked = step_or_none(spec, Student(copied=copied))
    if worked is None:
        return False
    true = student_sheet.element(worked, key)
    half = 0.0 if decimals is None else 0.5 * 10.0 ** -decimals
    return abs(written - true) <= half + 1e-9 * abs(true) + 1e-13


def sheet_numbers(values: dict, keys: list[str], decimals: int | None) -> tuple[str, ...]:
    return tuple(student_sheet.written(student_sheet.element(values, k), decimals) for k in keys)


def step_or_none(spec, student: Student) -> dict | None:
    try:
        return sm.work(spec, student)
    except (FloatingPointError, ValueError):
        return None


class Teacher:
    """One network's correct working and every catalogued single mistake's, from the student
    model (a mistake that changes nothing on the network is left out)."""

    def __init__(self, spec) -> None:
        self.spec, self.correct = spec, sm.work(spec)
        self.singles = {}
        for mistake in sm.CATALOGUED:
            values = step_or_none(spec, Student(mistakes=(mistake,)))
            if values is not None and differs(values, self.correct):
                self.singles[mistake] = values

    def credited(self, values: dict, keys: list[str], decimals: int | None) -> frozenset[str]:
        """The answers a teacher marking error carried forward credits: each one that is
        what correct working gives *from the student's own numbers before it on this sheet*
        (the correct numbers where the sheet has none), at the precision written. The
        student's numbers are taken as they worked with them (every digit, or rounded where
        they rounded): the teacher follows their working, not their rounding."""
        worked = {k: student_sheet.element(values, k) for k in keys}
        written = {k: float(student_sheet.written(worked[k], decimals)) for k in keys}
        return frozenset(k for k in keys if follows(self.spec, worked, written[k], k, decimals))

    @property
    def pairs(self) -> dict[frozenset[str], dict]:
        """Every two catalogued mistakes made together (computed on first use)."""
        if not hasattr(self, "_pairs"):
            self._pairs = {}
            names = list(self.singles)
            for i, first in enumerate(names):
                for second in names[i + 1:]:
                    values = step_or_none(self.spec, Student(mistakes=(first, second)))
                    if values is not None:
                        self._pairs[frozenset({first, second})] = values
        return self._pairs

    @property
    def confined(self) -> dict[str, dict]:
        """Every catalogued mistake made in one layer only, ``id@layerL``, where that is
        another step than the mistake made throughout (computed on first use)."""
        if not hasattr(self, "_confined"):
            self._confined = {}
            for mistake, whole in self.singles.items():
                for layer in range(1, len(self.spec.layers)):
                    values = step_or_none(self.spec, Student(mistakes=(mistake,), layer=layer))
                    if values is not None and differs(values, self.correct) and \
                            differs(values, whole):
                        self._confined[f"{mistake}@layer{layer}"] = values
        return self._confined

    def same_sheet(self, values: dict, keys: list[str], decimals: int | None,
                   pairs: bool = False, confined: bool = False) -> list[frozenset[str]]:
        """The catalogued single mistakes (with ``pairs``, two at once; with ``confined``,
        one made in one layer only) whose sheet is this one, number for number."""
        numbers = sheet_numbers(values, keys, decimals)
        found = [frozenset({m}) for m, v in self.singles.items()
                 if sheet_numbers(v, keys, decimals) == numbers]
        if pairs:
            found += [both for both, v in self.pairs.items()
                      if sheet_numbers(v, keys, decimals) == numbers]
        if confined:
            found += [frozenset({key}) for key, v in self.confined.items()
                      if sheet_numbers(v, keys, decimals) == numbers]
        return found


def differs(values: dict, correct: dict) -> bool:
    return any(not np.allclose(v, correct[k], rtol=1e-9, atol=1e-12)
               for k, v in values.items() if not k.startswith("working."))


# --- the generator ---------------------------------------------------------------------------
