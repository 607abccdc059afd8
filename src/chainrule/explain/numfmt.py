"""How numbers are written: one place, so every format shows the same digits.

A precision is a number of decimals (an int: ``0.2000`` and ``0.0007`` at 4) or of
significant digits (:class:`Significant`: ``0.2000`` and ``0.0007123`` at 4), which keeps a
small gradient from showing one digit. Every renderer takes either and passes it here.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

DEFAULT_PRECISION = 10


class Significant(NamedTuple):
    """``digits`` significant digits: fixed-point from 1e-4 to below 10^digits, scientific
    outside (Python's ``#g``: 0.0007123, 12.35, 1.235e+04 at 4)."""

    digits: int

    def __str__(self) -> str:
        return f"{self.digits} significant digits"


class AsGiven(int):
    """``digits`` decimals, except that a number the exercise gave (or 0, ±1) is written as
    it was given: ``0.4``, not ``0.400000``. Only exact float equality counts, so a computed
    value is never passed off as a short one."""

    given: frozenset[float]

    def __new__(cls, digits: int, given=()) -> "AsGiven":
        made = super().__new__(cls, digits)
        made.given = frozenset(float(v) for v in given) | {0.0, 1.0, -1.0}
        return made

    def __reduce__(self):
        return AsGiven, (int(self), tuple(self.given))


def given_numbers(data) -> list[float]:
    """Every number in a spec (weights, inputs, targets, the learning rate): what was given."""
    if isinstance(data, bool):
        return []
    if isinstance(data, (int, float)):
        return [float(data)]
    if isinstance(data, dict):
        return [v for item in data.values() for v in given_numbers(item)]
    if isinstance(data, (list, tuple)):
        return [v for item in data for v in given_numbers(item)]
    return []


Precision = int | Significant
DEFAULT_SIGNIFICANT = Significant(4)  # what the command line shows unless told otherwise


def rounding_note(precision: Precision) -> str:
    """What a header says of the digits shown: "shown to 4 significant digits"."""
    if isinstance(precision, Significant):
        return f"shown to {precision}"
    return f"shown to {precision} decimal{'s' if precision != 1 else ''}"


def number(value: float, precision: Precision = DEFAULT_PRECISION) -> str:
    """Fixed-point with ``precision`` decimals; scientific where that would hide the value.
    With :class:`Significant` digits, that many significant digits."""
    value = float(value)
    if not np.isfinite(value):
        return {True: "inf", False: "-inf"}[value > 0] if np.isinf(value) else "nan"
    if isinstance(precision, AsGiven) and value in precision.given:
        return f"{value + 0.0:g}"  # + 0.0: -0.0 is written 0
    if isinstance(precision, Significant):
        if value == 0:
            return "0." + "0" * max(precision.digits - 1, 1)
        text = f"{value:#.{precision.digits}g}".replace(".e", "e")  # 1.e+01 → 1e+01
        return text[:-1] if text.endswith(".") else text
    if value != 0 and abs(value) < 0.5 * 10.0**-precision:
        return f"{value:.{max(precision - 4, 2)}e}"
    text = f"{value:.{precision}f}"
    return "0." + "0" * precision if text.lstrip("-") == "0." + "0" * precision else text


def array_lines(values: np.ndarray, precision: Precision = DEFAULT_PRECISION) -> list[str]:
    """A vector on one line, a matrix one row per line, columns aligned: ``[a, b]``."""
    array = np.atleast_1d(np.asarray(values, dtype=float))
    matrix = array.ndim > 1
    cells = [[number(v, precision) for v in row] for row in np.atleast_2d(array)]
    width = max(len(c) for row in cells for c in row)
    rows = ["[" + ", ".join(c.rjust(width) for c in row) + "]" for row in cells]
    if not matrix:
        return rows
    lines = [(" " if i else "[") + row for i, row in enumerate(rows)]
    lines[-1] += "]"
    return lines
