"""A catalogue of known backpropagation mistakes, each an honest alternative computation.

Every :class:`Mistake` alters parts of kinds of node of the NumPy reference step's graph
(:mod:`chainrule.verify.alterations`, :mod:`chainrule.verify.reference`), so its numbers are
what a student's code making exactly that mistake prints, for any spec: every activation and loss, one example or a batch, every
bias mode. A mistake that cannot be made on a network (a transposed non-square matrix, a
batch mistake on one example) says so: ``applies(spec)`` is False and ``why_not(spec)`` tells
why. Only the forward values are shared; everything downstream of the mistake changes.

>>> from chainrule.verify.mistakes import MISTAKES, correct_step, mistaken_step
>>> correct_step("seed")["updated.b2"]
array([0.10090062])
>>> mistaken_step("seed", "gradient_ascent")["updated.b2"]
array([0.09909938])

The optimizer is the spec's, on its first step: plain SGD, or PyTorch's momentum (whose first
step equals plain SGD), Nesterov and weight decay rules. Frozen parameters are not updated.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from chainrule.frozen import Frozen
from chainrule.errors import SpecError
from chainrule.finite import NonFiniteError, element, first_non_finite, what_happened
from chainrule.nn.activations import unknown_name_message
from chainrule.spec.network import Spec
from chainrule.verify import mistake_requirements as need
from chainrule.verify.alterations import Alterations
from chainrule.verify.mistake_requirements import Requirement
from chainrule.verify.reference import as_spec, reference_step
LAYER_MARK = "@layer"  # derivative_of_z@layer1: the mistake made in layer 1 only (Mistake.key)


def confined_key(mistake_id: str, layer: int) -> str:
    """The :attr:`Mistake.key` of a mistake made in ``layer`` only."""
    return f"{mistake_id}{LAYER_MARK}{layer}"


def split_key(key: str) -> tuple[str, int | None]:
    """(the catalogue id, the one layer it is made in or None) of a :attr:`Mistake.key`."""
    mid, mark, layer = key.rpartition(LAYER_MARK)
    return (mid, int(layer)) if mark and layer.isdigit() else (key, None)


@dataclass(unsafe_hash=True)
class Mistake(Frozen):
    """One known mistake: what it is, in a student's words, and how to compute its step."""

    id: str  # snake_case, stable: used in reports and on the command line
    title: str
    explanation: str  # one sentence a student understands
    formula: str  # the variant, as written in docs/mistakes.md
    # the parts of kinds of node it computes otherwise (alterations.RULE_KINDS): a mistake
    # of any layer whose rules are of those kinds
    alterations: Alterations
    requirement: Requirement  # why the mistake cannot be made on a spec, or None

    @property
    def layer(self) -> int | None:
        """The one layer a mistake is made in (:meth:`confined`), or None: in every layer."""
        return self.alterations.layer

    @property
    def key(self) -> str:
        """How it is named among a report's candidates: the id, and for a mistake made in one
        layer only, the layer (``derivative_of_z@layer1``)."""
        return self.id if self.layer is None else confined_key(self.id, self.layer)

    def confined(self, layer: int) -> "Mistake":
        """The mistake made in one layer's rules only (the other layers worked right): the
        same id, its title saying where."""
        return replace(self, title=f"{self.title}, in layer {layer} only",
                       alterations=self.alterations.confined(layer))

    @property
    def sites(self) -> tuple[str, ...]:
        """The kinds of node of the step's graph it computes otherwise: where on the graph it
        acts, whatever the layers (tests check it against the rules)."""
        return self.alterations.sites

    def why_not(self, spec: Spec | str | Path | dict) -> str | None:
        """Why this mistake cannot be made on ``spec``, or None when it can."""
        return self.requirement(as_spec(spec))

    def applies(self, spec: Spec | str | Path | dict) -> bool:
        return self.why_not(spec) is None

    def compute(self, spec: Spec | str | Path | dict) -> dict[str, np.ndarray]:
        """Every quantity of the step made with this mistake (``forward.z1``, ...)."""
        spec = as_spec(spec)
        reason = self.requirement(spec)
        if reason is not None:
            raise SpecError(f"mistake {self.id}: does not apply to network "
                            f"{spec.name!r}: {reason}")
        return reference_step(spec, self.alterations)


