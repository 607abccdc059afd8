"""The errors chainrule raises on purpose.

Every message names the thing, the place and the expectation, so the CLI can print it as one
line (exit code 2) and a library user can read it without a traceback.
"""

from __future__ import annotations


class ChainruleError(Exception):
    """Base class: something the user gave chainrule is wrong or cannot be done."""


class SpecError(ChainruleError, ValueError):
    """A network spec is malformed: the message starts with the field path (`weights[1]: ...`)."""


class ShapeError(ChainruleError, ValueError):
    """Operands whose shapes do not fit the operation."""


class GradError(ChainruleError, RuntimeError):
    """backward() cannot run as asked (non-scalar root without upstream, nothing to differentiate)."""


class GradcheckError(ChainruleError, AssertionError):
    """A gradient check failed; the message names the first failing element."""


class MissingDependency(ChainruleError, ImportError):
    """An optional extra is needed; the message says how to install it."""


class ExprError(ChainruleError, ValueError):
    """An expression (``explain --expr``) or its ``--at`` values are malformed or cannot be
    evaluated: the message starts with the place (``column 7``, ``line 2, column 5`` or the
    ``at`` item), and ``line``/``column`` (1-based, in the user's text) say it as numbers."""

    def __init__(self, message: str, *, line: int | None = None,
                 column: int | None = None) -> None:
        super().__init__(message)
        self.line, self.column = line, column
