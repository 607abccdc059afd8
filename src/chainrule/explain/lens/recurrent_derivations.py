"""Backpropagation through time, as a course writes it, with the step's numbers: an RNN's,
an LSTM's and a GRU's layer of a network (:mod:`chainrule.explain.lens.layers`).

The recurrent module unrolls itself into the table's operations and keeps its per-step
tensors (``module.record``: each step's x_t, h_{t−1}, the products x_t·W_ihᵀ and
h_{t−1}·W_hhᵀ, the gates, h_t), so every gradient here is found on the recorded graph: the
engine's ∂E/∂h_t, and its two shares — the *direct* one from this step's output and the
*recurrent* one through step t + 1. What a course then writes — δ_t = ∂E/∂h_t ⊙ tanh′(z_t),
the recurrent share W_hhᵀ·δ_{t+1}, the LSTM's cell gradient and gates, ∂E/∂W_hh as a sum over
the steps — is recomputed from the recorded values and checked against the engine's
numbers (``matches_engine``). The first example of the batch is the one tabulated; the sums
over the steps run over the whole batch, as the gradient does.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from chainrule.explain.lens.derivation_parts import (
    LONG_VECTORS, Focus, _pick, _sum_piece, agrees, checked_table, n, vector,
)
from chainrule.explain.lens.layer_data import Piece

SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
STEP_ROWS = 12  # a long sequence's tables show its first and last 12 steps


def _cap(rows: list[list[str]]) -> list[list[str]]:
    """A table of more than 2 × STEP_ROWS steps as its first and last STEP_ROWS, with a row
    saying how many are left out between them (every sum still runs over all of them)."""
    if len(rows) <= 2 * STEP_ROWS:
        return rows
    gap = [f"… {len(rows) - 2 * STEP_ROWS} steps"] + [""] * (len(rows[0]) - 1)
    return rows[:STEP_ROWS] + [gap] + rows[-STEP_ROWS:]


def _t(t: int) -> str:
    """Step t (1-based, as courses count) as a subscript: h₃."""
    return str(t).translate(SUB)


class Steps:
    """The recorded tensors of one layer k of a recurrent module, with their values and the
    engine's gradients (zeros where the engine passed none)."""

    def __init__(self, ctx: dict[str, Any], k: int) -> None:
        self.record, self.upstream, self.shares = ctx["extra"]["record"], ctx["upstream"], \
            ctx["shares"]
        self.k, self.length = k, len(self.record["h"][k])

    def tensors(self, name: str) -> list:
        return self.record[name][self.k]

    def value(self, name: str) -> np.ndarray:
        """(L, N, …) of a recorded tensor's values."""
        return np.stack([np.asarray(t.data) for t in self.tensors(name)])

    def grad(self, name: str) -> np.ndarray:
        return np.stack([self._grad(t) for t in self.tensors(name)])

    def _grad(self, tensor) -> np.ndarray:
        g = self.upstream.get(id(tensor))
        return np.zeros_like(tensor.data) if g is None else np.asarray(g)

    def recurrent_share(self) -> np.ndarray:
        """(L, N, H): the part of ∂E/∂h_t the engine sent back through step t + 1's product
        h_t·W_hhᵀ (zero at the last step)."""
        h, hh = self.tensors("h"), self.tensors("hh")
        out = np.zeros(self.value("h").shape)
        for t in range(self.length - 1):
            nxt = id(hh[t + 1])
            for consumer, g in self.shares.get(id(h[t]), []):
                if consumer == nxt:
                    out[t] += g
        return out


def _carried(module, length: int) -> np.ndarray:
    """(L,): 1 where step t's state is carried back from step t + 1, 0 where it is not —
    the last step, and with truncated BPTT (every k steps) each chunk's end."""
    carried = np.ones(length)
    carried[-1] = 0.0
    if module.truncate:
        carried[[t for t in range(length) if (t + 1) % module.truncate == 0]] = 0.0
    return carried


def _truncation_note(module, length: int) -> list[Piece]:
    if not module.truncate or module.truncate >= length:
        return []
    k = module.truncate
    return [Piece("note", "", [
        f"Truncated to {k} steps: the state is detached before steps "
        f"{', '.join(str(t + 1) for t in range(k, length, k))} (as PyTorch code calls "
        f"h.detach() between chunks of {k}), so no gradient crosses into an earlier chunk: "
        f"the recurrent share there is 0."])]


