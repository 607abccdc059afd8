"""One training step in plain NumPy, written the way it is taught — with the parts a mistake alters.

This is chainrule's second, independent computation of a step: no autodiff engine, only the
textbook backward pass, layer by layer::

    δ_L = f′(z_L) ⊙ ∂E/∂a_L            (or a_L − t straight from the logits, see below)
    δ_l = f′(z_l) ⊙ (δ_{l+1} W_{l+1}ᵀ)
    ∂E/∂W_l = a_{l−1}ᵀ δ_l,   ∂E/∂b_l = Σₙ δ_l[n]
    θ ← θ − η·∂E/∂θ

Each rule has a kind of node and is written in the named parts of its kind
(:mod:`chainrule.verify.alterations`); a known mistake alters parts of kinds, so the variants
in :mod:`chainrule.verify.mistakes` are honest alternative computations, not perturbed
numbers. With no alteration the numbers are those of ``chainrule.explain`` (tested to 1e-12).

Quantities are named as in the trace's JSON: ``forward.z1``, ``backward.delta1``,
``gradients.W1``, ``updated.b2``, ``loss_after``, plus ``parameters.W1`` (before the update).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from chainrule.frozen import Frozen
from chainrule.spec.network import Spec, load_spec, parse_spec
from chainrule.verify.alterations import CORRECT, RULE_KINDS, Alterations
from chainrule.verify.reference_math import (  # noqa: F401 (ACTIVATION_NAMES, LOSS_NAMES: public)
    ACTIVATION_NAMES, LOSS_NAMES, activate, backward_activation, example_losses, output_error,
    softmax_bce_delta,
)

def as_spec(source: Spec | str | Path | dict | None) -> Spec:
    """A :class:`Spec` from a Spec, a decoded spec dict, a file path or a built-in name."""
    if isinstance(source, Spec):
        return source
    if isinstance(source, dict):
        return parse_spec(source)
    return load_spec(source)


def fused_output(spec: Spec) -> bool:
    """Whether the loss is taken from the output logits (softmax + cross-entropy, sigmoid +
    bce): then δ_L is the error a_L − t directly and no activation derivative is multiplied."""
    last = spec.activations[-1]
    return (spec.loss, last) in (("cross_entropy", "softmax"), ("bce", "sigmoid"))


def derivative_layers(spec: Spec) -> list[int]:
    """The layers (from 1) whose activation derivative f′(z) is multiplied into a delta."""
    depth = len(spec.layers) - 1
    return [l for l in range(1, depth + 1) if l < depth or not fused_output(spec)]


def batch_size(spec: Spec) -> int:
    return len(spec.inputs) if spec.batched else 1


def initial_parameters(spec: Spec) -> dict[str, np.ndarray]:
    """The parameters before the step: the spec's own, or drawn by its init and seed."""
    return spec.build_model().state_dict()


def one_hot(spec: Spec) -> np.ndarray:
    targets = np.asarray(spec.targets)
    if targets.dtype.kind in "iu":  # class indices, cross-entropy only
        return np.eye(spec.layers[-1])[targets]
    return targets.astype(float)


# --- the step --------------------------------------------------------------------------------


def forward_pass(spec: Spec, params: dict[str, np.ndarray], x: np.ndarray) -> list[tuple]:
    """[(z1, a1), (z2, a2), ...] with z = a·W + b."""
    values, a = [], x
    for l, name in enumerate(spec.activations, 1):
        z = a @ params[f"W{l}"]
        if f"b{l}" in params:
            z = z + params[f"b{l}"]
        a = activate(name, z)
        values.append((z, a))
    return values


def mean_loss(spec: Spec, params: dict[str, np.ndarray], x: np.ndarray,
              t: np.ndarray) -> np.ndarray:
    z, a = forward_pass(spec, params, x)[-1]
    return np.asarray(np.mean(example_losses(spec, z, a, t)))


def update(spec: Spec, name: str, theta: np.ndarray, grad: np.ndarray,
           how: dict[str, Any] | None = None) -> np.ndarray:
    """The spec's first SGD step for one parameter (PyTorch's rule: weight decay adds λθ;
    on the first step the momentum buffer is the gradient itself, Nesterov adds μ·buffer),
    with the ``update`` parts ``how`` (the correct ones by default)."""
    how = how or CORRECT.parts("update")
    if name in spec.frozen or (name.startswith("b") and not how["biases"]):
        return theta.copy()
    opt = spec.optimizer
    step = grad + opt.weight_decay * theta if opt.weight_decay else grad
    if opt.momentum and opt.nesterov:
        step = step + opt.momentum * step
    rate = spec.learning_rate ** how["rate_power"]
    return theta + how["sign"] * rate * step


def _bias_gradient(spec: Spec, delta: np.ndarray, n: int, how: dict[str, Any]) -> np.ndarray:
    mode = how["sum"]
    if spec.batched:
        rows = delta[0] if mode == "first_example" else delta.sum(axis=0)
    else:
        rows = delta
    if spec.bias == "shared_per_layer":  # one bias for the layer: its units' deltas add up
        rows = np.atleast_1d(rows.sum())
    elif mode == "units" and not spec.batched:  # np.sum(delta, axis=0) of one example
        rows = np.full_like(rows, rows.sum())
    return rows / n if how["batch"] == "mean_twice" else rows


