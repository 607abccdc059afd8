"""Which tensors a graph has, in what order, and what each is called.

Naming. A node's ``label`` is the name the user gave it (``names[id(t)]``, else
``t.name``). Its ``name``, used in ``inputs`` and ``output``, is unique in the graph: the
label itself, except that when several nodes carry one label (``q = x * y; q = q + 1``
names two nodes q) the last one in topological order keeps it and the earlier ones become
``q_1``, ``q_2``, …, in order. Unlabelled nodes are named after their kind and their place in
this graph, counted in topological order per prefix: ``add1``, ``mul1``, ``mul2`` for ops,
``c1`` for constants, ``input1`` for leaves; never after what ran before. A generated or
suffixed name skips any name already taken.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from chainrule.explain.graph_formula import latex_name
from chainrule.autodiff.tensor import Tensor

Names = dict[int, str]  # id(tensor) -> its name in this graph (text or LaTeX)


def topological(output: Tensor, also: Sequence[Tensor] = ()) -> list[Tensor]:
    """Every tensor ``output`` (and each of ``also``) was computed from, constants included,
    inputs first.

    Op nodes come in the order they were made (``Node.seq``: a node's inputs always exist
    before it, so this is topological, and it is the order the user wrote the program in);
    each leaf or constant comes just before the first op that uses it. Only the relative
    order of the numbers matters, so what ran before changes nothing.
    """
    ops: list[Tensor] = []
    seen: set[int] = set()
    stack = [*also, output]
    while stack:  # every op node reachable from the output (iterative: long chains)
        tensor = stack.pop()
        if id(tensor) in seen or tensor._node is None:
            continue
        seen.add(id(tensor))
        ops.append(tensor)
        stack += tensor._node.inputs
    ops.sort(key=lambda t: t._node.seq)
    order: list[Tensor] = []
    placed: set[int] = set()
    for op in ops:
        for parent in op._node.inputs:
            if parent._node is None and id(parent) not in placed:
                placed.add(id(parent))
                order.append(parent)
        order.append(op)
    return order or [output]


def node_kind(tensor: Tensor) -> str:
    """"op" (recorded by the engine), "input" (a leaf wanting a gradient) or "constant"."""
    if tensor._node is not None:
        return "op"
    return "input" if tensor.requires_grad else "constant"


def unique_names(tensors: list[Tensor], names: Names) -> dict[int, tuple[str, str | None]]:
    """id → (unique name, label): see the module's docstring for the rule."""
    labels = [names.get(id(t), t.name) for t in tensors]
    labels = [None if label is None else str(label) for label in labels]
    taken = {label for label in labels if label is not None}
    remaining = Counter(label for label in labels if label is not None)
    suffix: Counter[str] = Counter()
    count: Counter[str] = Counter()
    out: dict[int, tuple[str, str | None]] = {}
    for tensor, label in zip(tensors, labels):
        if label is not None:
            remaining[label] -= 1
            if remaining[label] == 0:  # the last node of this label keeps it
                out[id(tensor)] = (label, label)
                continue
            base = f"{label}_"
            counter = suffix
        else:
            kind = node_kind(tensor)
            base = {"op": tensor.op, "input": "input", "constant": "c"}[kind]
            counter = count
        while True:
            counter[base] += 1
            candidate = f"{base}{counter[base]}"
            if candidate not in taken:
                break
        taken.add(candidate)
        out[id(tensor)] = (candidate, label)
    return out


def latex_names(tensors: list[Tensor], name: Names) -> Names:
    """Each node's name as LaTeX, kept unique: ``c_1`` (the first of two c's) and ``c1`` (a
    constant) would both be c₁, so the later one is written out upright, \\mathrm{c1}."""
    latex: Names = {}
    used: set[str] = set()
    for tensor in tensors:
        written = latex_name(name[id(tensor)])
        if written in used:
            written = latex_name(name[id(tensor)], upright=True)
        while written in used:  # names differing only where latex_name wrote "?"
            written += "'"
        used.add(written)
        latex[id(tensor)] = written
    return latex


def inline_constant(tensor: Tensor, label: str | None) -> str | None:
    """A number mixed into an expression, as formulas write it: ``b^3``, not ``b^c1``.
    A constant the user named, or an array, keeps its name."""
    if node_kind(tensor) != "constant" or label is not None or tensor.data.size != 1:
        return None
    value = float(tensor.data.reshape(-1)[0])
    text = f"{value:g}" if float(f"{value:g}") == value else repr(value)
    return f"({text})" if text.startswith("-") else text
