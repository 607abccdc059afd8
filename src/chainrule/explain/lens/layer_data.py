"""The plain data of the layer lens (:mod:`chainrule.explain.lens.layers`): a step's layers,
each with the pieces that explain its backward pass, and the trace that holds the steps (JSON
schema ``chainrule.layers/1``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

SCHEMA = "chainrule.layers/1"


@dataclass(eq=False)
class Piece:
    """One part of a layer's explanation: ``equation`` (lines of math), ``table``
    (``headers`` and ``rows``), ``grid`` (a 2-D array with a title: a feature map, a kernel,
    a gradient) or ``note`` (a sentence)."""

    kind: str
    title: str = ""
    lines: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    array: np.ndarray | None = None
    check: bool | None = None  # for a term-by-term sum: whether it equals the engine's

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "title": self.title}
        if self.lines:
            out["lines"] = self.lines
        if self.headers:
            out["headers"], out["rows"] = self.headers, self.rows
        if self.array is not None:
            out["array"] = _plain(self.array)
        if self.check is not None:
            out["matches_engine"] = self.check
        return out


@dataclass(eq=False)
class LayerRecord:
    """A layer of the step: its path (``3`` or ``2.block.0``), what it is, its output for
    the batch and ∂E/∂output, and the pieces that explain its backward pass."""

    path: str
    type: str
    description: str
    shape: tuple[int, ...]
    value: np.ndarray
    grad: np.ndarray | None
    pieces: list[Piece] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "type": self.type, "description": self.description,
                "shape": list(self.shape), "value": _plain(self.value),
                "grad": None if self.grad is None else _plain(self.grad),
                "pieces": [piece.to_dict() for piece in self.pieces]}


@dataclass(eq=False)
class LayerStepTrace:
    number: int
    input: np.ndarray
    input_grad: np.ndarray | None  # None for token indices (an Embedding's input)
    layers: list[LayerRecord]
    parameters: dict[str, np.ndarray]
    gradients: dict[str, np.ndarray]
    updated: dict[str, np.ndarray]
    loss: float
    loss_after: float
    loss_note: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.number, "input": _plain(self.input),
                "input_grad": None if self.input_grad is None else _plain(self.input_grad),
                "loss": self.loss,
                "loss_after": self.loss_after, "loss_note": self.loss_note,
                "layers": [layer.to_dict() for layer in self.layers],
                "parameters": {k: _plain(v) for k, v in self.parameters.items()},
                "gradients": {k: _plain(v) for k, v in self.gradients.items()},
                "updated": {k: _plain(v) for k, v in self.updated.items()}}


@dataclass(eq=False)
class LayerTrace:
    """Every step of a network of typed layers, with the spec's shape table."""

    spec: Any
    steps: list[LayerStepTrace]
    shapes: list[tuple[str, str, str, int]]

    @property
    def loss(self) -> float:
        return self.steps[0].loss

    @property
    def loss_after(self) -> float:
        return self.steps[0].loss_after

    def to_dict(self) -> dict[str, Any]:
        spec = self.spec
        return {"schema": SCHEMA, "network": {
            "name": spec.name, "description": spec.description,
            "input_shape": list(spec.input_shape), "loss": spec.loss,
            "learning_rate": spec.learning_rate,
            "layers": [{"path": p, "layer": d, "shape": s, "parameters": n}
                       for p, d, s, n in self.shapes]},
            "steps": [step.to_dict() for step in self.steps]}

    def to_json(self, indent: int | None = 2) -> str:
        import json

        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)


def _plain(value: Any) -> Any:
    array = np.asarray(value, dtype=float)
    if np.all(np.isfinite(array)):
        return array.tolist()
    return np.where(np.isfinite(array), array, None).tolist()
