"""Tensor: a NumPy array that remembers how it was made, PyTorch-style.

Every operator and method is one call to :func:`apply` with a primitive from the table in
:mod:`chainrule.autodiff.ops`; gradients come from :func:`chainrule.autodiff.engine.backward`.

Conventions (PyTorch's, where a user would look for them):

* float64 unless asked otherwise (``dtype="float32"``); NumPy float arrays keep their dtype,
  integers and bools become float64. ``Tensor(array)`` copies, so an optimizer updating the
  tensor in place never touches the caller's array.
* ``requires_grad=True`` by default (micrograd's habit; PyTorch code that passes
  ``requires_grad=True`` works unchanged). Python numbers and NumPy arrays mixed into an
  expression become constants.
* After ``backward()``, ``.grad`` is set on leaves, and on non-leaf tensors only after
  ``retain_grad()``. Gradients accumulate across uses and across calls until ``zero_grad()``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import display
from chainrule.autodiff import engine
from chainrule.tables.activations import LEAKY_RELU_SLOPE
from chainrule.autodiff.engine import Node
from chainrule.errors import ChainruleError, ShapeError
from chainrule.autodiff.ops import PRIMITIVES, Primitive, axes_of
# maximum: a re-export
from chainrule.autodiff.tensor_ops import TensorOps, bind, either, maximum  # noqa: F401

_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))


def _as_float_array(data: Any, dtype: Any = None) -> np.ndarray:
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype not in _FLOATS:
            raise TypeError(f"Tensor dtype must be float32 or float64, got {dtype}")
        return np.array(data, dtype=dtype)
    array = np.array(data)
    if array.dtype in _FLOATS:
        return array
    if array.dtype.kind in "biuf":
        return array.astype(np.float64)
    raise TypeError(f"Tensor data must be real numbers, got an array of dtype {array.dtype}")


class Tensor(TensorOps):
    """An array with a gradient. ``Tensor(data, name=None, requires_grad=True, dtype=None)``.

    Its data is float32 or float64, except for the results of comparisons and argmax/argmin
    (bool and int64 arrays), which never require a gradient. The methods of the newer
    primitives (comparisons, max, var, cat, ...) come from :class:`TensorOps`.
    """

    __slots__ = ("data", "grad", "name", "requires_grad", "_node", "_retains_grad", "__weakref__")
    # Make NumPy hand `ndarray + Tensor` to Tensor.__radd__ instead of broadcasting over it.
    __array_priority__ = 1000

    def __init__(
        self,
        data: Any,
        name: str | None = None,
        *,
        requires_grad: bool = True,
        dtype: Any = None,
    ) -> None:
        if isinstance(data, Tensor):
            data = data.data
        self.data: np.ndarray = _as_float_array(data, dtype)
        self.grad: np.ndarray | None = None
        self.name = name
        self.requires_grad = requires_grad
        self._node: Node | None = None
        self._retains_grad = False

    @classmethod
    def _wrap(cls, data: np.ndarray, requires_grad: bool = False) -> "Tensor":
        """A tensor around an array we already own: no copy, no conversion."""
        tensor = object.__new__(cls)
        tensor.data = data if type(data) is np.ndarray else np.asarray(data)
        tensor.grad = None
        tensor.name = None
        tensor.requires_grad = requires_grad
        tensor._node = None
        tensor._retains_grad = False
        return tensor

    # --- properties --------------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def op(self) -> str | None:
        """The name of the primitive that made this tensor (None for a leaf)."""
        return None if self._node is None else self._node.prim.name

    @property
    def T(self) -> "Tensor":
        return self.transpose()

    def item(self) -> float:
        return self.data.item()

    def numpy(self) -> np.ndarray:
        return self.data

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype)

    def __float__(self) -> float:
        return float(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Tensor(")
        extras = [f"name={self.name!r}"] if self.name else []
        if self._node is not None:
            extras.append(f"op={self._node.prim.name!r}")
        elif not self.requires_grad:
            extras.append("requires_grad=False")
        if self.data.dtype != np.float64:
            extras.append(f"dtype={self.data.dtype.name}")
        return f"Tensor({', '.join([body, *extras])})"

    def _repr_html_(self) -> str | None:  # Jupyter: the table chainrule.explain.render draws
        return display.shown(self, "html")

    # --- gradients ---------------------------------------------------------------------------

    def backward(self, gradient: Any = None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``gradient`` is the upstream gradient, required when ``self`` is not a scalar.
        """
        engine.backward(self, None if gradient is None else np.asarray(gradient))

    def zero_grad(self) -> None:
        self.grad = None

    def retain_grad(self) -> "Tensor":
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        self._retains_grad = True
        return self

    def detach(self) -> "Tensor":
        """The same data (shared, not copied), cut from the graph: a constant."""
        out = Tensor._wrap(self.data)
        out.name = self.name
        return out

    def _accumulate_grad(self, grad: np.ndarray, owned: bool = False) -> None:
        """Add ``grad`` to ``.grad``. ``owned``: the engine made ``grad`` and holds it alone,
        so it may become ``.grad`` as it is; otherwise it is copied (the engine may hand the
        same array to several tensors, as ``x + y`` does, or it may be the caller's)."""
        if self.grad is not None:
            self.grad = self.grad + grad
        elif owned and grad.dtype == self.data.dtype:
            self.grad = grad
        else:
            self.grad = np.array(grad, dtype=self.data.dtype)

    # --- operators ---------------------------------------------------------------------------

    def __add__(self, other): return apply(PRIMITIVES["add"], self, other)
    def __radd__(self, other): return apply(PRIMITIVES["add"], other, self)
    def __sub__(self, other): return apply(PRIMITIVES["sub"], self, other)
    def __rsub__(self, other): return apply(PRIMITIVES["sub"], other, self)
    def __mul__(self, other): return apply(PRIMITIVES["mul"], self, other)
    def __rmul__(self, other): return apply(PRIMITIVES["mul"], other, self)
    def __truediv__(self, other): return apply(PRIMITIVES["div"], self, other)
    def __rtruediv__(self, other): return apply(PRIMITIVES["div"], other, self)
    def __pow__(self, other): return apply(PRIMITIVES["pow"], self, other)
    def __rpow__(self, other): return apply(PRIMITIVES["pow"], other, self)
    def __matmul__(self, other): return apply(PRIMITIVES["matmul"], self, other)
    def __rmatmul__(self, other): return apply(PRIMITIVES["matmul"], other, self)
    def __neg__(self): return apply(PRIMITIVES["neg"], self)

    def __getitem__(self, index: Any) -> "Tensor":
        return apply(PRIMITIVES["getitem"], self, index=_plain_index(index))

    # --- methods -----------------------------------------------------------------------------

    def exp(self) -> "Tensor": return apply(PRIMITIVES["exp"], self)
    def log(self) -> "Tensor": return apply(PRIMITIVES["log"], self)
    def tanh(self) -> "Tensor": return apply(PRIMITIVES["tanh"], self)
    def sigmoid(self) -> "Tensor": return apply(PRIMITIVES["sigmoid"], self)
    def softplus(self) -> "Tensor": return apply(PRIMITIVES["softplus"], self)
    def relu(self) -> "Tensor": return apply(PRIMITIVES["relu"], self)

    def leaky_relu(self, slope: float = LEAKY_RELU_SLOPE) -> "Tensor":
        return apply(PRIMITIVES["leaky_relu"], self, slope=float(slope))

    def softmax(self, dim: int | None = None, *, axis: int | None = None) -> "Tensor":
        if dim is None and axis is None:  # the common call, without a helper's call
            return apply(PRIMITIVES["softmax"], self, axis=-1)
        return apply(PRIMITIVES["softmax"], self, axis=either(dim, axis, "softmax"))

    def log_softmax(self, dim: int | None = None, *, axis: int | None = None) -> "Tensor":
        if dim is None and axis is None:
            return apply(PRIMITIVES["log_softmax"], self, axis=-1)
        return apply(PRIMITIVES["log_softmax"], self, axis=either(dim, axis, "log_softmax"))

    def sum(self, dim: int | tuple[int, ...] | None = None, keepdim: bool = False, *,
            axis: int | tuple[int, ...] | None = None, keepdims: bool | None = None) -> "Tensor":
        """``sum(dim, keepdim)`` as PyTorch, or ``sum(axis=, keepdims=)`` as NumPy."""
        axis = either(dim, axis, "sum")
        if isinstance(axis, list):
            axis = tuple(axis)
        keep = bool(keepdim) if keepdims is None else bool(keepdims)
        return apply(PRIMITIVES["sum"], self, axis=axis, keepdims=keep)

    def mean(self, dim: int | tuple[int, ...] | None = None, keepdim: bool = False, *,
             axis: int | tuple[int, ...] | None = None, keepdims: bool | None = None
             ) -> "Tensor":
        axis = either(dim, axis, "mean")
        if isinstance(axis, list):
            axis = tuple(axis)
        # sum / n, as NumPy computes its mean, so the value matches np.mean bit for bit.
        count = self.data.size if axis is None else _count(self.data.shape, axis)
        keep = bool(keepdim) if keepdims is None else bool(keepdims)
        return self.sum(axis=axis, keepdims=keep) / count

    def reshape(self, *shape: Any) -> "Tensor":
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return apply(PRIMITIVES["reshape"], self, shape=shape)

    def transpose(self, *axes: int) -> "Tensor":
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return apply(PRIMITIVES["transpose"], self, axes=axes or None)


