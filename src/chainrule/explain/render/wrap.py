"""Breaking a long formula for a narrow terminal: at its operators, never inside a number or
a name, the continuation indented under the formula's start."""

from __future__ import annotations

import re

# Where a formula may break: before a binary + − · or after a comma, at the outermost level
# it can (inside brackets only when a bracketed run is itself too long).
_BREAK = re.compile(r" (?=[+−·=] )|(?<=,) ")


def wrap_formula(text: str, width: int, indent: int) -> list[str]:
    """``text`` as lines of at most ``width`` characters where its operators allow (a piece
    longer than a line stays whole); lines after the first start with ``indent`` spaces."""
    if len(text) <= width:
        return [text]
    pieces = _pieces(text)
    lines, line = [], ""
    for piece in pieces:
        room = width - (indent if lines else 0)
        if line and len(line) + len(piece) > room:
            lines.append(line.rstrip())
            line = piece.lstrip()
        else:
            line += piece
    lines.append(line.rstrip())
    return [lines[0]] + [" " * indent + line for line in lines[1:]]


def _pieces(text: str) -> list[str]:
    """``text`` cut before each breakable operator (the operator starts the next piece)."""
    cuts = [0] + [m.end() for m in _BREAK.finditer(text)] + [len(text)]
    return [text[a:b] for a, b in zip(cuts, cuts[1:]) if b > a]
