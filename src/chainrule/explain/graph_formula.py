"""The op table's formulas bound to one node of a graph: its operands' names, and numbers.

A primitive's ``formula``, ``derivatives``, ``latex`` and ``latex_derivatives`` are written in
terms of its inputs (``x``, ``y``; a fused primitive's rule names its own, such as ``W`` and
``b``), its output ``out`` and the upstream gradient ``g``. :func:`bind` cuts such a string
into literal pieces and slots, once; a :class:`Bound` formula then writes itself with the
node's names or with its numbers at any precision. So an explanation states exactly what the
table states, and a changed table entry changes every explanation with it.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from chainrule.autodiff.op_table import Primitive
from chainrule.explain.numfmt import number

# Words of plain-text formulas: ASCII and Greek letters and ℓ. Modifier letters, sub- and
# superscripts (ᵀ, ᵢ, ²) end a word, so "yᵀ" is the variable y transposed.
_TEXT_WORD = re.compile(r"[A-Za-z\u0370-\u03ff\u2113]+")
# In LaTeX a command (\frac, \sigma, \,) is never a variable; the words between them may be.
_LATEX_WORD = re.compile(r"\\[A-Za-z]+|\\.|[A-Za-z]+")

OUT = "out"
_OPEN = ("(", "|", "{", "[")
_CLOSE = (")", "|", "}", "]", ",")


class Bound(NamedTuple):
    """A formula's pieces: literal text, or an int — the index of an operand in ``names``."""

    pieces: tuple[str | int, ...]
    names: tuple[str, ...]  # operand i's name as this format writes it
    values: tuple[float, ...] | None  # operand i's value; None if an operand is not a scalar
    latex: bool

    def with_names(self) -> str:
        return "".join(p if isinstance(p, str) else self.names[p] for p in self.pieces)

    def with_numbers(self, precision: int | None = None) -> str | None:
        """The formula with each operand's number in place (None: not all are scalars).
        ``precision`` None writes full precision (the shortest round-trip form)."""
        if self.values is None:
            return None
        out = []
        for i, piece in enumerate(self.pieces):
            if isinstance(piece, str):
                out.append(piece)
                continue
            text = plugged(self.values[piece], precision, self.latex)
            before = self.pieces[i - 1] if i else ""
            after = self.pieces[i + 1] if i + 1 < len(self.pieces) else ""
            if len(self.pieces) == 1:  # the formula is the operand: nothing to keep apart
                text = text[1:-1] if text.startswith("(") else text
            elif (isinstance(before, str) and isinstance(after, str) and text.startswith("(")
                    and before.endswith(_OPEN) and after.startswith(_CLOSE)):
                text = text[1:-1]  # sign(−6), not sign((−6)): it is bracketed already
            out.append(text)
        return "".join(out)

    @property
    def has_operands(self) -> bool:
        return any(not isinstance(p, str) for p in self.pieces)


def plugged(value: float, precision: int | None, latex: bool = False) -> str:
    """A number put in place of a variable: negative ones in parentheses, so that
    ``−x``, ``x²`` and ``y·x`` still mean what they say."""
    text = repr(float(value)) if precision is None else number(value, precision)
    if latex and "e" in text and "inf" not in text:
        mantissa, exponent = text.split("e")
        text = rf"{mantissa} \times 10^{{{int(exponent)}}}"
        return f"({text})"
    return f"({text})" if text.startswith("-") else text


def writes_number(text: str, number_text: str) -> bool:
    """Whether a formula with numbers in place already is that number (``−x`` at x = 1 is
    ``−1``, ``x`` is ``(−4)``), so the value need not follow it."""
    bare = text.replace("−", "-").replace(" ", "")
    return bare in (number_text, f"({number_text})")


def variables(prim: Primitive) -> tuple[str, ...]:
    """The names a primitive's formulas give its inputs: the names its rules take them by,
    ``rule(g, out, x, y, **params)`` — x and y for most; y and t for ``squared_error``,
    whose ``2(y − t)`` would be misread under the x, y convention. A variadic primitive's
    formulas name no input: ()."""
    if prim.variadic:
        return ()
    arity = prim.arity or 0
    return tuple(_parameter_names(prim.vjps[0])[2:2 + arity])


def _parameter_names(rule) -> list[str]:
    """A rule's positional parameter names, from its code object (as inspect would, without
    inspect's 18 ms import on every explain); inspect for anything without one."""
    code = getattr(rule, "__code__", None)
    if code is not None and not code.co_flags & 0x04:  # 0x04: CO_VARARGS, *inputs
        return list(code.co_varnames[:code.co_argcount])
    import inspect

    return list(inspect.signature(rule).parameters)


def bind(template: str, inputs: tuple[str, ...], latex: bool) -> tuple[str | int, ...]:
    """``template``'s pieces, where input variable k is slot k and ``out`` slot len(inputs)."""
    slots = {name.lower(): k for k, name in enumerate(inputs)}
    slots[OUT] = len(inputs)
    pieces: list[str | int] = []
    start = 0
    for match in (_LATEX_WORD if latex else _TEXT_WORD).finditer(template):
        word = match.group()
        key = word if word == OUT else word.lower() if len(inputs) > 2 else word
        if word.startswith("\\") or key not in slots:
            continue
        pieces += [template[start:match.start()], slots[key]]
        start = match.end()
    pieces.append(template[start:])
    return tuple(p for p in pieces if p != "")


def latex_name(name: str, upright: bool = False) -> str:
    """A node's name as LaTeX math: ``x``, ``w_{0}`` for w0, ``\\mathrm{mul1}``. Only ASCII
    letters, digits and underscores are kept (any other character becomes ``?``), so that a
    name can go into Markdown math and a pdflatex document without escaping anything else.
    ``upright``: always the ``\\mathrm{…}`` form, which shows every character as written."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c == "_") else "?" for c in name)
    single = re.fullmatch(r"([A-Za-z])_?(\d+)", safe)
    if upright:
        return r"\mathrm{" + safe.replace("_", r"\_") + "}"
    if len(safe) == 1:
        return safe
    if single:
        return f"{single.group(1)}_{{{single.group(2)}}}"
    return r"\mathrm{" + safe.replace("_", r"\_") + "}"
