"""How a Tensor shows itself in Jupyter: its name, shape, values and gradient as a table."""

from __future__ import annotations

import html

import numpy as np

PRECISION = 6


def _cell(values: np.ndarray | None) -> str:
    if values is None:
        return "<em>None</em>"
    text = np.array2string(np.asarray(values), precision=PRECISION, separator=", ",
                           suppress_small=False, threshold=200)
    return f"<pre style='margin:0'>{html.escape(text)}</pre>"


def tensor_html(tensor) -> str:
    name = html.escape(tensor.name) if tensor.name else "Tensor"
    made_by = f"made by <code>{html.escape(tensor.op)}</code>" if tensor.op else "leaf"
    caption = (f"<b>{name}</b> · shape {tensor.shape} · {tensor.dtype} · {made_by}"
               + ("" if tensor.requires_grad else " · constant"))
    return (f"<table><caption style='text-align:left'>{caption}</caption>"
            f"<tr><th style='text-align:left'>data</th><td>{_cell(tensor.data)}</td></tr>"
            f"<tr><th style='text-align:left'>grad</th><td>{_cell(tensor.grad)}</td></tr>"
            "</table>")
