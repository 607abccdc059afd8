"""Attention with PyTorch's signatures: ``scaled_dot_product_attention`` and
``MultiheadAttention`` (issue 16).

Both are compositions of the table's operations — matrix products, a scale, a softmax over
the keys, reshapes — so the engine records every step and ``backward()`` gives ∂Q, ∂K, ∂V
through the softmax's full Jacobian. Masks follow PyTorch, whose two conventions differ:

* ``scaled_dot_product_attention(q, k, v, attn_mask, is_causal, scale)``: a boolean mask is
  True where a query **may** attend; a float mask is added to the scores;
* ``MultiheadAttention``'s ``attn_mask`` and ``key_padding_mask``: a boolean True is a key
  that may **not** be attended (PyTorch's ``nn.MultiheadAttention``); a float mask is added.

``MultiheadAttention(embed_dim, num_heads, bias=True, batch_first=False)`` holds PyTorch's
``in_proj_weight`` (3E, E), ``in_proj_bias`` (3E,) and ``out_proj.weight`` (E, E),
``out_proj.bias`` (E,), used as PyTorch uses them (x·Wᵀ + b: these keep PyTorch's (out, in)
layout, unlike chainrule's ``Linear``), so a ``state_dict`` copies across unchanged. It is
called as ``mha(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
average_attn_weights=True, is_causal=False) -> (output, weights)``; inputs (L, N, E),
(N, L, E) with ``batch_first`` or (L, E) unbatched.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ShapeError
from chainrule.nn.init import as_rng
from chainrule.nn.layers import Module, Parameter, as_input


def _additive(mask: Any, shape: tuple[int, ...], allowed_when_true: bool,
              what: str) -> np.ndarray | None:
    """A mask as the constant added to the scores: 0 where attended, −∞ where not (a
    boolean), or the float mask itself."""
    if mask is None:
        return None
    mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    try:
        np.broadcast_shapes(mask.shape, shape)
    except ValueError:
        raise ShapeError(f"{what}: a mask of shape {mask.shape} does not broadcast to the "
                         f"scores' {shape}") from None
    if mask.dtype == bool:
        blocked = ~mask if allowed_when_true else mask
        return np.where(blocked, -np.inf, 0.0)
    if mask.dtype.kind != "f":
        raise ShapeError(f"{what}: expected a boolean or float mask, got dtype {mask.dtype}")
    return mask.astype(float)


def scaled_dot_product_attention(query: Any, key: Any, value: Any, attn_mask: Any = None,
                                 is_causal: bool = False, scale: float | None = None,
                                 *, return_weights: bool = False) -> Any:
    """``torch.nn.functional.scaled_dot_product_attention`` (no dropout): softmax(q·kᵀ·s +
    mask)·v over the last two axes, s = 1/√d by default. ``return_weights=True`` also
    returns the softmax (chainrule's addition, for explanations)."""
    q, k, v = (x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=float))
               for x in (query, key, value))
    if q.ndim < 2 or k.ndim != q.ndim or v.ndim != q.ndim or q.shape[-1] != k.shape[-1] \
            or k.shape[-2] != v.shape[-2]:
        raise ShapeError(f"scaled_dot_product_attention: expected query (…, L, d), key "
                         f"(…, S, d) and value (…, S, d_v), got {q.shape}, {k.shape}, "
                         f"{v.shape}")
    factor = 1.0 / np.sqrt(q.shape[-1]) if scale is None else float(scale)
    try:
        shape = np.broadcast_shapes(q.shape[:-2], k.shape[:-2]) + (q.shape[-2], k.shape[-2])
    except ValueError:
        raise ShapeError(f"scaled_dot_product_attention: the batch axes of query {q.shape} "
                         f"and key {k.shape} do not broadcast") from None
    if is_causal:
        if attn_mask is not None:
            raise ShapeError("scaled_dot_product_attention: give attn_mask or is_causal, not "
                             "both (as PyTorch)")
        attn_mask = np.tril(np.ones(shape[-2:], dtype=bool))
    added = _additive(attn_mask, shape, True, "scaled_dot_product_attention")
    steps = _attend(q, k, v, factor, added)
    return (steps["out"], steps["weights"]) if return_weights else steps["out"]


