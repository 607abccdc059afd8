"""One ``torch.nn`` module as one chainrule layer (a spec's layer: type, options, arrays),
with the part's name in messages; what :mod:`chainrule.interop.torch_in` and the tracer
(:mod:`chainrule.interop.torch_fx`) both read modules with."""

from __future__ import annotations

from typing import Any

from chainrule.errors import ChainruleError

SUPPORTED = ("Linear, Conv1d, Conv2d, MaxPool1d/2d, AvgPool1d/2d, BatchNorm1d/2d, LayerNorm, "
             "Embedding, Dropout, Flatten, ReLU, Tanh, Sigmoid, LeakyReLU, Softmax, RNN, LSTM, "
             "GRU, MultiheadAttention, TransformerEncoder(Layer), Sequential, and modules "
             "whose forward uses them")


class TorchImportError(ChainruleError, ValueError):
    """A torch module chainrule cannot represent as it is."""


def _array(tensor) -> list:
    return tensor.detach().to("cpu").double().numpy().tolist()


def _pair(value) -> Any:
    if isinstance(value, tuple):
        return list(value) if len(set(value)) > 1 else value[0]
    return value


# ---- one module, one layer -------------------------------------------------------------

def layer(module, where: str) -> dict[str, Any]:
    import torch.nn as tnn

    from chainrule.nn import torch_parts

    kind = type(module).__name__
    if isinstance(module, tnn.Linear):
        layer = {"type": "Linear", "out_features": module.out_features,
                 "in_features": module.in_features, "weight": _array(module.weight.T)}
        layer["bias"] = _array(module.bias) if module.bias is not None else False
        return layer
    if isinstance(module, (tnn.Conv1d, tnn.Conv2d)):
        if module.padding_mode != "zeros" or isinstance(module.padding, str):
            raise TorchImportError(f"{where} ({kind}): padding {module.padding!r} with mode "
                                   f"{module.padding_mode!r}; chainrule pads with zeros by a "
                                   f"number")
        return {"type": kind, "out_channels": module.out_channels,
                "in_channels": module.in_channels, "kernel_size": _pair(module.kernel_size),
                "stride": _pair(module.stride), "padding": _pair(module.padding),
                "dilation": _pair(module.dilation), "groups": module.groups,
                "weight": _array(module.weight),
                "bias": _array(module.bias) if module.bias is not None else False}
    if isinstance(module, (tnn.MaxPool1d, tnn.MaxPool2d, tnn.AvgPool1d, tnn.AvgPool2d)):
        options = {name: getattr(module, name, None) for name in (
            "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices",
            "count_include_pad", "divisor_override")}
        return pool(kind, options, where)
    if isinstance(module, (tnn.BatchNorm1d, tnn.BatchNorm2d)):
        if not module.affine or not module.track_running_stats:
            raise TorchImportError(f"{where} ({kind}): affine=False or "
                                   f"track_running_stats=False is not modelled")
        return {"type": kind, "num_features": module.num_features, "eps": module.eps,
                "momentum": module.momentum, "weight": _array(module.weight),
                "bias": _array(module.bias), "running_mean": _array(module.running_mean),
                "running_var": _array(module.running_var)}
    if isinstance(module, tnn.LayerNorm):
        if len(module.normalized_shape) != 1 or not module.elementwise_affine:
            raise TorchImportError(f"{where} (LayerNorm): chainrule normalises the last axis "
                                   f"with a weight; got normalized_shape "
                                   f"{tuple(module.normalized_shape)}, elementwise_affine "
                                   f"{module.elementwise_affine}")
        return {"type": "LayerNorm", "normalized_shape": module.normalized_shape[0],
                "eps": module.eps, "weight": _array(module.weight),
                "bias": _array(module.bias) if module.bias is not None else False}
    if isinstance(module, tnn.Embedding):
        if module.max_norm is not None or module.sparse or module.scale_grad_by_freq:
            raise TorchImportError(f"{where} (Embedding): max_norm, sparse or "
                                   f"scale_grad_by_freq is not modelled")
        return {"type": "Embedding", "num_embeddings": module.num_embeddings,
                "embedding_dim": module.embedding_dim, "padding_idx": module.padding_idx,
                "weight": _array(module.weight)}
    if isinstance(module, (torch_parts.RNNLayer, torch_parts.LSTMLayer, torch_parts.GRULayer)):
        return recurrent(module, where, module.output, module.truncate)
    if isinstance(module, torch_parts.SelfAttention):
        return attention(module, where, module.is_causal)
    if isinstance(module, torch_parts.PositionalEncoding):
        if module.base != 10000.0:
            raise TorchImportError(f"{where} (PositionalEncoding): base {module.base:g}; "
                                   f"chainrule's is 10000")
        return {"type": "PositionalEncoding"}
    if isinstance(module, torch_parts.Residual):
        return {"type": "Residual", "layers": sequence(module.block, f"{where}.block"),
                "shortcut": None if module.shortcut is None else
                sequence(module.shortcut, f"{where}.shortcut")}
    if isinstance(module, (tnn.RNN, tnn.LSTM, tnn.GRU, tnn.MultiheadAttention)):
        raise TorchImportError(f"{where} ({kind}): gives a tuple, so it cannot sit in a "
                               f"Sequential; use it in a module's forward (out, _ = "
                               f"self.rnn(x)), which is traced")
    if isinstance(module, tnn.Dropout):
        return {"type": "Dropout", "p": module.p}
    if isinstance(module, tnn.Flatten):
        return {"type": "Flatten", "start_dim": module.start_dim, "end_dim": module.end_dim}
    if isinstance(module, tnn.LeakyReLU):
        return {"type": "LeakyReLU", "negative_slope": module.negative_slope}
    if isinstance(module, tnn.Softmax):
        if module.dim not in (-1, None):
            return {"type": "Softmax", "dim": module.dim}
        return {"type": "Softmax"}
    if isinstance(module, (tnn.ReLU, tnn.Tanh, tnn.Sigmoid)):
        return {"type": kind}
    raise TorchImportError(f"{where} ({kind}): not a part chainrule has a layer for (it has "
                           f"{SUPPORTED})")


