"""Building the modules of validated typed layers (:mod:`chainrule.spec.layered`): one
layer's module for its input shape, and the whole :class:`chainrule.nn.network.Network`,
parameters given or drawn from one seeded generator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from chainrule.spec.layered import LayerSpec


def sizes(value: Any, d: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, tuple) else (value,) * d


def build_module(name: str, o: dict[str, Any], shape: tuple[int, ...], rng: np.random.Generator,
                 dtype: Any, *, init: str = "auto", activation: str = "identity",
                 seed: int = 0, index: int = 0, dry: bool = False):
    """The module of one layer for inputs of ``shape`` (per example). ``dry``: only for its
    geometry (no parameters drawn: the weights are zeros of the right shape)."""
    from chainrule.nn import modules as m
    from chainrule.nn.layers import Linear

    given = {k: v for k, v in o.items() if isinstance(v, np.ndarray)}
    if name == "Linear":
        fan_in, fan_out = shape[-1], o["out_features"]
        if dry:
            return Linear(fan_in, fan_out, weight=np.zeros((fan_in, fan_out)),
                          bias_mode="per_unit" if o["bias"] is not False else "none")
        return Linear(fan_in, fan_out, weight=given.get("weight"), bias=given.get("bias"),
                      bias_mode="none" if o["bias"] is False else "per_unit", init=init,
                      activation=activation, seed=rng, dtype=dtype, index=index + 1)
    if name in ("Conv1d", "Conv2d"):
        cls = m.Conv1d if name == "Conv1d" else m.Conv2d
        kernel = sizes(o["kernel_size"], len(shape) - 1)
        weight = np.zeros((o["out_channels"], shape[0] // o["groups"], *kernel)) if dry \
            else given.get("weight")
        return cls(shape[0], o["out_channels"], kernel, o["stride"], o["padding"],
                   o["dilation"], o["groups"], bias=o["bias"] is not False, weight=weight,
                   bias_values=given.get("bias") if not dry else np.zeros(o["out_channels"]),
                   generator=rng, dtype=dtype)
    if "Pool" in name:
        return getattr(m, name)(o["kernel_size"], o["stride"], o["padding"])
    if name.startswith("BatchNorm"):
        module = getattr(m, name)(shape[0], o["eps"], o["momentum"], dtype=dtype)
        for key in ("weight", "bias"):
            if key in given:
                getattr(module, key).data[...] = given[key]
        for key in ("running_mean", "running_var"):
            if key in given:
                getattr(module, key)[...] = given[key]
        return module
    if name in ("RNN", "LSTM", "GRU"):
        return _recurrent(name, o, shape, rng, dtype, given, dry)
    if name == "Embedding":
        weight = np.zeros((o["num_embeddings"], o["embedding_dim"])) if dry else \
            given.get("weight")
        from chainrule.nn.sequence import Embedding

        return Embedding(o["num_embeddings"], o["embedding_dim"], o["padding_idx"],
                         weight=weight, generator=rng, dtype=dtype)
    if name == "LayerNorm":
        from chainrule.nn.sequence import LayerNorm

        normalized = o["normalized_shape"] if o["normalized_shape"] is not None else shape[-1]
        module = LayerNorm(normalized, o["eps"], bias=o["bias"] is not False, dtype=dtype)
        _copy(module, given, ("weight", "bias"))
        return module
    if name == "MultiheadAttention":
        from chainrule.nn.attention import MultiheadAttention, SelfAttention

        module = MultiheadAttention(shape[-1], o["num_heads"], bias=o["bias"] is not False,
                                    batch_first=True, generator=rng, dtype=dtype)
        _copy(module, given, ("in_proj_weight", "in_proj_bias"))
        _copy(module.out_proj, {k[len("out_proj."):]: v for k, v in given.items()
                                if k.startswith("out_proj.")}, ("weight", "bias"))
        return SelfAttention(module, o["is_causal"])
    if name == "PositionalEncoding":
        from chainrule.nn.transformer import PositionalEncoding

        return PositionalEncoding()
    if name == "Dropout":
        return m.Dropout(o["p"], generator=np.random.default_rng(
            o["seed"] if o["seed"] is not None else [seed, index]))
    if name == "Flatten":
        return m.Flatten(o["start_dim"], o["end_dim"])
    if name == "LeakyReLU":
        return m.LeakyReLU(o["negative_slope"])
    if name == "Softmax":
        return m.Softmax(o["dim"])
    return getattr(m, name)()


def _copy(module, given: dict[str, np.ndarray], names: tuple[str, ...]) -> None:
    for key in names:
        if key in given and getattr(module, key, None) is not None:
            getattr(module, key).data[...] = given[key]


def _recurrent(name, o, shape, rng, dtype, given, dry):
    """An RNN, LSTM or GRU over (N, L, H_in) batches, as one layer: its output the sequence
    of states or the last one."""
    from chainrule.nn import recurrent

    options = {"nonlinearity": o["nonlinearity"]} if name == "RNN" else {}
    module = getattr(recurrent, name)(shape[-1], o["hidden_size"], o["num_layers"],
                                      bias=o["bias"] is not False, batch_first=True,
                                      generator=rng, dtype=dtype, **options)
    if not dry:
        _copy(module, given, tuple(n for n, _ in module.named_parameters()))
    return recurrent.Recurrence(module, o["output"], o["truncate"])


def build_network(layers: tuple[LayerSpec, ...], input_shape: tuple[int, ...], *,
                  seed: int = 0, init: str = "auto", dtype: Any = None):
    """The :class:`chainrule.nn.network.Network` of validated layers: parameters given, or
    drawn layer by layer from one generator seeded by ``seed`` (the same seed, the same
    network, bit for bit)."""
    from chainrule.nn import modules as nn_modules
    from chainrule.nn.modules import Residual, Sequential
    from chainrule.nn.network import Network

    dtype = np.dtype(dtype or np.float64)
    rng = np.random.default_rng(seed)
    counter = iter(range(10**9))

    def modules(specs: tuple[LayerSpec, ...]) -> list:
        out = []
        for i, layer in enumerate(specs):
            index = next(counter)
            if layer.type == "Residual":
                block = Sequential(*modules(layer.block))
                shortcut = Sequential(*modules(layer.shortcut)) if layer.shortcut else None
                out.append(Residual(block, shortcut))
                continue
            after = specs[i + 1].type if i + 1 < len(specs) else ""
            # a Linear's "auto" init follows the activation after it, as in an MLP
            activation = getattr(getattr(nn_modules, after, None), "table_name", "") or \
                "identity"
            out.append(build_module(layer.type, layer.options, layer.in_shape, rng, dtype,
                                    init=init, activation=activation, seed=seed, index=index))
        return out

    return Network(modules(layers), input_shape, dtype=dtype,
                   description=[layer.plain() for layer in layers])
