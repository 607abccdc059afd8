"""What the worksheets and keys say about a typed-layer exercise (levels ``conv``, ``pool``,
``batchnorm``, ``cnn``): the network in words, the given numbers as matrices, and the worked
solution, which is the layer lens's explanation of the same spec
(:func:`chainrule.explain.lens.layers.explain_layers`) in Markdown or LaTeX."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from chainrule.exercises.layered import level_of
from chainrule.exercises.model import Exercise
from chainrule.exercises.sheet import latex_questions, matrix, nested_markdown
from chainrule.explain.render.blocks import Equation
from chainrule.explain.notation import Symbol


def _rows(value: Any) -> Any:
    """A 1 × H × W image or a (1, 1, kh, kw) kernel as its H × W rows."""
    array = np.asarray(value, dtype=float)
    while array.ndim > 2 and array.shape[0] == 1:
        array = array[0]
    return array.tolist()


def _column(values: Any) -> str:
    return matrix(np.asarray(values, dtype=float).reshape(-1, 1).tolist())


def _sequence_given(level: str, spec: dict[str, Any]) -> list[str]:
    layers = spec["layers"]
    if level == "rnn":
        rnn, out = layers
        return [rf"x = {_column(spec['input'])}, \quad d = {_column(spec['target'])}",
                rf"u = {rnn['weight_ih_l0'][0][0]:g}, \quad w = {rnn['weight_hh_l0'][0][0]:g}, "
                rf"\quad b = {rnn['bias_ih_l0'][0]:g}, \quad v = {out['weight'][0][0]:g}, "
                rf"\quad c = {out['bias'][0]:g}"]
    if level == "lstm":
        cell, out = layers
        gates = r"\text{ (rows: } i, f, g, o\text{)}"
        return [rf"x = {_column(spec['input'])}, \quad t = {spec['target'][0]:g}",
                rf"w_{{ih}} = {_column(cell['weight_ih_l0'])}, \quad "
                rf"w_{{hh}} = {_column(cell['weight_hh_l0'])}, \quad "
                rf"b = {_column(cell['bias_ih_l0'])}{gates}",
                rf"v = {out['weight'][0][0]:g}, \quad c = {out['bias'][0]:g}"]
    if level == "attention":
        w = np.asarray(layers[0]["in_proj_weight"], dtype=float)
        target = np.reshape(spec["target"], (3, 2)).tolist()
        return [rf"x = {matrix(spec['input'])}, \quad T = {matrix(target)}",
                rf"W_Q = {matrix(w[0:2].tolist())}, \quad W_K = {matrix(w[2:4].tolist())}, "
                rf"\quad W_V = {matrix(w[4:6].tolist())}"]
    if level == "layernorm":
        norm = layers[0]
        return [rf"x = {matrix(spec['inputs'])}, \quad t = {matrix(spec['targets'])}",
                rf"\gamma = {matrix([norm['weight']])}, \quad \beta = {matrix([norm['bias']])}"]
    table, out = layers
    return [rf"\text{{tokens}} = {matrix([spec['input']])}, \quad t = "
            rf"{matrix([np.ravel(spec['target']).tolist()])}",
            rf"W = {matrix(table['weight'])}, \quad v = {_column(out['weight'])}, "
            rf"\quad c = {out['bias'][0]:g}"]


def given_lines(spec: dict[str, Any]) -> list[str]:
    """The given numbers, one LaTeX math line each (without dollars)."""
    from chainrule.exercises.layered_levels import SEQUENCE_LEVELS

    level = level_of(spec).name
    layers = spec["layers"]
    if level in SEQUENCE_LEVELS:
        return _sequence_given(level, spec)
    if level == "batchnorm":
        norm = layers[0]
        return [rf"x = {matrix(spec['inputs'])}, \quad t = {matrix(spec['targets'])}",
                rf"\gamma = {matrix(norm['weight'])}, \quad \beta = {matrix(norm['bias'])}"]
    x = rf"x = {matrix(_rows(spec['input']))}"
    if level == "pool":
        return [x, rf"t = {matrix(_rows(np.reshape(spec['target'], (2, 2))))}"]
    conv = layers[0]
    if level == "conv":
        return [x, rf"w = {matrix(_rows(conv['weight']))}, \quad b = {conv['bias'][0]:g}",
                rf"t = {matrix(_rows(np.reshape(spec['target'], (3, 3))))}"]
    linear = layers[4]
    return [x, rf"K = {matrix(_rows(conv['weight']))}, \quad c = {conv['bias'][0]:g}",
            rf"W = {matrix(linear['weight'])}, \quad b = {matrix(linear['bias'])}",
            rf"t = {spec['target']} \text{{ (the class index, from 0)}}"]


def markdown_lines(exercise: Exercise, precision: int) -> list[str]:
    level = level_of(exercise.spec)
    lines = [f"## Exercise {exercise.number}", "", _intro(level), ""]
    lines += [f"$${line}$$" for line in given_lines(exercise.spec)]
    lines += ["", f"Give each answer rounded to {precision} decimals.", "",
              "| question | asked | your answer |", "|---|---|---|"]
    lines += [f"| **{q.label}** | {q.prompt_latex} | |" for q in exercise.questions]
    return lines + [""]


def _intro(level) -> str:
    return level.intro


def latex_lines(exercise: Exercise, precision: int) -> list[str]:
    from chainrule.explain.render.layers_latex import _text

    level = level_of(exercise.spec)
    lines = [rf"\section*{{Exercise {exercise.number}}}", _text(level.intro), "",
             r"\begin{gather*}", r" \\ ".join(given_lines(exercise.spec)), r"\end{gather*}"]
    return lines + latex_questions(exercise, precision)


def notebook_text(exercise: Exercise, precision: int) -> str:
    return "\n".join(markdown_lines(exercise, precision)[:-3 - len(exercise.questions)]).rstrip()


def _trace(spec: dict[str, Any], focus=None):
    from chainrule.explain.lens.layers import explain_layers
    from chainrule.spec.network import parse_spec

    return explain_layers(parse_spec(spec), focus=focus)


def worked_markdown(exercise: Exercise, digits: int) -> str:
    """The layer lens as Markdown, its title dropped and its headings two levels down."""
    from chainrule.explain.render.layers import render_layers

    text = render_layers(_trace(exercise.spec), "markdown", precision=digits)
    return nested_markdown(text)


def worked_latex(exercise: Exercise, digits: int) -> str:
    from chainrule.explain.render.layers import render_layers

    text = render_layers(_trace(exercise.spec), "latex", precision=digits, fragment=True)
    text = text.replace(r"\section*", r"\subsection*", 1)
    text = re.sub(r"^\\subsection\*(?!\{Worked)", r"\\subsubsection*", text, flags=re.M)
    head, _, rest = text.partition(r"\subsection*")
    rest = rest.split("\n", 1)[1] if "\n" in rest else ""  # the lens's title
    return head + "\\subsection*{Worked solution}\n" + rest


class LayeredWorking:
    """The correct working of a typed-layer question: the layer lens's derivation of that
    element (a gradient's term-by-term sum, as the key shows it), as equations."""

    def __init__(self, spec: dict[str, Any], precision: int) -> None:
        self.spec, self.precision = spec, precision

    def steps(self, key: str) -> list[Equation]:
        from chainrule.explain.lens.layer_derivations import Focus
        from chainrule.explain.render.layers_latex import math_line

        name, _, rest = key.partition("[")
        if not name.startswith("gradients."):
            return []  # a forward value: its rule is the sheet's own formula
        what = name.split(".", 1)[1]
        focus_name = "0.input" if what == "input" else what
        trace = _trace(self.spec, Focus.parse(f"{focus_name}[{rest}" if rest else focus_name))
        wanted = "∂E/∂x[" if what == "input" else ("∂E/∂W[" if what.endswith("weight")
                                                     else "∂E/∂b[")
        named = f"∂E/∂{what}["  # the sequence layers' derivations name the parameter
        if what.endswith(("weight", "bias")) and self.spec["layers"][0]["type"].startswith(
                "BatchNorm"):
            wanted = "∂E/∂γ" if what.endswith("weight") else "∂E/∂β"
        layer = what.split(".")[0] if what != "input" else "0"
        for record in trace.steps[0].layers:
            if record.path != layer:
                continue
            for piece in record.pieces:
                if piece.kind == "equation" and piece.lines and \
                        piece.lines[0].startswith((wanted, named)):
                    return [_equation(piece.lines, math_line)]
        return []


def _equation(lines: list[str], math_line) -> Equation:
    """``∂E/∂W[1,0] = Σ … = (…)(…) + … = value`` from a piece's lines (its check left out)."""
    first, _, rule = lines[0].partition(" = ")
    parts = [rule] + [line.strip()[2:] for line in lines[1:] if line.strip().startswith("= ")]
    lhs = Symbol(first, math_line(first))
    return Equation(lhs, [(p, math_line(p)) for p in parts])


def working(spec: dict[str, Any], digits: int) -> LayeredWorking:
    return LayeredWorking(spec, digits)