def _layer_of(module, path: str, focus: Focus | None) -> int:
    if focus is not None and focus.name.startswith(f"{path}."):
        found = re.search(r"_l(\d+)$", focus.name)
        if found and int(found.group(1)) < module.num_layers:
            return int(found.group(1))
    return 0


def _weight(name: str, module, path: str, k: int) -> str:
    return f"{path}.{name}_l{k}"


def _formula_note(kind: str, length: int, nonlinearity: str = "tanh", hidden: int = 1
                  ) -> Piece:
    f = nonlinearity
    lines = {
        "RNN": [f"Unrolled over L = {length} steps: h_t = {f}(x_t·W_ihᵀ + b_ih + h_(t−1)·W_hhᵀ "
                f"+ b_hh), h₀ = 0."],
        "LSTM": [f"Unrolled over L = {length} steps, gates in PyTorch's order i, f, g, o (the "
                 f"rows of W_ih and W_hh, H each): z_t = x_t·W_ihᵀ + b_ih + h_(t−1)·W_hhᵀ + "
                 f"b_hh, i = σ(z_i), f = σ(z_f), g = tanh(z_g), o = σ(z_o); "
                 f"c_t = f ⊙ c_(t−1) + i ⊙ g, h_t = o ⊙ tanh(c_t); h₀ = c₀ = 0."],
        "GRU": [f"Unrolled over L = {length} steps, gates in PyTorch's order r, z, n: "
                f"r = σ(x_t·W_irᵀ + b_ir + h_(t−1)·W_hrᵀ + b_hr), z likewise, "
                f"n = tanh(x_t·W_inᵀ + b_in + r ⊙ (h_(t−1)·W_hnᵀ + b_hn)), "
                f"h_t = (1 − z) ⊙ n + z ⊙ h_(t−1); h₀ = 0."],
    }[kind]
    lines.append("The engine recorded every operation of every step, so its backward pass is "
                 "backpropagation through time: ∂E/∂h_t has a direct part (from step t's own "
                 "output) and a recurrent part (through step t + 1), and each weight's "
                 "gradient is a sum over the steps.")
    if hidden > 4:
        lines.append(LONG_VECTORS)
    return Piece("note", "", lines)


def _state_rows(steps: Steps, delta: np.ndarray, local: np.ndarray) -> list[list[str]]:
    """The backward table's rows of an RNN: per step (last first) the direct and recurrent
    shares of ∂E/∂h_t, their sum, the local derivative and δ_t, for the first example."""
    total, recurrent = steps.grad("h"), steps.recurrent_share()
    direct = total - recurrent
    rows = []
    for t in reversed(range(steps.length)):
        rows.append([str(t + 1), vector(direct[t, 0]), vector(recurrent[t, 0]),
                     vector(total[t, 0]), vector(local[t, 0]), vector(delta[t, 0])])
    return _cap(rows)


def _weight_sums(steps: Steps, module, path: str, k: int, grads: dict, delta: np.ndarray,
                 focus: Focus | None, gates: str) -> list[Piece]:
    """∂E/∂W_hh[r,j] = Σ_t δ_t[r]·h_(t−1)[j] and ∂E/∂W_ih[r,j] = Σ_t δ_t[r]·x_t[j], for the
    element of each with the largest |gradient| (or --param's), and the biases' sum."""
    h_prev, x = steps.value("h_prev"), steps.value("x")
    pieces = []
    batch = delta.shape[1] > 1
    over = "Σₙ Σ_t" if batch else "Σ_t"
    for name, inputs, what in (("weight_hh", h_prev, "h_(t−1)"), ("weight_ih", x, "x_t")):
        full = _weight(name, module, path, k)
        grad = grads[full]
        r, j = _pick(grad, full, focus)
        terms = [(f"({n(delta[t, b, r])})({n(inputs[t, b, j])})",
                  float(delta[t, b, r] * inputs[t, b, j]))
                 for t in range(steps.length) for b in range(delta.shape[1])]
        gate = f"; row {r} is gate {gates[r // module.hidden_size]}'s unit " \
               f"{r % module.hidden_size}" if len(gates) > 1 else ""
        note = "the first step's term is 0: h₀ = 0" if name == "weight_hh" else ""
        pieces.append(_sum_piece(
            f"∂E/∂{name.replace('weight_', 'W_')}[{r},{j}]: a sum over the {steps.length} steps",
            f"∂E/∂{full}[{r},{j}] = {over} δ_t[{r}] · {what}[{j}]{gate}", terms,
            float(grad[r, j]), note))
    if module.bias:
        full = _weight("bias_hh", module, path, k)
        r = _pick(grads[full], full, focus)[0]
        terms = [(f"({n(delta[t, b, r])})", float(delta[t, b, r])) for t in range(steps.length)
                 for b in range(delta.shape[1])]
        pieces.append(_sum_piece(
            f"∂E/∂b_hh[{r}] (and ∂E/∂b_ih[{r}], the same: both are added to z_t)",
            f"∂E/∂{full}[{r}] = {over} δ_t[{r}]", terms, float(grads[full][r])))
    return pieces


