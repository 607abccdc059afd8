"""The sequence layers' textbook step in plain NumPy: the second, independent computation of
an embedding, a recurrent layer, layer norm, self-attention and a positional encoding
(:mod:`chainrule.verify.reference_layers` calls these, layer by layer).

Written as a course writes them, with no autodiff: a loop over the time steps, forward and
then back, for the recurrent layers (backpropagation through time with its two shares of
∂E/∂h_t: the direct one from step t's output and the recurrent one, W_hhᵀ·δ_(t+1)); a loop
over the heads and the query rows for attention, each row back through the softmax's full
Jacobian; layer norm's three terms over each position's features. Each backward rule is
written in the parts of its kind (:data:`chainrule.verify.alterations.LAYER_KINDS`), so a
known mistake (:mod:`chainrule.verify.layer_mistakes`) is the same code with one part chosen
otherwise. Layouts are a network's: a batch (N, L, features), token indices (N, L).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

Array = np.ndarray
How = Callable[[str], dict[str, Any]]


def _sigmoid(x: Array) -> Array:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


# --- embedding ----------------------------------------------------------------------------------


def embedding_backward(delta: Array, index: Array, rows: int, padding: int | None,
                       how: How) -> Array:
    """∂E/∂W: each position's ∂E/∂y added into its token's row (or, altered, written over)."""
    grad = np.zeros((rows, delta.shape[-1]))
    accumulate = how("embedding_gradient")["repeats"] == "accumulated"
    for position in np.ndindex(*index.shape):
        row = int(index[position])
        if accumulate:
            grad[row] += delta[position]
        else:
            grad[row] = delta[position]
    if padding is not None:
        grad[padding] = 0.0
    return grad


# --- layer norm ---------------------------------------------------------------------------------


def layer_norm_forward(x: Array, gamma: Array, beta: Array | None, k: int, eps: float,
                       how: How) -> tuple[Array, dict[str, Any]]:
    """Each position over its last k axes (or, altered, each feature over the batch and the
    positions: batch norm's axes)."""
    if how("layer_norm")["axis"] == "features":
        axes = tuple(range(x.ndim - k, x.ndim))
    else:
        axes = tuple(range(x.ndim - k))
    mean = x.mean(axis=axes, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    sigma = np.sqrt(variance + eps)
    xhat = (x - mean) / sigma
    out = gamma * xhat + (0.0 if beta is None else beta)
    return out, {"axes": axes, "xhat": xhat, "sigma": sigma, "k": k}


def layer_norm_backward(delta: Array, gamma: Array, cache: dict[str, Any]
                        ) -> tuple[Array, Array, Array]:
    """(∂E/∂x, ∂E/∂γ, ∂E/∂β): ∂E/∂x = (ĝ − mean ĝ − x̂·mean(ĝ·x̂))/σ over the same axes."""
    axes, xhat, sigma = cache["axes"], cache["xhat"], cache["sigma"]
    ghat = delta * gamma
    dx = (ghat - ghat.mean(axis=axes, keepdims=True)
          - xhat * (ghat * xhat).mean(axis=axes, keepdims=True)) / sigma
    lead = tuple(range(delta.ndim - cache["k"]))
    return dx, (delta * xhat).sum(axis=lead), delta.sum(axis=lead)


# --- recurrent layers ---------------------------------------------------------------------------


def _chunk_starts(length: int, truncate: int | None, how: How) -> set[int]:
    """The steps whose incoming state carries no gradient back: every k-th with truncated
    BPTT (k as asked, or one shorter or longer, altered)."""
    mode = how("recurrent_gradient")["truncation"]
    k = truncate
    if mode == "shorter":
        k = (length - 1 if truncate is None else truncate - 1) or None
    elif mode == "longer" and truncate is not None:
        k = truncate + 1
    if not k:
        return set() if mode != "shorter" else set(range(1, length))
    return {t for t in range(1, length) if t % k == 0}


def recurrent_forward(kind: str, x: Array, p: dict[str, Array], layers: int, hidden: int,
                      nonlinearity: str = "tanh") -> tuple[Array, list[dict[str, Array]]]:
    """The output (N, L, H) of the last layer, and each layer's per-step values."""
    caches = []
    for k in range(layers):
        w_ih, w_hh = p[f"weight_ih_l{k}"], p[f"weight_hh_l{k}"]
        b_ih = p.get(f"bias_ih_l{k}", np.zeros(w_ih.shape[0]))
        b_hh = p.get(f"bias_hh_l{k}", np.zeros(w_hh.shape[0]))
        n, length = x.shape[:2]
        h = np.zeros((n, hidden))
        c = np.zeros((n, hidden))
        steps: dict[str, list] = {}
        for t in range(length):
            a = x[:, t] @ w_ih.T + b_ih
            b = h @ w_hh.T + b_hh
            keep = {"x": x[:, t], "h_prev": h, "c_prev": c, "b": b}
            if kind == "RNN":
                z = a + b
                h = np.tanh(z) if nonlinearity == "tanh" else np.maximum(z, 0.0)
                keep["z"] = z
            elif kind == "LSTM":
                z = a + b
                i, f = _sigmoid(z[:, :hidden]), _sigmoid(z[:, hidden:2 * hidden])
                g, o = np.tanh(z[:, 2 * hidden:3 * hidden]), _sigmoid(z[:, 3 * hidden:])
                c = f * c + i * g
                h = o * np.tanh(c)
                keep.update(i=i, f=f, g=g, o=o, c=c)
            else:  # GRU: r, z, n with the reset gate on the hidden projection and its bias
                r = _sigmoid(a[:, :hidden] + b[:, :hidden])
                u = _sigmoid(a[:, hidden:2 * hidden] + b[:, hidden:2 * hidden])
                cand = np.tanh(a[:, 2 * hidden:] + r * b[:, 2 * hidden:])
                h = (1.0 - u) * cand + u * h
                keep.update(r=r, u=u, n=cand)
            keep["h"] = h
            for key, value in keep.items():
                steps.setdefault(key, []).append(value)
        caches.append({key: np.stack(value, axis=1) for key, value in steps.items()})
        x = caches[-1]["h"]
    return x, caches


def recurrent_backward(kind: str, delta: Array, p: dict[str, Array], caches: list[dict],
                       hidden: int, truncate: int | None, how: How, nonlinearity: str = "tanh"
                       ) -> tuple[Array, dict[str, Array], dict[str, Array]]:
    """Backpropagation through time from δ = ∂E/∂output (N, L, H): (∂E/∂x, the gradients,
    the last layer's ∂E/∂h_t at every step and, for an LSTM, its ∂E/∂c_t)."""
    parts = how("recurrent_gradient")
    grads: dict[str, Array] = {}
    inside: dict[str, Array] = {}
    for k in reversed(range(len(caches))):
        cache, w_ih, w_hh = caches[k], p[f"weight_ih_l{k}"], p[f"weight_hh_l{k}"]
        n, length = delta.shape[:2]
        starts = _chunk_starts(length, truncate, how)
        dw_ih, dw_hh = np.zeros(w_ih.shape), np.zeros(w_hh.shape)
        db_ih, db_hh = np.zeros(w_ih.shape[0]), np.zeros(w_hh.shape[0])
        dx = np.zeros(cache["x"].shape)
        dh_next, dc_next = np.zeros((n, hidden)), np.zeros((n, hidden))
        dh_steps, dc_steps = np.zeros((n, length, hidden)), np.zeros((n, length, hidden))
        for t in reversed(range(length)):
            if parts["paths"] == "direct_only":
                dh_next = dc_next = np.zeros((n, hidden))
            dh = delta[:, t] + dh_next  # the direct share and the recurrent one
            da, db, dc_next, dc = _cell_backward(kind, dh, dc_next, cache, t, hidden, how,
                                                 nonlinearity)
            dh_steps[:, t], dc_steps[:, t] = dh, dc
            dw_ih += da.T @ cache["x"][:, t]
            dw_hh += db.T @ cache["h_prev"][:, t]
            db_ih += da.sum(axis=0)
            db_hh += db.sum(axis=0)
            dx[:, t] = da @ w_ih
            dh_next = db @ w_hh + (dh * cache["u"][:, t] if kind == "GRU" else 0.0)
            if t in starts:  # h_(t−1) was detached: nothing crosses into the chunk before
                dh_next, dc_next = np.zeros((n, hidden)), np.zeros((n, hidden))
        scale = 1.0 / length if parts["steps"] == "averaged" else 1.0
        grads.update({f"weight_ih_l{k}": dw_ih * scale, f"weight_hh_l{k}": dw_hh * scale,
                      f"bias_ih_l{k}": db_ih * scale, f"bias_hh_l{k}": db_hh * scale})
        if k == len(caches) - 1:
            inside["dh"] = dh_steps
            if kind == "LSTM":
                inside["dc"] = dc_steps
        delta = dx
    return delta, grads, inside


def _cell_backward(kind: str, dh: Array, dc_next: Array, cache: dict, t: int, hidden: int,
                   how: How, nonlinearity: str) -> tuple[Array, Array, Array]:
    """One step back through the cell: (∂E/∂(x_t·W_ihᵀ + b_ih), ∂E/∂(h_(t−1)·W_hhᵀ + b_hh),
    ∂E/∂c_(t−1), ∂E/∂c_t)."""
    if kind == "RNN":
        h, z = cache["h"][:, t], cache["z"][:, t]
        dz = dh * (1.0 - h ** 2) if nonlinearity == "tanh" else dh * (z > 0)
        return dz, dz, dc_next, dc_next
    if kind == "LSTM":
        parts = how("lstm_gradient")
        i, f, g, o = (cache[name][:, t] for name in "ifgo")
        c, c_prev = cache["c"][:, t], cache["c_prev"][:, t]
        tanh_c = np.tanh(c)
        dc = dh * o * (1.0 - tanh_c ** 2) + dc_next
        df = dc * c_prev if parts["forget_gate"] == "included" else np.zeros_like(dc)
        dz = np.concatenate([dc * g * i * (1 - i), df * f * (1 - f), dc * i * (1 - g ** 2),
                             dh * tanh_c * o * (1 - o)], axis=1)
        carry = dc * f if parts["cell_carry"] == "times_forget" else dc
        return dz, dz, carry, dc
    r, u, cand, h_prev, b = (cache[name][:, t] for name in ("r", "u", "n", "h_prev", "b"))
    dn = dh * (1.0 - u) * (1.0 - cand ** 2)
    du = dh * (h_prev - cand) * u * (1.0 - u)
    dr = dn * b[:, 2 * hidden:] * r * (1.0 - r)
    return (np.concatenate([dr, du, dn], axis=1),
            np.concatenate([dr, du, dn * r], axis=1), dc_next, dc_next)


# --- self-attention -----------------------------------------------------------------------------


def attention_forward(x: Array, p: dict[str, Array], heads: int, causal: bool
                      ) -> tuple[Array, dict[str, Any]]:
    n, length, e = x.shape
    d = e // heads
    w, b = p["in_proj_weight"], p.get("in_proj_bias", np.zeros(3 * e))
    q, k, v = (x @ w[i * e:(i + 1) * e].T + b[i * e:(i + 1) * e] for i in range(3))
    weights = np.zeros((n, heads, length, length))
    concat = np.zeros((n, length, e))
    for h in range(heads):
        cols = slice(h * d, (h + 1) * d)
        for row in range(length):
            scores = np.einsum("nc,nmc->nm", q[:, row, cols], k[:, :, cols]) / np.sqrt(d)
            if causal:
                scores[:, row + 1:] = -np.inf
            shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
            weights[:, h, row] = shifted / shifted.sum(axis=1, keepdims=True)
            concat[:, row, cols] = np.einsum("nm,nmc->nc", weights[:, h, row], v[:, :, cols])
    out = concat @ p["out_proj.weight"].T + p.get("out_proj.bias", np.zeros(e))
    return out, {"q": q, "k": k, "v": v, "weights": weights, "concat": concat, "d": d}


def attention_backward(delta: Array, x: Array, p: dict[str, Array], heads: int,
                       cache: dict[str, Any], how: How
                       ) -> tuple[Array, dict[str, Array], dict[str, Array]]:
    parts = how("attention_gradient")
    n, length, e = x.shape
    d, q, k, v, weights = cache["d"], cache["q"], cache["k"], cache["v"], cache["weights"]
    scale = 1.0 / np.sqrt(d) if parts["scale"] == "kept" else 1.0
    grads = {"out_proj.weight": np.einsum("nlo,nli->oi", delta, cache["concat"]),
             "out_proj.bias": delta.sum(axis=(0, 1))}
    dconcat = delta @ p["out_proj.weight"]
    dq, dk, dv = np.zeros(q.shape), np.zeros(k.shape), np.zeros(v.shape)
    dscores = np.zeros(weights.shape)
    for h in range(heads):
        cols = slice(h * d, (h + 1) * d)
        for row in range(length):
            a = weights[:, h, row]  # (N, S)
            dO = dconcat[:, row, cols]  # (N, d)
            da = np.einsum("nc,nmc->nm", dO, v[:, :, cols])
            dv[:, :, cols] += a[:, :, None] * dO[:, None, :]
            if parts["softmax"] == "jacobian":  # (diag(a) − a·aᵀ)·∂E/∂a
                ds = a * (da - (a * da).sum(axis=1, keepdims=True))
            else:  # the softmax's derivative taken element by element
                ds = a * (1.0 - a) * da
            dscores[:, h, row] = ds
            dq[:, row, cols] += scale * np.einsum("nm,nmc->nc", ds, k[:, :, cols])
            dk[:, :, cols] += scale * ds[:, :, None] * q[:, row, cols][:, None, :]
    w = p["in_proj_weight"]
    grads["in_proj_weight"] = np.concatenate(
        [np.einsum("nlo,nli->oi", g, x) for g in (dq, dk, dv)], axis=0)
    grads["in_proj_bias"] = np.concatenate([g.sum(axis=(0, 1)) for g in (dq, dk, dv)])
    dx = dq @ w[:e] + dk @ w[e:2 * e] + dv @ w[2 * e:]
    per_head = dv.reshape(n, length, heads, d).transpose(0, 2, 1, 3)  # (N, heads, S, d)
    return dx, grads, {"weights": weights, "dscores": dscores, "dv": per_head}


def positions(length: int, width: int) -> Array:
    """sin(p/10000^(2i/d)) and cos(p/10000^(2i/d)) for each position p and pair i."""
    out = np.zeros((length, width))
    for position in range(length):
        for i in range(0, width, 2):
            angle = position / 10000.0 ** (i / width)
            out[position, i] = np.sin(angle)
            if i + 1 < width:
                out[position, i + 1] = np.cos(angle)
    return out


# --- as layers of a spec: (layer, x, its parameters by their own names, how) ------------------
# The step of chainrule.verify.reference_layers calls these by layer type; a forward returns
# (output, cache), a backward (∂E/∂input, gradients by parameter name, inside quantities).


def _recurrent_forward(layer, x, p, how):
    o = layer.options
    out, caches = recurrent_forward(layer.type, x, p, o["num_layers"], o["hidden_size"],
                                    o.get("nonlinearity", "tanh"))
    return (out if o["output"] == "sequence" else out[:, -1]), {"steps": caches}


def _recurrent_backward(layer, g, x, p, cache, how):
    o = layer.options
    if o["output"] == "last":  # only the last step's state reached the loss directly
        delta = np.zeros(cache["steps"][-1]["h"].shape)
        delta[:, -1] = g
    else:
        delta = g
    return recurrent_backward(layer.type, delta, p, cache["steps"], o["hidden_size"],
                              o["truncate"], how, o.get("nonlinearity", "tanh"))


def _layer_norm_forward(layer, x, p, how):
    o = layer.options
    k = 1 if o["normalized_shape"] is None or not isinstance(o["normalized_shape"], tuple) \
        else len(o["normalized_shape"])
    out, cache = layer_norm_forward(x, p["weight"], p.get("bias"), k, o["eps"], how)
    return out, cache


def _layer_norm_backward(layer, g, x, p, cache, how):
    dx, dgamma, dbeta = layer_norm_backward(g, p["weight"], cache)
    return dx, {"weight": dgamma, "bias": dbeta}, {}


def _attention_forward(layer, x, p, how):
    return attention_forward(x, p, layer.options["num_heads"], layer.options["is_causal"])


def _attention_backward(layer, g, x, p, cache, how):
    return attention_backward(g, x, p, layer.options["num_heads"], cache, how)


def _embedding_backward(layer, g, x, p, cache, how):
    o = layer.options
    padding = None if o["padding_idx"] is None else o["padding_idx"] % o["num_embeddings"]
    return None, {"weight": embedding_backward(g, x.astype(np.int64), o["num_embeddings"],
                                               padding, how)}, {}


SEQUENCE_FORWARD = {
    "Embedding": lambda layer, x, p, how: (p["weight"][x.astype(np.int64)], {}),
    "RNN": _recurrent_forward, "LSTM": _recurrent_forward, "GRU": _recurrent_forward,
    "LayerNorm": _layer_norm_forward, "MultiheadAttention": _attention_forward,
    "PositionalEncoding": lambda layer, x, p, how: (x + positions(*x.shape[1:]), {}),
}
SEQUENCE_BACKWARD = {
    "Embedding": _embedding_backward,
    "RNN": _recurrent_backward, "LSTM": _recurrent_backward, "GRU": _recurrent_backward,
    "LayerNorm": _layer_norm_backward, "MultiheadAttention": _attention_backward,
    "PositionalEncoding": lambda layer, g, x, p, cache, how: (g, {}, {}),
}
