"""The fused primitives: a layer's affine map (alone, or with its activation), the squared
errors and the log-likelihood.

A network step spends most of its time, on small networks, in bookkeeping per node rather
than in arithmetic; these primitives do in one node what the composed expressions do in
three to six. Their entries, at the end of this module, go into the one table of
:data:`chainrule.autodiff.ops.PRIMITIVES` like every other op (``ops`` imports this module last).

Each rule repeats the composed expression's floating-point operations in the same order,
so a network gives the same numbers, bit for bit, fused or not: the squared error's
gradient is ``(g · 2) · (y − t)`` as ``pow``'s rule computes it, the log-likelihood's is
``mul``'s, the mean divides by the count as ``div`` does. Cross-entropy from logits is
``nll(log_softmax(z), t)``: ``log_softmax`` stays its own node, so its output is at hand
for its rule instead of being computed again.
The activations stay separate nodes (``sigmoid``, ``relu``, ...) wherever a learner looks:
each is a step with its own derivative, and ``z`` and ``a`` both stay tensors with a
``.grad``. Training, which reads no ``z.grad``, may record a whole layer as one ``dense``
node instead (``MLP.forward_steps(x, fused=True)``); its rule calls the activation's own
rule and then the affine map's, so the gradients are the same bits.

Each fused primitive also has an all-inputs rule (``vjp``) that computes what its inputs'
gradients share — the layer's delta, the loss's error — once.
"""

from __future__ import annotations

import numpy as np

from chainrule.tables.losses import REDUCTIONS
from chainrule.autodiff.op_table import PRIMITIVES, Primitive, _define
from chainrule.autodiff.ops_basic import _matmul_grad_x as matmul_grad_x
from chainrule.autodiff.ops_basic import _matmul_grad_y as matmul_grad_y
from chainrule.autodiff.ops_basic import matmul

Array = np.ndarray

SQUARED_ERRORS = ("sse", "half_sse", "mse")  # Σₖ, ½Σₖ and meanₖ of (yₖ − tₖ)²


# --- linear: x @ W + b ------------------------------------------------------------------------


def linear(x: Array, w: Array, b: Array) -> Array:
    """``x @ W + b``, the bias added into the product's own array when the shapes allow."""
    out = matmul(x, w)
    if out.ndim and out.dtype == b.dtype and b.ndim <= out.ndim:
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


def linear_vjp(g: Array, out: Array, wanted, x: Array, w: Array, b: Array):
    return (matmul_grad_x(g, out, x, w) if wanted[0] else None,
            matmul_grad_y(g, out, x, w) if wanted[1] else None,
            g if wanted[2] else None)


# --- dense: f(x @ W + b), a whole layer ------------------------------------------------------

# The activations whose derivative can be read off their output a = f(z), so the rule needs
# no z: σ' = a(1 − a), tanh' = 1 − a², relu' = [z > 0] = [a > 0], and for leaky relu with a
# slope ≥ 0, also [z > 0] = [a > 0]. Their own rules are called with a in place of z.
DENSE_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu")


def dense_activation(name: str, slope: float | None = None) -> tuple[Primitive, dict]:
    """The activation's primitive and its parameters, for ``dense``; ValueError if its
    derivative cannot be read off its output."""
    if name not in DENSE_ACTIVATIONS or (slope is not None and not slope >= 0):
        raise ValueError(f"dense: activation must be one of {DENSE_ACTIVATIONS} (leaky_relu "
                         f"with a slope ≥ 0), got {name!r} with slope {slope!r}")
    return PRIMITIVES[name], ({} if slope is None else {"slope": slope})


def dense(x: Array, w: Array, b: Array, activation: str = "relu",
          slope: float | None = None) -> Array:
    prim, params = dense_activation(activation, slope)
    return prim.forward(linear(x, w, b), **params)


def dense_vjp(g: Array, out: Array, wanted, x: Array, w: Array, b: Array,
              activation: str = "relu", slope: float | None = None):
    # ∂E/∂z = g ⊙ f'(z) by the activation's own rule, from the output a = out (checked by
    # the forward, which made this node)
    rule = PRIMITIVES[activation].vjps[0]
    delta = rule(g, out, out) if slope is None else rule(g, out, out, slope=slope)
    return linear_vjp(delta, out, wanted, x, w, b)