def _travel(local: np.ndarray, w: np.ndarray, length: int) -> Piece:
    """How far a gradient travels back: ∂h_L/∂h_t = Π_(s=t+1..L) diag(f′(z_s))·W_hh for the
    first example, each factor's and the product's size (2-norm)."""
    hidden = w.shape[0]
    rows, product = [], np.eye(hidden)
    for t in reversed(range(length - 1)):  # from h_L back to h_1
        factor = local[t + 1, 0][:, None] * w  # ∂h_(t+2)/∂h_(t+1) in 1-based steps
        product = product @ factor
        if hidden == 1:
            rows.append([str(t + 1), f"{n(local[t + 1, 0, 0])} × {n(w[0, 0])} = "
                         f"{n(factor[0, 0])}", n(product[0, 0])])
        else:
            rows.append([str(t + 1), n(float(np.linalg.norm(factor, 2))),
                         n(float(np.linalg.norm(product, 2)))])
    last = _t(length)
    headers = ["t", "f′(z_(t+1))·W_hh (‖·‖₂)" if hidden > 1 else "f′(z_(t+1)) · w_hh",
               f"∂h{last}/∂h_t" + (" (‖·‖₂)" if hidden > 1 else "")]
    return Piece("table", f"How far back a gradient reaches, example 1: ∂h{last}/∂h_t = "
                 f"Π_(s=t+1..{length}) diag(f′(z_s))·W_hh (below 1 it vanishes, above 1 it "
                 f"explodes)", headers=headers, rows=_cap(rows))


def _rnn(record, ctx, focus) -> list[Piece]:
    wrapper = ctx["module"]
    module, path = wrapper.module, record.path
    k = _layer_of(module, path, focus)
    steps = Steps(ctx, k)
    h, z = steps.value("h"), steps.value("z")
    if module.nonlinearity == "tanh":
        local, local_name = 1.0 - h ** 2, "tanh′(z_t) = 1 − h_t²"
    else:
        local, local_name = (z > 0).astype(float), "relu′(z_t) = [z_t > 0]"
    delta = steps.grad("h") * local  # δ_t = ∂E/∂h_t ⊙ f′(z_t)
    pieces = [_formula_note("RNN", steps.length, module.nonlinearity, module.hidden_size)]
    if module.num_layers > 1:
        pieces.append(Piece("note", "", [f"Layer {k} of {module.num_layers} is worked out "
                                         f"(--param {path}.weight_hh_l1 for another)."]))
    x = steps.value("x")
    pieces.append(Piece("table", "Forward through time, example 1", headers=[
        "t", "x_t", "z_t", "h_t"], rows=_cap([[str(t + 1), vector(x[t, 0]), vector(z[t, 0]),
                                               vector(h[t, 0])] for t in range(steps.length)])))
    w_hh = ctx["params"][_weight("weight_hh", module, path, k)].data
    recurrent = np.zeros_like(delta)
    recurrent[:-1] = delta[1:] @ w_hh  # W_hhᵀ·δ_(t+1), as row vectors
    recurrent *= _carried(module, steps.length)[:, None, None]
    pieces += _truncation_note(module, steps.length)
    ok = agrees(recurrent, steps.recurrent_share()) and agrees(delta, steps.grad("z"))
    pieces.append(checked_table(
        "Backward through time, example 1, from the last step: ∂E/∂h_t = direct + recurrent, "
        "δ_t = ∂E/∂h_t ⊙ " + local_name, ["t", "∂E/∂h_t direct", "+ recurrent W_hhᵀ·δ_(t+1)",
                                           "= ∂E/∂h_t", local_name, "δ_t = ∂E/∂z_t"],
        _state_rows(steps, delta, local), ok))
    pieces += _weight_sums(steps, module, path, k, ctx["grads"], delta, focus, "h")
    if steps.length > 1 and not module.truncate:
        pieces.append(_travel(local, w_hh, steps.length))
        pieces.append(_travel_note(w_hh))
    return pieces


