"""Reverse-mode automatic differentiation over the primitive table.

The engine knows nodes, not tensors' surface: a node is a primitive applied to input tensors
with some parameters. ``backward`` walks the recorded graph once in reverse topological
order, calls each input's vjp rule, sums gradients back to each input's shape in exactly one
place (:func:`unbroadcast`) and accumulates them where several uses of a tensor meet.

It never prints. Whoever wants to watch — the explain layer, a debugger — passes an
``observer`` and is told about every step.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from chainrule.errors import GradError
from chainrule.ops import Primitive

if TYPE_CHECKING:
    from chainrule.tensor import Tensor

_grad_enabled = True


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


@dataclass(frozen=True, slots=True)
class Node:
    """How a tensor was made: ``prim(*inputs, **params)``."""

    prim: Primitive
    inputs: tuple["Tensor", ...]
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BackwardStep:
    """What an observer is told for each node: its upstream gradient and what it passed on."""

    tensor: "Tensor"
    node: Node
    upstream: np.ndarray
    input_grads: tuple[np.ndarray | None, ...]  # already summed back to each input's shape


Observer = Callable[[BackwardStep], None]


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a gradient over the axes along which an operand of ``shape`` was broadcast."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return np.reshape(grad, shape)


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
    """Accumulate ∂root/∂t into ``t.grad`` for every leaf ``t`` (and retained non-leaf)."""
    if not root.requires_grad:
        raise GradError(
            "backward(): this tensor does not depend on anything that requires a gradient"
        )
    if upstream is None:
        if root.data.size != 1:
            raise GradError(
                f"backward(): the tensor has shape {root.data.shape}; gradients are implicit "
                "only for a scalar — pass backward(gradient) with an array of that shape"
            )
        upstream = np.ones_like(root.data)
    else:
        upstream = np.asarray(upstream, dtype=root.data.dtype)
        if upstream.shape != root.data.shape:
            raise GradError(
                f"backward(gradient): expected shape {root.data.shape}, got {upstream.shape}"
            )

    pending: dict[int, np.ndarray] = {id(root): upstream}
    for tensor in reversed(topological_order(root)):
        grad = pending.pop(id(tensor))
        node = tensor._node
        if node is None or tensor._retains_grad:
            tensor._accumulate_grad(grad)
        if node is None:
            continue
        datas = [t.data for t in node.inputs]
        input_grads: list[np.ndarray | None] = []
        for i, parent in enumerate(node.inputs):
            if not parent.requires_grad:
                input_grads.append(None)
                continue
            g = node.prim.vjps[i](grad, tensor.data, *datas, **node.params)
            g = unbroadcast(np.asarray(g), parent.data.shape)
            input_grads.append(g)
            key = id(parent)
            pending[key] = g if key not in pending else pending[key] + g
        if observer is not None:
            observer(BackwardStep(tensor, node, grad, tuple(input_grads)))
