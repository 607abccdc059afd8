"""The network of an exercise drawn: SVG for Markdown and notebooks, a LaTeX picture for PDF.

Both drawings come from one layout: a column per layer, a circle per unit, every weight
written on its edge a third of the way from its input (where edges into different units are
still apart), every bias under its unit, the input values on the left and the target on the
right. The LaTeX picture uses only the kernel's ``picture`` environment (``\\qbezier`` for edges)
and the ``color`` package, so it compiles with texlive-latex-base alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

import numpy as np

from chainrule.frozen import Frozen
from chainrule.explain.notation import quantity, sub

COLUMN, ROW, RADIUS, MARGIN = 150.0, 70.0, 17.0, 60.0
LABEL_AT = 0.32  # where on an edge its weight is written, from the input unit


@dataclass(unsafe_hash=True)
class _Layout(Frozen):
    width: float
    height: float
    nodes: list[list[tuple[float, float]]]  # per layer, per unit: the centre


def _layout(layers: list[int]) -> _Layout:
    tallest = max(layers)
    height = (tallest - 1) * ROW + 2 * MARGIN
    width = (len(layers) - 1) * COLUMN + 2 * MARGIN + 40
    nodes = []
    for l, units in enumerate(layers):
        top = (height - (units - 1) * ROW) / 2
        nodes.append([(MARGIN + l * COLUMN, top + j * ROW) for j in range(units)])
    return _Layout(width, height, nodes)


def _number(value: float) -> str:
    return f"{value:g}".replace("-", "−")


def _edges(layout: _Layout, spec: dict):
    """(start, end, label position, weight) of every edge, ends on the circles."""
    for l, weights in enumerate(spec["weights"]):
        for i, start in enumerate(layout.nodes[l]):
            for j, end in enumerate(layout.nodes[l + 1]):
                direction = np.subtract(end, start)
                unit = direction / np.hypot(*direction)
                a = np.add(start, unit * RADIUS)
                b = np.subtract(end, unit * RADIUS)
                label = np.add(a, (b - a) * LABEL_AT)
                yield a, b, label, weights[i][j]


def _name(l: int, j: int) -> tuple[str, str]:
    if l == 0:
        return f"x{sub(j)}", f"x_{{{j + 1}}}"
    symbol = quantity("a", l, j)
    return symbol.text, symbol.latex


def svg(spec: dict) -> str:
    """A standalone SVG of the network (one example: with its input and target values)."""
    layers = spec["layers"]
    layout = _layout(layers)
    single = "input" in spec
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{layout.width:.0f}" '
           f'height="{layout.height:.0f}" viewBox="0 0 {layout.width:.0f} '
           f'{layout.height:.0f}" font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>']
    for a, b, _, _ in _edges(layout, spec):
        out.append(f'<line x1="{a[0]:.1f}" y1="{a[1]:.1f}" x2="{b[0]:.1f}" y2="{b[1]:.1f}" '
                   f'stroke="#888"/>')
    for _, _, at, weight in _edges(layout, spec):
        text = _number(weight)
        out.append(f'<rect x="{at[0] - 3.5 * len(text) - 2:.1f}" y="{at[1] - 8:.1f}" '
                   f'width="{7 * len(text) + 4:.1f}" height="14" fill="white"/>')
        out.append(f'<text x="{at[0]:.1f}" y="{at[1] + 4:.1f}" text-anchor="middle">'
                   f'{escape(text)}</text>')
    for l, column in enumerate(layout.nodes):
        for j, (x, y) in enumerate(column):
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{RADIUS:.0f}" fill="#eef" '
                       f'stroke="#336"/>')
            out.append(f'<text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle">'
                       f'{escape(_name(l, j)[0])}</text>')
            if l and spec.get("biases"):
                out.append(f'<text x="{x:.1f}" y="{y + RADIUS + 14:.1f}" text-anchor="middle" '
                           f'fill="#555">b = {escape(_number(spec["biases"][l - 1][j]))}</text>')
            if l == 0 and single:
                out.append(f'<text x="{x - RADIUS - 6:.1f}" y="{y + 4:.1f}" '
                           f'text-anchor="end">{escape(_number(spec["input"][j]))}</text>')
    for l in range(1, len(layers)):
        x = layout.nodes[l][0][0]
        out.append(f'<text x="{x:.1f}" y="16" text-anchor="middle" fill="#336">'
                   f'{escape(spec["activations"][l - 1])}</text>')
    if single:
        targets = _targets(spec)
        for j, (x, y) in enumerate(layout.nodes[-1]):
            out.append(f'<text x="{x + RADIUS + 6:.1f}" y="{y + 4:.1f}">t = '
                       f'{escape(_number(targets[j]))}</text>')
    return "\n".join(out + ["</svg>"]) + "\n"


def _targets(spec: dict) -> list[float]:
    target = spec["target"]
    if isinstance(target, int):  # a class index: the one-hot vector it stands for
        return [1.0 if k == target else 0.0 for k in range(spec["layers"][-1])]
    return list(target)


def latex_picture(spec: dict) -> str:
    """The same drawing as a LaTeX ``picture`` (needs ``\\usepackage{color}``)."""
    layers = spec["layers"]
    layout = _layout(layers)
    scale = 0.75  # points per SVG pixel: a 2-2-1 network is about 7 cm wide
    height = layout.height

    def at(x: float, y: float) -> str:
        return f"({x * scale:.1f},{(height - y) * scale:.1f})"

    single = "input" in spec
    out = [rf"\begin{{picture}}({layout.width * scale:.1f},{height * scale:.1f})"]
    for a, b, _, _ in _edges(layout, spec):
        middle = (a + b) / 2
        out.append(rf"\qbezier{at(*a)}{at(*middle)}{at(*b)}")
    for _, _, label, weight in _edges(layout, spec):
        out.append(rf"\put{at(*label)}{{\makebox(0,0){{\colorbox{{white}}"
                   rf"{{\scriptsize ${_latex_number(weight)}$}}}}}}")
    for l, column in enumerate(layout.nodes):
        for j, (x, y) in enumerate(column):
            out.append(rf"\put{at(x, y)}{{\circle{{{2 * RADIUS * scale:.0f}}}}}")
            out.append(rf"\put{at(x, y)}{{\makebox(0,0){{\footnotesize ${_name(l, j)[1]}$}}}}")
            if l and spec.get("biases"):
                bias = _latex_number(spec["biases"][l - 1][j])
                out.append(rf"\put{at(x, y + RADIUS + 10)}{{\makebox(0,0){{\scriptsize "
                           rf"$b = {bias}$}}}}")
            if l == 0 and single:
                out.append(rf"\put{at(x - RADIUS - 4, y)}{{\makebox(0,0)[r]{{\small "
                           rf"${_latex_number(spec['input'][j])}$}}}}")
    if single:
        for j, (x, y) in enumerate(layout.nodes[-1]):
            out.append(rf"\put{at(x + RADIUS + 4, y)}{{\makebox(0,0)[l]{{\small "
                       rf"$t = {_latex_number(_targets(spec)[j])}$}}}}")
    return "\n".join(out + [r"\end{picture}"])


def _latex_number(value: float) -> str:
    return f"{value:g}"
