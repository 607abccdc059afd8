"""Other books' conventions, recognised and read back, not marked as mistakes.

A sheet worked correctly in another book's convention writes some quantities differently:

- ``err_sign``: Han, Kamber & Pei write Err = −δ (the error, t − o, rather than ∂E/∂z), and
  then add η·Err·o to the weights: their deltas carry the other sign;
- ``per_example_deltas``: deltas of each example without the mean's 1/N, the gradients then
  averaged over the batch: their deltas (and ∂E/∂a) are N times chainrule's;
- ``one_based``: indices counted from 1, as w¹₁₂ is written: ``W1[1][2]`` for ``W1[0][1]``.

:func:`readings` gives each convention's reading of the answers (the convention's name, how to
say it, and the answers as chainrule names and scales them); the marking keeps the one under
which most answers are credited, and says which it was.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Iterator

from chainrule.spec.network import Spec

DESCRIPTIONS = {
    "err_sign": "the deltas are read as Err = −δ (Han, Kamber & Pei's sign: t − o rather than "
                "∂E/∂z), and judged as −Err",
    "per_example_deltas": "the deltas are read as each example's, without the batch mean's "
                          "1/N (the gradients averaged over the batch), and judged divided by N",
    "one_based": "the indices are read as counted from 1 (w¹₁₂ written W1[1][2]), and judged "
                 "as W1[0][1]",
}
_INDEX = re.compile(r"\[\s*(\d+)\s*(?:,\s*(\d+)\s*)?\]")
_DELTAS = ("backward.delta",)
_BACKWARD = ("backward.delta", "backward.dE_da")


Scale = tuple[tuple[str, ...], float]  # (the sections changed, the factor on their numbers)


def readings(spec: Spec, answers: dict[str, Any], renamed: bool = True
             ) -> Iterator[tuple[str, dict[str, Any], Scale | None]]:
    """(convention, the answers' keys as chainrule names them, how their numbers scale) for
    every convention the sheet could be written in; ``renamed`` False: the names are
    chainrule's own (a worksheet's key), so they are not read as another numbering. A scale
    multiplies a number and half a unit of its last digit alike, so the precision stays the
    one written."""
    if any(key.startswith(_DELTAS) for key in answers):
        yield "err_sign", answers, (_DELTAS, -1.0)
    if spec.batched and any(key.startswith(_BACKWARD) for key in answers):
        yield "per_example_deltas", answers, (_BACKWARD, 1.0 / len(spec.inputs))
    shifted = _one_based(answers) if renamed else None
    if shifted is not None:
        yield "one_based", shifted, None


def scaled(cell, scale: Scale | None):
    """``cell`` with its numbers scaled, if its quantity is among the scale's sections."""
    if scale is None or not cell.key.startswith(scale[0]):
        return cell
    factor = scale[1]
    return replace(cell, value=cell.value * factor, half_unit=cell.half_unit * abs(factor))


def _one_based(answers: dict[str, Any]) -> dict[str, Any] | None:
    """The answers with every index lowered by one, if every index is at least 1."""
    indices = [int(i) for key in answers for match in _INDEX.finditer(key)
               for i in match.groups() if i is not None]
    if not indices or min(indices) < 1:
        return None

    def lower(match: re.Match) -> str:
        parts = [str(int(i) - 1) for i in match.groups() if i is not None]
        return "[" + ",".join(parts) + "]"

    return {_INDEX.sub(lower, key): value for key, value in answers.items()}