def _count(shape: tuple[int, ...], axis: int | tuple[int, ...]) -> int:
    return int(np.prod([shape[a] for a in axes_of(axis, len(shape), "mean")]))


def _plain_index(index: Any) -> Any:
    """Indices may contain tensors (of integers); the rule wants plain NumPy values."""
    if isinstance(index, Tensor):  # a boolean mask stays one; numbers become positions
        return index.data if index.data.dtype == np.bool_ else index.data.astype(np.intp)
    if isinstance(index, tuple):
        return tuple(_plain_index(part) for part in index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _constant_like(value: Any, like: np.dtype) -> Tensor:
    """A Python number or array mixed into an expression: a constant of the tensor's dtype.

    Python numbers take a float tensor's dtype (float32 stays float32); NumPy arrays keep
    theirs and follow NumPy's promotion rules. Beside a bool or integer tensor (a comparison,
    an argmax), a number keeps its own type: ``(x > 0) + 0.5`` is 1.5, not True.
    """
    floating = like.kind == "f"
    if isinstance(value, np.ndarray):
        return Tensor._wrap(value.astype(like) if floating and value.dtype.kind in "biu"
                            else value)
    if isinstance(value, (int, float, np.number, bool)) or np.ndim(value) == 0:
        return Tensor._wrap(np.asarray(value, dtype=like if floating else None))
    return Tensor._wrap(_as_float_array(value))


def apply(prim: Primitive, *operands: Any, **params: Any) -> Tensor:
    """Run ``prim`` forward on the operands' data and record a node if anything needs a grad."""
    try:  # free unless it raises: an exception-free try costs nothing in Python 3.11
        count = len(operands)
        if count == 1:
            inputs: tuple[Tensor, ...] = operands
            out = Tensor._wrap(prim.forward(operands[0].data, **params))
            needs_grad = operands[0].requires_grad
        elif count == 2:
            first, second = operands
            if not isinstance(first, Tensor):
                first = _constant_like(first, second.data.dtype)
            elif not isinstance(second, Tensor):
                second = _constant_like(second, first.data.dtype)
            inputs = (first, second)
            out = Tensor._wrap(prim.forward(first.data, second.data, **params))
            needs_grad = first.requires_grad or second.requires_grad
        else:
            like = next((t.data.dtype for t in operands if isinstance(t, Tensor)), np.float64)
            inputs = tuple(t if isinstance(t, Tensor) else _constant_like(t, like)
                           for t in operands)
            out = Tensor._wrap(prim.forward(*[t.data for t in inputs], **params))
            needs_grad = False
            for t in inputs:
                needs_grad = needs_grad or t.requires_grad
    except ValueError as error:  # shapes that do not broadcast, an axis out of range, ...
        if isinstance(error, ChainruleError):
            raise
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        if not message.startswith(f"{prim.name}:"):
            message = f"{prim.name}: {message}"
        shapes = ", ".join(str(np.shape(getattr(t, "data", t))) for t in operands)
        raise ShapeError(f"{message} (input shapes {shapes})") from error
    # a comparison or argmax records nothing: its boolean or integer result is a constant
    if needs_grad and engine._grad_enabled and prim.differentiable:
        out.requires_grad = True
        out._node = Node(prim, inputs, params, engine.next_seq())
    return out


def record(prim: Primitive, inputs: tuple[Tensor, ...], out: np.ndarray,
           **params: Any) -> Tensor:
    """A tensor holding ``out``, which the caller computed as ``prim.forward`` would from the
    inputs' data (with values it had at hand), recorded like :func:`apply` records it."""
    tensor = Tensor._wrap(out)
    if engine._grad_enabled:
        for t in inputs:
            if t.requires_grad:
                tensor.requires_grad = True
                tensor._node = Node(prim, inputs, params, engine.next_seq())
                break
    return tensor


bind(Tensor, apply)  # the mixin's methods and tensor_ops' functions make tensors with these
