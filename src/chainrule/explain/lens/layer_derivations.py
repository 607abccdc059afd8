"""Each layer's backward pass as a course writes it, with the step's numbers.

For every layer type, :func:`derive` returns the pieces (equations, tables, grids, notes) of
its explanation, computed from the values and gradients the engine recorded (see
:mod:`chainrule.explain.lens.layers`). Where the explanation sums terms — one kernel weight's
gradient as the correlation of the input with δ, one input element's as the full convolution
of δ with the flipped kernel, one batch-norm input's three terms — the sum is compared with
the engine's number, and the piece says whether they agree (``matches_engine``): two
independent computations of the same gradient, side by side.

The element explained is the one with the largest |gradient| (the first of ties, in
row-major order), unless ``--param`` names one (``0.weight[1,0,2,2]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.explain.lens.derivation_parts import (  # noqa: F401 (Focus: named here too)
    CHANNEL_LIMIT, GRID_LIMIT, MAX_TERMS, Focus, _grids, _idx, _matrix, _pick, _sum_piece, n,
)
from chainrule.explain.lens.layer_data import Piece
from chainrule.explain.lens.sequence_derivations import SEQUENCE_RULES

def derive(record, ctx: dict[str, Any], focus: Focus | None) -> list[Any]:
    rule = _RULES.get(record.type)
    pieces = rule(record, ctx, focus) if rule is not None else []
    return pieces


def _conv(record, ctx, focus) -> list[Any]:
    module, x, delta = ctx["module"], ctx["input"], record.grad
    path = record.path
    weight, grads = ctx["params"][f"{path}.weight"], ctx["grads"]
    w = weight.data
    d = module.d
    kernel = module.kernel_size
    stride = _tuple(module.stride, d)
    pad = _tuple(module.padding, d)
    dil = _tuple(module.dilation, d)
    groups = module.groups
    per_group_in = w.shape[1]
    per_group_out = w.shape[0] // groups
    pieces = [Piece("note", "", [
        f"δ = ∂E/∂(output) of {record.description}, shape {tuple(delta.shape)}; "
        f"the output is the cross-correlation out[n,o,p] = b[o] + Σ_c Σ_k W[o,c,k]·"
        f"x[n,c, s·p + d·k − pad] (stride {stride}, padding {pad})."])]
    # one weight: the input correlated with δ
    gw = grads[f"{path}.weight"]
    o, c, *k = _pick(gw, f"{path}.weight", focus)
    cin = (o // per_group_out) * per_group_in + c
    terms, padded = [], 0
    for idx in np.ndindex(delta.shape[0], *delta.shape[2:]):
        sample, pos = idx[0], idx[1:]
        where = [p * s + kk * dl - pd for p, s, kk, dl, pd in zip(pos, stride, k, dil, pad)]
        if any(not 0 <= v < size for v, size in zip(where, x.shape[2:])):
            padded += 1
            continue
        xv = x[(sample, cin, *where)]
        g = delta[(sample, o, *pos)]
        terms.append((f"({n(xv)})({n(g)})", float(xv * g)))
    skipped = f"{padded} window(s) where this weight meets the zero padding add 0" if padded else ""
    pieces.append(_sum_piece(
        f"∂E/∂W{_idx((o, c, *k))}: the input correlated with δ",
        f"∂E/∂W{_idx((o, c, *k))} = Σₙ Σ_{''.join('pq'[:d])} x[n,{cin},"
        f"{_window(stride, k, dil, pad)}] · δ[n,{o},{','.join('pq'[:d])}]", terms, float(gw[(o, c, *k)]), skipped))
    if f"{path}.bias" in grads:
        gb = grads[f"{path}.bias"]
        ob = _pick(gb, f"{path}.bias", focus)[0]
        values = delta[:, ob].reshape(-1)
        pieces.append(_sum_piece(f"∂E/∂b[{ob}]: δ summed over the batch and positions",
                                 f"∂E/∂b[{ob}] = Σₙ Σₚ δ[n,{ob},p]",
                                 [(f"({n(v)})", float(v)) for v in values], float(gb[ob])))
    # one input element: the full convolution of δ with the flipped kernel
    in_grad = ctx["input_grad"]
    if in_grad is not None:
        name = f"{path}.input"
        target = _pick(in_grad, name, focus)
        sample, ch, *where = target
        group = ch // per_group_in
        terms = []
        for oo in range(group * per_group_out, (group + 1) * per_group_out):
            for kk in np.ndindex(*kernel):
                pos = []
                for h, kv, s, dl, pd, out_size in zip(where, kk, stride, dil, pad,
                                                      delta.shape[2:]):
                    q, r = divmod(h + pd - kv * dl, s)
                    pos.append(q if r == 0 and 0 <= q < out_size else None)
                if None in pos:
                    continue
                wv = w[(oo, ch - group * per_group_in, *kk)]
                g = delta[(sample, oo, *pos)]
                terms.append((f"({n(wv)})({n(g)})", float(wv * g)))
        pieces.append(_sum_piece(
            f"∂E/∂x{_idx(target)}: δ fully convolved with the flipped kernel",
            f"∂E/∂x{_idx(target)} = Σₒ Σₖ W[o,{ch - group * per_group_in},k] · "
            f"δ[{sample},o,(i + pad − k)/s]  (over the windows that hold x{_idx(target)})",
            terms, float(in_grad[target])))
        if d == 2 and max(kernel) <= GRID_LIMIT:
            flipped = w[o, c, ::-1, ::-1]
            pieces.append(Piece("grid", f"the kernel W[{o},{c}] flipped (rotated 180°), as "
                                        f"∂E/∂x slides it over δ", array=np.array(flipped)))
        pieces += _grids("∂E/∂x of example 1", np.asarray(in_grad[0]), "the layer's input")
    if d == 2 and max(kernel) <= GRID_LIMIT and w.shape[0] * w.shape[1] <= CHANNEL_LIMIT:
        for oo in range(w.shape[0]):
            for cc in range(w.shape[1]):
                pieces.append(Piece("grid", f"∂E/∂W[{oo},{cc}]", array=np.array(gw[oo, cc])))
    pieces += _grids("δ of example 1", np.asarray(delta[0]), "∂E/∂output")
    return pieces


def _window(stride, k, dil, pad) -> str:
    """The input index a kernel element meets at output position (p, q): ``2p+1,2q``."""
    parts = []
    for letter, s, kk, dl, pd in zip("pq", stride, k, dil, pad):
        shift = kk * dl - pd
        term = f"{s}{letter}" if s != 1 else letter
        parts.append(term + (f"+{shift}" if shift > 0 else f"−{-shift}" if shift < 0 else ""))
    return ",".join(parts)


def _tuple(value, d: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * d


def _max_pool(record, ctx, focus) -> list[Any]:
    from chainrule.autodiff.ops_pool import pool_geometry
    module = ctx["module"]
    x, delta, in_grad = ctx["input"], record.grad, ctx["input_grad"]
    kernel, stride, pad, out = pool_geometry(x.shape[2:], module.kernel_size, module.stride,
                                             module.padding, module.name)
    rows, ties = [], 0
    for idx in np.ndindex(x.shape[0], x.shape[1], *out):
        sample, ch, pos = idx[0], idx[1], idx[2:]
        starts = [p * s - pd for p, s, pd in zip(pos, stride, pad)]
        window = tuple(slice(max(st, 0), min(st + k, size))
                       for st, k, size in zip(starts, kernel, x.shape[2:]))
        values = x[(sample, ch, *window)]
        flat = values.reshape(-1)
        best = int(np.argmax(flat))  # NumPy's argmax: the first of tied maxima, as PyTorch
        tied = int(np.sum(flat == flat[best]))
        ties += tied > 1
        local = np.unravel_index(best, values.shape)
        winner = tuple(w.start + i for w, i in zip(window, local))
        if len(rows) < MAX_TERMS:
            rows.append([f"{sample + 1}", str(ch), _idx(pos), _idx(winner), n(flat[best]),
                         f"{tied}" if tied > 1 else "", n(delta[(sample, ch, *pos)])])
    total = int(np.prod(out)) * x.shape[0] * x.shape[1]
    pieces = [Piece("note", "", [
        f"Each window's gradient goes to the input that was its maximum; the other inputs of "
        f"the window get 0. Of tied maxima, the first in row-major order gets it (PyTorch's "
        f"rule); {ties} window(s) here had a tie."]),
        Piece("table", "where each window's δ went" + (
            f" (the first {MAX_TERMS} of {total})" if total > MAX_TERMS else ""),
            headers=["example", "channel", "window", "max at", "max", "tied", "δ routed"],
            rows=rows)]
    if in_grad is not None:
        pieces += _grids("∂E/∂input of example 1 (zero except at the maxima)",
                         np.asarray(in_grad[0]), "the pool's input")
    return pieces


def _avg_pool(record, ctx, focus) -> list[Any]:
    module = ctx["module"]
    kernel = _tuple(module.kernel_size, ctx["input"].ndim - 2)
    size = int(np.prod(kernel))
    pieces = [Piece("note", "", [
        f"Each output is the mean of its {size} inputs, so each input of a window gets "
        f"δ/{size} from it (added over the windows that hold it; padding counts in the mean, "
        f"as PyTorch's count_include_pad)."])]
    if ctx["input_grad"] is not None:
        pieces += _grids("∂E/∂input of example 1", np.asarray(ctx["input_grad"][0]),
                         "the pool's input")
    return pieces


def _batch_norm(record, ctx, focus) -> list[Any]:
    module, x, dy = ctx["module"], ctx["input"], record.grad
    path = record.path
    axes = (0,) + tuple(range(2, x.ndim))
    m = int(np.prod([x.shape[a] for a in axes]))
    mean = x.mean(axis=axes)
    var = x.var(axis=axes)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    inv = 1.0 / np.sqrt(var + module.eps)
    xhat = (x - mean.reshape(shape)) * inv.reshape(shape)
    gamma = ctx["params"][f"{path}.weight"].data
    sum_g = dy.sum(axis=axes)
    sum_gx = (dy * xhat).sum(axis=axes)
    rows = [[str(c), n(mean[c]), n(var[c]), n(var[c] * m / max(m - 1, 1)), n(gamma[c]),
             n(sum_g[c]), n(sum_gx[c])] for c in range(x.shape[1])]
    pieces = [
        Piece("note", "", [
            f"Training mode: each channel is normalised with its batch mean μ and biased "
            f"variance σ² over the m = {m} values it has in the batch, "
            f"x̂ = (x − μ)/√(σ² + ε) with ε = {module.eps:g}, and y = γ·x̂ + β. The running "
            f"statistics are updated with the unbiased variance σ²·m/(m − 1)."]),
        Piece("table", "the batch's statistics, per channel", headers=[
            "channel", "μ", "σ² (biased)", "σ² (unbiased)", "γ", "Σ ∂E/∂y = ∂E/∂β",
            "Σ ∂E/∂y·x̂ = ∂E/∂γ"], rows=rows),
        Piece("equation", "the three-term gradient", [
            "∂E/∂x = γ / (m·√(σ² + ε)) · (m·∂E/∂y − Σ ∂E/∂y − x̂·Σ(∂E/∂y·x̂))",
            "  (the direct path, the path through μ, the path through σ²)"])]
    if ctx["input_grad"] is not None:
        target = _pick(ctx["input_grad"], f"{path}.input", focus)
        c = target[1]
        g = dy[target]
        scale = gamma[c] * inv[c] / m
        value = scale * (m * g - sum_g[c] - xhat[target] * sum_gx[c])
        engine = float(ctx["input_grad"][target])
        agree = bool(np.isclose(value, engine, rtol=1e-9, atol=1e-12))
        pieces.append(Piece("equation", f"∂E/∂x{_idx(target)} with the batch's numbers", [
            f"∂E/∂x{_idx(target)} = {n(gamma[c])} / ({m}·√({n(var[c])} + {module.eps:g})) · "
            f"({m}·({n(g)}) − ({n(sum_g[c])}) − ({n(xhat[target])})·({n(sum_gx[c])}))",
            f"  = {n(value)}",
            f"  the engine's value: {n(engine)}" + ("" if agree else "  ≠ the formula")],
            check=agree))
        pieces.append(_staged_norm(x, dy, target, float(gamma[c]),
                                   float(ctx["params"][f"{path}.bias"].data[c]), module.eps,
                                   engine))
    before, after = ctx["buffers_before"], ctx["buffers_after"]
    key = f"{path}.running_mean"
    if key in before:
        momentum = module.momentum if module.momentum is not None else "1/(batches + 1)"
        pieces.append(Piece("table", f"running statistics (momentum {momentum})", headers=[
            "channel", "running μ before", "after", "running σ² before", "after"],
            rows=[[str(c), n(before[key][c]), n(after[key][c]),
                   n(before[f"{path}.running_var"][c]), n(after[f"{path}.running_var"][c])]
                  for c in range(x.shape[1])]))
    return pieces


def _staged_norm(x: np.ndarray, dy: np.ndarray, target: tuple[int, ...], gamma: float,
                 beta: float, eps: float, fused: float) -> Piece:
    """Batch norm of the target's channel as elementary steps (makemore's staged graph), each
    node's value and gradient from the engine's backward pass over those steps, with the
    upstream ∂E/∂y of the step: its ∂E/∂x is checked against the fused rule's."""
    from chainrule.autodiff import engine
    from chainrule.autodiff.tensor import Tensor

    c = target[1]
    rest = (target[0],) + tuple(target[2:])
    values = np.moveaxis(x, 1, 0)[c]  # the channel's m values, in (n, positions) order
    j = int(np.ravel_multi_index(rest, values.shape))
    xs = Tensor(values.reshape(-1).copy(), requires_grad=True)
    mu = xs.mean()
    d = xs - mu
    d2 = d * d
    var = d2.mean()
    r = 1.0 / (var + eps).sqrt()
    xhat = d * r
    y = xhat * gamma + beta
    seen: list[engine.BackwardStep] = []
    engine.backward((y * np.moveaxis(dy, 1, 0)[c].reshape(-1)).sum(), observer=seen.append)
    grads = {id(step.tensor): step.upstream for step in seen}

    def at(t: Tensor, vector: bool) -> tuple[str, str]:
        value, grad = np.asarray(t.data), np.asarray(grads.get(id(t), 0.0))
        if vector:
            return n(float(value[j])), n(float(grad[j]))
        return n(float(value)), n(float(grad))

    k = f"[{j}]"
    rows = [[name, how, *at(t, vector)] for name, how, t, vector in (
        ("μ", "mean(x)", mu, False), (f"d{k}", f"x{k} − μ", d, True),
        (f"d²{k}", f"d{k}·d{k}", d2, True), ("σ²", "mean(d²)", var, False),
        ("r", "1/√(σ² + ε)", r, False), (f"x̂{k}", f"d{k}·r", xhat, True),
        (f"y{k}", f"γ·x̂{k} + β", y, True))]
    staged = float(np.asarray(xs.grad)[j])
    agree = bool(np.isclose(staged, fused, rtol=1e-9, atol=1e-12))
    rows.append([f"x{k}", "the input", n(float(values.reshape(-1)[j])),
                 n(staged) + ("" if agree else " ≠ the three-term value")])
    return Piece("table", f"the staged graph of channel {c} (element {j} of its {values.size}"
                          f" values is x{_idx(target)}): each step's ∂E/∂ from the engine's "
                          "backward pass over the steps, ∂E/∂x the same as the three terms'",
                 headers=["node", "computed as", "value", "∂E/∂node"], rows=rows, check=agree)


