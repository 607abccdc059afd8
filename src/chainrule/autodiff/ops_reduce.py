"""Reductions beyond ``sum``: max and min, argmax and argmin, var and std, logsumexp, and the
running sum ``cumsum``. Their entries join :data:`chainrule.autodiff.ops.PRIMITIVES`.

Every reduction takes ``axis`` (an int, a tuple of them or None for all; negative counts
from the end; a 0-d tensor has the one axis 0, as in PyTorch) and ``keepdims``.

Ties, as in PyTorch: ``max``/``min`` spread the gradient evenly over the elements that tie
for the extreme — what ``torch.amax``, ``torch.amin`` and the full ``Tensor.max()`` do. The
other PyTorch form, ``Tensor.max(dim)`` returning (values, indices), routes the whole
gradient to the one index returned; chainrule's Tensor method builds it from ``argmax`` and
``gather`` (:mod:`chainrule.functional`), so it needs no entry of its own. argmax and argmin
return the first index of a tie, as NumPy and PyTorch do, and have no gradient.

``var`` and ``std`` are primitives rather than compositions of mean, sub, mul and sqrt: at a
constant input std = 0, and the composed gradient would be sqrt′(0) · 0 = ∞ · 0 = NaN where
PyTorch (and the limit along any line) gives 0; one entry also shows one step with its own
derivative. ``correction`` is PyTorch's (1 by default: Bessel's n − 1). A reduction left
with no degrees of freedom (n − correction ≤ 0, where PyTorch returns NaN or ∞ with a
warning) raises ShapeError instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import ShapeError
from chainrule.autodiff.op_table import _define, axes_of, no_gradient

Array = np.ndarray


def _kept(g: Array, x: Array, axes: tuple[int, ...], keepdims: bool) -> Array:
    """The reduced ``g`` (or output) with the reduced axes back as size 1, to broadcast."""
    g = np.asarray(g)
    if keepdims or not axes:
        return g
    kept = list(x.shape)
    for a in axes:
        kept[a] = 1
    return g.reshape(kept)


def _not_empty(x: Array, axes: tuple[int, ...], op: str) -> None:
    if any(x.shape[a] == 0 for a in axes):
        raise ShapeError(f"{op}: cannot reduce over an empty axis (shape {x.shape})")


# --- max and min --------------------------------------------------------------------------


def _extreme(reduce: np.ufunc, op: str):
    def forward(x: Array, axis: Any = None, keepdims: bool = False) -> Array:
        axes = axes_of(axis, x.ndim, op)
        _not_empty(x, axes, op)
        return np.asarray(reduce.reduce(x, axis=axes, keepdims=keepdims))
    return forward


def _extreme_grad(g: Array, out: Array, x: Array, axis: Any = None,
                  keepdims: bool = False) -> Array:
    axes = axes_of(axis, x.ndim, "max/min")  # checked by the forward already
    best = _kept(out, x, axes, keepdims)
    chosen = x == best
    if np.isnan(out).any():  # a NaN is the extreme of its slice (PyTorch): it takes g
        chosen |= np.isnan(x) & np.isnan(best)
    # the tied elements share g evenly; each slice has at least one chosen element
    count = np.add.reduce(chosen, axis=axes, keepdims=True)
    return chosen * (_kept(g, x, axes, keepdims) / count).astype(x.dtype, copy=False)


def _arg(find, op: str):
    def forward(x: Array, axis: int | None = None, keepdims: bool = False) -> Array:
        axes = axes_of(axis, x.ndim, op)
        if axis is not None and len(axes) > 1:
            raise ShapeError(f"{op}: dim must be one axis or None, got {axis!r}")
        _not_empty(x, axes, op)
        if not x.ndim:  # the one element of a 0-d tensor
            return np.zeros((), dtype=np.int64)
        return np.asarray(find(x, axis=axes[0] if axis is not None else None,
                               keepdims=keepdims), dtype=np.int64)
    return forward


# --- var and std --------------------------------------------------------------------------


def _deviations(x: Array, axis: Any, correction: float, op: str):
    """(x − mean, degrees of freedom, axes), with the degrees of freedom checked."""
    axes = axes_of(axis, x.ndim, op)
    count = int(np.prod([x.shape[a] for a in axes]))
    freedom = count - correction
    if not freedom > 0:
        raise ShapeError(f"{op}: {count} element(s) per reduction with correction "
                         f"{correction} leave no degrees of freedom (n − correction ≤ 0)")
    mean = np.add.reduce(x, axis=axes, keepdims=True) / x.dtype.type(count)
    return x - mean, x.dtype.type(freedom), axes


def var(x: Array, axis: Any = None, correction: float = 1, keepdims: bool = False,
        op: str = "var") -> Array:
    d, freedom, axes = _deviations(x, axis, correction, op)
    return np.asarray(np.add.reduce(d * d, axis=axes, keepdims=keepdims) / freedom)


def _var_grad(g: Array, out: Array, x: Array, axis: Any = None, correction: float = 1,
              keepdims: bool = False) -> Array:
    d, freedom, axes = _deviations(x, axis, correction, "var")
    return _kept(g, x, axes, keepdims) * (2 * d / freedom)


def std(x: Array, axis: Any = None, correction: float = 1, keepdims: bool = False) -> Array:
    return np.sqrt(var(x, axis, correction, keepdims, "std"))


def _std_grad(g: Array, out: Array, x: Array, axis: Any = None, correction: float = 1,
              keepdims: bool = False) -> Array:
    d, freedom, axes = _deviations(x, axis, correction, "std")
    spread = _kept(out, x, axes, keepdims)
    # ∂std/∂x = (x − mean) / ((n − c)·std); at std = 0 every deviation is 0 and PyTorch
    # (with the limit) gives 0, not 0/0
    with np.errstate(divide="ignore", invalid="ignore"):
        local = np.where(spread == 0, 0, d / (freedom * spread))
    return _kept(g, x, axes, keepdims) * local.astype(x.dtype, copy=False)


# --- logsumexp and cumsum ------------------------------------------------------------------


def logsumexp(x: Array, axis: Any = None, keepdims: bool = False) -> Array:
    axes = axes_of(axis, x.ndim, "logsumexp")
    if x.ndim == 0:
        return x.copy()
    shift = np.maximum.reduce(x, axis=axes, keepdims=True)
    # shift by the max so no exp overflows; an infinite max would make x − shift NaN, so
    # such a slice is not shifted (its result is ±∞ either way, as in PyTorch)
    shift = np.where(np.isfinite(shift), shift, 0).astype(x.dtype, copy=False)
    with np.errstate(divide="ignore"):  # every element −∞: ln 0 = −∞, no warning
        total = np.log(np.add.reduce(np.exp(x - shift), axis=axes, keepdims=True)) + shift
    return total if keepdims else total.reshape([n for i, n in enumerate(x.shape)
                                                 if i not in axes])


def _logsumexp_grad(g: Array, out: Array, x: Array, axis: Any = None,
                    keepdims: bool = False) -> Array:
    axes = axes_of(axis, x.ndim, "logsumexp")
    with np.errstate(invalid="ignore"):  # ∞ − ∞ where a slice is infinite: NaN, as PyTorch
        return _kept(g, x, axes, keepdims) * np.exp(x - _kept(out, x, axes, keepdims))


def cumsum(x: Array, axis: int = 0) -> Array:
    (a,) = axes_of(axis, x.ndim, "cumsum") or (None,)
    return x.copy() if a is None else np.cumsum(x, axis=a)


def _cumsum_grad(g: Array, out: Array, x: Array, axis: int = 0) -> Array:
    # each x[i] is in out[j] for j ≥ i: the gradient is the running sum of g from the end
    (a,) = axes_of(axis, x.ndim, "cumsum") or (None,)
    if a is None:
        return g
    return np.flip(np.cumsum(np.flip(g, a), axis=a), a)


# --- the table ------------------------------------------------------------------------------
# fmt: off

_define("max", _extreme(np.maximum, "max"),
        (_extreme_grad,),
        "max x", ("1/k at each of the k maxima, else 0",),
        r"\max x", (r"\tfrac1k [x_i = \max x]",))

_define("min", _extreme(np.minimum, "min"),
        (_extreme_grad,),
        "min x", ("1/k at each of the k minima, else 0",),
        r"\min x", (r"\tfrac1k [x_i = \min x]",))

_define("argmax", _arg(np.argmax, "argmax"),
        (no_gradient("argmax"),),
        "argmax x", ("none (an integer result)",), r"\operatorname{argmax} x", (r"\text{none}",),
        differentiable=False)

_define("argmin", _arg(np.argmin, "argmin"),
        (no_gradient("argmin"),),
        "argmin x", ("none (an integer result)",), r"\operatorname{argmin} x", (r"\text{none}",),
        differentiable=False)

_define("var", var,
        (_var_grad,),
        "Σᵢ (xᵢ − x̄)² / (n − c)", ("2(xᵢ − x̄)/(n − c)",),
        r"\frac{1}{n - c} \sum_i (x_i - \bar x)^2", (r"\frac{2 (x_i - \bar x)}{n - c}",))

_define("std", std,
        (_std_grad,),
        "√(Σᵢ (xᵢ − x̄)² / (n − c))", ("(xᵢ − x̄) / ((n − c)·std), 0 where std = 0",),
        r"\sqrt{\frac{1}{n - c} \sum_i (x_i - \bar x)^2}",
        (r"\frac{x_i - \bar x}{(n - c)\, \sigma}",))

_define("logsumexp", logsumexp,
        (_logsumexp_grad,),
        "ln Σᵢ e^xᵢ", ("softmax(x)ᵢ = e^(xᵢ − out)",),
        r"\ln \sum_i e^{x_i}", (r"e^{x_i - \mathrm{out}}",))

_define("cumsum", cumsum,
        (_cumsum_grad,),
        "outⱼ = Σ_{i ≤ j} xᵢ", ("Σ_{j ≥ i} gⱼ (a running sum from the end)",),
        r"\mathrm{out}_j = \sum_{i \le j} x_i", (r"\sum_{j \ge i} g_j",))

# fmt: on
