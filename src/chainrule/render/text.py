"""The trace as plain, aligned text: forward pass, loss, backward pass, gradients, update."""

from __future__ import annotations

import numpy as np

from chainrule.render.numfmt import DEFAULT_PRECISION, array_lines, number
from chainrule.trace import Trace

LOSS_FORMULAS = {
    "sse": "E = Σₖ (yₖ − tₖ)²",
    "half_sse": "E = ½ Σₖ (yₖ − tₖ)²",
    "mse": "E = meanₖ (yₖ − tₖ)²",
    "bce": "E = meanₖ −[tₖ ln yₖ + (1 − tₖ) ln(1 − yₖ)]",
    "cross_entropy": "E = −Σₖ tₖ ln softmax(z)ₖ",
}


def _rows(label: str, values: np.ndarray, precision: int, width: int) -> list[str]:
    lines = array_lines(values, precision)
    pad = " " * (width + 2)
    return [f"  {label.ljust(width)}{lines[0]}", *(f"{pad}{line}" for line in lines[1:])]


def _section(title: str, items: list[tuple[str, np.ndarray]], precision: int) -> list[str]:
    width = max(len(label) for label, _ in items) + 2
    lines = ["", title, "-" * len(title)]
    for label, values in items:
        lines += _rows(label, values, precision, width)
    return lines


def render_text(trace: Trace, precision: int = DEFAULT_PRECISION) -> str:
    spec = trace.spec
    depth = len(spec.layers) - 1
    activations = (spec.activations[0] if len(set(spec.activations)) == 1
                   else ", ".join(spec.activations))
    batch = f", batch of {len(spec.inputs)}" if spec.batched else ""
    lines = [
        f"{spec.name}: {spec.architecture} network, {activations} activation, loss {spec.loss}"
        f"{batch}, learning rate η = {spec.learning_rate:g}",
        "one step of gradient descent, θ ← θ − η·∂E/∂θ (float64)",
    ]
    forward = [("a0 (input)", trace.forward["a0"])]
    for layer in range(1, depth + 1):
        forward.append((f"z{layer} = a{layer - 1}·W{layer} + b{layer}"
                        if spec.bias != "none" else f"z{layer} = a{layer - 1}·W{layer}",
                        trace.forward[f"z{layer}"]))
        forward.append((f"a{layer} = {spec.activations[layer - 1]}(z{layer})",
                        trace.forward[f"a{layer}"]))
    lines += _section("Forward pass", forward, precision)

    loss_items = [("t (target)", spec.targets)]
    if trace.example_losses is not None:
        loss_items.append(("E per example", trace.example_losses))
    lines += _section("Loss", loss_items, precision)
    mean = " (mean over the batch)" if spec.batched else ""
    lines.append(f"  {LOSS_FORMULAS[spec.loss]}{mean} = {number(trace.loss, precision)}")

    backward = [(f"∂E/∂a{depth}", trace.backward[f"dE_da{depth}"])]
    backward += [(f"δ{layer} = ∂E/∂z{layer}", trace.backward[f"delta{layer}"])
                 for layer in range(depth, 0, -1)]
    lines += _section("Backward pass", backward, precision)
    lines += _section("Gradients", [(f"∂E/∂{name}", grad)
                                    for name, grad in trace.gradients.items()], precision)

    updates = []
    for name, values in trace.updated.items():
        label = f"{name} (frozen)" if name in trace.frozen else f"{name} ← {name} − η·∂E/∂{name}"
        updates.append((label, values))
    lines += _section("Updated parameters", updates, precision)

    change = trace.loss_after - trace.loss
    direction = "lower" if change < 0 else "higher" if change > 0 else "unchanged"
    lines += ["", f"Loss after the update: {number(trace.loss_after, precision)} "
                  f"({direction}: {number(change, precision)})"]
    return "\n".join(lines) + "\n"
