"""A ``chainrule.graph/1`` trace checked and resolved into what the graph page draws.

The trace lists nodes in topological order; an input names an earlier node (by ``id`` where
nodes have one, else by name, the latest node of that name: a reassigned name). Resolving
gives every wire an explicit source and target, pairs it with its local derivative, and
computes its path contribution, ∂out/∂consumer · ∂consumer/∂input, from the trace's own
numbers, so the page shows each term of a reused node's sum instead of trusting one total.

A node's value and gradient may be arrays (a network's layers): nested lists, at most
:data:`MAX_ELEMENTS` numbers in the whole graph. A wire into an array has no single local
derivative (``kind`` "vjp"): its contribution is the vector-Jacobian product the trace
records for that use (the node's ``terms``), and a path sum is the elementwise sum.
"""

from __future__ import annotations

import math
import re
from numbers import Real
from typing import Any

from chainrule.errors import ChainruleError
from chainrule.explain.graph_data import plain
from chainrule.autodiff.op_table import PRIMITIVES

SCHEMA = "chainrule.graph/1"
MAX_ELEMENTS = 50_000  # numbers of values and gradients in one page: what a browser lays out
_OPERAND = re.compile(r"(?<![A-Za-zα-ω])([xy])(?![A-Za-zα-ω])")
_INFIX = re.compile(r"^x (\S{1,2}) y$")
_CALL = re.compile(r"^(\S{1,8}?)\(x\)$")


def resolve(graph: Any) -> dict[str, Any]:
    """The page's data: nodes and edges with indices, numbers JSON-safe (non-finite: None)."""
    if not isinstance(graph, dict):
        raise ChainruleError(f"graph: expected a {SCHEMA} dict, got {type(graph).__name__}")
    if graph.get("schema") != SCHEMA:
        raise ChainruleError(f"graph: expected schema {SCHEMA!r}, got {graph.get('schema')!r}")
    raw = graph.get("nodes")
    if not isinstance(raw, list) or not raw:
        raise ChainruleError("graph.nodes: expected a non-empty list of nodes")
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    by_id: dict[Any, int] = {}
    by_name: dict[str, int] = {}
    for index, item in enumerate(raw):
        node = _node(item, index)
        where = f"graph.nodes[{index}] ({node['name']!r})"
        sources = [_source(ref, by_id, by_name, where) for ref in node.pop("refs")]
        locals_ = _pair_locals(item.get("local") or [], node["input_names"], where)
        for slot, (source, local) in enumerate(zip(sources, locals_)):
            edge = {"source": source, "target": index, "slot": slot, **local}
            node["in_edges"].append(len(edges))
            nodes[source]["out_edges"].append(len(edges))
            edges.append(edge)
        nodes.append(node)
        if "id" in item:
            by_id[item["id"]] = index
        by_name[node["name"]] = index
    output = _output(graph.get("output"), by_id, by_name, len(nodes))
    _check_size(nodes)
    for edge in edges:
        upstream, local = nodes[edge["target"]]["grad"], edge["local"]
        if isinstance(upstream, float) and isinstance(local, float):
            edge["contribution"] = _finite(upstream * local)
        else:  # an array on either side: what the trace says went back along this use
            recorded = nodes[edge["source"]]["recorded"].get(
                (nodes[edge["target"]]["name"], edge["slot"]))
            edge["contribution"] = recorded
    for node in nodes:
        terms = [edges[k]["contribution"] for k in node["out_edges"]]
        node["path_sum"] = _path_sum(terms)
        node["sum_differs"] = _differs(node["path_sum"], node["grad"])
        node.pop("input_names")
        node.pop("recorded")
    return {"output": output, "nodes": nodes, "edges": edges}


def _check_size(nodes: list[dict[str, Any]]) -> None:
    count = sum(_size(node[key]) for node in nodes for key in ("value", "grad"))
    if count > MAX_ELEMENTS:
        raise ChainruleError(f"graph: {count:,} numbers in values and gradients; a page shows "
                             f"at most {MAX_ELEMENTS:,} (see the text or JSON formats)")


def _size(value: Any) -> int:
    return sum(map(_size, value)) if isinstance(value, list) else 1


def _path_sum(terms: list[Any]) -> Any:
    """The uses' contributions added (elementwise for arrays); None if one is missing."""
    if not terms or any(t is None for t in terms):
        return None
    if all(isinstance(t, float) for t in terms):
        return _finite(math.fsum(terms))
    import numpy as np

    try:
        arrays = [np.asarray(t, dtype=float) for t in terms]
        total = np.sum(np.broadcast_arrays(*arrays), axis=0)
    except ValueError:  # shapes that do not add up: no sum to show
        return None
    return plain(total)


def _differs(path_sum: Any, grad: Any) -> bool:
    """Whether the paths' sum is not the gradient the trace records (to 1e-9 relative)."""
    if path_sum is None or grad is None:
        return False
    import numpy as np

    a, b = (np.asarray(v, dtype=float) for v in (path_sum, grad))
    if a.shape != b.shape and a.size != b.size:
        return True
    a, b = a.reshape(-1), b.reshape(-1)
    scale = np.maximum(1.0, np.abs(b))
    return bool(np.any(~(np.abs(a - b) <= 1e-9 * scale)))


