"""Writing a student's numbers on an answer sheet (tests/student_model.py works them): which
quantities a layout asks for, each number rounded or chopped to the decimals written, names
counted from 1 where a book does, and the noise of a real sheet (a blank, decimal commas,
typographic minus signs, a mistyped digit, a slipped leading digit)."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Callable

import numpy as np

def to_decimal(value: float, decimals: int, truncate: bool = False) -> Decimal:
    """``value`` to ``decimals`` decimals, rounded half up as a calculator does, or chopped."""
    return Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-decimals),
                                                rounding=ROUND_DOWN if truncate else ROUND_HALF_UP)


SECTION_ORDER = ("forward", "backward", "gradients", "updated", "loss_after")
LAYOUTS = {  # which sections an answer sheet asks for
    "full": ("forward", "backward", "gradients", "updated", "loss_after"),
    "backward": ("backward", "gradients", "updated"),
    "gradients": ("gradients", "updated"),
    "updates": ("updated", "loss_after"),
    "forward": ("forward",),
}


# --- writing an answer sheet -----------------------------------------------------------------


def sheet_keys(values: dict[str, np.ndarray], layout: str = "full") -> list[str]:
    """One key per element, in the order of a worked step: forward (z, a of each layer, then
    the loss), deltas from the output back, gradients, updated parameters, loss_after."""
    sections = LAYOUTS[layout]
    keys = []
    for name, value in values.items():
        section = name.split(".", 1)[0]
        if section not in sections or ".dE_da" in name:
            continue
        if np.ndim(value) == 0:
            keys.append(name)
        else:
            keys += [name + "".join(f"[{i}]" for i in index)
                     for index in np.ndindex(np.shape(value))]
    return sorted(keys, key=lambda k: SECTION_ORDER.index(k.split(".", 1)[0]))


def element(values: dict[str, np.ndarray], key: str) -> float:
    name, _, rest = key.partition("[")
    index = tuple(int(i) for i in rest.rstrip("]").split("][")) if rest else ()
    return float(np.asarray(values[name])[index])


def written(value: float, decimals: int | None, truncate: bool = False) -> str:
    """The number as the student writes it: ``decimals`` places, or every digit (repr)."""
    if decimals is None:
        return repr(float(value))
    text = f"{to_decimal(value, decimals, truncate):f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # -0.000 → 0.000


def answer_sheet(values: dict[str, np.ndarray], keys: list[str], decimals: int | None,
                 truncate: bool = False, one_based: bool = False) -> dict[str, str]:
    """The answers mapping judge_answers reads: key → text with the written precision."""
    sheet = {}
    for key in keys:
        shown = _one_based(key) if one_based else key
        sheet[shown] = written(element(values, key), decimals, truncate)
    return sheet


def _one_based(key: str) -> str:
    name, _, rest = key.partition("[")
    if not rest:
        return key
    return name + "".join(f"[{int(i) + 1}]" for i in rest.rstrip("]").split("]["))


# --- answer-sheet noise ----------------------------------------------------------------------


def blank(sheet: dict[str, str], key: str) -> dict[str, str]:
    """``key`` left empty (an empty cell of a CSV)."""
    return {**sheet, key: ""}


def decimal_commas(sheet: dict[str, str]) -> dict[str, str]:
    return {k: v.replace(".", ",") for k, v in sheet.items()}


def typographic_minus(sheet: dict[str, str]) -> dict[str, str]:
    return {k: v.replace("-", "−") for k, v in sheet.items()}


def digit_typo(sheet: dict[str, str], key: str, rng: np.random.Generator) -> dict[str, str]:
    """One digit of ``key``'s answer changed (a copying slip), never the sign or the point,
    nor the last digit (one off there is what a rounding slip looks like)."""
    text = sheet[key]
    digits = [i for i, c in enumerate(text) if c.isdigit()][:-1] or \
        [i for i, c in enumerate(text) if c.isdigit()]
    places = [i for i in digits if text[i] != "0"] or digits
    place = int(rng.choice(places))
    new = str((int(text[place]) + int(rng.integers(1, 9))) % 10)
    return {**sheet, key: text[:place] + new + text[place + 1:]}


Function = Callable[[float], float]


def leading_digit_slip(step: int) -> Function:
    """A slip that changes the leading digit by ``step`` (0.23 → 0.33), visible at any
    precision that shows that digit."""
    def slip(value: float) -> float:
        place = 10.0 ** np.floor(np.log10(abs(value))) if value else 0.1
        return float(value + step * place)
    return slip
