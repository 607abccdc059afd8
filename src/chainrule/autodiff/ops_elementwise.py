"""Elementwise primitives beyond the arithmetic: sqrt, abs, clamp, minimum, where, and the
comparisons. Their entries join :data:`chainrule.autodiff.ops.PRIMITIVES` (``ops`` imports
this module).

Subgradients match PyTorch, which the tests check at the kinks themselves: abs′(0) = 0;
clamp′ = 1 on the closed interval min ≤ x ≤ max, boundaries included, and 0 everywhere when
min > max (every output is then max, a constant); ``minimum`` splits a tie ½–½ as ``maximum``
does; sqrt′(0) = +∞.

The comparisons are not differentiable (``differentiable=False``): their results are boolean
arrays, and ``apply`` records no node for them, as PyTorch gives them no ``grad_fn``.
``where``'s condition is a parameter, not an input, for the same reason: no gradient can
flow into a boolean; x and y get the upstream gradient where the condition picks them, and
the engine sums it back over broadcast axes as for ``add``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import ShapeError
from chainrule.autodiff.op_table import _define, no_gradient
from chainrule.autodiff.ops_basic import _maximum_share

Array = np.ndarray


def _sqrt_grad(g: Array, out: Array, x: Array) -> Array:
    # g / (2√x): +∞ at x = 0 as in PyTorch, without NumPy's division warning
    with np.errstate(divide="ignore", invalid="ignore"):
        return g / (2 * out)


def _bounds(low: Any, high: Any) -> None:
    if low is None and high is None:
        raise ShapeError("clamp: give at least one of min and max")
    for name, bound in (("min", low), ("max", high)):
        if bound is not None and np.isnan(bound):
            raise ShapeError(f"clamp: {name} is NaN")


def clamp(x: Array, min: float | None = None, max: float | None = None) -> Array:
    _bounds(min, max)
    # max(x, min) first, then min(·, max): PyTorch's order, so min > max gives max
    out = x if min is None else np.maximum(x, min)
    return out if max is None else np.minimum(out, max)


def _clamp_grad(g: Array, out: Array, x: Array, min: float | None = None,
                max: float | None = None) -> Array:
    inside = np.ones(x.shape, dtype=bool) if min is None else x >= min
    if max is not None:
        inside &= x <= max
    return g * inside


def where(x: Array, y: Array, condition: Any = None) -> Array:
    return np.where(condition, x, y)


def _where_grad_x(g: Array, out: Array, x: Array, y: Array, condition: Any = None) -> Array:
    return np.where(condition, g, 0)


def _where_grad_y(g: Array, out: Array, x: Array, y: Array, condition: Any = None) -> Array:
    return np.where(condition, 0, g)


# --- the table ------------------------------------------------------------------------------
# fmt: off

_define("sqrt", np.sqrt,
        (_sqrt_grad,),
        "√x", ("1/(2√x)",), r"\sqrt{x}", (r"\frac{1}{2\sqrt{x}}",))

_define("abs", np.abs,
        (lambda g, out, x: g * np.sign(x),),  # abs'(0) = sign(0) = 0, as in PyTorch
        "|x|", ("sign(x)",), r"\lvert x \rvert", (r"\operatorname{sign}(x)",))

_define("clamp", clamp,
        (_clamp_grad,),
        "min(max(x, a), b)", ("1 if a ≤ x ≤ b, else 0",),
        r"\min(\max(x, a), b)", (r"[a \le x \le b]",))

_define("minimum", np.minimum,
        (lambda g, out, x, y: g * _maximum_share(y, x),
         lambda g, out, x, y: g * _maximum_share(x, y)),
        "min(x, y)", ("1 if x < y, ½ if x = y, else 0", "1 if y < x, ½ if x = y, else 0"),
        r"\min(x, y)", (r"[x < y] + \tfrac12 [x = y]", r"[y < x] + \tfrac12 [x = y]"))

_define("where", where,
        (_where_grad_x, _where_grad_y),
        "x where c, else y", ("1 where c, else 0", "0 where c, else 1"),
        r"\begin{cases} x & c \\ y & \lnot c \end{cases}", (r"[c]", r"[\lnot c]"))

for _name, _forward, _symbol, _latex in (
        ("lt", np.less, "<", "<"), ("le", np.less_equal, "≤", r"\le"),
        ("gt", np.greater, ">", ">"), ("ge", np.greater_equal, "≥", r"\ge"),
        ("eq", np.equal, "=", "="), ("ne", np.not_equal, "≠", r"\ne")):
    _define(_name, _forward,
            (no_gradient(_name), no_gradient(_name)),
            f"[x {_symbol} y]", ("none (a boolean result)",) * 2,
            rf"[x {_latex} y]", (r"\text{none}",) * 2,
            differentiable=False)

# fmt: on
