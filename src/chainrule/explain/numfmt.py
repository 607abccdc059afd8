"""How numbers are written: one place, so every format shows the same digits."""

from __future__ import annotations

import numpy as np

DEFAULT_PRECISION = 10


def number(value: float, precision: int = DEFAULT_PRECISION) -> str:
    """Fixed-point with ``precision`` decimals; scientific where that would hide the value."""
    value = float(value)
    if not np.isfinite(value):
        return {True: "inf", False: "-inf"}[value > 0] if np.isinf(value) else "nan"
    if value != 0 and abs(value) < 0.5 * 10.0**-precision:
        return f"{value:.{max(precision - 4, 2)}e}"
    text = f"{value:.{precision}f}"
    return "0." + "0" * precision if text.lstrip("-") == "0." + "0" * precision else text


def array_lines(values: np.ndarray, precision: int = DEFAULT_PRECISION) -> list[str]:
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
