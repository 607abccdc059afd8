"""What a CS231n-style layer function is to ``verify --layer``: how it is called, what it
returns, its truth (the engine's) and its known mistakes. The tables are
:mod:`chainrule.verify.layer_functions` (affine, relu, the losses) and
:mod:`chainrule.verify.layer_functions_cnn` (convolution, pooling, batch norm, dropout)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from chainrule.frozen import Frozen


@dataclass(eq=False)
class LayerMistake(Frozen):
    id: str
    title: str
    output: str  # the output it changes
    # (truth, inputs) → the mistaken output; NaN where the mistake does not explain it
    compute: Callable[[dict[str, np.ndarray], dict[str, Any]], np.ndarray]


@dataclass(eq=False)
class LayerFunction(Frozen):
    """One function: how it is called, what it returns, its truth and its known mistakes.

    ``truth(inputs)`` runs after the call: for a backward pass given its own forward pass's
    cache (``forward``), ``inputs["returned"]`` holds that forward output (``forward.out``)
    and the outputs judged, so a random forward pass (dropout's mask) is judged on the mask
    it drew. A truth may add ``"note.<output>"``: one line the report prints under it."""

    name: str
    arguments: tuple[str, ...]  # as passed: "cache" is a tuple of the inputs named in cache
    cache: tuple[str, ...]
    returns: tuple[str, ...]  # the outputs judged, in the order returned
    truth: Callable[[dict[str, Any]], dict[str, np.ndarray]]
    mistakes: tuple[LayerMistake, ...] = ()
    scores: bool = False  # x is a score matrix (N, C), not an affine layer's input (N, d₁, …)
    # its own inputs, drawn from a Generator (else the affine layers' shared ones)
    draw: Callable[[np.random.Generator], dict[str, Any]] | None = None
    # (the forward function, its arguments): the backward pass is called with its
    # arguments and then the cache this forward function returns, as CS231n's solver does
    forward: tuple[str, tuple[str, ...]] | None = None

    def inputs(self, drawn: dict[str, Any]) -> dict[str, Any]:
        """The drawn inputs as this function's arguments name them."""
        return {**drawn, "x": drawn["scores"]} if self.scores else dict(drawn)


def tensor(value: np.ndarray):
    from chainrule.autodiff.tensor import Tensor

    return Tensor(np.array(value, dtype=float))
