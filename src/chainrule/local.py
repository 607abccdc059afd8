"""Local derivatives at the network level: ∂aˡⱼ/∂zˡⱼ for each activation and ∂E/∂aᴸₖ for
each loss, as formulas in terms of the unit's own values and as numbers."""

from __future__ import annotations

import numpy as np

from chainrule.chain_data import Factor, factor
from chainrule.notation import partial, quantity


def activation_factor(activation: str, layer: int, unit: int, z: float, a: float,
                      n: int | None) -> Factor:
    """∂aˡⱼ/∂zˡⱼ for an elementwise activation (or softmax's diagonal), in terms of aˡⱼ."""
    a_s, z_s = quantity("a", layer, unit, example=n), quantity("z", layer, unit, example=n)
    forms = {
        "sigmoid": (f"{a_s}(1 − {a_s})", rf"{a_s.latex}(1 - {a_s.latex})", a * (1 - a)),
        "softmax": (f"{a_s}(1 − {a_s})", rf"{a_s.latex}(1 - {a_s.latex})", a * (1 - a)),
        "tanh": (f"1 − ({a_s})²", rf"1 - ({a_s.latex})^2", 1 - a * a),
        "relu": (f"1 if {z_s} > 0 else 0", rf"[{z_s.latex} > 0]", float(z > 0)),
        "leaky_relu": (f"1 if {z_s} > 0 else 0.01", rf"1 \text{{ if }} {z_s.latex} > 0 "
                       r"\text{ else } 0.01", 1.0 if z > 0 else 0.01),
        "identity": ("1", "1", 1.0),
    }
    text, latex, value = forms[activation]
    return factor(partial(a_s, z_s), text, latex, value)


def softmax_factor(layer: int, m: int, j: int, a: np.ndarray, n: int | None) -> Factor:
    """∂aˡₘ/∂zˡⱼ = aₘ(δₘⱼ − aⱼ) for a softmax layer."""
    if m == j:
        return activation_factor("softmax", layer, j, 0.0, a[j], n)
    a_m, a_j = quantity("a", layer, m, example=n), quantity("a", layer, j, example=n)
    return factor(partial(a_m, quantity("z", layer, j, example=n)), f"−{a_m}·{a_j}",
                   rf"-{a_m.latex} {a_j.latex}", -a[m] * a[j])


def loss_factor(loss: str, activation: str, layer: int, k: int, a: np.ndarray, t: np.ndarray,
                batch: int | None, n: int | None) -> Factor:
    """∂E/∂aᴸₖ of one example, the 1/N of a batch mean included."""
    a_s, t_s = quantity("a", layer, k, example=n), quantity("t", None, k, example=n)
    units = len(a)
    per = f"/{batch}" if batch else ""
    scale = 1.0 / (batch or 1)
    if loss == "sse":
        text, latex, value = f"2({a_s} − {t_s}){per}", rf"2({a_s.latex} - {t_s.latex})", 2 * (
            a[k] - t[k])
    elif loss == "half_sse":
        text, latex, value = f"({a_s} − {t_s}){per}", rf"{a_s.latex} - {t_s.latex}", a[k] - t[k]
    elif loss == "mse":
        text, latex = f"2({a_s} − {t_s})/{units}{per}", rf"\tfrac{{2}}{{{units}}}({a_s.latex} - {t_s.latex})"
        value = 2 * (a[k] - t[k]) / units
    elif loss == "bce":
        text = f"({a_s} − {t_s}) / ({a_s}(1 − {a_s}))/{units}{per}"
        latex = rf"\frac{{{a_s.latex} - {t_s.latex}}}{{{units}\,{a_s.latex}(1 - {a_s.latex})}}"
        with np.errstate(divide="ignore", invalid="ignore"):  # a saturated unit: ±inf
            value = (a[k] - t[k]) / (a[k] * (1 - a[k])) / units
    elif activation == "softmax":  # cross-entropy of the softmax's probabilities
        text, latex = f"−{t_s}/{a_s}{per}", rf"-\frac{{{t_s.latex}}}{{{a_s.latex}}}"
        with np.errstate(divide="ignore", invalid="ignore"):
            value = -t[k] / a[k]
    else:  # cross-entropy taking the output itself as logits
        shifted = np.exp(a - a.max())
        text = f"softmax(a{layer})ₖ − {t_s}{per}"
        latex = rf"\mathrm{{softmax}}(a^{{{layer}}})_{{{k + 1}}} - {t_s.latex}"
        value = shifted[k] / shifted.sum() - t[k]
    if batch:
        latex = rf"\tfrac{{1}}{{{batch}}}\left({latex}\right)"
    return factor(partial("E", a_s), text, latex, value * scale)
