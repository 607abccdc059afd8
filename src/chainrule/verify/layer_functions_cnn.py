"""The convolutional layers of CS231n's second assignment as ``verify --layer`` judges them.

Signatures and conventions are the assignment's (``cs231n/layers.py``), not PyTorch's:

* ``conv_forward_naive(x, w, b, conv_param)`` with ``conv_param = {"stride", "pad"}``, and
  ``conv_backward_naive(dout, cache) -> (dx, dw, db)``;
* ``max_pool_forward_naive(x, pool_param)`` with ``{"pool_height", "pool_width", "stride"}``,
  and ``max_pool_backward_naive(dout, cache) -> dx``; some windows hold a tied maximum, where
  the gradient goes to the first of them, as PyTorch sends it;
* ``batchnorm_forward(x, gamma, beta, bn_param)`` (x of shape (N, D)), ``batchnorm_backward``
  and ``batchnorm_backward_alt(dout, cache) -> (dx, dgamma, dbeta)``, and their spatial
  versions on (N, C, H, W); training mode;
* ``dropout_forward(x, dropout_param)`` with ``{"p", "mode", "seed"}``, where **p is the
  probability of keeping a unit** (CS231n's convention; PyTorch's p drops one), and
  ``dropout_backward(dout, cache) -> dx``.

A backward function is given the cache its own forward function returns (it is the student's
design, as in the assignment), so the file judged holds both. The truths are the engine's
(``chainrule.nn.functional``); the mistakes' numbers come from the textbook layers of
:mod:`chainrule.verify.reference_layers` with one part altered, named as in
:data:`chainrule.verify.layer_mistakes.LAYER_MISTAKES`. Dropout's mask is random: the forward
pass is judged on the mask it drew (each output 0 or x/p, and about a fraction p kept), and
the backward pass on the forward pass's own mask.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from chainrule.verify.layer_function_types import LayerFunction, LayerMistake, tensor
from chainrule.verify.layer_mistakes import LAYER_MISTAKES
from chainrule.verify.reference_layers import (
    conv_backward, norm_backward, norm_forward, pool_backward,
)

SIGMAS = 4.0  # how far a dropout's kept fraction may stray from p, in standard deviations


def _catalogued(mistake_id: str, output: str, compute: Callable) -> LayerMistake:
    """A catalogue mistake judged at one output: ``compute(inputs, how)``, ``how`` the
    alterations' parts (chainrule.verify.alterations.Alterations.parts)."""
    known = LAYER_MISTAKES[mistake_id]
    how = known.alterations.parts
    return LayerMistake(known.id, known.title, output, lambda truth, i: compute(i, how))


# --- convolution --------------------------------------------------------------------------------


def _conv_inputs(rng: np.random.Generator) -> dict[str, Any]:
    """Two 3 × 5 × 5 images, three 3 × 3 kernels, stride 2 and padding 1 (a 3 × 3 output)."""
    return {"x": rng.normal(size=(2, 3, 5, 5)), "w": rng.normal(0, 0.5, (3, 3, 3, 3)),
            "b": rng.normal(0, 0.5, 3), "conv_param": {"stride": 2, "pad": 1},
            "dout": rng.normal(size=(2, 3, 3, 3))}


def _conv_truth(i: dict[str, Any]) -> dict[str, np.ndarray]:
    from chainrule.nn import functional as F

    X, W, B = tensor(i["x"]), tensor(i["w"]), tensor(i["b"])
    p = i["conv_param"]
    out = F.conv2d(X, W, B, stride=p["stride"], padding=p["pad"])
    out.backward(i["dout"])
    return {"out": out.data, "dx": X.grad, "dw": W.grad, "db": B.grad}


def _conv_mistake(mistake_id: str, output: str) -> LayerMistake:
    def compute(i, how):
        p = i["conv_param"]
        options = {"stride": p["stride"], "padding": p["pad"], "dilation": 1, "groups": 1}
        dx, dw, db = conv_backward(i["dout"], i["x"], i["w"], options, how)
        return {"dx": dx, "dw": dw, "db": db}[output]
    return _catalogued(mistake_id, output, compute)


# --- max pooling ----------------------------------------------------------------------------------


def _pool_inputs(rng: np.random.Generator) -> dict[str, Any]:
    """Two 3 × 6 × 6 maps in 2 × 2 windows of stride 2; every third window's maximum copied
    to the window's last position (or first, if it is the last), a tie."""
    x = rng.normal(size=(2, 3, 6, 6))
    for n, c, i, j in np.ndindex(2, 3, 3, 3):
        if (n + c + i + j) % 3 == 0:
            window = x[n, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2].reshape(-1)
            top = int(window.argmax())
            window[3 if top != 3 else 0] = window[top]
            x[n, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2] = window.reshape(2, 2)
    return {"x": x, "pool_param": {"pool_height": 2, "pool_width": 2, "stride": 2},
            "dout": rng.normal(size=(2, 3, 3, 3))}


