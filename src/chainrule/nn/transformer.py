"""A small Transformer's parts (issue 16): sinusoidal positional encodings, and a pre-norm
encoder block as PyTorch's ``nn.TransformerEncoderLayer(..., norm_first=True)`` computes it.

``TransformerEncoderLayer(d_model, nhead, dim_feedforward=2048, dropout=0.0,
activation='relu', layer_norm_eps=1e-5, batch_first=False, norm_first=True)``:

    x ← x + self_attn(norm1(x))           (multi-head self-attention, its own mask options)
    x ← x + linear2(activation(linear1(norm2(x))))

with PyTorch's parameter names (``self_attn.in_proj_weight``, ``linear1.weight`` (F, E),
``linear2.weight`` (E, F), ``norm1.weight``, …) in PyTorch's (out, in) layout, so a
``state_dict`` copies across. Dropout defaults to 0 here (PyTorch's default is 0.1, which a
worked example cannot reproduce) and anything else is refused; ``norm_first=False`` (the
post-norm block) is supported too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ShapeError
from chainrule.nn.attention import MultiheadAttention
from chainrule.nn.init import as_rng
from chainrule.nn.layers import Module, Parameter, as_input
from chainrule.nn.sequence import LayerNorm


def sinusoidal_positions(length: int, d_model: int, base: float = 10000.0) -> np.ndarray:
    """The encodings of "Attention is all you need", (length, d_model): PE[p, 2i] =
    sin(p / base^(2i/d)), PE[p, 2i + 1] = cos(p / base^(2i/d)). A constant, added to the
    embeddings; it has no gradient of its own."""
    for value, what in ((length, "length"), (d_model, "d_model")):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ShapeError(f"sinusoidal_positions: {what} must be an integer ≥ 1, got "
                             f"{value!r}")
    position = np.arange(length)[:, None]
    rates = base ** (-np.arange(0, d_model, 2) / d_model)
    out = np.zeros((length, d_model))
    out[:, 0::2] = np.sin(position * rates)
    out[:, 1::2] = np.cos(position * rates[: d_model // 2])
    return out


class PositionalEncoding(Module):
    """Adds :func:`sinusoidal_positions` to a batch (N, L, E) or one sequence (L, E): a
    constant, so ∂E/∂x is ∂E/∂(output), unchanged. No parameters."""

    def __init__(self, base: float = 10000.0) -> None:
        self.base = float(base)

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return []

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) != 2:
            raise ShapeError(f"PositionalEncoding takes (L, E) per example, got {tuple(shape)}")
        return tuple(shape)

    def encodings(self, length: int, d_model: int) -> np.ndarray:
        return sinusoidal_positions(length, d_model, self.base)

    def forward(self, x: Any) -> Tensor:
        x = as_input(x, np.float64)
        if x.ndim not in (2, 3):
            raise ShapeError(f"PositionalEncoding: expected (N, L, E) or (L, E), got {x.shape}")
        table = self.encodings(x.shape[-2], x.shape[-1]).astype(x.dtype)
        return x + Tensor(table, requires_grad=False)

    def __repr__(self) -> str:
        return "PositionalEncoding()"


class _Linear(Module):
    """x·Wᵀ + b with W (out, in): PyTorch's layout, as the block's linear1 and linear2."""

    def __init__(self, fan_in: int, fan_out: int, rng: np.random.Generator, dtype: Any) -> None:
        bound = 1.0 / np.sqrt(fan_in)
        self.weight = Parameter(rng.uniform(-bound, bound, (fan_out, fan_in)), "weight",
                                dtype=dtype)
        self.bias = Parameter(rng.uniform(-bound, bound, fan_out), "bias", dtype=dtype)

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [("weight", self.weight), ("bias", self.bias)]

    def forward(self, x: Any) -> Tensor:
        return x @ self.weight.T + self.bias


class TransformerEncoderLayer(Module):
    """See the module docstring."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.0, activation: str = "relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = True, *,
                 generator: np.random.Generator | int | None = None,
                 dtype: Any = np.float64) -> None:
        if dropout:
            raise ShapeError("TransformerEncoderLayer: dropout is not supported; give "
                             "dropout=0")
        if activation not in ("relu", "gelu"):
            raise ShapeError(f"TransformerEncoderLayer: activation must be 'relu' or 'gelu', "
                             f"got {activation!r}")
        if activation == "gelu":
            raise ShapeError("TransformerEncoderLayer: gelu is not in the table yet; use "
                             "'relu'")
        rng = as_rng(generator)
        self.batch_first, self.norm_first, self.dtype = batch_first, norm_first, np.dtype(dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, batch_first=True, generator=rng,
                                            dtype=dtype)
        self.linear1 = _Linear(d_model, dim_feedforward, rng, dtype)
        self.linear2 = _Linear(dim_feedforward, d_model, rng, dtype)
        self.norm1 = LayerNorm(d_model, layer_norm_eps, dtype=dtype)
        self.norm2 = LayerNorm(d_model, layer_norm_eps, dtype=dtype)

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        out = []
        for name in ("self_attn", "linear1", "linear2", "norm1", "norm2"):
            out += [(f"{name}.{n}", p) for n, p in getattr(self, name).named_parameters()]
        return out

    def _attend(self, x: Tensor, mask: Any, padding: Any, causal: bool) -> Tensor:
        return self.self_attn(x, x, x, attn_mask=mask, key_padding_mask=padding,
                              need_weights=False, is_causal=causal)[0]

    def _feed_forward(self, x: Tensor) -> Tensor:
        return self.linear2(self.linear1(x).relu())

    def forward(self, src: Any, src_mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool = False) -> Tensor:
        x = as_input(src, self.dtype)
        if x.ndim not in (2, 3):
            raise ShapeError(f"TransformerEncoderLayer: expected src (L, N, E), (N, L, E) "
                             f"with batch_first or (L, E), got shape {x.shape}")
        unbatched = x.ndim == 2
        if unbatched:
            x = x.reshape(1, *x.shape)
        elif not self.batch_first:
            x = x.transpose(1, 0, 2)  # (N, L, E) inside
        if self.norm_first:
            x = x + self._attend(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._feed_forward(self.norm2(x))
        else:
            x = self.norm1(x + self._attend(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._feed_forward(x))
        if unbatched:
            return x.reshape(*x.shape[1:])
        return x if self.batch_first else x.transpose(1, 0, 2)