def _node(item: Any, index: int) -> dict[str, Any]:
    where = f"graph.nodes[{index}]"
    if not isinstance(item, dict):
        raise ChainruleError(f"{where}: expected a node object, got {type(item).__name__}")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise ChainruleError(f"{where}.name: expected a non-empty string, got {name!r}")
    op, refs = item.get("op"), item.get("inputs") or []
    if op is not None and not isinstance(op, str):
        raise ChainruleError(f"{where}.op: expected a string or null, got {op!r}")
    if not isinstance(refs, list) or (op is None and refs):
        raise ChainruleError(f"{where}.inputs: expected a list of earlier nodes "
                             "(none for a leaf, whose op is null)")
    names = [str(ref) for ref in refs]
    symbol, parts = _forms(op, len(refs))
    return {"name": name, "op": op, "leaf": op is None, "symbol": symbol, "forward": parts,
            "value": _numbers(item.get("value"), f"{where}.value"),
            "grad": _numbers(item.get("grad"), f"{where}.grad"),
            "recorded": _recorded(item.get("terms") or [], where),
            "refs": refs, "input_names": names, "in_edges": [], "out_edges": []}


def _recorded(terms: Any, where: str) -> dict[tuple[str, int], Any]:
    """(consumer, slot) → the contribution the trace records for that use of the node."""
    if not isinstance(terms, list):
        raise ChainruleError(f"{where}.terms: expected a list, got {type(terms).__name__}")
    out = {}
    for k, term in enumerate(terms):
        if not isinstance(term, dict):
            raise ChainruleError(f"{where}.terms[{k}]: expected an object")
        slot = term.get("slot")
        if isinstance(slot, int) and not isinstance(slot, bool):
            out[str(term.get("from")), slot] = _numbers(term.get("contribution"),
                                                        f"{where}.terms[{k}].contribution")
    return out


def _source(ref: Any, by_id: dict[Any, int], by_name: dict[str, int], where: str) -> int:
    if isinstance(ref, (str, int)) and not isinstance(ref, bool):
        if ref in by_id:
            return by_id[ref]
        if ref in by_name:
            return by_name[ref]
    raise ChainruleError(f"{where}.inputs: {ref!r} is not an earlier node (nodes are listed "
                         "in topological order, inputs first)")


def _pair_locals(local: Any, names: list[str], where: str) -> list[dict[str, Any]]:
    """One local derivative per input: by position when there is one per input, else by the
    input's name, in order (``x·x`` lists input x twice)."""
    if not isinstance(local, list):
        raise ChainruleError(f"{where}.local: expected a list, got {type(local).__name__}")
    entries = [_local(entry, f"{where}.local[{k}]") for k, entry in enumerate(local)]
    if len(entries) == len(names):
        return entries
    waiting = list(entries)
    paired = []
    for name in names:
        match = next((e for e in waiting if e["input"] == name), None)
        if match is not None:
            waiting.remove(match)
        paired.append(match or {"input": name, "formula": None, "latex": None, "local": None,
                                "expression": None, "vjp": False})
    return paired


def _local(entry: Any, where: str) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise ChainruleError(f"{where}: expected an object, got {type(entry).__name__}")
    formula, latex = entry.get("formula"), entry.get("latex")
    expression = entry.get("expression")  # the table's derivative with names: "y", "1 − a²"
    for field, text in (("formula", formula), ("latex", latex), ("expression", expression)):
        if text is not None and not isinstance(text, str):
            raise ChainruleError(f"{where}.{field}: expected a string, got {text!r}")
    vjp = entry.get("kind") == "vjp"  # no single number: value is what went back, g·J
    return {"input": str(entry.get("input")), "formula": formula, "latex": latex,
            "expression": expression, "vjp": vjp,
            "local": None if vjp else _number(entry.get("value"), f"{where}.value")}


def _output(ref: Any, by_id: dict[Any, int], by_name: dict[str, int], count: int) -> int:
    if ref is None:
        return count - 1
    if isinstance(ref, (str, int)) and not isinstance(ref, bool):
        found = by_id.get(ref, by_name.get(ref) if isinstance(ref, str) else None)
        if found is not None:
            return found
    raise ChainruleError(f"graph.output: {ref!r} is not a node of the graph")


def _numbers(value: Any, where: str, depth: int = 0) -> Any:
    """A number (as :func:`_number`) or nested lists of them, as a value or gradient."""
    if not isinstance(value, list):
        return _number(value, where)
    if depth >= 32:
        raise ChainruleError(f"{where}: nested deeper than 32 levels")
    return [_numbers(v, f"{where}[{k}]", depth + 1) for k, v in enumerate(value)]


def _number(value: Any, where: str) -> float | None:
    """A scalar as a float; None (JSON null, the trace's non-finite) stays None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ChainruleError(f"{where}: expected a number or null, got {value!r}")
    return _finite(float(value))


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _forms(op: str | None, arity: int) -> tuple[str, list[str | int]]:
    """The op's symbol for its circle and its forward as text parts (an int is an input
    slot), both from the op table's formula, so the page writes what the engine means."""
    if op is None:
        return "", []
    primitive = PRIMITIVES.get(op)
    formula = primitive.formula.split(" = ")[0] if primitive else ""
    operands = _OPERAND.findall(formula)
    if not primitive or len(operands) != arity or len(set(operands)) != arity:
        parts: list[str | int] = [f"{op}("]
        for slot in range(arity):
            parts += [", "] * bool(slot) + [slot]
        return op, parts + [")"]
    infix, call = _INFIX.match(formula), _CALL.match(formula)
    symbol = infix.group(1) if infix else call.group(1) if call else op
    symbol = {"·": "×", "−x": "−"}.get(symbol if formula != "−x" else formula, symbol)
    parts = []
    for piece in _OPERAND.split(formula):
        parts.append("xy".index(piece) if piece in ("x", "y") else piece)
    return symbol, [part for part in parts if part != ""]
