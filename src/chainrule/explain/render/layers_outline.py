"""The format-neutral outline of a layer trace's step, which every layer renderer walks
(:mod:`chainrule.explain.render.layers`, :mod:`chainrule.explain.render.layers_latex`)."""

from __future__ import annotations

import numpy as np

from chainrule.explain.numfmt import Precision, number, rounding_note


def _n(value: float, precision: Precision) -> str:
    return number(value, precision)


def _update_rows(step, precision: Precision) -> list[list[str]]:
    rows = []
    for name, before in step.parameters.items():
        grad, after = step.gradients[name], step.updated[name]
        order = np.argsort(-np.abs(grad).reshape(-1), kind="stable")[:3]
        for flat in order:
            index = np.unravel_index(int(flat), before.shape)
            rows.append([f"{name}[{','.join(map(str, index))}]", _n(before[index], precision),
                         _n(grad[index], precision), _n(after[index], precision)])
    return rows


def sections(trace, precision: Precision, only: str | None):
    """(heading, kind, payload) in order: the format-neutral outline every renderer walks."""
    spec = trace.spec
    yield "h1", f"{spec.name}: one training step, layer by layer", None
    if spec.description:
        yield "p", spec.description, None
    n = spec.inputs.shape[0] if spec.batched else 1
    yield "p", (f"Input {list(spec.input_shape)} per example, {n} example(s); loss "
                f"{spec.loss}; learning rate η = {spec.learning_rate:g}; numbers "
                f"{rounding_note(precision)} (computed in float64)."), None
    yield "table", "Layers", (["layer", "module", "output per example", "parameters"],
                              [list(map(str, row)) for row in trace.shapes])
    for step in trace.steps:
        if len(trace.steps) > 1:
            yield "h2", f"Step {step.number}", None
        if only in (None, "forward"):
            yield "h2", "Forward pass", None
            for layer in step.layers:
                value = layer.value
                yield "p", (f"{layer.path} {layer.description}: output {tuple(value.shape)} "
                            f"for the batch, min {_n(value.min(), precision)}, max "
                            f"{_n(value.max(), precision)}"), None
            yield "eq", "", [f"E = {_n(step.loss, precision)}", *step.loss_note]
        if only in (None, "backward"):
            yield "h2", "Backward pass, from the output down", None
            for layer in reversed(step.layers):
                yield "h3", f"{layer.path}: {layer.description}", layer
                for piece in layer.pieces:
                    yield piece.kind, piece.title, piece
        if only in (None, "update"):
            yield "h2", "Update: θ ← θ − η·∂E/∂θ (the three largest gradients of each)", None
            yield "table", "", (["parameter", "before", "∂E/∂θ", "after"],
                                _update_rows(step, precision))
            yield "eq", "", [f"E after the update = {_n(step.loss_after, precision)} "
                             f"(before: {_n(step.loss, precision)})"]
