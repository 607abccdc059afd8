"""The typed-layer exercise levels, as a table: what each asks (its tensors, each named for
people), how its network is drawn, and which of its answers may be equal by design.

* ``conv``: a 1 × 4 × 4 image, one 2 × 2 kernel and its bias (a cross-correlation, as PyTorch's
  ``Conv2d``), E = ½ Σ (y − t)² against a 3 × 3 target: the output y, ∂E/∂kernel, ∂E/∂b and
  ∂E/∂x (δ fully convolved with the flipped kernel);
* ``pool``: a 1 × 4 × 4 map, 2 × 2 max pooling, E = ½ Σ (y − t)²: the output and ∂E/∂x (the
  gradient routed to each window's maximum, no window tied);
* ``batchnorm``: a batch of four examples of two features, ``BatchNorm1d`` in training mode
  (the batch's mean and biased variance, ε = 10⁻⁵), E the batch's mean of ½ Σ (y − t)²: the
  output, ∂E/∂γ, ∂E/∂β and ∂E/∂x (the three-term formula);
* ``cnn``: conv (2 × 2) → relu → max pool (2 × 2, stride 1) → linear → softmax with
  cross-entropy: the feature map, the pooled map, the probabilities, the loss, and every
  gradient;
* ``rnn``, ``lstm``, ``attention``, ``layernorm``, ``embedding``: three steps of a recurrent
  unit (∂E/∂h_t with both paths), two of an LSTM cell (its cell and ∂E/∂c_t), one head of
  self-attention (A, ∂E/∂S, ∂E/∂V), layer norm of two examples, and an embedding table with a
  repeated token (docs/exercises.md, "Sequence layers").

:mod:`chainrule.exercises.layered` draws, judges and words the questions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class Tensor:
    """How a level's questions name one tensor of the step: its quantity, its symbol, what
    it is, and how an element's index reads (``pixel``: row and column from 1)."""

    quantity: str  # "forward.0", "gradients.0.weight"
    letter: str  # "y", "∂E/∂w"
    latex: str  # "y", r"\frac{\partial E}{\partial w}"
    words: str  # "the output", "the gradient"
    index: Callable[[tuple[int, ...]], tuple[int, ...]]  # the element's printed indices


def _pixel(index: tuple[int, ...]) -> tuple[int, ...]:
    """(n, c, i, j) of one example and channel → (i + 1, j + 1)."""
    return index[-2] + 1, index[-1] + 1


