"""The parts every layer's derivation is written with (:mod:`layer_derivations`,
:mod:`sequence_derivations`): numbers as shown, an element chosen to explain (``--param``), a
sum of terms checked against the engine's value, and maps shown as grids or summarised."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import numpy as np

from chainrule.explain.lens.layer_data import Piece
from chainrule.explain.numfmt import DEFAULT_SIGNIFICANT, number

MAX_TERMS = 36  # terms of one sum written out; the rest are counted
GRID_LIMIT = 16  # a feature map or kernel up to 16 × 16 is shown whole, per channel
CHANNEL_LIMIT = 4  # channels shown as grids; more are a per-channel table


class Focus(NamedTuple):
    """``--param 0.weight[1,0,2,2]``: the parameter and the element to derive."""

    name: str
    index: tuple[int, ...] | None

    @classmethod
    def parse(cls, text: str) -> "Focus":
        found = re.fullmatch(r"\s*([\w.]+)\s*(?:\[([\d,\s]+)\])?\s*", text or "")
        if not found:
            from chainrule.errors import ChainruleError

            raise ChainruleError(f"--param: expected a parameter like 0.weight or "
                                 f"0.weight[1,0,2,2], got {text!r}")
        index = None if found.group(2) is None else tuple(
            int(v) for v in found.group(2).split(",") if v.strip())
        return cls(found.group(1), index)


def n(value: float) -> str:
    return number(value, DEFAULT_SIGNIFICANT)


def _idx(index) -> str:
    return "[" + ",".join(str(int(i)) for i in index) + "]"


def _pick(grad: np.ndarray, name: str, focus: Focus | None) -> tuple[int, ...]:
    if focus is not None and focus.name == name and focus.index is not None:
        from chainrule.errors import ChainruleError

        index = focus.index
        if len(index) != grad.ndim or any(not 0 <= i < s for i, s in zip(index, grad.shape)):
            raise ChainruleError(f"--param: {name} has shape {grad.shape}; {_idx(index)} is "
                                 f"not an element of it")
        return index
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(np.abs(grad))), grad.shape))


def _sum_piece(title: str, lhs: str, terms: list[tuple[str, float]], engine: float,
               skipped: str = "") -> Any:
    total = float(sum(v for _, v in terms))
    shown = [text for text, _ in terms[:MAX_TERMS]]
    rest = len(terms) - len(shown)
    body = " + ".join(shown) if shown else "0"
    if rest:
        body += f" + … ({rest} more terms)"
    lines = [f"{lhs}", f"  = {body}", f"  = {n(total)}"]
    if skipped:
        lines.append(f"  ({skipped})")
    agree = bool(np.isclose(total, engine, rtol=1e-9, atol=1e-12))
    lines.append(f"  the engine's value: {n(engine)}" + ("" if agree else "  ≠ the sum above"))
    return Piece("equation", title, lines, check=agree)


def _grids(title: str, array: np.ndarray, what: str) -> list[Any]:
    """An example's (C, H, W) or (C, L) map as one grid per channel, or a table per channel
    when it is too large to read."""
    if array.ndim == 1:
        array = array[None, None, :]
    elif array.ndim == 2:
        array = array[:, None, :]
    channels = array.shape[0]
    if channels == 1 and array.shape[1] == 1 and array.shape[2] <= GRID_LIMIT:
        return [Piece("grid", title, array=array[0])]
    if channels <= CHANNEL_LIMIT and max(array.shape[1:]) <= GRID_LIMIT:
        return [Piece("grid", f"{title}, channel {c}", array=array[c]) for c in range(channels)]
    rows = [[str(c), n(array[c].min()), n(array[c].max()), n(array[c].mean()),
             n(np.abs(array[c]).sum())] for c in range(channels)]
    return [Piece("table", f"{title} ({what}), per channel", headers=[
        "channel", "min", "max", "mean", "Σ|·|"], rows=rows)]




HEATMAP_LIMIT = 64  # a 2-D array up to 64 × 64 is a grid: numbers up to 16, a heatmap beyond


def _matrix(title: str, array: np.ndarray, row: str) -> Any:
    """A 2-D array (a sequence's positions × features, an attention matrix) as one grid —
    the page draws it as a heatmap, the text formats summarise it by row when it is larger
    than 16 × 16 — or, beyond 64 × 64, as a table of its rows' summaries. ``row`` names a
    row (``position``, ``query``)."""
    array = np.asarray(array, dtype=float)
    if array.ndim == 1:
        array = array[None, :]
    if max(array.shape) <= HEATMAP_LIMIT:
        return Piece("grid", title, array=array)
    headers, rows = grid_summary(array, row)
    return Piece("table", title + summary_note(array, row), headers=headers, rows=rows)


def large_grid(array: np.ndarray) -> bool:
    """A grid the text formats summarise by row (the page draws it whole, as a heatmap)."""
    return max(np.atleast_2d(array).shape) > GRID_LIMIT


def grid_summary(array: np.ndarray, row: str = "row") -> tuple[list[str], list[list[str]]]:
    """Each row's smallest and largest value (and where) and its mean, the first
    :data:`MAX_TERMS` rows: how a grid too large to print is written."""
    rows = []
    for r in range(min(len(array), MAX_TERMS)):
        values = array[r]
        top = int(np.argmax(values))
        rows.append([str(r), n(values.min()), f"{n(values[top])} at {top}", n(values.mean())])
    return [row, "min", "max (at column)", "mean"], rows


def summary_note(array: np.ndarray, row: str = "row") -> str:
    more = f", the first {MAX_TERMS} of {len(array)}" if len(array) > MAX_TERMS else ""
    return f" ({array.shape[0]} × {array.shape[1]}, one {row} a line{more})"


def vector(values: Any, limit: int = 4) -> str:
    """A short vector written out, ``[0.1, −0.2]``; a longer one by its 2-norm, ``‖·‖ 5.707``
    (:data:`LONG_VECTORS` says so under a table of them)."""
    values = np.atleast_1d(np.asarray(values, dtype=float))
    if values.size == 1:
        return n(values[0])
    if values.size <= limit:
        return "[" + ", ".join(n(v) for v in values) + "]"
    return f"‖·‖ {n(float(np.linalg.norm(values)))}"


LONG_VECTORS = "Vectors of more than four values are written as their 2-norm, ‖·‖."


def agrees(ours: Any, engine: Any) -> bool:
    """A recomputed quantity against the engine's, to the last few bits."""
    return bool(np.allclose(ours, engine, rtol=1e-9, atol=1e-12))


def checked_table(title: str, headers: list[str], rows: list[list[str]], ok: bool) -> Any:
    """A table of recomputed quantities, saying under it whether they are the engine's."""
    said = ("each entry, recomputed from the values above, equals the engine's" if ok else
            "≠ the engine's values: these entries were recomputed and differ")
    return Piece("table", title, lines=[said], headers=headers, rows=rows, check=ok)
