"""Central differences for one element, shared by every gradient check.

The caller hands over ``value()`` (the scalar checked, evaluated at the current point) and the
float64 array it perturbs; this module moves one element, measures, and puts it back bit for
bit. It knows nothing of tensors, so chainrule's engine and a user's NumPy gradient are judged
by exactly the same rule (see :mod:`chainrule.verify.gradcheck` for the rule itself).
"""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np

from chainrule.verify.gradcheck_report import GradcheckRow, GradcheckWarning

TINY = np.finfo(np.float64).tiny  # keeps |a − n| / max(|a|, |n|) defined when both are 0


def check_element(value: Callable[[], float], base: float, name: str, data: np.ndarray,
                   index: tuple[int, ...], analytic: float, eps: float, atol: float,
                   rtol: float) -> GradcheckRow:
    eps = _step(float(data[index]), eps)
    up, down = _perturbed(value, data, index, eps)
    # f(x ± ε) == f(x) exactly while the analytic slope is not 0: the step was lost in rounding
    # downstream (a bias added to a 1e154 net input), and 0 would be a silently wrong slope.
    # Larger steps until f moves by a million of its ulps, enough digits for the slope; an
    # exact 0 slope never gets here (its analytic value is 0).
    if up == down == base and analytic != 0:
        resolution = 1e6 * float(np.spacing(abs(base)))
        while abs(up - down) < resolution and eps < MAX_STEP:
            eps *= 10
            up, down = _perturbed(value, data, index, eps)
    numeric = (up - down) / (2 * eps)
    abs_error = abs(analytic - numeric)
    rel_error = abs_error / max(abs(analytic), abs(numeric), TINY)
    tolerance = atol + rtol * abs(numeric)
    status = "ok" if abs_error <= tolerance else "fail"
    # One-sided slopes (up − base)/ε and (base − down)/ε: their gap is ≈ f''·ε if f is smooth
    # here, so it shrinks with ε; at a kink it is the jump in slope, whatever ε.
    gap = abs(up - 2 * base + down) / eps
    if gap > tolerance:
        small_up, small_down = _perturbed(value, data, index, eps / 10)
        if abs(small_up - 2 * base + small_down) / (eps / 10) > gap / 2:
            status = "kink"
    return GradcheckRow(name, tuple(int(i) for i in index), analytic, float(numeric),
                        float(abs_error), float(rel_error), status)


MAX_STEP = 1e300  # the largest finite-difference step tried when smaller ones are lost


def _step(x: float, eps: float) -> float:
    """ε, or ε·|x| where x ± ε rounds back to x (|x| beyond ~1/ε): an absolute step lost in
    rounding would give (f(x) − f(x))/2ε = 0, a silently wrong slope."""
    if x + eps != x and x - eps != x:
        return eps
    return eps * abs(x)


def _perturbed(value: Callable[[], float], data: np.ndarray, index: tuple[int, ...],
               eps: float) -> tuple[float, float]:
    """f(x + ε) and f(x − ε) for one element of ``data``, which is restored bit for bit."""
    original = data[index].copy()
    try:
        data[index] = original + eps
        up = value()
        data[index] = original - eps
        down = value()
    finally:
        data[index] = original
    return up, down


def warn(message: str, stacklevel: int) -> str:
    """Warn at the caller of the public function (``stacklevel`` counts from here)."""
    warnings.warn(GradcheckWarning(message), stacklevel=stacklevel)
    return message