def pool(kind: str, o: dict[str, Any], where: str) -> dict[str, Any]:
    extra = [name for name in ("ceil_mode", "return_indices") if o.get(name)]
    if o.get("dilation") not in (None, 1, (1,), (1, 1)):
        extra.append("dilation")
    if kind.startswith("Avg") and (o.get("count_include_pad") is False
                                   or o.get("divisor_override")):
        extra.append("count_include_pad=False or divisor_override")
    if extra:
        raise TorchImportError(f"{where} ({kind}): {', '.join(extra)} is not modelled")
    stride, kernel = o.get("stride"), _pair(o["kernel_size"])
    if stride in (None, (), []) or _pair(stride) == kernel:  # torch's default: the kernel's
        stride = None
    return {"type": kind, "kernel_size": kernel,
            "stride": None if stride is None else _pair(stride),
            "padding": _pair(o.get("padding") or 0)}


def recurrent(module, where: str, output: str, truncate: int | None = None) -> dict:
    kind = {"RNNLayer": "RNN", "LSTMLayer": "LSTM", "GRULayer": "GRU"}.get(
        type(module).__name__, type(module).__name__)
    kind = next(k for k in ("LSTM", "GRU", "RNN") if k in kind)
    refused = [text for text, bad in (
        ("bidirectional", module.bidirectional),
        ("proj_size", getattr(module, "proj_size", 0)),
        ("dropout between layers", module.dropout and module.num_layers > 1),
        ("batch_first=False (chainrule's sequences are (N, L, features))",
         not module.batch_first)) if bad]
    if refused:
        raise TorchImportError(f"{where} ({kind}): {', '.join(refused)} is not modelled")
    layer = {"type": kind, "hidden_size": module.hidden_size, "input_size": module.input_size,
             "num_layers": module.num_layers, "bias": module.bias, "output": output,
             "truncate": truncate}
    if kind == "RNN":
        layer["nonlinearity"] = module.nonlinearity
    for name, p in module.named_parameters():
        layer[name] = _array(p)
    return layer