def _derivative(mode: str) -> dict[str, str]:
    """f′(z) taken ``mode`` wherever it enters a delta: the output layer's and those sent back."""
    return {"output_delta.derivative": mode, "backprop.derivative": mode}


def _mistake(id: str, title: str, explanation: str, formula: str, requirement: Requirement,
             alters: dict[str, object]) -> Mistake:
    """An entry: its ``alters`` are ``{"kind.part": value}`` (a typo fails at import)."""
    return Mistake(id, title, explanation, formula, Alterations.of(alters), requirement)


CATALOGUE = (
    _mistake("gradient_ascent", "Update along the gradient",
             "The update adds η·∂E/∂θ instead of subtracting it, so the step climbs the loss "
             "instead of descending it.",
             "θ ← θ + η·∂E/∂θ", need.updates, alters={"update.sign": 1.0}),
    _mistake("loss_derivative_sign", "Output error written t − y",
             "The output error was computed as t − y instead of y − t, which flips the sign of "
             "every delta and gradient, so the update climbs the loss.",
             "∂E/∂a_L (or δ_L from the logits) with the opposite sign, e.g. 2(t − y)",
             need.always, alters={"loss_gradient.factor": -1.0, "output_delta.factor": -1.0}),
    _mistake("derivative_of_z", "Activation derivative evaluated at z",
             f"The derivative written in terms of the activation ({need.in_terms_of_a()}) was "
             "evaluated with the net input z in place of the activation a.",
             f"δ_l = {need.in_terms_of_a('z_l', each='({form}) ⊙ (…) for {name}')}, softmax "
             "s(g − Σ g·s) with s := z_l",
             need.slope_layers(*need.OF_A), alters=_derivative("at_z")),
    _mistake("derivative_of_activation_value", "Activation derivative applied to a",
             "The derivative was computed as σ′(a) = σ(a)(1 − σ(a)) from the activation a, "
             "where it needs the net input z (σ′(z) = a(1 − a)).",
             "δ_l = f′(a_l) ⊙ (…) instead of f′(z_l) ⊙ (…), e.g. σ(a)(1 − σ(a)), "
             "1 − tanh²(a)",
             need.slope_layers(*need.OF_A),
             alters=_derivative("at_activation")),
    _mistake("missing_activation_derivative", "Activation derivative left out",
             "The deltas skip the factor f′(z): the error was passed back through the weights "
             "without multiplying by the activation's slope.",
             "δ_L = ∂E/∂a_L, δ_l = δ_{l+1} W_{l+1}ᵀ (no ⊙ f′(z_l))",
             need.slope_layers(*need.WITH_SLOPE),
             alters=_derivative("missing")),
    _mistake("missing_output_derivative", "Activation derivative left out at the output",
             "The output layer's delta skips the factor f′(z_L) (δ_L = ∂E/∂a_L), though the "
             "hidden layers multiply theirs in.",
             "δ_L = ∂E/∂a_L; δ_l = f′(z_l) ⊙ (δ_{l+1} W_{l+1}ᵀ) as usual",
             need.one_of_two(output=True),
             alters={"output_delta.derivative": "missing"}),
    _mistake("missing_hidden_derivative", "Activation derivative left out in the hidden layers",
             "The error was passed back through the weights without multiplying by the hidden "
             "layers' slope f′(z_l), though the output layer's delta has it.",
             "δ_l = δ_{l+1} W_{l+1}ᵀ for l < L; δ_L = f′(z_L) ⊙ ∂E/∂a_L as usual",
             need.one_of_two(output=False),
             alters={"backprop.derivative": "missing"}),
    _mistake("softmax_diagonal_jacobian", "Softmax derivative taken as s(1 − s)",
             "Each softmax output depends on every input, but the derivative was taken as "
             "sᵢ(1 − sᵢ) per unit, leaving out the −sᵢsⱼ cross terms.",
             "δ_l = a_l(1 − a_l) ⊙ g instead of a_l ⊙ (g − Σⱼ gⱼ a_lⱼ)",
             need.slope_layers(*need.NOT_ELEMENTWISE),
             alters=_derivative("softmax_diagonal")),
    _mistake("extra_output_derivative", "Output slope multiplied into a − t",
             "With the loss taken from the logits, δ_L = a_L − t already contains the "
             "activation's derivative, but it was multiplied by a(1 − a) once more.",
             "δ_L = (a_L − t) ⊙ a_L(1 − a_L) instead of a_L − t", need.fused,
             alters={"output_delta.extra_derivative": True}),
    _mistake("log_base_ten", "Logarithm to base 10 in the loss",
             "The loss was computed with log₁₀ (a calculator's log key) where it needs the "
             "natural logarithm ln, so its value is ln 10 ≈ 2.303 times too small.",
             "E = −Σ t·log₁₀ y (…) instead of −Σ t·ln y: forward.loss and loss_after ÷ ln 10",
             need.losses("cross_entropy", "bce"), alters={"loss.log": "log10"}),
    _mistake("dropped_factor_two", "Factor 2 of the squared error dropped",
             "The derivative of (y − t)² is 2(y − t), but the 2 was dropped, as if the loss "
             "were ½(y − t)².",
             "∂E/∂a_L = (y − t) for sse, (y − t)/K for mse (K outputs)",
             need.losses("sse", "mse"), alters={"loss_gradient.factor": 0.5}),
    _mistake("doubled_factor_two", "Half squared error differentiated as squared error",
             "The loss ½(y − t)² has derivative y − t, but it was differentiated as 2(y − t), "
             "as if the ½ were not there.",
             "∂E/∂a_L = 2(y − t) for half_sse", need.losses("half_sse"),
             alters={"loss_gradient.factor": 2.0}),
    _mistake("sum_over_batch", "Batch gradients summed, not averaged",
             "The loss is the mean over the batch, but the per-example gradients were added up "
             "without dividing by the batch size, so they are N times too large.",
             "δ_l without the 1/N; ∂E/∂W_l = Σₙ a_{l−1}[n]ᵀ δ_l[n]", need.batch,
             alters={"loss_gradient.batch": "sum", "output_delta.batch": "sum"}),
    _mistake("mean_over_batch", "Batch gradients averaged twice",
             "The deltas already carry the 1/N of the mean loss, and the gradients were divided "
             "by the batch size again, so they are N times too small.",
             "∂E/∂W_l = (1/N)·a_{l−1}ᵀ δ_l, ∂E/∂b_l = (1/N)·Σₙ δ_l[n]", need.batch,
             alters={"weight_gradient.batch": "mean_twice", "bias_gradient.batch": "mean_twice"}),
    _mistake("transposed_weights", "Weights not transposed in the backward pass",
             "The error was sent back through W instead of its transpose Wᵀ, which only runs "
             "because the matrices are square, and gives each hidden unit another unit's error.",
             "δ_l = f′(z_l) ⊙ (δ_{l+1} W_{l+1}) instead of δ_{l+1} W_{l+1}ᵀ",
             need.square_backward_weights, alters={"backprop.weights": "as_is"}),
    _mistake("swapped_weight_indices", "Indices of the weight gradient swapped",
             "The gradient ∂E/∂w_ij was written as δ_i·a_j instead of a_i·δ_j, so each square "
             "weight matrix got its gradient transposed, and the update made with it.",
             "∂E/∂W_l = (a_{l−1}ᵀ δ_l)ᵀ for every square W_l", need.square_weights,
             alters={"weight_gradient.indices": "ji"}),
    _mistake("updated_weights_in_backward", "Backward pass through already-updated weights",
             "Each layer's weights were updated before its error was sent further back, so the "
             "hidden deltas use the new weights instead of those of the forward pass.",
             "δ_l = f′(z_l) ⊙ (δ_{l+1} W′_{l+1}ᵀ), W′_{l+1} = W_{l+1} − η·∂E/∂W_{l+1}",
             need.hidden_layers, alters={"backprop.weights_from": "updated"}),
    _mistake("bias_not_summed", "Bias gradient from the first example only",
             "Over a batch the bias gradient adds up the deltas of all examples, but only the "
             "first example's delta was used.",
             "∂E/∂b_l = δ_l[0] instead of Σₙ δ_l[n]", need.batch_biases,
             alters={"bias_gradient.sum": "first_example"}),
    _mistake("bias_summed_over_units", "Bias gradient summed over the units",
             "For one example, np.sum(delta, axis=0) adds up the deltas of all units, so every "
             "bias of the layer got the same step instead of its own delta.",
             "∂E/∂b_l[j] = Σₖ δ_l[k] for every unit j, instead of δ_l[j]",
             need.per_unit_biases_one_example, alters={"bias_gradient.sum": "units"}),
    _mistake("learning_rate_twice", "Learning rate applied twice",
             "The step was multiplied by the learning rate twice, η²·∂E/∂θ instead of "
             "η·∂E/∂θ.",
             "θ ← θ − η²·∂E/∂θ", need.learning_rate_not_one, alters={"update.rate_power": 2}),
    _mistake("learning_rate_missing", "Learning rate left out",
             "The update subtracts the whole gradient ∂E/∂θ without multiplying it by the "
             "learning rate η.",
             "θ ← θ − ∂E/∂θ", need.learning_rate_not_one, alters={"update.rate_power": 0}),
    _mistake("biases_not_updated", "Biases not updated",
             "Only the weights were updated; the biases kept their old values.",
             "b ← b (W ← W − η·∂E/∂W as usual)", need.biases, alters={"update.biases": False}),
    _mistake("stale_loss_after", "Loss after the step not recomputed",
             "The loss after the update is a stale number: the loss before it, copied, where "
             "the forward pass should have been run again with the updated parameters.",
             "loss_after = E(θ) instead of E(θ − η·∂E/∂θ)", need.updates,
             alters={"loss_after.recomputed": False}),
)

