"""The table itself: what a primitive is (:class:`Primitive`), the one dictionary of them
(:data:`PRIMITIVES`) and ``_define``, which the modules of primitives call to add an entry —
:mod:`chainrule.autodiff.ops` (the arithmetic, the activations, matmul, sum, the shape basics),
``ops_elementwise``, ``ops_reduce``, ``ops_shape`` and ``fused``. The conventions a rule
follows are in :mod:`chainrule.autodiff.ops`; ``from chainrule.autodiff.ops import
PRIMITIVES`` is the usual way in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from chainrule.frozen import Frozen
from chainrule.errors import GradError, ShapeError

Array = np.ndarray
Vjp = Callable[..., Array]
Writing = tuple[str, tuple[str, ...], str, tuple[str, ...]]


@dataclass(slots=True, repr=False, eq=False)  # one of each; __repr__ below
class Primitive(Frozen):
    """One operation: forward, a vjp per input, and how to write it down.

    ``differentiable=False`` marks a primitive whose result is boolean or integer
    (comparisons, argmax): ``apply`` records no node for it and its result never requires a
    gradient, as in PyTorch; its rules raise if called. ``variadic=True`` marks one that
    takes any number of inputs (``cat``, ``stack``): it has one rule for all of them,
    ``vjps[0](g, out, *inputs, which=i, **params)``, and one derivative text.
    """

    name: str
    forward: Callable[..., Array]
    vjps: tuple[Vjp, ...]
    formula: str  # the forward, in terms of the inputs x, y (and params)
    derivatives: tuple[str, ...]  # ∂out/∂input, one per input, plain text
    latex: str
    latex_derivatives: tuple[str, ...]
    # every wanted input's gradient in one call, where the inputs' rules share work
    vjp: Callable[..., tuple[Array | None, ...]] | None = None
    differentiable: bool = True
    variadic: bool = False
    # Where the words depend on the node (squared_error's kind, a mean over N examples,
    # leaky relu's slope): ``written(shapes, **params)`` gives (formula, derivatives, latex,
    # latex_derivatives) for a node whose inputs have those shapes. None: the fields above.
    written: Callable[..., Writing] | None = None
    # what the engine calls: ``vjp``, or else the per-input rules in turn (made anew by
    # dataclasses.replace, so a primitive given other ``vjps`` runs them)
    vjp_all: Callable[..., tuple[Array | None, ...]] = field(init=False, repr=False,
                                                             compare=False)

    def __post_init__(self) -> None:
        if self.vjp is not None:
            rule = self.vjp
        elif self.variadic:
            rule = _each_of_many(self.vjps[0])
        else:
            rule = _each_input(self.vjps)
        object.__setattr__(self, "vjp_all", rule)

    def writing(self, params: dict[str, Any], shapes: tuple[tuple[int, ...], ...]) -> Writing:
        """(formula, derivatives, latex, latex_derivatives) as a node with these ``params``
        and input ``shapes`` is written: what its numbers mean, never a general form that
        its plugged-in numbers would contradict."""
        if self.written is None:
            return self.formula, self.derivatives, self.latex, self.latex_derivatives
        return self.written(shapes, **params)

    @property
    def arity(self) -> int | None:
        """The number of inputs; None for a variadic primitive."""
        return None if self.variadic else len(self.vjps)

    def rule(self, i: int) -> Vjp:
        """Input ``i``'s vjp, ``rule(g, out, *inputs, **params)``, variadic or not."""
        if not self.variadic:
            return self.vjps[i]
        many = self.vjps[0]
        return lambda g, out, *inputs, **params: many(g, out, *inputs, which=i, **params)

    def __repr__(self) -> str:
        return f"Primitive({self.name!r})"


PRIMITIVES: dict[str, Primitive] = {}


def _define(name: str, forward, vjps, formula: str, derivatives, latex: str, latex_derivatives,
            vjp=None, *, differentiable: bool = True, variadic: bool = False, written=None):
    assert len(vjps) == len(derivatives) == len(latex_derivatives), name
    assert not variadic or len(vjps) == 1, name
    PRIMITIVES[name] = Primitive(
        name, forward, tuple(vjps), formula, tuple(derivatives), latex, tuple(latex_derivatives),
        vjp, differentiable, variadic, written,
    )


def _each_input(vjps: tuple[Vjp, ...]) -> Callable[..., tuple[Array | None, ...]]:
    """The all-inputs rule made of the per-input ones: each wanted input's rule, in turn."""
    if len(vjps) == 1:
        (rule,) = vjps

        def vjp(g, out, wanted, x, **params):
            return (rule(g, out, x, **params) if wanted[0] else None,)
    else:
        def vjp(g, out, wanted, *inputs, **params):
            return tuple(rule(g, out, *inputs, **params) if want else None
                         for rule, want in zip(vjps, wanted))
    return vjp


def _each_of_many(rule: Vjp) -> Callable[..., tuple[Array | None, ...]]:
    """A variadic primitive's all-inputs rule: its one rule, for each wanted input."""
    def vjp(g, out, wanted, *inputs, **params):
        return tuple(rule(g, out, *inputs, which=i, **params) if want else None
                     for i, want in enumerate(wanted))
    return vjp


def one_input(vjp: Callable[..., tuple[Array | None, ...]], i: int) -> Vjp:
    """Input ``i``'s rule from an all-inputs ``vjp`` (for a primitive whose rules share work):
    the same numbers, asking for that input alone."""
    def rule(g, out, *inputs, **params):
        wanted = [False] * len(inputs)
        wanted[i] = True
        return vjp(g, out, tuple(wanted), *inputs, **params)[i]
    return rule


def no_gradient(name: str) -> Vjp:
    """The rule of a non-differentiable primitive: the engine never calls it (no node is
    recorded); a caller who does is told why rather than handed zeros."""
    def rule(g, out, *inputs, **params):
        raise GradError(f"{name}: its result is boolean or integer and has no gradient")
    return rule



def axes_of(axis: Any, ndim: int, op: str) -> tuple[int, ...]:
    """``axis`` (an int, a tuple of them, or None for all) as non-negative axes of an array
    of ``ndim`` dimensions; ShapeError naming ``op`` if one is out of range or repeated.

    A 0-d array counts as having one axis, so dim 0 and -1 name it, as in PyTorch.
    """
    dims = max(ndim, 1)
    if axis is None:
        return tuple(range(ndim))
    given = axis if isinstance(axis, (tuple, list)) else (axis,)
    axes = []
    for a in given:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise ShapeError(f"{op}: dim must be an integer, got {a!r}")
        if not -dims <= a < dims:
            raise ShapeError(f"{op}: dim {a} is out of range for a tensor of {ndim} "
                             f"dimension(s) (expected {-dims} to {dims - 1})")
        axes.append(int(a) % dims)
    if len(set(axes)) != len(axes):
        raise ShapeError(f"{op}: dim {tuple(given)} names an axis twice")
    return tuple(a for a in axes if a < ndim)  # a 0-d array's axis 0 is no axis at all
