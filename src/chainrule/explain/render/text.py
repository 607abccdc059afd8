"""The worked example for the terminal: rich styling on a terminal, plain text elsewhere."""

from __future__ import annotations

import io

from chainrule.explain.render.blocks import Equation, Heading, Matrix, Paragraph
from chainrule.explain.numfmt import DEFAULT_PRECISION, array_lines
from chainrule.explain.render.worked import outline
from chainrule.explain.render.wrap import wrap_formula
from chainrule.explain.trace import Trace

WIDTH = 100


def render_text(trace: Trace, precision: int = DEFAULT_PRECISION, param: str | None = None,
                only: str | None = None, color: bool = False, width: int = WIDTH,
                symbolic=None, example: int | None = None) -> str:
    """Aligned plain text; with ``color``, ANSI styles for a terminal (via rich)."""
    from rich.console import Console
    from rich.text import Text

    console = Console(file=io.StringIO(), width=width, force_terminal=color,
                      color_system="standard" if color else None, highlight=False,
                      emoji=False, force_jupyter=False)
    doc = outline(trace, precision, param, only, symbolic, example)
    console.print(Text(doc.title, style="bold"))
    console.print(Text(doc.subtitle, style="dim"))
    for block in doc.blocks:
        for line in _lines(block, width, precision):
            # Equations keep their own line breaks; prose wraps at the console width.
            line, soft_wrap = line if isinstance(line, tuple) else (line, True)
            console.print(line, soft_wrap=soft_wrap)
    return console.file.getvalue()


def _lines(block, width: int, precision: int) -> list:
    from rich.rule import Rule
    from rich.text import Text

    if isinstance(block, Heading):
        style = "bold magenta" if block.level == 1 else "bold cyan"
        return [Text(""), Rule(Text(block.text, style=style), align="left", characters="─")]
    if isinstance(block, Paragraph):
        return [(Text(block.text, style="italic"), False)]
    if isinstance(block, Matrix):
        label = f"  {block.symbol.text}" + (f" ({block.note})" if block.note else "")
        rows = array_lines(block.values, precision)
        pad = " " * (len(label) + 2)
        if len(rows) == 1 and len(pad) + len(rows[0]) > width:  # a long vector: wrapped
            pieces = wrap_formula(rows[0], max(width - len(pad), 20), len(pad) + 1)
            return [Text(label, style="bold") + Text("  " + pieces[0]),
                    *(Text(piece) for piece in pieces[1:])]
        return [Text(label, style="bold") + Text("  " + rows[0]),
                *(Text(pad + row) for row in rows[1:])]
    return _equation_lines(block, width)


def _equation_lines(eq: Equation, width: int) -> list:
    """One line if it fits; else each side of = on its own line, and a side longer than the
    width broken at its operators (:mod:`chainrule.explain.render.wrap`)."""
    from rich.text import Text

    lhs = f"  {eq.lhs.text} {eq.relation} "
    parts = [text for text, _ in eq.parts]
    one_line = lhs + " = ".join(parts)
    if len(one_line) <= width:
        line = Text(lhs, style="bold") + Text(" = ".join(parts[:-1]) + (" = " if parts[1:]
                                                                             else ""))
        return [line + Text(parts[-1], style="bold")]
    indent = " " * (len(lhs) - 2) + "= "
    lines = []
    for i, part in enumerate(parts):
        prefix = Text(lhs, style="bold") if i == 0 else Text(indent)
        style = "bold" if i == len(parts) - 1 and i else ""
        pieces = wrap_formula(part, max(width - len(prefix), 20), len(indent) + 2)
        lines.append(prefix + Text(pieces[0], style=style))
        lines += [Text(piece, style=style) for piece in pieces[1:]]
    return lines
