"""Typed layers in a spec: ``"layers": [{"type": "Conv2d", "out_channels": 2, ...}, ...]``, a
network as ``nn.Sequential`` writes it, with ``input_shape`` the shape of one example.

:data:`LAYER_TYPES` is the one table of what a layer type is: its PyTorch name, its fields
(with defaults), the shapes of its parameters for an input shape, and how its module is
built. Parsing reads it, and so does the checkpoint that rebuilds a trained network from the
same plain data. Every layer's output shape is computed by its module's ``out_shape`` (the
geometry the primitives check), layer after layer, before anything is drawn; parameters are
counted before they are allocated. A message names the layer's path (``layers[2]`` or
``layers[3].layers[0]`` inside a residual block) and what does not fit.

Type names are PyTorch's (``Conv2d``, ``MaxPool2d``, ``BatchNorm1d``, ``ReLU``); case and
underscores do not matter (``conv2d``, ``max_pool2d``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from chainrule.errors import ShapeError, SpecError
from chainrule.spec.layered_build import build_module, sizes
from chainrule.spec.validate import array, check_fields, kind, number, shown
from chainrule.tables.activations import LEAKY_RELU_SLOPE

MAX_VALUES = 100_000  # values of one example in any layer's output (a 32 × 56 × 56 map)
MAX_DEPTH = 4  # residual blocks inside residual blocks


@dataclass(frozen=True)
class LayerType:
    name: str  # PyTorch's class name
    fields: dict[str, Any]  # field → default (REQUIRED: must be given)
    params: Callable[[tuple[int, ...], dict[str, Any]], dict[str, tuple[int, ...]]] = \
        lambda shape, o: {}
    arrays: tuple[str, ...] = ()  # fields that hold given numbers (weight, bias, ...)


REQUIRED = object()
_SIZE = "an integer ≥ 1 or a list of them"


def _conv_params(shape, o):
    groups, kernel = o["groups"], sizes(o["kernel_size"], len(shape) - 1)
    out = {"weight": (o["out_channels"], shape[0] // groups, *kernel)}
    if o["bias"] is not False:
        out["bias"] = (o["out_channels"],)
    return out


def _linear_params(shape, o):
    fan_in = shape[-1]  # a sequence (L, F) is mapped position by position, as in PyTorch
    out = {"weight": (fan_in, o["out_features"])}
    if o["bias"] is not False:
        out["bias"] = (o["out_features"],)
    return out


def _norm_params(shape, o):
    return {name: (shape[0],) for name in ("weight", "bias", "running_mean", "running_var")}


def _recurrent_params(gates):
    def params(shape, o):
        out, h = {}, o["hidden_size"]
        for k in range(o["num_layers"]):
            fan_in = shape[-1] if k == 0 else h
            out[f"weight_ih_l{k}"] = (gates * h, fan_in)
            out[f"weight_hh_l{k}"] = (gates * h, h)
            if o["bias"] is not False:
                out[f"bias_ih_l{k}"] = out[f"bias_hh_l{k}"] = (gates * h,)
        return out
    return params


def _attention_params(shape, o):
    e = shape[-1]
    out = {"in_proj_weight": (3 * e, e), "out_proj.weight": (e, e)}
    if o["bias"] is not False:
        out.update({"in_proj_bias": (3 * e,), "out_proj.bias": (e,)})
    return out


def _layer_norm_params(shape, o):
    normalized = _normalized(shape, o["normalized_shape"])
    return {"weight": normalized} if o["bias"] is False else \
        {"weight": normalized, "bias": normalized}


def _normalized(shape, given):
    if given is None:
        return (shape[-1],)
    return tuple(given) if isinstance(given, (tuple, list)) else (given,)


MAX_RECURRENT_LAYERS = 3
_RECURRENT_ARRAYS = tuple(f"{w}_{side}_l{k}" for k in range(MAX_RECURRENT_LAYERS)
                          for w in ("weight", "bias") for side in ("ih", "hh"))
_RECURRENT = {"hidden_size": REQUIRED, "input_size": None, "num_layers": 1, "bias": True,
              "output": "sequence", "truncate": None,
              **{key: None for key in _RECURRENT_ARRAYS}}
SEQUENCE_TYPES = ("Embedding", "RNN", "LSTM", "GRU", "LayerNorm", "MultiheadAttention",
                  "PositionalEncoding")

_CONV = {"out_channels": REQUIRED, "kernel_size": REQUIRED, "stride": 1, "padding": 0,
         "dilation": 1, "groups": 1, "in_channels": None, "bias": True, "weight": None}
_POOL = {"kernel_size": REQUIRED, "stride": None, "padding": 0}
_NORM = {"num_features": None, "eps": 1e-5, "momentum": 0.1, "weight": None, "bias": None,
         "running_mean": None, "running_var": None}

LAYER_TYPES: dict[str, LayerType] = {t.name: t for t in (
    LayerType("Linear", {"out_features": REQUIRED, "in_features": None, "bias": True,
                         "weight": None}, _linear_params, ("weight", "bias")),
    LayerType("Conv1d", _CONV, _conv_params, ("weight", "bias")),
    LayerType("Conv2d", _CONV, _conv_params, ("weight", "bias")),
    LayerType("MaxPool1d", _POOL), LayerType("MaxPool2d", _POOL),
    LayerType("AvgPool1d", _POOL), LayerType("AvgPool2d", _POOL),
    LayerType("BatchNorm1d", _NORM, _norm_params,
              ("weight", "bias", "running_mean", "running_var")),
    LayerType("BatchNorm2d", _NORM, _norm_params,
              ("weight", "bias", "running_mean", "running_var")),
    LayerType("Dropout", {"p": 0.5, "seed": None}),
    LayerType("Flatten", {"start_dim": 1, "end_dim": -1}),
    LayerType("ReLU", {}), LayerType("Tanh", {}), LayerType("Sigmoid", {}),
    LayerType("LeakyReLU", {"negative_slope": LEAKY_RELU_SLOPE}),
    LayerType("Softmax", {"dim": -1}),
    LayerType("Residual", {"layers": REQUIRED, "shortcut": None}),
    LayerType("Embedding", {"num_embeddings": REQUIRED, "embedding_dim": REQUIRED,
                            "padding_idx": None, "weight": None},
              lambda shape, o: {"weight": (o["num_embeddings"], o["embedding_dim"])},
              ("weight",)),
    LayerType("RNN", {**_RECURRENT, "nonlinearity": "tanh"}, _recurrent_params(1),
              _RECURRENT_ARRAYS),
    LayerType("LSTM", _RECURRENT, _recurrent_params(4), _RECURRENT_ARRAYS),
    LayerType("GRU", _RECURRENT, _recurrent_params(3), _RECURRENT_ARRAYS),
    LayerType("LayerNorm", {"normalized_shape": None, "eps": 1e-5, "weight": None,
                            "bias": None}, _layer_norm_params, ("weight", "bias")),
    LayerType("MultiheadAttention", {"num_heads": REQUIRED, "embed_dim": None, "bias": True,
                                     "is_causal": False, "in_proj_weight": None,
                                     "in_proj_bias": None, "out_proj.weight": None,
                                     "out_proj.bias": None}, _attention_params,
              ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias")),
    LayerType("PositionalEncoding", {}),
)}
_BY_KEY = {name.lower(): name for name in LAYER_TYPES}


@dataclass(frozen=True, eq=False)  # arrays inside: no elementwise ==
class LayerSpec:
    """One validated layer: its type, its options (defaults filled in; given arrays as
    NumPy arrays), the blocks of a residual layer, and its output shape per example."""

    type: str
    options: dict[str, Any]
    path: str
    in_shape: tuple[int, ...]
    shape: tuple[int, ...]
    block: tuple["LayerSpec", ...] = ()
    shortcut: tuple["LayerSpec", ...] = ()

    def parameter_count(self) -> int:
        own = sum(int(np.prod(s)) for name, s in
                  LAYER_TYPES[self.type].params(self.in_shape, self.options).items()
                  if not name.startswith("running"))
        return own + sum(layer.parameter_count() for layer in self.block + self.shortcut)

    def plain(self) -> dict[str, Any]:
        """The layer as a spec writes it (no given arrays): what a checkpoint stores."""
        out: dict[str, Any] = {"type": self.type}
        for key, value in self.options.items():
            omitted = value is None and LAYER_TYPES[self.type].fields[key] is None
            if omitted or (key in LAYER_TYPES[self.type].arrays
                           and isinstance(value, np.ndarray)):
                continue
            if key == "layers":
                value = [layer.plain() for layer in self.block]
            elif key == "shortcut":
                value = None if not self.shortcut else [layer.plain() for layer in self.shortcut]
            out[key] = list(value) if isinstance(value, tuple) else value
        return out


class _Budget:
    """Parameters and per-example values counted across the whole network, checked before
    each layer is allocated."""

    def __init__(self, max_parameters: int) -> None:
        self.max_parameters, self.parameters = max_parameters, 0


def parse_layers(value: Any, input_shape: tuple[int, ...], *, max_layers: int,
                 max_parameters: int, path: str = "layers") -> tuple[LayerSpec, ...]:
    """Validate a list of typed layers for inputs of ``input_shape`` (per example)."""
    if not isinstance(value, list) or not value:
        raise SpecError(f"{path}: expected a list of layers like {{\"type\": \"Conv2d\", ...}}, "
                        f"got {shown(value)}")
    count = _count_layers(value)
    if count > max_layers:
        raise SpecError(f"{path}: {count} layers; at most {max_layers}")
    layers = _layers(value, input_shape, path, _Budget(max_parameters), 0)
    for layer in flat_layers(layers)[1:]:
        if layer.type == "Embedding":
            raise SpecError(f"{layer.path}: {_EMBEDDING_FIRST}")
    return layers


def _count_layers(value: Any) -> int:
    if not isinstance(value, list):
        return 0
    total = 0
    for entry in value:
        total += 1
        if isinstance(entry, dict):
            total += _count_layers(entry.get("layers")) + _count_layers(entry.get("shortcut"))
    return total


def _layers(value: list, shape: tuple[int, ...], path: str, budget: _Budget,
            depth: int) -> tuple[LayerSpec, ...]:
    out = []
    for i, entry in enumerate(value):
        layer = _layer(entry, shape, f"{path}[{i}]", budget, depth)
        out.append(layer)
        shape = layer.shape
    return tuple(out)


def _layer(entry: Any, shape: tuple[int, ...], path: str, budget: _Budget,
           depth: int) -> LayerSpec:
    if not isinstance(entry, dict):
        raise SpecError(f"{path}: expected a layer object like {{\"type\": \"ReLU\"}}, got "
                        f"{kind(entry)} {shown(entry)}")
    name = _type_name(entry, path)
    kind_ = LAYER_TYPES[name]
    check_fields(entry, ("type", *kind_.fields), f"{path}.")
    options = {}
    for key, default in kind_.fields.items():
        if key not in entry:
            if default is REQUIRED:
                raise SpecError(f"{path}.{key}: required field of a {name} layer is missing")
            options[key] = default
            continue
        given = entry[key]
        options[key] = default if given is None and default is None else \
            _option(name, key, given, f"{path}.{key}", len(shape))
    if name == "Residual":
        if depth >= MAX_DEPTH:
            raise SpecError(f"{path}: residual blocks nested more than {MAX_DEPTH} deep")
        block = _layers(_list(options["layers"], f"{path}.layers"), shape, f"{path}.layers",
                        budget, depth + 1)
        shortcut = () if options["shortcut"] is None else _layers(
            _list(options["shortcut"], f"{path}.shortcut"), shape, f"{path}.shortcut", budget,
            depth + 1)
        main, side = block[-1].shape, shortcut[-1].shape if shortcut else shape
        if main != side:
            through = "the shortcut" if shortcut else "the input (no shortcut)"
            raise SpecError(f"{path}: the block gives {_shape(main)} per example but "
                            f"{through} {_shape(side)}; a residual adds them, so they must "
                            f"match (give a shortcut, e.g. a 1 × 1 Conv2d)")
        return LayerSpec(name, options, path, shape, main, block, shortcut)
    _check_inputs(name, options, shape, path)
    expected = kind_.params(shape, options)
    for key in kind_.arrays:
        given = options.get(key)
        if isinstance(given, np.ndarray) and key not in expected:
            raise SpecError(f"{path}.{key}: this {name} has no such parameter (num_layers "
                            f"{options.get('num_layers')}, bias {options.get('bias')})")
        if isinstance(given, np.ndarray) and given.shape != expected[key]:
            raise SpecError(f"{path}.{key}: expected shape {expected[key]} {_what(name, key)}, "
                            f"got {given.shape}")
    budget.parameters += sum(int(np.prod(s)) for k, s in expected.items()
                             if not k.startswith("running"))
    if budget.parameters > budget.max_parameters:
        raise SpecError(f"{path}: the network has {budget.parameters:,} parameters up to this "
                        f"layer; a spec may have at most {budget.max_parameters:,}")
    try:
        out = build_module(name, options, shape, np.random.default_rng(0), np.float64,
                           dry=True).out_shape(shape)
    except ShapeError as error:
        raise SpecError(f"{path}: {error}") from None
    size = int(np.prod(out))
    if size > MAX_VALUES:
        raise SpecError(f"{path}: {name} gives {_shape(out)}, {size:,} values per example; "
                        f"a layer may give at most {MAX_VALUES:,}")
    return LayerSpec(name, options, path, shape, tuple(out))


def _type_name(entry: dict, path: str) -> str:
    value = entry.get("type")
    if value is None:
        raise SpecError(f"{path}.type: required field is missing (e.g. \"Conv2d\", \"ReLU\")")
    if not isinstance(value, str):
        raise SpecError(f"{path}.type: expected the name of a layer type (a string such as "
                        f"\"Conv2d\"), got {shown(value)}")
    key = value.replace("_", "").lower()
    if key not in _BY_KEY:
        import difflib

        close = difflib.get_close_matches(str(value).replace("_", "").lower(), _BY_KEY, n=1)
        hint = f"did you mean {_BY_KEY[close[0]]!r}? " if close else ""
        raise SpecError(f"{path}.type: unknown layer type {shown(value)}; {hint}known: "
                        f"{', '.join(LAYER_TYPES)}")
    return _BY_KEY[key]


def _list(value: Any, path: str) -> list:
    if not isinstance(value, list) or not value:
        raise SpecError(f"{path}: expected a non-empty list of layers, got {shown(value)}")
    return value


def _option(layer: str, key: str, value: Any, path: str, rank: int) -> Any:
    """One field of a layer, checked by what it is."""
    if key in ("layers", "shortcut"):
        return value
    if key in LAYER_TYPES[layer].arrays and not (key == "bias" and isinstance(value, bool)):
        return array(value, path)
    if key == "bias":  # a layer whose biases are not given as numbers: true or false
        if not isinstance(value, bool):
            raise SpecError(f"{path}: expected true or false, got {shown(value)}")
        return value
    if key in ("kernel_size", "stride", "padding", "dilation"):
        if value is None and key == "stride":
            return None
        low = 0 if key == "padding" else 1
        d = rank - 1
        values = value if isinstance(value, list) else [value]
        ok = all(isinstance(v, int) and not isinstance(v, bool) and v >= low for v in values)
        if not ok or (isinstance(value, list) and len(value) != d):
            lows = "an integer ≥ 0 or a list of them" if low == 0 else _SIZE
            count = f" ({d} for an input with {d} spatial axes)" if d >= 1 else ""
            raise SpecError(f"{path}: expected {lows}{count}, got {shown(value)}")
        return tuple(value) if isinstance(value, list) else value
    if key in ("output", "nonlinearity"):
        allowed = ("sequence", "last") if key == "output" else ("tanh", "relu")
        if value not in allowed:
            raise SpecError(f"{path}: expected {' or '.join(map(repr, allowed))}, got "
                            f"{shown(value)}")
        return value
    if key == "is_causal":
        if not isinstance(value, bool):
            raise SpecError(f"{path}: expected true or false, got {shown(value)}")
        return value
    if key == "normalized_shape":
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                                 for v in values):
            raise SpecError(f"{path}: expected an integer ≥ 1 or a list of them (the last "
                            f"axes' sizes), got {shown(value)}")
        return tuple(values) if isinstance(value, list) else value
    if key in ("eps", "momentum", "p", "negative_slope"):
        if key == "momentum" and value is None:
            return None  # PyTorch's cumulative average
        amount = number(value, path)
        ranges = {"eps": (0, None, "> 0"), "momentum": (0, 1, "in [0, 1]"),
                  "p": (0, 1, "in [0, 1)"), "negative_slope": (None, None, "")}
        low, high, text = ranges[key]
        bad = (low is not None and (amount <= low if key == "eps" else amount < low)) or (
            high is not None and (amount >= high if key == "p" else amount > high))
        if bad:
            raise SpecError(f"{path}: expected a number {text}, got {amount:g}")
        return amount
    # integers: out_channels, out_features, groups, in_* / num_features, seed, dims, sizes
    signed = key in ("dim", "start_dim", "end_dim", "padding_idx")
    if isinstance(value, bool) or not isinstance(value, int) or (
            not signed and value < (0 if key == "seed" else 1)):
        text = "an integer" if signed else ("a non-negative integer" if key == "seed"
                                             else "an integer ≥ 1")
        raise SpecError(f"{path}: expected {text}, got {shown(value)}")
    return value


def _check_inputs(name: str, o: dict[str, Any], shape: tuple[int, ...], path: str) -> None:
    """What a layer says it takes against what it gets, named in its own terms."""
    if name in SEQUENCE_TYPES or name == "Linear":
        _check_sequence(name, o, shape, path)
    wanted = {"Conv1d": 2, "Conv2d": 3, "MaxPool1d": 2, "MaxPool2d": 3, "AvgPool1d": 2,
              "AvgPool2d": 3, "BatchNorm2d": 3}.get(name)
    if name == "BatchNorm1d" and len(shape) not in (1, 2):
        raise SpecError(f"{path}: BatchNorm1d takes (C,) or (C, L) per example, got "
                        f"{_shape(shape)}")
    if wanted is not None and len(shape) != wanted:
        layout = "(C, L)" if wanted == 2 else "(C, H, W)"
        raise SpecError(f"{path}: {name} takes {layout} per example, got {_shape(shape)}")
    given = {"Conv1d": "in_channels", "Conv2d": "in_channels", "Linear": "in_features",
             "BatchNorm1d": "num_features", "BatchNorm2d": "num_features"}.get(name)
    if given is None:
        return
    has = shape[0] if name != "Linear" else shape[-1]
    if name == "Linear" and len(shape) > 2:
        raise SpecError(f"{path}: Linear takes a flat input, got {_shape(shape)}; put a "
                        f"{{\"type\": \"Flatten\"}} layer before it ({int(np.prod(shape))} "
                        f"values)")
    if o[given] is not None and o[given] != has:
        raise SpecError(f"{path}.{given}: {o[given]} given, but the layer before gives "
                        f"{has} ({_shape(shape)})")
    if name.startswith("Conv"):
        groups = o["groups"]
        if has % groups or o["out_channels"] % groups:
            raise SpecError(f"{path}.groups: {groups} groups must divide the {has} input and "
                            f"{o['out_channels']} output channels")


_EMBEDDING_FIRST = ("an Embedding takes the token indices, so it is the first layer and "
                    "input_shape is [L] (the sequence's length)")


def _check_sequence(name: str, o: dict[str, Any], shape: tuple[int, ...], path: str) -> None:
    """The sequence layers' inputs: token indices (L,) for an Embedding, which must come
    first; (L, features) for the others."""
    if name == "Embedding":
        if len(shape) != 1:
            raise SpecError(f"{path}: {_EMBEDDING_FIRST}; got {_shape(shape)}")
        rows = o["num_embeddings"]
        if o["padding_idx"] is not None and not -rows <= o["padding_idx"] < rows:
            raise SpecError(f"{path}.padding_idx: expected a row of the table (−{rows} to "
                            f"{rows - 1}), got {o['padding_idx']}")
        return
    if name == "Linear":
        return
    if name != "LayerNorm" and len(shape) != 2:
        raise SpecError(f"{path}: {name} takes a sequence (L, features) per example, got "
                        f"{_shape(shape)}")
    given = {"RNN": "input_size", "LSTM": "input_size", "GRU": "input_size",
             "MultiheadAttention": "embed_dim"}.get(name)
    if given and o[given] is not None and o[given] != shape[-1]:
        raise SpecError(f"{path}.{given}: {o[given]} given, but the layer before gives "
                        f"{shape[-1]} features per position ({_shape(shape)})")
    if name in ("RNN", "LSTM", "GRU") and not 1 <= o["num_layers"] <= MAX_RECURRENT_LAYERS:
        raise SpecError(f"{path}.num_layers: expected 1 to {MAX_RECURRENT_LAYERS}, got "
                        f"{o['num_layers']}")
    if name == "MultiheadAttention" and shape[-1] % o["num_heads"]:
        raise SpecError(f"{path}.num_heads: {o['num_heads']} heads must divide the "
                        f"{shape[-1]} features (embed_dim)")
    if name == "LayerNorm":
        normalized = _normalized(shape, o["normalized_shape"])
        if tuple(shape[len(shape) - len(normalized):]) != normalized:
            raise SpecError(f"{path}.normalized_shape: {list(normalized)} must be the last "
                            f"axes of the input {_shape(shape)}")


def _what(layer: str, key: str) -> str:
    if layer.startswith("Conv") and key == "weight":
        return "(out_channels, in_channels/groups, *kernel_size)"
    if layer == "Linear" and key == "weight":
        return "(in_features, out_features): chainrule's W is PyTorch's transposed"
    if layer in ("RNN", "LSTM", "GRU"):
        gates = {"RNN": "", "LSTM": " (gates i, f, g, o)", "GRU": " (gates r, z, n)"}[layer]
        return ("(gates·hidden_size, in)" if "weight" in key else "(gates·hidden_size,)") + \
            gates + ", PyTorch's layout"
    if layer == "MultiheadAttention":
        return "(PyTorch's (out, in) layout)"
    if layer in ("Embedding",):
        return "(num_embeddings, embedding_dim)"
    if layer == "LayerNorm":
        return "(normalized_shape)"
    return "(one per channel)" if layer.startswith("BatchNorm") else "(one per output)"


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def module_path(path: str) -> str:
    """A spec's ``layers[2].layers[0]`` as the module's name, ``2.block.0``: the prefix of
    its parameters' names (``2.block.0.weight``)."""
    path = re.sub(r"^layers\[(\d+)\]", r"\1", path)
    path = re.sub(r"\.layers\[(\d+)\]", r".block.\1", path)
    return re.sub(r"\.shortcut\[(\d+)\]", r".shortcut.\1", path)


def output_activation(layers) -> str:
    """The activation a network's output ends with, as the losses name it: ``softmax`` or
    ``sigmoid`` for a final Softmax or Sigmoid layer, else ``identity`` (it ends in logits)."""
    return {"Softmax": "softmax", "Sigmoid": "sigmoid"}.get(layers[-1].type, "identity")


def flat_layers(layers) -> list:
    """Every layer, each residual block's own layers (block, then shortcut) after it."""
    out = []
    for layer in layers:
        out += [layer, *flat_layers(layer.block), *flat_layers(layer.shortcut)]
    return out
