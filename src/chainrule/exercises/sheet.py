"""What every worksheet format says about an exercise: the network, the given numbers, the
instructions. Text comes as (Markdown, LaTeX) pairs; math is LaTeX in both (``$…$``)."""

from __future__ import annotations

import re
from typing import Any

from chainrule.exercises.model import Exercise, ProblemSet
from chainrule.tables.activations import ACTIVATION_TABLE
from chainrule.tables.losses import LOSS_TABLE

ACTIVATION_FORMULAS = {name: e.text(e.definition_latex) for name, e in ACTIVATION_TABLE.items()}


def given(value: float) -> str:
    """A given number as written: 0.3, −0.25 (not 0.3000)."""
    return f"{value:g}"


def matrix(values: Any) -> str:
    """``\\begin{bmatrix} … \\end{bmatrix}`` of given numbers (a vector as one row)."""
    rows = values if isinstance(values[0], list) else [values]
    body = r" \\ ".join(" & ".join(given(v) for v in row) for row in rows)
    return rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"


def network_text(spec: dict, latex: bool = False) -> str:
    """One paragraph: the architecture, activations, loss and learning rate (math in $…$)."""
    from chainrule.explain.render.latex import latex_escape

    def name(text: str) -> str:
        return latex_escape(text) if latex else text

    activations = spec["activations"]
    if len(set(activations)) == 1:
        acts = f"{name(activations[0])} in every layer, ${ACTIVATION_FORMULAS[activations[0]]}$"
    else:
        acts = "; ".join(f"layer {l}: {name(a)}, ${ACTIVATION_FORMULAS[a]}$"
                         for l, a in enumerate(activations, 1))
    from chainrule.explain.notation import loss_symbol

    loss = re.sub(r"^E\b", lambda _: loss_symbol().latex,
                  LOSS_TABLE[spec["loss"]].definition_latex)
    examples = len(spec["inputs"]) if "inputs" in spec else 1
    averaged = (f" for one example, averaged over the batch of {examples} examples"
                if examples > 1 else "")
    return (f"A {'-'.join(map(str, spec['layers']))} network: {acts}. The loss is ${loss}$"
            f"{averaged}, and one step of gradient descent uses the learning rate "
            rf"$\eta = {given(spec['learning_rate'])}$.")


def convention() -> str:
    """The sentence a sheet states its notation in: the notation profile's
    (:mod:`chainrule.explain.profiles`), chainrule's by default."""
    from chainrule.explain.profiles import current

    return current().convention


def given_lines(spec: dict) -> list[str]:
    """The given numbers, one LaTeX math line each (without dollars)."""
    lines = []
    for l, weights in enumerate(spec["weights"], 1):
        line = rf"W^{{{l}}} = {matrix(weights)}"
        if spec.get("biases"):
            line += rf", \quad b^{{{l}}} = {matrix(spec['biases'][l - 1])}"
        lines.append(line)
    if "input" in spec:
        target = _target(spec, spec["target"])
        lines.append(rf"x = a^{{0}} = {matrix(spec['input'])}, \quad t = {target}")
    else:
        for n, (x, t) in enumerate(zip(spec["inputs"], spec["targets"]), 1):
            lines.append(rf"x^{{({n})}} = {matrix(x)}, \quad t^{{({n})}} = {_target(spec, t)}")
    return lines


def _target(spec: dict, target: Any) -> str:
    if isinstance(target, int):  # a class index
        one_hot = [1 if k == target else 0 for k in range(spec["layers"][-1])]
        # 0-based, as explain and PyTorch's CrossEntropyLoss count classes
        return rf"{matrix(one_hot)} \text{{ (class index {target}, from 0)}}"
    return matrix(target)


ROWS = " Rows and columns are counted from 1."


def instructions(problem_set: ProblemSet) -> str:
    p = problem_set.precision
    counted = {"circuit": "", "conv": ROWS, "pool": ROWS, "cnn": ROWS,
               "batchnorm": " Examples and features are counted from 1."}.get(
        problem_set.level, " Units and layers are counted from 1.")
    return (f"Work out each quantity asked and give it rounded to {p} decimal places (for "
            f"example {0.123456789:.{p}f}); keep more digits in your working, so rounding "
            f"happens once, at the end.{counted} An answer off by "
            f"one in the last digit counts as close (a rounding slip), not correct.")


def set_summary(problem_set: ProblemSet) -> str:
    o = problem_set.options
    count = len(problem_set.exercises)
    what = {"circuit": "circuits", "conv": "a convolution", "pool": "max pooling",
            "batchnorm": "batch norm", "cnn": "a small CNN"}.get(
        problem_set.level, f"{o.get('arch', '')} network")
    return (f"{count} exercise{'s' if count != 1 else ''} · level {problem_set.level} · "
            f"{what} · answers to {problem_set.precision} decimals · "
            f"seed {problem_set.seed}")


def latex_questions(exercise: Exercise, precision: int) -> list[str]:
    """The LaTeX answer table every worksheet ends an exercise with: one row per question,
    its math at full size (a fraction in a table row is too small to read), a line to write on."""
    def display(text: str) -> str:
        return re.sub(r"\$(.+?)\$", lambda m: f"$\\displaystyle {m.group(1)}$", text)

    lines = [f"Give each answer rounded to {precision} decimals.", "",
             r"\renewcommand{\arraystretch}{2.2}",
             r"\begin{tabular}{@{}>{\bfseries}l p{9.5cm} p{4cm}@{}}"]
    lines += [rf"{q.label} & {display(q.prompt_latex)} & \hrulefill \\"
              for q in exercise.questions]
    return lines + [r"\end{tabular}", r"\renewcommand{\arraystretch}{1}", ""]


def nested_markdown(text: str) -> str:
    """An explanation rendered as Markdown, set inside an exercise of a key: its title
    dropped and its headings two levels down."""
    body = text.split("\n", 1)[1].lstrip("\n")
    return re.sub(r"^(#+) ", lambda m: "##" + m.group(1) + " ", body, flags=re.M).rstrip()
