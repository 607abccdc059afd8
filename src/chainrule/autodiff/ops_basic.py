"""The arithmetic, activation and basic array primitives of the table.

Each is one :func:`chainrule.autodiff.op_table._define` entry (the conventions are in
:mod:`chainrule.autodiff.ops`, which assembles the whole table): add, sub, mul, div, neg, pow, exp,
log, tanh, sigmoid, softplus, relu, leaky_relu, maximum, softmax, log_softmax, matmul, sum,
reshape, transpose, getitem.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from chainrule.autodiff import buffers
from chainrule.tables.activations import LEAKY_RELU_SLOPE
from chainrule.autodiff.op_table import Array, _define, axes_of

# --- helpers shared by several rules -------------------------------------------------------


def stable_sigmoid(x: Array) -> Array:
    """σ(x) = 1/(1 + e^−x), the textbook formula bit for bit, for every x.

    Where e^−x overflows (x < −709.78 in float64, −88.72 in float32) it is ∞ and σ is
    1/∞ = 0, the correctly rounded value; only the overflow's warning is silenced. (The
    two-branch form e^x/(1 + e^x) for x < 0 costs three more passes over the array.)
    """
    e = np.negative(x)
    if type(e) is not np.ndarray:  # a NumPy scalar from a 0-d input: nothing to write into
        e = np.asarray(e)
    with np.errstate(over="ignore"):
        np.exp(e, out=e)
    e += 1.0
    return np.divide(1.0, e, out=e)


def _sum(x: Array, axis=None, keepdims: bool = False) -> Array:
    # axes checked (one line for a bad one) and normalised: a 0-d x has the axis 0, as in
    # PyTorch; None, the common case, goes straight through
    return np.add.reduce(x, axis if axis is None else axes_of(axis, x.ndim, "sum"),
                         keepdims=keepdims)


def _sum_grad(g: Array, out: Array, x: Array, axis=None, keepdims: bool = False) -> Array:
    g = np.asarray(g)
    if axis is not None and not keepdims and x.ndim:  # a full reduction's scalar as it is
        kept = list(x.shape)
        for a in axes_of(axis, x.ndim, "sum"):  # a 0-d x: nothing was reduced
            kept[a] = 1
        g = g.reshape(kept)
    # Spread into a new array rather than np.broadcast_to's read-only view: several times
    # cheaper on small arrays, and the engine may then hand it on without a copy.
    grad = np.empty(x.shape, dtype=g.dtype)
    grad[...] = g
    return grad


def _is_basic_index(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(
        isinstance(p, (int, np.integer, slice)) or p is None or p is Ellipsis for p in parts
    )


def _getitem_grad(g: Array, out: Array, x: Array, index=None) -> Array:
    grad = np.zeros_like(x)
    if _is_basic_index(index):
        grad[index] = g  # a view: every element is selected at most once
    else:
        np.add.at(grad, index, g)  # fancy indices may repeat; each use adds its share
    return grad


def matmul(x: Array, y: Array) -> Array:
    """x @ y; a big product of two matrices goes into a reused array
    (chainrule.autodiff.buffers)."""
    if x.ndim == 2 and y.ndim == 2 and x.dtype == y.dtype:
        shape = (x.shape[0], y.shape[1])
        if shape[0] * shape[1] >= buffers.MIN_SIZE:
            return np.matmul(x, y, out=buffers.empty(shape, x.dtype))
    return np.matmul(x, y)


def _matmul_grad_x(g: Array, out: Array, x: Array, y: Array) -> Array:
    if y.ndim == 2 and x.ndim >= 2:  # (..., k, n) @ (n, m): g @ yᵀ
        return matmul(g, y.T)
    if x.ndim == 1 and y.ndim == 1:  # dot product: out is a scalar
        return g * y
    if y.ndim == 1:  # (..., k, n) @ (n,) -> (..., k)
        return np.multiply.outer(g, y)
    if x.ndim == 1:  # (n,) @ (..., n, m) -> (..., m)
        return np.matmul(y, g[..., None])[..., 0]
    return matmul(g, np.swapaxes(y, -1, -2))


def _matmul_grad_y(g: Array, out: Array, x: Array, y: Array) -> Array:
    if x.ndim == 2 and y.ndim == 2:
        return matmul(x.T, g)
    if x.ndim == 1 and y.ndim == 1:
        return g * x
    if x.ndim == 1:  # (n,) @ (..., n, m): each column of y meets x
        return np.multiply.outer(x, g) if g.ndim == 1 else x[:, None] * g[..., None, :]
    if y.ndim == 1:  # (..., k, n) @ (n,)
        return np.matmul(np.swapaxes(x, -1, -2), g[..., None])[..., 0]
    return matmul(np.swapaxes(x, -1, -2), g)


def _pow_grad_exponent(g: Array, out: Array, x: Array, y: Array) -> Array:
    # d(x^y)/dy = x^y ln x. At x = 0 with y ≥ 0 the limit is 0 (PyTorch's choice too).
    at_zero = (x == 0) & (y >= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        local = out * np.log(np.where(at_zero, 1.0, x))
    return g * np.where(at_zero, 0.0, local)


def _transpose_grad(g: Array, out: Array, x: Array, axes=None) -> Array:
    if axes is None:
        return np.transpose(g)
    # the inverse permutation, of the axes made non-negative: argsort of (-1, 0) would be
    # (0, 1), the identity, and the gradient of a (2, 3) input would come back (3, 2)
    return np.transpose(g, np.argsort([a % x.ndim for a in axes]))


def _maximum_share(x: Array, y: Array) -> Array:
    # 1 where x wins, 0 where it loses, 1/2 on a tie: the subgradient PyTorch uses.
    return np.where(x > y, 1.0, np.where(x == y, 0.5, 0.0)).astype(np.result_type(x, y))


def _relu(x: Array) -> Array:
    return np.maximum(x, 0.0, out=buffers.output(x.shape, x.dtype))


def _relu_grad(g: Array, out: Array, x: Array) -> Array:
    # [x > 0] as 1.0 / 0.0 in g's dtype, then times g in place: g · [x > 0], as the bool
    # mask would give, with one array and a multiplication of like types.
    grad = np.greater(x, 0, out=buffers.empty(np.shape(g), np.result_type(g)))
    return np.multiply(grad, g, out=grad)


def _as_vector(rule: Callable[..., Array], op: str, axis: int, *arrays: Array) -> Array:
    """``rule`` on 0-d arrays, as one-element vectors: PyTorch takes a 0-d softmax (1, with
    gradient 0), and NumPy has no axis -1 of a 0-d array to reduce."""
    axes_of(axis, 0, op)  # 0 and -1 name a 0-d array's one axis; anything else is an error
    return rule(*(np.reshape(a, (1,)) for a in arrays), axis=-1).reshape(())


def _softmax(x: Array, axis: int = -1) -> Array:
    if not x.ndim:
        return _as_vector(_softmax, "softmax", axis, x)
    e = np.subtract(x, np.maximum.reduce(x, axis, keepdims=True))
    np.exp(e, out=e)  # exp of values ≤ 0: no overflow
    return np.divide(e, np.add.reduce(e, axis, keepdims=True), out=e)


def _softmax_grad(g: Array, out: Array, x: Array, axis: int = -1) -> Array:
    if not x.ndim:
        return _as_vector(_softmax_grad, "softmax", axis, g, out, x)
    return out * (g - (g * out).sum(axis=axis, keepdims=True))


def _log_softmax(x: Array, axis: int = -1) -> Array:
    if not x.ndim:
        return _as_vector(_log_softmax, "log_softmax", axis, x)
    shifted = np.subtract(x, np.maximum.reduce(x, axis, keepdims=True))
    total = np.add.reduce(np.exp(shifted), axis, keepdims=True)
    return np.subtract(shifted, np.log(total, out=total), out=shifted)


def _log_softmax_grad(g: Array, out: Array, x: Array, axis: int = -1) -> Array:
    if not x.ndim:
        return _as_vector(_log_softmax_grad, "log_softmax", axis, g, out, x)
    grad = np.exp(out)  # softmax(x), read off the output
    np.multiply(grad, np.add.reduce(g, axis, keepdims=True), out=grad)
    return np.subtract(g, grad, out=grad)


def _power(x: Array, y: Array) -> Array:
    # 0 to a negative power is +∞, as in PyTorch, not a division warning
    with np.errstate(divide="ignore"):
        return np.power(x, y)


def _pow_grad_base(g: Array, out: Array, x: Array, y: Array) -> Array:
    # d(x^y)/dx = y·x^(y−1), and 0 wherever y = 0 (x^0 is the constant 1), also at x = 0
    # where the formula is 0·∞ = NaN: PyTorch's choice. At x = 0 with y < 1 the derivative
    # is ±∞, as in PyTorch, without a division warning.
    with np.errstate(divide="ignore", invalid="ignore"):
        local = y * np.power(x, y - 1)
    if np.any(y == 0):
        local = np.where(y == 0, 0.0, local).astype(local.dtype, copy=False)
    return g * local


# --- the table ------------------------------------------------------------------------------
# fmt: off

_define("add", np.add,
        (lambda g, out, x, y: g, lambda g, out, x, y: g),
        "x + y", ("1", "1"), "x + y", ("1", "1"))

_define("sub", np.subtract,
        (lambda g, out, x, y: g, lambda g, out, x, y: -g),
        "x − y", ("1", "−1"), "x - y", ("1", "-1"))

_define("mul", np.multiply,
        (lambda g, out, x, y: g * y, lambda g, out, x, y: g * x),
        "x · y", ("y", "x"), r"x \cdot y", ("y", "x"))

_define("div", np.divide,
        (lambda g, out, x, y: g / y, lambda g, out, x, y: -g * out / y),
        "x / y", ("1/y", "−x/y²"), r"\frac{x}{y}", (r"\frac{1}{y}", r"-\frac{x}{y^2}"))

_define("neg", np.negative,
        (lambda g, out, x: -g,),
        "−x", ("−1",), "-x", ("-1",))

_define("pow", _power,
        (_pow_grad_base, _pow_grad_exponent),
        "x^y", ("y·x^(y−1)", "x^y·ln x"), "x^{y}", (r"y\,x^{y-1}", r"x^{y}\ln x"))

_define("exp", np.exp,
        (lambda g, out, x: g * out,),
        "exp(x)", ("exp(x)",), "e^{x}", ("e^{x}",))

_define("log", np.log,
        (lambda g, out, x: g / x,),
        "ln(x)", ("1/x",), r"\ln x", (r"\frac{1}{x}",))

_define("tanh", np.tanh,
        (lambda g, out, x: g * (1.0 - out * out),),
        "tanh(x)", ("1 − tanh²(x)",), r"\tanh x", (r"1 - \tanh^2 x",))

_define("sigmoid", stable_sigmoid,
        (lambda g, out, x: g * out * (1.0 - out),),
        "σ(x) = 1/(1 + e^−x)", ("σ(x)(1 − σ(x))",),
        r"\sigma(x) = \frac{1}{1 + e^{-x}}", (r"\sigma(x)\,(1 - \sigma(x))",))

_define("softplus", lambda x: np.logaddexp(0.0, x),
        (lambda g, out, x: g * stable_sigmoid(x),),
        "ln(1 + e^x)", ("σ(x)",), r"\ln(1 + e^{x})", (r"\sigma(x)",))

_define("relu", _relu,
        (_relu_grad,),  # relu'(0) = 0, as in PyTorch
        "max(x, 0)", ("1 if x > 0 else 0",), r"\max(x, 0)", (r"[x > 0]",))

_define("leaky_relu", lambda x, slope=LEAKY_RELU_SLOPE: np.where(x > 0, x, slope * x),
        (lambda g, out, x, slope=LEAKY_RELU_SLOPE: np.where(x > 0, g, slope * g),),
        "x if x > 0 else α·x", ("1 if x > 0 else α",),
        r"\begin{cases} x & x > 0 \\ \alpha x & x \le 0 \end{cases}",
        (r"\begin{cases} 1 & x > 0 \\ \alpha & x \le 0 \end{cases}",),
        written=lambda shapes, slope=LEAKY_RELU_SLOPE: (  # α written as its value
            f"x if x > 0 else {slope:g}·x", (f"1 if x > 0 else {slope:g}",),
            rf"\begin{{cases}} x & x > 0 \\ {slope:g} x & x \le 0 \end{{cases}}",
            (rf"\begin{{cases}} 1 & x > 0 \\ {slope:g} & x \le 0 \end{{cases}}",)))

_define("maximum", np.maximum,
        (lambda g, out, x, y: g * _maximum_share(x, y),
         lambda g, out, x, y: g * _maximum_share(y, x)),
        "max(x, y)", ("1 if x > y, ½ if x = y, else 0", "1 if y > x, ½ if x = y, else 0"),
        r"\max(x, y)", (r"[x > y] + \tfrac12 [x = y]", r"[y > x] + \tfrac12 [x = y]"))

_define("softmax", _softmax,
        (_softmax_grad,),
        "softmax(x)ᵢ = e^xᵢ / Σⱼ e^xⱼ", ("sᵢ(δᵢⱼ − sⱼ)",),
        r"\mathrm{softmax}(x)_i = \frac{e^{x_i}}{\sum_j e^{x_j}}", (r"s_i(\delta_{ij} - s_j)",))

_define("log_softmax", _log_softmax,
        (_log_softmax_grad,),
        "xᵢ − ln Σⱼ e^xⱼ", ("δᵢⱼ − softmax(x)ⱼ",),
        r"x_i - \ln \sum_j e^{x_j}", (r"\delta_{ij} - \mathrm{softmax}(x)_j",))

_define("matmul", matmul,
        (_matmul_grad_x, _matmul_grad_y),
        "x @ y", ("g @ yᵀ", "xᵀ @ g"), "x y", (r"g\, y^\top", r"x^\top g"))

_define("sum", _sum,
        (_sum_grad,),
        "Σ x", ("1",), r"\sum x", ("1",))

_define("reshape", lambda x, shape=(): np.reshape(x, shape),
        (lambda g, out, x, shape=(): np.reshape(g, x.shape),),
        "reshape(x)", ("1",), r"\mathrm{reshape}(x)", ("1",))

_define("transpose", lambda x, axes=None: np.transpose(x, axes),
        (_transpose_grad,),
        "xᵀ", ("1",), r"x^\top", ("1",))

_define("getitem", lambda x, index=None: x[index],
        (_getitem_grad,),
        "x[i]", ("1 at i, 0 elsewhere",), "x_{i}", (r"[\,\cdot = i\,]",))

# fmt: on
