"""The worked example as LaTeX: a complete document for pdflatex, or a fragment to include.

The equations of one section share one ``align*``, aligned at their = signs; an equation's
steps share a line while they fit (a short chain reads ``lhs = rule = numbers = value``), and
a long sum continues on further lines at its plus signs. Consecutive matrices sit side by side.
Widths are estimated (:func:`math_width`, in units of about half an em) so that lines fit a
page of 11pt text with 2 cm margins as well as this preamble's: a fragment pasted into another
document stays within its margins.
"""

from __future__ import annotations

import re

from chainrule.explain.render.blocks import Equation, Heading, Matrix, Paragraph, latex_matrix
from chainrule.explain.render.latex_width import math_width
from chainrule.explain.numfmt import DEFAULT_PRECISION
from chainrule.explain.render.worked import outline
from chainrule.explain.trace import Trace

PREAMBLE = r"""\documentclass[10pt,a4paper,fleqn]{article}
\usepackage[utf8]{inputenc}
\usepackage[T1]{fontenc}
\usepackage{amsmath,amssymb}
\usepackage[margin=1.8cm]{geometry}
\allowdisplaybreaks
\setcounter{MaxMatrixCols}{20}
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.5ex}
\setlength{\mathindent}{1.5em}
\makeatletter
\renewcommand\subsection{\@startsection{subsection}{2}{\z@}{-2.2ex \@plus -.5ex \@minus -.2ex}%
  {0.8ex \@plus .2ex}{\normalfont\large\bfseries}}
\renewcommand\subsubsection{\@startsection{subsubsection}{3}{\z@}{-1.8ex \@plus -.5ex \@minus
  -.2ex}{0.6ex \@plus .2ex}{\normalfont\normalsize\bfseries}}
\makeatother
"""

# Text outside math: LaTeX's special characters, and the few Unicode symbols prose uses.
_ESCAPES = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "η": r"$\eta$", "→": r"$\to$", "−": "-", "·": r"$\cdot$", "θ": r"$\theta$",
    "σ": r"$\sigma$", "δ": r"$\delta$", "∂": r"$\partial$", "←": r"$\leftarrow$",
    "—": "---", "–": "--", "…": r"\ldots{}", "×": r"$\times$",
    "γ": r"$\gamma$", "β": r"$\beta$", "μ": r"$\mu$", "ε": r"$\varepsilon$",
    "Σ": r"$\Sigma$", "²": r"$^2$", "½": r"$\frac{1}{2}$", "√": r"$\surd$",
    "ŷ": r"$\hat{y}$", "≠": r"$\neq$",
}
# A name such as half_sse or leaky_relu is one word: in typewriter type its underscore joins
# the parts (in italic or roman, \_ leaves a gap that reads as two words).
_SNAKE_NAME = re.compile(r"(?<![\w\\])[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+(?!\w)")


def latex_escape(text: str) -> str:
    pieces = _SNAKE_NAME.split(text)
    names = _SNAKE_NAME.findall(text)
    out = [_escape_chars(pieces[0])]
    for name, piece in zip(names, pieces[1:]):
        out += [rf"\texttt{{{_escape_chars(name)}}}", _escape_chars(piece)]
    return "".join(out)


def _escape_chars(text: str) -> str:
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
    run: list = []  # equations and matrices in a row: one display
    for block in doc.blocks + [None]:
        if isinstance(block, (Equation, Matrix)):
            run.append(block)
            continue
        if run:
            body.append(_display(run, precision, MAX_WIDTH["fragment" if fragment else "document"]))
            run = []
        if isinstance(block, Heading):
            body += ["", rf"\{heading_command(block)}{{{latex_escape(block.text)}}}"]
        elif isinstance(block, Paragraph):
            body += ["", _escape_prose(block.latex)]
    text = _typewriter_names("\n".join(body) + "\n")
    if fragment:
        return text
    return PREAMBLE + "\\begin{document}\n" + text + "\\end{document}\n"


_UPRIGHT_SNAKE = re.compile(r"\\mathrm\{((?:[A-Za-z0-9?]|\\_)*\\_(?:[A-Za-z0-9?]|\\_)*)\}")


def _typewriter_names(latex: str) -> str:
    """A graph node named c_2 is ``\\mathrm{c\\_2}`` in the outline's math (Markdown's too);
    pdflatex sets that as "c_ 2", so here it is ``\\texttt``, as such names are in prose."""
    return _UPRIGHT_SNAKE.sub(r"\\texttt{\1}", latex)


def _has_steps(doc) -> bool:
    return any(isinstance(b, Heading) and b.level == 1 for b in doc.blocks)


# Units of math_width on one line: this preamble's page holds about 100 after the indent, a
# page of 11pt text 17.6 cm wide about 91 (a fragment may be pasted into such a document).
MAX_WIDTH = {"document": 95, "fragment": 86}


