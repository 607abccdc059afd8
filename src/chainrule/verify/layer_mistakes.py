"""The known mistakes of typed layers (convolutional and sequence networks), each an honest
alternative computation.

Every entry but one alters parts of the typed layers' rules
(:data:`chainrule.verify.alterations.LAYER_KINDS`), so its numbers are those of
:mod:`chainrule.verify.reference_layers` with that part chosen otherwise: what code making
exactly that mistake computes, for any geometry (stride, padding, dilation, groups). A
fresh dropout mask in the backward pass has no one set of numbers (it is random); it is
recognised by its pattern instead: a gradient that is either 0 or the rescaled upstream
gradient at every element, zero at other elements than the forward pass dropped.

The same entries name what a CS231n-style layer function (``verify --layer``,
:mod:`chainrule.verify.layer_functions`) got wrong; docs/mistakes.md lists them.
"""

from __future__ import annotations

from dataclasses import dataclass

from chainrule.frozen import Frozen
from chainrule.verify.alterations import Alterations


@dataclass(eq=False)
class LayerMistake(Frozen):
    id: str  # snake_case, stable: in reports and JSON
    title: str
    explanation: str  # one sentence a student understands
    layers: tuple[str, ...]  # the layer types it can be made in (a prefix: "Conv", "MaxPool")
    alterations: Alterations | None  # None: recognised by a pattern, not by numbers
    output: str  # what it changes, as CS231n's functions name it: dx, dw, out

    def made_in(self, layer_type: str) -> bool:
        return layer_type.startswith(self.layers)

    @property
    def formula(self) -> str:
        """The part of the rule it computes otherwise, as docs/mistakes.md writes it."""
        if self.alterations is None:
            return "a dropout mask drawn again in the backward pass"
        return ", ".join(f"{key} = {value}" for key, value in self.alterations.as_dict().items())


_RECURRENT = ("RNN", "LSTM", "GRU")

