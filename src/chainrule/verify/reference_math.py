"""The textbook formulas of the reference step (chainrule.verify.reference): each activation,
its derivative (and the mistaken versions of it the catalogue needs), each loss and ∂E/∂a.

Written here on purpose rather than read from the activation and loss tables, so that the
reference is an independent computation; tests assert the names are the tables' names, so a
new table entry cannot go unchecked.
"""

from __future__ import annotations

import numpy as np

from chainrule.tables.activations import LEAKY_RELU_SLOPE  # a parameter, not a formula
from chainrule.spec.network import Spec

# The names this module has formulas for.
ACTIVATION_NAMES = ("sigmoid", "tanh", "relu", "leaky_relu", "softmax", "identity")
LOSS_NAMES = ("sse", "half_sse", "mse", "bce", "cross_entropy")


# --- activations and their derivatives -------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))  # exp of a value ≤ 0 never overflows
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _log_others(z: np.ndarray) -> np.ndarray:
    """ln Σⱼ≠ₖ e^zⱼ for every unit k, by deleting unit k and summing the rest (K² terms)."""
    units = z.shape[-1]
    return np.stack([np.logaddexp.reduce(np.delete(z, k, axis=-1), axis=-1)
                     for k in range(units)], axis=-1)


def softmax_bce_delta(z: np.ndarray, t: np.ndarray) -> np.ndarray:
    """∂E/∂z of bce(softmax(z), t) for one example's loss: [(pⱼ − tⱼ) + Σₖ≠ⱼ (tₖ − pₖ) pⱼ/(1 − pₖ)]
    / K, each pⱼ/(1 − pₖ) taken as e^(zⱼ − ln Σᵢ≠ₖ e^zᵢ), finite where 1 − pₖ rounds to 0."""
    units = z.shape[-1]
    p, log_others = _softmax(z), _log_others(z)
    mixed = np.zeros_like(z)
    for k in range(units):
        ratio = np.exp(z - log_others[..., k:k + 1])  # pⱼ/(1 − pₖ) for every j
        ratio[..., k] = 0.0  # the sum leaves k itself out
        mixed += (t[..., k:k + 1] - p[..., k:k + 1]) * ratio
    return (p - t + mixed) / units


def activate(name: str, z: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        return _sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, LEAKY_RELU_SLOPE * z)
    if name == "softmax":
        return _softmax(z)
    if name == "identity":
        return z
    raise ValueError(f"reference: no formula for activation {name!r}")


def _slope_from_output(name: str, s: np.ndarray, g: np.ndarray) -> np.ndarray:
    """g times the derivative written in terms of the unit's output s (s = f(z) when used
    right): σ′ = s(1 − s), tanh′ = 1 − s², softmax's Jacobian s(δᵢⱼ − sⱼ) applied to g."""
    if name == "sigmoid":
        return g * s * (1.0 - s)
    if name == "tanh":
        return g * (1.0 - s * s)
    return s * (g - (g * s).sum(axis=-1, keepdims=True))  # softmax


def backward_activation(name: str, z: np.ndarray, a: np.ndarray, g: np.ndarray,
                        mode: str) -> np.ndarray:
    """δ = f′(z) ⊙ g (a Jacobian–vector product for softmax), or a mistaken version of it."""
    if mode == "missing" or name == "identity":
        return g
    if name == "relu":  # relu′(0) = 0, as PyTorch; the same whether read off z or a = relu(z)
        return g * (z > 0)
    if name == "leaky_relu":
        return np.where(z > 0, g, LEAKY_RELU_SLOPE * g)
    if mode == "at_z":  # the a-form of the derivative with z written for a
        return _slope_from_output(name, z, g)
    if mode == "at_activation":  # f′ taken at a = f(z): the activation applied twice
        return _slope_from_output(name, activate(name, a), g)
    if mode == "softmax_diagonal" and name == "softmax":
        return g * a * (1.0 - a)
    return _slope_from_output(name, a, g)


# --- the loss and its derivative -------------------------------------------------------------


def example_losses(spec: Spec, z: np.ndarray, a: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The loss of each example (a number for one example), as chainrule.nn.output_loss."""
    last, loss = spec.activations[-1], spec.loss
    if loss in ("sse", "half_sse", "mse"):
        squares = (a - t) ** 2
        per = squares.mean(axis=-1) if loss == "mse" else squares.sum(axis=-1)
        return 0.5 * per if loss == "half_sse" else per
    if loss == "bce":
        if last == "sigmoid":  # from the logits: ln σ(z) = −softplus(−z), never ln 0
            per_unit = t * np.logaddexp(0.0, -z) + (1.0 - t) * np.logaddexp(0.0, z)
        elif last == "softmax":  # from the logits: ln(1 − pₖ) = ln Σⱼ≠ₖ e^zⱼ − ln Σⱼ e^zⱼ
            log_p = _log_softmax(z)
            log_q = _log_others(z) - np.logaddexp.reduce(z, axis=-1, keepdims=True)
            per_unit = -(t * log_p + np.where(t == 1.0, 0.0, (1.0 - t) * log_q))
        else:
            per_unit = -(t * np.log(a) + (1.0 - t) * np.log(1.0 - a))
        return per_unit.mean(axis=-1)
    logits = z if last == "softmax" else a  # cross_entropy: any other output is the logits
    return -(t * _log_softmax(logits)).sum(axis=-1)


def output_error(spec: Spec, z: np.ndarray, a: np.ndarray,
                 t: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(∂E/∂a_L, δ_L if taken straight from the logits) for one example's loss, no 1/N."""
    units = a.shape[-1]
    with np.errstate(divide="ignore", invalid="ignore"):  # a saturated unit: ±inf is the truth
        textbook_bce = (-t / a + (1.0 - t) / (1.0 - a)) / units
        textbook_ce = -t / a
    loss, last = spec.loss, spec.activations[-1]
    if loss == "sse":
        return 2.0 * (a - t), None
    if loss == "half_sse":
        return a - t, None
    if loss == "mse":
        return 2.0 * (a - t) / units, None
    if loss == "bce":
        if last == "sigmoid":
            return textbook_bce, (_sigmoid(z) - t) / units
        return textbook_bce, None
    if last == "softmax":
        return textbook_ce, _softmax(z) - t
    return _softmax(a) - t, None  # cross-entropy of the output taken as logits
