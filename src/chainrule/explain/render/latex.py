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
                 only: str | None = None, fragment: bool = False, symbolic=None) -> str:
    """A document that compiles with pdflatex; ``fragment`` gives the body alone (it needs
    amsmath, and ``\\setcounter{MaxMatrixCols}{20}`` for matrices wider than ten columns)."""
    doc = outline(trace, precision, param, only, symbolic)
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
    text = "\n".join(body) + "\n"
    if fragment:
        return text
    return PREAMBLE + "\\begin{document}\n" + text + "\\end{document}\n"


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
    return "\\begin{align*}\n" + " \\\\[0.4ex]\n".join(lines) + "\n\\end{align*}"


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
    line of its own is a sum continued at its plus signs."""
    lines: list[str] = []
    for i, (_, latex) in enumerate(eq.parts):
        relation = eq.relation_latex if i == 0 else "="
        chunks = _wrap_sum(latex, budget - 4)
        if lines and len(chunks) == 1 and (
                math_width(lines[-1]) + math_width(f" = {latex}") <= budget):
            lines[-1] += f" = {latex}"
            continue
        lines.append(f"{relation} {chunks[0]}")
        lines += [rf"\quad + {chunk}" for chunk in chunks[1:]]
    return [f"{eq.lhs.latex if i == 0 else ''} &{line}" for i, line in enumerate(lines)]


def _wrap_sum(latex: str, budget: float) -> list[str]:
    """Split ``a + b + c`` at its top-level plus signs into lines of at most ``budget``."""
    if math_width(latex) <= budget:
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
        if math_width(f"{chunks[-1]} + {term}") <= budget:
            chunks[-1] += " + " + term
        else:
            chunks.append(term)
    return chunks


# math_width: roughly how wide math is, in units of a digit's width (half an em).
_NO_WIDTH = {"left", "right", "bigl", "bigr", "Bigl", "Bigr", "big", "Big", "displaystyle",
             "limits", "nolimits", "!"}
_WIDE = {"quad": 2, "qquad": 4, "leftarrow": 2.2, "rightarrow": 2.2, "to": 2.2, "ln": 2,
         "exp": 3, "log": 3, "max": 3, "sum": 1.6, "prod": 1.6, "cdots": 3, "ldots": 3,
         "cdot": 1.2, "times": 2, ",": 0.35, ";": 0.55, ":": 0.45, " ": 0.7}
_TEXT = {"text", "textrm", "texttt", "textit", "textbf"}
_FRACTIONS = {"frac": 1.0, "dfrac": 1.0, "tfrac": 0.7}


def math_width(latex: str) -> float:
    width, i = 0.0, 0
    while i < len(latex):
        char = latex[i]
        if char == "\\":
            command = re.match(r"\\([a-zA-Z]+|.)", latex[i:])
            name = command.group(1) if command else "\\"
            i += len(command.group(0)) if command else 1
            if name in _FRACTIONS:
                top, i = _argument(latex, i)
                bottom, i = _argument(latex, i)
                width += _FRACTIONS[name] * max(math_width(top), math_width(bottom)) + 0.4
            elif name in _TEXT:
                text, i = _argument(latex, i)
                width += 0.9 * len(text)
            elif name == "begin":
                width, i = width + _environment_width(latex, i)[0], _environment_width(latex, i)[1]
            elif name not in _NO_WIDTH:
                width += _WIDE.get(name, 1.1)
        elif char in "^_":
            script, i = _argument(latex, i + 1)
            width += 0.7 * math_width(script)
        elif char == "{":
            group, i = _argument(latex, i)
            width += math_width(group)
        elif char in "+=<>" or (char == "-" and latex[i - 1:i + 2] == " - "):
            width, i = width + 2.6, i + 1  # the sign and the space around it
        elif char == "-":  # a minus sign, wider than a digit
            width, i = width + 1.6, i + 1
        elif char in " }&":
            i += 1
        elif char in "()[]|,.;":
            width, i = width + 0.8, i + 1
        else:
            width, i = width + 1, i + 1
    return width


def _argument(latex: str, i: int) -> tuple[str, int]:
    """The argument of a command at ``i``: a braced group, a command, or one character."""
    while i < len(latex) and latex[i] == " ":
        i += 1
    if i >= len(latex):
        return "", i
    if latex[i] == "{":
        depth = 0
        for j in range(i, len(latex)):
            depth += {"{": 1, "}": -1}.get(latex[j], 0)
            if depth == 0:
                return latex[i + 1:j], j + 1
        return latex[i + 1:], len(latex)
    command = re.match(r"\\([a-zA-Z]+|.)", latex[i:])
    if command:
        return command.group(0), i + len(command.group(0))
    return latex[i], i + 1


def _environment_width(latex: str, i: int) -> tuple[float, int]:
    """A matrix: its widest cells column by column, the gaps between them and the brackets."""
    name, i = _argument(latex, i)
    end = latex.find(rf"\end{{{name}}}", i)
    end = len(latex) if end < 0 else end
    rows = [row.split("&") for row in latex[i:end].split(r"\\")]
    columns = max(len(row) for row in rows)
    widest = [max((math_width(row[c]) for row in rows if c < len(row)), default=0)
              for c in range(columns)]
    return sum(widest) + 2 * (columns - 1) + 2.5, end + len(rf"\end{{{name}}}")


def _escape_prose(text: str) -> str:
    """Escape the prose of a paragraph while keeping its $…$ math as written."""
    pieces = text.split("$")
    return "$".join(piece if i % 2 else latex_escape(piece) for i, piece in enumerate(pieces))
