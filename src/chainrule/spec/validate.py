"""Field validators for spec files: each failure names the field path and the expectation."""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from chainrule.errors import SpecError
from chainrule.nn.activations import unknown_name_message


def kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false",
            type(None): "null"}.get(type(value), type(value).__name__)


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters: a message quotes what it refuses, but a
    100,000-element list or a megabyte string must not become the message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def required(data: dict, key: str) -> Any:
    if key not in data:
        raise SpecError(f"{key}: required field is missing")
    return data[key]


def number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"{path}: expected a number, got {kind(value)} {shown(value)}")
    if not math.isfinite(value):
        raise SpecError(f"{path}: expected a finite number, got {value}")
    return float(value)


def known_name(value: Any, path: str, kind: str, known: Mapping[str, Any]) -> str:
    if not isinstance(value, str) or value not in known:
        raise SpecError(f"{path}: " + unknown_name_message(kind, value, known))
    return value


def array(value: Any, path: str) -> np.ndarray:
    """Nested lists of finite numbers; the path of the first bad entry in the message."""
    if isinstance(value, list):
        rows = [array(v, f"{path}[{i}]") for i, v in enumerate(value)]
        shapes = {row.shape for row in rows}
        if len(shapes) > 1:
            raise SpecError(f"{path}: rows of different lengths {sorted(shapes)}")
        return np.array(rows, dtype=float).reshape((len(rows), *(rows[0].shape if rows else ())))
    return np.array(number(value, path))


def check_fields(data: dict, allowed: tuple[str, ...], prefix: str = "") -> None:
    """Refuse an unknown (often misspelt) field, suggesting the closest known one."""
    for key in data:
        if key not in allowed:
            import difflib  # only for the error

            close = difflib.get_close_matches(str(key)[:100], allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SpecError(f"{prefix}{str(key)[:80]}: unknown field{hint}")
