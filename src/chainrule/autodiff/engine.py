"""Reverse-mode automatic differentiation over the primitive table.

The engine knows nodes, not tensors' surface: a node is a primitive applied to input tensors
with some parameters. ``backward`` walks the recorded graph once in reverse topological
order, calls each node's rule once for all the inputs that want a gradient
(``Primitive.vjp_all``), sums gradients back to each input's shape in exactly one place
(:func:`unbroadcast`) and accumulates them where several uses of a tensor meet.

Nodes are numbered as they are made (``Node.seq``); since a node's inputs always exist
before it, visiting by decreasing number is a reverse topological order found without a
search of the graph — the cost per node is what a small network's step is made of.

It never prints. Whoever wants to watch — the explain layer, a debugger — passes an
``observer`` and is told about every step.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from chainrule.frozen import Frozen
from chainrule.errors import GradError
from chainrule.autodiff.ops import Primitive

# "Tensor" in annotations is chainrule.autodiff.tensor.Tensor, not imported: the engine sits below the Tensor class
# (tests/test_layers.py keeps the autodiff modules free of import circles).
Tensor = Any

_grad_enabled = True

# Numbers every recorded node in creation order (see Node.seq).
next_seq = itertools.count(1).__next__


def is_grad_enabled() -> bool:
    return _grad_enabled


@contextlib.contextmanager
def set_grad_enabled(enabled: bool) -> Iterator[None]:
    """Record nodes (True) or not (False) inside this block, restoring the mode after."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, enabled
    try:
        yield
    finally:
        _grad_enabled = previous


def no_grad() -> contextlib.AbstractContextManager[None]:
    """Record nothing inside this block: results are constants, as in ``torch.no_grad()``."""
    return set_grad_enabled(False)


def enable_grad() -> contextlib.AbstractContextManager[None]:
    """Record again inside a ``no_grad`` block."""
    return set_grad_enabled(True)


class Node:
    """How a tensor was made: ``prim(*inputs, **params)``.

    ``seq`` numbers nodes in the order they were made. A node's inputs always exist before
    it, so decreasing ``seq`` is a reverse topological order: backward needs no search.
    """

    __slots__ = ("prim", "inputs", "params", "seq")

    def __init__(self, prim: Primitive, inputs: tuple["Tensor", ...], params: dict[str, Any],
                 seq: int = 0) -> None:
        self.prim, self.inputs, self.params, self.seq = prim, inputs, params, seq

    def __repr__(self) -> str:
        return f"Node({self.prim.name!r}, {len(self.inputs)} inputs, seq={self.seq})"


@dataclass(slots=True, eq=False)  # arrays: no elementwise ==
class BackwardStep(Frozen):
    """What an observer is told for each node: its upstream gradient and what it passed on."""

    tensor: "Tensor"
    node: Node
    upstream: np.ndarray
    input_grads: tuple[np.ndarray | None, ...]  # already summed back to each input's shape


Observer = Callable[[BackwardStep], None]


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...], source: str = "a rule",
                index: int | None = None) -> np.ndarray:
    """Sum a gradient over the axes along which an operand of ``shape`` was broadcast.

    When the shapes differ the result is a new array (a sum), never a view of ``grad``.
    A gradient that ``shape`` does not broadcast to is a wrong rule, not something to
    reshape into place (a same-size mistake, such as a transposed gradient, would pass
    silently): it raises GradError naming ``source`` (the primitive) and input ``index``.
    The check costs nothing on the common paths: it is the shape test already made.
    """
    if grad.shape == shape:
        return grad
    given = grad.shape
    extra = grad.ndim - len(shape)
    if extra < 0:
        raise _wrong_shape(source, index, shape, given)
    if extra > 0:  # np.add.reduce is what .sum() runs, without its Python-level wrapper
        grad = np.add.reduce(grad, axis=0 if extra == 1 else tuple(range(extra)))
        if grad.shape == shape:  # a bias's gradient: summed over the examples, done
            return grad
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = np.add.reduce(grad, axis=stretched, keepdims=True)
    if grad.shape != shape:  # an axis of the input neither matched nor was stretched
        raise _wrong_shape(source, index, shape, given)
    return grad


def _wrong_shape(source: str, index: int | None, shape: tuple[int, ...],
                 given: tuple[int, ...]) -> GradError:
    where = source if index is None else f"{source} (input {index})"
    return GradError(f"{where}: the gradient has shape {given}, expected the input's shape "
                     f"{shape} or a shape it broadcasts to")


