"""The sequence models' own primitives: an embedding lookup and layer normalisation. Their
entries join :data:`chainrule.autodiff.ops.PRIMITIVES`; tests/test_sequence_ops.py holds them
to PyTorch and to finite differences. (Recurrence and attention are compositions of the
table's other rules: matrix products, tanh, softmax.)

* ``embedding(weight, index=...)`` is ``torch.nn.functional.embedding``: row ``index`` of the
  table for every index (any shape of integers in 0 … V − 1). Its gradient is scatter-added:
  a row used at several positions gets the sum of their gradients, and the row
  ``padding_idx`` (if given) none, as in PyTorch.
* ``layer_norm(x, weight, bias, ndim=k, eps=...)`` is ``torch.nn.functional.layer_norm``
  over the last k axes (``normalized_shape``): each sample normalised with its own mean and
  biased variance over those axes, then scaled by γ and shifted by β (both of the normalised
  shape). Its gradient is batch norm's three-term formula with the roles of the axes
  swapped: ∂E/∂x = (ĝ − mean ĝ − x̂·mean(ĝ·x̂)) / σ with ĝ = γ·g, the means over a sample's
  normalised axes; ∂E/∂γ = Σ g·x̂ and ∂E/∂β = Σ g over the other (leading) axes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import ShapeError
from chainrule.autodiff.op_table import _define, one_input

Array = np.ndarray


# --- embedding ---------------------------------------------------------------------------------


def _index(weight: Array, index: Any, padding_idx: Any) -> Array:
    index = np.asarray(index)
    if weight.ndim != 2:
        raise ShapeError(f"embedding: expected a table (num_embeddings, embedding_dim), got "
                         f"shape {weight.shape}")
    if index.dtype.kind not in "iu":
        raise ShapeError(f"embedding: indices must be integers, got dtype {index.dtype}")
    rows = weight.shape[0]
    if index.size and (index.min() < 0 or index.max() >= rows):
        raise ShapeError(f"embedding: indices must be in 0 to {rows - 1} (the table's rows), "
                         f"got {index.min()} to {index.max()}")
    if padding_idx is not None and not -rows <= int(padding_idx) < rows:
        raise ShapeError(f"embedding: padding_idx must be a row of the table (0 to "
                         f"{rows - 1}), got {padding_idx}")
    return index


def embedding(weight: Array, index: Any = None, padding_idx: Any = None) -> Array:
    return weight[_index(weight, index, padding_idx)]


def _embedding_grad(g: Array, out: Array, weight: Array, index: Any = None,
                    padding_idx: Any = None) -> Array:
    index = _index(weight, index, padding_idx)
    grad = np.zeros_like(weight)
    np.add.at(grad, index.reshape(-1), g.reshape(-1, weight.shape[1]))  # repeats add
    if padding_idx is not None:
        grad[int(padding_idx)] = 0  # the padding row is never trained, as in PyTorch
    return grad


# --- layer normalisation -------------------------------------------------------------------------


def _layer_axes(x: Array, ndim: int, weight: Array, bias: Array) -> tuple[int, ...]:
    if isinstance(ndim, bool) or not isinstance(ndim, (int, np.integer)) or not \
            1 <= ndim <= x.ndim:
        raise ShapeError(f"layer_norm: normalises the last 1 to {x.ndim} axes of an input of "
                         f"shape {x.shape}, got {ndim!r}")
    shape = x.shape[x.ndim - ndim:]
    for name, p in (("weight", weight), ("bias", bias)):
        if p.shape != shape:
            raise ShapeError(f"layer_norm: expected {name} of the normalised shape {shape}, "
                             f"got {p.shape}")
    return tuple(range(x.ndim - ndim, x.ndim))


def _layer_normalised(x: Array, axes: tuple[int, ...], eps: float) -> tuple[Array, Array]:
    mean = x.mean(axis=axes, keepdims=True)
    centred = x - mean
    sigma = np.sqrt((centred * centred).mean(axis=axes, keepdims=True) + eps)
    return centred / sigma, sigma


def layer_norm(x: Array, weight: Array, bias: Array, ndim: int = 1, eps: float = 1e-5) -> Array:
    axes = _layer_axes(x, ndim, weight, bias)
    xhat, _ = _layer_normalised(x, axes, eps)
    return xhat * weight + bias


def _layer_norm_vjp(g: Array, out: Array, wanted, x: Array, weight: Array, bias: Array,
                    ndim: int = 1, eps: float = 1e-5):
    axes = _layer_axes(x, ndim, weight, bias)
    xhat, sigma = _layer_normalised(x, axes, eps)
    leading = tuple(range(x.ndim - ndim))
    dx = dw = db = None
    if wanted[0]:  # (ĝ − mean ĝ − x̂·mean(ĝ·x̂)) / σ, the means over a sample's axes
        ghat = g * weight
        dx = (ghat - ghat.mean(axis=axes, keepdims=True)
              - xhat * (ghat * xhat).mean(axis=axes, keepdims=True)) / sigma
    if wanted[1]:
        dw = (g * xhat).sum(axis=leading) if leading else g * xhat
    if wanted[2]:
        db = g.sum(axis=leading) if leading else g.copy()
    return dx, dw, db


# --- the table ------------------------------------------------------------------------------
# fmt: off

_define("embedding", embedding,
        (_embedding_grad,),
        "W[index]: the table's row of each index",
        ("∂E/∂W[i] = Σ g over the positions whose index is i (a repeated index adds)",),
        r"W_{\mathrm{index}}", (r"\sum_{p:\,\mathrm{index}_p = i} g_p",))

_define("layer_norm", layer_norm,
        tuple(one_input(_layer_norm_vjp, i) for i in range(3)),
        "γ·x̂ + β, x̂ = (x − μ)/√(σ² + ε) per sample over its last axes (biased variance)",
        ("(ĝ − mean ĝ − x̂·mean(ĝ·x̂))/σ, ĝ = γ·g", "Σ g·x̂ over the samples",
         "Σ g over the samples"),
        r"\gamma \hat x + \beta,\ \hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}",
        (r"\frac{1}{\sigma}\left(\hat g - \overline{\hat g} - \hat x\,\overline{\hat g \hat x}"
         r"\right)", r"\sum g \hat x", r"\sum g"),
        _layer_norm_vjp)

# fmt: on
