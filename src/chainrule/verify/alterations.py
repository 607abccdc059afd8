"""The kinds of node in a training step's graph, the parts of each kind's rule, and the
alterations of those parts that make the catalogue's mistakes (chainrule.verify.mistakes).

A rule of the step (chainrule.verify.reference.Rule) computes one quantity from its parents;
its kind says what it computes, whatever the layer: a dense layer's net input and a
convolution's are both ``linear``, a weight matrix's gradient and a kernel's both
``weight_gradient``. Each kind's rule is written in a few named *parts*, the choices a
student makes in writing it: how the activation's derivative enters a delta, which way the
weights are used to send an error back, the sign of the update. The correct step takes every
part at its first value, below.

A mistake is a set of :class:`Alteration`\\ s, each one part of one kind given another value,
and acts on every rule of that kind (``Alterations.parts(kind)``): the mistakes are defined on
the graph's kinds of node, not on a dense layer, and a layer type whose rules are of these
kinds and read their parts takes the mistakes with them. Two mistakes made together are the
union of their alterations (:meth:`Alterations.combined`), refused where they give one part
two values.

>>> from chainrule.verify.alterations import Alterations
>>> Alterations.of({"update.sign": 1.0}).parts("update")["sign"]
1.0
>>> Alterations.of({"update.sign": 1.0}).sites
('update',)
>>> Alterations.of({"loss.log": "log10"}).sites
('loss', 'loss_after')
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

from chainrule.frozen import Frozen

DERIVATIVE_MODES = ("correct", "at_z", "at_activation", "missing", "softmax_diagonal")


@dataclass(eq=False)
class Kind(Frozen):
    """A kind of node: what it computes, and the parts of its rule a mistake may alter, each
    with its correct value and what it means."""

    description: str
    parts: Mapping[str, tuple[Any, str]]
    # other kinds whose parts this kind's rule is written in too (the loss after the step is
    # the loss computed again): an alteration of theirs acts here as well
    reads: tuple[str, ...] = ()


RULE_KINDS: dict[str, Kind] = {
    "linear": Kind("a layer's net input from its input and parameters (z = a·W + b)", {}),
    "activation": Kind("a layer's activation of its net input (a = f(z))", {}),
    "loss": Kind("the loss of the output", {
        "log": ("ln", "the logarithm of a log-loss: ln, or log10 (a calculator's log key)")}),
    "loss_gradient": Kind("the loss's gradient with respect to the output (∂E/∂a_L)", {
        "factor": (1.0, "what multiplies the output error: −1 is t − y, ½ drops a 2"),
        "batch": ("mean", "mean: the 1/N of the mean loss; sum: left out")}),
    "output_delta": Kind("the output layer's delta (∂E/∂z_L)", {
        "factor": (1.0, "what multiplies the error taken from the logits, a − t"),
        "batch": ("mean", "mean: the 1/N of the mean loss; sum: left out"),
        "derivative": ("correct", "how f′(z_L) enters: " + ", ".join(DERIVATIVE_MODES)),
        "extra_derivative": (False, "True: a(1 − a) multiplied into a − t once more")}),
    "backprop": Kind("a delta sent back through a layer's weights and activation (δ_{l−1})", {
        "derivative": ("correct", "how f′(z_{l−1}) enters: " + ", ".join(DERIVATIVE_MODES)),
        "weights": ("transposed", "how the weights send the error back: transposed (Wᵀ), "
                                  "or as_is, as in the forward pass"),
        "weights_from": ("forward", "forward: the weights of the forward pass; updated: "
                                    "the weights after their update")}),
    "weight_gradient": Kind("a weight's gradient from a layer's input and delta", {
        "batch": ("mean", "mean: the deltas' 1/N only; mean_twice: divided by N again"),
        "indices": ("ij", "ij: ∂E/∂w_ij at w_ij; ji: written at w_ji (a square matrix)")}),
    "bias_gradient": Kind("a bias's gradient from a layer's delta", {
        "batch": ("mean", "mean: the deltas' 1/N only; mean_twice: divided by N again"),
        "sum": ("examples", "what is added up: the examples' deltas, the first_example's "
                            "only, or the units' (for one example)")}),
    "update": Kind("a parameter after the optimizer's step", {
        "sign": (-1.0, "−1 descends, +1 climbs"),
        "rate_power": (1, "the power of η: 1, 2 (applied twice) or 0 (left out)"),
        "biases": (True, "False: the biases keep their values")}),
    "loss_after": Kind("the loss after the step", {
        "recomputed": (True, "False: the loss before the step, copied")}, reads=("loss",)),
}

# The typed layers' kinds of rule (chainrule.verify.reference_layers), whose parts the
# layer mistakes alter (chainrule.verify.layer_mistakes).
LAYER_KINDS: dict[str, Kind] = {
    "conv_input_gradient": Kind("a convolution's input gradient (δ sent back to its input)", {
        "kernel": ("flipped", "flipped: δ fully convolved with the kernel rotated 180°; "
                              "unflipped: with the kernel as the forward pass reads it"),
        "padding": ("removed", "removed: the padded input's gradient cut to the input, the "
                               "padding's border taken off every side; forgotten: its "
                               "top-left corner kept, as if there were no padding")}),
    "conv_weight_gradient": Kind("a kernel's gradient (the input correlated with δ)", {
        "kernel": ("as_is", "as_is; flipped: written rotated 180°")}),
    "pool_gradient": Kind("a max pool's input gradient", {
        "route": ("first_max", "first_max: to each window's first maximum, as PyTorch; "
                               "every_max: to every tied maximum (the mask x == max); "
                               "spread: to every position of the window")}),
    "norm": Kind("batch norm's normalisation in training", {
        "variance": ("biased", "biased: the squared deviations divided by m, as PyTorch; "
                               "unbiased: by m − 1 (Bessel's correction)")}),
    "norm_gradient": Kind("batch norm's input gradient", {
        "paths": ("all", "all: through x̂ and through the batch's mean and variance; "
                         "direct: the mean and variance taken as constants (γ·g/σ)")}),
    "dropout_gradient": Kind("dropout's input gradient", {
        "scale": ("rescaled", "rescaled: g · mask / (1 − p), as the forward pass; "
                              "unscaled: g · mask")}),
    "residual_gradient": Kind("a residual block's input gradient", {
        "paths": ("summed", "summed: the block's and the shortcut's; block_only; "
                            "shortcut_only")}),
    "recurrent_gradient": Kind("backpropagation through time in a recurrent layer", {
        "paths": ("through_time", "through_time: ∂E/∂h_t is the direct share plus the "
                                  "recurrent one, W_hhᵀ·δ_(t+1); direct_only: the recurrent "
                                  "path forgotten"),
        "steps": ("summed", "summed: each weight's gradient the sum of the steps' shares; "
                            "averaged: divided by the number of steps"),
        "truncation": ("as_asked", "as_asked: back through every step, or through the "
                                   "truncation's k; shorter: one step fewer (k − 1, or L − 1 "
                                   "untruncated); longer: one more (k + 1)")}),
    "lstm_gradient": Kind("an LSTM cell's backward step", {
        "forget_gate": ("included", "included: ∂E/∂f = ∂E/∂c ⊙ c_(t−1); left_out: the "
                                    "forget gate gets no gradient"),
        "cell_carry": ("times_forget", "times_forget: ∂E/∂c_(t−1) gets ∂E/∂c_t ⊙ f_t; "
                                       "unscaled: ∂E/∂c_t carried back as if f were 1")}),
    "attention_gradient": Kind("attention's backward pass", {
        "softmax": ("jacobian", "jacobian: ∂E/∂S = A ⊙ (∂E/∂A − Σ A ⊙ ∂E/∂A) per row; "
                                "diagonal: A ⊙ (1 − A) ⊙ ∂E/∂A, element by element"),
        "scale": ("kept", "kept: ∂E/∂Q and ∂E/∂K carry the forward pass's 1/√d; forgotten: "
                          "left out of the backward pass")}),
    "layer_norm": Kind("layer norm's normalisation", {
        "axis": ("features", "features: each position over its own features; batch: each "
                             "feature over the batch and the positions (batch norm's axes)")}),
    "embedding_gradient": Kind("an embedding table's gradient", {
        "repeats": ("accumulated", "accumulated: a row gets the sum over the positions of its "
                                   "token; overwritten: the last position's only")}),
}
KINDS = {**RULE_KINDS, **LAYER_KINDS}


@dataclass(unsafe_hash=True)
class Alteration(Frozen):
    """One part of one kind's rule, given another value than the correct step's."""

    kind: str
    part: str
    value: Any
    layer: int | None = None  # made in this layer's rules only (None: in every layer)

    def __post_init__(self) -> None:
        kind = KINDS.get(self.kind)
        if kind is None or self.part not in kind.parts:  # a catalogue typo fails at import
            raise ValueError(f"alteration {self.kind}.{self.part}: no such kind of node or "
                             "part in alterations.RULE_KINDS or LAYER_KINDS")
        if self.value == kind.parts[self.part][0]:
            raise ValueError(f"alteration {self.kind}.{self.part}: {self.value!r} is the "
                             "correct value, not an alteration")

    def __str__(self) -> str:
        where = "" if self.layer is None else f" in layer {self.layer}"
        return f"{self.kind}.{self.part} = {self.value}{where}"

    def acts_in(self, kind: str, layer: int) -> bool:
        return self.kind == kind and (self.layer is None or self.layer == layer)


@dataclass(unsafe_hash=True)
class Alterations(Frozen):
    """The alterations a step is computed with: none is the correct step."""

    items: frozenset[Alteration] = frozenset()

    @classmethod
    def of(cls, alters: Mapping[str, Any]) -> "Alterations":
        """From ``{"kind.part": value}``: ``Alterations.of({"backprop.weights": "as_is"})``."""
        made = []
        for key, value in alters.items():
            kind, _, part = key.partition(".")
            made.append(Alteration(kind, part, value))
        return cls(frozenset(made))

    def parts(self, kind: str, layer: int = 0) -> dict[str, Any]:
        """Every part of ``kind``'s rule in ``layer`` (0: a rule of no layer, the loss): the
        correct value unless altered there."""
        out = {part: correct for part, (correct, _) in KINDS[kind].parts.items()}
        out.update((a.part, a.value) for a in self.items if a.acts_in(kind, layer))
        return out

    def confined(self, layer: int) -> "Alterations":
        """The same alterations made in one layer's rules only: a mistake made in one layer
        (σ′ of z in layer 1, the other layers right)."""
        return Alterations(frozenset(replace(a, layer=layer) for a in self.items))

    @property
    def layer(self) -> int | None:
        """The one layer the alterations are confined to, or None."""
        layers = {a.layer for a in self.items}
        return layers.pop() if len(layers) == 1 else None

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of node altered, in RULE_KINDS's order."""
        altered = {a.kind for a in self.items}
        return tuple(kind for kind in KINDS if kind in altered)

    @property
    def sites(self) -> tuple[str, ...]:
        """The kinds of node that compute otherwise, in RULE_KINDS's order: those altered and
        those written in an altered kind's parts (``Kind.reads``). Where on the graph it acts."""
        altered = set(self.kinds)
        return tuple(name for name, kind in KINDS.items()
                     if name in altered or altered.intersection(kind.reads))

    def combined(self, other: "Alterations") -> "Alterations | None":
        """Both sets at once; None where they give one part two values."""
        if {a.layer for a in self.items} | {a.layer for a in other.items} != {None}:
            return None  # (a mistake confined to a layer is not paired)
        mine = {(a.kind, a.part): a.value for a in self.items}
        for a in other.items:
            if mine.get((a.kind, a.part), a.value) != a.value:
                return None
        return Alterations(self.items | other.items)

    def as_dict(self) -> dict[str, Any]:
        """``{"kind.part": value}``, sorted: for reports' JSON."""
        return {f"{a.kind}.{a.part}": a.value
                for a in sorted(self.items, key=lambda a: (list(KINDS).index(a.kind),
                                                           a.part))}

    def __bool__(self) -> bool:
        return bool(self.items)


CORRECT = Alterations()
