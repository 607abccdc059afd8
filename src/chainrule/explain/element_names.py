"""Every reasonable spelling of one weight or bias, read back to its one key.

chainrule prints two spellings, each where it belongs, and says which is which: the
textbook's wˡᵢⱼ counts units from 1 (w¹₁₂ goes from unit 1 of layer 0 to unit 2 of layer 1),
NumPy's ``W1[0,1]`` counts from 0 — they are the same weight. A user may type either, in any
of the forms people write:

* NumPy, 0-based: ``W1[0,1]``, ``W1[0][1]``, ``W1[0, 1]``, ``b2[0]``;
* textbook, 1-based: ``w¹₁₂``, ``w^1_{12}``, ``w^{1}_{1,2}``, ``w1_12``, ``w1_1,2``, ``b²₁``,
  ``b2_1``. Digits run together (``12``) only while every unit count is below 10; past that a
  comma is needed, and a run that could be read two ways is refused with both readings.
"""

from __future__ import annotations

import re

from chainrule.errors import ChainruleError

_FROM_SUP = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
_FROM_SUB = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")
# patterns, compiled (by re, which keeps them) the first time a name is read, not at start-up
_NUMPY = r"([Wb])(\d+)\s*\[\s*(\d+)\s*(?:(?:,|\]\s*\[)\s*(\d+)\s*)?\]"
_BOOK = r"([wb])\^?\{?(\d+)\}?_?\{?(\d+(?:,\d+)?)\}?"
_UNICODE = r"([wb])([⁰¹²³⁴⁵⁶⁷⁸⁹]+)([₀₁₂₃₄₅₆₇₈₉]+(?:,[₀₁₂₃₄₅₆₇₈₉]+)?)"

SPELLINGS = "W1[0,1] (NumPy, from 0) or w¹₁₂, w^1_{12}, w1_12 (textbook, from 1)"
MAX_TEXT = 64  # characters: any real element name is far shorter (and int() of a huge digit
               # run would be slow or refused)


def element_key(text: str, shapes: dict[str, tuple[int, ...]]) -> str:
    """The key (``W1[0,1]``) of the element ``text`` names, given the parameters' shapes;
    one :class:`ChainruleError` line naming the spellings when it names none."""
    if len(text) > MAX_TEXT:
        raise ChainruleError(f"--param {text[:20]!r}…: {len(text):,} characters; an element "
                             f"name has at most {MAX_TEXT}, like {SPELLINGS}")
    given = text.strip().replace(" ", "")
    if (m := re.fullmatch(_NUMPY, given)) is not None:
        letter, layer, first, second = m.groups()
        index = (int(first),) if second is None else (int(first), int(second))
        return _checked(f"{letter}{layer}", index, shapes, text)
    unicode = re.fullmatch(_UNICODE, given)
    book = re.fullmatch(_BOOK, given)
    if unicode is not None:
        letter = unicode.group(1)
        layer = unicode.group(2).translate(_FROM_SUP)
        units = unicode.group(3).translate(_FROM_SUB)
    elif book is not None:
        letter, layer, units = book.groups()
    else:
        raise ChainruleError(f"--param {text!r}: not a weight or bias; write {SPELLINGS}")
    name = f"{'W' if letter == 'w' else 'b'}{int(layer)}"
    if name not in shapes:
        raise ChainruleError(f"--param {text!r}: this network has no {name} "
                             f"(parameters: {', '.join(shapes)})")
    readings = _readings(units, len(shapes[name]))
    fitting = [r for r in readings if all(1 <= i <= n for i, n in zip(r, shapes[name]))]
    if len(fitting) > 1:
        shown = " or ".join(f"{letter}{layer}_{','.join(map(str, r))}" for r in fitting)
        raise ChainruleError(f"--param {text!r}: could be {shown}; separate the units with "
                             "a comma")
    if not fitting:
        raise ChainruleError(f"--param {text!r}: {name} has shape {shapes[name]}, and "
                             f"textbook units count from 1")
    return _checked(name, tuple(i - 1 for i in fitting[0]), shapes, text)


def _readings(units: str, dims: int) -> list[tuple[int, ...]]:
    """The ways a run of unit digits splits into ``dims`` numbers (a comma decides)."""
    if "," in units:
        parts = tuple(int(p) for p in units.split(","))
        return [parts] if len(parts) == dims else []
    if dims == 1:
        return [(int(units),)]
    return [(int(units[:k]), int(units[k:])) for k in range(1, len(units))
            if not units[k:].startswith("0")]


def _checked(name: str, index: tuple[int, ...], shapes: dict[str, tuple[int, ...]],
             text: str) -> str:
    if name not in shapes:
        raise ChainruleError(f"--param {text!r}: this network has no {name} "
                             f"(parameters: {', '.join(shapes)})")
    shape = shapes[name]
    if len(index) != len(shape) or not all(0 <= i < n for i, n in zip(index, shape)):
        raise ChainruleError(f"--param {text!r}: {name} has shape {shape}; NumPy indices "
                             f"count from 0")
    return f"{name}[{','.join(map(str, index))}]"
