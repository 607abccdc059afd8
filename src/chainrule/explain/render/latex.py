"""The worked example as LaTeX: a complete document for pdflatex, or a fragment to include."""

from __future__ import annotations

import re

from chainrule.explain.render.blocks import Equation, Heading, Matrix, Paragraph, latex_matrix
from chainrule.explain.numfmt import DEFAULT_PRECISION
from chainrule.explain.render.worked import outline
from chainrule.explain.trace import Trace

PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage[utf8]{inputenc}
\usepackage[T1]{fontenc}
\usepackage{amsmath,amssymb}
\usepackage[margin=2cm]{geometry}
\allowdisplaybreaks
\setcounter{MaxMatrixCols}{20}
"""

# Text outside math: LaTeX's special characters, and the few Unicode symbols prose uses.
_ESCAPES = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "η": r"$\eta$", "→": r"$\to$", "−": "-", "·": r"$\cdot$", "θ": r"$\theta$",
    "σ": r"$\sigma$", "δ": r"$\delta$", "∂": r"$\partial$", "←": r"$\leftarrow$",
    "—": "---", "–": "--", "…": r"\ldots{}", "×": r"$\times$",
}


def latex_escape(text: str) -> str:
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 128 or char.isalpha():
            out.append(char)  # letters with accents are fine with inputenc utf8
        else:
            out.append("?")  # a symbol T1 fonts cannot set would stop pdflatex
    return "".join(out)


def render_latex(trace: Trace, precision: int = DEFAULT_PRECISION, param: str | None = None,
                 only: str | None = None, fragment: bool = False, symbolic=None, example: int | None = None) -> str:
    """A document that compiles with pdflatex; ``fragment`` gives the body alone (it needs
    amsmath, and ``\\setcounter{MaxMatrixCols}{20}`` for matrices wider than ten columns)."""
    doc = outline(trace, precision, param, only, symbolic, example)
    steps = _has_steps(doc)
    return latex_document(doc, precision, fragment, lambda heading: "subsection*" if (
        heading.level == 1 or not steps) else "subsubsection*")


def latex_document(doc, precision: int, fragment: bool = False,
                   heading_command=lambda heading: "subsection*") -> str:
    """An outline (a title, a subtitle and blocks: headings, paragraphs, matrices, equations)
    as a LaTeX document, or its body alone; every explanation's LaTeX is written by this."""
    body = [rf"\section*{{{latex_escape(doc.title)}}}", rf"\emph{{{latex_escape(doc.subtitle)}}}"]
    for block in doc.blocks:
        if isinstance(block, Heading):
            body += ["", rf"\{heading_command(block)}{{{latex_escape(block.text)}}}"]
        elif isinstance(block, Paragraph):
            body += ["", _escape_prose(block.latex)]
        elif isinstance(block, Matrix):
            note = rf"\quad\text{{({latex_escape(block.note)})}}" if block.note else ""
            body.append(rf"\[ {block.symbol.latex} = {latex_matrix(block.values, precision)}"
                        rf"{note} \]")
        elif isinstance(block, Equation):
            body.append(_align(block))
    text = "\n".join(body) + "\n"
    if fragment:
        return text
    return PREAMBLE + "\\begin{document}\n" + text + "\\end{document}\n"


def _has_steps(doc) -> bool:
    return any(isinstance(b, Heading) and b.level == 1 for b in doc.blocks)


def _align(eq: Equation) -> str:
    """lhs = first \\\\ = second \\\\ = value: one step of the working per line, and a long
    sum continued on further lines so that it stays within the page."""
    lines = []
    for i, (_, latex) in enumerate(eq.parts):
        relation = eq.relation_latex if i == 0 else "="
        chunks = _wrap_sum(latex)
        lines.append(rf"{eq.lhs.latex if i == 0 else ''} &{relation} {chunks[0]}")
        lines += [rf"&\quad + {chunk}" for chunk in chunks[1:]]
    return "\\begin{align*}\n" + " \\\\\n".join(lines) + "\n\\end{align*}"


MAX_LINE = 70  # visible characters of math per line, roughly, at 11pt with 2 cm margins


def _visible_length(latex: str) -> int:
    return len(re.sub(r"\\[a-zA-Z]+|[{}]", "", latex))


def _wrap_sum(latex: str) -> list[str]:
    """Split ``a + b + c`` at its top-level plus signs into lines of at most MAX_LINE."""
    if _visible_length(latex) <= MAX_LINE:
        return [latex]
    terms, depth, start = [], 0, 0
    for i, char in enumerate(latex):
        if char in "{(":  # a \bigl[ … \bigr] sum may be split across lines
            depth += 1
        elif char in "})":
            depth -= 1
        elif depth == 0 and latex.startswith(" + ", i):
            terms.append(latex[start:i])
            start = i + 3
    terms.append(latex[start:])
    chunks = [terms[0]]
    for term in terms[1:]:
        if _visible_length(chunks[-1] + term) + 3 <= MAX_LINE:
            chunks[-1] += " + " + term
        else:
            chunks.append(term)
    return chunks


def _escape_prose(text: str) -> str:
    """Escape the prose of a paragraph while keeping its $…$ math as written."""
    pieces = text.split("$")
    return "$".join(piece if i % 2 else latex_escape(piece) for i, piece in enumerate(pieces))
