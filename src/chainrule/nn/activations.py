"""Activation functions, by name as a network spec names them.

Each maps a tensor to a tensor through one primitive (or none, for ``identity``), so an
explanation shows a single step with its derivative rule from :mod:`chainrule.ops`.
"""

from __future__ import annotations

import difflib
from typing import Callable

from chainrule.errors import SpecError
from chainrule.tensor import Tensor

Activation = Callable[[Tensor], Tensor]

LEAKY_RELU_SLOPE = 0.01


def sigmoid(z: Tensor) -> Tensor:
    return z.sigmoid()


def tanh(z: Tensor) -> Tensor:
    return z.tanh()


def relu(z: Tensor) -> Tensor:
    return z.relu()


def leaky_relu(z: Tensor, slope: float = LEAKY_RELU_SLOPE) -> Tensor:
    return z.leaky_relu(slope)


def softmax(z: Tensor, axis: int = -1) -> Tensor:
    """Over the last axis: the units of one example."""
    return z.softmax(axis)


def identity(z: Tensor) -> Tensor:
    return z


ACTIVATIONS: dict[str, Activation] = {
    f.__name__: f for f in (sigmoid, tanh, relu, leaky_relu, softmax, identity)
}


def get_activation(name: str) -> Activation:
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise SpecError(unknown_name_message("activation", name, ACTIVATIONS)) from None


def unknown_name_message(kind: str, name: object, known: dict) -> str:
    """`unknown activation 'sigmod' (did you mean 'sigmoid'?); expected one of: ...`"""
    text = repr(name)
    if len(text) > 60:  # quote a pasted megabyte as its start, not whole
        text = text[:59] + "…"
    close = difflib.get_close_matches(str(name)[:100], list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {kind} {text}{hint}; expected one of: {', '.join(known)}"
