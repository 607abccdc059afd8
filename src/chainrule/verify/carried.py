"""What each answer should be *from the answerer's own earlier numbers*.

A step is its rules (:func:`chainrule.verify.reference.step_rules`): each quantity computed
from the quantities before it. :func:`predictions` applies them to someone's answers: every
quantity is computed from its parents as they were given (the correct numbers where a parent
was not answered), and that prediction is what the answer should have been. An early slip
then costs only its own answer; an answer that follows correctly from it is right *from their
numbers*, as examiners mark error carried forward. Applied with a mistake's rules, the same
predictions say which answers the mistake explains and which it contradicts.

Numbers written to a few decimals carry their rounding into what follows. :func:`spread` is
how far a prediction can move when every given parent moves within half a unit of its last
written digit, so an answer worked from rounded numbers, or with more digits kept on the
calculator than written, is judged right rather than a mistake.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.verify.reference import Rule, evaluate

# Perturbations tried per quantity when measuring how rounding spreads; beyond, the spread
# is not measured (numbers worked by hand are far fewer).
MAX_PERTURBED = 500


class Given:
    """Someone's numbers laid over the correct step: per quantity, which elements they gave
    (``mask``), the numbers, and half a unit of each one's last written digit."""

    def __init__(self, truth: dict[str, np.ndarray]) -> None:
        self._truth = truth
        self.mask: dict[str, np.ndarray] = {}
        self.numbers: dict[str, np.ndarray] = {}
        self.halves: dict[str, np.ndarray] = {}

    def add(self, key: str, index: tuple[int, ...], numbers: Any, halves: Any) -> None:
        if key not in self.mask:
            shape = np.shape(self._truth[key])
            self.mask[key] = np.zeros(shape, dtype=bool)
            self.numbers[key] = np.zeros(shape)
            self.halves[key] = np.zeros(shape)
        self.mask[key][index] = True
        self.numbers[key][index] = numbers
        self.halves[key][index] = halves

    def at(self, values: dict[str, np.ndarray]) -> "Given":
        """The same elements given, with ``values``' numbers (the correct ones) in place."""
        other = Given(self._truth)
        other.mask, other.halves = dict(self.mask), dict(self.halves)
        other.numbers = {key: np.array(values[key], dtype=float) for key in self.mask}
        return other

    def over(self, key: str, computed: np.ndarray) -> np.ndarray:
        """``computed`` with the given elements of ``key`` in place."""
        if key not in self.mask:
            return computed
        return np.where(self.mask[key], self.numbers[key], computed)


def predictions(rules: dict[str, Rule], start: dict[str, np.ndarray],
                given: Given) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(each ruled quantity as computed from its parents, with the given numbers in place of
    the parents given; the values used: predictions overlaid with the given numbers)."""
    predicted: dict[str, np.ndarray] = {}
    start = {key: np.asarray(value, dtype=float) for key, value in start.items()}
    values = evaluate(rules, start, given.over, predicted)
    return predicted, values


def spread(rule: Rule, values: dict[str, np.ndarray], given: Given) -> np.ndarray:
    """How far ``rule``'s result can move, element by element, when each given parent number
    moves by half a unit of its last digit (a linear estimate: ½·|f(p + h) − f(p − h)| summed
    over the parents' given elements). Zeros where nothing given is rounded, or beyond
    :data:`MAX_PERTURBED` perturbations."""
    base = rule(values)
    total = np.zeros(np.shape(base))
    moved = [(p, i) for p in rule.parents if p in given.mask
             for i in _indices(given.mask[p] & (given.halves[p] > 0))]
    if not moved or len(moved) > MAX_PERTURBED:
        return total
    for parent, index in moved:
        h = given.halves[parent][index]
        up, down = dict(values), dict(values)
        up[parent], down[parent] = values[parent].copy(), values[parent].copy()
        up[parent][index] += h
        down[parent][index] -= h
        with np.errstate(invalid="ignore", over="ignore"):  # an overflowed step: no spread
            change = np.abs(rule(up) - rule(down)) / 2
        total = total + np.where(np.isfinite(change), change, 0.0)
    return total


def _indices(flags: np.ndarray) -> list[tuple[int, ...]]:
    """The indices where ``flags`` is true (``()`` for a true 0-d array)."""
    if flags.ndim == 0:
        return [()] if bool(flags) else []
    return [tuple(int(i) for i in index) for index in zip(*np.nonzero(flags))]


def unwritten_spread(rules: dict[str, Rule], start: dict[str, np.ndarray], given: Given,
                     half: float) -> dict[str, np.ndarray]:
    """How far each prediction can move when every number worked but *not written* (a
    quantity the sheet does not ask for) was rounded to ``half`` as a calculator would: one
    pair of predictions per unwritten element, each moved by ±``half`` (a linear estimate,
    as :func:`spread`). Empty where ``half`` is 0 or beyond :data:`MAX_PERTURBED`."""
    if half <= 0:
        return {}
    base = predictions(rules, start, given)[0]
    unwritten = [(name, index) for name in rules if name not in given.mask
                 for index in _indices(np.ones(np.shape(base[name]), dtype=bool))]
    if not unwritten or 2 * len(unwritten) > MAX_PERTURBED:
        return {}
    total = {name: np.zeros(np.shape(value)) for name, value in base.items()}
    for name, index in unwritten:
        moved = []
        for sign in (1.0, -1.0):
            nudged = _Nudged(given, name, index, base[name], sign * half)
            moved.append(predictions(rules, start, nudged)[0])
        for key in total:
            if key == name:
                continue
            with np.errstate(invalid="ignore", over="ignore"):
                change = np.abs(moved[0][key] - moved[1][key]) / 2
            total[key] = total[key] + np.where(np.isfinite(change), change, 0.0)
    return total


class _Nudged(Given):
    """``given`` with one more element in place: an unwritten number moved by ``by``."""

    def __init__(self, given: Given, name: str, index: tuple[int, ...], value: np.ndarray,
                 by: float) -> None:
        self.mask, self.numbers, self.halves = dict(given.mask), dict(given.numbers), \
            dict(given.halves)
        mask, numbers = np.zeros(np.shape(value), dtype=bool), np.array(value, dtype=float)
        mask[index], numbers[index] = True, numbers[index] + by
        self.mask[name], self.numbers[name] = mask, numbers
        self.halves[name] = np.zeros(np.shape(value))
