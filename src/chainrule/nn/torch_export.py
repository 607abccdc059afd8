"""A chainrule model as a ``torch.nn`` module with the same weights: ``model.to_torch()``.

Each chainrule module becomes PyTorch's own (``nn.Linear``, ``nn.Conv2d``, ``nn.LSTM``, ...)
or, where ``torch.nn`` has no single module for a layer, one of
:mod:`chainrule.nn.torch_parts`. The parameters and buffers keep their names
(``0.weight``, ``3.block.0.bias``, ``1.weight_ih_l0``), so ``state_dict`` keys are the same
on both sides; only a ``Linear``'s weight differs, chainrule's W (in, out) being PyTorch's
transposed. An MLP becomes ``nn.Sequential(Linear, activation, ...)``, its W1 and b1 as
``0.weight`` and ``0.bias`` (:func:`torch_state_names`).

A module PyTorch cannot express as chainrule has it (a bias shared by a layer's units) is one
:class:`~chainrule.errors.ChainruleError` naming it, never a different network.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import ChainruleError, MissingDependency

INSTALL_HINT = "PyTorch is not installed: pip install 'chainrule[torch]'"


class TorchExportError(ChainruleError, ValueError):
    """A chainrule model PyTorch cannot hold as it is."""


def _torch():
    try:
        import torch
    except ImportError:
        raise MissingDependency(INSTALL_HINT) from None
    return torch


def to_torch(model, dtype: Any = None):
    """``model`` (a :class:`~chainrule.nn.network.Network`, ``Sequential``, ``MLP`` or one
    module) as a ``torch.nn.Module`` with copies of its parameters and buffers, in
    ``dtype`` (default: the model's own, float64) and in the same mode (train or eval)."""
    torch = _torch()
    from chainrule.nn import torch_parts

    pairs: list[tuple[np.ndarray, Any, bool]] = []
    module = _convert(model, torch.nn, torch_parts, pairs, "model")
    dtype = _dtype(torch, dtype or getattr(model, "dtype", np.float64))
    module = module.to(dtype)
    with torch.no_grad():
        for values, target, transpose in pairs:
            values = np.asarray(values)
            values = values.T if transpose else values
            if tuple(values.shape) != tuple(target.shape):  # a bug here, never reshaped
                raise TorchExportError(f"internal: {tuple(values.shape)} into "
                                       f"{tuple(target.shape)}")
            target.copy_(torch.as_tensor(np.array(values, order="C")).to(target.dtype))
    return module.train(bool(getattr(model, "training", True)))


def _dtype(torch, dtype: Any):
    if isinstance(dtype, torch.dtype):
        return dtype
    name = np.dtype(dtype).name
    if name not in ("float64", "float32", "float16"):
        raise TorchExportError(f"dtype: expected float64, float32 or float16, got {name}")
    return getattr(torch, name)


def _is(m, *names: str) -> bool:
    """Whether ``m`` is one of chainrule's modules of these class names (read by name: the
    modules call :func:`to_torch`, so this module imports none of them)."""
    return any(c.__name__ in names and c.__module__.startswith("chainrule.nn.")
               for c in type(m).__mro__)


def torch_state_names(model) -> dict[str, str]:
    """chainrule's parameter and buffer names → the names in ``to_torch(model)``'s
    ``state_dict`` (the same, except an MLP's ``W1`` → ``0.weight``)."""
    if _is(model, "MLP"):
        out = {}
        position = 0
        for i, (layer, activation) in enumerate(zip(model.layers, model.activations), 1):
            out[f"W{i}"] = f"{position}.weight"
            if layer.bias is not None:
                out[f"b{i}"] = f"{position}.bias"
            position += 1 if activation == "identity" else 2
        return out
    names = [n for n, _ in model.named_parameters()] + [n for n, _ in model.named_buffers()]
    return {name: name for name in names}


def _activation(nn, name: str, where: str):
    from chainrule.tables.activations import ACTIVATION_TABLE

    entry = ACTIVATION_TABLE[name]
    made = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU,
            "softmax": lambda: nn.Softmax(dim=-1),
            "leaky_relu": lambda: nn.LeakyReLU(entry.params["slope"])}.get(name)
    if made is None:
        raise TorchExportError(f"{where}: activation {name!r} has no torch.nn module here")
    return made()


