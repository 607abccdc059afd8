"""The ways a step could have been worked, applied to someone's numbers (chainrule.verify.marking).

A :class:`Reading` is one set of the step's rules (correct, or with a catalogue mistake's
alterations) evaluated with the given numbers in place of the quantities they give: each answer's
prediction from the numbers before it, and how far rounding spreads that prediction (the given
numbers' rounding, and that of numbers worked but not written). Everything is computed when
first asked: most readings of a sheet are never needed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from chainrule.verify.carried import Given, predictions, spread
from chainrule.verify.judging import Cell

# A mistake's number this close to the correct one (relative and absolute) is the same number
# computed another way: float error, not a change the mistake made.
UNCHANGED = 1e-9


class Reading:
    """One way the step could have been worked (correct, or with a mistake) applied to the
    given numbers: each ruled answer's prediction, and how far rounding spreads it (the
    given numbers' rounding, and ``unwritten``: that of numbers worked but not written)."""

    def __init__(self, rules, start, given: Given, truth: dict[str, np.ndarray],
                 unwritten: Callable[[], dict[str, np.ndarray]],
                 spreads: dict[str, np.ndarray] | None = None,
                 base: "Reading | None" = None) -> None:
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


class LargerSpread(dict):
    """The spread of two readings' given numbers, the larger of the two, element by element:
    a pair of mistakes is judged with a spread each of them has already computed (the spread
    is a linear estimate of rounding, and computing it afresh for each pair dominated the
    marking of a large sheet)."""

    def __init__(self, first: Reading, second: Reading) -> None:
        super().__init__()
        self._first, self._second = first, second

    def __missing__(self, key: str) -> np.ndarray:
        self[key] = np.maximum(self._first.spread_of(key, unwritten=False),
                               self._second.spread_of(key, unwritten=False))
        return self[key]

    def __contains__(self, key: object) -> bool:  # every key has one, made on first use
        return True


class Readings(Mapping):
    """Each mistake's reading by id, made on first access (in the truth's order)."""

    def __init__(self, ids, make: Callable[[str], Reading]) -> None:
        self._ids, self._make, self._made = list(ids), make, {}

    def __getitem__(self, mid: str) -> Reading:
        if mid not in self._made:
            if mid not in self._ids:
                raise KeyError(mid)
            self._made[mid] = self._make(mid)
        return self._made[mid]

    def __iter__(self):
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


def picker(cells: list[Cell], ndim: int) -> Callable[[np.ndarray], np.ndarray]:
    """A function picking each cell's element of a quantity with ``ndim`` axes, as a 1-D
    array in the cells' order."""
    if ndim == 0:
        return lambda array: np.full(len(cells), float(np.asarray(array)))
    index = tuple(np.array([c.index[axis] for c in cells], dtype=int) for axis in range(ndim))
    return lambda array: np.asarray(array)[index]
