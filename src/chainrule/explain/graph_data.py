"""The recorded graph of one scalar computation, as plain data (schema ``chainrule.graph/1``).

:func:`chainrule.explain.graph.explain_graph` fills these in; renderers read them and never call the
engine. Every array is a NumPy array here and nested lists (non-finite numbers as null) in
the JSON form. The JSON is described in docs/graph-schema.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from chainrule.frozen import Frozen
from chainrule import display
from chainrule.errors import ChainruleError
from chainrule.explain.graph_formula import Bound, plugged, writes_number
from chainrule.explain.notation import Symbol

SCHEMA = "chainrule.graph/1"


def partial(top: str, top_latex: str, of: str, of_latex: str) -> Symbol:
    """∂top/∂of, in text and (as a fraction) in LaTeX."""
    return Symbol(f"∂{top}/∂{of}", rf"\frac{{\partial {top_latex}}}{{\partial {of_latex}}}")


class Formula(NamedTuple):
    """One table formula bound to a node, in text and in LaTeX."""

    text: Bound
    latex: Bound

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text.with_names(), "numbers": self.text.with_numbers(),
                "latex": self.latex.with_names(), "latex_numbers": self.latex.with_numbers()}


@dataclass(slots=True, eq=False)  # arrays: no elementwise ==
class Local(Frozen):
    """∂node/∂input for one input (``slot``) of a node: the table's derivative for it.

    ``kind`` "derivative": node and input are scalars, ``value`` is the number ∂node/∂input.
    ``kind`` "vjp": one of them is not a scalar; there is no single number, and ``value`` is
    what the table's rule passed along this edge, the vector-Jacobian product g·J with g the
    upstream gradient ∂output/∂node (None if no gradient reached the node).
    """

    input: str
    slot: int
    kind: str
    symbol: Symbol  # ∂node/∂input
    expression: Formula
    value: np.ndarray | None

    def sides(self, precision: int | None = None) -> list[tuple[str, str]]:
        """The right-hand sides of ∂node/∂input = …, as (text, LaTeX): the table's formula
        with names, with numbers, and the value (a vjp: the formula alone)."""
        text, latex = self.expression.text, self.expression.latex
        sides = [(text.with_names(), latex.with_names())]
        if self.kind != "derivative" or self.value is None:
            return sides
        value = float(self.value)
        shown = (_bare(plugged(value, precision)), _bare(plugged(value, precision, True)))
        numbers = text.with_numbers(precision)
        if text.has_operands and numbers is not None:
            sides.append((numbers, latex.with_numbers(precision) or ""))
        if not writes_number(sides[-1][0], shown[0]):
            sides.append(shown)
        return sides

    def text(self, precision: int | None = None) -> str:
        return " = ".join([self.symbol.text] + [t for t, _ in self.sides(precision)])

    def latex(self, precision: int | None = None) -> str:
        return " = ".join([self.symbol.latex] + [t for _, t in self.sides(precision)])

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.input, "slot": self.slot, "kind": self.kind,
                "expression": self.expression.text.with_names(), "formula": self.text(),
                "latex": self.latex(), "value": plain(self.value)}


def _bare(text: str) -> str:
    return text[1:-1] if text.startswith("(") else text


@dataclass(slots=True, eq=False)  # arrays: no elementwise ==
class Term(Frozen):
    """One path's share of a node's gradient: consumer ``consumer`` used the node as its
    input ``slot`` and passed back ``contribution`` = ``upstream`` (∂output/∂consumer) times
    ``local`` (∂consumer/∂node; None for a vector-Jacobian product)."""

    consumer: str
    slot: int
    kind: str
    upstream: np.ndarray
    local: float | None
    contribution: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.consumer, "slot": self.slot, "kind": self.kind,
                "upstream": plain(self.upstream), "local": plain(self.local),
                "contribution": plain(self.contribution)}


@dataclass(slots=True, eq=False)  # arrays: no elementwise ==
class GraphNode(Frozen):
    """A tensor of the graph: an input (a leaf that wants a gradient), a constant, or an op.

    ``grad`` is ∂output/∂node (None for a constant): for an op node the engine's upstream
    gradient at that node, for an input the sum of ``terms`` in the order the engine added
    them, so it is the engine's own number, bit for bit.
    """

    name: str  # unique in the graph; chainrule.explain.graph_names says how it is chosen
    label: str | None  # the name as the user gave it, if any
    kind: str  # "input", "constant" or "op"
    op: str | None
    inputs: tuple[str, ...]
    value: np.ndarray
    grad: np.ndarray | None
    latex_name: str
    forward: Formula | None
    local: tuple[Local, ...]
    terms: tuple[Term, ...]
    params: dict[str, Any] = field(default_factory=dict)  # the op's own: slope, axis, ...

    @property
    def scalar(self) -> bool:
        return self.value.size == 1

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "kind": self.kind, "op": self.op,
                "inputs": list(self.inputs), "shape": list(self.value.shape),
                "value": plain(self.value), "grad": plain(self.grad),
                "latex_name": self.latex_name,
                "forward": None if self.forward is None else self.forward.to_dict(),
                "local": [local.to_dict() for local in self.local],
                "terms": [term.to_dict() for term in self.terms],
                "params": dict(self.params)}


@dataclass(eq=False, repr=False)  # __repr__ below
class GraphTrace(Frozen):
    """Every node of a scalar computation, inputs first, with values, gradients, local
    derivatives and, where a node is used more than once, each path's share."""

    output: str
    nodes: tuple[GraphNode, ...]

    def __getitem__(self, name: str) -> GraphNode:
        for node in self.nodes:
            if node.name == name:
                return node
        known = ", ".join(node.name for node in self.nodes)
        raise ChainruleError(f"graph: no node named {name!r} (the nodes: {known})")

    @property
    def value(self) -> float:
        """The output's value."""
        return float(self[self.output].value.reshape(-1)[0])

    @property
    def gradients(self) -> dict[str, np.ndarray]:
        """∂output/∂node for every node that has one, by name."""
        return {n.name: n.grad for n in self.nodes if n.grad is not None}

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "output": self.output,
                "nodes": [node.to_dict() for node in self.nodes]}

    def to_json(self, indent: int | None = 2) -> str:
        import json

        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def _repr_html_(self) -> str | None:  # Jupyter: the page chainrule.explain.render registers
        return display.shown(self, "html")

    def __repr__(self) -> str:
        return f"GraphTrace(output={self.output!r}, {len(self.nodes)} nodes, value={self.value:g})"


def plain(value: Any) -> Any:
    """A number or nested lists of numbers for JSON; non-finite numbers become null."""
    if value is None:
        return None
    array = np.asarray(value, dtype=float)
    if np.all(np.isfinite(array)):
        return array.tolist()
    return np.where(np.isfinite(array), array, None).tolist()
