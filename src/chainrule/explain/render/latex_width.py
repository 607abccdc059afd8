"""How wide a piece of LaTeX math will be, roughly: enough to decide where a line breaks.

Widths are in units of a digit's width (half an em): an estimate from the characters and the
commands (a fraction is as wide as its wider part, a script 0.7 of its size, a matrix its widest
cells column by column), not TeX's measure, so the line budgets that use it leave a margin.
"""

from __future__ import annotations

import re

# math_width: roughly how wide math is, in units of a digit's width (half an em).
_NO_WIDTH = {"left", "right", "bigl", "bigr", "Bigl", "Bigr", "big", "Big", "displaystyle",
             "limits", "nolimits", "!"}
_WIDE = {"quad": 2, "qquad": 4, "leftarrow": 2.2, "rightarrow": 2.2, "to": 2.2, "ln": 2,
         "exp": 3, "log": 3, "max": 3, "sum": 1.6, "prod": 1.6, "cdots": 3, "ldots": 3,
         "cdot": 1.2, "times": 2, ",": 0.35, ";": 0.55, ":": 0.45, " ": 0.7}
_TEXT = {"text", "textrm", "texttt", "textit", "textbf"}
_FRACTIONS = {"frac": 1.0, "dfrac": 1.0, "tfrac": 0.7}


def math_width(latex: str) -> float:
    """``\\frac{\\partial E}{\\partial w^{1}_{11}}`` is about 4.6 units, ``(0.5)(0.25)`` 9.8."""
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
                matrix, i = _environment_width(latex, i)
                width += matrix
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
