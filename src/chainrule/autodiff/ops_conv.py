"""The primitives of convolutional networks: convolution, max and average pooling, batch
normalisation and dropout. Their entries join :data:`chainrule.autodiff.ops.PRIMITIVES`.

Semantics and layouts are PyTorch's, and tests/test_ops_against_torch.py holds them to it:

* Inputs are (N, C, *spatial), one or two spatial axes (NCL, NCHW): ``conv`` is
  ``torch.nn.functional.conv1d``/``conv2d`` without the bias (a layer adds it): a
  cross-correlation, ``out[n, o, p] = Σ_c Σ_k W[o, c, k] · x_pad[n, g·C/G + c, s·p + d·k]``,
  with ``stride`` s, zero ``padding``, ``dilation`` d and ``groups`` G. W is
  (C_out, C_in / G, *kernel).
* ``max_pool`` is ``max_pool1d``/``max_pool2d`` (padding with −∞, stride = kernel by
  default). The gradient goes to the one input each window's maximum was taken from; where a
  window has tied maxima, to the first in the window's row-major order, as PyTorch's CPU
  kernel does (it keeps a new value only if it is strictly greater). Windows that overlap
  add their gradients.
* ``avg_pool`` is ``avg_pool1d``/``avg_pool2d`` with ``count_include_pad=True`` (PyTorch's
  default): each window's mean, zero padding counted.
* ``batch_norm`` is ``batch_norm(x, None, None, weight, bias, training=True, eps=eps)``:
  each channel normalised over every other axis with the batch's mean and its *biased*
  variance, then scaled and shifted. Its gradient is the three-term formula
  ∂E/∂x = γ/(m·σ) · (m·g − Σg − x̂·Σ(g·x̂)). The running statistics (updated with the
  unbiased variance) are the layer's business, not the primitive's.
* ``dropout(x, mask)`` is inverted dropout with the mask given as a second, constant input:
  ``x · mask / (1 − p)``, so the mask is drawn once (from an explicit seed), is a node of the
  graph an explanation can show, and the same mask serves the backward pass.

Everything is vectorised: the padded input's strided view at each kernel offset (9 for
3 × 3) fills the im2col matrix, then one matrix product per group; pooling takes elementwise
maxima or sums of those views; a gradient is added back view by view. The loops run over a
kernel's offsets, never over pixels.
"""

from __future__ import annotations

from itertools import product
from typing import Any, Sequence

import numpy as np

from chainrule.errors import ShapeError
from chainrule.autodiff import buffers
from chainrule.autodiff.op_table import _define

Array = np.ndarray


# --- geometry --------------------------------------------------------------------------------


def _tuple(value: Any, d: int, name: str, op: str, low: int) -> tuple[int, ...]:
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * d
    if len(values) != d or any(isinstance(v, bool) or not isinstance(v, (int, np.integer))
                               or v < low for v in values):
        raise ShapeError(f"{op}: {name} must be an integer ≥ {low} or {d} of them, got "
                         f"{value!r}")
    return tuple(int(v) for v in values)


def _spatial(x: Array, op: str) -> int:
    if x.ndim not in (3, 4):
        raise ShapeError(f"{op}: expected an input (N, C, L) or (N, C, H, W), got shape "
                         f"{x.shape}")
    return x.ndim - 2