def attention(module, where: str, causal: bool) -> dict[str, Any]:
    refused = [text for text, bad in (
        ("batch_first=False (chainrule's sequences are (N, L, features))",
         not module.batch_first),
        ("kdim or vdim other than embed_dim", not module._qkv_same_embed_dim),
        ("add_bias_kv", module.bias_k is not None), ("add_zero_attn", module.add_zero_attn),
        ("dropout", module.dropout)) if bad]
    if refused:
        raise TorchImportError(f"{where} (MultiheadAttention): {', '.join(refused)} is not "
                               f"modelled")
    layer = {"type": "MultiheadAttention", "num_heads": module.num_heads,
             "embed_dim": module.embed_dim, "bias": module.in_proj_bias is not None,
             "is_causal": bool(causal), "in_proj_weight": _array(module.in_proj_weight),
             "out_proj.weight": _array(module.out_proj.weight)}
    if module.in_proj_bias is not None:
        layer["in_proj_bias"] = _array(module.in_proj_bias)
        layer["out_proj.bias"] = _array(module.out_proj.bias)
    return layer


# ---- a whole model ------------------------------------------------------------------------

def flat(module, prefix: str = "") -> list[tuple[str, Any]]:
    import torch.nn as tnn

    if isinstance(module, tnn.Sequential):
        out = []
        for name, child in module.named_children():
            out += flat(child, f"{prefix}{name}.")
        return out
    return [(prefix.rstrip("."), module)]


def whole_parts() -> tuple:
    """The torch modules read as they are (:func:`entries`): the one list of them, which
    the Sequential reader and the tracer's leaves both use."""
    import torch.nn as tnn

    from chainrule.nn import torch_parts

    return (tnn.Linear, tnn.Conv1d, tnn.Conv2d, tnn.MaxPool1d, tnn.MaxPool2d, tnn.AvgPool1d,
            tnn.AvgPool2d, tnn.BatchNorm1d, tnn.BatchNorm2d, tnn.LayerNorm, tnn.Embedding,
            tnn.Dropout, tnn.Flatten, tnn.LeakyReLU, tnn.Softmax, tnn.ReLU, tnn.Tanh,
            tnn.Sigmoid, torch_parts.RNNLayer, torch_parts.LSTMLayer, torch_parts.GRULayer,
            torch_parts.SelfAttention, torch_parts.PositionalEncoding, torch_parts.Residual,
            tnn.TransformerEncoderLayer, tnn.TransformerEncoder)


def direct(module) -> bool:
    """Whether ``module`` is read part by part: a Sequential, nested or not, of parts that
    need no tracing."""
    whole = whole_parts()
    return all(isinstance(part, whole) for _, part in flat(module))


def sequence(module, where: str) -> list[dict[str, Any]]:
    return [built for name, part in flat(module)
            for built, _ in entries(part, name, f"{where}[{name}]" if name else where)]


def expands(part) -> bool:
    """Whether ``part`` is several chainrule layers (a Transformer encoder layer, a stack)."""
    import torch.nn as tnn

    return isinstance(part, (tnn.TransformerEncoderLayer, tnn.TransformerEncoder))


def entries(part, name: str, where: str, causal: bool = False) -> list[tuple[dict, list]]:
    """(layer, the torch parts behind it in flat-layer order) for each chainrule layer that
    ``part`` is: one, or an encoder layer's residual blocks and norms."""
    if expands(part):
        return encoder_entries(part, name, where, causal)
    return [(layer(part, where), owners([(name, part)]))]


def _joined(*names: str) -> str:
    return ".".join(n for n in names if n)


