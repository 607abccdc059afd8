"""What an explained graph shows, as blocks (render/blocks.py) every format writes its way:
the forward pass node by node, each local derivative from the op table with its numbers,
and the backward pass, each gradient as its paths' chain-rule products and their sum."""

from __future__ import annotations

import numpy as np

from chainrule.explain.graph_data import GraphNode, GraphTrace, partial
from chainrule.explain.graph_formula import writes_number
from chainrule.explain.notation import Symbol
from chainrule.explain.render.blocks import (
    Equation, Heading, Matrix, Outline, Paragraph, latex_number,
)
from chainrule.explain.numfmt import number, rounding_note

ORDER = ("Gradients flow from {out} back to the inputs in reverse topological order: a node "
         "passes its gradient on only after every node that uses it has added its share, "
         "because {partial} is the sum of the shares of all its uses.")
VJP = ("Where a node or its input is not a single number, ∂node/∂input is a Jacobian, not a "
       "number: the table's rule is shown, and the backward pass gives what it passed back "
       "along the edge, {product}, with g = {partial}.")


def graph_outline(trace: GraphTrace, precision: int) -> Outline:
    out = trace[trace.output]
    doc = Outline(f"The computation of {out.name}, node by node",
                  f"{len(trace.nodes)} nodes, inputs first; values in float64, gradients "
                  f"from the engine's backward pass, {rounding_note(precision)}")
    doc.blocks.append(Heading("Forward pass"))
    for node in trace.nodes:
        doc.blocks += _forward(node, precision)
    doc.blocks.append(Heading("Local derivatives"))
    doc.blocks.append(Paragraph(
        "Each op's derivative with respect to each of its inputs, as the op table writes it, "
        "at this node's numbers.",
        "Each op's derivative with respect to each of its inputs, as the op table writes it, "
        "at this node's numbers."))
    vjp = False
    for node in trace.nodes:
        for local in node.local:
            vjp = vjp or local.kind == "vjp"
            doc.blocks.append(Equation(local.symbol, local.sides(precision)))
    # The LaTeX of prose puts the output's name in math, as latex_name wrote it: a name is
    # the user's text, and a "$" in it must not end the math.
    math = f"${out.latex_name}$"
    partial_math = rf"$\partial {out.latex_name}/\partial\,$node"
    if vjp:
        doc.blocks.append(Paragraph(
            VJP.format(out=out.name, partial=f"∂{out.name}/∂node", product="g·J"),
            VJP.format(out=math, partial=partial_math, product="$g J$")))
    doc.blocks.append(Heading("Backward pass"))
    doc.blocks.append(Paragraph(ORDER.format(out=out.name, partial=f"∂{out.name}/∂node"),
                                ORDER.format(out=math, partial=partial_math)))
    by_name = {node.name: node for node in trace.nodes}
    for node in reversed(trace.nodes):
        doc.blocks += _backward(node, out, by_name, precision)
    return doc


def _symbol(node: GraphNode) -> Symbol:
    return Symbol(node.name, node.latex_name)


def _value(values, precision: int) -> tuple[str, str]:
    text = number(float(values.reshape(-1)[0]), precision)
    return text, latex_number(text)


def _forward(node: GraphNode, precision: int) -> list:
    if node.forward is None:
        value = _value(node.value, precision) if node.scalar else None
        if node.kind == "constant" and value is not None:
            value = (value[0] + " (a constant)", value[1] + r"\quad\text{(a constant)}")
        if value is None:
            return [Matrix(_symbol(node), node.value, "a constant" if node.kind == "constant"
                           else "")]
        return [Equation(_symbol(node), [value])]
    text, latex = node.forward.text, node.forward.latex
    parts = [(text.with_names(), latex.with_names())]
    numbers = text.with_numbers(precision)
    if numbers is not None and text.has_operands:
        parts.append((numbers, latex.with_numbers(precision)))
    if node.scalar:
        value = _value(node.value, precision)
        if not writes_number(parts[-1][0], value[0]):
            parts.append(value)
        return [Equation(_symbol(node), parts)]
    return [Equation(_symbol(node), parts), Matrix(_symbol(node), node.value)]


def _backward(node: GraphNode, out: GraphNode, by_name: dict[str, GraphNode],
              precision: int) -> list:
    if node.grad is None:
        return []
    lhs = partial(out.name, out.latex_name, node.name, node.latex_name)
    if node is out:
        return [Equation(lhs, [("1", "1")])]
    if not node.terms:
        return [Equation(lhs, [("0 (no gradient reaches it)", r"0 \quad\text{(no gradient "
                                                              r"reaches it)}")])]
    symbolic_text, symbolic_latex, numbers_text, numbers_latex = [], [], [], []
    for term in node.terms:
        consumer = by_name[term.consumer]
        up = partial(out.name, out.latex_name, consumer.name, consumer.latex_name)
        local = partial(consumer.name, consumer.latex_name, node.name, node.latex_name)
        symbolic_text.append(f"{up.text}·{local.text}")
        symbolic_latex.append(f"{up.latex} {local.latex}")
        if term.local is not None and term.upstream.size == 1:
            u, v = _value(term.upstream, precision), _value(np.asarray(term.local), precision)
            numbers_text.append(f"({u[0]})({v[0]})")
            numbers_latex.append(f"({u[1]})({v[1]})")
    parts = [(" + ".join(symbolic_text), " + ".join(symbolic_latex))]
    if len(numbers_text) == len(node.terms):
        parts.append((" + ".join(numbers_text), " + ".join(numbers_latex)))
    if node.scalar:
        return [Equation(lhs, parts + [_value(node.grad, precision)])]
    return [Equation(lhs, parts), Matrix(lhs, node.grad)]