def _travel_note(w_hh: np.ndarray) -> Piece:
    radius = float(np.max(np.abs(np.linalg.eigvals(w_hh))))
    norm = float(np.linalg.norm(w_hh, 2))
    return Piece("note", "", [
        f"W_hh has spectral radius {n(radius)} and largest singular value {n(norm)}; with "
        f"|f′| ≤ 1, a norm below 1 makes the gradient from far-off steps shrink "
        f"geometrically (vanishing), and only a norm above 1 lets it grow (exploding)."])


def _lstm(record, ctx, focus) -> list[Piece]:
    wrapper = ctx["module"]
    module, path = wrapper.module, record.path
    k = _layer_of(module, path, focus)
    steps = Steps(ctx, k)
    i, f, g, o = (steps.value(name) for name in "ifgo")
    c, c_prev, tanh_c = steps.value("c"), steps.value("c_prev"), steps.value("tanh_c")
    dh = steps.grad("h")
    # ∂E/∂c_t = ∂E/∂h_t ⊙ o_t ⊙ (1 − tanh² c_t) + ∂E/∂c_(t+1) ⊙ f_(t+1), from the last step
    via_h, via_c = dh * o * (1.0 - tanh_c ** 2), np.zeros_like(c)
    dc = np.zeros_like(c)
    carried = _carried(module, steps.length)
    for t in reversed(range(steps.length)):
        if carried[t]:
            via_c[t] = dc[t + 1] * f[t + 1]
        dc[t] = via_h[t] + via_c[t]
    gates = {"i": dc * g, "f": dc * c_prev, "g": dc * i, "o": dh * tanh_c}
    local = {"i": i * (1 - i), "f": f * (1 - f), "g": 1 - g ** 2, "o": o * (1 - o)}
    delta = np.concatenate([gates[name] * local[name] for name in "ifgo"], axis=-1)
    pieces = [_formula_note("LSTM", steps.length, hidden=module.hidden_size),
              *_truncation_note(module, steps.length)]
    h_all = steps.value("h")
    pieces.append(Piece("table", "Forward through time, example 1: the gates and the cell",
                        headers=["t", "i", "f", "g", "o", "c_t", "h_t"],
                        rows=_cap([[str(t + 1), *(vector(v[t, 0]) for v in (i, f, g, o, c)),
                                    vector(h_all[t, 0])] for t in range(steps.length)])))
    engine_dc = steps.grad("c")
    pieces.append(checked_table("The cell's gradient through time, example 1, from the last "
                        "step: ∂E/∂c_t = ∂E/∂h_t ⊙ o_t ⊙ (1 − tanh² c_t) + ∂E/∂c_(t+1) ⊙ "
                        "f_(t+1)", ["t", "∂E/∂h_t", "via h_t", "+ via c_(t+1)",
                                            "= ∂E/∂c_t"],
                        _cap([[str(t + 1), vector(dh[t, 0]), vector(via_h[t, 0]),
                                    vector(via_c[t, 0]), vector(dc[t, 0])]
                                   for t in reversed(range(steps.length))]),
                        agrees(dc, engine_dc)))
    engine_gates = {name: steps.grad(name) for name in "ifgo"}
    engine_delta = steps.grad("z")
    ok = all(agrees(gates[name], engine_gates[name]) for name in "ifgo") and \
        agrees(delta, engine_delta)
    h = module.hidden_size
    pieces.append(checked_table(
        "The gates' gradients, example 1, each → its δ (the gradient of its pre-activation "
        "z): ∂E/∂i = ∂E/∂c ⊙ g, ∂E/∂f = ∂E/∂c ⊙ c_(t−1), ∂E/∂g = ∂E/∂c ⊙ i, ∂E/∂o = ∂E/∂h "
        "⊙ tanh(c); δ = ∂E/∂(gate) ⊙ σ′ = a(1 − a), or ⊙ tanh′ = 1 − g² for g",
        ["t", "∂E/∂i → δ_i", "∂E/∂f → δ_f", "∂E/∂g → δ_g", "∂E/∂o → δ_o"],
        _cap([[str(t + 1), *(f"{vector(gates[name][t, 0])} → "
                             f"{vector(delta[t, 0, q * h:(q + 1) * h])}"
                             for q, name in enumerate("ifgo"))]
              for t in reversed(range(steps.length))]), ok))
    pieces += _weight_sums(steps, module, path, k, ctx["grads"], delta, focus, "ifgo")
    if steps.length > 1 and not module.truncate:
        rows, product = [], np.ones_like(f[0, 0])
        for t in reversed(range(steps.length - 1)):
            product = product * f[t + 1, 0]
            rows.append([str(t + 1), vector(f[t + 1, 0]), vector(product)])
        last = _t(steps.length)
        pieces.append(Piece("table", f"The cell path back in time, example 1: ∂c{last}/∂c_t "
                            f"along it is Π f_s, the forget gates (no W_hh, no tanh′: the "
                            f"path an LSTM keeps open)", headers=["t", "f_(t+1)",
                                                                  f"Π f (∂c{last}/∂c_t)"],
                            rows=_cap(rows)))
    return pieces


