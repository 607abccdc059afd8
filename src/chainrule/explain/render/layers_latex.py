"""A network of typed layers' step as LaTeX: a document for pdflatex, or a fragment to paste.

The same outline as the other formats (:func:`chainrule.explain.render.layers._sections`):
headings, the shape table and the update as ``tabular``, each feature map, kernel and
gradient as a ``pmatrix``, and each derivation line as inline math, so TeX breaks a long
term-by-term sum after its plus and equals signs and the lines stay inside the margins.
A line's words stay words (``\\text``), and its symbols are LaTeX's own (∂ is ``\\partial``,
Σₙ is ``\\sum_{n}``, x̂ is ``\\hat{x}``, √ is ``\\sqrt{}``). Every character the lens writes
is translated; anything else is refused rather than passed through (no raw LaTeX from a spec's
name or description: they are escaped as text).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from chainrule.explain.numfmt import DEFAULT_SIGNIFICANT, Precision, number
from chainrule.explain.render.latex import PREAMBLE, latex_escape
from chainrule.explain.lens.derivation_parts import large_grid
from chainrule.explain.render.layers_outline import sections

# The lens's symbols in math mode (a subscript letter joins the symbol before it).
_MATH = {
    "∂": r"\partial ", "Σ": r"\sum", "δ": r"\delta ", "γ": r"\gamma ", "β": r"\beta ",
    "μ": r"\mu ", "σ": r"\sigma ", "ε": r"\varepsilon ", "η": r"\eta ", "θ": r"\theta ",
    "·": r"\cdot ", "×": r"\times ", "−": "-", "←": r"\leftarrow ", "→": r"\to ",
    "≠": r"\neq ", "½": r"\tfrac{1}{2}", "ŷ": r"\hat{y}", "≈": r"\approx ", "≥": r"\geq ",
    "≤": r"\leq ", "′": "'", "²": "^{2}", "°": r"^{\circ}", "…": r"\ldots ", "√": r"\sqrt ",
    "—": r"\text{---}", "{": r"\{", "}": r"\}", "%": r"\%", "#": r"\#", "&": r"\&",
    "$": r"\$", "_": r"\_", "~": r"\sim ", "^": r"\hat{}", "\\": r"\backslash ",
    "⊙": r"\odot ", "Π": r"\prod", "‖": r"\|", "ᵀ": r"^{\top}", "ĝ": r"\hat{g}",
    "∞": r"\infty ", "⁻": "^{-}", "¹": "^{1}",
}
_SUBSCRIPTS = {"ₒ": "o", "ₖ": "k", "ₙ": "n", "ₚ": "p", "ᵢ": "i", "ⱼ": "j", "ₓ": "x",
               "ₗ": "l", "ₜ": "t", "ₘ": "m",
               **{chr(0x2080 + d): str(d) for d in range(10)}}
# Words, with the spaces and punctuation between them: one \text each, spaces kept.
_WORDS = re.compile(r"[A-Za-z]{2,}[A-Za-z'-]*(?:[ ,;:()]+[A-Za-z]{2,}[A-Za-z'-]*)*[:,;]?")
_ASCII_SUBSCRIPT = re.compile(r"_([A-Za-z0-9]+)")
# a parameter's name, 1.weight_hh_l0 or 2.block.0.weight: typewriter, as the text sets it
_PARAMETER = re.compile(r"\d+(?:\.(?:\d+|[A-Za-z_]\w*))*\.[A-Za-z_]\w*")
_GROUPED_SUBSCRIPT = re.compile(r"_\(([^()]+)\)")  # h_(t−1): a subscript of several signs
_EXPONENT = re.compile(r"(\d+(?:\.\d+)?)e([−+-]?)(\d+)")  # 1e−05: 1 × 10⁻⁵ as written


def math_line(line: str) -> str:
    """One derivation line as LaTeX math (without the dollars); a ValueError names a
    character with no translation."""
    out: list[str] = []
    i = 0
    while i < len(line):
        c = line[i]
        parameter = _PARAMETER.match(line, i) if c.isdigit() else None
        if parameter and (i == 0 or not line[i - 1].isalnum()):
            out.append(r"\texttt{" + parameter.group(0).replace("_", r"\_") + "}")
            i = parameter.end()
            continue
        words = _WORDS.match(line, i)
        if words and (i == 0 or not line[i - 1].isalnum()):
            end = words.end()
            before = " " if i and line[i - 1] == " " else ""
            after = " " if end < len(line) and line[end] == " " else ""
            out.append(rf"\text{{{before}{latex_escape(words.group(0))}{after}}}")
            i = end + len(after)
            continue
        if c in "−-" and i + 1 < len(line) and line[i + 1].isdigit() \
                and out and out[-1].startswith(r"\text"):
            out.append("{-}")  # a negative number after words, not a subtraction
            i += 1
            continue
        exponent = _EXPONENT.match(line, i)
        if exponent and (i == 0 or not line[i - 1].isalnum()):
            mantissa, sign, power = exponent.groups()
            sign = "{-}" if sign in "−-" and sign else ""
            out.append(rf"{mantissa}\mathrm{{e}}{sign}{power}")
            i = exponent.end()
            continue
        grouped = _GROUPED_SUBSCRIPT.match(line, i)
        if grouped:
            out.append(f"_{{{math_line(grouped.group(1))}}}")
            i = grouped.end()
            continue
        script = _ASCII_SUBSCRIPT.match(line, i)
        if script:  # Σ_pq: a subscript written with an underscore
            out.append(f"_{{{script.group(1)}}}")
            i = script.end()
            continue
        if c in _SUBSCRIPTS:
            run = ""
            while i < len(line) and line[i] in _SUBSCRIPTS:
                run += _SUBSCRIPTS[line[i]]
                i += 1
            out.append(f"_{{{run}}}")
            continue
        if i + 1 < len(line) and line[i + 1] == "\u0302":  # x̂: a combining circumflex
            out.append(rf"\hat{{{c}}}")
            i += 2
            continue
        if c in _MATH:
            out.append(_MATH[c])
        elif ord(c) < 128:
            out.append(c)
        else:
            raise ValueError(f"latex: no translation for {c!r} (U+{ord(c):04X}) in {line!r}")
        i += 1
    return "".join(out)


def _text(text: str) -> str:
    """Prose: escaped as text, but a word holding a symbol (Σ_c, x̂, 180°) set as math."""
    text = text.replace("─", "-").replace("═", "=")
    return " ".join(f"${math_line(token)}$" if any(ord(c) > 127 for c in token)
                    else latex_escape(token) for token in text.split(" "))


def _matrix(array: np.ndarray, precision: Precision) -> list[str]:
    rows = np.atleast_2d(array)
    body = r" \\ ".join(" & ".join(number(v, precision).replace("−", "-") for v in row)
                        for row in rows)
    display = [r"\[", rf"\begin{{pmatrix}} {body} \end{{pmatrix}}", r"\]"]
    # a wide map in a smaller size, so that 9 columns of 0.0001164 fit the margins
    return ["{\\small", *display, "}"] if rows.shape[1] > 6 else display


LONG_TABLE = 25  # rows beyond which a table may break across pages (longtable)
WIDE_TABLE = 60  # characters per row beyond which the columns wrap (math headers set wide)


def _tabular(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows)]
    columns = ["l"] * len(headers)
    if sum(widths) > WIDE_TABLE:  # every column wraps, in its share of the line
        # a column's share: its longest word (which cannot break) or its text up to 20
        # characters, and three more for the bold header
        words = [max(len(word) for c in column for word in str(c).split() or [""])
                 for column in zip(headers, *rows)]
        shares = [max(word, min(w, 20)) + 3 for word, w in zip(words, widths)]
        columns = [rf">{{\raggedright\arraybackslash}}p{{\dimexpr {w / sum(shares):.3f}"
                   rf"\linewidth-2\tabcolsep\relax}}" for w in shares]
    spec = "@{}" + "".join(columns) + "@{}"
    head = " & ".join(rf"\textbf{{{_text(h)}}}" for h in headers) + r" \\ \hline"
    body = [" & ".join(_text(str(c)) for c in row) + r" \\" for row in rows]
    size = [r"\small"] if sum(widths) > WIDE_TABLE else []
    if len(rows) > LONG_TABLE:
        return ["{", *size, rf"\begin{{longtable}}{{{spec}}}", head, r"\endhead", *body,
                r"\end{longtable}", "}", ""]
    return ["{", *size, rf"\begin{{tabular}}{{{spec}}}", head, *body, r"\end{tabular}",
            r"\par}", ""]


def render_latex(trace, precision: Precision = DEFAULT_SIGNIFICANT, only: str | None = None,
                 fragment: bool = False, **_: Any) -> str:
    out: list[str] = []
    title = ""
    for kind, heading, payload in sections(trace, precision, only):
        if kind == "h1":
            title = heading
            out += [rf"\section*{{{_text(heading)}}}", ""]
        elif kind == "h2":
            out += [rf"\subsection*{{{_text(heading)}}}", ""]
        elif kind == "h3":
            out += [rf"\subsubsection*{{{_text(heading)}}}", ""]
        elif kind == "p":
            out += [_text(heading), ""]
        elif kind == "note":
            out += [_text(" ".join(payload.lines) if hasattr(payload, "lines") else heading),
                    ""]
        elif kind in ("eq", "equation"):
            lines = payload if isinstance(payload, list) else payload.lines
            if heading:
                out.append(rf"\textit{{{_text(heading)}:}}\par")
            out += [r"\begin{derivation}"]
            out += [rf"\item ${math_line(line.strip())}$" for line in lines if line.strip()]
            out += [r"\end{derivation}", ""]
        elif kind == "table":
            headers, rows = (payload if isinstance(payload, tuple)
                             else (payload.headers, payload.rows))
            if heading:
                out.append(rf"\textit{{{_text(heading)}:}}\par")
            out += _tabular(headers, rows)
            said = getattr(payload, "lines", [])
            if said:
                out += [rf"\textit{{({_text(' '.join(said))})}}\par", ""]
        elif kind == "grid" and large_grid(payload.array):  # summarised by row, as the text
            from chainrule.explain.lens.derivation_parts import grid_summary, summary_note

            out.append(rf"\textit{{{_text(heading + summary_note(payload.array))}:}}\par")
            out += _tabular(*grid_summary(np.atleast_2d(payload.array)))
        elif kind == "grid":
            out += [rf"\textit{{{_text(heading)}:}}", *_matrix(payload.array, precision), ""]
    body = "\n".join(out).rstrip() + "\n"
    environment = (r"% needs \usepackage{amsmath,array,longtable}" "\n"
                   r"\makeatletter\@ifundefined{derivation}{\newenvironment{derivation}"
                   r"{\begin{list}{}{\leftmargin=1.5em\itemindent=-1em\itemsep=0pt"
                   r"\parsep=0pt\topsep=2pt}\raggedright}{\end{list}}}{}\makeatother" "\n")
    if fragment:
        return environment + body
    return (PREAMBLE + r"\usepackage{array,longtable}" "\n"
            r"\setcounter{MaxMatrixCols}{40}" "\n" + environment
            + rf"\title{{{_text(title)}}}" "\n"
            r"\begin{document}" "\n" + body + r"\end{document}" "\n")
