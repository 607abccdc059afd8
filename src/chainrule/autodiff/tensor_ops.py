"""The Tensor methods and free functions of the newer primitives, named as in PyTorch.

``Tensor`` inherits these methods (:class:`TensorOps`); each is one call to ``apply`` with an
entry of :data:`chainrule.autodiff.ops.PRIMITIVES`, or a few of them where PyTorch's call is a
composition: ``squeeze``, ``unsqueeze`` and ``flatten`` are ``reshape`` (the gradient of a
reshape is the same whatever its reason), ``max(dim)`` is ``argmax`` then ``gather``.

Every reduction and axis argument is accepted in PyTorch's spelling (``dim=``,
``keepdim=``) and NumPy's (``axis=``, ``keepdims=``), as ``sum`` and ``mean`` always were.
The one place the spelling matters is ``max``/``min``: ``t.max(dim)`` is PyTorch's, a
(values, indices) pair whose gradient goes to the one index returned, while ``t.max()``,
``t.max(axis=...)`` (NumPy's ``ndarray.max``) and ``t.amax(dim)`` spread the gradient
evenly over tied maxima, as ``torch.amax`` and PyTorch's full ``max()`` do.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np

from chainrule.errors import ShapeError
from chainrule.autodiff.ops import PRIMITIVES, axes_of
from chainrule.autodiff.ops_shape import expanded_shape


class _Core:
    """The Tensor class and its ``apply``, handed over by :mod:`chainrule.autodiff.tensor`
    once it has defined them (:func:`bind`): tensor.py builds Tensor on the mixin below, so
    this module cannot import it back; the methods need the two only when called."""

    Tensor: Any = None
    apply: Any = None


_core = _Core()


def bind(tensor_class: type, apply: Any) -> None:
    """Called once, by chainrule.autodiff.tensor, with its Tensor class and apply."""
    _core.Tensor, _core.apply = tensor_class, apply

# "Tensor" in annotations is chainrule.autodiff.tensor.Tensor, not imported: tensor.py builds Tensor on this mixin
# (tests/test_layers.py keeps the autodiff modules free of import circles).
Tensor = Any


def either(dim: Any, axis: Any, op: str, default: Any = None, names=("dim", "axis")) -> Any:
    """PyTorch's ``dim`` or NumPy's ``axis``, whichever was given (not both, differently)."""
    if axis is None:
        return default if dim is None else dim
    if dim is not None and dim != axis:
        raise ShapeError(f"{op}: got {names[0]}={dim!r} and {names[1]}={axis!r}; give one")
    return axis


def _keep(keepdim: bool, keepdims: bool | None) -> bool:
    return bool(keepdim) if keepdims is None else bool(keepdims)


def _sizes(sizes: tuple) -> tuple:
    """``f(2, 3)`` or ``f((2, 3))``, as PyTorch's size arguments."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        return tuple(sizes[0])
    return sizes


def _constant(value: Any) -> "Tensor":
    return value if isinstance(value, _core.Tensor) else _core.Tensor(value,
                                                                          requires_grad=False)


class MaxResult(NamedTuple):
    """``Tensor.max(dim)``'s answer, as PyTorch's ``torch.return_types.max``."""

    values: "Tensor"
    indices: "Tensor"


