"""Central finite differences for the tests (float64), independent of the engine."""

from __future__ import annotations

from typing import Callable

import numpy as np

EPS = 1e-6
TOLERANCE = 1e-6


def numeric_grad(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = EPS) -> np.ndarray:
    """∂f/∂x by central differences, one element at a time."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + eps
        up = f(x)
        x[index] = original - eps
        down = f(x)
        x[index] = original
        grad[index] = (up - down) / (2 * eps)
    return grad


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> np.ndarray:
    """|a − n| / max(|a|, |n|, 1): relative for large gradients, absolute below 1."""
    analytic, numeric = np.asarray(analytic), np.asarray(numeric)
    scale = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), 1.0)
    return np.abs(analytic - numeric) / scale


def assert_grad_close(analytic, numeric, what: str, tolerance: float = TOLERANCE) -> None:
    assert analytic is not None, f"{what}: no gradient was computed"
    assert np.shape(analytic) == np.shape(numeric), (
        f"{what}: gradient shape {np.shape(analytic)}, expected {np.shape(numeric)}")
    error = relative_error(analytic, numeric)
    worst = np.unravel_index(np.argmax(error), error.shape) if error.size else ()
    assert error.size == 0 or error.max() < tolerance, (
        f"{what}: element {worst}: analytic {np.asarray(analytic)[worst]!r}, "
        f"numeric {np.asarray(numeric)[worst]!r}, relative error {error.max():.3g} "
        f"(tolerance {tolerance})")
