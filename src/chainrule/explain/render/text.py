"""The worked example for the terminal: rich styling on a colour terminal, plain text elsewhere.

The example is laid out once, as lines of styled spans. A colour terminal gets them through
rich; a pipe or a file gets plain text written here, exactly as rich writes them uncoloured
(tests/test_text_render.py checks it against rich), because importing rich's console costs
about a third of ``chainrule explain``'s start-up. Plain text is written here only where each
character certainly takes one terminal cell; a wide or combining character, a tab or a control
code (from a spec's name, say) sends even uncoloured text through rich, which measures cells.
"""

from __future__ import annotations

import re

from chainrule.explain.render.blocks import Equation, Heading, Matrix, Paragraph
from chainrule.explain.numfmt import DEFAULT_PRECISION, array_lines
from chainrule.explain.render.wrap import wrap_formula
from chainrule.explain.trace import Trace
from chainrule.explain.render.worked import outline

WIDTH = 100
# How a line is printed: "wrap" (prose, wrapped at the width), "keep" (an equation or a matrix
# row: its own line, however long) or "rule" (a heading: its text, then a rule to the width).
# A line is (how, [(text, rich style), ...]).
Line = tuple[str, list[tuple[str, str]]]
# Characters one cell wide on any terminal (and to rich; a test checks every one): printable
# ASCII, Latin, IPA and modifier letters, Greek, phonetic subscripts, punctuation but for the
# zero-width and spacing ones, super- and subscripts, letterlike symbols, arrows, mathematical
# operators, box drawing, Latin Extended-C (the subscript ⱼ).
_ONE_CELL = re.compile("[ -~\u00a0-\u00ac\u00ae-\u02ff\u0370-\u0377\u037a-\u037f"
                       "\u0384-\u038a\u038c\u038e-\u03a1\u03a3-\u03ff\u1d00-\u1dbf"
                       "\u2010-\u2027\u2030-\u205e\u2070-\u2071\u2074-\u208e\u2090-\u209c"
                       "\u2100-\u214f\u2190-\u21ff\u2200-\u22ff\u2500-\u257f\u2c60-\u2c7f]*")
_WORD = re.compile(r"\s*\S+\s*")  # rich's word: the word and the white space after it


def render_text(trace: Trace, precision: int = DEFAULT_PRECISION, param: str | None = None,
                only: str | None = None, color: bool = False, width: int = WIDTH,
                symbolic=None, example: int | None = None) -> str:
    """Aligned plain text; with ``color``, ANSI styles for a terminal (via rich)."""
    lines = _layout(outline(trace, precision, param, only, symbolic, example), width, precision)
    if color or not all(_ONE_CELL.fullmatch(text) for _, spans in lines for text, _ in spans):
        return _through_rich(lines, width, color)
    return "".join(_plain(how, "".join(text for text, _ in spans), width)
                   for how, spans in lines)


def _layout(doc, width: int, precision: int) -> list[Line]:
    lines: list[Line] = [("wrap", [(doc.title, "bold")]), ("wrap", [(doc.subtitle, "dim")])]
    for block in doc.blocks:
        lines += _block_lines(block, width, precision)
    return lines


def _block_lines(block, width: int, precision: int) -> list[Line]:
    if isinstance(block, Heading):
        style = "bold magenta" if block.level == 1 else "bold cyan"
        return [("keep", [("", "")]), ("rule", [(block.text, style)])]
    if isinstance(block, Paragraph):
        return [("wrap", [(block.text, "italic")])]
    if isinstance(block, Matrix):
        label = f"  {block.symbol.text}" + (f" ({block.note})" if block.note else "")
        rows = array_lines(block.values, precision)
        pad = " " * (len(label) + 2)
        if len(rows) == 1 and len(pad) + len(rows[0]) > width:  # a long vector: wrapped
            pieces = wrap_formula(rows[0], max(width - len(pad), 20), len(pad) + 1)
            return [("keep", [(label, "bold"), ("  " + pieces[0], "")]),
                    *(("keep", [(piece, "")]) for piece in pieces[1:])]
        return [("keep", [(label, "bold"), ("  " + rows[0], "")]),
                *(("keep", [(pad + row, "")]) for row in rows[1:])]
    return _equation_lines(block, width)


