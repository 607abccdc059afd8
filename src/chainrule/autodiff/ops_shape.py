"""Primitives that move elements without arithmetic: pad, flip, repeat, expand, gather, cat and
stack. Their entries join :data:`chainrule.autodiff.ops.PRIMITIVES`. Each gradient sends every
element of g back to where its value came from (and adds where one value went to several).

Semantics are PyTorch's, and tests/test_ops_against_torch.py holds them to it:

* ``pad(x, pad, value)`` is ``torch.nn.functional.pad`` in constant mode: ``pad`` lists
  (before, after) pairs starting from the *last* axis, ``(1, 2)`` pads the last axis by one
  before and two after. Negative widths (cropping) are refused: slice instead.
* ``repeat(x, sizes)`` is ``Tensor.repeat``: ``np.tile``, with ``len(sizes) ≥ x.ndim``.
* ``expand(x, shape)`` is ``Tensor.expand``: size-1 axes stretch, new axes go in front, -1
  keeps a size; its gradient is g, summed back by the engine like any broadcast.
* ``gather(x, index, axis)`` is ``torch.gather``: out[i][j] = x[index[i][j]][j] for axis 0;
  ``index`` has x's number of axes, and along the other axes may be shorter than x.
* ``cat`` and ``stack`` take any number of inputs (``variadic``): one rule serves every input,
  told which one it is (``which``).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from chainrule.errors import ShapeError
from chainrule.autodiff.op_table import _define, axes_of

Array = np.ndarray


def _sizes(values: Any, op: str, allow_minus_one: bool = False) -> tuple[int, ...]:
    values = tuple(values)
    low = -1 if allow_minus_one else 0
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise ShapeError(f"{op}: sizes must be integers ≥ {low}, got {values}")
    return tuple(int(v) for v in values)


# --- pad ------------------------------------------------------------------------------------


def _pad_widths(x: Array, pad: Sequence[int]) -> list[tuple[int, int]]:
    pad = _sizes(pad, "pad (negative widths crop in PyTorch; slice instead)")
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ShapeError(f"pad: expected (before, after) pairs for at most {x.ndim} axes, "
                         f"last axis first, got {pad}")
    widths = [(0, 0)] * x.ndim
    for k in range(len(pad) // 2):  # pair k pads axis -1 - k
        widths[x.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    return widths


def pad(x: Array, pad: Sequence[int] = (), value: float = 0.0) -> Array:
    return np.pad(x, _pad_widths(x, pad), constant_values=value)


def _pad_grad(g: Array, out: Array, x: Array, pad: Sequence[int] = (),
              value: float = 0.0) -> Array:
    return g[tuple(slice(before, before + n) for (before, _), n in
                   zip(_pad_widths(x, pad), x.shape))]


# --- flip, repeat, expand -------------------------------------------------------------------


def flip(x: Array, axis: Any = ()) -> Array:
    return np.flip(x, axes_of(axis, x.ndim, "flip"))


def repeat(x: Array, sizes: Sequence[int] = ()) -> Array:
    sizes = _sizes(sizes, "repeat")
    if len(sizes) < x.ndim:
        raise ShapeError(f"repeat: {len(sizes)} size(s) for a tensor of {x.ndim} "
                         f"dimension(s); give at least one per dimension")
    return np.tile(x, sizes)


def _repeat_grad(g: Array, out: Array, x: Array, sizes: Sequence[int] = ()) -> Array:
    # out, axis by axis, is (repeat, original) interleaved: sum over every repeat axis
    shape = (1,) * (len(sizes) - x.ndim) + x.shape
    tiles = g.reshape([n for pair in zip(sizes, shape) for n in pair])
    return np.add.reduce(tiles, axis=tuple(range(0, tiles.ndim, 2))).reshape(x.shape)


def expanded_shape(shape: tuple[int, ...], sizes: Sequence[int]) -> tuple[int, ...]:
    """The shape ``expand(sizes)`` gives an array of ``shape``, or ShapeError."""
    sizes = _sizes(sizes, "expand", allow_minus_one=True)
    new = len(sizes) - len(shape)
    if new < 0:
        raise ShapeError(f"expand: {len(sizes)} size(s) for a tensor of shape {shape}")
    result = list(sizes)
    for i, n in enumerate(sizes):
        old = shape[i - new] if i >= new else None
        if n == -1:
            if old is None:
                raise ShapeError(f"expand: -1 (keep the size) cannot be a new axis: {sizes}")
            result[i] = old
        elif old is not None and old not in (1, n):
            raise ShapeError(f"expand: axis {i} has size {old}, which can only expand if "
                             f"it is 1 (asked for {n}): shape {shape} to {sizes}")
    return tuple(result)


def expand(x: Array, shape: Sequence[int] = ()) -> Array:
    # a read-only view, as torch's expand is a view: nothing may write into it
    return np.broadcast_to(x, expanded_shape(x.shape, shape))


# --- gather ---------------------------------------------------------------------------------


def _gather_index(x: Array, index: Any, axis: int) -> tuple[Array, int]:
    index = np.asarray(index)
    if index.dtype.kind not in "iu":
        raise ShapeError(f"gather: index must hold integers, got dtype {index.dtype}")
    (a,) = axes_of(axis, x.ndim, "gather") or (0,)
    if index.ndim != x.ndim:
        raise ShapeError(f"gather: index has {index.ndim} dimension(s), the input "
                         f"{x.ndim}; they must match")
    for d, (n, m) in enumerate(zip(index.shape, x.shape)):
        if d != a and n > m:
            raise ShapeError(f"gather: index shape {index.shape} is longer than the input "
                             f"{x.shape} along axis {d}")
    size = x.shape[a] if x.ndim else 1
    if index.size and (index.min() < 0 or index.max() >= size):
        raise ShapeError(f"gather: index values must be in 0 to {size - 1} along axis {a}, "
                         f"got {index.min()} to {index.max()}")
    return index, a


def _gather_positions(index: Array, a: int) -> tuple[Array, ...]:
    positions = list(np.indices(index.shape, sparse=True))
    positions[a] = index
    return tuple(positions)


def gather(x: Array, index: Any = None, axis: int = 0) -> Array:
    index, a = _gather_index(x, index, axis)
    if not x.ndim:
        return x.copy()
    return x[_gather_positions(index, a)]


def _gather_grad(g: Array, out: Array, x: Array, index: Any = None, axis: int = 0) -> Array:
    index, a = _gather_index(x, index, axis)
    if not x.ndim:
        return g
    grad = np.zeros_like(x)
    np.add.at(grad, _gather_positions(index, a), g)  # an index may repeat: each use adds
    return grad


# --- cat and stack --------------------------------------------------------------------------


def _same_shapes(inputs: Sequence[Array], op: str, skip: int | None = None) -> None:
    first = inputs[0].shape
    for k, x in enumerate(inputs):
        other = [n for i, n in enumerate(x.shape) if i != skip]
        if x.ndim != len(first) or other != [n for i, n in enumerate(first) if i != skip]:
            along = "" if skip is None else f" except along axis {skip}"
            raise ShapeError(f"{op}: input {k} has shape {x.shape}, input 0 {first}; "
                             f"shapes must match{along}")


def cat(*inputs: Array, axis: int = 0) -> Array:
    if not inputs:
        raise ShapeError("cat: expected at least one tensor")
    if inputs[0].ndim == 0:
        raise ShapeError("cat: a 0-d tensor cannot be concatenated (use stack)")
    (a,) = axes_of(axis, inputs[0].ndim, "cat")
    _same_shapes(inputs, "cat", skip=a)
    return np.concatenate(inputs, axis=a)


def _cat_grad(g: Array, out: Array, *inputs: Array, which: int = 0, axis: int = 0) -> Array:
    (a,) = axes_of(axis, inputs[0].ndim, "cat")
    start = sum(x.shape[a] for x in inputs[:which])
    return g[(slice(None),) * a + (slice(start, start + inputs[which].shape[a]),)]


def _stack_axis(inputs: Sequence[Array], axis: int) -> int:
    (a,) = axes_of(axis, inputs[0].ndim + 1, "stack")
    return a


def stack(*inputs: Array, axis: int = 0) -> Array:
    if not inputs:
        raise ShapeError("stack: expected at least one tensor")
    _same_shapes(inputs, "stack")
    return np.stack(inputs, axis=_stack_axis(inputs, axis))


def _stack_grad(g: Array, out: Array, *inputs: Array, which: int = 0, axis: int = 0) -> Array:
    return g[(slice(None),) * _stack_axis(inputs, axis) + (which,)]


# --- the table ------------------------------------------------------------------------------
# fmt: off

_define("pad", pad,
        (_pad_grad,),
        "x padded with a constant", ("1 on x's own elements (g cropped)",),
        r"\mathrm{pad}(x)", (r"g \text{ cropped}",))

_define("flip", flip,
        (lambda g, out, x, axis=(): np.flip(g, axes_of(axis, x.ndim, "flip")),),
        "x reversed along axes", ("1 (g reversed back)",),
        r"\mathrm{flip}(x)", (r"\mathrm{flip}(g)",))

_define("repeat", repeat,
        (_repeat_grad,),
        "x tiled", ("Σ over the copies",), r"\mathrm{tile}(x)", (r"\sum_{\text{copies}} g",))

_define("expand", expand,
        (lambda g, out, x, shape=(): g,),  # the engine sums g back to x's shape
        "x broadcast to a shape", ("1, summed over the broadcast axes",),
        r"\mathrm{expand}(x)", (r"\textstyle\sum_{\text{broadcast}} g",))

_define("gather", gather,
        (_gather_grad,),
        "x[index] along an axis", ("1 at each gathered place (repeats add), else 0",),
        r"x_{\mathrm{index}}", (r"\sum [\,\cdot = \mathrm{index}\,]",))

_define("cat", cat,
        (_cat_grad,),
        "x₁ ⧺ x₂ ⧺ … along an axis", ("1 (each input's block of g)",),
        r"[x_1, x_2, \ldots]", (r"g_{\text{block}}",),
        variadic=True)

_define("stack", stack,
        (_stack_grad,),
        "x₁, x₂, … stacked along a new axis", ("1 (each input's slice of g)",),
        r"[x_1; x_2; \ldots]", (r"g_{k}",),
        variadic=True)

# fmt: on
