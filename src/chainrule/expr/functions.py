"""What an expression may compute: the one table of its functions and operators.

The parser (:mod:`chainrule.expr.syntax`) reads the names and arities from here, evaluation
(:mod:`chainrule.expr.program`) applies them, and messages and docs list them from here. Each entry
applies the engine's own Tensor surface, so the recorded graph is exactly the engine's: one
primitive node per call (``max(a, b)`` is ``maximum``, a tie splitting the gradient ½–½).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Callable

from chainrule.frozen import Frozen
from chainrule.tables.activations import LEAKY_RELU_SLOPE
from chainrule.autodiff.tensor import Tensor
from chainrule.autodiff.tensor_ops import maximum, minimum


@dataclass(unsafe_hash=True)
class Function(Frozen):
    """A callable name: its parameters (named in messages), how it is applied to tensors,
    what it computes, how many arguments must be given (``None``: all), and which parameters
    must be numbers written in the text (leaky relu's slope is a setting, not a node)."""

    params: tuple[str, ...]
    apply: Callable[..., Tensor]
    meaning: str
    required: int | None = None
    numeric: tuple[str, ...] = ()

    @property
    def least(self) -> int:
        return len(self.params) if self.required is None else self.required

    def signature(self, name: str) -> str:
        return f"{name}({', '.join(self.params)})"

    def arity_text(self) -> str:
        most = len(self.params)
        count = f"{self.least} or {most}" if self.least != most else str(most)
        return f"{count} argument{'s' if most > 1 else ''}"


def _leaky_relu(x: Tensor, slope: float = LEAKY_RELU_SLOPE) -> Tensor:
    return x.leaky_relu(slope)


FUNCTIONS: dict[str, Function] = {
    "exp": Function(("x",), Tensor.exp, "eˣ"),
    "log": Function(("x",), Tensor.log, "ln x, the natural logarithm"),
    "tanh": Function(("x",), Tensor.tanh, "tanh x"),
    "sigmoid": Function(("x",), Tensor.sigmoid, "σ(x) = 1 / (1 + e⁻ˣ)"),
    "relu": Function(("x",), Tensor.relu, "max(0, x); relu′(0) = 0"),
    "leaky_relu": Function(("x", "slope"), _leaky_relu,
                           f"x for x > 0, else slope · x (slope {LEAKY_RELU_SLOPE:g} if not "
                           "given)",
                           required=1, numeric=("slope",)),
    "softplus": Function(("x",), Tensor.softplus, "ln(1 + eˣ)"),
    "max": Function(("a", "b"), maximum, "the larger of a and b (as maximum)"),
    "maximum": Function(("a", "b"), maximum, "the larger of a and b; a tie splits ½–½"),
    "min": Function(("a", "b"), minimum, "the smaller of a and b (as minimum)"),
    "minimum": Function(("a", "b"), minimum, "the smaller of a and b; a tie splits ½–½"),
    "abs": Function(("x",), Tensor.abs, "|x|; abs′(0) = 0"),
    "sqrt": Function(("x",), Tensor.sqrt, "√x"),
}

# The binary operators, as written, and how each is applied: Tensor's own operators.
OPERATORS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "**": operator.pow,
}