def _gru(record, ctx, focus) -> list[Piece]:
    wrapper = ctx["module"]
    module, path = wrapper.module, record.path
    k = _layer_of(module, path, focus)
    steps = Steps(ctx, k)
    r, z, n_, h_prev = (steps.value(name) for name in ("r", "z", "n", "h_prev"))
    dh = steps.grad("h")
    gates = {"n": dh * (1 - z), "z": dh * (h_prev - n_)}
    pieces = [_formula_note("GRU", steps.length, hidden=module.hidden_size),
              *_truncation_note(module, steps.length)]
    h_all = steps.value("h")
    pieces.append(Piece("table", "Forward through time, example 1: the gates", headers=[
        "t", "r", "z", "n", "h_t"], rows=_cap([[str(t + 1), vector(r[t, 0]), vector(z[t, 0]),
                                                vector(n_[t, 0]), vector(h_all[t, 0])]
                                               for t in range(steps.length)])))
    pieces.append(checked_table("Backward, example 1: ∂E/∂n = ∂E/∂h_t ⊙ (1 − z), ∂E/∂z = "
                        "∂E/∂h_t ⊙ (h_(t−1) − n); h_(t−1) also gets ∂E/∂h_t ⊙ z directly",
                        ["t", "∂E/∂h_t", "∂E/∂n", "∂E/∂z", "∂E/∂h_t ⊙ z"],
                        _cap([[str(t + 1), vector(dh[t, 0]), vector(gates["n"][t, 0]),
                                    vector(gates["z"][t, 0]), vector((dh * z)[t, 0])]
                                   for t in reversed(range(steps.length))]),
                        agrees(gates["n"], steps.grad("n"))
                        and agrees(gates["z"], steps.grad("z"))))
    # each weight's gradient: the engine's ∂E/∂(h_(t−1)·W_hhᵀ) at every step, summed
    delta_hh, delta_ih = steps.grad("hh"), steps.grad("ih")
    pieces += _gru_sums(steps, module, path, k, ctx["grads"], delta_hh, delta_ih, focus)
    return pieces


def _gru_sums(steps, module, path, k, grads, delta_hh, delta_ih, focus) -> list[Piece]:
    out = []
    for name, delta, inputs, what in (
            ("weight_hh", delta_hh, steps.value("h_prev"), "h_(t−1)"),
            ("weight_ih", delta_ih, steps.value("x"), "x_t")):
        full = _weight(name, module, path, k)
        r, j = _pick(grads[full], full, focus)
        terms = [(f"({n(delta[t, b, r])})({n(inputs[t, b, j])})",
                  float(delta[t, b, r] * inputs[t, b, j]))
                 for t in range(steps.length) for b in range(delta.shape[1])]
        gate = "rzn"[r // module.hidden_size]
        out.append(_sum_piece(f"∂E/∂{name.replace('weight_', 'W_')}[{r},{j}]: a sum over the "
                              f"{steps.length} steps", f"∂E/∂{full}[{r},{j}] = Σ_t "
                              f"∂E/∂({what}·Wᵀ)[{r}] · {what}[{j}]; row {r} is gate {gate}'s "
                              f"unit {r % module.hidden_size}", terms, float(grads[full][r, j])))
    return out


RECURRENT_RULES = {"RNN": _rnn, "LSTM": _lstm, "GRU": _gru}