def _dropout(record, ctx, focus) -> list[Any]:
    mask = ctx["extra"].get("mask")
    p = ctx["module"].p
    if mask is None:
        return [Piece("note", "", [f"p = {p:g}: nothing dropped, y = x and ∂E/∂x = ∂E/∂y."])]
    kept = int(mask.sum())
    pieces = [Piece("note", "", [
        f"Inverted dropout with p = {p:g}: the mask keeps {kept} of {mask.size} values and "
        f"each kept one is scaled by 1/(1 − p) = {n(1 / (1 - p))}. The backward pass reuses "
        f"the same mask: ∂E/∂x = mask · ∂E/∂y / (1 − p)."])]
    pieces += _grids("the mask of example 1 (1 kept, 0 dropped)",
                     np.asarray(mask[0], dtype=float), "kept")
    return pieces


def _residual(record, ctx, focus) -> list[Any]:
    shortcut = "shortcut(x)" if ctx["spec"].shortcut else "x"
    pieces = [Piece("note", "", [
        f"y = block(x) + {shortcut}: the sum passes ∂E/∂y unchanged to both, and x's "
        f"gradient is the sum of the two paths' shares, as the engine added them."])]
    in_grad, parts = ctx["input_grad"], ctx["input_shares"]
    if in_grad is not None and parts:
        target = _pick(in_grad, f"{record.path}.input", focus)
        side = "the shortcut" if ctx["spec"].shortcut else "the identity"
        parts = sorted(parts, key=lambda item: item[0] != "the block")  # as the sum is written
        terms = [(f"({n(part[target])}) via {side if name == 'the shortcut' else name}",
                  float(part[target])) for name, part in parts]
        pieces.append(_sum_piece(f"∂E/∂x{_idx(target)}: the two paths",
                                 f"∂E/∂x{_idx(target)} = the block's share + the "
                                 f"{'shortcut' if ctx['spec'].shortcut else 'identity'}'s",
                                 terms, float(in_grad[target])))
    return pieces


