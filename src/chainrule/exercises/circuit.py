"""Level ``circuit``: a small random expression whose every node's value and gradient is asked.

A circuit (as in CS231n's "backprop intuitions" and micrograd's lecture) has 3–4 inputs
(``x``, ``y``, ``z``, ``w``) and 3–6 operations from ``+ − · /``, now and then ``max``,
``exp``, ``sigmoid`` or ``tanh``; every operation is one named statement (``q``, ``r``, …, the
last one ``f``). The exercise's spec is an expression spec file (``expression``, ``at``:
:func:`chainrule.expr.program.load_expression_spec`), and every answer is read off
:func:`chainrule.explain.graph.explain_graph` of the evaluated program: the engine's own numbers.

Questions: every operation's value (``forward.q``), then every node's gradient ∂f/∂node
(``gradients.x``) in backward order; ∂f/∂f = 1 is not asked. The mistakes a student makes on a
circuit are in :mod:`chainrule.verify.circuit_mistakes`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.exercises import checks
from chainrule.verify.circuit_mistakes import mistaken_steps
from chainrule.exercises.levels import label
from chainrule.exercises.model import Exercise, ExerciseError, Question, evaluate_circuit
from chainrule.explain.graph import explain_graph
from chainrule.explain.graph_data import GraphTrace
from chainrule.expr.program import is_expression_spec

INPUTS = ("x", "y", "z", "w")
NAMES = ("q", "r", "s", "t", "u")  # the operations before the last, which is f
OUTPUT = "f"
# (op, arity, weight): how often each is drawn; binary ops are written infix, others called.
OPS = (("+", 2, 3.0), ("-", 2, 2.0), ("*", 2, 3.0), ("/", 2, 1.0), ("max", 2, 1.0),
       ("exp", 1, 0.7), ("sigmoid", 1, 0.7), ("tanh", 1, 0.7))
UNARY_INPUT_RANGE = {"exp": 2.0, "sigmoid": 2.5, "tanh": 2.0}  # |argument| at most
MIN_DENOMINATOR = 0.5  # |b| of a / b at least
MIN_MAX_GAP = 0.2  # |a − b| of max(a, b) at least: no tie, no near tie
MAX_VALUE = 20.0  # every value and gradient at most this in size


def is_circuit(spec: Any) -> bool:
    return is_expression_spec(spec)


def draw(rng: np.random.Generator, number: int, decimals: int, reuse: bool) -> dict[str, Any]:
    """One circuit as an expression spec; ``reuse``: some node is used twice or more."""
    while True:
        inputs = list(INPUTS[:int(rng.integers(3, 5))])
        count = int(rng.integers(3, 7))
        lines, uses = _statements(rng, inputs, count)
        if any(uses[name] == 0 for name in uses if name != OUTPUT):
            continue  # a node that does not reach f
        if reuse and max(uses.values()) < 2:
            continue
        at = {name: _given(rng, decimals) for name in inputs}
        if len({abs(v) for v in at.values()}) == len(at):
            return {"name": f"exercise-{number}", "expression": "\n".join(lines), "at": at}


def _statements(rng: np.random.Generator, inputs: list[str], count: int
                ) -> tuple[list[str], dict[str, int]]:
    uses = {name: 0 for name in inputs}
    weights = np.array([w for _, _, w in OPS])
    lines = []
    for step in range(count):
        op, arity, _ = OPS[int(rng.choice(len(OPS), p=weights / weights.sum()))]
        nodes = list(uses)
        fresh = np.array([4.0 if uses[n] == 0 else 1.0 for n in nodes])
        picked = rng.choice(len(nodes), size=arity, replace=False, p=fresh / fresh.sum())
        operands = [nodes[int(i)] for i in picked]
        for name in operands:
            uses[name] += 1
        name = OUTPUT if step == count - 1 else NAMES[step]
        if arity == 1:
            body = f"{op}({operands[0]})"
        elif op == "max":
            body = f"max({operands[0]}, {operands[1]})"
        else:
            body = f"{operands[0]} {op} {operands[1]}"
        lines.append(f"{name} = {body}")
        uses[name] = 0
    return lines, uses


def _given(rng: np.random.Generator, decimals: int) -> float:
    """±0.2 … ±3.0 in steps of 0.1 (decimals 1) or 0.05 (decimals 2), never 0."""
    step = 0.1 if decimals == 1 else 0.05
    magnitude = int(rng.integers(round(0.2 / step), round(3.0 / step) + 1))
    return round(float(rng.choice((-1, 1)) * magnitude * step), 2)


def trace(spec: dict[str, Any], where: str = "circuit") -> GraphTrace:
    """The graph explanation of a circuit spec; a bad spec is one :class:`ExerciseError`."""
    run = evaluate_circuit(spec, where)
    return explain_graph(run.output, names=run.names)


def correct_step(spec: dict[str, Any]) -> dict[str, float]:
    """Every askable quantity of a circuit: ``forward.<op>`` and ``gradients.<node>``."""
    graph = trace(spec)
    values = {f"forward.{n.name}": float(n.value) for n in graph.nodes if n.kind == "op"}
    values.update({f"gradients.{n.name}": float(n.grad) + 0.0  # -0.0 (max's loser) as 0.0
                   for n in reversed(graph.nodes) if n.name != graph.output})
    return values


def judge(spec: dict[str, Any], precision: int) -> dict[str, float] | str:
    """The asked answers by quantity, or why the circuit is not worth asking."""
    try:
        graph = trace(spec)
    except ExerciseError as error:  # a value that is not finite: 1 / 0, exp of a lot
        return str(error)
    reason = _degenerate(graph)
    if reason:
        return reason
    values = correct_step(spec)
    routed = routed_to_zero(graph)
    reason = checks.answers({k: v for k, v in values.items() if k not in routed}, precision)
    if reason:
        return reason
    gradients = {f"{v:.{precision}f}" for k, v in values.items() if k.startswith("gradients.")}
    if len(gradients) < 2:
        return "every gradient is the same"
    for mistake_id, mistaken in mistaken_steps(graph).items():
        reason = checks.mistake(mistake_id, values, mistaken, precision)
        if reason:
            return reason
    return values


def routed_to_zero(graph: GraphTrace) -> set[str]:
    """The gradients that are 0 because every use of the node is the smaller side of a max:
    max routes its gradient to the larger side, the lesson of the max gate, so such a zero is
    asked (any other zero gradient is degenerate)."""
    by_name = {n.name: n for n in graph.nodes}
    return {f"gradients.{n.name}" for n in graph.nodes
            if n.terms and all(by_name[t.consumer].op == "maximum" and t.local == 0.0
                               for t in n.terms)}


def _degenerate(graph: GraphTrace) -> str | None:
    by_name = {n.name: n for n in graph.nodes}
    for node in graph.nodes:
        args = [float(by_name[i].value) for i in node.inputs]
        if abs(float(node.value)) > MAX_VALUE or abs(float(node.grad)) > MAX_VALUE:
            return f"{node.name} is too large"
        if node.op == "div" and abs(args[1]) < MIN_DENOMINATOR:
            return f"{node.name} divides by {args[1]:.3g}, near 0"
        if node.op == "maximum" and abs(args[0] - args[1]) < MIN_MAX_GAP:
            return f"{node.name} = max of {args[0]:.3g} and {args[1]:.3g}, nearly a tie"
        if node.op in UNARY_INPUT_RANGE and abs(args[0]) > UNARY_INPUT_RANGE[node.op]:
            return f"{node.name} = {node.op} of {args[0]:.3g}, too far out"
    return None


def exercise(number: int, spec: dict[str, Any], values: dict[str, float]) -> Exercise:
    questions = tuple(question(number, i, key, value)
                      for i, (key, value) in enumerate(values.items()))
    return Exercise(number, spec, questions)


def question(number: int, position: int, key: str, value: float) -> Question:
    section, _, name = key.partition(".")
    if section == "forward":
        words = "the output" if name == OUTPUT else "the value of"
        symbol, latex = name, name
        prompt, prompt_latex = f"{words} {name}", f"{words} ${name}$"
    else:
        symbol, latex = f"∂{OUTPUT}/∂{name}", rf"\frac{{\partial {OUTPUT}}}{{\partial {name}}}"
        prompt, prompt_latex = f"the gradient {symbol}", f"the gradient ${latex}$"
    return Question(id=f"{number}.{key}", label=label(number, position), quantity=key,
                    symbol=symbol, latex=latex, prompt=prompt, prompt_latex=prompt_latex,
                    answer=value)


def generate_exercise(number: int, seed: int, decimals: int, precision: int,
                      attempts: int, student: str | None = None) -> Exercise | str:
    """Exercise ``number`` drawn from ``default_rng([seed, number])`` (a student's variant:
    :func:`~chainrule.exercises.roster.entropy`), or the most common reason no draw passed.
    Odd-numbered exercises always reuse a node (a path sum)."""
    from chainrule.exercises.roster import entropy

    rng = np.random.default_rng(entropy(seed, number, student))
    reasons: dict[str, int] = {}
    for _ in range(attempts):
        reuse = number % 2 == 1 or bool(rng.random() < 0.5)
        spec = draw(rng, number, decimals, reuse)
        found = judge(spec, precision)
        if isinstance(found, str):
            reasons[found] = reasons.get(found, 0) + 1
            continue
        return exercise(number, spec, found)
    return max(reasons, key=reasons.__getitem__)


def statements(spec: dict[str, Any]) -> list[str]:
    return [line.strip() for line in spec["expression"].splitlines() if line.strip()]


def given_text(spec: dict[str, Any]) -> str:
    return ", ".join(f"{name} = {value:g}" for name, value in spec["at"].items())
