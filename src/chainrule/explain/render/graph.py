"""An explained graph in every format: ``render_graph(trace, fmt, precision=...)``.

One registry, :data:`RENDERERS` (format → function of the trace), and one outline
(render/graph_outline.py) that decides what is shown; each renderer only writes the blocks
its way — the text and LaTeX formatting of the MLP's worked step, reused. Renderers read
the trace's data and never call the engine.
"""

from __future__ import annotations

import io
from typing import Any, Callable

from chainrule.errors import ChainruleError
from chainrule.escape import markdown_text
from chainrule.explain.graph_data import GraphTrace
from chainrule.explain.render.blocks import Equation, Heading, Matrix, Paragraph, latex_matrix
from chainrule.explain.render.graph_outline import graph_outline
from chainrule.explain.numfmt import DEFAULT_PRECISION

WIDTH = 100


def render_text(trace: GraphTrace, precision: int = DEFAULT_PRECISION, width: int = WIDTH,
                color: bool = False) -> str:
    """Plain text (ANSI styles with ``color``), equations as the MLP's text shows them."""
    from rich.console import Console
    from rich.text import Text

    from chainrule.escape import terminal_text
    from chainrule.explain.render.text import _lines

    console = Console(file=io.StringIO(), width=width, force_terminal=color,
                      color_system="standard" if color else None, highlight=False,
                      emoji=False, force_jupyter=False)
    doc = graph_outline(trace, precision)
    console.print(Text(terminal_text(doc.title), style="bold"))
    console.print(Text(doc.subtitle, style="dim"))
    for block in doc.blocks:
        for line in _lines(block, width, precision):
            line, soft_wrap = line if isinstance(line, tuple) else (line, True)
            console.print(line, soft_wrap=soft_wrap)
    # user-given names reach the terminal: no control character may rewrite the screen
    # rich pads a wrapped paragraph's lines with a space: no line ends in white space
    text = "\n".join(line.rstrip() for line in console.file.getvalue().split("\n"))
    return terminal_text(text)


def render_markdown(trace: GraphTrace, precision: int = DEFAULT_PRECISION) -> str:
    """Markdown to paste into a course page: math in ``$…$`` (names there are LaTeX-safe by
    construction), the user's names in prose escaped."""
    doc = graph_outline(trace, precision)
    lines = [f"# {markdown_text(doc.title)}", "", f"*{doc.subtitle}*"]
    for block in doc.blocks:
        if isinstance(block, Heading):
            lines += ["", "## " + block.text, ""]
        elif isinstance(block, Paragraph):  # after a list, a blank line ends the list
            lines += ([""] if lines[-1] else []) + [_markdown_prose(block.latex), ""]
        elif isinstance(block, Matrix):
            note = f" ({block.note})" if block.note else ""
            lines.append(f"- ${block.symbol.latex} = {latex_matrix(block.values, precision)}$"
                         f"{note}")
        elif isinstance(block, Equation):
            lines.append(f"- ${block.lhs.latex} = "
                         + " = ".join(latex for _, latex in block.parts) + "$")
    return "\n".join(lines).rstrip() + "\n"


def _markdown_prose(text: str) -> str:
    """Prose with $…$ math: the prose escaped (it may hold a name), the math as written."""
    pieces = text.split("$")
    return "$".join(piece if i % 2 else markdown_text(piece) for i, piece in enumerate(pieces))


def render_latex(trace: GraphTrace, precision: int = DEFAULT_PRECISION,
                 fragment: bool = False) -> str:
    """A document for pdflatex, or with ``fragment`` its body alone (it needs amsmath)."""
    from chainrule.explain.render.latex import latex_document

    return latex_document(graph_outline(trace, precision), precision, fragment)


def render_json(trace: GraphTrace, precision: int | None = None, indent: int | None = 2) -> str:
    """The data itself (``chainrule.graph/1``), numbers in full whatever ``precision`` says."""
    return trace.to_json(indent=indent)


def render_html(trace: GraphTrace, precision: int = 4, fragment: bool = False,
                title: str | None = None) -> str:
    """The computational-graph page (:mod:`chainrule.explain.render.graph_page`): one offline
    file, or with ``fragment`` an embeddable block (what Jupyter shows)."""
    from chainrule.explain.render.graph_page import render_graph_html

    return render_graph_html(trace.to_dict(), precision=precision, fragment=fragment,
                             title=title)


RENDERERS: dict[str, Callable[..., str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "latex": render_latex,
    "json": render_json,
    "html": render_html,
}


def render_graph(trace: GraphTrace, fmt: str = "text", **options: Any) -> str:
    """``trace`` written as ``fmt`` (one of :data:`RENDERERS`); ``precision`` and the
    format's own options (``fragment`` for LaTeX, ``width``/``color`` for text) pass through."""
    try:
        renderer = RENDERERS[fmt]
    except KeyError:
        raise ChainruleError(f"render_graph: unknown format {fmt!r} (expected one of "
                             f"{', '.join(sorted(RENDERERS))})") from None
    return renderer(trace, **options)
