"""Batch normalisation and dropout as primitives. Their entries join
:data:`chainrule.autodiff.ops.PRIMITIVES`; tests/test_ops_against_torch.py holds them to PyTorch.

* ``batch_norm`` is ``batch_norm(x, None, None, weight, bias, training=True, eps=eps)``:
  each channel normalised over every other axis with the batch's mean and its *biased*
  variance, then scaled and shifted. Its gradient is the three-term formula
  ∂E/∂x = γ/(m·σ) · (m·g − Σg − x̂·Σ(g·x̂)). The running statistics (updated with the
  unbiased variance) are the layer's business (chainrule.nn.functional), not the primitive's.
* ``dropout(x, mask)`` is inverted dropout with the mask given as a second, constant input:
  ``x · mask / (1 − p)``, so the mask is drawn once (from an explicit seed), is a node of the
  graph an explanation can show, and the same mask serves the backward pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import ShapeError
from chainrule.autodiff.op_table import _define, one_input

Array = np.ndarray


# --- batch normalisation and dropout ------------------------------------------------------------


def _channel_view(x: Array, op: str = "batch_norm") -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(the axes normalised over: every axis but the channels', the shape a channel's
    parameter broadcasts in)."""
    if x.ndim < 2:
        raise ShapeError(f"{op}: expected an input (N, C, ...), got shape {x.shape}")
    axes = (0,) + tuple(range(2, x.ndim))
    if int(np.prod([x.shape[a] for a in axes])) < 2:
        raise ShapeError(f"{op}: expected more than one value per channel in training "
                         f"mode, got input of shape {x.shape}")
    return axes, (1, x.shape[1]) + (1,) * (x.ndim - 2)


def _normalised(x: Array, eps: float) -> tuple[Array, Array]:
    """(x̂, σ): each channel's (x − mean) / √(biased variance + eps), and that σ."""
    axes, _ = _channel_view(x)
    mean = x.mean(axis=axes, keepdims=True)
    sigma = np.sqrt(((x - mean) ** 2).mean(axis=axes, keepdims=True) + eps)
    return (x - mean) / sigma, sigma


def batch_norm(x: Array, weight: Array, bias: Array, eps: float = 1e-5) -> Array:
    _, shape = _channel_view(x)
    for name, p in (("weight", weight), ("bias", bias)):
        if p.shape != (x.shape[1],):
            raise ShapeError(f"batch_norm: expected {name} of shape ({x.shape[1]},) for "
                             f"{x.shape[1]} channels, got {p.shape}")
    xhat, _ = _normalised(x, eps)
    return xhat * weight.reshape(shape) + bias.reshape(shape)


def _batch_norm_vjp(g: Array, out: Array, wanted, x: Array, weight: Array, bias: Array,
                    eps: float = 1e-5):
    axes, shape = _channel_view(x)
    xhat, sigma = _normalised(x, eps)
    dx = None
    # Σg and Σ(g·x̂) are ∂E/∂β and ∂E/∂γ, and two of the three terms: each summed once
    sum_gx = (g * xhat).sum(axis=axes, keepdims=True) if wanted[0] or wanted[1] else None
    sum_g = g.sum(axis=axes, keepdims=True) if wanted[0] or wanted[2] else None
    if wanted[0]:  # γ/(m·σ) · (m·g − Σg − x̂·Σ(g·x̂)), the three terms, as γ/σ·(g − …/m)
        m = float(np.prod([x.shape[a] for a in axes]))
        dx = (weight.reshape(shape) / sigma) * (g - sum_g / m - xhat * (sum_gx / m))
    dw = sum_gx.reshape(-1) if wanted[1] else None
    db = sum_g.reshape(-1) if wanted[2] else None
    return dx, dw, db


def _mask(x: Array, mask: Any, p: float) -> tuple[Array, float]:
    mask = np.asarray(mask)
    if mask.shape != x.shape:  # (never broadcast: a mask is one draw per element)
        raise ShapeError(f"dropout: expected a mask of the input's shape {x.shape}, got "
                         f"{mask.shape}")
    if not 0.0 <= p <= 1.0:
        raise ShapeError(f"dropout: p must be between 0 and 1, got {p}")
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)  # p = 1 drops everything, as PyTorch
    return mask.astype(x.dtype, copy=False), scale


def dropout(x: Array, mask: Array, p: float = 0.5) -> Array:
    keep, scale = _mask(x, mask, p)
    return x * keep * scale


def _dropout_grad(g: Array, out: Array, x: Array, mask: Array, p: float = 0.5) -> Array:
    keep, scale = _mask(x, mask, p)
    return g * keep * scale


def _dropout_mask_grad(g: Array, out: Array, x: Array, mask: Array, p: float = 0.5) -> Array:
    # (a drawn mask is a constant and never asks for it; the rule is the product's all the same)
    _, scale = _mask(x, mask, p)
    return g * x * scale


# --- the table ------------------------------------------------------------------------------
# fmt: off

_define("batch_norm", batch_norm,
        tuple(one_input(_batch_norm_vjp, i) for i in range(3)),
        "γ·x̂ + β, x̂ = (x − μ)/√(σ² + ε) per channel (batch mean, biased variance)",
        ("γ/(m·σ)·(m·g − Σg − x̂·Σ(g·x̂))", "Σ g·x̂", "Σ g"),
        r"\gamma \hat x + \beta,\ \hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}",
        (r"\frac{\gamma}{m\sigma}\left(m g - \sum g - \hat x \sum g \hat x\right)",
         r"\sum g \hat x", r"\sum g"),
        _batch_norm_vjp)

_define("dropout", dropout,
        (_dropout_grad, _dropout_mask_grad),
        "x·mask/(1 − p)", ("mask/(1 − p)", "x/(1 − p) (the mask is drawn, a constant)"),
        r"\frac{x \odot m}{1 - p}", (r"\frac{m}{1 - p}", r"\frac{x}{1 - p}"))

# fmt: on
