"""The known mistakes of backpropagating a circuit by hand, each a whole alternative backward
pass over the recorded graph (:func:`chainrule.explain.graph.explain_graph`).

The forward values are the engine's; the backward pass is redone, node by node in reverse
topological order, with one rule changed. ∂f/∂f = 1 stays. Each node's gradient is, correctly,
the sum over its uses of upstream × local (``GraphNode.terms``); a mistake changes one part:

* ``missing_path``: a node used twice gets only the share of the use reached first going
  backward (its later use in the program), the other path forgotten;
* ``missing_path_other``: the same, keeping only the share of its earlier use;
* ``local_without_upstream``: the local derivative alone, not times the upstream gradient;
* ``value_for_gradient``: the consumer's value used where its gradient belongs;
* ``sign_slip_sub_div``: the sign of ∂(a − b)/∂b or ∂(a / b)/∂b dropped.

A mistake that cannot be made on a circuit (no reused node, no ``-`` or ``/``) is left out.

The catalogue lives in ``verify`` (not ``exercises``) because both read it: ``verify --expr
--answers/--impl`` names these mistakes, and exercises grade circuits with them; exercises
import verify, never the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from chainrule.frozen import Frozen
from chainrule.explain.graph_data import GraphNode, GraphTrace


@dataclass(unsafe_hash=True)
class CircuitMistake(Frozen):
    id: str
    title: str
    explanation: str
    formula: str  # the changed rule, for reports (a network Mistake has one too)


CIRCUIT_MISTAKES: dict[str, CircuitMistake] = {m.id: m for m in (
    CircuitMistake("missing_path", "a path of a reused node forgotten",
                   "A node used twice gets the sum of both paths' shares, upstream × local for "
                   "each use; only the share of its later use was kept.",
                   "∂f/∂n = upstream × local of n's later use only"),
    CircuitMistake("missing_path_other", "a path of a reused node forgotten (the other one)",
                   "A node used twice gets the sum of both paths' shares, upstream × local for "
                   "each use; only the share of its first use was kept.",
                   "∂f/∂n = upstream × local of n's first use only"),
    CircuitMistake("local_without_upstream", "the local derivative without the upstream "
                   "gradient",
                   "The chain rule multiplies each local derivative by the gradient flowing "
                   "into that node from above (∂f/∂consumer); the local derivative alone was "
                   "taken.",
                   "∂f/∂n = Σ over uses of local"),
    CircuitMistake("value_for_gradient", "the value instead of the gradient",
                   "The upstream factor is the consumer's gradient ∂f/∂consumer, not its "
                   "forward value.",
                   "∂f/∂n = Σ over uses of value(consumer) × local"),
    CircuitMistake("sign_slip_sub_div", "a sign slip in − or /",
                   "∂(a − b)/∂b = −1 and ∂(a / b)/∂b = −a/b²: the minus sign was dropped.",
                   "∂(a − b)/∂b = +1, ∂(a / b)/∂b = +a/b²"),
)}

# A term's share under a mistake: (term index, term count, upstream gradient, upstream value,
# local derivative, op of the consumer, input slot) → share, or None to leave the term out.
Share = Callable[[int, int, float, float, float, str, int], "float | None"]


def _correct(i, n, grad, value, local, op, slot):
    return grad * local


def _later_only(i, n, grad, value, local, op, slot):
    return grad * local if i == 0 else None


def _earlier_only(i, n, grad, value, local, op, slot):
    return grad * local if i == n - 1 else None


def _local_only(i, n, grad, value, local, op, slot):
    return local


def _value_for_gradient(i, n, grad, value, local, op, slot):
    return value * local


def _sign_slip(i, n, grad, value, local, op, slot):
    return -grad * local if op in ("sub", "div") and slot == 1 else grad * local


SHARES: dict[str, Share] = {
    "missing_path": _later_only, "missing_path_other": _earlier_only,
    "local_without_upstream": _local_only, "value_for_gradient": _value_for_gradient,
    "sign_slip_sub_div": _sign_slip,
}


def applies(mistake_id: str, graph: GraphTrace) -> bool:
    if mistake_id.startswith("missing_path"):
        return any(len(node.terms) >= 2 for node in graph.nodes)
    if mistake_id == "sign_slip_sub_div":
        return any(node.op in ("sub", "div") for node in graph.nodes)
    return True


def backward(graph: GraphTrace, share: Share) -> dict[str, float]:
    """Every node's gradient (``gradients.<name>``) by ``share``; the output's is 1."""
    by_name: dict[str, GraphNode] = {n.name: n for n in graph.nodes}
    grads: dict[str, float] = {graph.output: 1.0}
    for node in reversed(graph.nodes):
        if node.name == graph.output:
            continue
        total = 0.0
        for i, term in enumerate(node.terms):
            consumer = by_name[term.consumer]
            part = share(i, len(node.terms), grads[consumer.name], float(consumer.value),
                         float(term.local), consumer.op or "", term.slot)
            total += 0.0 if part is None else part
        grads[node.name] = total
    return {f"gradients.{name}": grad for name, grad in grads.items()
            if name != graph.output}


def mistaken_steps(graph: GraphTrace) -> dict[str, dict[str, float]]:
    """Each applicable mistake's answers: the forward values as they are, its gradients."""
    forward = {f"forward.{n.name}": float(n.value) for n in graph.nodes if n.kind == "op"}
    return {mistake_id: {**forward, **backward(graph, share)}
            for mistake_id, share in SHARES.items() if applies(mistake_id, graph)}