def _linear(record, ctx, focus) -> list[Any]:
    path, x, delta = record.path, ctx["input"], record.grad
    if delta is None:
        return []
    gw = ctx["grads"][f"{path}.weight"]
    i, j = _pick(gw, f"{path}.weight", focus)
    sequence = x.ndim == 3  # (N, L, F): the same W at every position
    flat_x, flat_d = x.reshape(-1, x.shape[-1]), delta.reshape(-1, delta.shape[-1])
    terms = [(f"({n(flat_x[s, i])})({n(flat_d[s, j])})", float(flat_x[s, i] * flat_d[s, j]))
             for s in range(flat_x.shape[0])]
    if sequence:
        title = f"∂E/∂W[{i},{j}]: input times δ, summed over the batch and the positions"
        lhs = f"∂E/∂W[{i},{j}] = Σₙ Σₗ a[n,l,{i}] · δ[n,l,{j}]   (the same W at every position)"
    else:
        title = f"∂E/∂W[{i},{j}]: input times δ, summed over the batch"
        lhs = f"∂E/∂W[{i},{j}] = Σₙ a[n,{i}] · δ[n,{j}]   (W is (in, out): z = a·W + b)"
    pieces = [_sum_piece(title, lhs, terms, float(gw[i, j]))]
    what = "δ = ∂E/∂z of example 1" + (" (rows: positions)" if sequence else "")
    pieces += _grids(what, np.asarray(delta[0]), "per unit") if not sequence else \
        [_matrix(what, np.asarray(delta[0]), "position")]
    return pieces