def _attend(q: Tensor, k: Tensor, v: Tensor, factor: float,
            added: np.ndarray | None) -> dict[str, Tensor]:
    """Attention's steps as tensors of the graph: the product q·kᵀ, the scores (scaled), the
    logits (the mask added), the weights (softmax over the keys) and the output."""
    product = q @ k.transpose(*range(k.ndim - 2), k.ndim - 1, k.ndim - 2)
    scores = product * factor
    logits = scores if added is None else scores + np.asarray(added, dtype=scores.dtype)
    weights = logits.softmax(-1)
    return {"product": product, "scores": scores, "logits": logits, "weights": weights,
            "out": weights @ v}


class _Projection(Module):
    """``out_proj``: x·Wᵀ + b with W (out, in), PyTorch's layout."""

    def __init__(self, size: int, bias: bool, rng: np.random.Generator, dtype: Any) -> None:
        bound = 1.0 / np.sqrt(size)
        self.weight = Parameter(rng.uniform(-bound, bound, (size, size)), "weight",
                                dtype=dtype)
        self.bias = Parameter(np.zeros(size), "bias", dtype=dtype) if bias else None

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [("weight", self.weight)] + ([("bias", self.bias)] if self.bias is not None
                                            else [])

    def forward(self, x: Any) -> Tensor:
        out = x @ self.weight.T
        return out if self.bias is None else out + self.bias