def reference_step(spec: Spec, alterations: Alterations = CORRECT) -> dict[str, np.ndarray]:
    """Every quantity of the spec's first step, by name, computed with ``alterations``.

    A mistaken step may diverge (a saturated output, ln 0 after the update): such numbers
    come out as ±inf or NaN, as the mistaken code would print them, without warnings.
    """
    return evaluate(step_rules(spec, alterations), start_values(spec))


# --- the step as rules: each quantity from the quantities it is computed from ----------------


@dataclass(eq=False)
class Rule(Frozen):
    """How one quantity of the step is computed: ``compute`` of the ``parents``' values, in
    order. The step is its rules applied in turn; someone's earlier numbers put in place of
    the parents give what that quantity should be *from their numbers* (error carried
    forward, chainrule.verify.judging)."""

    parents: tuple[str, ...]
    compute: Callable[..., np.ndarray]
    # what the node computes, whatever the layer (alterations.RULE_KINDS): a layer type
    # brings rules of these kinds, written in their parts, and so takes their mistakes
    kind: str = ""
    layer: int = 0  # the layer whose quantity it computes (0: none, the loss)

    def __call__(self, values: dict[str, np.ndarray]) -> np.ndarray:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            return np.asarray(self.compute(*(values[p] for p in self.parents)))


def start_values(spec: Spec) -> dict[str, np.ndarray]:
    """What a step starts from: the parameters and the input (``forward.a0``)."""
    out = {f"parameters.{k}": v.copy() for k, v in initial_parameters(spec).items()}
    out["forward.a0"] = np.asarray(spec.inputs, dtype=float).copy()
    return out


