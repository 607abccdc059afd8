"""The sequence models' modules, with PyTorch's constructors, parameter names and shapes:
``Embedding`` and ``LayerNorm`` (issue 16; recurrent and attention layers build on them).
Each is one node of the primitive table (:mod:`chainrule.autodiff.ops_sequence`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ShapeError
from chainrule.nn import functional as F
from chainrule.nn.init import as_rng
from chainrule.nn.layers import Module, Parameter, as_input


def _count(value: Any, what: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ShapeError(f"{name}: {what} must be an integer ≥ 1, got {value!r}")
    return int(value)


class Embedding(Module):
    """``nn.Embedding(num_embeddings, embedding_dim, padding_idx=None)``: ``.weight`` of shape
    (num_embeddings, embedding_dim), drawn from N(0, 1) as PyTorch draws it (the padding row
    zero); called on integer indices of any shape, it gives their rows."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 *, weight: Any = None, generator: np.random.Generator | int | None = None,
                 dtype: Any = np.float64) -> None:
        rows = _count(num_embeddings, "num_embeddings", "Embedding")
        width = _count(embedding_dim, "embedding_dim", "Embedding")
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)) \
                    or not -rows <= padding_idx < rows:
                raise ShapeError(f"Embedding: padding_idx must be a row (−{rows} to {rows - 1})"
                                 f", got {padding_idx!r}")
            padding_idx = int(padding_idx) % rows
        self.num_embeddings, self.embedding_dim, self.padding_idx = rows, width, padding_idx
        if weight is None:
            values = as_rng(generator).normal(size=(rows, width))
            if padding_idx is not None:
                values[padding_idx] = 0.0
        else:
            values = np.asarray(weight, dtype=dtype)
            if values.shape != (rows, width):
                raise ShapeError(f"Embedding.weight: expected shape {(rows, width)}, got "
                                 f"{values.shape}")
        self.weight = Parameter(values, "weight", dtype=dtype)

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [("weight", self.weight)]

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return (*shape, self.embedding_dim)

    def forward(self, indices: Any) -> Tensor:
        index = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
        if index.dtype.kind == "f":  # a network's input batch arrives as floats
            whole = np.isfinite(index) & (index == np.round(index))
            if not np.all(whole):
                bad = tuple(int(i) for i in np.argwhere(~whole)[0])
                raise ShapeError(f"Embedding: indices must be whole numbers, got "
                                 f"{index[bad]!r} at {list(bad)}")
            index = index.astype(np.int64)
        return F.embedding(index, self.weight, self.padding_idx)

    def __repr__(self) -> str:
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"Embedding({self.num_embeddings}, {self.embedding_dim}{padding})"


class LayerNorm(Module):
    """``nn.LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True, bias=True)``:
    ``.weight`` (ones) and ``.bias`` (zeros) of ``normalized_shape``; each sample normalised
    over its last ``len(normalized_shape)`` axes."""

    def __init__(self, normalized_shape: Any, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, *, dtype: Any = np.float64) -> None:
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else \
            tuple(normalized_shape)
        for n in shape:
            _count(n, "normalized_shape", "LayerNorm")
        if not shape or not eps > 0:
            raise ShapeError(f"LayerNorm: expected a normalized_shape and eps > 0, got "
                             f"{normalized_shape!r}, {eps!r}")
        self.normalized_shape, self.eps, self.dtype = shape, float(eps), np.dtype(dtype)
        self.weight = Parameter(np.ones(shape), "weight", dtype=dtype) \
            if elementwise_affine else None
        self.bias = Parameter(np.zeros(shape), "bias", dtype=dtype) \
            if elementwise_affine and bias else None

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [(name, p) for name, p in (("weight", self.weight), ("bias", self.bias))
                if p is not None]

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if tuple(shape[len(shape) - len(self.normalized_shape):]) != self.normalized_shape:
            raise ShapeError(f"LayerNorm({list(self.normalized_shape)}): the input's last axes "
                             f"are {tuple(shape)}")
        return tuple(shape)

    def forward(self, x: Any) -> Tensor:
        return F.layer_norm(as_input(x, self.dtype), self.normalized_shape, self.weight,
                            self.bias, self.eps)

    def __repr__(self) -> str:
        return f"LayerNorm({tuple(self.normalized_shape)}, eps={self.eps:g})"
