"""What each activation IS, written once: the table every other module reads.

The engine (``Tensor.leaky_relu``, the ``leaky_relu`` primitive's default), ``nn``, spec
validation, the CLI's choices, the explanations, the exercise sheets, the verify catalogue,
the schema's enums and the HTML page (as embedded data) all read :data:`ACTIVATION_TABLE`;
adding an activation is one entry here and its tests. ``verify/reference.py`` alone keeps its
own formulas (an independent computation), over the same names.

This module imports no other part of chainrule: the primitives sit below ``nn``, and they read
their defaults (leaky relu's slope) from here.

Formulas are :class:`string.Template` strings: ``$a`` and ``$z`` stand for the unit's own
activation and net input (``$am``/``$aj`` for two units of a softmax), any other ``$name`` for
a parameter, written with ``:g`` (0.01). Templates, not ``str.format``, because the LaTeX
forms are full of braces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from string import Template
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np

from chainrule.frozen import Frozen

Array = np.ndarray


@dataclass(eq=False)  # an entry is itself: compared and hashed by identity
class ActivationEntry(Frozen):
    """One activation. ``derivative(z, a, **params)`` is ∂a/∂z of an elementwise activation
    (for softmax: the diagonal, ∂aⱼ/∂zⱼ), from the unit's net input z and activation a."""

    name: str
    primitive: str | None  # the op table entry that computes it (None: the identity, no node)
    symbol: str  # σ, as a formula writes the function
    symbol_latex: str
    short: str  # short enough for a unit's circle in the page's diagram
    definition: str
    definition_latex: str
    derivative_text: str  # a Template over $a, $z and the parameters
    derivative_latex: str
    derivative: Callable[..., Array]
    # Which of the unit's values the derivative formula is written in: "a" (σ′ = a(1 − a)),
    # "z" (relu′ = [z > 0]) or None (a constant): the mistakes catalogue's "derivative
    # evaluated at z" needs an "a".
    derivative_of: str | None
    params: Mapping[str, float] = field(default_factory=dict)  # with their defaults
    elementwise: bool = True
    # Off the diagonal of a non-elementwise Jacobian: ∂aₘ/∂zⱼ (m ≠ j), over $am and $aj.
    cross_text: str | None = None
    cross_latex: str | None = None
    kink: bool = False  # a kink at z = 0: He initialisation; exercises keep z away from it
    saturates: bool = False  # flat for large |z|: exercises keep |z| small
    probabilities: bool = False  # outputs in (0, 1), as a loss of probabilities needs
    # The open interval of the values it takes: exercises draw reachable targets from it.
    output_range: tuple[float, float] = (-math.inf, math.inf)
    # Its PyTorch function, a path under the torch module (None: the identity), called with
    # the parameters' values in the table's order.
    torch: str | None = None

    def text(self, template: str, **symbols: object) -> str:
        """A formula of this entry with the symbols (``a=…``, ``z=…``) and parameters put in."""
        values = {name: f"{value:g}" for name, value in self.params.items()}
        return Template(template).substitute(values, **{k: str(v) for k, v in symbols.items()})


def _entry(name: str, primitive: str | None, symbol: tuple[str, str], short: str,
           definition: tuple[str, str], derivative: tuple[str, str],
           value: Callable[..., Array], of: str | None, **options) -> ActivationEntry:
    params = MappingProxyType(dict(options.pop("params", {})))
    return ActivationEntry(name, primitive, *symbol, short, *definition, *derivative, value, of,
                           params, **options)


def _step(z: Array) -> Array:
    return (np.asarray(z) > 0).astype(float)  # relu′(0) = 0, as PyTorch


ACTIVATION_TABLE: Mapping[str, ActivationEntry] = MappingProxyType({e.name: e for e in (
    _entry("sigmoid", "sigmoid", ("σ", r"\sigma"), "σ",
           ("σ(z) = 1 / (1 + e^(−z))", r"\sigma(z) = \frac{1}{1 + e^{-z}}"),
           ("$a(1 − $a)", "$a(1 - $a)"), lambda z, a: a * (1 - a), "a",
           saturates=True, probabilities=True, output_range=(0.0, 1.0), torch="sigmoid"),
    _entry("tanh", "tanh", ("tanh", r"\tanh"), "tanh",
           ("tanh(z) = (e^z − e^(−z)) / (e^z + e^(−z))",
            r"\tanh(z) = \frac{e^{z} - e^{-z}}{e^{z} + e^{-z}}"),
           ("1 − ($a)²", "1 - ($a)^2"), lambda z, a: 1 - a * a, "a",
           saturates=True, output_range=(-1.0, 1.0), torch="tanh"),
    _entry("relu", "relu", ("relu", r"\mathrm{relu}"), "relu",
           ("relu(z) = max(0, z)", r"\mathrm{relu}(z) = \max(0, z)"),
           ("1 if $z > 0 else 0", "[$z > 0]"), lambda z, a: _step(z), "z",
           kink=True, output_range=(0.0, math.inf), torch="relu"),
    # The slope's one written value: the primitive's default and Tensor.leaky_relu read it.
    _entry("leaky_relu", "leaky_relu", ("leaky_relu", r"\mathrm{leaky\_relu}"), "lrelu",
           ("leaky_relu(z) = z if z > 0, else $slope·z",
            r"\mathrm{leaky\_relu}(z) = \max($slope z, z)"),
           ("1 if $z > 0 else $slope", r"1 \text{ if } $z > 0 \text{ else } $slope"),
           lambda z, a, slope: np.where(np.asarray(z) > 0, 1.0, slope), "z",
           params={"slope": 0.01}, kink=True, torch="nn.functional.leaky_relu"),
    _entry("softmax", "softmax", ("softmax", r"\mathrm{softmax}"), "smax",
           ("softmax(z)ⱼ = e^(zⱼ) / Σₖ e^(zₖ)",
            r"\mathrm{softmax}(z)_k = \frac{e^{z_k}}{\sum_j e^{z_j}}"),
           ("$a(1 − $a)", "$a(1 - $a)"), lambda z, a: a * (1 - a), "a",
           elementwise=False, cross_text="−$am·$aj", cross_latex="-$am $aj", probabilities=True,
           output_range=(0.0, 1.0), torch="softmax"),
    _entry("identity", None, ("id", r"\mathrm{id}"), "id",
           ("id(z) = z", "f(z) = z"), ("1", "1"), lambda z, a: np.ones_like(np.asarray(z)),
           None),
)})

ACTIVATION_NAMES: tuple[str, ...] = tuple(ACTIVATION_TABLE)
LEAKY_RELU_SLOPE: float = ACTIVATION_TABLE["leaky_relu"].params["slope"]


def derivative_value(name: str, z: Array, a: Array) -> Array:
    """∂a/∂z of ``name`` at (z, a), with the entry's default parameters."""
    entry = ACTIVATION_TABLE[name]
    return entry.derivative(z, a, **entry.params)


def page_facts() -> dict[str, dict[str, str]]:
    """What the HTML page shows of each activation: the function's symbol, its definition and
    the diagram's short name, embedded in the page as data (the scripts keep no copy)."""
    return {e.name: {"f": e.symbol, "def": e.text(e.definition), "unit": e.short}
            for e in ACTIVATION_TABLE.values()}