def encoder_entries(module, name: str, where: str, causal: bool = False) -> list[tuple]:
    """``nn.TransformerEncoderLayer`` as the layers it computes, its parameters under their
    own names: post-norm, LayerNorm(x + SA(x)) then LayerNorm(x + FF(x)); pre-norm
    (``norm_first``), x + SA(LayerNorm(x)) then x + FF(LayerNorm(x)); FF = linear2(relu(
    linear1)). ``nn.TransformerEncoder`` is its layers in turn, then its norm."""
    import torch.nn as tnn
    import torch.nn.functional as F

    if isinstance(module, tnn.TransformerEncoder):
        out = []
        for i, inner in enumerate(module.layers):
            out += encoder_entries(inner, _joined(name, f"layers.{i}"),
                                   f"{where}.layers[{i}]", causal)
        if module.norm is not None:
            out.append((layer(module.norm, f"{where}.norm"),
                        [(_joined(name, "norm"), module.norm)]))
        return out
    kind = "TransformerEncoderLayer"
    drops = [p for p in (module.dropout.p, module.dropout1.p, module.dropout2.p,
                         module.self_attn.dropout) if p]
    if drops:
        raise TorchImportError(f"{where} ({kind}): dropout {drops[0]:g}, which acts inside its "
                               f"attention, is not modelled; build it with dropout=0.0 (the "
                               f"weights load the same)")
    relu = getattr(module, "activation_relu_or_gelu", 0) == 1 or module.activation is F.relu
    if not relu:
        shown = getattr(module.activation, "__name__", type(module.activation).__name__)
        raise TorchImportError(f"{where} ({kind}): activation {shown}; chainrule's encoder "
                               f"layer is read with relu")
    attn = attention(module.self_attn, f"{where}.self_attn", causal)
    sa = (attn, [(_joined(name, "self_attn"), module.self_attn)])
    norms = [(layer(n, f"{where}.{key}"), [(_joined(name, key), n)])
             for key, n in (("norm1", module.norm1), ("norm2", module.norm2))]
    ff = [(layer(module.linear1, f"{where}.linear1"),
           [(_joined(name, "linear1"), module.linear1)]),
          ({"type": "ReLU"}, [(None, None)]),
          (layer(module.linear2, f"{where}.linear2"),
           [(_joined(name, "linear2"), module.linear2)])]

    def residual(block: list[tuple]) -> tuple:
        return ({"type": "Residual", "layers": [b for b, _ in block], "shortcut": None},
                [(None, None)] + [o for _, os in block for o in os])

    if module.norm_first:
        return [residual([norms[0], sa]), residual([norms[1], *ff])]
    return [residual([sa]), norms[0], residual(ff), norms[1]]


def owners(parts) -> list[tuple[str, Any]]:
    """(name, module) of each part, a residual block's own parts after it, in the order of
    :func:`chainrule.spec.layered.flat_layers`."""
    from chainrule.nn import torch_parts

    out = []
    for name, part in parts:
        if expands(part):
            out += [o for _, os in encoder_entries(part, name, name) for o in os]
            continue
        out.append((name, part))
        if isinstance(part, torch_parts.Residual):
            for side in ("block", "shortcut"):
                child = getattr(part, side)
                if child is not None:
                    out += [(".".join(n for n in (name, side, inner) if n), m)
                            for inner, m in owners(flat(child))]
    return out


def input_shape_of(first, given, where: str) -> tuple[int, ...]:
    """The shape of one example: as given, or what the first part says it takes."""
    import torch.nn as tnn

    if given is not None:
        try:
            shape = tuple(int(n) for n in given)
        except (TypeError, ValueError):
            raise TorchImportError(f"input_shape: expected sizes like (1, 28, 28), got "
                                   f"{given!r}") from None
        from chainrule.errors import SpecError
        from chainrule.spec.layered_spec import check_input_shape

        try:  # a spec's limits, before anything of that shape is allocated
            return check_input_shape(list(shape))
        except SpecError as error:
            raise TorchImportError(str(error)) from None
    if isinstance(first, tnn.Linear):
        return (first.in_features,)
    if isinstance(first, tnn.BatchNorm1d):
        return (first.num_features,)
    what = type(first).__name__
    raise TorchImportError(f"{where} ({what}): the model does not say the size of one "
                           f"example; give input_shape (e.g. (channels, height, width) for a "
                           f"Conv2d, (length,) for an Embedding, (length, features) for an "
                           f"LSTM)")


