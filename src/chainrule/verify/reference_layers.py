"""The textbook step of a network of typed layers, in plain NumPy: chainrule's second,
independent computation of it.

No autodiff engine and no im2col: each layer's forward and backward pass is written the way
CS231n's naive layers and a course's slides write it, a loop over output (or input) positions
with one small product each::

    conv     out[n,f,i,j] = Σ_{c,u,v} x_pad[n,c, i·s + u·d, j·s + v·d] · w[f,c,u,v] + b[f]
             ∂E/∂w[f,c,u,v] = Σ_{n,i,j} δ[n,f,i,j] · x_pad[n,c, i·s + u·d, j·s + v·d]
             ∂E/∂x_pad = the full convolution of δ (dilated by the stride) with the kernel
                         rotated 180°, cut to the input (the padding's border taken off)
    max pool the gradient to each window's first maximum (PyTorch's rule for ties)
    avg pool δ / (kernel area) to every position of the window (zero padding counted)
    batch norm x̂ = (x − μ)/σ with the biased variance; ∂E/∂x = (ĝ − mean ĝ − x̂·mean(ĝ·x̂))/σ,
             ĝ = γ·δ; the running statistics updated with the unbiased variance
    dropout  x · mask / (1 − p), the engine's mask (the one random draw of the step)
    residual ∂E/∂x = the block's share + the shortcut's

Each backward rule is written in the parts of its kind of node
(:data:`chainrule.verify.alterations.LAYER_KINDS`), so a known layer mistake
(:mod:`chainrule.verify.layer_mistakes`) is this same code with one part chosen otherwise.

Quantities are named by layer path as the engine names modules: ``forward.0`` (the output of
layer 0), ``backward.0`` (∂E/∂ that output), ``gradients.0.weight``, ``gradients.input``,
``buffers.1.running_mean`` (after the step), ``loss``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from chainrule.spec.layered import module_path, output_activation
from chainrule.spec.layered_build import sizes
from chainrule.verify.reference_sequence import SEQUENCE_BACKWARD, SEQUENCE_FORWARD
from chainrule.verify.alterations import CORRECT, Alterations
from chainrule.verify.reference_math import example_losses, output_error

Array = np.ndarray


# --- convolution --------------------------------------------------------------------------------


def _as_2d(x: Array, w: Array, o: dict[str, Any]):
    """A 1-D convolution as a 2-D one of height 1: (x, w, stride, padding, dilation)."""
    d = x.ndim - 2
    stride, pad, dil = (sizes(o[k], d) for k in ("stride", "padding", "dilation"))
    if d == 1:
        return x[:, :, None, :], w[:, :, None, :], (1, *stride), (0, *pad), (1, *dil)
    return x, w, stride, pad, dil


def conv_forward(x: Array, w: Array, b: Array | None, o: dict[str, Any]) -> Array:
    d = x.ndim - 2
    x2, w2, (sh, sw), (ph, pw), (dh, dw) = _as_2d(x, w, o)
    xp = np.pad(x2, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, f, groups = len(x), w.shape[0], o["groups"]
    fg, cg, kh, kw = f // groups, w2.shape[1], w2.shape[2], w2.shape[3]
    ho = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    wo = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, f, ho, wo))
    for i in range(ho):
        for j in range(wo):
            window = xp[:, :, i * sh:i * sh + dh * (kh - 1) + 1:dh,
                        j * sw:j * sw + dw * (kw - 1) + 1:dw]
            for g in range(groups):
                out[:, g * fg:(g + 1) * fg, i, j] = np.tensordot(
                    window[:, g * cg:(g + 1) * cg], w2[g * fg:(g + 1) * fg],
                    axes=([1, 2, 3], [1, 2, 3]))
    if b is not None:
        out += b[None, :, None, None]
    return out[:, :, 0, :] if d == 1 else out


def conv_backward(delta: Array, x: Array, w: Array, o: dict[str, Any],
                  how: Callable[[str], dict[str, Any]]) -> tuple[Array, Array, Array]:
    """(∂E/∂x, ∂E/∂w, ∂E/∂b) from δ = ∂E/∂out."""
    d = x.ndim - 2
    x2, w2, (sh, sw), (ph, pw), (dh, dw) = _as_2d(x, w, o)
    delta2 = delta[:, :, None, :] if d == 1 else delta
    xp = np.pad(x2, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, f, ho, wo = delta2.shape
    groups = o["groups"]
    fg, cg, kh, kw = f // groups, w2.shape[1], w2.shape[2], w2.shape[3]
    # ∂E/∂w: the padded input correlated with δ, one kernel offset (u, v) at a time
    dw_ = np.zeros(w2.shape)
    for u in range(kh):
        for v in range(kw):
            patch = xp[:, :, u * dh:u * dh + sh * (ho - 1) + 1:sh,
                       v * dw:v * dw + sw * (wo - 1) + 1:sw]
            for g in range(groups):
                dw_[g * fg:(g + 1) * fg, :, u, v] = np.tensordot(
                    delta2[:, g * fg:(g + 1) * fg], patch[:, g * cg:(g + 1) * cg],
                    axes=([0, 2, 3], [0, 2, 3]))
    if how("conv_weight_gradient")["kernel"] == "flipped":
        dw_ = dw_[:, :, ::-1, ::-1]
    # ∂E/∂x_pad: δ dilated by the stride, zero-padded by the kernel's reach, convolved with
    # the kernel rotated 180° (correlated with the flipped kernel)
    inputs = how("conv_input_gradient")
    kernel = w2[:, :, ::-1, ::-1] if inputs["kernel"] == "flipped" else w2
    dilated = np.zeros((n, f, (ho - 1) * sh + 1, (wo - 1) * sw + 1))
    dilated[:, :, ::sh, ::sw] = delta2
    eh, ew = dh * (kh - 1), dw * (kw - 1)
    full = np.pad(dilated, ((0, 0), (0, 0), (eh, eh), (ew, ew)))
    dxp = np.zeros(xp.shape)
    for y in range(dilated.shape[2] + eh):  # rows past the last window get nothing
        for z in range(dilated.shape[3] + ew):
            window = full[:, :, y:y + eh + 1:dh, z:z + ew + 1:dw]
            for g in range(groups):
                dxp[:, g * cg:(g + 1) * cg, y, z] = np.tensordot(
                    window[:, g * fg:(g + 1) * fg], kernel[g * fg:(g + 1) * fg],
                    axes=([1, 2, 3], [0, 2, 3]))
    h, width = x2.shape[2], x2.shape[3]
    if inputs["padding"] == "forgotten":
        dx = dxp[:, :, :h, :width]
    else:
        dx = dxp[:, :, ph:ph + h, pw:pw + width]
    db = delta2.sum(axis=(0, 2, 3))
    if d == 1:
        return dx[:, :, 0, :], dw_[:, :, 0, :], db
    return dx, dw_, db


# --- pooling ------------------------------------------------------------------------------------


def _pool_windows(x: Array, o: dict[str, Any], fill: float):
    """(x padded with ``fill`` as 4-D, kernel, stride, padding, output size)."""
    d = x.ndim - 2
    kernel = sizes(o["kernel_size"], d)
    stride = kernel if o["stride"] is None else sizes(o["stride"], d)
    pad = sizes(o["padding"], d)
    if d == 1:
        x, kernel, stride, pad = x[:, :, None, :], (1, *kernel), (1, *stride), (0, *pad)
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])),
                constant_values=fill)
    out = tuple((xp.shape[2 + k] - kernel[k]) // stride[k] + 1 for k in range(2))
    return xp, kernel, stride, pad, out


def pool_forward(kind: str, x: Array, o: dict[str, Any]) -> Array:
    xp, (kh, kw), (sh, sw), _, (ho, wo) = _pool_windows(
        x, o, -np.inf if kind == "max" else 0.0)
    out = np.zeros(xp.shape[:2] + (ho, wo))
    for i in range(ho):
        for j in range(wo):
            window = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            out[:, :, i, j] = window.max(axis=(2, 3)) if kind == "max" else \
                window.sum(axis=(2, 3)) / (kh * kw)
    return out[:, :, 0, :] if x.ndim == 3 else out


def pool_backward(kind: str, delta: Array, x: Array, o: dict[str, Any],
                  how: Callable[[str], dict[str, Any]]) -> Array:
    xp, (kh, kw), (sh, sw), (ph, pw), (ho, wo) = _pool_windows(
        x, o, -np.inf if kind == "max" else 0.0)
    delta2 = delta[:, :, None, :] if x.ndim == 3 else delta
    route = how("pool_gradient")["route"]
    dxp = np.zeros(xp.shape)
    for i in range(ho):
        for j in range(wo):
            window = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            g = delta2[:, :, i, j][:, :, None, None]
            if kind == "avg":
                share = np.full(window.shape, 1.0 / (kh * kw))
            elif route == "spread":
                share = np.ones(window.shape)
            elif route == "every_max":
                share = (window == window.max(axis=(2, 3), keepdims=True)).astype(float)
            else:  # the first maximum in the window's row-major order (np.argmax's too)
                flat = window.reshape(*window.shape[:2], -1)
                share = np.zeros(flat.shape)
                np.put_along_axis(share, flat.argmax(axis=2)[..., None], 1.0, axis=2)
                share = share.reshape(window.shape)
            dxp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += share * g
    h, width = xp.shape[2] - 2 * ph, xp.shape[3] - 2 * pw
    dx = dxp[:, :, ph:ph + h, pw:pw + width]
    return dx[:, :, 0, :] if x.ndim == 3 else dx


# --- batch norm and dropout ---------------------------------------------------------------------


def _channels(x: Array) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """(the axes a channel is normalised over, a channel vector's broadcast shape, m)."""
    axes = (0,) + tuple(range(2, x.ndim))
    return axes, (1, x.shape[1]) + (1,) * (x.ndim - 2), int(np.prod([x.shape[a] for a in axes]))


def norm_forward(x: Array, gamma: Array, beta: Array, eps: float,
                 how: Callable[[str], dict[str, Any]]) -> tuple[Array, dict[str, Array]]:
    axes, shape, m = _channels(x)
    mean = x.mean(axis=axes)
    squares = ((x - mean.reshape(shape)) ** 2).sum(axis=axes)
    unbiased = how("norm")["variance"] == "unbiased"
    variance = squares / (m - 1 if unbiased else m)
    sigma = np.sqrt(variance + eps)
    xhat = (x - mean.reshape(shape)) / sigma.reshape(shape)
    out = gamma.reshape(shape) * xhat + beta.reshape(shape)
    return out, {"mean": mean, "variance": variance, "unbiased_variance": squares / (m - 1),
                 "sigma": sigma, "xhat": xhat, "m": m, "denominator": m - 1 if unbiased else m}


def norm_backward(delta: Array, x: Array, gamma: Array, cache: dict[str, Any],
                  how: Callable[[str], dict[str, Any]]) -> tuple[Array, Array, Array]:
    """(∂E/∂x, ∂E/∂γ, ∂E/∂β): the three-term formula, from ĝ = γ·δ."""
    axes, shape, m = _channels(x)
    xhat, sigma = cache["xhat"], cache["sigma"].reshape(shape)
    ghat = delta * gamma.reshape(shape)
    if how("norm_gradient")["paths"] == "direct":
        dx = ghat / sigma
    else:  # x̂'s own path, the mean's (−mean ĝ) and the variance's (−x̂ · Σ ĝx̂ / denominator)
        dx = (ghat - ghat.mean(axis=axes, keepdims=True)
              - xhat * (ghat * xhat).sum(axis=axes, keepdims=True) / cache["denominator"]) / sigma
    return dx, (delta * xhat).sum(axis=axes), delta.sum(axis=axes)


def dropout_scale(p: float) -> float:
    return 0.0 if p == 1.0 else 1.0 / (1.0 - p)


# --- the network --------------------------------------------------------------------------------


def layered_step(spec, params: dict[str, Array], buffers: dict[str, Array],
                 masks: dict[str, Array], alterations: Alterations = CORRECT) -> dict[str, Array]:
    """Every quantity of the spec's first step (training mode), by name: ``params`` and
    ``buffers`` are the values before it (the engine's state_dict), ``masks`` the dropout
    masks by layer path (``layers[3]``), the one random draw of the step."""
    how = alterations.parts
    x = np.array(spec.inputs if spec.batched else spec.inputs[None], dtype=float)
    targets = spec.targets if spec.batched else spec.targets[None]
    targets = np.asarray(targets)
    t = np.eye(spec.output_size)[targets] if targets.dtype.kind in "iu" else \
        targets.astype(float)
    values: dict[str, Array] = {}
    caches: list[tuple[Any, Array, Array, dict]] = []
    final = _forward(spec.layers, x, params, buffers, masks, how, values, caches)
    activation = output_activation(spec.layers)
    z = caches[-1][1] if activation != "identity" else final  # the last layer's input
    head = _Head(spec.loss, activation)
    n = int(np.prod(final.shape[:-1]))  # the loss's terms: examples (× positions)
    values["loss"] = np.asarray(np.mean(example_losses(head, z, final, t)))
    with np.errstate(divide="ignore", invalid="ignore"):
        dE_da, from_logits = output_error(head, z, final, t)
    grads: dict[str, Array] = {}
    if activation != "identity" and from_logits is not None:
        # the loss is taken from the logits: ∂E/∂z straight, the last layer off the path
        g, start = from_logits / n, len(spec.layers) - 1
    else:
        g, start = dE_da / n, len(spec.layers)
    dx = _backward(spec.layers[:start], g, params, masks, how, values, caches, grads)
    if dx is not None:  # token indices have none
        values["gradients.input"] = dx
    for name in params:
        values[f"gradients.{name}"] = grads.get(name, np.zeros_like(params[name]))
    return values


class _Head:
    """What the loss formulas of :mod:`chainrule.verify.reference_math` read of a spec."""

    def __init__(self, loss: str, activation: str) -> None:
        self.loss, self.activations = loss, (activation,)


def _forward(layers, x: Array, params, buffers, masks, how, values, caches) -> Array:
    for layer in layers:
        name = module_path(layer.path)
        o = layer.options
        cache: dict[str, Any] = {}
        kind = layer.type
        if kind == "Residual":
            main = _forward(layer.block, x, params, buffers, masks, how, values, caches)
            side = x if not layer.shortcut else _forward(layer.shortcut, x, params, buffers,
                                                         masks, how, values, caches)
            out = main + side
        elif kind.startswith("Conv"):
            out = conv_forward(x, params[f"{name}.weight"], params.get(f"{name}.bias"), o)
        elif kind.startswith(("MaxPool", "AvgPool")):
            out = pool_forward("max" if kind.startswith("Max") else "avg", x, o)
        elif kind.startswith("BatchNorm"):
            out, cache = norm_forward(x, params[f"{name}.weight"], params[f"{name}.bias"],
                                      o["eps"], how)
            tracked = buffers[f"{name}.num_batches_tracked"]
            momentum = o["momentum"] if o["momentum"] is not None else 1.0 / (tracked + 1)
            for stat, batch in (("running_mean", cache["mean"]),
                                ("running_var", cache["unbiased_variance"])):
                values[f"buffers.{name}.{stat}"] = ((1 - momentum) * buffers[f"{name}.{stat}"]
                                                    + momentum * batch)
        elif kind == "Dropout":
            mask = masks.get(layer.path)
            out = x if mask is None else x * mask * dropout_scale(o["p"])
        elif kind == "Flatten":
            out = x.reshape((len(x),) + layer.shape)
        elif kind == "Linear":
            out = x @ params[f"{name}.weight"]
            if f"{name}.bias" in params:
                out = out + params[f"{name}.bias"]
        elif kind in SEQUENCE_FORWARD:
            out, cache = SEQUENCE_FORWARD[kind](layer, x, _own(params, name), how)
        else:
            out = _activate(kind, o, x)
        values[f"forward.{name}"] = out
        caches.append((layer, x, out, cache))
        x = out
    return x


def _activate(kind: str, o: dict[str, Any], x: Array) -> Array:
    if kind == "ReLU":
        return np.maximum(x, 0.0)
    if kind == "LeakyReLU":
        return np.where(x > 0, x, o["negative_slope"] * x)
    if kind == "Tanh":
        return np.tanh(x)
    if kind == "Sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * x))  # σ without overflow of e^−x
    if kind == "Softmax":
        shifted = np.exp(x - x.max(axis=o["dim"], keepdims=True))
        return shifted / shifted.sum(axis=o["dim"], keepdims=True)
    raise ValueError(f"reference: no rule for layer type {kind!r}")


def _activation_backward(kind: str, o: dict[str, Any], x: Array, a: Array, g: Array) -> Array:
    if kind == "ReLU":
        return g * (x > 0)
    if kind == "LeakyReLU":
        return np.where(x > 0, g, o["negative_slope"] * g)
    if kind == "Tanh":
        return g * (1.0 - a * a)
    if kind == "Sigmoid":
        return g * a * (1.0 - a)
    if kind == "Softmax":  # the Jacobian a(δᵢⱼ − aⱼ) applied to g
        return a * (g - (g * a).sum(axis=o["dim"], keepdims=True))
    raise ValueError(f"reference: no rule for layer type {kind!r}")


def _backward(layers, g: Array, params, masks, how, values, caches, grads) -> Array:
    """Back through ``layers`` (the last first) from g = ∂E/∂(their output); ∂E/∂(input)."""
    recorded = {id(layer): (inp, out, cache) for layer, inp, out, cache in caches}
    for layer in reversed(layers):
        x, a, cache = recorded[id(layer)]
        name, o, kind = module_path(layer.path), layer.options, layer.type
        values[f"backward.{name}"] = g
        if kind == "Residual":
            main = _backward(layer.block, g, params, masks, how, values, caches, grads)
            side = g if not layer.shortcut else _backward(layer.shortcut, g, params, masks,
                                                          how, values, caches, grads)
            paths = how("residual_gradient")["paths"]
            g = main + side if paths == "summed" else main if paths == "block_only" else side
        elif kind.startswith("Conv"):
            g, grads[f"{name}.weight"], db = conv_backward(g, x, params[f"{name}.weight"], o,
                                                           how)
            if f"{name}.bias" in params:
                grads[f"{name}.bias"] = db
        elif kind.startswith(("MaxPool", "AvgPool")):
            g = pool_backward("max" if kind.startswith("Max") else "avg", g, x, o, how)
        elif kind.startswith("BatchNorm"):
            g, grads[f"{name}.weight"], grads[f"{name}.bias"] = norm_backward(
                g, x, params[f"{name}.weight"], cache, how)
        elif kind == "Dropout":
            mask = masks.get(layer.path)
            if mask is not None:
                rescaled = how("dropout_gradient")["scale"] == "rescaled"
                g = g * mask * (dropout_scale(o["p"]) if rescaled else 1.0)
        elif kind == "Flatten":
            g = g.reshape(x.shape)  # the forward pass was this reshape, undone
        elif kind == "Linear":  # a sequence's positions are more rows, the same W
            rows, deltas = x.reshape(-1, x.shape[-1]), g.reshape(-1, g.shape[-1])
            grads[f"{name}.weight"] = rows.T @ deltas
            if f"{name}.bias" in params:
                grads[f"{name}.bias"] = deltas.sum(axis=0)
            g = g @ params[f"{name}.weight"].T
        elif kind in SEQUENCE_BACKWARD:
            g, own, steps = SEQUENCE_BACKWARD[kind](layer, g, x, _own(params, name), cache,
                                                    how)
            grads.update({f"{name}.{key}": value for key, value in own.items()
                          if f"{name}.{key}" in params})
            values.update({f"inside.{name}.{key}": value for key, value in steps.items()})
            if kind == "LSTM":
                values[f"inside.{name}.c"] = cache["steps"][-1]["c"]
        else:
            g = _activation_backward(kind, o, x, a, g)
    return g


def _own(params: dict[str, Array], name: str) -> dict[str, Array]:
    """A layer's parameters by their own names (``weight_hh_l0``, ``out_proj.weight``)."""
    prefix = f"{name}."
    return {key[len(prefix):]: value for key, value in params.items() if key.startswith(prefix)}
