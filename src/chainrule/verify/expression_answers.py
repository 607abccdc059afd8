"""Judging someone's numbers, or function, for an expression's graph: ``verify --expr ...
--answers FILE`` and ``verify --expr ... --impl file.py:fn``.

The source of truth is the engine's recorded graph (:func:`chainrule.explain.graph.explain_graph` of
:func:`chainrule.expr.program.evaluate`), the same numbers the ``circuit`` exercise level asks for.
Quantities are named as there:

* ``forward.NAME``: the value of node NAME (an operation, an input or a constant);
* ``gradients.NAME``: ∂output/∂NAME, for every node but a constant (``gradients.f`` is 1).

Unnamed nodes are named by op and order (``mul1``, ``add2``, constants ``c1``:
:mod:`chainrule.explain.graph_names`), so ``f = a*b + a`` has ``forward.mul1``. A wrong gradient is
named with the circuit mistake (:mod:`chainrule.verify.circuit_mistakes`) whose own backward
pass gives the same number: a path of a reused node forgotten, the local derivative without
the upstream gradient, ... Written answers are judged at the precision they were written with
(:mod:`chainrule.verify.answers`); a function's at full precision
(:data:`~chainrule.verify.impl.IMPL_TOLERANCE`).

The function, run in the same sandbox as a network's step (:mod:`chainrule.verify.impl`,
docs/security.md), is called as ``fn(values)`` with ``values`` the inputs by name (plain
floats), and returns ``{"forward": {name: number}, "gradients": {name: number}}``, any
subset, at least one number.
"""

from __future__ import annotations

import difflib
from typing import Any, Mapping

import numpy as np

from chainrule.expr.program import Program, evaluate
from chainrule.explain.graph import explain_graph
from chainrule.explain.graph_data import GraphTrace
from chainrule.verify.answers import checked_answers, judge_written
from chainrule.verify.circuit_mistakes import CIRCUIT_MISTAKES, mistaken_steps
from chainrule.verify.impl import (
    ImplError, array_cells, call_sandboxed, judge_returned, parse_target,
)
from chainrule.verify.judging import AnswerReport, Cell, Truth
from chainrule.verify.sandbox import Limits

SECTIONS = ("forward", "gradients")
EXAMPLE = "gradients.x"


def graph_truth(program: Program, at: Mapping[str, float]) -> Truth:
    """Every node's value and gradient, and each applicable circuit mistake's numbers (the
    values a mistake leaves alone are the correct ones)."""
    evaluation = evaluate(program, at)  # names every problem with the program or the values
    graph = explain_graph(evaluation.output, names=evaluation.names)
    inputs = {name: float(at[name]) for name in program.inputs}
    return recorded_truth(graph, _title(program), inputs)


def recorded_truth(graph: GraphTrace, title: str, inputs: dict[str, float]) -> Truth:
    """The :class:`Truth` of a recorded graph: its nodes' values and gradients, and each
    applicable circuit mistake's (a worksheet's circuit is judged by it too)."""
    values = graph_values(graph)
    variants = {mid: (CIRCUIT_MISTAKES[mid], {**values, **_arrays(numbers)})
                for mid, numbers in mistaken_steps(graph).items()}
    return Truth("expression", title, values, variants, inputs)


def graph_values(graph: GraphTrace) -> dict[str, np.ndarray]:
    """``forward.<node>`` for every node, ``gradients.<node>`` for every node with one."""
    values = {f"forward.{n.name}": np.asarray(n.value, dtype=float) for n in graph.nodes}
    values.update({f"gradients.{n.name}": np.asarray(n.grad, dtype=float) + 0.0  # -0.0 → 0.0
                   for n in graph.nodes if n.grad is not None})
    return values


def judge_expression_answers(program: Program, at: Mapping[str, float],
                             answers: Mapping[str, Any],
                             source: str = "answers") -> AnswerReport:
    """Judge written ``answers`` (``{"forward.q": "3", "gradients.x": "-4"}``, or nested) at
    the precision each was written with, and name the circuit mistake behind wrong ones."""
    answers = checked_answers(answers)
    return judge_written(graph_truth(program, at), answers, source, _unknown, EXAMPLE)


def run_expression_impl(program: Program, at: Mapping[str, float], target: str,
                        timeout: float = 10.0, sandbox: str = "auto",
                        limits: Limits = Limits()) -> AnswerReport:
    """Run ``"file.py:fn"`` as ``fn(values)`` in the sandbox and judge what it returns."""
    truth = graph_truth(program, at)  # a bad program or value is refused before anything runs
    path, function = parse_target(target)
    request = {"function": function, "call": "values",
               "values": {name: float(at[name]) for name in program.inputs}}
    returned, level = call_sandboxed(request, path, target, timeout, sandbox, limits)
    return judge_returned(truth, lambda: _cells(truth.values, returned, f"{function}()"),
                          target, level)


def _cells(truth: dict[str, np.ndarray], returned: dict[str, Any], who: str) -> list[Cell]:
    expected = " and/or ".join(f'"{s}"' for s in SECTIONS)
    unknown = [key for key in returned if key not in SECTIONS]
    if unknown:
        raise ImplError(f"{who} returned unknown key \"{unknown[0]}\" (expected {expected}, "
                        f"each a dict {{node: number}})")
    cells: list[Cell] = []
    for section, item in returned.items():
        if "mapping" not in item:
            raise ImplError(f"{who}[\"{section}\"] is a number or an array, expected a dict "
                            f"{{node: number}}")
        for name, value in item["mapping"].items():
            quantity = f"{section}.{name}"
            if quantity not in truth:
                raise ImplError(f"{who}[\"{section}\"][\"{name}\"]: {_unknown(truth, quantity)}")
            cells += array_cells(truth, quantity, value)
    if not cells:
        raise ImplError(f"{who} returned no numbers (expected {expected}, each a dict "
                        f"{{node: number}} with at least one number)")
    return cells


def _unknown(truth: dict[str, np.ndarray], name: str) -> str:
    """What is wrong with a quantity name, with the closest names this graph has."""
    nodes = [key.partition(".")[2] for key in truth if key.startswith("forward.")]
    section, dot, node = name.partition(".")
    if section in SECTIONS and dot and node in nodes:  # gradients.<constant>
        return f"{node} is a constant: it has no gradient (its value is forward.{node})"
    if section in SECTIONS and dot:
        near = difflib.get_close_matches(node, nodes, n=1)
        hint = f" (did you mean \"{section}.{near[0]}\"?)" if near else ""
        return f"no node {node} in this expression{hint}; its nodes: {', '.join(nodes)}"
    near = [f"{s}.{name}" for s in SECTIONS if f"{s}.{name}" in truth]
    near += difflib.get_close_matches(name, list(truth), n=1)
    hint = f" (did you mean \"{near[0]}\"?)" if near else ""
    return f"unknown quantity{hint}; expected forward.<node> or gradients.<node>"


def _arrays(numbers: dict[str, float]) -> dict[str, np.ndarray]:
    return {key: np.asarray(value, dtype=float) for key, value in numbers.items()}


def _title(program: Program) -> str:
    """``q = x + y; f = q * z``: the program on one line, for the report's header."""
    return "; ".join(line.strip() for line in program.text.splitlines() if line.strip())

