"""Jupyter's display hooks, for objects that sit below their renderers.

Jupyter asks an object itself for its picture (``_repr_html_``, ``_repr_markdown_``), but a
Tensor sits in the engine and a Trace in the explain layer, below the renderers that draw
them, and imports run one way. So the renderers register here what draws each class
(:func:`register`), and the hooks ask here (:func:`shown`). ``import chainrule`` imports the
renderers' entry points (the package's public API), so the hooks are registered in any
session that can hold such an object; a class nobody registered shows as its plain repr
(the hook returns None, which Jupyter reads as "no picture of this kind").
"""

from __future__ import annotations

from typing import Any, Callable

_DRAWERS: dict[tuple[type, str], Callable[[Any], str]] = {}


def register(cls: type, kind: str, draw: Callable[[Any], str]) -> None:
    """``draw(obj)`` is the ``kind`` ("html" or "markdown") picture of a ``cls``."""
    _DRAWERS[cls, kind] = draw


def shown(obj: Any, kind: str) -> str | None:
    """The ``kind`` picture of ``obj`` (its class's, or a base class's), or None."""
    for cls in type(obj).__mro__:
        draw = _DRAWERS.get((cls, kind))
        if draw is not None:
            return draw(obj)
    return None