def topological_order(root: "Tensor") -> list["Tensor"]:
    """Every tensor that ``root`` depends on and that needs a gradient, inputs first.

    Iterative, so a long chain (thousands of ops) does not hit Python's recursion limit.
    """
    order: list[Tensor] = []
    # A tensor counts as visited when it is expanded, not when it is pushed: marking on push
    # would let a sibling reached later skip it, and the tensor would be ordered before that
    # sibling, so the sibling's share of its gradient would arrive after it was consumed.
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        tensor, expanded = stack.pop()
        if expanded:
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        node = tensor._node
        if node is None:
            continue
        for parent in node.inputs:
            if parent.requires_grad and id(parent) not in visited:
                stack.append((parent, False))
    return order


def backward(
    root: "Tensor", upstream: np.ndarray | None = None, observer: Observer | None = None
) -> None:
    """Accumulate ∂root/∂t into ``t.grad`` for every leaf ``t`` (and retained non-leaf).

    Nodes are visited by decreasing ``seq`` (a heap holds the ones with a gradient pending),
    so each node passes its gradient on only after every use of it has added its share.
    A leaf's gradient array is adopted rather than copied when the engine made it and
    nothing else holds it (``owned``); anything else — the upstream itself passed through
    by ``add``, a view, an array an observer has seen — is copied, as a user may change
    ``.grad`` in place.
    """
    if not root.requires_grad:
        raise GradError(
            "backward(): this tensor does not depend on anything that requires a gradient"
        )
    owned: set[int] = set()  # ids of tensors whose pending gradient only the engine holds
    if upstream is None:
        if root.data.size != 1:
            raise GradError(
                f"backward(): the tensor has shape {root.data.shape}; gradients are implicit "
                "only for a scalar — pass backward(gradient) with an array of that shape"
            )
        upstream = np.array(1, dtype=root.data.dtype)  # np.ones, minus its Python wrapper
        if root.data.shape != ():
            upstream = upstream.reshape(root.data.shape)
        owned.add(id(root))
    else:
        upstream = np.asarray(upstream, dtype=root.data.dtype)
        if upstream.shape != root.data.shape:
            raise GradError(
                f"backward(gradient): expected shape {root.data.shape}, got {upstream.shape}"
            )
    if root._node is None:
        root._accumulate_grad(upstream, owned=bool(owned))
        return

    pending: dict[int, np.ndarray] = {id(root): upstream}
    heap: list[tuple[int, Tensor]] = [(-root._node.seq, root)]  # seq is unique: no ties
    leaves: list[Tensor] = []
    pop, push = heapq.heappop, heapq.heappush
    while heap:
        tensor = pop(heap)[1]
        grad = pending.pop(id(tensor))
        if tensor._retains_grad:
            tensor._accumulate_grad(grad)
        node = tensor._node
        inputs, out = node.inputs, tensor.data
        datas = [t.data for t in inputs]
        input_grads = node.prim.vjp_all(grad, out, [t.requires_grad for t in inputs], *datas,
                                        **node.params)
        passed = list(input_grads) if observer is not None else None
        for i, (parent, g) in enumerate(zip(inputs, input_grads)):
            if g is None:
                continue
            shape = parent.data.shape
            fresh = True  # a new array only the engine holds (a sum, a scalar made an array)
            if type(g) is not np.ndarray:  # a NumPy scalar from a 0-d product
                g = np.asarray(g)
                if g.shape != shape:
                    g = unbroadcast(g, shape, node.prim.name, i)
            elif g.shape != shape:
                g = unbroadcast(g, shape, node.prim.name, i)
            elif parent._node is None:  # only a leaf keeps the array, so only a leaf asks
                # not the upstream, an operand or the output passed through, nor a view
                fresh = g.base is None and g is not grad and g is not out
                for data in datas:
                    fresh = fresh and g is not data
            if passed is not None:
                passed[i] = g
            key = id(parent)
            if key in pending:
                pending[key] = pending[key] + g
                owned.add(key)
            elif parent._node is None:
                pending[key] = g
                leaves.append(parent)
                if fresh:
                    owned.add(key)
            else:
                pending[key] = g
                push(heap, (-parent._node.seq, parent))
        if observer is not None:
            observer(BackwardStep(tensor, node, grad, tuple(passed)))
    if observer is not None:
        owned.clear()  # the observer has seen these arrays: .grad gets copies
    for leaf in leaves:
        key = id(leaf)
        leaf._accumulate_grad(pending[key], owned=key in owned)
