"""A chainrule model as files another tool runs: ``chainrule export MODEL --to torch|onnx``.

* ``--to torch -o model.py``: readable PyTorch code, ``build()`` the architecture as
  ``torch.nn`` modules (and, where ``torch.nn`` has no single module for a layer, the few
  classes of :mod:`chainrule.nn.torch_parts`, copied in, so the file needs PyTorch alone),
  ``load()`` it with the weights of ``model.safetensors`` beside it. The two are written as
  one set: both new or both old.
* ``--to onnx -o model.onnx``: the network through ``torch.onnx.export`` (float32 by
  default, the batch axis dynamic), checked with ``onnx.checker`` before it is written.

A model trained on standardised features carries its standardiser: the code has
``standardize(x)`` with the training split's mean and scale, the ONNX graph starts with it,
so both take the features as the data has them, as ``chainrule explain --model`` does.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import ChainruleError, MissingDependency
from chainrule.version import __version__

ONNX_HINT = "ONNX export needs onnx and onnxscript: pip install 'chainrule[onnx]'"
SAFETENSORS_HINT = "PyTorch export needs safetensors: pip install 'chainrule[torch]'"
ONNX_OPSET = 18


@dataclass
class Exportable:
    """A model to export: the network, its name, the shape of one example, and the
    standardiser it was trained with (mean, scale) if any."""

    model: Any
    name: str
    input_shape: tuple[int, ...]
    standardizer: tuple[np.ndarray, np.ndarray] | None = None
    indices: bool = False  # the input is token indices (an Embedding first)


def exportable(source: str | None) -> Exportable:
    """A checkpoint or model file of ``chainrule train`` (.npz), a spec file or a built-in
    network's name, as a model to export."""
    if source is not None and str(source).endswith(".npz"):
        from chainrule.train.checkpoint import load_model

        model, state = load_model(source)
        scaler = (state.get("extra") or {}).get("standardizer")
        standardizer = None if scaler is None else (
            np.asarray(scaler["mean"], dtype=float), np.asarray(scaler["scale"], dtype=float))
        return Exportable(model, Path(source).stem, tuple(model.input_shape), standardizer,
                          _indices(model))
    from chainrule.spec.network import load_spec

    spec = load_spec(source)
    model = spec.build_model()
    return Exportable(model, spec.name, tuple(model.input_shape), None, _indices(model))


def _indices(model) -> bool:
    first = getattr(model, "modules", [None])[0]
    return type(first).__name__ == "Embedding"


# ---- PyTorch code -------------------------------------------------------------------------

def torch_files(item: Exportable, stem: str) -> dict[str, str | bytes]:
    """``{stem}.py`` and ``{stem}.safetensors``: the code and the weights."""
    try:
        from safetensors.torch import save
    except ImportError:
        raise MissingDependency(SAFETENSORS_HINT) from None
    module = item.model.to_torch()
    state = {key: value.detach().contiguous() for key, value in module.state_dict().items()}
    weights = save(state, metadata={"format": "pt", "producer": f"chainrule {__version__}",
                                    "model": item.name})
    return {f"{stem}.py": torch_code(item, module, f"{stem}.safetensors"),
            f"{stem}.safetensors": weights}