def _feature(index: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(i + 1 for i in index)


def _grad(name: str, latex: str) -> tuple[str, str]:
    return f"∂E/∂{name}", rf"\frac{{\partial E}}{{\partial {latex}}}"


def _tensor(quantity: str, name: str, latex: str, words: str, index, gradient=False):
    if gradient:
        name, latex = _grad(name, latex)
    return Tensor(quantity, name, latex, words, index)


@dataclass(frozen=True)
class LayeredLevel:
    name: str
    intro: str  # what the sheet says the network is and computes
    asked: tuple[Tensor, ...]
    draw: Callable[[np.random.Generator, int], dict[str, Any]]  # (rng, decimals) → spec
    repeats: tuple[str, ...] = ()  # quantities whose elements may be equal by design


def _numbers(rng: np.random.Generator, shape, decimals: int, low: float = -1.0,
             high: float = 1.0) -> np.ndarray:
    """Distinct nonzero numbers in [low, high] with ``decimals`` decimals."""
    step = 10.0 ** -decimals
    grid = np.round(np.arange(low, high + step / 2, step), decimals)
    grid = grid[np.abs(grid) > step / 2]
    size = int(np.prod(shape))
    return rng.choice(grid, size=size, replace=size > len(grid)).reshape(shape)


def _conv_spec(rng, decimals):
    return {"input_shape": [1, 4, 4], "layers": [
        {"type": "Conv2d", "out_channels": 1, "kernel_size": 2,
         "weight": _numbers(rng, (1, 1, 2, 2), decimals).tolist(),
         "bias": _numbers(rng, (1,), decimals).tolist()},
        {"type": "Flatten"}],
        "loss": "half_sse", "input": _numbers(rng, (1, 4, 4), decimals).tolist(),
        "target": _numbers(rng, (9,), decimals).tolist(), "learning_rate": 0.1}


def _pool_spec(rng, decimals):
    return {"input_shape": [1, 4, 4], "layers": [
        {"type": "MaxPool2d", "kernel_size": 2}, {"type": "Flatten"}],
        "loss": "half_sse", "input": _numbers(rng, (1, 4, 4), decimals, -2.0, 2.0).tolist(),
        "target": _numbers(rng, (4,), decimals, -2.0, 2.0).tolist(), "learning_rate": 0.1}


def _norm_spec(rng, decimals):
    return {"input_shape": [2], "layers": [
        {"type": "BatchNorm1d", "weight": _numbers(rng, (2,), decimals, 0.5, 2.0).tolist(),
         "bias": _numbers(rng, (2,), decimals).tolist()}],
        "loss": "half_sse", "inputs": _numbers(rng, (4, 2), decimals, -2.0, 2.0).tolist(),
        "targets": _numbers(rng, (4, 2), decimals, -2.0, 2.0).tolist(), "learning_rate": 0.1}


def _cnn_spec(rng, decimals):
    return {"input_shape": [1, 4, 4], "layers": [
        {"type": "Conv2d", "out_channels": 1, "kernel_size": 2,
         "weight": _numbers(rng, (1, 1, 2, 2), decimals).tolist(),
         "bias": _numbers(rng, (1,), decimals, 0.1, 0.5).tolist()},
        {"type": "ReLU"}, {"type": "MaxPool2d", "kernel_size": 2, "stride": 1},
        {"type": "Flatten"},
        {"type": "Linear", "out_features": 2, "weight": _numbers(rng, (4, 2), decimals).tolist(),
         "bias": _numbers(rng, (2,), decimals).tolist()},
        {"type": "Softmax"}],
        "loss": "cross_entropy",
        "input": _numbers(rng, (1, 4, 4), decimals, 0.0, 1.0).tolist(),  # pixels in [0, 1]
        "target": int(rng.integers(0, 2)), "learning_rate": 0.1}


def _step(index: tuple[int, ...]) -> tuple[int, ...]:
    """(n, t, unit) of one example and a one-unit state → (t + 1,)."""
    return (index[1] + 1,)


def _position(index: tuple[int, ...]) -> tuple[int, ...]:
    """(n, l, e) of one example → (l + 1, e + 1); (n, h, i, j) of one head the same."""
    return index[-2] + 1, index[-1] + 1


_GATES = "ifgo"


def _gate(index: tuple[int, ...]) -> tuple[str, ...]:
    """A row of an LSTM's (4, 1) weights or its (4,) bias, one unit: its gate's letter."""
    return (_GATES[index[0]],)


def _one(rng, decimals, low=-1.0, high=1.0):
    return float(_numbers(rng, (1,), decimals, low, high)[0])


def _rnn_spec(rng, decimals):
    return {"input_shape": [3, 1], "layers": [
        {"type": "RNN", "hidden_size": 1, "weight_ih_l0": [[_one(rng, decimals)]],
         "weight_hh_l0": [[_one(rng, decimals)]], "bias_ih_l0": [_one(rng, decimals)],
         "bias_hh_l0": [0.0]},
        {"type": "Linear", "out_features": 1, "weight": [[_one(rng, decimals, -2, 2)]],
         "bias": [_one(rng, decimals)]}],
        "loss": "half_sse", "input": _numbers(rng, (3, 1), decimals).tolist(),
        "target": _numbers(rng, (3, 1), decimals).tolist(), "learning_rate": 0.1}


def _lstm_spec(rng, decimals):
    return {"input_shape": [2, 1], "layers": [
        {"type": "LSTM", "hidden_size": 1, "output": "last",
         "weight_ih_l0": _numbers(rng, (4, 1), decimals).tolist(),
         "weight_hh_l0": _numbers(rng, (4, 1), decimals).tolist(),
         "bias_ih_l0": _numbers(rng, (4,), decimals).tolist(), "bias_hh_l0": [0.0] * 4},
        {"type": "Linear", "out_features": 1, "weight": [[_one(rng, decimals, -2, 2)]],
         "bias": [_one(rng, decimals)]}],
        "loss": "half_sse", "input": _numbers(rng, (2, 1), decimals).tolist(),
        "target": [_one(rng, decimals)], "learning_rate": 0.1}


def _attention_spec(rng, decimals):
    return {"input_shape": [3, 2], "layers": [
        {"type": "MultiheadAttention", "num_heads": 1,
         "in_proj_weight": _numbers(rng, (6, 2), decimals).tolist(),
         "in_proj_bias": [0.0] * 6, "out_proj.weight": [[1.0, 0.0], [0.0, 1.0]],
         "out_proj.bias": [0.0, 0.0]},
        {"type": "Flatten"}],  # E = ½ Σ over every position and feature, as the sheet says
        "loss": "half_sse", "input": _numbers(rng, (3, 2), decimals, -2, 2).tolist(),
        "target": _numbers(rng, (6,), decimals).tolist(), "learning_rate": 0.1}


def _layernorm_spec(rng, decimals):
    return {"input_shape": [3], "layers": [
        {"type": "LayerNorm", "weight": _numbers(rng, (3,), decimals, 0.5, 2.0).tolist(),
         "bias": _numbers(rng, (3,), decimals).tolist()}],
        "loss": "half_sse", "inputs": _numbers(rng, (2, 3), decimals, -2, 2).tolist(),
        "targets": _numbers(rng, (2, 3), decimals).tolist(), "learning_rate": 0.1}


def _embedding_spec(rng, decimals):
    tokens = [int(t) for t in rng.integers(0, 4, size=4)]
    while len(set(tokens)) != 3:  # a token used twice and a row left unused
        tokens = [int(t) for t in rng.integers(0, 4, size=4)]
    return {"input_shape": [4], "layers": [
        {"type": "Embedding", "num_embeddings": 4, "embedding_dim": 2,
         "weight": _numbers(rng, (4, 2), decimals).tolist()},
        {"type": "Linear", "out_features": 1, "weight": _numbers(rng, (2, 1), decimals).tolist(),
         "bias": [_one(rng, decimals)]}],
        "loss": "half_sse", "input": tokens, "target": _numbers(rng, (4, 1), decimals).tolist(),
        "learning_rate": 0.1}


LAYERED_LEVELS: dict[str, LayeredLevel] = {level.name: level for level in (
    LayeredLevel(
        "conv", "A 1 × 4 × 4 image x is cross-correlated with one 2 × 2 kernel w and its bias b "
        "(stride 1, no padding: PyTorch's Conv2d, the kernel not flipped in the forward pass), "
        "giving a 3 × 3 map y. The loss is E = ½ Σ (y − t)² against the target map t.",
        (_tensor("forward.0", "y", "y", "the output", _pixel),
         _tensor("gradients.0.weight", "w", "w", "the gradient", _pixel, True),
         _tensor("gradients.0.bias", "b", "b", "the gradient", lambda i: (), True),
         _tensor("gradients.input", "x", "x", "the gradient", _pixel, True)), _conv_spec),
    LayeredLevel(
        "pool", "A 1 × 4 × 4 map x is max-pooled in 2 × 2 windows of stride 2, giving a 2 × 2 "
        "map y. The loss is E = ½ Σ (y − t)² against the target t.",
        (_tensor("forward.0", "y", "y", "the output", _pixel),
         _tensor("gradients.input", "x", "x", "the gradient", _pixel, True)), _pool_spec),
    LayeredLevel(
        "batchnorm", "A batch of four examples x (rows) of two features (columns) is batch-"
        "normalised in training mode: each feature with the batch's mean μ and biased "
        "variance σ² (divided by 4), x̂ = (x − μ)/√(σ² + ε) with ε = 0.00001, then "
        "y = γ·x̂ + β. The loss E is the mean over the batch of ½ Σ (y − t)².",
        (_tensor("forward.0", "y", "y", "the output", _feature),
         _tensor("gradients.0.weight", "γ", r"\gamma", "the gradient", _feature, True),
         _tensor("gradients.0.bias", "β", r"\beta", "the gradient", _feature, True),
         _tensor("gradients.input", "x", "x", "the gradient", _feature, True)), _norm_spec),
    LayeredLevel(
        "cnn", "A 1 × 4 × 4 image x is cross-correlated with a 2 × 2 kernel K and bias c "
        "(giving the 3 × 3 map z), passed through relu (a = max(z, 0)) and max-pooled in 2 × 2 "
        "windows of stride 1 (the 2 × 2 map m); m, flattened row by row to 4 values, feeds a "
        "linear layer s = m·W + b (W is 4 × 2) and a softmax ŷ. The loss is the cross-entropy "
        "E = −ln ŷ_t of the target class t.",
        (_tensor("forward.0", "z", "z", "the feature map value", _pixel),
         _tensor("forward.2", "m", "m", "the pooled value", _pixel),
         _tensor("forward.5", "ŷ", r"\hat{y}", "the probability", lambda i: (i[-1] + 1,)),
         _tensor("loss", "E", "E", "the loss", lambda i: ()),
         _tensor("gradients.4.weight", "W", "W", "the gradient", _feature, True),
         _tensor("gradients.4.bias", "b", "b", "the gradient", lambda i: (i[0] + 1,), True),
         _tensor("gradients.0.weight", "K", "K", "the gradient", _pixel, True),
         _tensor("gradients.0.bias", "c", "c", "the gradient", lambda i: (), True)),
        _cnn_spec, ("forward.2",)),  # overlapping windows: one maximum may win twice
    LayeredLevel(
        "rnn", "Three numbers x₁, x₂, x₃ enter a recurrent unit with a one-number state, "
        "h_t = tanh(u·x_t + w·h_(t−1) + b) from h₀ = 0 (PyTorch's RNN: u is weight_ih, w is "
        "weight_hh, b is bias_ih, and bias_hh = 0), and every step predicts y_t = v·h_t + c. "
        "The loss E is the mean over the three steps of ½ (y_t − d_t)², d the targets. "
        "Backpropagation through time: ∂E/∂h_t has a direct part, from y_t, and a recurrent "
        "part, through h_(t+1); each weight's gradient is a sum over the steps.",
        (_tensor("forward.0", "h", "h", "the state", _step),
         _tensor("forward.1", "y", "y", "the prediction", _step),
         _tensor("loss", "E", "E", "the loss", lambda i: ()),
         _tensor("inside.0.dh", "∂E/∂h", r"\frac{\partial E}{\partial h}",
                 "the gradient (direct and recurrent)", _step),
         _tensor("gradients.0.weight_hh_l0", "w", "w", "the gradient", lambda i: (), True),
         _tensor("gradients.0.weight_ih_l0", "u", "u", "the gradient", lambda i: (), True),
         _tensor("gradients.0.bias_ih_l0", "b", "b", "the gradient", lambda i: (), True),
         _tensor("gradients.1.weight", "v", "v", "the gradient", lambda i: (), True),
         _tensor("gradients.1.bias", "c", "c", "the gradient", lambda i: (), True)),
        _rnn_spec),
    LayeredLevel(
        "lstm", "Two numbers x₁, x₂ enter an LSTM cell with a one-number state (PyTorch's "
        "gate order i, f, g, o; w_ih and w_hh hold one weight per gate, b one bias per gate, "
        "bias_hh = 0): z = w_ih·x_t + w_hh·h_(t−1) + b, i = σ(z_i), f = σ(z_f), g = tanh(z_g), "
        "o = σ(z_o), c_t = f·c_(t−1) + i·g, h_t = o·tanh(c_t), from h₀ = c₀ = 0. The last "
        "state predicts y = v·h₂ + c, and E = ½ (y − t)².",
        (_tensor("inside.0.c", "c", "c", "the cell", _step),
         _tensor("forward.0", "h₂", "h_2", "the last state", lambda i: ()),
         _tensor("forward.1", "y", "y", "the prediction", lambda i: ()),
         _tensor("loss", "E", "E", "the loss", lambda i: ()),
         _tensor("inside.0.dc", "∂E/∂c", r"\frac{\partial E}{\partial c}",
                 "the cell's gradient", _step),
         _tensor("gradients.0.weight_ih_l0", "w_ih", r"w^{ih}", "the gradient", _gate, True),
         _tensor("gradients.0.weight_hh_l0", "w_hh", r"w^{hh}", "the gradient", _gate, True),
         _tensor("gradients.0.bias_ih_l0", "b", "b", "the gradient", _gate, True)),
        _lstm_spec),
    LayeredLevel(
        "attention", "A sequence of three positions x (rows) of two features attends to "
        "itself with one head: Q = x·W_Qᵀ, K = x·W_Kᵀ, V = x·W_Vᵀ (W_Q, W_K, W_V the rows "
        "1 and 2, 3 and 4, and 5 and 6 of in_proj_weight; no biases), S = Q·Kᵀ/√2, "
        "A = softmax(S) along each row, and the output is O = A·V (the output projection is "
        "the identity). "
        "E = ½ Σ (O − T)² against the target T.",
        (_tensor("inside.0.weights", "A", "A", "the attention weight", _position),
         _tensor("forward.0", "O", "O", "the output", _position),
         _tensor("loss", "E", "E", "the loss", lambda i: ()),
         _tensor("inside.0.dv", "∂E/∂V", r"\frac{\partial E}{\partial V}", "the gradient",
                 _position),
         _tensor("inside.0.dscores", "∂E/∂S", r"\frac{\partial E}{\partial S}",
                 "the gradient", _position),
         _tensor("gradients.input", "x", "x", "the gradient", _position, True)),
        _attention_spec),
    LayeredLevel(
        "layernorm", "Two examples x (rows) of three features are layer-normalised: each row "
        "with its own mean μ and biased variance σ² over its three features, x̂ = (x − μ)/"
        "√(σ² + ε) with ε = 0.00001, then y = γ·x̂ + β. The loss E is the mean over the two "
        "examples of ½ Σ (y − t)².",
        (_tensor("forward.0", "y", "y", "the output", _feature),
         _tensor("gradients.0.weight", "γ", r"\gamma", "the gradient", _feature, True),
         _tensor("gradients.0.bias", "β", r"\beta", "the gradient", _feature, True),
         _tensor("gradients.input", "x", "x", "the gradient", _feature, True)),
        _layernorm_spec),
    LayeredLevel(
        "embedding", "Four tokens index the rows of an embedding table W (four rows of two "
        "numbers, rows counted from 0): position l gets the row e_l = W[token_l]. Each "
        "position predicts y_l = e_l·v + c, and E is the mean over the four positions of "
        "½ (y_l − t_l)². A token used twice gets both positions' gradients, summed; an "
        "unused row gets none.",
        (_tensor("forward.1", "y", "y", "the prediction", _step),
         _tensor("gradients.0.weight", "W", "W", "the gradient", lambda i: (i[0], i[1] + 1),
                 True),
         _tensor("gradients.1.weight", "v", "v", "the gradient", lambda i: (i[0] + 1,), True),
         _tensor("gradients.1.bias", "c", "c", "the gradient", lambda i: (), True)),
        _embedding_spec, ("forward.1",)),  # a repeated token: the same prediction twice
)}
SEQUENCE_LEVELS = ("rnn", "lstm", "attention", "layernorm", "embedding")
