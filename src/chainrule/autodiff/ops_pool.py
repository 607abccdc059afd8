"""The pooling primitives: max and average pooling, over the windows of
:mod:`chainrule.autodiff.ops_conv`'s geometry. Their entries join
:data:`chainrule.autodiff.ops.PRIMITIVES`; tests/test_ops_against_torch.py holds them to PyTorch.

* ``max_pool`` is ``max_pool1d``/``max_pool2d`` (stride = kernel by default). Each window's
  maximum is taken over its real inputs, never its padding, as PyTorch's CPU kernel takes it:
  a later value replaces the one kept if strictly greater or NaN, so the gradient goes to the
  first of tied maxima (in the window's row-major order) and to the last NaN. Windows that
  overlap add their gradients.
* ``avg_pool`` is ``avg_pool1d``/``avg_pool2d`` with ``count_include_pad=True`` (PyTorch's
  default): each window's mean, zero padding counted.

Both reduce elementwise over the strided views of the kernel's offsets: NumPy's reductions
over a window axis of a few elements are ~20 times slower.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import ShapeError
from chainrule.autodiff.op_table import _define
from chainrule.autodiff.ops_conv import (
    _offsets, _out_sizes, _padded, _spatial, _tuple, _unpadded, _zeros_padded,
)

Array = np.ndarray


# --- pooling ----------------------------------------------------------------------------------


def _pool_geometry(x: Array, kernel_size, stride, padding, op: str):
    d = _spatial(x, op)
    return pool_geometry(x.shape[2:], kernel_size, stride, padding, f"{op}{d}d")


def pool_geometry(sizes, kernel_size, stride, padding, name: str):
    """(kernel, stride, padding, output sizes) of a pooling over spatial ``sizes``, checked
    as PyTorch checks them; a spec's layer shapes read it too."""
    d = len(sizes)
    kernel = _tuple(kernel_size, d, "kernel_size", name, 1)
    stride = kernel if stride is None or stride == () else _tuple(stride, d, "stride", name, 1)
    padding = _tuple(padding, d, "padding", name, 0)
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ShapeError(f"{name}: padding {padding} must be at most half the kernel "
                         f"{kernel} (PyTorch's rule)")
    out = _out_sizes(sizes, kernel, stride, padding, (1,) * d, name)
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
    """Each window's maximum: np.maximum over the offsets' views, which lets a NaN win as
    PyTorch does; the −∞ padding never wins over a real input (all −∞: the same −∞). Which
    input it was is the gradient's business (:func:`_max_pool_grad`)."""
    kernel, stride, padding, out = _pool_geometry(x, kernel_size, stride, padding, "max_pool")
    best = None
    for _, view in _offsets(_padded(x, padding, -np.inf), kernel, stride, (1,) * len(kernel),
                            out):
        best = view.copy() if best is None else np.maximum(best, view, out=best)
    return best


def _max_pool_grad(g: Array, out: Array, x: Array, kernel_size: Any = 2, stride: Any = None,
                   padding: Any = 0) -> Array:
    kernel, stride, padding, sizes = _pool_geometry(x, kernel_size, stride, padding,
                                                    "max_pool")
    dilation = (1,) * len(kernel)
    padded = _zeros_padded(x.shape, padding, g.dtype)
    zero = np.zeros((), dtype=g.dtype)
    inputs = _offsets(_padded(x, padding, -np.inf), kernel, stride, dilation, sizes)
    grads = _offsets(padded, kernel, stride, dilation, sizes)
    if np.isnan(out).any():  # the last NaN of a window takes it: which one, then scatter
        _, which = _first_maxima(x, kernel, stride, padding, sizes)
        for k, (_, view) in enumerate(grads):
            view += np.where(which == k, g, zero)  # (a view of padded: overlapping windows add)
        return _unpadded(padded, padding, x.shape)
    # the maximum is the forward's output: each window's gradient goes to the first real
    # input equal to it (PyTorch's first of tied maxima), found in one pass over the offsets
    done = np.zeros(out.shape, dtype=bool)
    for (offset, view), (_, grad_view) in zip(inputs, grads):
        hit = view == out
        hit &= ~done
        valid = _valid(offset, stride, padding, x.shape[2:], sizes)
        if valid is not None:
            hit &= valid
        grad_view += np.where(hit, g, zero)
        done |= hit
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


# --- the table ------------------------------------------------------------------------------
# fmt: off

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

# fmt: on
