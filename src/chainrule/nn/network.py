"""A network of typed layers, as a spec file describes it: a :class:`Sequential` that knows
the shape of one example and the activation its output ends with.

What a loss needs of any network is its *head* (:meth:`Network.head`): the output's
pre-activation z, the output a and the name of the activation between them, so that
``cross_entropy`` after a ``Softmax`` is taken from the logits, as for an MLP
(:func:`chainrule.nn.losses.output_loss`). A network whose last layer is not an activation
ends in its logits: z = a, activation ``identity``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ShapeError
from chainrule.nn.layers import Module, as_input
from chainrule.nn.modules import Sequential


class Network(Sequential):
    """``Network(modules, input_shape)``: the modules in turn, on inputs of shape
    (batch, *input_shape); parameters named ``0.weight``, ``0.bias``, … as in PyTorch.
    ``description`` is the plain data it was built from (a spec's ``layers``), which a
    checkpoint stores to rebuild it."""

    def __init__(self, modules: Sequence[Module], input_shape: Sequence[int], *,
                 dtype: Any = np.float64, description: Any = None) -> None:
        super().__init__(*modules)
        self.input_shape = tuple(int(n) for n in input_shape)
        self.dtype = np.dtype(dtype)
        self.description = description
        self.shapes = []  # each module's output shape, per example
        shape = self.input_shape
        for module in self.modules:
            shape = module.out_shape(shape)
            self.shapes.append(shape)
        if len(shape) not in (1, 2):
            raise ShapeError(f"the network's output has shape {shape} per example; a loss "
                             f"needs one value per output unit (end with Flatten and Linear), "
                             f"or for a sequence one row per position (L, outputs)")
        self.output_size = shape[-1]

    @property
    def activation(self) -> str:
        """The output's activation (``identity`` when the last layer is not one)."""
        return getattr(self.modules[-1], "table_name", "") or "identity"

    def head(self, x: Any, *, fused: bool = False) -> tuple[Tensor, Tensor, str]:
        """(z, a, activation) of the output for the batch ``x`` (batch, *input_shape)."""
        x = as_input(x, self.dtype)
        if x.shape[1:] != self.input_shape or x.ndim < 2:
            raise ShapeError(f"input: expected shape (batch, {', '.join(map(str, self.input_shape))})"
                             f", got {x.shape}")
        ends_in_activation = self.activation != "identity"
        z = x
        for module in self.modules[:-1] if ends_in_activation else self.modules:
            z = module(z)
        return z, (self.modules[-1](z) if ends_in_activation else z), self.activation