class TensorOps:
    """Methods of :class:`chainrule.Tensor` for the comparisons, reductions and shape ops."""

    __slots__ = ()

    # --- comparisons: boolean tensors, no gradient -------------------------------------------

    def __lt__(self, other): return _compare("lt", self, other)
    def __le__(self, other): return _compare("le", self, other)
    def __gt__(self, other): return _compare("gt", self, other)
    def __ge__(self, other): return _compare("ge", self, other)
    def __eq__(self, other): return _compare("eq", self, other)  # type: ignore[override]
    def __ne__(self, other): return _compare("ne", self, other)  # type: ignore[override]
    __hash__ = object.__hash__  # tensors stay usable as dict keys and in sets, by identity

    def lt(self, other): return _compare("lt", self, other)
    def le(self, other): return _compare("le", self, other)
    def gt(self, other): return _compare("gt", self, other)
    def ge(self, other): return _compare("ge", self, other)
    def eq(self, other): return _compare("eq", self, other)
    def ne(self, other): return _compare("ne", self, other)

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ShapeError(f"bool(): a tensor of shape {self.data.shape} has no single truth "
                             "value; reduce it first, e.g. (t > 0).sum() or t.max()")
        return bool(self.data.item())

    # --- elementwise ---------------------------------------------------------------------------

    def sqrt(self) -> "Tensor": return _core.apply(PRIMITIVES["sqrt"], self)
    def abs(self) -> "Tensor": return _core.apply(PRIMITIVES["abs"], self)

    def clamp(self, min: float | None = None, max: float | None = None) -> "Tensor":
        return clamp(self, min, max)

    clip = clamp

    def maximum(self, other: Any) -> "Tensor": return maximum(self, other)
    def minimum(self, other: Any) -> "Tensor": return minimum(self, other)

    # --- reductions ----------------------------------------------------------------------------

    def max(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
            keepdims: bool | None = None):
        return _extreme("max", self, dim, keepdim, axis, keepdims)

    def min(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
            keepdims: bool | None = None):
        return _extreme("min", self, dim, keepdim, axis, keepdims)

    def amax(self, dim: Any = (), keepdim: bool = False, *, axis: Any = None,
             keepdims: bool | None = None) -> "Tensor":
        dims = either(dim, axis, "amax")
        return _core.apply(PRIMITIVES["max"], self, axis=None if dims == () else dims,
                             keepdims=_keep(keepdim, keepdims))

    def amin(self, dim: Any = (), keepdim: bool = False, *, axis: Any = None,
             keepdims: bool | None = None) -> "Tensor":
        dims = either(dim, axis, "amin")
        return _core.apply(PRIMITIVES["min"], self, axis=None if dims == () else dims,
                             keepdims=_keep(keepdim, keepdims))

    def argmax(self, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None,
               keepdims: bool | None = None) -> "Tensor":
        return _core.apply(PRIMITIVES["argmax"], self, axis=either(dim, axis, "argmax"),
                             keepdims=_keep(keepdim, keepdims))

    def argmin(self, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None,
               keepdims: bool | None = None) -> "Tensor":
        return _core.apply(PRIMITIVES["argmin"], self, axis=either(dim, axis, "argmin"),
                             keepdims=_keep(keepdim, keepdims))

    def var(self, dim: Any = None, *, correction: float | None = None, keepdim: bool = False,
            axis: Any = None, keepdims: bool | None = None, ddof: float | None = None):
        """PyTorch's ``correction`` (default 1: n − 1), or NumPy's ``ddof``."""
        return _core.apply(PRIMITIVES["var"], self, axis=either(dim, axis, "var"),
                             correction=either(correction, ddof, "var", 1,
                                               ("correction", "ddof")),
                             keepdims=_keep(keepdim, keepdims))

    def std(self, dim: Any = None, *, correction: float | None = None, keepdim: bool = False,
            axis: Any = None, keepdims: bool | None = None, ddof: float | None = None):
        """PyTorch's ``correction`` (default 1: n − 1), or NumPy's ``ddof``."""
        return _core.apply(PRIMITIVES["std"], self, axis=either(dim, axis, "std"),
                             correction=either(correction, ddof, "std", 1,
                                               ("correction", "ddof")),
                             keepdims=_keep(keepdim, keepdims))

    def logsumexp(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
                  keepdims: bool | None = None) -> "Tensor":
        return _core.apply(PRIMITIVES["logsumexp"], self, axis=either(dim, axis, "logsumexp"),
                             keepdims=_keep(keepdim, keepdims))

    def cumsum(self, dim: int | None = None, *, axis: int | None = None) -> "Tensor":
        dim = either(dim, axis, "cumsum")
        if dim is None:
            raise ShapeError("cumsum: give the axis to sum along, e.g. cumsum(0)")
        return _core.apply(PRIMITIVES["cumsum"], self, axis=dim)

    # --- shapes --------------------------------------------------------------------------------

    def flip(self, *dims: int) -> "Tensor":
        return _core.apply(PRIMITIVES["flip"], self, axis=_sizes(dims))

    def repeat(self, *sizes: int) -> "Tensor":
        return _core.apply(PRIMITIVES["repeat"], self, sizes=_sizes(sizes))

    def expand(self, *sizes: int) -> "Tensor":
        sizes = _sizes(sizes)
        expanded_shape(self.data.shape, sizes)  # refuse a bad shape here, in one line
        return _core.apply(PRIMITIVES["expand"], self, shape=sizes)

    def gather(self, dim: int, index: Any) -> "Tensor":
        index = index.data if isinstance(index, _core.Tensor) else np.asarray(index)
        # Tensor([[0], [2]]) holds floats (user data always does): whole numbers are indices
        if index.dtype.kind == "f" and np.all(np.isfinite(index)) and np.all(
                index == np.round(index)):
            index = index.astype(np.int64)
        return _core.apply(PRIMITIVES["gather"], self, index=index, axis=dim)

    def squeeze(self, dim: Any = None) -> "Tensor":
        shape = self.data.shape
        axes = axes_of(dim, self.data.ndim, "squeeze")
        # PyTorch: squeeze(d) drops axis d only if its size is 1, and is a no-op otherwise
        drop = {a for a in axes if shape[a] == 1}
        return self.reshape(tuple(n for a, n in enumerate(shape) if a not in drop))

    def unsqueeze(self, dim: int) -> "Tensor":
        (a,) = axes_of(dim, self.data.ndim + 1, "unsqueeze")
        shape = self.data.shape
        return self.reshape(shape[:a] + (1,) + shape[a:])

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Tensor":
        shape = self.data.shape
        if not shape:
            return self.reshape((1,))  # PyTorch: a 0-d tensor flattens to one element
        (start,) = axes_of(start_dim, len(shape), "flatten")
        (end,) = axes_of(end_dim, len(shape), "flatten")
        if start > end:
            raise ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        middle = int(np.prod(shape[start:end + 1]))
        return self.reshape(shape[:start] + (middle,) + shape[end + 1:])