def _display(run: list, precision: int, width: float) -> str:
    """One ``align*`` for a run of equations and matrices, aligned at the relation; a little
    space between equations, none between the lines of one."""
    lhs_width = max(math_width(_lhs(block)) for block in run)
    budget = width - lhs_width - 2
    rows: list[list[str]] = []
    matrices: list[str] = []
    for block in run + [None]:
        if isinstance(block, Matrix):
            matrices.append(_matrix(block, precision))
            continue
        if matrices:
            rows.append(_side_by_side(matrices, budget))
            matrices = []
        if isinstance(block, Equation):
            rows.append(_equation_lines(block, budget))
    lines = [" \\\\\n".join(row) for row in rows]
    return "\\begin{align*}\n" + " \\\\[0.6ex]\n".join(lines) + "\n\\end{align*}"


def _lhs(block) -> str:
    return block.lhs.latex if isinstance(block, Equation) else block.symbol.latex


def _matrix(block: Matrix, precision: int) -> str:
    note = rf"\quad\text{{({latex_escape(block.note)})}}" if block.note else ""
    return rf"{block.symbol.latex} &= {latex_matrix(block.values, precision)}{note}"


def _side_by_side(matrices: list[str], budget: float) -> list[str]:
    """Matrices two or three to a line while they fit; each line aligned at its first =."""
    lines = [matrices[0]]
    for matrix in matrices[1:]:
        joined = lines[-1] + r" \qquad " + matrix.replace("&=", "=", 1)
        if math_width(joined.split("&", 1)[1]) <= budget:
            lines[-1] = joined
        else:
            lines.append(matrix)
    return lines


def _equation_lines(eq: Equation, budget: float) -> list[str]:
    """lhs = first = second = value, as many steps to a line as fit; a step too long for a
    line of its own continues on further lines, at its plus signs or between its factors."""
    lines: list[str] = []
    for i, (_, latex) in enumerate(eq.parts):
        relation = eq.relation_latex if i == 0 else "="
        chunks = _wrap(latex, budget - 4)
        if lines and len(chunks) == 1 and (
                math_width(lines[-1]) + math_width(f" = {latex}") <= budget):
            lines[-1] += f" = {latex}"
            continue
        lines.append(f"{relation} {chunks[0]}")
        lines += [rf"\quad {chunk}" for chunk in chunks[1:]]
    return [f"{eq.lhs.latex if i == 0 else ''} &{line}" for i, line in enumerate(lines)]


def _wrap(latex: str, budget: float) -> list[str]:
    """``a + b + c`` split at its top-level plus signs into lines of at most ``budget``, and
    a product ``(a)(b)(c)`` too long for one line between its factors; each line after the
    first starts with its operator (``+`` or ``\\times``)."""
    if math_width(latex) <= budget:
        return [latex]
    lines: list[str] = []
    for joiner, term in _pack(_split(latex, " + "), " + ", budget):
        factors = _pack(_split(term, ")("), "", budget) if math_width(term) > budget else [
            ("", term)]
        for k, (_, factor) in enumerate(factors):
            operator = (joiner if k == 0 else r"\times").strip()
            lines.append(f"{operator} {factor}" if lines else factor)
    return lines


def _split(latex: str, at: str) -> list[str]:
    """Pieces of ``latex`` between top-level occurrences of ``at`` (" + ", or ")(" between
    two factors, which keep their parentheses)."""
    pieces, depth, start = [], 0, 0
    for i, char in enumerate(latex):
        if char in "{(":  # a \bigl[ … \bigr] sum may be split across lines
            depth += 1
        elif char in "})":
            depth -= 1
        if at == " + " and depth == 0 and latex.startswith(at, i):
            pieces.append(latex[start:i])
            start = i + len(at)
        elif at == ")(" and depth == 0 and char == ")" and latex.startswith(at, i):
            pieces.append(latex[start:i + 1])
            start = i + 1
    return pieces + [latex[start:]]


def _pack(pieces: list[str], joiner: str, budget: float) -> list[tuple[str, str]]:
    """Pieces joined into lines while they fit: (the operator that starts the line, the line)."""
    lines = [("", pieces[0])]
    for piece in pieces[1:]:
        if math_width(f"{lines[-1][1]}{joiner}{piece}") <= budget:
            lines[-1] = (lines[-1][0], f"{lines[-1][1]}{joiner}{piece}")
        else:
            lines.append((joiner or r"\times", piece))
    return lines


def _escape_prose(text: str) -> str:
    """Escape the prose of a paragraph while keeping its $…$ math as written."""
    pieces = text.split("$")
    return "$".join(piece if i % 2 else latex_escape(piece) for i, piece in enumerate(pieces))