def _equation_lines(eq: Equation, width: int) -> list[Line]:
    """Equations keep their own line breaks: one line if it fits; else each side of = on its
    own line, a side longer than the width broken at its operators (render/wrap.py)."""
    lhs = f"  {eq.lhs.text} {eq.relation} "
    parts = [text for text, _ in eq.parts]
    one_line = lhs + " = ".join(parts)
    if len(one_line) <= width:
        middle = " = ".join(parts[:-1]) + (" = " if parts[1:] else "")
        return [("keep", [(lhs, "bold"), (middle, ""), (parts[-1], "bold")])]
    indent = " " * (len(lhs) - 2) + "= "
    lines: list[Line] = []
    for i, part in enumerate(parts):
        prefix = (lhs, "bold") if i == 0 else (indent, "")
        style = "bold" if i == len(parts) - 1 and i else ""
        pieces = wrap_formula(part, max(width - len(prefix[0]), 20), len(indent) + 2)
        lines.append(("keep", [prefix, (pieces[0], style)]))
        lines += [("keep", [(piece, style)]) for piece in pieces[1:]]
    return lines


def _plain(how: str, text: str, width: int) -> str:
    """One line as rich prints it uncoloured, for text of one-cell characters without line
    breaks: a rule is the heading, a space and ─ to the width (a heading too long for it cut
    with …); prose is broken where rich breaks it (:func:`_breaks`), each piece cut at the
    width."""
    if how == "keep":
        return text + "\n"
    if how == "rule":
        if width <= 2 or not text:
            return "─" * width + "\n"
        if len(text) > width - 2:
            text = text[:width - 3] + "…"
        return text + " " + "─" * (width - len(text) - 1) + "\n"
    ends = [0, *_breaks(text, width), len(text)]
    return "".join(_cut(text[a:b], width) + "\n" for a, b in zip(ends, ends[1:]))


def _breaks(text: str, width: int) -> list[int]:
    """Where rich's word wrap breaks ``text`` (rich._wrap.divide_line, one cell a character):
    before a word that would pass the width, its white space staying on the line before;
    a word longer than a whole line is folded into pieces of the width."""
    breaks, used = [], 0
    for match in _WORD.finditer(text):
        start, word = match.start(), match.group(0)
        length = len(word.rstrip())
        if used + length <= width:
            used += len(word)
        elif length > width:
            pieces = [word[i:i + width] for i in range(0, len(word), width)]
            for piece in pieces[:-1]:
                if start:
                    breaks.append(start)
                start += len(piece)
            if start:
                breaks.append(start)
            used = len(pieces[-1])
        elif used and start:
            breaks.append(start)
            used = len(word)
    return breaks


def _cut(line: str, width: int) -> str:
    """rich's last step for a wrapped line: white space past the width dropped, then
    anything still past it cut."""
    if len(line) > width:
        spaces = len(line) - len(line.rstrip())
        line = line[:len(line) - min(spaces, len(line) - width)]
    return line[:width]


def _through_rich(lines: list[Line], width: int, color: bool) -> str:
    """The lines printed by rich: in colour, or uncoloured where rich must measure cells."""
    import io

    from rich.console import Console

    console = Console(file=io.StringIO(), width=width, force_terminal=color,
                      color_system="standard" if color else None, highlight=False,
                      emoji=False, force_jupyter=False)  # its buffer, even in Jupyter
    for how, spans in lines:
        line, soft_wrap = _rich_line(how, spans)
        console.print(line, soft_wrap=soft_wrap)
    return console.file.getvalue()


def _rich_line(how: str, spans: list[tuple[str, str]]) -> tuple:
    """(renderable, soft_wrap): prose wraps (soft_wrap False), the rest keeps its line."""
    from rich.rule import Rule
    from rich.text import Text

    first, *rest = [Text(text, style=style) for text, style in spans]
    line = sum(rest, first)  # the line's style is its first span's, as rich adds them
    if how == "rule":
        return Rule(line, align="left", characters="─"), True
    return line, how == "keep"


def _lines(block, width: int, precision: int) -> list:
    """A block's lines as rich renderables, prose as (Text, False): how render/graph.py,
    which prints through rich, takes them."""
    return [line if soft_wrap else (line, False)
            for line, soft_wrap in (_rich_line(how, spans)
                                    for how, spans in _block_lines(block, width, precision))]
