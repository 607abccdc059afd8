"""Recorded training steps: every named quantity, as plain data.

A :class:`Trace` is what every renderer and checker reads; renderers never call the engine.
Names are stable (they are the JSON keys of schema ``chainrule.trace/1``, see
docs/trace-schema.md): ``a0`` the input, ``z{l}`` and ``a{l}`` per layer (numbered from 1),
``loss``; in ``backward`` ``dE_da{L}`` and ``delta{l}`` = ∂E/∂z{l}; ``W{l}``, ``b{l}`` for
parameters, gradients and updates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from pathlib import Path

import numpy as np

from chainrule.explain.lens.chain import Factorisation, factorise
from chainrule import display
from chainrule.autodiff.engine import no_grad
from chainrule.explain.graph import explain_graph
from chainrule.explain.graph_data import GraphTrace
from chainrule.finite import NonFiniteError, element, first_non_finite, what_happened
from chainrule.nn.layers import MLP
from chainrule.nn.losses import get_loss, one_hot_target, output_loss
from chainrule.spec.network import Spec, check_explainable, load_spec, parse_spec
from chainrule.autodiff.tensor import Tensor

SCHEMA = "chainrule.trace/1"


@dataclass(repr=False, eq=False)  # arrays; __repr__ below
class Step:
    """The numbers of one gradient-descent step."""

    number: int  # from 1
    parameters: dict[str, np.ndarray]  # before the update
    forward: dict[str, np.ndarray]  # a0, z1, a1, ..., loss
    example_losses: np.ndarray | None  # per-example losses, for a batch
    backward: dict[str, np.ndarray]  # dE_da{L}, delta{L}, ..., delta1
    gradients: dict[str, np.ndarray]
    updated: dict[str, np.ndarray]
    loss_after: float
    chain: Factorisation
    graph: GraphTrace  # the step's recorded graph; the numbers above are read off it

    @property
    def loss(self) -> float:
        return float(self.forward["loss"])

    def __repr__(self) -> str:  # the dataclass's would print every array and chain (12 KB)
        names = ", ".join(self.parameters)
        return (f"Step({self.number}: loss {short_number(self.loss)} → "
                f"{short_number(self.loss_after)}, parameters {names})")

    def to_dict(self) -> dict[str, Any]:
        forward = _plain_dict(self.forward)
        if self.example_losses is not None:
            forward["example_losses"] = _plain(self.example_losses)
        out = {
            "step": self.number,
            "parameters": _plain_dict(self.parameters),
            "forward": forward,
            "backward": _plain_dict(self.backward),
            "gradients": _plain_dict(self.gradients),
            "updated": _plain_dict(self.updated),
            "loss_after": _plain(self.loss_after),
            "deltas": {k: e.to_dict() for k, e in self.chain.deltas.items()},
            "chain": {k: e.to_dict() for k, e in self.chain.parameters.items()},
        }
        if self.chain.omitted:
            out["chain_omitted"] = self.chain.omitted
        return out


def _first(name: str) -> property:
    return property(lambda self: getattr(self.steps[0], name), doc=f"The first step's {name}.")


@dataclass(repr=False, eq=False)  # arrays; __repr__ below
class Trace:
    """One or more recorded steps on one network; the first step's numbers at the top."""

    spec: Spec
    steps: list[Step]

    parameters = _first("parameters")
    forward = _first("forward")
    example_losses = _first("example_losses")
    backward = _first("backward")
    gradients = _first("gradients")
    updated = _first("updated")
    loss_after = _first("loss_after")
    loss = _first("loss")
    chain = _first("chain")
    graph = _first("graph")

    @property
    def frozen(self) -> tuple[str, ...]:
        return self.spec.frozen

    def __repr__(self) -> str:
        """What was explained, in one line: ``Trace(seed: 2-2-1 sigmoid/sse, 1 step, loss
        0.000427 → 0.000420)``; the numbers are in the renderers' output."""
        spec = self.spec
        activations = list(dict.fromkeys(spec.activations))  # "sigmoid" once when all are
        shape = "-".join(map(str, spec.layers))
        batch = f", batch of {len(spec.inputs)}" if spec.batched else ""
        count = len(self.steps)
        return (f"Trace({spec.name}: {shape} {','.join(activations)}/{spec.loss}{batch}, "
                f"{count} step{'s' if count != 1 else ''}, loss {short_number(self.loss)} → "
                f"{short_number(self.steps[-1].loss_after)})")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (schema ``chainrule.trace/1``): numbers as nested lists."""
        spec = self.spec
        first = self.steps[0].to_dict()
        del first["step"]
        out = {"schema": SCHEMA, "network": network_summary(spec, len(self.steps)), **first}
        if len(self.steps) > 1:
            out["steps"] = [step.to_dict() for step in self.steps]
        return out

    def to_json(self, indent: int | None = 2) -> str:
        import json

        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    # Jupyter's display hooks: the page and the Markdown chainrule.explain.render registers
    def _repr_markdown_(self) -> str | None:
        return display.shown(self, "markdown")

    def _repr_html_(self) -> str | None:
        return display.shown(self, "html")


def short_number(value: float) -> str:
    """A number for a one-line repr: six decimals, or three significant digits when those
    would show nothing (1.2e-09) or too much."""
    value = float(value)
    if value == 0 or 1e-4 <= abs(value) < 1e6:
        return f"{value:.6f}"
    return f"{value:.3g}"


def network_summary(spec: Spec, steps: int) -> dict[str, Any]:
    return {
        "name": spec.name, "description": spec.description, "layers": list(spec.layers),
        "activations": list(spec.activations), "loss": spec.loss,
        "learning_rate": spec.learning_rate, "bias": spec.bias, "frozen": list(spec.frozen),
        "optimizer": {"name": spec.optimizer.name, "momentum": spec.optimizer.momentum,
                      "dampening": spec.optimizer.dampening,
                      "nesterov": spec.optimizer.nesterov,
                      "weight_decay": spec.optimizer.weight_decay},
        "batch_size": len(spec.inputs) if spec.batched else None,
        "steps": steps, "init": spec.init, "seed": spec.seed,
        "input": _plain(spec.inputs),
        # class indices stay integers: 2, not 2.0
        "target": (spec.targets.tolist() if spec.targets.dtype.kind in "iu"
                   else _plain(spec.targets)),
    }


def _plain(value: Any) -> Any:
    """Nested lists of floats; a non-finite number becomes null, as JSON has no NaN."""
    array = np.asarray(value, dtype=float)
    if np.all(np.isfinite(array)):
        return array.tolist()
    return np.where(np.isfinite(array), array, None).tolist()


def _plain_dict(values: dict[str, Any]) -> dict[str, Any]:
    return {key: _plain(value) for key, value in values.items()}


def explain(source: Spec | str | Path | dict | MLP | Tensor | Callable | None = None,
            *args: Any, steps: int | None = None, input: Any = None, target: Any = None,
            loss: str | None = None, learning_rate: float | None = None) -> Any:
    """Explain a computation: a network's training step, or any scalar's recorded graph.

    ``source`` is a :class:`Spec`, a spec file path, a built-in network name (the seed
    network by default), a decoded spec ``dict``, or an :class:`MLP` — then ``input``,
    ``target``, ``loss`` and ``learning_rate`` describe the step, and ``steps``
    gradient-descent steps are recorded (the spec's own count by default) as a
    :class:`Trace`. A scalar :class:`Tensor`, or a Python function of tensors with its
    arguments (``explain(f, x, y)``), gives its graph as a
    :class:`chainrule.explain.graph.GraphTrace`.
    """
    if isinstance(source, Tensor) or (callable(source) and not isinstance(source, MLP)):
        from chainrule.explain.graph import explain_function, explain_graph

        given = [k for k, v in (("steps", steps), ("input", input), ("target", target),
                                ("loss", loss), ("learning_rate", learning_rate)) if v is not None]
        if given:
            raise TypeError(f"explain(tensor or function): {', '.join(given)} describe a "
                            f"network's step, not a computation's graph")
        if isinstance(source, Tensor):
            if args:
                raise TypeError("explain(tensor): the graph is already recorded; pass no "
                                "arguments (or explain(function, *arguments))")
            return explain_graph(source)
        return explain_function(source, *args)
    if args:
        raise TypeError("explain(): extra positional arguments are for explain(function, ...)")
    spec = _as_spec(source, input, target, loss, learning_rate)
    if not isinstance(spec, Spec):  # typed layers: the layer lens's LayerTrace
        from chainrule.explain.lens.layers import explain_layers

        return explain_layers(spec, steps=steps)
    check_explainable(spec, steps)
    model = spec.build_model()
    optimizer = spec.optimizer.build(model.parameters(), spec.learning_rate)
    records = [_record(spec, model, optimizer, n) for n in range(1, (steps or spec.steps) + 1)]
    return Trace(spec, records)


def _as_spec(source, input, target, loss, learning_rate) -> Spec:
    if isinstance(source, Spec):
        return source
    if isinstance(source, dict):
        return parse_spec(source)
    if isinstance(source, MLP):
        missing = [k for k, v in (("input", input), ("target", target), ("loss", loss),
                                  ("learning_rate", learning_rate)) if v is None]
        if missing:
            raise TypeError(f"explain(model): also give {', '.join(missing)}")
        batched = np.ndim(input) == 2
        data = {
            "layers": list(source.sizes), "activations": list(source.activations),
            "loss": loss, "learning_rate": learning_rate,
            "weights": [layer.weight.data.tolist() for layer in source.layers],
            "bias": source.layers[0].bias_mode,
            ("inputs" if batched else "input"): np.asarray(input, dtype=float).tolist(),
            ("targets" if batched else "target"): np.asarray(target).tolist(),
        }
        if source.layers[0].bias is not None:
            data["biases"] = [layer.bias.data.tolist() for layer in source.layers]
        frozen = [name for name, p in source.named_parameters() if p.frozen]
        return parse_spec({**data, "frozen": frozen}, default_name="model")
    return load_spec(source)


def _record(spec: Spec, model: MLP, optimizer, number: int) -> Step:
    # float64 overflows silently past 1.8e308 (an identity network of 1e200 weights); every
    # number of the step is then checked, and the first non-finite one stops it, named.
    with np.errstate(all="ignore"):
        step = _computed_step(spec, model, optimizer, number)
    _check_finite(step, len(spec.layers) - 1)
    return step


# What the first non-finite number of each phase suggests, for the one-line error.
_HINTS = {"forward pass": "inputs or weights too large for float64",
          "loss": "the loss is not a finite number at these outputs",
          "backward pass": "gradients too large for float64",
          "update": "the learning rate or the gradients too large for float64"}


def _check_finite(step: Step, depth: int) -> None:
    """Stop at the step's first inf or NaN (forward, loss, backward, update), named.

    ``dE_da{L}`` is left out: after a saturated sigmoid or softmax it is ±inf in truth, shown
    as the textbook factor, while the loss and δᴸ are taken from the logits and stay finite.
    """
    # (phase, [(what comes before the element, its name, what comes after, values)])
    phases = [
        ("forward pass", [("", k, "", v) for k, v in step.forward.items() if k != "loss"]),
        ("loss", [("", "loss", "", step.forward["loss"]),
                  ("", "example losses", "", step.example_losses)]),
        ("backward pass", [("", f"delta{l}", "", step.backward[f"delta{l}"])
                           for l in range(depth, 0, -1)]),
        ("backward pass", [("the gradient of ", k, "", v) for k, v in step.gradients.items()]),
        ("update", [("", k, " after the update", v) for k, v in step.updated.items()]),
        ("loss", [("", "loss", " after the update", step.loss_after)]),
    ]
    for phase, entries in phases:
        for before, name, after, value in entries:
            found = None if value is None else first_non_finite(value)
            if found is None:
                continue
            index, bad = found
            where = "" if step.number == 1 else f" of step {step.number}"
            place = "" if phase == "loss" else f" in the {phase}"
            raise NonFiniteError(f"explain: {before}{element(name, index)}{after} "
                                 f"{what_happened(bad)}{place}{where} ({_HINTS[phase]})",
                                 quantity=name, index=index, value=bad)


def _computed_step(spec: Spec, model: MLP, optimizer, number: int) -> Step:
    """One step, recorded as a graph like any computation; every number of the step is read
    off that graph, and the layer view (:func:`chainrule.explain.lens.chain.factorise`) is a
    lens on it."""
    parameters = model.state_dict()
    steps = model.forward_steps(spec.inputs)
    last = steps[-1]
    example_losses = output_loss(spec.loss, last.z, last.a, spec.activations[-1], spec.targets,
                                 reduction="none")
    loss = example_losses.mean()
    # a{L} is off the loss's path when the loss is taken from the logits: kept all the same
    graph = explain_graph(loss, names={id(loss): "E"}, also=(last.a,))
    node = {n.name: n for n in graph.nodes}
    depth = len(steps)
    forward: dict[str, np.ndarray] = {"a0": np.array(spec.inputs, dtype=float)}
    for index in range(1, depth + 1):
        forward[f"z{index}"] = node[f"z{index}"].value
        forward[f"a{index}"] = node.get(f"a{index}", node[f"z{index}"]).value
    forward["loss"] = node["E"].value
    backward = {f"dE_da{depth}": _dE_da(spec, last, node)}
    for index in range(depth, 0, -1):
        backward[f"delta{index}"] = node[f"z{index}"].grad

    model.zero_grad()
    for name, p in model.named_parameters():  # the graph's gradients are the engine's
        p.grad = node[name].grad.copy()
    gradients = {name: p.grad.copy() for name, p in model.named_parameters()}
    optimizer.step()
    updated = model.state_dict()
    with no_grad():
        after = model.forward_steps(spec.inputs)[-1]
        loss_after = output_loss(spec.loss, after.z, after.a, spec.activations[-1], spec.targets)
    return Step(
        number=number, parameters=parameters, forward=forward,
        example_losses=example_losses.data.copy() if spec.batched else None,
        backward=backward, gradients=gradients, updated=updated,
        loss_after=float(loss_after.data), chain=factorise(graph, spec), graph=graph,
    )


def _dE_da(spec: Spec, last, node: dict) -> np.ndarray:
    """∂E/∂a{L}, from the graph. When the loss was taken from the logits (softmax +
    cross-entropy, sigmoid + bce), a{L} is not on the loss's path (its gradient in the graph
    is 0); it is then the one of the textbook form of the same loss, −Σₖ tₖ ln aₖ or
    bce(a, t), differentiated by the engine at a{L}."""
    depth = len(spec.layers) - 1
    output = node.get(f"a{depth}", node[f"z{depth}"])
    if any(term for term in output.terms):
        return output.grad
    a = Tensor(last.a.data)
    with np.errstate(divide="ignore", invalid="ignore"):  # a saturated unit gives ±inf: true
        if spec.loss == "cross_entropy":
            loss = -(one_hot_target(spec.targets, a) * a.log()).sum(axis=-1).mean()
        else:
            loss = get_loss(spec.loss)(a, spec.targets)
        loss.backward()
    return a.grad
