"""A live ``torch.nn.Sequential`` as a chainrule network of typed layers, with its weights.

>>> spec = torch_spec(model, input_shape=(1, 8, 8))        # doctest: +SKIP
>>> network = from_torch(model, input_shape=(1, 8, 8))     # doctest: +SKIP

The spec is what a spec file holds (:mod:`chainrule.spec.layered`): each module's type, its
options and its arrays in PyTorch's own layouts and names, except ``Linear``'s weight, which
chainrule keeps as (in, out) (z = x·W + b) and is transposed here. Nested ``Sequential``\\ s
are flattened (:func:`torch_names` maps the names back). A part chainrule has no layer for, or an option it does not model (a padding
mode, ``ceil_mode``, an affine-less norm), is one :class:`TorchImportError` naming it and its
place in the model: never a silently different network.
"""

from __future__ import annotations

from typing import Any, Sequence

from chainrule.errors import ChainruleError


class TorchImportError(ChainruleError, ValueError):
    """A torch module chainrule cannot represent as it is."""


def _array(tensor) -> list:
    return tensor.detach().to("cpu").double().numpy().tolist()


def _pair(value) -> Any:
    if isinstance(value, tuple):
        return list(value) if len(set(value)) > 1 else value[0]
    return value


def _layer(module, where: str) -> dict[str, Any]:
    import torch.nn as tnn

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
        extra = [name for name in ("ceil_mode", "return_indices") if getattr(module, name, False)]
        if getattr(module, "dilation", 1) not in (1, (1, 1)):
            extra.append("dilation")
        if isinstance(module, (tnn.AvgPool1d, tnn.AvgPool2d)) and (
                not module.count_include_pad or getattr(module, "divisor_override", None)):
            extra.append("count_include_pad=False or divisor_override")
        if extra:
            raise TorchImportError(f"{where} ({kind}): {', '.join(extra)} is not modelled")
        return {"type": kind, "kernel_size": _pair(module.kernel_size),
                "stride": _pair(module.stride), "padding": _pair(module.padding)}
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
                                   f"{tuple(module.normalized_shape)}")
        return {"type": "LayerNorm", "normalized_shape": module.normalized_shape[0],
                "eps": module.eps, "weight": _array(module.weight),
                "bias": _array(module.bias) if module.bias is not None else False}
    if isinstance(module, tnn.Embedding):
        if module.max_norm is not None or module.sparse:
            raise TorchImportError(f"{where} (Embedding): max_norm or sparse is not modelled")
        return {"type": "Embedding", "num_embeddings": module.num_embeddings,
                "embedding_dim": module.embedding_dim, "padding_idx": module.padding_idx,
                "weight": _array(module.weight)}
    if isinstance(module, tnn.Dropout):
        return {"type": "Dropout", "p": module.p}
    if isinstance(module, tnn.Flatten):
        return {"type": "Flatten", "start_dim": module.start_dim, "end_dim": module.end_dim}
    if isinstance(module, tnn.LeakyReLU):
        return {"type": "LeakyReLU", "negative_slope": module.negative_slope}
    if isinstance(module, tnn.Softmax):
        if module.dim not in (-1, 1, None):
            raise TorchImportError(f"{where} (Softmax): dim {module.dim}; chainrule's softmax "
                                   f"is over the features")
        return {"type": "Softmax"}
    if isinstance(module, (tnn.ReLU, tnn.Tanh, tnn.Sigmoid)):
        return {"type": kind}
    supported = ("Linear, Conv1d, Conv2d, MaxPool1d/2d, AvgPool1d/2d, BatchNorm1d/2d, "
                 "LayerNorm, Embedding, Dropout, Flatten, ReLU, Tanh, Sigmoid, LeakyReLU, "
                 "Softmax, Sequential")
    raise TorchImportError(f"{where} ({kind}): not a part chainrule has a layer for "
                           f"(it has {supported})")


def _flat(module, prefix: str = "") -> list[tuple[str, Any]]:
    import torch.nn as tnn

    if isinstance(module, tnn.Sequential):
        out = []
        for name, child in module.named_children():
            out += _flat(child, f"{prefix}{name}.")
        return out
    return [(prefix.rstrip(".") or type(module).__name__, module)]


def torch_spec(module, input_shape: Sequence[int], *, name: str = "torch-model",
               **step: Any) -> dict[str, Any]:
    """The spec of ``module`` (a ``torch.nn.Sequential`` or one supported module) for inputs
    of ``input_shape`` per example; ``step`` adds the spec's other fields (``loss``,
    ``input``/``target`` or ``inputs``/``targets``, ``learning_rate``)."""
    parts = _flat(module)
    if not parts:
        raise TorchImportError("the model has no layers")
    layers = [_layer(part, f"model[{where}]") for where, part in parts]
    return {"name": name, "input_shape": [int(n) for n in input_shape], "layers": layers,
            **step}


def torch_names(module) -> dict[str, str]:
    """chainrule's parameter name → the module's (``4.weight`` → ``4.0.weight`` where a
    nested Sequential was flattened)."""
    out = {}
    for i, (where, part) in enumerate(_flat(module)):
        for name, _ in part.named_parameters(recurse=False):
            out[f"{i}.{name}"] = f"{where}.{name}"
    return out


def from_torch(module, input_shape: Sequence[int]):
    """A chainrule network with ``module``'s layers and weights (float64), checked as a spec's
    layers are (shapes, sizes); a bad one is a :class:`TorchImportError`."""
    from chainrule.errors import SpecError
    from chainrule.spec.layered import parse_layers
    from chainrule.spec.layered_build import build_network
    from chainrule.spec.common import MAX_LAYERS, MAX_PARAMETERS

    spec = torch_spec(module, input_shape)
    shape = tuple(spec["input_shape"])
    try:
        layers = parse_layers(spec["layers"], shape, max_layers=MAX_LAYERS,
                              max_parameters=MAX_PARAMETERS)
    except SpecError as error:
        raise TorchImportError(f"the model as chainrule layers: {error}") from None
    return build_network(layers, shape)
