"""Dataclasses whose fields are set once, by ``__init__``, and never again.

This is what ``@dataclass(frozen=True)`` guarantees, for less at import. On Python 3.11 a
frozen dataclass compiles a ``__setattr__`` and a ``__delattr__`` of its own, and an
``__init__`` that sets each field through ``object.__setattr__``; for the sixteen frozen
classes `chainrule explain` imports, that was 18 million instructions of start-up (callgrind,
PYTHONHASHSEED=0: 523 M → 505 M for the imports), about 5 ms. A class derives from
:class:`Frozen` and takes a plain ``@dataclass`` instead, with ``unsafe_hash=True`` where
``eq`` is on, to keep the field-wise hash that frozen gave. Assigning a field again, or
deleting one, raises the same :class:`dataclasses.FrozenInstanceError`; ``replace``,
``copy`` and ``pickle`` work as before, since each sets the fields of a new instance.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from typing import Any


class Frozen:
    """A base for dataclasses: each attribute may be set once (by ``__init__``)."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        if _is_set(self, name):
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")


def _is_set(instance: object, name: str) -> bool:
    """Whether ``instance`` holds ``name`` itself: in its ``__dict__`` or, for a class with
    slots, in a slot that has been filled. A class attribute (a field's default) does not
    count, so that ``__init__`` can set the field."""
    try:
        return name in object.__getattribute__(instance, "__dict__")
    except AttributeError:  # slots only
        pass
    try:
        object.__getattribute__(instance, name)
    except AttributeError:
        return False
    return True
