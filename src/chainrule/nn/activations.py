"""Activation functions, by name as a network spec names them, built from
:data:`chainrule.tables.activations.ACTIVATION_TABLE`.

Each maps a tensor to a tensor through one primitive (or none, for ``identity``), so an
explanation shows a single step with its derivative rule from :mod:`chainrule.autodiff.ops`.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from chainrule.tables.activations import ACTIVATION_TABLE, LEAKY_RELU_SLOPE  # noqa: F401
from chainrule.errors import SpecError
from chainrule.autodiff.ops import PRIMITIVES
from chainrule.autodiff.tensor import Tensor, apply

Activation = Callable[[Tensor], Tensor]


def _activation(name: str) -> Activation:
    """The function of the table's entry: its primitive with the entry's parameters (softmax:
    over the last axis, the units of one example), or the tensor itself for the identity."""
    entry = ACTIVATION_TABLE[name]
    if entry.primitive is None:
        def activation(z: Tensor) -> Tensor:
            return z
    else:
        primitive = entry.primitive
        params = dict(entry.params) if entry.elementwise else {**entry.params, "axis": -1}

        def activation(z: Tensor) -> Tensor:
            # looked up at each call, as Tensor's methods do: the table of primitives is the
            # engine's, and a replaced entry (a test's wrong rule) must be the one that runs
            return apply(PRIMITIVES[primitive], z, **params)
    activation.__name__ = activation.__qualname__ = name
    activation.__doc__ = entry.text(entry.definition)
    return activation


ACTIVATIONS: dict[str, Activation] = {name: _activation(name) for name in ACTIVATION_TABLE}


def get_activation(name: str) -> Activation:
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise SpecError(unknown_name_message("activation", name, ACTIVATIONS)) from None


def unknown_name_message(kind: str, name: object, known: Mapping[str, Any]) -> str:
    """`unknown activation 'sigmod' (did you mean 'sigmoid'?); expected one of: ...`"""
    text = repr(name)
    if len(text) > 60:  # quote a pasted megabyte as its start, not whole
        text = text[:59] + "…"
    import difflib  # only for the error: explain's start-up goes without it

    close = difflib.get_close_matches(str(name)[:100], list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {kind} {text}{hint}; expected one of: {', '.join(known)}"
