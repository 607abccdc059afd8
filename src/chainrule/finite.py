"""Finding the first non-finite number, once, for every place that must stop at one.

float64 overflows to inf past 1.8e308 and then gives NaN (inf − inf, 0·inf); a NumPy
computation goes on silently. Where chainrule lets a computation overflow on purpose (inside
``np.errstate``), it checks the results with :func:`first_non_finite` and stops with one line
naming the quantity and the element: training (:mod:`chainrule.train.loop`) and a recorded step
(:mod:`chainrule.explain.trace`, so ``explain`` and ``verify`` too).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import ChainruleError


class NonFiniteError(ChainruleError, FloatingPointError):
    """A computed quantity is inf or NaN; the message names the first one and where."""

    def __init__(self, message: str, *, quantity: str, index: tuple[int, ...],
                 value: float) -> None:
        super().__init__(message)
        self.quantity, self.index, self.value = quantity, index, value


def first_non_finite(values: Any) -> tuple[tuple[int, ...], float] | None:
    """The index and value of the first inf or NaN in ``values`` (C order), or None."""
    array = np.asarray(values)
    if array.dtype.kind not in "fc":  # integers and booleans cannot overflow to inf
        return None
    finite = np.isfinite(array)
    if finite.all():
        return None
    index = tuple(int(i) for i in np.argwhere(~finite)[0])
    value = array[index]
    return index, float(value if array.dtype.kind == "f" else np.abs(value))


def element(name: str, index: tuple[int, ...]) -> str:
    """``z2`` (0,) → ``z2[0]``; a scalar keeps its bare name."""
    return f"{name}[{','.join(map(str, index))}]" if index else name


def what_happened(value: float) -> str:
    """``overflowed to inf`` / ``overflowed to -inf`` / ``is nan``, for a message."""
    return "is nan" if np.isnan(value) else f"overflowed to {value}"