def evaluate(rules: dict[str, Rule], start: dict[str, np.ndarray],
             over: Callable[[str, np.ndarray], np.ndarray] | None = None,
             computed: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Every quantity: ``start``'s, then each rule's, a parent always before its child, in
    the rules' order (a mistake may make a delta depend on a gradient, written later).

    ``over(name, value)`` may put other numbers in place of a value once it is computed
    (someone's answers: chainrule.verify.carried), and ``computed`` then receives each rule's
    own result, before they were put in place."""
    values = {key: value if over is None else over(key, value) for key, value in start.items()}

    def value(name: str) -> np.ndarray:
        if name not in values:
            rule = rules[name]
            for parent in rule.parents:
                value(parent)
            result = rule(values)
            if computed is not None:
                computed[name] = result
            values[name] = result if over is None else over(name, result)
        return values[name]

    for name in rules:
        value(name)
    return {**{key: values[key] for key in start}, **{name: values[name] for name in rules}}


def step_rules(spec: Spec, alterations: Alterations = CORRECT) -> dict[str, Rule]:
    """The rule of every quantity the step computes, in the order the step computes them
    (``forward.z1`` … ``loss_after``); the names are those of :func:`reference_step`. Each
    rule is written in the parts of its kind, as ``alterations`` leave them."""
    params = initial_parameters(spec)
    t, depth, n = one_hot(spec), len(spec.layers) - 1, batch_size(spec)
    how = alterations.parts  # how(kind, layer): the parts a rule of that layer is written in
    rules: dict[str, Rule] = {}
    for l, name in enumerate(spec.activations, 1):
        biased = f"b{l}" in params
        rules[f"forward.z{l}"] = Rule(
            (f"forward.a{l - 1}", f"parameters.W{l}") + ((f"parameters.b{l}",) if biased else ()),
            lambda a, w, b=None: a @ w if b is None else a @ w + b, "linear", l)
        rules[f"forward.a{l}"] = Rule((f"forward.z{l}",), lambda z, name=name: activate(name, z),
                                      "activation", l)
    last = (f"forward.z{depth}", f"forward.a{depth}")
    base = _log_base(how("loss"))
    rules["forward.loss"] = Rule(last, lambda z, a: np.mean(example_losses(spec, z, a, t)) / base,
                                 "loss")

    error = _error_scale(how("loss_gradient", depth), n)
    rules[f"backward.dE_da{depth}"] = Rule(
        last, lambda z, a: error * output_error(spec, z, a, t)[0], "loss_gradient", depth)
    output = how("output_delta", depth)
    rules[f"backward.delta{depth}"] = Rule(
        last + (f"backward.dE_da{depth}",),
        lambda z, a, g: _output_delta(spec, z, a, g, t, n, output), "output_delta", depth)
    for l in range(depth, 0, -1):
        a_prev, delta = f"forward.a{l - 1}", f"backward.delta{l}"
        rules[f"gradients.W{l}"] = Rule(
            (a_prev, delta), lambda a, d, w=how("weight_gradient", l): _weight_gradient(
                a, d, n, w), "weight_gradient", l)
        if f"b{l}" in params:
            rules[f"gradients.b{l}"] = Rule(
                (delta,), lambda d, b=how("bias_gradient", l): _bias_gradient(spec, d, n, b),
                "bias_gradient", l)
        if l > 1:  # δ_{l−1}: a rule of layer l − 1, whose delta it is
            backprop = how("backprop", l - 1)
            weights = (f"parameters.W{l}",) + (
                (f"gradients.W{l}",) if backprop["weights_from"] == "updated" else ())
            rules[f"backward.delta{l - 1}"] = Rule(
                (delta, *weights, f"forward.z{l - 1}", f"forward.a{l - 1}"),
                _hidden_delta(spec, l, backprop), "backprop", l - 1)
    for name in params:
        rules[f"updated.{name}"] = Rule(
            (f"parameters.{name}", f"gradients.{name}"),
            lambda theta, g, name=name, u=how("update", int(name[1:])): update(
                spec, name, theta, g, u), "update", int(name[1:]))
    x = np.asarray(spec.inputs, dtype=float)
    updated = tuple(f"updated.{name}" for name in params)
    if not how("loss_after")["recomputed"]:  # the forward pass not run again after the update
        rules["loss_after"] = Rule(("forward.loss",), lambda loss: loss, "loss_after")
    else:
        rules["loss_after"] = Rule(updated, lambda *new: mean_loss(
            spec, dict(zip(params, new)), x, t) / base, "loss_after")
    return _in_step_order(rules, params)


def _log_base(loss: dict[str, Any]) -> float:
    """What a log-loss in natural logarithms is divided by: log₁₀ x = ln x / ln 10."""
    return float(np.log(10.0)) if loss["log"] == "log10" else 1.0


def _error_scale(how: dict[str, Any], n: int) -> float:
    """What multiplies the output error: its factor, and the 1/N of the mean loss (which the
    "sum" batch leaves out)."""
    return how["factor"] * (1.0 if how["batch"] == "sum" else 1.0 / n)


def _output_delta(spec: Spec, z, a, dE_da, t, n: int, how: dict[str, Any]) -> np.ndarray:
    """δ_L: straight from the logits where the loss is taken from them (a_L − t), else the
    activation's derivative applied to ∂E/∂a_L."""
    last, mode, scale = spec.activations[-1], how["derivative"], _error_scale(how, n)
    if fused_output(spec):
        error = a - t if last == "softmax" else (a - t) / a.shape[-1]  # a = softmax(z), σ(z)
        if how["extra_derivative"]:  # the slope a(1 − a) on top of a − t
            error = error * a * (1.0 - a)
        return scale * error
    if (spec.loss, last) == ("bce", "softmax") and mode == "correct":
        # the textbook product ∂E/∂a · softmax′ is inf · 0 once a unit saturates; the same
        # delta from the logits is finite (a mistaken derivative keeps the textbook path)
        return scale * softmax_bce_delta(z, t)
    return backward_activation(last, z, a, dE_da, mode)


def _hidden_delta(spec: Spec, l: int, how: dict[str, Any]) -> Callable[..., np.ndarray]:
    """δ_{l−1} = f′(z_{l−1}) ⊙ (δ_l W_lᵀ), from δ_l, W_l (and ∂E/∂W_l, for the mistake that
    updates W_l first), z_{l−1} and a_{l−1}."""
    def compute(delta, weights, *rest):
        if how["weights_from"] == "updated":
            grad_w, *rest = rest
            weights = update(spec, f"W{l}", weights, grad_w)
        z, a = rest
        upstream = delta @ (weights if how["weights"] == "as_is" else weights.T)
        return backward_activation(spec.activations[l - 2], z, a, upstream, how["derivative"])
    return compute


def _weight_gradient(a_prev, delta, n: int, how: dict[str, Any]) -> np.ndarray:
    grad = np.outer(a_prev, delta) if np.ndim(a_prev) == 1 else a_prev.T @ delta
    if how["indices"] == "ji" and grad.shape[0] == grad.shape[1]:
        grad = grad.T  # w_ij given δ_i·a_j: only a square matrix can be written so
    return grad / n if how["batch"] == "mean_twice" else grad


def _in_step_order(rules: dict[str, Rule], params: dict) -> dict[str, Rule]:
    """forward, the loss, backward (∂E/∂a_L, then the deltas from the output down), the
    gradients and the updates in the parameters' order, the loss after: the order of the
    trace's JSON (every parent still comes before its child)."""
    order = [k for k in rules if k.startswith("forward.")]
    order += [k for k in rules if k.startswith("backward.")]
    order += [f"gradients.{name}" for name in params] + [f"updated.{name}" for name in params]
    return {k: rules[k] for k in order + ["loss_after"]}


def quantity_names(values: dict[str, Any], section: str) -> list[str]:
    """The names in one section, in order: ``quantity_names(step, "forward")`` → a0, z1, ..."""
    prefix = section + "."
    return [key[len(prefix):] for key in values if key.startswith(prefix)]
