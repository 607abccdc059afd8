"""The sequence layers' backward passes, as a course writes them, with the step's numbers:
an embedding's scatter-add, layer norm's three terms, attention's softmax Jacobian and
∂Q, ∂K, ∂V, and a positional encoding; the recurrent layers' backpropagation through time is
in :mod:`recurrent_derivations`.

Every gradient shown is the engine's (found on the recorded graph by its tensor's id:
attention keeps its steps in ``module.record``), and what the explanation writes is
recomputed from the recorded values and checked against it (``matches_engine``).
"""

from __future__ import annotations

import numpy as np

from chainrule.explain.lens.derivation_parts import (
    MAX_TERMS, Focus, _idx, _matrix, _pick, _sum_piece, agrees, checked_table, n, vector,
)
from chainrule.explain.lens.layer_data import Piece
from chainrule.explain.lens.recurrent_derivations import RECURRENT_RULES

MAX_ROWS = 12  # embedding rows listed one by one
ROW_TERMS = 12  # keys of one attention row written out


def _embedding(record, ctx, focus) -> list[Piece]:
    module, path = ctx["module"], record.path
    index = np.asarray(ctx["input"]).astype(np.int64)  # (N, L)
    delta = record.grad if record.grad is not None else np.zeros(record.value.shape)
    grad = ctx["grads"][f"{path}.weight"]
    used = sorted(set(index.reshape(-1).tolist()))
    padding = module.padding_idx
    pieces = [Piece("note", "", [
        f"y[n,l] = W[token[n,l]]: row token of the table W ({module.num_embeddings} × "
        f"{module.embedding_dim}). The backward pass adds each position's ∂E/∂y into its "
        f"token's row (scatter-add): a token that occurs twice gets both gradients, summed, "
        f"and the {module.num_embeddings - len(used)} row(s) no position uses get 0, so the "
        f"update leaves them as they were."
        + (f" Row {padding} is padding: it gets no gradient." if padding is not None else "")])]
    rows, ok = [], True
    for r in used[:MAX_ROWS]:
        where = np.argwhere(index == r)
        ours = np.zeros(module.embedding_dim) if r == padding else \
            sum(delta[tuple(w)] for w in where)
        ok = ok and agrees(ours, grad[r])
        places = ", ".join(f"({int(a)},{int(b)})" if index.shape[0] > 1 else str(int(b))
                           for a, b in where[:6]) + (" …" if len(where) > 6 else "")
        rows.append([str(r), places, vector(ours, 6), vector(grad[r], 6)])
    more = f" (the first {MAX_ROWS} of {len(used)})" if len(used) > MAX_ROWS else ""
    positions = "positions (example, l)" if index.shape[0] > 1 else "positions l"
    pieces.append(checked_table(f"The rows the batch uses{more}: ∂E/∂W[row] = Σ ∂E/∂y over "
                        f"its positions", ["row", positions, "Σ ∂E/∂y", "the engine's"],
                        rows, ok))
    r, c = _pick(grad, f"{path}.weight", focus)
    where = np.argwhere(index == r) if r != padding else np.zeros((0, 2), int)
    terms = [(f"({n(delta[a, b, c])})", float(delta[a, b, c])) for a, b in where]
    pieces.append(_sum_piece(f"∂E/∂W[{r},{c}]: every position of token {r}",
                             f"∂E/∂{path}.weight[{r},{c}] = Σ over the positions of token {r} "
                             f"of ∂E/∂y[·,{c}]", terms, float(grad[r, c]),
                             "" if terms else f"no position uses row {r}"))
    return pieces


