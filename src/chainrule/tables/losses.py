"""What each loss IS, written once: the table every other module reads.

Per example, over the K output units; over a batch, the mean of the per-example losses (see
:data:`REDUCTIONS`). ``nn.losses`` computes them, spec validation and the CLI take their names,
the explanations, exercises, verify catalogue, schema and page read their formulas here.
``verify/reference.py`` alone keeps its own formulas (an independent computation), over the
same names.

Formulas are :class:`string.Template` strings over ``$a`` (the output unit), ``$t`` (its
target) and ``$K`` (the number of output units); ``plugged`` writes the loss with its numbers
in, over ``$squares`` (``(a₁ − t₁)² + …``), ``$logs`` (``t₁ ln a₁ + (1 − t₁) ln(1 − a₁) + …``)
or ``$nll`` (``−(t₁) ln(p₁) …``, the terms with tₖ ≠ 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from string import Template
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np

from chainrule.frozen import Frozen

Array = np.ndarray

REDUCTIONS = ("mean", "sum", "none")
TARGET_KINDS = ("values", "classes", "probabilities")


@dataclass(eq=False)  # an entry is itself: compared and hashed by identity
class LossEntry(Frozen):
    """One loss. ``gradient(a, t)`` is ∂E/∂a of one example's loss, all K units at once."""

    name: str
    definition: str  # E of one example, in terms of the output a
    definition_latex: str
    summary: str  # the per-example formula in y, as the README and nn.losses write it
    gradient_text: str  # ∂E/∂aₖ, a Template over $a, $t, $K
    gradient_latex: str
    gradient: Callable[[Array, Array], Array]
    plugged_text: str  # the loss with its numbers in (see the module's docstring)
    plugged_latex: str
    # values: any numbers; classes: one-hot rows or a class index (also probabilities);
    # probabilities: each in [0, 1].
    target: str
    # Output activation → what computes the loss from the logits z instead of the output a:
    # the same value, finite where a unit saturates (ln 0 never taken).
    from_logits: Mapping[str, str] = field(default_factory=dict)
    # A loss of logits after an activation not in from_logits takes the output a itself as
    # its logits: ∂E/∂aₖ, a Template over $t, $layer and $k (the unit counted from 1).
    logits_gradient_text: str | None = None
    logits_gradient_latex: str | None = None
    logits_gradient: Callable[[Array, Array], Array] | None = None

    @staticmethod
    def text(template: str, **symbols: object) -> str:
        return Template(template).substitute({k: str(v) for k, v in symbols.items()})


def _entry(name: str, definition: tuple[str, str], summary: str, gradient: tuple[str, str],
           value: Callable[[Array, Array], Array], plugged: tuple[str, str], target: str,
           from_logits: Mapping[str, str] | None = None,
           logits: tuple[str, str, Callable[[Array, Array], Array]] | None = None) -> LossEntry:
    return LossEntry(name, *definition, summary, *gradient, value, *plugged, target,
                     MappingProxyType(dict(from_logits or {})), *(logits or (None,) * 3))


def _bce_gradient(a: Array, t: Array) -> Array:
    with np.errstate(divide="ignore", invalid="ignore"):  # a saturated unit: ±inf, true
        return (a - t) / (a * (1 - a)) / a.shape[-1]


def _softmax_minus_target(x: Array, t: Array) -> Array:
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True) - t


def _nll_gradient(a: Array, t: Array) -> Array:
    with np.errstate(divide="ignore", invalid="ignore"):
        return -t / a


LOSS_TABLE: Mapping[str, LossEntry] = MappingProxyType({e.name: e for e in (
    _entry("sse", ("E = Σₖ (aₖ − tₖ)²", r"E = \sum_k (a_k - t_k)^2"), "Σₖ (yₖ − tₖ)²",
           ("2($a − $t)", "2($a - $t)"), lambda a, t: 2 * (a - t),
           ("$squares", "$squares"), "values"),
    _entry("half_sse", ("E = ½ Σₖ (aₖ − tₖ)²", r"E = \tfrac12 \sum_k (a_k - t_k)^2"),
           "½ Σₖ (yₖ − tₖ)²", ("($a − $t)", "$a - $t"), lambda a, t: a - t,
           ("½[$squares]", r"\tfrac12\bigl[$squares\bigr]"), "values"),
    _entry("mse", ("E = (1/K) Σₖ (aₖ − tₖ)²", r"E = \frac{1}{K} \sum_k (a_k - t_k)^2"),
           "meanₖ (yₖ − tₖ)²", ("2($a − $t)/$K", r"\tfrac{2}{$K}($a - $t)"),
           lambda a, t: 2 * (a - t) / a.shape[-1],
           ("(1/$K)[$squares]", r"\frac{1}{$K}\bigl[$squares\bigr]"), "values"),
    _entry("bce", ("E = −(1/K) Σₖ [tₖ ln aₖ + (1 − tₖ) ln(1 − aₖ)]",
                   r"E = -\frac{1}{K} \sum_k \bigl[t_k \ln a_k + (1 - t_k) \ln(1 - a_k)\bigr]"),
           "meanₖ −[tₖ ln yₖ + (1 − tₖ) ln(1 − yₖ)]",
           ("($a − $t) / ($a(1 − $a))/$K", r"\frac{$a - $t}{$K\,$a(1 - $a)}"), _bce_gradient,
           ("−(1/$K)[$logs]", r"-\frac{1}{$K}\bigl[$logs\bigr]"), "probabilities",
           {"sigmoid": "bce_with_logits", "softmax": "softmax_bce"}),
    # From logits: after softmax the logits are z; after any other activation the output
    # itself is taken as the logits, as PyTorch's CrossEntropyLoss would. ∂E/∂a below is the
    # derivative in the softmax's probabilities a.
    _entry("cross_entropy", ("E = −Σₖ tₖ ln softmax(z)ₖ",
                             r"E = -\sum_k t_k \ln \mathrm{softmax}(z)_k"),
           "−Σₖ tₖ ln softmax(z)ₖ", ("−$t/$a", r"-\frac{$t}{$a}"), _nll_gradient,
           ("$nll", "$nll"), "classes", {"softmax": "log_softmax"},
           ("softmax(a$layer)ₖ − $t", r"\mathrm{softmax}(a^{$layer})_{$k} - $t",
            _softmax_minus_target)),
)})

LOSS_NAMES: tuple[str, ...] = tuple(LOSS_TABLE)
# (loss, output activation) pairs computed from the output layer's net input z, the logits.
FROM_LOGITS: frozenset[tuple[str, str]] = frozenset(
    (e.name, activation) for e in LOSS_TABLE.values() for activation in e.from_logits)


def from_logits(loss: str, activation: str) -> bool:
    """Whether ``loss`` after ``activation`` is taken from the logits z."""
    return (loss, activation) in FROM_LOGITS


def page_facts() -> dict[str, str]:
    """The loss formulas as the page's loss step shows them (text form), embedded as data."""
    return {e.name: e.definition for e in LOSS_TABLE.values()}