def _pool_options(i: dict[str, Any]) -> dict[str, Any]:
    p = i["pool_param"]
    return {"kernel_size": (p["pool_height"], p["pool_width"]), "stride": p["stride"],
            "padding": 0}


def _pool_truth(i: dict[str, Any]) -> dict[str, np.ndarray]:
    from chainrule.nn import functional as F

    X = tensor(i["x"])
    o = _pool_options(i)
    out = F.max_pool2d(X, o["kernel_size"], o["stride"])
    out.backward(i["dout"])
    return {"out": out.data, "dx": X.grad}


def _pool_mistake(mistake_id: str) -> LayerMistake:
    return _catalogued(mistake_id, "dx", lambda i, how: pool_backward(
        "max", i["dout"], i["x"], _pool_options(i), how))


# --- batch normalisation --------------------------------------------------------------------------


def _norm_inputs(shape: tuple[int, ...]) -> Callable[[np.random.Generator], dict[str, Any]]:
    def draw(rng: np.random.Generator) -> dict[str, Any]:
        channels = shape[1]
        return {"x": rng.normal(3.0, 2.0, shape), "gamma": rng.uniform(0.5, 1.5, channels),
                "beta": rng.normal(size=channels), "dout": rng.normal(size=shape),
                "bn_param": {"mode": "train", "eps": 1e-5, "momentum": 0.9}}
    return draw


def _norm_truth(i: dict[str, Any]) -> dict[str, np.ndarray]:
    from chainrule.nn import functional as F

    X, G, B = tensor(i["x"]), tensor(i["gamma"]), tensor(i["beta"])
    channels = i["x"].shape[1]
    out = F.batch_norm(X, np.zeros(channels), np.ones(channels), G, B, training=True,
                       eps=i["bn_param"]["eps"])
    out.backward(i["dout"])
    return {"out": out.data, "dx": X.grad, "dgamma": G.grad, "dbeta": B.grad}


def _norm_mistake(mistake_id: str, output: str) -> LayerMistake:
    def compute(i, how):
        out, cache = norm_forward(i["x"], i["gamma"], i["beta"], i["bn_param"]["eps"], how)
        if output == "out":
            return out
        dx, dgamma, dbeta = norm_backward(i["dout"], i["x"], i["gamma"], cache, how)
        return {"dx": dx, "dgamma": dgamma, "dbeta": dbeta}[output]
    return _catalogued(mistake_id, output, compute)


def _norm_functions(prefix: str, shape: tuple[int, ...]) -> list[LayerFunction]:
    draw, forward = _norm_inputs(shape), f"{prefix}batchnorm_forward"
    arguments = ("x", "gamma", "beta", "bn_param")
    backward_mistakes = (
        _norm_mistake("batchnorm_unbiased_variance", "dx"),
        _norm_mistake("batchnorm_unbiased_variance", "dgamma"),  # x̂ is off too
        _norm_mistake("batchnorm_backward_without_mean_and_variance", "dx"))
    out = [LayerFunction(forward, arguments, (), ("out",), _norm_truth,
                         (_norm_mistake("batchnorm_unbiased_variance", "out"),), draw=draw)]
    for name in (f"{prefix}batchnorm_backward",) + (
            ("batchnorm_backward_alt",) if not prefix else ()):
        out.append(LayerFunction(name, ("dout",), (), ("dx", "dgamma", "dbeta"), _norm_truth,
                                 backward_mistakes, draw=draw, forward=(forward, arguments)))
    return out


# --- dropout ------------------------------------------------------------------------------------


def _dropout_inputs(rng: np.random.Generator) -> dict[str, Any]:
    """100 × 100 inputs, |x| ≥ 0.5 (a zero output is a dropped unit), keeping p = 0.7."""
    shape = (100, 100)
    return {"x": rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape),
            "dout": rng.normal(size=shape),
            "dropout_param": {"p": 0.7, "mode": "train", "seed": 123}}


def _kept(mask: np.ndarray, keep: float) -> tuple[bool, float, float]:
    """(whether the kept fraction is one a mask keeping ``keep`` draws, it, the allowance)."""
    allowance = SIGMAS * np.sqrt(keep * (1.0 - keep) / mask.size)
    fraction = float(mask.mean())
    return abs(fraction - keep) <= allowance, fraction, float(allowance)


