"""Networks: layers, activations, losses and initialisation. What each activation and loss is
(formulas, derivatives, parameters, from-logits pairs) is in ``ACTIVATION_TABLE`` and
``LOSS_TABLE``."""

from importlib import import_module

from chainrule.tables.activations import ACTIVATION_TABLE
from chainrule.tables.losses import LOSS_TABLE
from chainrule.nn.activations import ACTIVATIONS, get_activation
from chainrule.nn.init import INITIALIZERS
from chainrule.nn.layers import MLP, BIAS_MODES, LayerValues, Linear, Module, Parameter

# The convolutional modules load when first named (cr.nn.Conv2d): the CLI's start-up, which
# explains and verifies MLPs, does not pay for them.
_MODULES = ("AvgPool1d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv1d", "Conv2d",
            "Dropout", "Flatten", "LeakyReLU", "MaxPool1d", "MaxPool2d", "ReLU", "Residual",
            "Sequential", "Sigmoid", "Softmax", "Tanh")


_SEQUENCE = ("Embedding", "LayerNorm")  # chainrule.nn.sequence, loaded the same way
_RECURRENT = ("RNN", "LSTM", "GRU")  # chainrule.nn.recurrent
_ATTENTION = ("MultiheadAttention", "scaled_dot_product_attention")  # chainrule.nn.attention
_TRANSFORMER = ("TransformerEncoderLayer", "sinusoidal_positions")  # chainrule.nn.transformer


def __getattr__(name: str):
    if name in _MODULES:
        return getattr(import_module("chainrule.nn.modules"), name)
    if name in _SEQUENCE:
        return getattr(import_module("chainrule.nn.sequence"), name)
    if name in _RECURRENT:
        return getattr(import_module("chainrule.nn.recurrent"), name)
    if name in _ATTENTION:
        return getattr(import_module("chainrule.nn.attention"), name)
    if name in _TRANSFORMER:
        return getattr(import_module("chainrule.nn.transformer"), name)
    if name == "from_torch":
        # cr.nn.from_torch, where PyTorch users look for it: it is chainrule.interop's, above
        # nn (it validates through chainrule.spec), so it is looked up by name when asked for
        # and nn imports nothing of interop
        return getattr(import_module("chainrule.interop.torch_in"), name)
    raise AttributeError(f"module 'chainrule.nn' has no attribute {name!r}")
from chainrule.nn.losses import (
    LOSSES,
    bce,
    bce_with_logits,
    bce_with_softmax_logits,
    cross_entropy,
    get_loss,
    half_sse,
    mse,
    output_loss,
    sse,
)

__all__ = [
    "AvgPool1d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv1d", "Conv2d", "Dropout",
    "Embedding", "GRU", "LayerNorm", "LSTM", "MultiheadAttention", "RNN",
    "scaled_dot_product_attention", "sinusoidal_positions", "TransformerEncoderLayer",
    "Flatten", "LeakyReLU", "MaxPool1d", "MaxPool2d", "ReLU", "Residual", "Sequential",
    "Sigmoid", "Softmax", "Tanh",
    "ACTIVATIONS", "ACTIVATION_TABLE", "BIAS_MODES", "INITIALIZERS", "LOSSES", "LOSS_TABLE",
    "LayerValues", "Linear", "MLP", "Module", "Parameter", "bce", "bce_with_logits",
    "bce_with_softmax_logits", "cross_entropy", "get_activation",
    "get_loss", "half_sse", "mse", "output_loss", "sse",
]