def _activation(record, ctx, focus) -> list[Any]:
    from chainrule.tables.activations import ACTIVATION_TABLE

    if ctx["last"]:
        return [Piece("note", "", ["The output layer: the loss is taken from the logits "
                                   "before it (see the loss above)."])]
    g, x = record.grad, ctx["input"]
    in_grad = ctx["input_grad"]
    name = ctx["module"].table_name
    entry = ACTIVATION_TABLE[name]
    if g is None or in_grad is None:
        return []
    target = _pick(in_grad, f"{record.path}.input", focus)
    params = dict(entry.params)
    if name == "leaky_relu":
        params = {key: ctx["module"].negative_slope for key in params}
    z, a = x[target], record.value[target]
    local = float(entry.derivative(np.asarray(z), np.asarray(a), **params))
    formula = entry.text(entry.derivative_text, a=n(a), z=n(z))
    value = local * g[target]
    agree = bool(np.isclose(value, in_grad[target], rtol=1e-9, atol=1e-12))
    return [Piece("equation", f"{record.type}: elementwise, ∂E/∂z = f′(z) · ∂E/∂a", [
        f"∂E/∂z{_idx(target)} = f′(z) · ∂E/∂a = ({formula}) · ({n(g[target])})",
        f"  = ({n(local)})({n(g[target])}) = {n(value)}   at z = {n(z)}",
        f"  the engine's value: {n(in_grad[target])}" + ("" if agree else "  ≠ the product")],
        check=agree)]


def _flatten(record, ctx, focus) -> list[Any]:
    return [Piece("note", "", [f"Flatten only reorders: (C, H, W) → {record.shape}, row-major; "
                               "∂E/∂x is ∂E/∂y laid back out in the input's shape."])]


_RULES = {
    "Conv1d": _conv, "Conv2d": _conv, "MaxPool1d": _max_pool, "MaxPool2d": _max_pool,
    "AvgPool1d": _avg_pool, "AvgPool2d": _avg_pool, "BatchNorm1d": _batch_norm,
    "BatchNorm2d": _batch_norm, "Dropout": _dropout, "Residual": _residual,
    "Linear": _linear, "ReLU": _activation, "Tanh": _activation, "Sigmoid": _activation,
    "LeakyReLU": _activation, "Softmax": _activation, "Flatten": _flatten,
    **SEQUENCE_RULES,
}