def _layer_norm(record, ctx, focus) -> list[Piece]:
    module, path = ctx["module"], record.path
    x, dy, dx = ctx["input"], record.grad, ctx["input_grad"]
    if dy is None or dx is None:
        return []
    k = len(module.normalized_shape)
    size = int(np.prod(module.normalized_shape))
    target = _pick(dx, f"{path}.input", focus)
    row = target[:x.ndim - k]
    xs, gs, dxs = (np.asarray(a[row]).reshape(size) for a in (x, dy, dx))
    gamma = np.ones(size) if module.weight is None else module.weight.data.reshape(size)
    mu, var = xs.mean(), xs.var()
    inv = 1.0 / np.sqrt(var + module.eps)
    xhat = (xs - mu) * inv
    ghat = gamma * gs
    m1, m2 = ghat.mean(), (ghat * xhat).mean()
    ours = (ghat - m1 - xhat * m2) * inv
    where = _idx(row) if row else ""
    pieces = [Piece("note", "", [
        f"Layer norm normalises each position over its own {size} features (the last "
        f"{'axis' if k == 1 else f'{k} axes'}), not over the batch as batch norm does: "
        f"x̂ = (x − μ)/√(σ² + ε), y = γ ⊙ x̂ + β, ε = {module.eps:g}. Its backward pass is "
        f"batch norm's three terms with the axes swapped: ∂E/∂x = (ĝ − mean ĝ − x̂ ⊙ "
        f"mean(ĝ ⊙ x̂)) / √(σ² + ε), ĝ = γ ⊙ ∂E/∂y, the means over the features."]),
        Piece("equation", f"The statistics of x{where}", [
            f"μ = {n(mu)}, σ² = {n(var)} (biased: divided by {size}), "
            f"1/√(σ² + ε) = {n(inv)}",
            f"mean ĝ = {n(m1)}, mean(ĝ ⊙ x̂) = {n(m2)}"])]
    if size <= MAX_TERMS:
        rows = [[str(j), n(xs[j]), n(xhat[j]), n(gamma[j]), n(gs[j]), n(ghat[j]), n(ours[j]),
                 n(dxs[j])] for j in range(size)]
        pieces.append(checked_table(f"∂E/∂x{where}, feature by feature", [
            "j", "x", "x̂", "γ", "∂E/∂y", "ĝ", "(ĝ − mean ĝ − x̂·mean(ĝx̂))/σ", "the engine's"],
            rows, agrees(ours, dxs)))
    else:
        ok = agrees(ours, dxs)
        pieces.append(Piece("note", "", [f"∂E/∂x{where} by the three terms, for all {size} "
                                         f"features: " + ("each equals the engine's" if ok else
                                                          "≠ the engine's")], check=ok))
    if module.weight is not None:
        grad = ctx["grads"][f"{path}.weight"]
        j = _pick(grad, f"{path}.weight", focus)
        lead = x.reshape(-1, size)
        centred = lead - lead.mean(axis=1, keepdims=True)
        xh = centred / np.sqrt(lead.var(axis=1, keepdims=True) + module.eps)
        flat_j = int(np.ravel_multi_index(j, module.normalized_shape))
        g2 = dy.reshape(-1, size)
        terms = [(f"({n(g2[s, flat_j])})({n(xh[s, flat_j])})",
                  float(g2[s, flat_j] * xh[s, flat_j])) for s in range(len(lead))]
        pieces.append(_sum_piece(f"∂E/∂γ{_idx(j)}: over every position of the batch",
                                 f"∂E/∂{path}.weight{_idx(j)} = Σ ∂E/∂y · x̂ (each position's "
                                 f"own x̂)", terms, float(grad[j])))
    return pieces


def _attention(record, ctx, focus) -> list[Piece]:
    wrapper = ctx["module"]
    module, steps, upstream = wrapper.module, ctx["extra"]["record"], ctx["upstream"]

    def value(name):
        return np.asarray(steps[name].data)

    def grad(name):
        g = upstream.get(id(steps[name]))
        return np.zeros(steps[name].shape) if g is None else np.asarray(g)

    q, k, v, weights = value("q"), value("k"), value("v"), value("weights")
    dweights, dlogits = grad("weights"), grad("logits")
    heads, length, d, s = module.num_heads, q.shape[2], module.head_dim, steps["scale"]
    e = module.embed_dim
    # the (head, query) of example 1 whose scores' gradient is largest, or --param's head
    head, query = np.unravel_index(int(np.argmax(np.abs(dlogits[0]).sum(axis=-1))),
                                   dlogits.shape[1:3])
    head, query = int(head), int(query)
    causal = " The mask is causal: a query attends to its own and earlier positions (−∞ " \
             "added above the diagonal, so those weights are 0)." if wrapper.is_causal else ""
    pieces = [Piece("note", "", [
        f"Self-attention with {heads} head(s) of d = {d}: Q = x·W_Qᵀ + b_Q, K and V "
        f"likewise (the rows 0 to {e - 1}, {e} to {2 * e - 1} and {2 * e} to {3 * e - 1} of "
        f"in_proj_weight), split into heads along the features; per head "
        f"S = Q·Kᵀ/√d (1/√d = {n(s)}), A = softmax(S) along each row (over the keys), "
        f"O = A·V; the heads' O side by side, times W_oᵀ plus b_o, is the output." + causal])]
    for h in (range(heads) if length <= 16 else (head,)):  # a long sequence: one head's
        pieces.append(_matrix(f"Attention weights A, head {h}, example 1 (rows: queries, "
                              f"columns: keys)", weights[0, h], "query"))
    a, g = weights[0, head, query], dweights[0, head, query]
    inner = float(a @ g)
    ours = a * (g - inner)  # the row times the softmax's Jacobian diag(a) − a·aᵀ
    keys = range(weights.shape[-1])
    if len(a) <= 16:
        pieces.append(Piece("grid", f"The softmax's Jacobian ∂A[{query},j]/∂S[{query},m] = "
                            f"a_j(δ_jm − a_m), head {head}: diag(a) − a·aᵀ, not only its "
                            f"diagonal", array=np.diag(a) - np.outer(a, a)))
    lines = [f"a = A[{query}] = {vector(a, 16)}, ∂E/∂a = {vector(g, 16)}" if len(a) <= 16
             else f"a = A[{query}], the row's {len(a)} weights, and ∂E/∂a, its gradient:",
             f"Σ_m a_m ∂E/∂a_m = {n(inner)}"]
    shown = list(keys) if len(a) <= ROW_TERMS else \
        sorted(np.argsort(-np.abs(ours), kind="stable")[:ROW_TERMS].tolist())
    lines += [f"∂E/∂S[{query},{j}] = a_{j}(∂E/∂a_{j} − Σ) = ({n(a[j])})({n(g[j])} − "
              f"{n(inner)}) = {n(ours[j])}" for j in shown]
    if len(shown) < len(a):
        lines.append(f"  (the {len(shown)} keys with the largest |∂E/∂S| of {len(a)}; each "
                     f"of the others the same way)")
    agree = agrees(ours, dlogits[0, head, query])
    lines.append(f"  the engine's ∂E/∂S[{query}]: {vector(dlogits[0, head, query], 16)}"
                 + (" (every key's equals the rule's)" if agree and len(a) > 16 else "")
                 + ("" if agree else "  ≠ the row above"))
    pieces.append(Piece("equation", f"Back through the softmax, row {query} of head {head}",
                        lines, check=agree))
    pieces += _qkv(q, k, v, weights, grad, dlogits, head, s, d)
    return pieces