def torch_code(item: Exportable, module, weights_name: str) -> str:
    """The Python source of ``module`` (``to_torch`` of the item's model)."""
    from chainrule.nn import torch_parts

    used = {type(m).__name__ for m in module.modules()}
    helpers = [cls for cls in (torch_parts.RNNLayer, torch_parts.LSTMLayer,
                               torch_parts.GRULayer, torch_parts.SelfAttention,
                               torch_parts.Residual, torch_parts.PositionalEncoding)
               if cls.__name__ in used]
    recurrent = any(name.endswith("Layer") for name in used)
    shape = ", ".join(map(str, item.input_shape))
    example = (f"torch.randint(0, {module[0].num_embeddings}, (4, {shape}))" if item.indices
               else f"torch.randn(4, {shape}, dtype=torch.float64)")
    feed = "standardize(x)" if item.standardizer is not None else "x"
    lines = [
        f'"""{_safe(item.name)}: a network exported from chainrule {__version__} for '
        f'PyTorch.',
        "",
        "    import torch",
        f"    from {_module_name(weights_name)} import load{', standardize' if feed != 'x' else ''}",
        "",
        f"    model = load()                       # the weights of {weights_name}",
        f"    x = {example}",
        f"    y = model({feed})",
        "",
        f"One example has shape ({shape}{',' if len(item.input_shape) == 1 else ''}), the "
        f"batch axis first, as in PyTorch.",
        "The parameters are float64, with chainrule's names (0.weight, 3.block.0.bias; an "
        "MLP's W1",
        "and b1 are 0.weight and 0.bias). chainrule's Linear keeps W as (in, out) and "
        "computes",
        "x·W + b; nn.Linear holds Wᵀ, and so do these weights.",
    ]
    last = type(module[-1]).__name__ if len(module) else ""
    if last in ("Softmax", "Sigmoid"):
        loss = "nn.CrossEntropyLoss" if last == "Softmax" else "nn.BCEWithLogitsLoss"
        lines += ["", f"It ends in {last}, as chainrule's output does; a loss that takes "
                  f"the logits", f"({loss}) takes model[:-1](x)."]
    if item.standardizer is not None:
        lines += ["", "The network was trained on standardised features: give it "
                  "standardize(x), (x − MEAN) / SCALE", "with the training split's mean "
                  "and scale below."]
    lines += ['"""', "", "from pathlib import Path", "", "import torch", "from torch import nn"]
    if item.standardizer is not None:
        mean, scale = item.standardizer
        lines += ["", f"MEAN = {_floats(mean)}", f"SCALE = {_floats(scale)}", "", "",
                  "def standardize(x):",
                  '    """The features as the network was trained on them."""',
                  "    x = torch.as_tensor(x, dtype=torch.float64)",
                  "    return (x - torch.tensor(MEAN, dtype=x.dtype)) / "
                  "torch.tensor(SCALE, dtype=x.dtype)"]
    if recurrent:
        lines += ["", "", inspect.getsource(torch_parts._States).rstrip()]
    for cls in helpers:
        lines += ["", "", inspect.getsource(cls).rstrip()]
    body = _expression(module, 1)
    lines += ["", "", "def build():",
              '    """The architecture, with PyTorch\'s initial weights."""',
              f"    return {body}.to(torch.float64)", "", "",
              f'def load(path=Path(__file__).with_name("{weights_name}")):',
              '    """The architecture with the exported weights."""',
              "    from safetensors.torch import load_file", "",
              "    model = build()", "    model.load_state_dict(load_file(path))",
              "    return model", ""]
    return "\n".join(lines)


def _module_name(weights_name: str) -> str:
    return Path(weights_name).stem.replace("-", "_")


def _safe(text: str) -> str:
    """A name inside a docstring: no quotes or backslashes that would end or escape it."""
    return "".join(c for c in str(text) if c.isprintable() and c not in '"\\')[:100]


def _floats(values: np.ndarray) -> str:
    return "[" + ", ".join(repr(float(v)) for v in np.asarray(values).ravel()) + "]"


def _size(value: Any) -> str:
    if isinstance(value, tuple) and len(set(value)) == 1:
        return repr(value[0])
    return repr(value)


def _expression(m, depth: int) -> str:
    """The constructor call that builds ``m``, its options only where not the default."""
    name = type(m).__name__
    pad = "    " * (depth + 1)
    if name == "Sequential":
        items = [f"{pad}{_expression(child, depth + 1)},  # {i}"
                 for i, child in enumerate(m)]
        return "nn.Sequential(\n" + "\n".join(items) + "\n" + "    " * depth + ")"
    if name == "Residual":
        shortcut = "" if m.shortcut is None else \
            f"{pad}shortcut={_expression(m.shortcut, depth + 1)},\n"
        return (f"Residual(\n{pad}{_expression(m.block, depth + 1)},\n{shortcut}"
                + "    " * depth + ")")
    options = _options(m, name)
    prefix = "" if name in ("RNNLayer", "LSTMLayer", "GRULayer", "SelfAttention",
                            "PositionalEncoding") else "nn."
    return f"{prefix}{name}({', '.join(options)})"