class MultiheadAttention(Module):
    """``nn.MultiheadAttention(embed_dim, num_heads, bias=True, batch_first=False)`` (no
    dropout, key and value of the query's size); see the module docstring."""

    # Set to a dict, the next forward pass keeps its steps in it (q, k, v per head, the
    # product, scores, logits, weights, out and their concatenation): what the explanation
    # reads (chainrule.explain.lens.attention), the engine's gradients found by the tensors' ids.
    record: dict | None = None

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 batch_first: bool = False, *,
                 generator: np.random.Generator | int | None = None,
                 dtype: Any = np.float64) -> None:
        counts = (embed_dim, num_heads)
        if any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1
               for n in counts) or embed_dim % num_heads:
            raise ShapeError(f"MultiheadAttention: embed_dim {embed_dim!r} must be a positive "
                             f"multiple of num_heads {num_heads!r}")
        if dropout:
            raise ShapeError("MultiheadAttention: attention dropout is not supported; give "
                             "dropout=0")
        self.embed_dim, self.num_heads = int(embed_dim), int(num_heads)
        self.head_dim = self.embed_dim // self.num_heads
        self.batch_first, self.dtype = bool(batch_first), np.dtype(dtype)
        rng = as_rng(generator)
        bound = np.sqrt(6.0 / (embed_dim + 3 * embed_dim))  # xavier_uniform of (3E, E)
        self.in_proj_weight = Parameter(rng.uniform(-bound, bound, (3 * embed_dim, embed_dim)),
                                        "in_proj_weight", dtype=dtype)
        self.in_proj_bias = Parameter(np.zeros(3 * embed_dim), "in_proj_bias",
                                      dtype=dtype) if bias else None
        self.out_proj = _Projection(self.embed_dim, bias, rng, dtype)

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        out = [("in_proj_weight", self.in_proj_weight)]
        if self.in_proj_bias is not None:
            out.append(("in_proj_bias", self.in_proj_bias))
        return out + [(f"out_proj.{n}", p) for n, p in self.out_proj.named_parameters()]

    def _batched(self, x: Any, what: str) -> tuple[Tensor, bool]:
        x = as_input(x, self.dtype)
        if x.ndim == 2:
            x = x.reshape(x.shape[0], 1, x.shape[1])
            unbatched = True
        elif x.ndim == 3:
            x = x if self.batch_first else x.transpose(1, 0, 2)
            unbatched = False
        else:
            raise ShapeError(f"MultiheadAttention: expected {what} (L, N, E), (N, L, E) with "
                             f"batch_first or (L, E), got shape {x.shape}")
        if x.shape[2] != self.embed_dim:
            raise ShapeError(f"MultiheadAttention: {what} has {x.shape[2]} features, "
                             f"embed_dim is {self.embed_dim}")
        return x, unbatched  # (N, L, E)

    def forward(self, query: Any, key: Any = None, value: Any = None,
                key_padding_mask: Any = None, need_weights: bool = True,
                attn_mask: Any = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        q, unbatched = self._batched(query, "query")
        k, _ = self._batched(query if key is None else key, "key")
        v, _ = self._batched(k if value is None and key is not None else
                             (query if value is None else value), "value")
        n, length, e = q.shape
        source = k.shape[1]
        if k.shape[0] != n or v.shape[:2] != k.shape[:2]:
            raise ShapeError(f"MultiheadAttention: query, key and value disagree in batch or "
                             f"length: {q.shape}, {k.shape}, {v.shape} (as (N, L, E))")
        w, b = self.in_proj_weight, self.in_proj_bias
        heads, d = self.num_heads, self.head_dim

        def project(x: Tensor, i: int) -> Tensor:
            y = x @ w[i * e:(i + 1) * e].T
            if b is not None:
                y = y + b[i * e:(i + 1) * e]
            return y.reshape(n, x.shape[1], heads, d).transpose(0, 2, 1, 3)  # (N, h, L, d)

        scores_shape = (n, heads, length, source)
        mask = None
        if is_causal and attn_mask is None:
            attn_mask = ~np.tril(np.ones((length, source), dtype=bool))
        if attn_mask is not None:
            attn = np.asarray(attn_mask.data if isinstance(attn_mask, Tensor) else attn_mask)
            if attn.ndim == 3:  # (N·heads, L, S), as PyTorch lays it out
                attn = attn.reshape(n, heads, length, source)
            mask = _additive(attn, scores_shape, False, "MultiheadAttention attn_mask")
        if key_padding_mask is not None:
            padding = np.asarray(key_padding_mask)
            if unbatched and padding.ndim == 1:
                padding = padding[None]
            if padding.shape != (n, source):
                raise ShapeError(f"MultiheadAttention: expected key_padding_mask of shape "
                                 f"{(n, source)}, got {padding.shape}")
            added = _additive(padding[:, None, None, :], scores_shape, False,
                              "MultiheadAttention key_padding_mask")
            mask = added if mask is None else mask + added
        if mask is not None:
            mask = np.broadcast_to(mask, scores_shape)
        qh, kh, vh = project(q, 0), project(k, 1), project(v, 2)
        steps = _attend(qh, kh, vh, 1.0 / np.sqrt(d), mask)
        out, weights = steps["out"], steps["weights"]
        concat = out.transpose(0, 2, 1, 3).reshape(n, length, e)
        if self.record is not None:
            self.record.update(steps, q=qh, k=kh, v=vh, concat=concat, scale=1.0 / np.sqrt(d))
        out = self.out_proj(concat)
        if unbatched:
            out = out.reshape(length, e)
        elif not self.batch_first:
            out = out.transpose(1, 0, 2)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(1)
        if unbatched:
            weights = weights.reshape(*weights.shape[1:])
        return out, weights

    def __repr__(self) -> str:
        return f"MultiheadAttention({self.embed_dim}, num_heads={self.num_heads})"


class SelfAttention(Module):
    """Multi-head self-attention as one layer of a network (a spec's
    ``{"type": "MultiheadAttention", ...}``): a batch (N, L, E) attends to itself,
    ``mha(x, x, x, is_causal=...)[0]``, with the module's parameters named as PyTorch names
    them (``in_proj_weight``, ``out_proj.weight``)."""

    def __init__(self, module: MultiheadAttention, is_causal: bool = False) -> None:
        self.module, self.is_causal = module, bool(is_causal)

    @property
    def record(self) -> dict | None:
        return self.module.record

    @record.setter
    def record(self, value: dict | None) -> None:
        self.module.record = value

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return self.module.named_parameters()

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) != 2 or shape[1] != self.module.embed_dim:
            raise ShapeError(f"MultiheadAttention takes (L, E) per example with E = "
                             f"{self.module.embed_dim}, got {tuple(shape)}")
        return tuple(shape)

    def forward(self, x: Any) -> Tensor:
        return self.module(x, x, x, need_weights=False, is_causal=self.is_causal)[0]

    def __repr__(self) -> str:
        return repr(self.module) + (" (causal)" if self.is_causal else "")
