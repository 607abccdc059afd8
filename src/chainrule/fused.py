"""The fused primitives: a layer's affine map, the squared errors and the log-likelihood.

A network step spends most of its time, on small networks, in bookkeeping per node rather
than in arithmetic; these primitives do in one node what the composed expressions do in
three to six. Their entries, at the end of this module, go into the one table of
:data:`chainrule.ops.PRIMITIVES` like every other op (``ops`` imports this module last).

Each rule repeats the composed expression's floating-point operations in the same order,
so a network gives the same numbers, bit for bit, fused or not: the squared error's
gradient is ``(g · 2) · (y − t)`` as ``pow``'s rule computes it, the log-likelihood's is
``mul``'s, the mean divides by the count as ``div`` does. Cross-entropy from logits is
``nll(log_softmax(z), t)``: ``log_softmax`` stays its own node, so its output is at hand
for its rule instead of being computed again.
The activations stay separate nodes (``sigmoid``, ``relu``, ...): each is a step a learner
sees with its own derivative, and ``z`` and ``a`` both stay tensors with a ``.grad``.
"""

from __future__ import annotations

import numpy as np

from chainrule.ops import _define
from chainrule.ops import _matmul_grad_x as matmul_grad_x
from chainrule.ops import _matmul_grad_y as matmul_grad_y
from chainrule.ops import matmul

Array = np.ndarray

REDUCTIONS = ("mean", "sum", "none")
SQUARED_ERRORS = ("sse", "half_sse", "mse")  # Σₖ, ½Σₖ and meanₖ of (yₖ − tₖ)²


# --- linear: x @ W + b ------------------------------------------------------------------------


def linear(x: Array, w: Array, b: Array) -> Array:
    """``x @ W + b``, the bias added into the product's own array when the shapes allow."""
    out = matmul(x, w)
    if type(out) is np.ndarray and out.dtype == b.dtype and b.ndim <= out.ndim:
        try:
            return np.add(out, b, out=out)  # the same sums as out + b, without a new array
        except ValueError:  # b would broadcast the product to a bigger shape
            pass
    return out + b


def linear_grad_x(g: Array, out: Array, x: Array, w: Array, b: Array) -> Array:
    return matmul_grad_x(g, out, x, w)


def linear_grad_w(g: Array, out: Array, x: Array, w: Array, b: Array) -> Array:
    return matmul_grad_y(g, out, x, w)


def linear_grad_b(g: Array, out: Array, x: Array, w: Array, b: Array) -> Array:
    return g  # summed over the examples by the engine, as for add


# --- reductions over examples, shared by the losses -------------------------------------------


def _const(value: float, like: Array) -> Array:
    return np.asarray(value, dtype=like.dtype)


def _reduce(per_example: Array, reduction: str) -> Array:
    if reduction == "mean":  # sum / n, as Tensor.mean computes it
        total = np.add.reduce(per_example, axis=None)  # what np.sum runs, minus its wrapper
        return np.divide(total, _const(per_example.size, per_example))
    if reduction == "sum":
        return np.add.reduce(per_example, axis=None)
    return per_example


def _per_example_grad(g: Array, y: Array, reduction: str) -> Array:
    """∂loss/∂(per-example loss), shaped to meet a row of units: one value for every example
    (mean, sum — the same numbers sum's rule would spread), or (..., 1) for "none"."""
    if reduction == "mean":
        return np.divide(g, _const(y.size // y.shape[-1], y))  # div's rule: g / n
    if reduction == "sum":
        return g
    return np.reshape(g, (*y.shape[:-1], 1))


# --- squared errors: Σₖ (yₖ − tₖ)², ½ of it, or its mean over the units ------------------------


def squared_error(y: Array, t: Array, kind: str = "sse", reduction: str = "mean") -> Array:
    if kind not in SQUARED_ERRORS or reduction not in REDUCTIONS:
        raise ValueError(f"squared_error: kind must be one of {SQUARED_ERRORS} and reduction "
                         f"one of {REDUCTIONS}, got {kind!r} and {reduction!r}")
    squares = np.power(np.subtract(y, t), _const(2, y))
    per_example = np.add.reduce(squares, axis=-1)
    if kind == "half_sse":
        per_example = np.multiply(_const(0.5, y), per_example)
    elif kind == "mse":
        per_example = np.divide(per_example, _const(y.shape[-1], y))
    return np.asarray(_reduce(per_example, reduction))


def _squared_error_grad(g: Array, y: Array, t: Array, kind: str, reduction: str) -> Array:
    g = _per_example_grad(g, y, reduction)
    if kind == "half_sse":
        g = np.multiply(g, _const(0.5, y))
    elif kind == "mse":
        g = np.divide(g, _const(y.shape[-1], y))
    # pow's rule g · 2 · (y − t)¹, in its order; (y − t)¹ is y − t exactly.
    return np.multiply(np.multiply(g, _const(2, y)), np.subtract(y, t))


def squared_error_grad_y(g: Array, out: Array, y: Array, t: Array, kind: str = "sse",
                         reduction: str = "mean") -> Array:
    return _squared_error_grad(g, y, t, kind, reduction)


def squared_error_grad_t(g: Array, out: Array, y: Array, t: Array, kind: str = "sse",
                         reduction: str = "mean") -> Array:
    return np.negative(_squared_error_grad(g, y, t, kind, reduction))


# --- negative log-likelihood of log-probabilities: −Σₖ tₖ ℓₖ ---------------------------------


def nll(log_probs: Array, t: Array, reduction: str = "mean") -> Array:
    if reduction not in REDUCTIONS:
        raise ValueError(f"nll: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    per_example = np.negative(np.add.reduce(np.multiply(t, log_probs), axis=-1))
    return np.asarray(_reduce(per_example, reduction))


def nll_grad_log_probs(g: Array, out: Array, log_probs: Array, t: Array,
                       reduction: str = "mean") -> Array:
    return np.multiply(np.negative(_per_example_grad(g, log_probs, reduction)), t)  # mul's rule


def nll_grad_t(g: Array, out: Array, log_probs: Array, t: Array,
               reduction: str = "mean") -> Array:
    return np.multiply(np.negative(_per_example_grad(g, log_probs, reduction)), log_probs)


# --- the table entries ----------------------------------------------------------------------
# fmt: off

_define("linear", linear,
        (linear_grad_x, linear_grad_w, linear_grad_b),
        "x @ W + b", ("g @ Wᵀ", "xᵀ @ g", "g, summed over examples"),
        r"x W + b", (r"g\, W^\top", r"x^\top g", r"\textstyle\sum_n g_n"))

_define("squared_error", squared_error,
        (squared_error_grad_y, squared_error_grad_t),
        "Σₖ (yₖ − tₖ)² per example (½ of it, or its mean over k), reduced over examples",
        ("2(y − t)", "−2(y − t)"),
        r"\sum_k (y_k - t_k)^2", ("2(y - t)", "-2(y - t)"))

_define("nll", nll,
        (nll_grad_log_probs, nll_grad_t),
        "−Σₖ tₖ ℓₖ per example (ℓ: log-probabilities), reduced over examples",
        ("−t", "−ℓ"),
        r"-\sum_k t_k \ell_k", ("-t", r"-\ell"))

# fmt: on