def _dense_grad(i: int):
    def rule(g: Array, out: Array, x: Array, w: Array, b: Array, activation: str = "relu",
             slope: float | None = None) -> Array:
        wanted = [j == i for j in range(3)]
        return dense_vjp(g, out, wanted, x, w, b, activation, slope)[i]
    return rule


# --- reductions over examples, shared by the losses -------------------------------------------


def _const(value: float, like: Array):
    return like.dtype.type(value)  # a NumPy scalar of the array's own dtype: no promotion


def _units(y: Array) -> int:
    """The units of the last axis; a 0-d input is one unit of one example."""
    return y.shape[-1] if y.ndim else 1


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
        return np.divide(g, _const(y.size // _units(y), y))  # div's rule: g / n
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
        per_example = np.divide(per_example, _const(_units(y), y))
    return np.asarray(_reduce(per_example, reduction))


def _squared_error_grad(g: Array, y: Array, t: Array, kind: str, reduction: str) -> Array:
    g = _per_example_grad(g, y, reduction)
    if kind == "half_sse":
        g = np.multiply(g, _const(0.5, y))
    elif kind == "mse":
        g = np.divide(g, _const(_units(y), y))
    # pow's rule g · 2 · (y − t)¹, in its order; (y − t)¹ is y − t exactly.
    return np.multiply(np.multiply(g, _const(2, y)), np.subtract(y, t))


def squared_error_grad_y(g: Array, out: Array, y: Array, t: Array, kind: str = "sse",
                         reduction: str = "mean") -> Array:
    return _squared_error_grad(g, y, t, kind, reduction)


def squared_error_grad_t(g: Array, out: Array, y: Array, t: Array, kind: str = "sse",
                         reduction: str = "mean") -> Array:
    return np.negative(_squared_error_grad(g, y, t, kind, reduction))


def squared_error_vjp(g: Array, out: Array, wanted, y: Array, t: Array, kind: str = "sse",
                      reduction: str = "mean"):
    grad = _squared_error_grad(g, y, t, kind, reduction)
    return (grad if wanted[0] else None, np.negative(grad) if wanted[1] else None)


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


def nll_vjp(g: Array, out: Array, wanted, log_probs: Array, t: Array, reduction: str = "mean"):
    minus_g = np.negative(_per_example_grad(g, log_probs, reduction))
    return (np.multiply(minus_g, t) if wanted[0] else None,
            np.multiply(minus_g, log_probs) if wanted[1] else None)


# --- binary cross-entropy of a softmax's probabilities, from its logits ------------------------
# E = meanₖ −[tₖ ln pₖ + (1 − tₖ) ln(1 − pₖ)] with p = softmax(z). Computed from p itself, a
# saturated unit gives ln 0 = −∞ and a NaN gradient; from z it is finite for any finite z.
# ln pₖ is log-softmax. ln(1 − pₖ) is log1p(−pₖ), accurate while pₖ ≤ ½; only the largest unit
# can exceed ½, and for it ln(1 − pₖ) = ln Σⱼ≠ₖ e^zⱼ − ln Σⱼ e^zⱼ, taken directly.


def _softmax_logs(z: Array):
    """ln p, ln(1 − p), p, the top unit's index, z − max z with −∞ at the top unit, and
    ln Σⱼ≠top e^(zⱼ − max z); by example."""
    shifted = np.subtract(z, np.max(z, axis=-1, keepdims=True))
    log_total = np.log(np.add.reduce(np.exp(shifted), axis=-1, keepdims=True))
    log_p = np.subtract(shifted, log_total)
    p = np.exp(log_p)
    top = np.argmax(z, axis=-1)[..., None]
    others = shifted.copy()
    np.put_along_axis(others, top, -np.inf, axis=-1)
    # ln Σⱼ≠top e^shiftedⱼ, shifted by its own largest term: e^(z₂ − z₁) may underflow to 0
    # while the logarithm, z₂ − z₁, is finite. With one unit it is ln 0 = −∞, the truth.
    with np.errstate(divide="ignore", invalid="ignore"):
        log_q = np.log1p(np.negative(p))
        peak = np.max(others, axis=-1, keepdims=True)
        peak = np.where(np.isfinite(peak), peak, 0.0)
        log_others = peak + np.log(np.add.reduce(np.exp(others - peak), axis=-1, keepdims=True))
    np.put_along_axis(log_q, top, np.subtract(log_others, log_total), axis=-1)
    return log_p, log_q, p, top, others, log_others


def _weighted(t: Array, log: Array) -> Array:
    # t·ln x with t = 0 contributing 0 even where ln x = −∞ (0·∞ would be NaN)
    return np.multiply(t, log, out=np.zeros_like(log), where=t != 0)


def softmax_bce(z: Array, t: Array, reduction: str = "mean") -> Array:
    if reduction not in REDUCTIONS:
        raise ValueError(f"softmax_bce: reduction must be one of {REDUCTIONS}, "
                         f"got {reduction!r}")
    log_p, log_q, *_ = _softmax_logs(z)
    per_unit = np.negative(np.add(_weighted(t, log_p), _weighted(1.0 - t, log_q)))
    per_example = np.divide(np.add.reduce(per_unit, axis=-1), _const(z.shape[-1], z))
    return np.asarray(_reduce(per_example, reduction))


def softmax_bce_grad_z(g: Array, out: Array, z: Array, t: Array,
                       reduction: str = "mean") -> Array:
    # K·∂E/∂zⱼ = K pⱼ − tⱼ − Σₖ≠ⱼ (1 − tₖ) e^zⱼ / Σᵢ≠ₖ e^zᵢ; each fraction is pⱼ/(1 − pₖ) for a
    # unit k with pₖ ≤ ½, and for the top unit the softmax of the others: all in [0, 1].
    _, _, p, top, others, log_others = _softmax_logs(z)
    units = z.shape[-1]
    is_top = np.zeros(z.shape, dtype=bool)
    np.put_along_axis(is_top, top, True, axis=-1)
    weights = np.where(is_top, 0.0, np.divide(1.0 - t, np.where(is_top, 1.0, 1.0 - p)))
    total = np.add.reduce(weights, axis=-1, keepdims=True)
    top_t = np.take_along_axis(t, top, axis=-1)
    with np.errstate(invalid="ignore"):  # one unit: −∞ − (−∞); masked out by is_top
        others_softmax = np.where(is_top, 0.0, np.exp(others - log_others))
    mixed = np.multiply(p, np.subtract(total, weights)) + np.multiply(1.0 - top_t,
                                                                      others_softmax)
    grad = np.divide(np.subtract(np.multiply(units, p) - t, mixed), _const(units, z))
    return np.multiply(_per_example_grad(g, z, reduction), grad)


def softmax_bce_grad_t(g: Array, out: Array, z: Array, t: Array,
                       reduction: str = "mean") -> Array:
    log_p, log_q, *_ = _softmax_logs(z)
    with np.errstate(invalid="ignore"):  # one unit: ln(1 − p) = −∞, and so is this gradient
        grad = np.divide(np.subtract(log_q, log_p), _const(z.shape[-1], z))
    return np.multiply(_per_example_grad(g, z, reduction), grad)


# --- the table entries ----------------------------------------------------------------------
# fmt: off

_define("linear", linear,
        (linear_grad_x, linear_grad_w, linear_grad_b),
        "x @ W + b", ("g @ Wᵀ", "xᵀ @ g", "g, summed over examples"),
        r"x W + b", (r"g\, W^\top", r"x^\top g", r"\textstyle\sum_n g_n"),
        vjp=linear_vjp)

_define("dense", dense,
        (_dense_grad(0), _dense_grad(1), _dense_grad(2)),
        "f(x @ W + b)", ("(g ⊙ f′) @ Wᵀ", "xᵀ @ (g ⊙ f′)", "g ⊙ f′, summed over examples"),
        r"f(x W + b)", (r"(g \odot f')\, W^\top", r"x^\top (g \odot f')",
                        r"\textstyle\sum_n (g \odot f')_n"),
        vjp=dense_vjp)

def _examples(shape: tuple[int, ...]) -> tuple[int, int]:
    """(units K, examples N) of an input of this shape: the last axis holds the units."""
    units = shape[-1] if shape else 1
    return units, (int(np.prod(shape[:-1])) if len(shape) > 1 else 1)


def _over_examples(text: str, latex: str, examples: int, reduction: str) -> tuple[str, str]:
    """A per-example loss written with its reduction over N examples (one example: as is)."""
    if examples == 1 or reduction == "none":
        return text + (" per example" if examples > 1 else ""), latex
    if reduction == "sum":
        return f"Σₙ [{text}]", rf"\sum_n \left[{latex}\right]"
    return f"(1/{examples}) Σₙ [{text}]", rf"\frac{{1}}{{{examples}}} \sum_n \left[{latex}\right]"


def _divided(text: str, latex: str, by: int) -> tuple[str, str]:
    return (text, latex) if by == 1 else (f"{text}/{by}", rf"\frac{{{latex}}}{{{by}}}")


def _squared_error_written(shapes, kind: str = "sse", reduction: str = "mean"):
    """The squared error as this node computes it: its kind, K units and N examples in."""
    units, examples = _examples(shapes[0])
    per, per_latex = r"Σₖ (yₖ − tₖ)²", r"\sum_k (y_k - t_k)^2"
    if kind == "half_sse":
        per, per_latex = f"½ {per}", rf"\tfrac{{1}}{{2}} {per_latex}"
    elif kind == "mse" and units > 1:
        per, per_latex = f"(1/{units}) {per}", rf"\frac{{1}}{{{units}}} {per_latex}"
    formula, latex = _over_examples(per, per_latex, examples, reduction)
    by = (units if kind == "mse" else 1) * (examples if reduction == "mean" else 1)
    dy, dy_latex = ("y − t", "y - t") if kind == "half_sse" else ("2(y − t)", "2(y - t)")
    dy, dy_latex = _divided(dy, dy_latex, by)
    dt, dt_latex = (f"−({dy})", f"-({dy_latex})") if kind == "half_sse" and by == 1 else (
        f"−{dy}", f"-{dy_latex}")
    return formula, (dy, dt), latex, (dy_latex, dt_latex)


_define("squared_error", squared_error,
        (squared_error_grad_y, squared_error_grad_t),
        "Σₖ (yₖ − tₖ)² per example (½ of it, or its mean over k), reduced over examples",
        ("2(y − t)", "−2(y − t)"),
        r"\sum_k (y_k - t_k)^2", ("2(y - t)", "-2(y - t)"),
        vjp=squared_error_vjp, written=_squared_error_written)

def _nll_written(shapes, reduction: str = "mean"):
    _, examples = _examples(shapes[0])
    formula, latex = _over_examples("−Σₖ tₖ ℓₖ", r"-\sum_k t_k \ell_k", examples, reduction)
    by = examples if reduction == "mean" else 1
    (dl, dl_latex), (dt, dt_latex) = _divided("−t", "-t", by), _divided("−ℓ", r"-\ell", by)
    return f"{formula} (ℓ: log-probabilities)", (dl, dt), latex, (dl_latex, dt_latex)


_define("nll", nll,
        (nll_grad_log_probs, nll_grad_t),
        "−Σₖ tₖ ℓₖ per example (ℓ: log-probabilities), reduced over examples",
        ("−t", "−ℓ"),
        r"-\sum_k t_k \ell_k", ("-t", r"-\ell"),
        vjp=nll_vjp, written=_nll_written)

_define("softmax_bce", softmax_bce,
        (softmax_bce_grad_z, softmax_bce_grad_t),
        "meanₖ −[tₖ ln pₖ + (1 − tₖ) ln(1 − pₖ)] per example, p = softmax(z), from z",
        ("(K p − t − Σₖ≠ⱼ (1 − tₖ) pⱼ/(1 − pₖ))/K", "(ln(1 − p) − ln p)/K"),
        r"-\tfrac{1}{K}\sum_k t_k \ln p_k + (1 - t_k) \ln(1 - p_k)",
        (r"\tfrac{1}{K}\bigl(K p_j - t_j - \sum_{k \ne j} \frac{(1 - t_k)\,p_j}{1 - p_k}\bigr)",
         r"\tfrac{1}{K}\bigl(\ln(1 - p) - \ln p\bigr)"))

# fmt: on
