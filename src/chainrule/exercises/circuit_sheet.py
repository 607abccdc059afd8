"""What the worksheets and keys say about a circuit (level ``circuit``): its statements, its
nodes, the given values; the worked solution is the graph explanation
(:meth:`chainrule.explain.graph_data.GraphTrace.to_markdown` / ``to_latex``) of the circuit."""

from __future__ import annotations

import re

from chainrule.exercises.circuit import OUTPUT, statements, trace
from chainrule.exercises.model import Exercise
from chainrule.exercises.sheet import given, latex_questions, nested_markdown
from chainrule.explain.graph_data import GraphTrace
from chainrule.explain.render.blocks import Equation
from chainrule.explain.render.graph_outline import graph_outline
from chainrule.explain.render import render
from chainrule.explain.render.latex import latex_escape

INTRO = (f"The circuit computes {OUTPUT} from its inputs, one operation per line. Fill in the "
         f"forward pass (each node's value), then the backward pass: each node's gradient "
         f"∂{OUTPUT}/∂node, the sum of upstream gradient × local derivative over every use of "
         f"the node.")


def _nodes(exercise: Exercise) -> list[tuple[str, str]]:
    """(node, how it is computed) for every node, inputs first, in the order computed."""
    at = exercise.spec["at"]
    rows = [(name, f"input: {given(value)}") for name, value in at.items()]
    for line in statements(exercise.spec):
        name, _, body = line.partition(" = ")
        rows.append((name, body))
    return rows


def markdown_lines(exercise: Exercise, precision: int) -> list[str]:
    lines = [f"## Exercise {exercise.number}", "", INTRO, "", "```text",
             *statements(exercise.spec), "```", "",
             "Given: " + ", ".join(f"${name} = {given(v)}$"
                                   for name, v in exercise.spec["at"].items()) + ".", "",
             "| node | computed as |", "|---|---|"]
    lines += [f"| `{name}` | {how if how.startswith('input') else f'`{how}`'} |"
              for name, how in _nodes(exercise)]
    lines += ["", f"Give each answer rounded to {precision} decimals.", "",
              "| question | asked | your answer |", "|---|---|---|"]
    lines += [f"| **{q.label}** | {q.prompt_latex} | |" for q in exercise.questions]
    return lines + [""]


def latex_lines(exercise: Exercise, precision: int) -> list[str]:
    def tt(text: str) -> str:
        return rf"\texttt{{{latex_escape(text)}}}"

    lines = [rf"\section*{{Exercise {exercise.number}}}", latex_escape(INTRO), "",
             r"\begin{tabular}{@{}l l@{}}", r"node & computed as \\ \hline"]
    lines += [rf"{tt(name)} & {tt(how)} \\" for name, how in _nodes(exercise)]
    return lines + [r"\end{tabular}", ""] + latex_questions(exercise, precision)


def notebook_text(exercise: Exercise, precision: int) -> str:
    return "\n".join(markdown_lines(exercise, precision)[:-3 - len(exercise.questions)]).rstrip()


def worked_markdown(exercise: Exercise, digits: int) -> str:
    """The graph explanation as Markdown, its title dropped and its headings two levels down."""
    text = render(trace(exercise.spec), "markdown", precision=digits)
    return nested_markdown(text)


def worked_latex(exercise: Exercise, digits: int) -> str:
    text = render(trace(exercise.spec), "latex", precision=digits, fragment=True)
    rest = text.split("\n", 1)[1]  # the first line is the explanation's \section* title
    rest = re.sub(r"^\\subsection\*", r"\\subsubsection*", rest, flags=re.M)
    return "\\subsection*{Worked solution}\n" + rest


class CircuitWorking:
    """The correct working of a circuit's questions: equations of the graph explanation."""

    def __init__(self, graph: GraphTrace, precision: int) -> None:
        self.graph = graph
        self._by_symbol: dict[str, Equation] = {}
        for block in graph_outline(graph, precision).blocks:
            if isinstance(block, Equation):
                self._by_symbol.setdefault(block.lhs.text, block)

    def steps(self, key: str) -> list[Equation]:
        """``forward.q``: q's equation; ``gradients.x``: the gradients of x's consumers, then
        x's own (each use's share summed)."""
        section, _, name = key.partition(".")
        if section == "forward":
            return [e for e in (self._by_symbol.get(name),) if e is not None]
        consumers = dict.fromkeys(t.consumer for t in self.graph[name].terms)
        found = [self._by_symbol.get(f"∂{self.graph.output}/∂{c}") for c in consumers
                 if c != self.graph.output]
        found.append(self._by_symbol.get(f"∂{self.graph.output}/∂{name}"))
        return [e for e in found if e is not None]


def working(spec: dict, digits: int) -> CircuitWorking:
    return CircuitWorking(trace(spec), digits)
