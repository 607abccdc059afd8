"""Local derivatives at the network level: ∂aˡⱼ/∂zˡⱼ for each activation and ∂E/∂aᴸₖ for
each loss, as formulas in terms of the unit's own values and as numbers."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from chainrule.tables.activations import ACTIVATION_TABLE
from chainrule.explain.lens.chain_data import Factor, factor
from chainrule.tables.losses import LOSS_TABLE
from chainrule.explain.notation import partial, quantity


def activation_factor(activation: str, layer: int, unit: int, z: float, a: float,
                      n: int | None, params: Mapping[str, float] | None = None) -> Factor:
    """∂aˡⱼ/∂zˡⱼ for an elementwise activation (or softmax's diagonal), as the activation
    table writes it (in terms of aˡⱼ or zˡⱼ); ``params`` (leaky relu's slope) as the graph
    recorded them, the table's defaults if not given."""
    a_s, z_s = quantity("a", layer, unit, example=n), quantity("z", layer, unit, example=n)
    entry = ACTIVATION_TABLE[activation]
    params = dict(entry.params if params is None else params)
    shown = {name: f"{value:g}" for name, value in params.items()}
    text = entry.text(entry.derivative_text, a=a_s, z=z_s, **shown)
    latex = entry.text(entry.derivative_latex, a=a_s.latex, z=z_s.latex, **shown)
    return factor(partial(a_s, z_s), text, latex, float(entry.derivative(z, a, **params)))


def softmax_factor(layer: int, m: int, j: int, a: np.ndarray, n: int | None) -> Factor:
    """∂aˡₘ/∂zˡⱼ = aₘ(δₘⱼ − aⱼ) for a softmax layer."""
    if m == j:
        return activation_factor("softmax", layer, j, 0.0, a[j], n)
    a_m, a_j = quantity("a", layer, m, example=n), quantity("a", layer, j, example=n)
    entry = ACTIVATION_TABLE["softmax"]
    return factor(partial(a_m, quantity("z", layer, j, example=n)),
                  entry.text(entry.cross_text, am=a_m, aj=a_j),
                  entry.text(entry.cross_latex, am=a_m.latex, aj=a_j.latex), -a[m] * a[j])


def loss_factor(loss: str, activation: str, layer: int, k: int, a: np.ndarray, t: np.ndarray,
                batch: int | None, n: int | None) -> Factor:
    """∂E/∂aᴸₖ of one example, the 1/N of a batch mean included."""
    a_s, t_s = quantity("a", layer, k, example=n), quantity("t", None, k, example=n)
    per = f"/{batch}" if batch else ""
    scale = 1.0 / (batch or 1)
    entry = LOSS_TABLE[loss]
    if entry.logits_gradient is not None and activation not in entry.from_logits:
        # a loss of logits taking the output itself as its logits: ∂E/∂a = softmax(a) − t
        text = entry.text(entry.logits_gradient_text, t=t_s, layer=layer) + per
        latex = entry.text(entry.logits_gradient_latex, t=t_s.latex, layer=layer, k=k + 1)
        value = entry.logits_gradient(np.asarray(a, dtype=float), np.asarray(t, dtype=float))[k]
    else:
        text = entry.text(entry.gradient_text, a=a_s, t=t_s, K=len(a)) + per
        latex = entry.text(entry.gradient_latex, a=a_s.latex, t=t_s.latex, K=len(a))
        value = entry.gradient(np.asarray(a, dtype=float), np.asarray(t, dtype=float))[k]
    if batch:
        latex = rf"\tfrac{{1}}{{{batch}}}\left({latex}\right)"
    return factor(partial("E", a_s), text, latex, value * scale)
