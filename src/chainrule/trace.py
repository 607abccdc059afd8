"""One recorded training step: every named quantity, as plain data.

A :class:`Trace` is what every renderer and checker reads; it never calls the engine again.
Names are stable (they are the JSON keys of schema ``chainrule.trace/1``): ``a0`` the input,
``z{l}`` and ``a{l}`` per layer (numbered from 1), ``loss``; in ``backward`` ``dE_da{L}`` and
``delta{l}`` = ∂E/∂z{l}; ``W{l}``, ``b{l}`` for gradients and updated parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.engine import no_grad
from chainrule.nn.losses import get_loss, one_hot_target, output_loss
from chainrule.optim import SGD
from chainrule.spec import Spec, load_spec
from chainrule.tensor import Tensor

SCHEMA = "chainrule.trace/1"


@dataclass
class Trace:
    """The numbers of one gradient-descent step on one network."""

    spec: Spec
    forward: dict[str, np.ndarray]  # a0, z1, a1, ..., loss
    example_losses: np.ndarray | None  # per-example losses, for a batch
    backward: dict[str, np.ndarray]  # dE_da{L}, delta{L}, ..., delta1
    parameters: dict[str, np.ndarray]  # before the update
    gradients: dict[str, np.ndarray]
    updated: dict[str, np.ndarray]
    loss_after: float
    frozen: tuple[str, ...] = field(default=())

    @property
    def loss(self) -> float:
        return float(self.forward["loss"])

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (schema ``chainrule.trace/1``): numbers as nested lists."""
        spec = self.spec
        forward = {key: _plain(value) for key, value in self.forward.items()}
        if self.example_losses is not None:
            forward["example_losses"] = _plain(self.example_losses)
        return {
            "schema": SCHEMA,
            "network": {
                "name": spec.name, "layers": list(spec.layers),
                "activations": list(spec.activations), "loss": spec.loss,
                "learning_rate": spec.learning_rate, "bias": spec.bias,
                "frozen": list(self.frozen), "batch_size": len(spec.inputs) if spec.batched else None,
            },
            "parameters": {key: _plain(value) for key, value in self.parameters.items()},
            "forward": forward,
            "backward": {key: _plain(value) for key, value in self.backward.items()},
            "gradients": {key: _plain(value) for key, value in self.gradients.items()},
            "updated": {key: _plain(value) for key, value in self.updated.items()},
            "loss_after": self.loss_after,
        }

    def to_json(self, indent: int | None = 2) -> str:
        import json

        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)


def _plain(value: np.ndarray) -> Any:
    """Nested lists of floats; a non-finite number becomes null, as JSON has no NaN."""
    array = np.asarray(value, dtype=float)
    if np.all(np.isfinite(array)):
        return array.tolist()
    return np.where(np.isfinite(array), array, None).tolist()


def explain(spec: Spec | str | None = None) -> Trace:
    """Run one forward pass, backward pass and SGD update on ``spec`` (a Spec, a spec file or a
    built-in name; the seed network by default), recording every number."""
    if not isinstance(spec, Spec):
        spec = load_spec(spec)
    model = spec.build_model()
    parameters = model.state_dict()
    steps = model.forward_steps(spec.inputs)
    for values in steps:
        values.z.retain_grad()
        values.a.retain_grad()
    last = steps[-1]
    example_losses = output_loss(spec.loss, last.z, last.a, spec.activations[-1], spec.targets,
                                 reduction="none")
    loss = example_losses.mean()
    loss.backward()

    forward: dict[str, np.ndarray] = {"a0": spec.inputs.copy()}
    for index, values in enumerate(steps, 1):
        forward[f"z{index}"] = values.z.data.copy()
        forward[f"a{index}"] = values.a.data.copy()
    forward["loss"] = np.asarray(loss.data).copy()

    depth = len(steps)
    backward = {f"dE_da{depth}": _dE_da(spec, last)}
    for index in range(depth, 0, -1):
        backward[f"delta{index}"] = steps[index - 1].z.grad.copy()

    gradients = {name: p.grad.copy() for name, p in model.named_parameters()}
    SGD(model.parameters(), lr=spec.learning_rate).step()
    updated = model.state_dict()
    with no_grad():
        last_after = model.forward_steps(spec.inputs)[-1]
        loss_after = output_loss(spec.loss, last_after.z, last_after.a, spec.activations[-1],
                                 spec.targets)
    return Trace(
        spec=spec, forward=forward,
        example_losses=example_losses.data.copy() if spec.batched else None,
        backward=backward, parameters=parameters, gradients=gradients, updated=updated,
        loss_after=float(loss_after.data), frozen=spec.frozen,
    )


def _dE_da(spec: Spec, last) -> np.ndarray:
    """∂E/∂a{L}. When the loss was taken from the logits (softmax + cross-entropy, sigmoid +
    bce), a{L} is not on the loss's path; its gradient is then the one of the textbook form
    of the same loss, −Σₖ tₖ ln aₖ or bce(a, t), differentiated by the engine at a{L}."""
    if last.a.grad is not None:
        return last.a.grad.copy()
    a = Tensor(last.a.data)
    with np.errstate(divide="ignore", invalid="ignore"):  # a saturated unit gives ±inf: true
        if spec.loss == "cross_entropy":
            loss = -(one_hot_target(spec.targets, a) * a.log()).sum(axis=-1).mean()
        else:
            loss = get_loss(spec.loss)(a, spec.targets)
        loss.backward()
    return a.grad
