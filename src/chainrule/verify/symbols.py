"""Answers named by the symbols a worksheet prints: ``δ²₁``, ``w^1_12``, ``∂E/∂w¹₁₂``.

A sheet copied from a worksheet (or a textbook) names its numbers as they are printed there,
not as the trace's JSON does. Each element of the step has its textbook symbol
(:func:`chainrule.explain.notation.element_symbol`: units from 1, layers as superscripts); a
written name is read by its *canonical* form, which is the same for every way of typing it:

* Unicode super- and subscripts or ``^`` and ``_`` (with or without LaTeX braces):
  ``w¹₁₂`` = ``w^1_12`` = ``w^{1}_{12}``; a comma between units is kept (``w^1_{10,2}``);
* ``δ`` or ``delta`` or ``\\delta``; ``∂`` or ``d`` or ``\\partial``: ``∂E/∂w¹₁₂`` =
  ``dE/dw^1_12``;
* the updated value of a parameter: ``w¹₁₂ (updated)``, ``w¹₁₂⁺``, ``w^1_12+`` or
  ``w^1_12_new``;
* spaces and letter case do not matter.

Only names that are no quantity of chainrule's (``forward.z1[0]``) are read this way.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import numpy as np

from chainrule.explain.notation import element_symbol
from chainrule.spec.network import Spec

_UNICODE = str.maketrans({**{c: str(i) for i, c in enumerate("⁰¹²³⁴⁵⁶⁷⁸⁹")},
                          **{c: str(i) for i, c in enumerate("₀₁₂₃₄₅₆₇₈₉")}})
_SUPERSCRIPT = set("⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾")
_SUBSCRIPT = set("₀₁₂₃₄₅₆₇₈₉")
_UPDATED = re.compile(r"(?:\(updated\)|⁺|\+|_new|new)$")


def canonical(text: str) -> str:
    """One spelling for every way of writing a symbol (see the module docstring)."""
    text = str(text).strip().lower()
    for word, short in ((r"\delta", "delta"), (r"\partial", "d"), ("δ", "delta"), ("∂", "d")):
        text = text.replace(word, short)
    text = re.sub(r"[\s{}\\]", "", text)
    updated = bool(_UPDATED.search(text))
    text = _UPDATED.sub("", text)
    out, mode = [], ""
    for char in text:  # a run of superscripts becomes ^run, of subscripts _run
        kind = "^" if char in _SUPERSCRIPT else "_" if char in _SUBSCRIPT else ""
        if kind and kind != mode:
            out.append(kind)
        mode = kind
        out.append(char.translate(_UNICODE).replace("⁽", "(").replace("⁾", ")"))
    return "".join(out) + ("+" if updated else "")


def symbol_names(spec: Spec, truth: Mapping[str, Any]) -> dict[str, str]:
    """Every element's canonical symbol → its name as chainrule writes it
    (``"delta^2_1"`` → ``"backward.delta2[0]"``); a symbol two elements share is left out."""
    found: dict[str, list[str]] = {}
    shared = spec.bias == "shared_per_layer"
    for key, value in truth.items():
        for index in np.ndindex(np.shape(value)):
            symbol = element_symbol(key, index, spec.batched, shared)
            if symbol is None:
                continue
            name = key + "".join(f"[{i}]" for i in index)
            found.setdefault(canonical(symbol.text), []).append(name)
    return {symbol: names[0] for symbol, names in found.items() if len(names) == 1}


def read_symbols(spec: Spec, truth: Mapping[str, Any], answers: Mapping[str, Any]
                 ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """``answers`` with each key that is a worksheet's symbol (and no quantity of
    chainrule's) replaced by chainrule's name; and the (symbol, name) pairs read so."""
    names: dict[str, str] | None = None
    out, read = {}, []
    for key, value in answers.items():
        base = str(key).split("[")[0].strip()
        if base in truth:
            out[key] = value
            continue
        if names is None:
            names = symbol_names(spec, truth)
        name = names.get(canonical(key))
        if name is None or name in out:
            out[key] = value
            continue
        out[name] = value
        read.append((str(key), name))
    return out, read
