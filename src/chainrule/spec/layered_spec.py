"""Specs of networks of typed layers (``"layers": [{"type": "Conv2d", ...}, ...]`` with an
``input_shape``): validated as an MLP's spec is, field by field, and with every layer's
output shape computed (:mod:`chainrule.spec.layered`). docs/spec.md, "Typed layers".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from chainrule.errors import SpecError
from chainrule.frozen import Frozen
from chainrule.spec.common import (MAX_LAYERS, MAX_PARAMETERS, common_fields, parse_frozen,
                                   read_examples)
from chainrule.spec.layered import SEQUENCE_TYPES, LayerSpec, flat_layers, parse_layers
from chainrule.spec.layered_build import build_network
from chainrule.spec.validate import check_fields, known_name, required, shown
from chainrule.tables.losses import LOSS_TABLE

LAYERED_FIELDS = (
    "name", "description", "layers", "input_shape", "loss", "input", "target", "inputs",
    "targets", "learning_rate", "frozen", "init", "seed", "optimizer", "steps",
)
# Fields of the MLP shorthand that typed layers say another way.
_MLP_ONLY = {
    "activations": "give each activation as a layer ({\"type\": \"ReLU\"})",
    "weights": "give each layer's weight in the layer ({\"type\": \"Linear\", \"weight\": ...})",
    "biases": "give each layer's bias in the layer ({\"type\": \"Conv2d\", \"bias\": [...]})",
    "bias": "say \"bias\": false in a layer to leave its bias out",
}
MAX_INPUT_VALUES = 10_000  # values in one example (a 3 × 32 × 32 image is 3,072)


@dataclass(eq=False)  # arrays: no elementwise ==
class LayeredSpec(Frozen):
    """A validated spec of typed layers; ``inputs`` is (examples, *input_shape) when
    ``batched``, else one example of ``input_shape``."""

    name: str
    input_shape: tuple[int, ...]
    layers: tuple[LayerSpec, ...]
    loss: str
    inputs: np.ndarray
    targets: np.ndarray
    batched: bool
    learning_rate: float
    optimizer: Any
    frozen: tuple[str, ...] = ()
    init: str = "auto"
    seed: int = 0
    description: str = ""
    steps: int = 1

    @property
    def architecture(self) -> str:
        return " → ".join(layer.type for layer in self.layers)

    @property
    def output_size(self) -> int:
        return self.layers[-1].shape[-1]

    @property
    def positions(self) -> tuple[int, ...]:
        """(L,) when the network gives an output per position of a sequence (a loss at every
        step, as a language model's), else ()."""
        return tuple(self.layers[-1].shape[:-1])

    def build_model(self, dtype: Any = None):
        model = build_network(self.layers, self.input_shape, seed=self.seed, init=self.init,
                              dtype=dtype)
        model.freeze(*self.frozen)
        return model

    def shape_rows(self) -> list[tuple[str, str, str, int]]:
        """(path, layer, output shape per example, parameters) of every layer, the input
        first: the table ``chainrule explain`` prints above a network of layers."""
        rows = [("input", "", _shape(self.input_shape), 0)]

        def walk(layers: tuple[LayerSpec, ...], prefix: str) -> None:
            for i, layer in enumerate(layers):
                name = f"{prefix}{i}"
                rows.append((name, describe(layer), _shape(layer.shape),
                             0 if layer.block else layer.parameter_count()))
                if layer.block:
                    walk(layer.block, f"{name}.block.")
                    walk(layer.shortcut, f"{name}.shortcut.")
        walk(self.layers, "")
        return rows


def describe(layer: LayerSpec) -> str:
    """``Conv2d(1, 4, kernel_size=3, padding=1)``: a layer as PyTorch prints it."""
    o = layer.options
    if layer.type.startswith("Conv"):
        extra = "".join(f", {k}={_plain(o[k])}" for k, default in
                        (("stride", 1), ("padding", 0), ("dilation", 1), ("groups", 1))
                        if o[k] != default)
        bias = ", bias=False" if o["bias"] is False else ""
        return (f"{layer.type}({layer.in_shape[0]}, {o['out_channels']}, "
                f"kernel_size={_plain(o['kernel_size'])}{extra}{bias})")
    if "Pool" in layer.type:
        extra = "".join(f", {k}={_plain(o[k])}" for k in ("stride", "padding")
                        if o[k] not in (None, 0))
        return f"{layer.type}(kernel_size={_plain(o['kernel_size'])}{extra})"
    if layer.type == "Linear":
        bias = ", bias=False" if o["bias"] is False else ""
        return f"Linear({layer.in_shape[-1]}, {o['out_features']}{bias})"
    if layer.type.startswith("BatchNorm"):
        return f"{layer.type}({layer.in_shape[0]})"
    if layer.type == "Dropout":
        return f"Dropout(p={o['p']:g})"
    if layer.type == "LeakyReLU":
        return f"LeakyReLU({o['negative_slope']:g})"
    if layer.type == "Softmax":
        return f"Softmax(dim={o['dim']})"
    if layer.type == "Residual":
        return "Residual(block" + (" + shortcut)" if layer.shortcut else " + identity)")
    if layer.type in ("RNN", "LSTM", "GRU"):
        extra = "" if o["num_layers"] == 1 else f", num_layers={o['num_layers']}"
        extra += "" if o.get("nonlinearity", "tanh") == "tanh" else ", nonlinearity='relu'"
        extra += ", bias=False" if o["bias"] is False else ""
        last = ", last step" if o["output"] == "last" else ""
        last += f", truncated to {o['truncate']} steps" if o["truncate"] else ""
        return f"{layer.type}({layer.in_shape[-1]}, {o['hidden_size']}{extra}{last})"
    if layer.type == "Embedding":
        padding = "" if o["padding_idx"] is None else f", padding_idx={o['padding_idx']}"
        return f"Embedding({o['num_embeddings']}, {o['embedding_dim']}{padding})"
    if layer.type == "LayerNorm":
        shape = o["normalized_shape"] if o["normalized_shape"] is not None else \
            layer.in_shape[-1]
        return f"LayerNorm({_plain(shape)})"
    if layer.type == "MultiheadAttention":
        causal = ", causal" if o["is_causal"] else ""
        return f"MultiheadAttention({layer.in_shape[-1]}, num_heads={o['num_heads']}{causal})"
    return f"{layer.type}()"


def _plain(value: Any) -> str:
    return str(tuple(value)) if isinstance(value, (tuple, list)) else str(value)


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def parse_layered(data: dict, default_name: str) -> LayeredSpec:
    """Validate a spec whose ``layers`` are typed; the first problem raises a SpecError."""
    for key, how in _MLP_ONLY.items():
        if key in data:
            raise SpecError(f"{key}: not a field of a network of typed layers; {how}")
    check_fields(data, LAYERED_FIELDS)
    input_shape = check_input_shape(required(data, "input_shape"))
    layers = parse_layers(data["layers"], input_shape, max_layers=MAX_LAYERS,
                          max_parameters=MAX_PARAMETERS)
    out = layers[-1].shape
    sequence = len(out) == 2 and any(layer.type in SEQUENCE_TYPES for layer in
                                     flat_layers(layers))
    if len(out) != 1 and not sequence:
        raise SpecError(f"layers: the last layer gives {_shape(out)} per example; a loss "
                        f"needs one value per output unit (end with Flatten and Linear), or "
                        f"for a sequence one row per position (L, outputs)")
    loss = known_name(required(data, "loss"), "loss", "loss", LOSS_TABLE)
    last = layers[-1].type
    if LOSS_TABLE[loss].target == "probabilities" and last not in ("Sigmoid", "Softmax"):
        raise SpecError(f"loss: {loss} needs outputs in (0, 1), but the last layer is {last}; "
                        f"end with Sigmoid (or use cross_entropy on logits)")
    inputs, targets, batched = read_examples(
        data, input_shape, out[-1], loss, f"input_shape {list(input_shape)}",
        positions=tuple(out[:-1]))
    if layers[0].type == "Embedding":
        check_indices(inputs, layers[0].options["num_embeddings"],
                      "inputs" if batched else "input")
    examples = inputs.shape[0] if batched else 1
    for layer in flat_layers(layers):
        values = examples * int(np.prod(layer.in_shape[1:]))
        if layer.type.startswith("BatchNorm") and values < 2:
            raise SpecError(f"{layer.path}: {layer.type} normalises each channel over the batch, "
                            f"and this one has {values} value per channel; give a batch "
                            f"(inputs + targets) of at least 2 examples")
    spec = LayeredSpec(input_shape=input_shape, layers=layers, loss=loss, inputs=inputs,
                       targets=targets, batched=batched, **common_fields(data, default_name))
    frozen = data.get("frozen", [])
    if frozen:
        names = [name for name, _ in spec.build_model().named_parameters()]
        return replace(spec, frozen=parse_frozen(frozen, names))
    parse_frozen(frozen, [])
    return spec


def check_indices(inputs: np.ndarray, rows: int, key: str) -> None:
    """An Embedding's input: whole numbers from 0 to rows − 1, the first one that is not
    named by its place."""
    bad = ~((inputs == np.round(inputs)) & (inputs >= 0) & (inputs < rows))
    if np.any(bad):
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise SpecError(f"{key}{''.join(f'[{i}]' for i in where)}: expected a token index (a "
                        f"whole number from 0 to {rows - 1}, the Embedding's rows), got "
                        f"{inputs[where]:g}")


def check_input_shape(value: Any) -> tuple[int, ...]:
    ok = isinstance(value, list) and 1 <= len(value) <= 3 and all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in value)
    if not ok:
        raise SpecError(f"input_shape: expected the shape of one example, 1 to 3 positive "
                        f"integers ([C, H, W] for images, [C, L] for sequences, [n] for "
                        f"features), got {shown(value)}")
    size = int(np.prod(value))
    if size > MAX_INPUT_VALUES:
        raise SpecError(f"input_shape: {value} is {size:,} values per example; at most "
                        f"{MAX_INPUT_VALUES:,}")
    return tuple(value)