def _convert(m, nn, parts, pairs: list, where: str):
    """The torch module of chainrule module ``m``; ``pairs`` gains (values, torch tensor,
    transposed?) for each parameter and buffer."""
    if _is(m, "MLP"):
        out = []
        for i, (layer, activation) in enumerate(zip(m.layers, m.activations), 1):
            out.append(_convert(layer, nn, parts, pairs, f"{where}.layer {i}"))
            if activation != "identity":
                out.append(_activation(nn, activation, f"{where}.layer {i}"))
        return nn.Sequential(*out)
    if _is(m, "Sequential"):  # a Network too
        return nn.Sequential(*[_convert(child, nn, parts, pairs, f"{where}[{i}]")
                               for i, child in enumerate(m.modules)])
    if _is(m, "Residual"):
        block = _convert(m.block, nn, parts, pairs, f"{where}.block")
        shortcut = None if m.shortcut is None else \
            _convert(m.shortcut, nn, parts, pairs, f"{where}.shortcut")
        return parts.Residual(block, shortcut)
    made = _leaf(m, nn, parts, where)
    own = dict(made.named_parameters())
    ours = m.local_parameters()
    if sorted(own) != sorted(name for name, _ in ours):
        raise TorchExportError(f"{where} ({type(m).__name__}): parameters "
                               f"{[n for n, _ in ours]} but torch's {sorted(own)}")
    for name, p in ours:
        pairs.append((p.data, own[name], _is(m, "Linear") and name == "weight"))
        if getattr(p, "frozen", False):  # kept fixed: PyTorch's way is no gradient at all
            own[name].requires_grad_(False)
    buffers = dict(made.named_buffers())
    for name, values in m.named_buffers():
        if name not in buffers:
            raise TorchExportError(f"{where} ({type(m).__name__}): no torch buffer {name!r}")
        pairs.append((values, buffers[name], False))
    return made


def _leaf(m, nn, parts, where: str):
    name = type(m).__name__
    if _is(m, "Linear"):
        if m.bias_mode == "shared_per_layer":
            raise TorchExportError(f"{where}: a bias shared by the layer's units "
                                   f"(bias_mode shared_per_layer); torch.nn.Linear has one "
                                   f"per unit")
        return nn.Linear(m.fan_in, m.fan_out, bias=m.bias is not None)
    if _is(m, "Conv1d", "Conv2d"):
        return getattr(nn, name)(m.in_channels, m.out_channels, m.kernel_size, m.stride,
                                 m.padding, m.dilation, m.groups, bias=m.bias is not None)
    if _is(m, "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d"):
        return getattr(nn, name)(m.kernel_size, m.stride, m.padding)
    if _is(m, "BatchNorm1d", "BatchNorm2d"):
        return getattr(nn, name)(m.num_features, m.eps, m.momentum,
                                 affine=m.weight is not None)
    if _is(m, "Dropout"):
        return nn.Dropout(m.p)
    if _is(m, "Flatten"):
        return nn.Flatten(m.start_dim, m.end_dim)
    if _is(m, "LeakyReLU"):
        return nn.LeakyReLU(m.negative_slope)
    if _is(m, "Softmax"):
        return nn.Softmax(dim=m.dim)
    if _is(m, "ReLU", "Tanh", "Sigmoid"):
        return getattr(nn, name)()
    if _is(m, "Embedding"):
        return nn.Embedding(m.num_embeddings, m.embedding_dim, m.padding_idx)
    if _is(m, "LayerNorm"):
        return nn.LayerNorm(m.normalized_shape, m.eps, elementwise_affine=m.weight is not None,
                            bias=m.bias is not None)
    if _is(m, "Recurrence"):
        r = m.module
        extra = {"nonlinearity": r.nonlinearity} if r.name == "RNN" else {}
        cls = getattr(parts, f"{r.name}Layer")
        return cls(r.input_size, r.hidden_size, r.num_layers, bias=r.bias, output=m.output,
                   truncate=r.truncate, **extra)
    if _is(m, "SelfAttention"):
        a = m.module
        return parts.SelfAttention(a.embed_dim, a.num_heads, bias=a.in_proj_bias is not None,
                                   is_causal=m.is_causal)
    if _is(m, "PositionalEncoding"):
        return parts.PositionalEncoding(m.base)
    raise TorchExportError(f"{where} ({name}): no torch.nn counterpart here (a network of "
                           f"spec layers converts; see docs/pytorch.md)")
