"""Jupyter's display hooks, for objects that sit below their renderers.

Jupyter asks an object itself for its picture (``_repr_html_``, ``_repr_markdown_``), but a
Tensor sits in the engine and a Trace in the explain layer, below the renderers that draw
them, and imports run one way. So the renderers register here what draws each class
(:func:`register`), and the hooks ask here (:func:`shown`). The renderers are imported only
when a picture is first asked for: ``import chainrule``, which runs before any of its
modules, hands this module a loader (:func:`register_later`) that ``shown`` runs once, so
the hooks work in any session that can hold such an object without every session paying
for the renderers. A class nobody registered shows as its plain repr (the hook returns
None, which Jupyter reads as "no picture of this kind").
"""

from __future__ import annotations

from typing import Any, Callable

_DRAWERS: dict[tuple[type, str], Callable[[Any], str]] = {}
_LOADERS: list[Callable[[], None]] = []  # each registers drawers; run once, on first use


def register(cls: type, kind: str, draw: Callable[[Any], str]) -> None:
    """``draw(obj)`` is the ``kind`` ("html" or "markdown") picture of a ``cls``."""
    _DRAWERS[cls, kind] = draw


def register_later(load: Callable[[], None]) -> None:
    """``load()`` registers drawers; it runs when a picture is first asked for."""
    _LOADERS.append(load)


def shown(obj: Any, kind: str) -> str | None:
    """The ``kind`` picture of ``obj`` (its class's, or a base class's), or None."""
    while _LOADERS:
        _LOADERS.pop(0)()
    for cls in type(obj).__mro__:
        draw = _DRAWERS.get((cls, kind))
        if draw is not None:
            return draw(obj)
    return None
