"""The convolution primitive, and the window geometry the pooling primitives share
(:mod:`chainrule.autodiff.ops_pool`). Its entry joins :data:`chainrule.autodiff.ops.PRIMITIVES`.

Semantics and layouts are PyTorch's, and tests/test_ops_against_torch.py holds them to it.
Inputs are (N, C, *spatial), one or two spatial axes (NCL, NCHW): ``conv`` is
``torch.nn.functional.conv1d``/``conv2d`` without the bias (a layer adds it): a
cross-correlation, ``out[n, o, p] = Σ_c Σ_k W[o, c, k] · x_pad[n, g·C/G + c, s·p + d·k]``,
with ``stride`` s, zero ``padding``, ``dilation`` d and ``groups`` G. W is
(C_out, C_in / G, *kernel).

Vectorised: the padded input's strided view at each kernel offset (9 for 3 × 3) fills the
im2col matrix, then one matrix product per group; the input's gradient is added back view by
view. The loops run over a kernel's offsets, never over pixels.
"""

from __future__ import annotations

from itertools import product
from typing import Any

import numpy as np

from chainrule.errors import ShapeError
from chainrule.autodiff import buffers
from chainrule.autodiff.op_table import _define, one_input

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


def output_sizes(sizes, kernel_size, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                 op: str = "conv2d") -> tuple[int, ...]:
    """The spatial sizes a convolution gives for an input of spatial ``sizes``: what a spec's
    layer shapes and a module's ``out_shape`` read, the same checks ``conv`` makes."""
    d = len(sizes)
    kernel = _tuple(kernel_size, d, "kernel_size", op, 1)
    return _out_sizes(sizes, kernel, _tuple(stride, d, "stride", op, 1),
                      _tuple(padding, d, "padding", op, 0),
                      _tuple(dilation, d, "dilation", op, 1), op)


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


# --- the table ------------------------------------------------------------------------------
# fmt: off

_define("conv", conv,
        (one_input(_conv_vjp, 0), one_input(_conv_vjp, 1)),
        "out[n,o,p] = Σ_c Σ_k W[o,c,k]·x[n,c,s·p + d·k − pad]",
        ("∂E/∂x = the full convolution of g with the flipped kernel (transposed convolution)",
         "∂E/∂W[o,c,k] = Σ_n Σ_p g[n,o,p]·x[n,c,s·p + d·k − pad] (x correlated with g)"),
        r"y_{n,o,p} = \sum_{c} \sum_{k} W_{o,c,k}\, x_{n,c,sp + dk}",
        (r"\frac{\partial E}{\partial x} = g \ast_{\mathrm{full}} \mathrm{flip}(W)",
         r"\frac{\partial E}{\partial W_{o,c,k}} = \sum_{n,p} g_{n,o,p}\, x_{n,c,sp + dk}"),
        _conv_vjp)

# fmt: on
