"""The convolution primitive, and the window geometry the pooling primitives share
(:mod:`chainrule.autodiff.ops_pool`). Its entry joins :data:`chainrule.autodiff.ops.PRIMITIVES`.

Semantics and layouts are PyTorch's, and tests/test_ops_against_torch.py holds them to it.
Inputs are (N, C, *spatial), one or two spatial axes (NCL, NCHW): ``conv`` is
``torch.nn.functional.conv1d``/``conv2d`` without the bias (a layer adds it): a
cross-correlation, ``out[n, o, p] = Σ_c Σ_k W[o, c, k] · x_pad[n, g·C/G + c, s·p + d·k]``,
with ``stride`` s, zero ``padding``, ``dilation`` d and ``groups`` G. W is
(C_out, C_in / G, *kernel).

Vectorised: the padded input's windows (one strided view) fill the im2col matrix in one copy,
then one matrix product per group; the input's gradient is the forward convolution of the
stride-dilated, padded upstream gradient with the flipped, channel-swapped kernel, and the
kernel's gradient one matrix product with the im2col matrix. No loop runs over pixels.
"""

from __future__ import annotations

from itertools import product
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

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
        """im2col: (G, C/G·K, N·P), P output positions, K kernel elements: the padded input's
        windows (a strided view: every window of the dilated kernel's extent, then every
        stride-th one and every dilation-th element of each), laid out by one copy."""
        g, n, d = self.groups, self.n, self.d
        extent = tuple(dl * (k - 1) + 1 for dl, k in zip(self.dilation, self.kernel))
        windows = sliding_window_view(_padded(x, self.padding), extent, axis=tuple(
            range(2, 2 + d)))  # (N, C, *all positions, *extent)
        windows = windows[(slice(None), slice(None))
                          + tuple(slice(None, None, s) for s in self.stride)
                          + tuple(slice(None, None, dl) for dl in self.dilation)]
        order = (1, *range(2 + d, 2 + 2 * d), 0, *range(2, 2 + d))  # (C, *kernel, N, *out)
        cols = buffers.empty((x.shape[1],) + self.kernel + (n,) + self.out, x.dtype)
        np.copyto(cols, windows.transpose(order))
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
    if wanted[0]:
        dx = _input_gradient(g, x, w, geometry)
    if wanted[1]:  # the correlation of the input with g
        dw = np.matmul(rows, geometry.columns(x).transpose(0, 2, 1)).reshape(w.shape)
    return dx, dw


def _input_gradient(g: Array, x: Array, w: Array, geometry: _Conv) -> Array:
    """∂E/∂x: the full convolution of g with the flipped kernel, computed as a forward
    convolution (its im2col and one matrix product): g spread out by the stride (s − 1 zeros
    between its elements) into a zero array of the input's size plus the kernel's reach
    d·(k − 1), starting reach − p in (the padding's rows fall off the edges), then
    cross-correlated, at the dilation, with the kernel rotated 180° and its channels swapped
    within each group. Its output has the input's size exactly; an input row no window
    reached (the stride's remainder) gets 0."""
    d, grp = geometry.d, geometry.groups
    reach = tuple(dl * (k - 1) for dl, k in zip(geometry.dilation, geometry.kernel))
    sizes = tuple(n + r for n, r in zip(x.shape[2:], reach))
    spread = buffers.empty(g.shape[:2] + sizes, g.dtype)
    spread.fill(0)
    target, source = [slice(None), slice(None)], [slice(None), slice(None)]
    for out, s, r, p, size in zip(g.shape[2:], geometry.stride, reach, geometry.padding,
                                  sizes):
        left = r - p  # where g's first element lands; < 0: the padding's, cut off
        first = -(-max(0, -left) // s)  # the first of g's elements inside the array
        last = min(out, (size - 1 - left) // s + 1)  # one past the last inside it
        target.append(slice(left + first * s, left + (last - 1) * s + 1, s))
        source.append(slice(first, last))
    spread[tuple(target)] = g[tuple(source)]
    c_out, c_in = w.shape[0], w.shape[1] * grp
    flipped = np.flip(w, axis=tuple(range(2, 2 + d))).reshape(
        (grp, c_out // grp, c_in // grp) + w.shape[2:])
    kernel = np.swapaxes(flipped, 1, 2).reshape((c_in, c_out // grp) + w.shape[2:])
    return conv(spread, kernel, 1, 0, geometry.dilation, grp)


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