def _out_sizes(sizes, kernel, stride, padding, dilation, op: str) -> tuple[int, ...]:
    out = []
    for n, k, s, p, d in zip(sizes, kernel, stride, padding, dilation):
        extent = d * (k - 1) + 1
        if n + 2 * p < extent:
            spans = f"spans {extent} (dilated)" if d > 1 else f"is {extent}"
            raise ShapeError(f"{op}: the kernel {spans} but the padded input is {n + 2 * p} "
                             f"(size {n}, padding {p})")
        out.append((n + 2 * p - extent) // s + 1)
    return tuple(out)


def _padded(x: Array, padding, fill: float = 0.0) -> Array:
    """x with ``padding`` elements of ``fill`` on both sides of each spatial axis (np.pad's
    generality costs ~100 µs a call here; this is a fill and a copy)."""
    if not any(padding):
        return x
    out = _zeros_padded(x.shape, padding, x.dtype)
    if fill:
        out.fill(fill)
    _unpadded(out, padding, x.shape)[...] = x
    return out


def _zeros_padded(shape, padding, dtype) -> Array:
    out = buffers.empty(shape[:2] + tuple(n + 2 * p for n, p in zip(shape[2:], padding)), dtype)
    out.fill(0)
    return out


def _unpadded(padded: Array, padding, shape) -> Array:
    return padded[(slice(None), slice(None)) + tuple(slice(p, p + n)
                                                     for p, n in zip(padding, shape[2:]))]


def _offsets(xp: Array, kernel, stride, dilation, out):
    """(offset, the padded input's elements at that kernel offset of every window): one
    strided view (N, C, *out) per offset, row-major over the kernel. Reducing over these, not
    over a window axis of a few elements, is what makes pooling fast (NumPy's reductions over
    a short last axis are ~20 times slower than elementwise maximum of views)."""
    for offset in product(*(range(k) for k in kernel)):
        yield offset, xp[(slice(None), slice(None)) + tuple(
            slice(i * dl, i * dl + s * (o - 1) + 1, s)
            for i, dl, s, o in zip(offset, dilation, stride, out))]


class _Conv:
    """A convolution's checked geometry: the sizes, and the (G, rows, cols) matrices."""

    def __init__(self, x: Array, w: Array, stride, padding, dilation, groups) -> None:
        op = {3: "conv1d", 4: "conv2d"}.get(x.ndim, "conv")
        d = _spatial(x, op)
        if w.ndim != x.ndim:
            raise ShapeError(f"{op}: expected a weight (C_out, C_in/groups{', k' * d}), got "
                             f"shape {w.shape} for an input of shape {x.shape}")
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
            raise ShapeError(f"{op}: groups must be an integer ≥ 1, got {groups!r}")
        self.groups = g = int(groups)
        c_in, c_out = x.shape[1], w.shape[0]
        if c_in % g or c_out % g or w.shape[1] * g != c_in:
            raise ShapeError(f"{op}: the input has {c_in} channels and the weight "
                             f"{tuple(w.shape)} expects {w.shape[1]} × {g} group(s) "
                             f"(C_out {c_out} must divide by the groups too)")
        self.kernel = tuple(w.shape[2:])
        self.stride = _tuple(stride, d, "stride", op, 1)
        self.padding = _tuple(padding, d, "padding", op, 0)
        self.dilation = _tuple(dilation, d, "dilation", op, 1)
        self.out = _out_sizes(x.shape[2:], self.kernel, self.stride, self.padding,
                              self.dilation, op)
        self.x_shape, self.w_shape = x.shape, w.shape
        self.n, self.d = x.shape[0], d

    def columns(self, x: Array) -> Array:
        """im2col: (G, C/G·K, N·P), P output positions, K kernel elements; filled one kernel
        offset at a time from a strided view (copying the whole window view at once is
        several times slower: its innermost axes are a few elements long)."""
        g, n, k = self.groups, self.n, int(np.prod(self.kernel))
        cols = buffers.empty((g, x.shape[1] // g, k, n) + self.out, x.dtype)
        views = _offsets(_padded(x, self.padding), self.kernel, self.stride, self.dilation,
                         self.out)
        for j, (_, view) in enumerate(views):  # view: (N, C, *out)
            cols[:, :, j] = np.moveaxis(view.reshape((n, g, -1) + self.out), 0, 2)
        return cols.reshape(g, -1, n * int(np.prod(self.out)))

    def kernels(self, w: Array) -> Array:
        """(G, C_out/G, C/G·K)."""
        return w.reshape(self.groups, w.shape[0] // self.groups, -1)

    def to_output(self, rows: Array) -> Array:
        """(G, C_out/G, N·P) → (N, C_out, *out)."""
        out = buffers.empty((self.n, self.w_shape[0]) + self.out, rows.dtype)
        out.reshape((self.n, self.groups, -1) + self.out)[...] = np.moveaxis(
            rows.reshape((self.groups, -1, self.n) + self.out), 2, 0)
        return out

    def from_output(self, grad: Array) -> Array:
        """(N, C_out, *out) → (G, C_out/G, N·P), the inverse of :meth:`to_output`."""
        grad = grad.reshape((self.n, self.groups, -1) + self.out)
        return np.moveaxis(grad, 0, 2).reshape(self.groups, -1, self.n * int(np.prod(self.out)))


def conv(x: Array, w: Array, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
         groups: int = 1) -> Array:
    geometry = _Conv(x, w, stride, padding, dilation, groups)
    kernels, columns = geometry.kernels(w), geometry.columns(x)
    rows = np.matmul(kernels, columns, out=buffers.output(
        kernels.shape[:2] + columns.shape[2:], np.result_type(kernels, columns)))
    return geometry.to_output(rows)


def _conv_vjp(g: Array, out: Array, wanted, x: Array, w: Array, stride: Any = 1,
              padding: Any = 0, dilation: Any = 1, groups: int = 1):
    geometry = _Conv(x, w, stride, padding, dilation, groups)
    rows = geometry.from_output(g)  # (G, C_out/G, N·P)
    dx = dw = None
    if wanted[0]:  # the full convolution of g with the flipped kernel, as a scatter
        kernels = geometry.kernels(w).transpose(0, 2, 1)
        cols = np.matmul(kernels, rows, out=buffers.output(  # (G, C/G·K, N·P)
            kernels.shape[:2] + rows.shape[2:], np.result_type(kernels, rows)))
        n, grp, k = geometry.n, geometry.groups, int(np.prod(geometry.kernel))
        cols = cols.reshape((grp, -1, k, n) + geometry.out)
        padded = _zeros_padded(x.shape, geometry.padding, g.dtype)
        views = _offsets(padded, geometry.kernel, geometry.stride, geometry.dilation,
                         geometry.out)
        for j, (_, view) in enumerate(views):  # a view of padded: overlapping windows add
            view += np.moveaxis(cols[:, :, j], 2, 0).reshape(view.shape)
        dx = _unpadded(padded, geometry.padding, x.shape)
    if wanted[1]:  # the correlation of the input with g
        dw = np.matmul(rows, geometry.columns(x).transpose(0, 2, 1)).reshape(w.shape)
    return dx, dw


def _conv_input(g, out, x, w, **params):
    return _conv_vjp(g, out, (True, False), x, w, **params)[0]


def _conv_weight(g, out, x, w, **params):
    return _conv_vjp(g, out, (False, True), x, w, **params)[1]


# --- pooling ----------------------------------------------------------------------------------


def _pool_geometry(x: Array, kernel_size, stride, padding, op: str):
    d = _spatial(x, op)
    name = f"{op}{d}d"
    kernel = _tuple(kernel_size, d, "kernel_size", name, 1)
    stride = kernel if stride is None or stride == () else _tuple(stride, d, "stride", name, 1)
    padding = _tuple(padding, d, "padding", name, 0)
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ShapeError(f"{name}: padding {padding} must be at most half the kernel "
                         f"{kernel} (PyTorch's rule)")
    out = _out_sizes(x.shape[2:], kernel, stride, padding, (1,) * d, name)
    return kernel, stride, padding, out


def _valid(offset, stride, padding, sizes, out) -> Array | None:
    """Which windows hold a real input (not padding) at this kernel offset; None: all do."""
    if not any(padding):
        return None
    mask = np.ones((1, 1) + tuple(out), dtype=bool)
    for a, (i, s, p, n, o) in enumerate(zip(offset, stride, padding, sizes, out)):
        position = np.arange(o) * s + i
        shape = [1] * (2 + len(out))
        shape[2 + a] = o
        mask = mask & ((position >= p) & (position < p + n)).reshape(shape)
    return mask


def _first_maxima(x: Array, kernel, stride, padding, out) -> tuple[Array, Array]:
    """(each window's maximum, the number of the kernel offset it was taken from), as
    PyTorch's CPU kernel takes it: over the window's real inputs only (never its padding),
    starting from the first; a later one replaces it if strictly greater or NaN (so the
    first of tied maxima wins, and the last NaN)."""
    best = np.full(x.shape[:2] + tuple(out), -np.inf, dtype=x.dtype)
    which = np.full(best.shape, -1, dtype=np.intp)
    dilation = (1,) * len(kernel)
    for k, (offset, view) in enumerate(_offsets(_padded(x, padding, -np.inf), kernel, stride,
                                                dilation, out)):
        take = (view > best) | np.isnan(view) | (which < 0)
        valid = _valid(offset, stride, padding, x.shape[2:], out)
        if valid is not None:
            take &= valid
        np.copyto(best, view, where=take)
        which = np.where(take, k, which)
    return best, which


def max_pool(x: Array, kernel_size: Any = 2, stride: Any = None, padding: Any = 0) -> Array:
    kernel, stride, padding, out = _pool_geometry(x, kernel_size, stride, padding, "max_pool")
    return _first_maxima(x, kernel, stride, padding, out)[0]


def _max_pool_grad(g: Array, out: Array, x: Array, kernel_size: Any = 2, stride: Any = None,
                   padding: Any = 0) -> Array:
    kernel, stride, padding, sizes = _pool_geometry(x, kernel_size, stride, padding,
                                                    "max_pool")
    _, which = _first_maxima(x, kernel, stride, padding, sizes)
    padded = _zeros_padded(x.shape, padding, g.dtype)
    zero = np.zeros((), dtype=g.dtype)
    for k, (_, view) in enumerate(_offsets(padded, kernel, stride, (1,) * len(kernel), sizes)):
        view += np.where(which == k, g, zero)  # (a view of padded: windows that overlap add)
    return _unpadded(padded, padding, x.shape)


def avg_pool(x: Array, kernel_size: Any = 2, stride: Any = None, padding: Any = 0) -> Array:
    kernel, stride, padding, out = _pool_geometry(x, kernel_size, stride, padding, "avg_pool")
    total = None
    for _, view in _offsets(_padded(x, padding), kernel, stride, (1,) * len(kernel), out):
        total = view.copy() if total is None else np.add(total, view, out=total)
    return total / float(np.prod(kernel))


def _avg_pool_grad(g: Array, out: Array, x: Array, kernel_size: Any = 2, stride: Any = None,
                   padding: Any = 0) -> Array:
    kernel, stride, padding, sizes = _pool_geometry(x, kernel_size, stride, padding,
                                                    "avg_pool")
    share = g / float(np.prod(kernel))
    padded = _zeros_padded(x.shape, padding, g.dtype)
    for _, view in _offsets(padded, kernel, stride, (1,) * len(kernel), sizes):
        view += share  # (a view of padded: windows that overlap add)
    return _unpadded(padded, padding, x.shape)


# --- batch normalisation and dropout ------------------------------------------------------------


def _channel_view(x: Array, op: str = "batch_norm") -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(the axes normalised over: every axis but the channels', the shape a channel's
    parameter broadcasts in)."""
    if x.ndim < 2:
        raise ShapeError(f"{op}: expected an input (N, C, ...), got shape {x.shape}")
    axes = (0,) + tuple(range(2, x.ndim))
    if int(np.prod([x.shape[a] for a in axes])) < 2:
        raise ShapeError(f"{op}: expected more than one value per channel in training "
                         f"mode, got input of shape {x.shape}")
    return axes, (1, x.shape[1]) + (1,) * (x.ndim - 2)


def _normalised(x: Array, eps: float) -> tuple[Array, Array]:
    """(x̂, σ): each channel's (x − mean) / √(biased variance + eps), and that σ."""
    axes, _ = _channel_view(x)
    mean = x.mean(axis=axes, keepdims=True)
    sigma = np.sqrt(((x - mean) ** 2).mean(axis=axes, keepdims=True) + eps)
    return (x - mean) / sigma, sigma


def batch_norm(x: Array, weight: Array, bias: Array, eps: float = 1e-5) -> Array:
    _, shape = _channel_view(x)
    for name, p in (("weight", weight), ("bias", bias)):
        if p.shape != (x.shape[1],):
            raise ShapeError(f"batch_norm: expected {name} of shape ({x.shape[1]},) for "
                             f"{x.shape[1]} channels, got {p.shape}")
    xhat, _ = _normalised(x, eps)
    return xhat * weight.reshape(shape) + bias.reshape(shape)


def _batch_norm_vjp(g: Array, out: Array, wanted, x: Array, weight: Array, bias: Array,
                    eps: float = 1e-5):
    axes, shape = _channel_view(x)
    xhat, sigma = _normalised(x, eps)
    dx = None
    if wanted[0]:  # γ/(m·σ) · (m·g − Σg − x̂·Σ(g·x̂)), the three terms
        m = float(np.prod([x.shape[a] for a in axes]))
        sum_g = g.sum(axis=axes, keepdims=True)
        sum_gx = (g * xhat).sum(axis=axes, keepdims=True)
        dx = weight.reshape(shape) / (m * sigma) * (m * g - sum_g - xhat * sum_gx)
    dw = (g * xhat).sum(axis=axes) if wanted[1] else None
    db = g.sum(axis=axes) if wanted[2] else None
    return dx, dw, db


def _mask(x: Array, mask: Any, p: float) -> tuple[Array, float]:
    mask = np.asarray(mask)
    if mask.shape != x.shape:  # (never broadcast: a mask is one draw per element)
        raise ShapeError(f"dropout: expected a mask of the input's shape {x.shape}, got "
                         f"{mask.shape}")
    if not 0.0 <= p <= 1.0:
        raise ShapeError(f"dropout: p must be between 0 and 1, got {p}")
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)  # p = 1 drops everything, as PyTorch
    return mask.astype(x.dtype, copy=False), scale


def dropout(x: Array, mask: Array, p: float = 0.5) -> Array:
    keep, scale = _mask(x, mask, p)
    return x * keep * scale


def _dropout_grad(g: Array, out: Array, x: Array, mask: Array, p: float = 0.5) -> Array:
    keep, scale = _mask(x, mask, p)
    return g * keep * scale


def _dropout_mask_grad(g: Array, out: Array, x: Array, mask: Array, p: float = 0.5) -> Array:
    # (a drawn mask is a constant and never asks for it; the rule is the product's all the same)
    _, scale = _mask(x, mask, p)
    return g * x * scale


def _split(vjp, i):
    def rule(g, out, *inputs, **params):
        wanted = [False] * len(inputs)
        wanted[i] = True
        return vjp(g, out, tuple(wanted), *inputs, **params)[i]
    return rule


# --- the table ------------------------------------------------------------------------------
# fmt: off

_define("conv", conv,
        (_conv_input, _conv_weight),
        "out[n,o,p] = Σ_c Σ_k W[o,c,k]·x[n,c,s·p + d·k − pad]",
        ("∂E/∂x = the full convolution of g with the flipped kernel (transposed convolution)",
         "∂E/∂W[o,c,k] = Σ_n Σ_p g[n,o,p]·x[n,c,s·p + d·k − pad] (x correlated with g)"),
        r"y_{n,o,p} = \sum_{c} \sum_{k} W_{o,c,k}\, x_{n,c,sp + dk}",
        (r"\frac{\partial E}{\partial x} = g \ast_{\mathrm{full}} \mathrm{flip}(W)",
         r"\frac{\partial E}{\partial W_{o,c,k}} = \sum_{n,p} g_{n,o,p}\, x_{n,c,sp + dk}"),
        _conv_vjp)

_define("max_pool", max_pool,
        (_max_pool_grad,),
        "out[n,c,p] = max over the window of x at p",
        ("g sent to the window's maximum (the first of tied maxima), 0 elsewhere",),
        r"y_{n,c,p} = \max_{k} x_{n,c,sp + k}",
        (r"g \text{ at } \operatorname{argmax}_k x_{n,c,sp+k}",))

_define("avg_pool", avg_pool,
        (_avg_pool_grad,),
        "out[n,c,p] = mean over the window of x at p",
        ("g/K to each of the window's K inputs",),
        r"y_{n,c,p} = \frac{1}{K} \sum_{k} x_{n,c,sp + k}",
        (r"\frac{g}{K}",))

_define("batch_norm", batch_norm,
        (_split(_batch_norm_vjp, 0), _split(_batch_norm_vjp, 1), _split(_batch_norm_vjp, 2)),
        "γ·x̂ + β, x̂ = (x − μ)/√(σ² + ε) per channel (batch mean, biased variance)",
        ("γ/(m·σ)·(m·g − Σg − x̂·Σ(g·x̂))", "Σ g·x̂", "Σ g"),
        r"\gamma \hat x + \beta,\ \hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}",
        (r"\frac{\gamma}{m\sigma}\left(m g - \sum g - \hat x \sum g \hat x\right)",
         r"\sum g \hat x", r"\sum g"),
        _batch_norm_vjp)

_define("dropout", dropout,
        (_dropout_grad, _dropout_mask_grad),
        "x·mask/(1 − p)", ("mask/(1 − p)", "x/(1 − p) (the mask is drawn, a constant)"),
        r"\frac{x \odot m}{1 - p}", (r"\frac{m}{1 - p}", r"\frac{x}{1 - p}"))

# fmt: on


__all__: Sequence[str] = ("conv", "max_pool", "avg_pool", "batch_norm", "dropout")