def _dropout_forward_truth(i: dict[str, Any]) -> dict[str, Any]:
    x, keep = i["x"], i["dropout_param"]["p"]
    got = np.asarray(i["returned"]["out"], dtype=float)
    if got.shape != x.shape:
        return {"out": x / keep}
    mask = got != 0
    plausible, fraction, allowance = _kept(mask, keep)
    note = (f"it kept {fraction:.1%} of the units; p = {keep:g} keeps {keep:.0%} "
            f"± {allowance:.1%} ({SIGMAS:g} standard deviations)")
    out = x * mask / keep if plausible else np.full(x.shape, np.nan)
    return {"out": out, "note.out": note}


def _dropout_forward_mistakes() -> tuple[LayerMistake, ...]:
    def unscaled(truth, i):
        got = np.asarray(i["returned"]["out"], dtype=float)
        return i["x"] * (got != 0) if got.shape == i["x"].shape else np.nan

    def dropping(truth, i):
        got = np.asarray(i["returned"]["out"], dtype=float)
        drop = i["dropout_param"]["p"]
        if got.shape != i["x"].shape or not _kept(got != 0, 1.0 - drop)[0]:
            return np.nan
        return i["x"] * (got != 0) / (1.0 - drop)

    return (LayerMistake("dropout_forward_not_rescaled", "the kept units not divided by p",
                         "out", unscaled),
            LayerMistake("dropout_p_as_drop_probability",
                         "p taken as the probability of dropping a unit (PyTorch's p), not "
                         "of keeping it (CS231n's)", "out", dropping))


def _forward_mask(i: dict[str, Any]) -> np.ndarray:
    """The forward pass's own mask, with its scale: out / x (|x| ≥ 0.5 everywhere)."""
    out = np.asarray(i["forward_out"], dtype=float)
    return out / i["x"] if out.shape == i["x"].shape else np.full(i["x"].shape, np.nan)


def _dropout_backward_truth(i: dict[str, Any]) -> dict[str, np.ndarray]:
    return {"dx": i["dout"] * _forward_mask(i)}


def _dropout_backward_mistakes() -> tuple[LayerMistake, ...]:
    def fresh(truth, i):
        got = np.asarray(i["returned"]["dx"], dtype=float)
        if got.shape != i["dout"].shape:
            return np.nan
        keep = i["dropout_param"]["p"]
        ratio = got / i["dout"]
        pattern = np.isclose(ratio, 0.0, atol=1e-9) | np.isclose(ratio, 1.0 / keep)
        other_mask = (got != 0) != (_forward_mask(i) != 0)
        return got if pattern.all() and other_mask.any() else np.nan

    known = LAYER_MISTAKES
    return (LayerMistake(known["dropout_mask_not_reused"].id,
                         known["dropout_mask_not_reused"].title, "dx", fresh),
            LayerMistake(known["dropout_backward_not_rescaled"].id,
                         known["dropout_backward_not_rescaled"].title, "dx",
                         lambda truth, i: i["dout"] * (_forward_mask(i) != 0)))


CNN_FUNCTIONS: dict[str, LayerFunction] = {f.name: f for f in (
    LayerFunction("conv_forward_naive", ("x", "w", "b", "conv_param"), (), ("out",),
                  _conv_truth, draw=_conv_inputs),
    LayerFunction("conv_backward_naive", ("dout",), (), ("dx", "dw", "db"), _conv_truth,
                  (_conv_mistake("conv_kernel_not_flipped", "dx"),
                   _conv_mistake("conv_padding_forgotten", "dx"),
                   _conv_mistake("conv_weight_gradient_flipped", "dw")),
                  draw=_conv_inputs,
                  forward=("conv_forward_naive", ("x", "w", "b", "conv_param"))),
    LayerFunction("max_pool_forward_naive", ("x", "pool_param"), (), ("out",), _pool_truth,
                  draw=_pool_inputs),
    LayerFunction("max_pool_backward_naive", ("dout",), (), ("dx",), _pool_truth,
                  (_pool_mistake("max_pool_gradient_to_every_tie"),
                   _pool_mistake("max_pool_gradient_spread")),
                  draw=_pool_inputs, forward=("max_pool_forward_naive", ("x", "pool_param"))),
    *_norm_functions("", (8, 5)),
    *_norm_functions("spatial_", (2, 3, 4, 4)),
    LayerFunction("dropout_forward", ("x", "dropout_param"), (), ("out",),
                  _dropout_forward_truth, _dropout_forward_mistakes(), draw=_dropout_inputs),
    LayerFunction("dropout_backward", ("dout",), (), ("dx",), _dropout_backward_truth,
                  _dropout_backward_mistakes(), draw=_dropout_inputs,
                  forward=("dropout_forward", ("x", "dropout_param"))),
)}