LAYER_MISTAKES: dict[str, LayerMistake] = {m.id: m for m in (
    LayerMistake(
        "conv_kernel_not_flipped", "∂E/∂x with the kernel not flipped",
        "The input's gradient is δ fully convolved with the kernel rotated 180°; using the "
        "kernel as the forward pass reads it sends each δ to the mirrored input positions.",
        ("Conv",), Alterations.of({"conv_input_gradient.kernel": "unflipped"}), "dx"),
    LayerMistake(
        "conv_weight_gradient_flipped", "∂E/∂W written rotated 180°",
        "A kernel's gradient is the input correlated with δ in the kernel's own orientation; "
        "flipping it (a convolution where a correlation belongs) puts each weight's gradient "
        "at its mirror.",
        ("Conv",), Alterations.of({"conv_weight_gradient.kernel": "flipped"}), "dw"),
    LayerMistake(
        "conv_padding_forgotten", "padding forgotten in the backward pass",
        "The padded input's gradient must lose its border on every side; keeping its "
        "top-left corner shifts ∂E/∂x by the padding.",
        ("Conv",), Alterations.of({"conv_input_gradient.padding": "forgotten"}), "dx"),
    LayerMistake(
        "max_pool_gradient_to_every_tie", "max-pool gradient sent to every tied maximum",
        "Where a window's maximum is tied, the mask x == max gives each tied position the "
        "whole gradient, counting it twice; PyTorch and chainrule give it to the first of "
        "them (any split that adds up to it is a subgradient, a doubled one is not).",
        ("MaxPool",), Alterations.of({"pool_gradient.route": "every_max"}), "dx"),
    LayerMistake(
        "max_pool_gradient_spread", "max-pool gradient spread over the window",
        "Only a window's maximum moved its output, so only it gets the gradient; the other "
        "positions get none.",
        ("MaxPool",), Alterations.of({"pool_gradient.route": "spread"}), "dx"),
    LayerMistake(
        "batchnorm_unbiased_variance", "batch-norm variance with n − 1",
        "In training, batch norm divides the squared deviations by the batch's count m "
        "(np.var's default, PyTorch's); m − 1 belongs to the running variance only, the "
        "mismatch makemore points out.",
        ("BatchNorm",), Alterations.of({"norm.variance": "unbiased"}), "out"),
    LayerMistake(
        "batchnorm_backward_without_mean_and_variance",
        "batch-norm backward missing the mean and variance paths",
        "The batch's mean and variance depend on every x; taking them as constants leaves "
        "γ·g/σ alone and drops the terms −mean(ĝ) and −x̂·mean(ĝ·x̂).",
        ("BatchNorm",), Alterations.of({"norm_gradient.paths": "direct"}), "dx"),
    LayerMistake(
        "dropout_mask_not_reused", "dropout mask not reused in the backward pass",
        "The backward pass must multiply by the forward pass's own mask; a mask drawn again "
        "sends gradient to units that were dropped and none to some that were kept.",
        ("Dropout",), None, "dx"),
    LayerMistake(
        "dropout_backward_not_rescaled", "dropout gradient not rescaled",
        "The forward pass multiplied each kept unit by 1/(1 − p) (1/p where p is the keeping "
        "probability, as in CS231n); the backward pass must multiply by the same.",
        ("Dropout",), Alterations.of({"dropout_gradient.scale": "unscaled"}), "dx"),
    LayerMistake(
        "residual_skip_gradient_dropped", "residual gradient not summed: the skip path left out",
        "x feeds both the block and the skip connection, so its gradient is the sum of the "
        "two paths'; the block's alone drops the identity's g.",
        ("Residual",), Alterations.of({"residual_gradient.paths": "block_only"}), "dx"),
    LayerMistake(
        "residual_block_gradient_dropped",
        "residual gradient not summed: the block's path left out",
        "x feeds both the block and the skip connection; passing the upstream gradient "
        "straight through the skip drops everything the block sends back.",
        ("Residual",), Alterations.of({"residual_gradient.paths": "shortcut_only"}), "dx"),
    LayerMistake(
        "bptt_recurrent_path_forgotten", "backprop through time: the recurrent path forgotten",
        "h_t feeds step t's output and step t + 1, so ∂E/∂h_t is the direct share plus "
        "W_hhᵀ·δ_(t+1); keeping the direct term alone treats every step as if it were the "
        "last, and W_hh learns nothing from later steps.",
        _RECURRENT, Alterations.of({"recurrent_gradient.paths": "direct_only"}), "dW_hh"),
    LayerMistake(
        "bptt_gradient_averaged_over_steps", "backprop through time: averaged over the steps",
        "The same weights act at every step, so their gradient is the sum of the steps' "
        "shares; dividing it by the number of steps scales it by 1/L (the loss's own mean, "
        "if any, is already in δ).",
        _RECURRENT, Alterations.of({"recurrent_gradient.steps": "averaged"}), "dW_hh"),
    LayerMistake(
        "bptt_truncated_too_short", "backprop through time: truncated one step too soon",
        "Truncated backpropagation through time stops after k steps back, as asked (every "
        "step when no truncation is asked); stopping one step sooner leaves out that step's "
        "share of every weight's gradient.",
        _RECURRENT, Alterations.of({"recurrent_gradient.truncation": "shorter"}), "dW_hh"),
    LayerMistake(
        "bptt_truncated_too_long", "backprop through time: truncated one step too late",
        "With truncation to k steps, the gradient stops at each chunk's start (the state is "
        "detached there); carrying it one step further adds a share the step asked to cut.",
        _RECURRENT, Alterations.of({"recurrent_gradient.truncation": "longer"}), "dW_hh"),
    LayerMistake(
        "lstm_forget_gate_gradient_left_out", "LSTM: the forget gate's derivative left out",
        "c_t = f ⊙ c_(t−1) + i ⊙ g, so the forget gate has its gradient ∂E/∂c_t ⊙ c_(t−1) "
        "like the other gates; leaving it out means W_f and b_f never learn.",
        ("LSTM",), Alterations.of({"lstm_gradient.forget_gate": "left_out"}), "dW_hh"),
    LayerMistake(
        "lstm_cell_gradient_not_gated", "LSTM: the cell's gradient carried back ungated",
        "∂c_t/∂c_(t−1) = f_t, so the cell's gradient reaches the step before times the "
        "forget gate; carrying it back unchanged is right only where f = 1.",
        ("LSTM",), Alterations.of({"lstm_gradient.cell_carry": "unscaled"}), "dW_hh"),
    LayerMistake(
        "attention_softmax_elementwise", "attention: the softmax's Jacobian taken as diagonal",
        "Each attention weight depends on every score of its row, so ∂E/∂S = A ⊙ (∂E/∂A − "
        "Σ A ⊙ ∂E/∂A); the element-wise A(1 − A) ⊙ ∂E/∂A keeps only the Jacobian's "
        "diagonal.",
        ("MultiheadAttention",), Alterations.of({"attention_gradient.softmax": "diagonal"}),
        "dQ"),
    LayerMistake(
        "attention_scale_forgotten", "attention: 1/√d forgotten in the backward pass",
        "S = Q·Kᵀ/√d, so ∂E/∂Q = ∂E/∂S·K/√d and ∂E/∂K = ∂E/∂Sᵀ·Q/√d; the forward pass's "
        "scale belongs in the backward pass too.",
        ("MultiheadAttention",), Alterations.of({"attention_gradient.scale": "forgotten"}),
        "dQ"),
    LayerMistake(
        "layer_norm_wrong_axis", "layer norm over the wrong axis",
        "Layer norm normalises each position over its own features; normalising each feature "
        "over the batch and the positions is batch norm's axis.",
        ("LayerNorm",), Alterations.of({"layer_norm.axis": "batch"}), "out"),
    LayerMistake(
        "embedding_gradient_overwritten", "embedding gradient overwritten, not accumulated",
        "A token that occurs at several positions gets the sum of their gradients (a "
        "scatter-add, np.add.at); assigning each in turn keeps the last one only.",
        ("Embedding",), Alterations.of({"embedding_gradient.repeats": "overwritten"}), "dW"),
)}


def layer_types(spec) -> list[str]:
    """Every layer type of a layered spec, inside residual blocks too."""
    from chainrule.spec.layered import flat_layers

    return [layer.type for layer in flat_layers(spec.layers)]


def candidates(spec) -> list[LayerMistake]:
    """The mistakes with numbers that can be made in some layer of ``spec``."""
    types = layer_types(spec)
    return [m for m in LAYER_MISTAKES.values()
            if m.alterations is not None and any(m.made_in(t) for t in types)]
