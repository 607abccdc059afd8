"""Renderers: pure functions from explained data to text, and the one way in to them.

``render(trace, fmt, **options)`` writes a network step's :class:`~chainrule.explain.trace.Trace`
or a computation's :class:`~chainrule.explain.graph_data.GraphTrace` as ``fmt`` — ``text``,
``markdown``, ``latex``, ``html`` or ``json``. The data classes never call their renderers:
Jupyter's display hooks on them (and on Tensor) ask :mod:`chainrule.display`, where this
module registers what draws each class. Each format's module is imported when it is asked
for, so the command line starts without the ones it does not use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from chainrule import display
from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ChainruleError
from chainrule.explain.graph_data import GraphTrace
from chainrule.explain.trace import Trace

FORMATS = ("text", "markdown", "latex", "html", "json")
# format → (module, function) for a network step's trace; a graph goes to render.graph
_TRACE_RENDERERS = {"text": ("text", "render_text"), "markdown": ("markdown", "render_markdown"),
                    "latex": ("latex", "render_latex"), "html": ("html", "render_html")}


def render(trace: Any, fmt: str = "text", **options: Any) -> str:
    """``trace`` (a Trace or a GraphTrace) written as ``fmt``; ``precision`` and the format's
    own options (``fragment`` for LaTeX and HTML, ``color`` and ``width`` for text, ``param``
    and ``only`` for a network's step) pass through."""
    if fmt not in FORMATS:
        raise ChainruleError(f"render: unknown format {fmt!r} (expected one of "
                             f"{', '.join(FORMATS)})")
    if isinstance(trace, GraphTrace):
        from chainrule.explain.render.graph import render_graph

        return render_graph(trace, fmt, **options)
    if not isinstance(trace, Trace):
        raise ChainruleError(f"render: expected a Trace or a GraphTrace, got "
                             f"{type(trace).__name__}")
    if fmt == "json":
        return trace.to_json(**options)
    module, function = _TRACE_RENDERERS[fmt]
    return getattr(import_module(f"chainrule.explain.render.{module}"), function)(trace, **options)


def _tensor_html(tensor: Tensor) -> str:
    from chainrule.explain.render.notebook import tensor_html

    return tensor_html(tensor)


def _page(trace: Any) -> str:
    """The page as one block for a notebook; what cannot be drawn (a graph too large for a
    page) is one line there, as on the command line, not a traceback."""
    try:
        return render(trace, "html", fragment=True)
    except ChainruleError as error:
        import html

        return f"<p><b>chainrule:</b> {html.escape(str(error))}</p>"


display.register(Trace, "html", _page)
display.register(Trace, "markdown", lambda trace: render(trace, "markdown"))
display.register(GraphTrace, "html", _page)
display.register(Tensor, "html", _tensor_html)