def _qkv(q, k, v, weights, grad, dlogits, head, s, d) -> list[Piece]:
    """∂V = Aᵀ·∂O, ∂Q = ∂S·K/√d and ∂K = ∂Sᵀ·Q/√d of one head, an element of each written
    out (the one with the largest |gradient|), each checked against the engine's."""
    dq, dk, dv, dout = grad("q"), grad("k"), grad("v"), grad("out")
    a, ds = weights[:, head], dlogits[:, head]
    out = []
    for name, engine in (("V", dv), ("Q", dq), ("K", dk)):
        g = engine[:, head]
        b, j, c = (int(i) for i in np.unravel_index(int(np.argmax(np.abs(g))), g.shape))
        if name == "V":
            terms = [(f"({n(a[b, i, j])})({n(dout[b, head, i, c])})",
                      float(a[b, i, j] * dout[b, head, i, c])) for i in range(a.shape[1])]
            text = f"∂E/∂V[{j},{c}] = Σ_i A[i,{j}] · ∂E/∂O[i,{c}]"
            how = "Aᵀ·∂E/∂O"
        elif name == "Q":
            terms = [(f"({n(s)})({n(ds[b, j, m])})({n(k[b, head, m, c])})",
                      float(ds[b, j, m] * k[b, head, m, c] * s)) for m in range(ds.shape[2])]
            text = f"∂E/∂Q[{j},{c}] = (1/√d) Σ_m ∂E/∂S[{j},m] · K[m,{c}], 1/√d = {n(s)}"
            how = "∂E/∂S·K/√d"
        else:
            terms = [(f"({n(s)})({n(ds[b, i, j])})({n(q[b, head, i, c])})",
                      float(ds[b, i, j] * q[b, head, i, c] * s)) for i in range(ds.shape[1])]
            text = f"∂E/∂K[{j},{c}] = (1/√d) Σ_i ∂E/∂S[i,{j}] · Q[i,{c}], 1/√d = {n(s)}"
            how = "∂E/∂Sᵀ·Q/√d"
        out.append(_sum_piece(f"∂E/∂{name} of head {head}, example {b + 1}: {how}", text,
                              terms, float(g[b, j, c])))
    for name, g in (("Q", dq), ("K", dk), ("V", dv)):
        out.append(_matrix(f"∂E/∂{name}, head {head}, example 1 (rows: positions)",
                           g[0, head], "position"))
    return out


def _positional(record, ctx, focus) -> list[Piece]:
    module = ctx["module"]
    length, width = record.shape
    return [Piece("note", "", [
        "y = x + PE with PE[p, 2i] = sin(p/10000^(2i/d)), PE[p, 2i+1] = cos(p/10000^(2i/d)): "
        "a constant, so ∂E/∂x = ∂E/∂y, passed back unchanged."]),
        _matrix("PE (rows: positions)", module.encodings(length, width), "position")]


SEQUENCE_RULES = {"Embedding": _embedding, "LayerNorm": _layer_norm,
                  "MultiheadAttention": _attention, "PositionalEncoding": _positional,
                  **RECURRENT_RULES}
__all__ = ["SEQUENCE_RULES", "Focus"]