def _options(m, name: str) -> list[str]:
    def extra(**pairs: tuple[Any, Any]) -> list[str]:
        return [f"{key}={_size(value)}" for key, (value, default) in pairs.items()
                if value != default]

    if name == "Linear":
        return [str(m.in_features), str(m.out_features)] + extra(bias=(m.bias is not None,
                                                                       True))
    if name in ("Conv1d", "Conv2d"):
        ones = (1,) * len(m.kernel_size)
        return [str(m.in_channels), str(m.out_channels), _size(m.kernel_size)] + extra(
            stride=(m.stride, ones), padding=(m.padding, (0,) * len(ones)),
            dilation=(m.dilation, ones), groups=(m.groups, 1), bias=(m.bias is not None, True))
    if "Pool" in name:
        return [_size(m.kernel_size)] + extra(stride=(m.stride, m.kernel_size),
                                              padding=(m.padding, 0))
    if name.startswith("BatchNorm"):
        return [str(m.num_features)] + extra(eps=(m.eps, 1e-5), momentum=(m.momentum, 0.1),
                                             affine=(m.affine, True))
    if name == "LayerNorm":
        return [_size(tuple(m.normalized_shape))] + extra(
            eps=(m.eps, 1e-5), elementwise_affine=(m.elementwise_affine, True),
            bias=(m.bias is not None, True))
    if name == "Embedding":
        return [str(m.num_embeddings), str(m.embedding_dim)] + extra(
            padding_idx=(m.padding_idx, None))
    if name == "Dropout":
        return [repr(m.p)]
    if name == "Flatten":
        return extra(start_dim=(m.start_dim, 1), end_dim=(m.end_dim, -1))
    if name == "LeakyReLU":
        return [repr(m.negative_slope)]
    if name == "Softmax":
        return [f"dim={m.dim}"]
    if name.endswith("Layer"):
        pairs = dict(num_layers=(m.num_layers, 1), bias=(m.bias, True),
                     output=(m.output, "sequence"), truncate=(m.truncate, None))
        if name == "RNNLayer":
            pairs["nonlinearity"] = (m.nonlinearity, "tanh")
        return [str(m.input_size), str(m.hidden_size)] + extra(**pairs)
    if name == "SelfAttention":
        return [str(m.embed_dim), str(m.num_heads)] + extra(
            bias=(m.in_proj_bias is not None, True), is_causal=(m.is_causal, False))
    if name == "PositionalEncoding":
        return extra(base=(m.base, 10000.0))
    return []  # ReLU, Tanh, Sigmoid


# ---- ONNX ---------------------------------------------------------------------------------

def onnx_bytes(item: Exportable, dtype: str = "float32") -> bytes:
    """The model as an ONNX file, its batch axis dynamic, checked by ``onnx.checker``."""
    import contextlib
    import io
    import logging
    import warnings

    import importlib.util

    try:
        import onnx
        import torch
    except ImportError:
        raise MissingDependency(ONNX_HINT) from None
    if importlib.util.find_spec("onnxscript") is None:  # torch.onnx's exporter needs it
        raise MissingDependency(ONNX_HINT)
    from chainrule.nn import torch_parts

    net = item.model.to_torch(dtype=dtype).eval()
    if item.standardizer is not None:
        net = torch_parts.Standardized(net, *item.standardizer).to(next(net.parameters()).dtype)
    shape = (2, *item.input_shape)  # 2: torch.export fixes a size-1 axis to 1
    example = torch.zeros(shape, dtype=torch.long) if item.indices else \
        torch.zeros(shape, dtype=getattr(torch, dtype))
    quiet = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch")]
    levels = [log.level for log in quiet]
    try:
        for log in quiet:
            log.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                net, (example,), dynamo=True, input_names=["input"], output_names=["output"],
                dynamic_shapes=({0: torch.export.Dim("batch")},), opset_version=ONNX_OPSET,
                external_data=False, verbose=False)
    except Exception as error:  # the exporter's many kinds: one line
        first = (str(error).strip().splitlines() or [""])[0][:200]
        raise ChainruleError(f"onnx: torch.onnx.export failed ({type(error).__name__}: "
                             f"{first})") from None
    finally:
        for log, level in zip(quiet, levels):
            log.setLevel(level)
    proto = program.model_proto
    proto.producer_name, proto.producer_version = "chainrule", __version__
    proto.doc_string = (f"{item.name}: exported from chainrule {__version__}; input "
                        f"(batch, {', '.join(map(str, item.input_shape))})"
                        + (", raw features (the graph standardises them)"
                           if item.standardizer is not None else ""))
    onnx.checker.check_model(proto, full_check=True)
    return proto.SerializeToString()