MISTAKES: dict[str, Mistake] = {mistake.id: mistake for mistake in CATALOGUE}


def get_mistake(mistake_id: str) -> Mistake:
    try:
        return MISTAKES[mistake_id]
    except (KeyError, TypeError):
        raise SpecError("mistake: " + unknown_name_message("mistake", mistake_id, MISTAKES)) \
            from None


def correct_step(spec: Spec | str | Path | dict) -> dict[str, np.ndarray]:
    """The step without mistakes: the numbers of ``chainrule.explain(spec)``, by trace name.

    A non-finite number (an identity network of 1e200 weights overflows) is a NonFiniteError
    naming it: the right answer to judge against must be a number. ``dE_da{L}`` is left out:
    after a saturated sigmoid or softmax it is ±inf in truth (the loss is taken from z)."""
    step = reference_step(as_spec(spec))
    for key, values in step.items():
        found = None if ".dE_da" in key else first_non_finite(values)
        if found is not None:
            index, bad = found
            raise NonFiniteError(f"verify: {element(key, index)} {what_happened(bad)} in the "
                                 "correct step (inputs or weights too large for float64)",
                                 quantity=key, index=index, value=bad)
    return step


def mistaken_step(spec: Spec | str | Path | dict, mistake_id: str) -> dict[str, np.ndarray]:
    """The step made with one catalogue mistake; a SpecError if it cannot be made on spec."""
    return get_mistake(mistake_id).compute(spec)


def applicable_mistakes(spec: Spec | str | Path | dict) -> list[Mistake]:
    """The catalogue's mistakes that can be made on ``spec``, in catalogue order."""
    spec = as_spec(spec)
    return [m for m in CATALOGUE if m.requirement(spec) is None]