def _compare(name: str, x: Any, y: Any):
    if y is None or isinstance(y, str):  # t == None is False, as in PyTorch
        return NotImplemented
    return _core.apply(PRIMITIVES[name], x, y)


def _extreme(name: str, x: "Tensor", dim: Any, keepdim: bool, axis: Any, keepdims):
    if isinstance(dim, _core.Tensor):  # torch.max(a, b): the elementwise one
        return (maximum if name == "max" else minimum)(x, dim)
    keep = _keep(keepdim, keepdims)
    if dim is None:  # t.max(), or NumPy's t.max(axis=...): ties share the gradient evenly
        return _core.apply(PRIMITIVES[name], x, axis=axis, keepdims=keep)
    if axis is not None:
        raise ShapeError(f"{name}: got dim={dim!r} and axis={axis!r}; give one")
    # PyTorch's max(dim): the value at the index argmax returns, so the gradient goes there
    indices = _core.apply(PRIMITIVES[f"arg{name}"], x, axis=dim, keepdims=True)
    values = x.gather(dim, indices)
    if not keep:
        values = values.squeeze(dim)
        indices = _core.Tensor._wrap(np.squeeze(indices.data, axes_of(dim, x.data.ndim, name)))
    return MaxResult(values, indices)


# --- free functions -------------------------------------------------------------------------


def maximum(x: Any, y: Any) -> "Tensor":
    """Elementwise max of two tensors (or numbers), gradient split equally on ties."""
    if not isinstance(x, _core.Tensor) and not isinstance(y, _core.Tensor):
        x = _constant(x)
    return _core.apply(PRIMITIVES["maximum"], x, y)


def minimum(x: Any, y: Any) -> "Tensor":
    """Elementwise min of two tensors (or numbers), gradient split equally on ties."""
    if not isinstance(x, _core.Tensor) and not isinstance(y, _core.Tensor):
        x = _constant(x)
    return _core.apply(PRIMITIVES["minimum"], x, y)


def clamp(x: Any, min: float | None = None, max: float | None = None) -> "Tensor":
    """x limited to [min, max] (either may be None); gradient 1 on the closed interval."""
    bounds = {}
    for key, bound in (("min", min), ("max", max)):
        if bound is not None and np.size(bound) != 1:
            raise ShapeError(f"clamp: {key} must be a number, got shape {np.shape(bound)}")
        bounds[key] = None if bound is None else float(np.asarray(bound).item())
    return _core.apply(PRIMITIVES["clamp"], _constant(x), **bounds)


clip = clamp


def where(condition: Any, x: Any, y: Any) -> "Tensor":
    """x where ``condition`` holds, else y (broadcast together); the gradient follows."""
    cond = condition.data if isinstance(condition, _core.Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        raise ShapeError(f"where: the condition must be boolean (a comparison), got dtype "
                         f"{cond.dtype}")
    if not isinstance(x, _core.Tensor) and not isinstance(y, _core.Tensor):
        x = _constant(x)
    return _core.apply(PRIMITIVES["where"], x, y, condition=cond)


def _tensors(tensors: Sequence[Any], op: str) -> list["Tensor"]:
    if isinstance(tensors, _core.Tensor) or not isinstance(tensors, (list, tuple)):
        raise ShapeError(f"{op}: expected a list or tuple of tensors")
    if not tensors:
        raise ShapeError(f"{op}: expected at least one tensor")
    return [_constant(t) for t in tensors]


def cat(tensors: Sequence[Any], dim: int | None = None, *, axis: int | None = None) -> "Tensor":
    """The tensors joined along an existing axis (``torch.cat``; also ``concatenate``)."""
    return _core.apply(PRIMITIVES["cat"], *_tensors(tensors, "cat"),
                         axis=either(dim, axis, "cat", 0))


concatenate = cat


def stack(tensors: Sequence[Any], dim: int | None = None, *, axis: int | None = None):
    """The tensors, of one shape, stacked along a new axis (``torch.stack``)."""
    return _core.apply(PRIMITIVES["stack"], *_tensors(tensors, "stack"),
                         axis=either(dim, axis, "stack", 0))


def pad(x: Any, pad: Sequence[int], value: float = 0.0) -> "Tensor":
    """``torch.nn.functional.pad`` in constant mode: (before, after) pairs, last axis first."""
    return _core.apply(PRIMITIVES["pad"], _constant(x), pad=tuple(pad), value=float(value))
