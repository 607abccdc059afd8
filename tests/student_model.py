"""An independent model of a student working one SGD step of a dense network on paper.

It is the measuring instrument's half that makes answers (tests/judging_teacher.py is the
other half, the careful teacher's verdicts; tests/student_sheet.py writes the numbers on a
sheet). It must not share chainrule's arithmetic, or a bug in
chainrule's reference step would be reproduced here and never measured: it imports nothing of
chainrule and only reads the fields of a spec chainrule parsed (layers, activations, loss,
weights, biases, inputs, targets, learning_rate, batched, bias). Everything else is written
again below, the way it is taught::

    z_l = a_{l−1}·W_l + b_l,  a_l = f(z_l),  E = mean over the batch of the example's loss
    δ_L = f′(z_L) ⊙ ∂E/∂a_L, each δ carrying the 1/N of the mean; straight from the logits
          δ_L = a_L − t for softmax + cross-entropy, (a_L − t)/K for sigmoid + bce (K units)
    δ_l = f′(z_l) ⊙ (δ_{l+1} W_{l+1}ᵀ),  ∂E/∂W_l = a_{l−1}ᵀ δ_l,  ∂E/∂b_l = Σₙ δ_l[n]
    θ ← θ − η·∂E/∂θ,  then the loss again with the new parameters

The knobs of :class:`Student` (see its fields) turn this into a particular student's working:
calculator rounding or chopping of every number written, one arithmetic slip carried forward,
conceptual mistakes (catalogue ids where chainrule's catalogue has them, and some it has not
yet: :data:`UNCATALOGUED`), conventions other books use, and answer-sheet noise.

Supported: plain SGD on given weights; activations sigmoid, tanh, relu, leaky_relu (slope
0.01), softmax, identity; losses sse, half_sse, mse, bce (sigmoid output) and cross_entropy
(softmax output); biases per_unit, shared_per_layer or none; one example or a batch. Not:
momentum, weight decay, frozen parameters, initialised weights, bce on softmax.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tests.student_sheet import to_decimal

LEAKY_SLOPE = 0.01  # leaky relu's slope below 0, as chainrule documents it (docs/spec.md)

# The catalogue's mistakes this model makes, each written below independently of
# chainrule.verify.reference (tests check both give the same numbers).
CATALOGUED = (
    "gradient_ascent", "loss_derivative_sign", "derivative_of_z",
    "derivative_of_activation_value", "missing_activation_derivative",
    "missing_output_derivative", "missing_hidden_derivative", "softmax_diagonal_jacobian",
    "extra_output_derivative", "log_base_ten", "dropped_factor_two", "doubled_factor_two",
    "sum_over_batch", "mean_over_batch", "transposed_weights", "swapped_weight_indices",
    "updated_weights_in_backward", "bias_not_summed", "bias_summed_over_units",
    "learning_rate_twice", "learning_rate_missing", "biases_not_updated", "stale_loss_after",
)
# Mistakes students make that the catalogue does not have: a careful teacher says "a mistake,
# but none of the known ones", so chainrule should name none of its ids.
UNCATALOGUED = {
    "net_input_in_gradient": "∂E/∂W_l = z_{l−1}ᵀ δ_l: the net input of the layer before in "
                             "place of its activation (layers l ≥ 2)",
    "bias_gradient_times_input": "∂E/∂b_l = δ_l times the mean of the layer's input, as if "
                                 "the bias were a weight on a_{l−1}",
}
# Other books' conventions: a careful teacher credits them.
CONVENTIONS = {
    "per_example_deltas": "deltas of each example without the 1/N, the gradients averaged "
                          "over the batch (so the gradients and updates are the right ones)",
    "err_sign": "Han, Kamber & Pei's Err = −δ on the deltas, with correct descent updates",
    "one_based_names": "indices counted from 1 (w¹₁₂ written W1[1][2])",
}
Slip = tuple  # (quantity, index tuple, new value or a function of the value it replaces)


@dataclass(frozen=True)
class Student:
    """How one student works the step. The defaults are a student who makes no mistake and
    keeps every digit (a calculator's memory)."""

    mistakes: tuple[str, ...] = ()  # ids from CATALOGUED or UNCATALOGUED, any number of them
    # its mistakes made in this layer only: the layer's delta, its gradients and its
    # parameters' updates (the loss, of no layer, is worked right); None: in every layer
    layer: int | None = None
    round_to: int | None = None  # every number written rounded to this many decimals
    truncate: bool = False  # with round_to: chopped instead of rounded
    slip: Slip | None = None  # one arithmetic slip, everything after it worked from it
    conventions: tuple[str, ...] = ()  # from CONVENTIONS
    # numbers already on the sheet, copied instead of worked out: quantity → (mask, numbers);
    # what a teacher marking error carried forward works from
    copied: dict | None = field(default=None, compare=False, hash=False)

    def __post_init__(self) -> None:
        unknown = set(self.mistakes) - set(CATALOGUED) - set(UNCATALOGUED)
        unknown |= set(self.conventions) - set(CONVENTIONS)
        if unknown:
            raise ValueError(f"student: unknown mistakes or conventions {sorted(unknown)}")


class _Paper:
    """What the student has written so far: each number rounded (or chopped) as it is written,
    the slip made at the moment its quantity is written."""

    def __init__(self, student: Student) -> None:
        self.student, self.values = student, {}

    def write(self, name: str, value: Any) -> np.ndarray:
        value = np.array(value, dtype=float)
        slip = self.student.slip
        if slip is not None and slip[0] == name:
            index, new = tuple(slip[1]), slip[2]
            value[index] = new(value[index]) if callable(new) else new
        if self.student.round_to is not None:
            value = rounded(value, self.student.round_to, self.student.truncate)
        copied = (self.student.copied or {}).get(name)
        if copied is not None:
            value = np.where(copied[0], copied[1], value)
        self.values[name] = value
        return value


def rounded(value: np.ndarray, decimals: int, truncate: bool = False) -> np.ndarray:
    """Rounded half away from zero (a calculator) or chopped, decimally: 0.285 → 0.29."""
    out = np.array(value, dtype=float)
    for index in np.ndindex(out.shape):
        out[index] = float(to_decimal(out[index], decimals, truncate))
    return out


# --- the formulas, as taught -----------------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def activate(name: str, z: np.ndarray) -> np.ndarray:
    return {"sigmoid": _sigmoid, "tanh": np.tanh, "relu": lambda v: np.where(v > 0, v, 0.0),
            "leaky_relu": lambda v: np.where(v > 0, v, LEAKY_SLOPE * v),
            "softmax": _softmax, "identity": lambda v: v}[name](z)


def fused(spec) -> bool:
    return (spec.loss, spec.activations[-1]) in (("cross_entropy", "softmax"), ("bce", "sigmoid"))


def targets(spec) -> np.ndarray:
    t = np.asarray(spec.targets)
    if t.dtype.kind in "iu":  # class indices
        return np.eye(spec.layers[-1])[t]
    return t.astype(float)


def mean_loss(spec, a: np.ndarray, t: np.ndarray, log=np.log) -> float:
    """The loss of each example, averaged over the batch (one example: that loss)."""
    if spec.loss == "sse":
        per = np.sum((a - t) ** 2, axis=-1)
    elif spec.loss == "half_sse":
        per = 0.5 * np.sum((a - t) ** 2, axis=-1)
    elif spec.loss == "mse":
        per = np.mean((a - t) ** 2, axis=-1)
    elif spec.loss == "bce":
        per = -np.mean(t * log(a) + (1 - t) * log(1 - a), axis=-1)
    else:  # cross_entropy of a softmax output
        per = -np.sum(t * log(a), axis=-1)
    return float(np.mean(per))


def output_error(spec, a: np.ndarray, t: np.ndarray) -> np.ndarray:
    """∂(one example's loss)/∂a_L."""
    units = a.shape[-1]
    return {"sse": lambda: 2 * (a - t), "half_sse": lambda: a - t,
            "mse": lambda: 2 * (a - t) / units,
            "bce": lambda: (-t / a + (1 - t) / (1 - a)) / units,
            "cross_entropy": lambda: -t / a}[spec.loss]()


def _skipped_layers(spec, at) -> set[int]:
    """The layers whose f′ this student leaves out (missing_output_derivative: the output's
    alone; missing_hidden_derivative: every hidden layer's); ``at(l)``: the mistakes made
    in layer l."""
    depth = len(spec.layers) - 1
    skipped = set()
    if "missing_output_derivative" in at(depth):
        skipped.add(depth)
    skipped |= {l for l in range(1, depth) if "missing_hidden_derivative" in at(l)}
    return skipped


def _times_slope(name: str, z: np.ndarray, a: np.ndarray, g: np.ndarray,
                 mistakes: set[str], skip: bool) -> np.ndarray:
    """g ⊙ f′(z) (softmax: its Jacobian applied to g), as this student computes it."""
    if skip or "missing_activation_derivative" in mistakes or name == "identity":
        return g
    if name == "relu":
        return g * (z > 0)
    if name == "leaky_relu":
        return g * np.where(z > 0, 1.0, LEAKY_SLOPE)
    s = a  # the derivative is written in terms of the unit's output
    if "derivative_of_z" in mistakes:
        s = z
    elif "derivative_of_activation_value" in mistakes:
        s = activate(name, a)
    if name == "sigmoid":
        return g * s * (1 - s)
    if name == "tanh":
        return g * (1 - s ** 2)
    if "softmax_diagonal_jacobian" in mistakes:
        return g * a * (1 - a)
    return s * (g - np.sum(g * s, axis=-1, keepdims=True))


# --- the step --------------------------------------------------------------------------------


def work(spec, student: Student = Student()) -> dict[str, np.ndarray]:
    """Every number the student writes, named as chainrule names quantities (forward.z1,
    backward.delta2, gradients.W1, updated.b1, loss_after, ...), in the student's own signs and
    scales (a convention's deltas as the book writes them)."""
    if spec.weights is None:
        raise ValueError("student model: the spec must give its weights")
    with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        return _work(spec, student, set(student.mistakes), set(student.conventions))


def _work(spec, student: Student, mistakes: set[str], conventions: set[str]):
    paper = _Paper(student)
    write = paper.write
    depth, batch = len(spec.layers) - 1, (len(spec.inputs) if spec.batched else 1)
    W = {l: np.asarray(w, dtype=float) for l, w in enumerate(spec.weights, 1)}
    b = {} if spec.bias == "none" else \
        {l: np.asarray(v, dtype=float) for l, v in enumerate(spec.biases, 1)}
    x, t, eta = np.asarray(spec.inputs, dtype=float), targets(spec), spec.learning_rate

    def at(l: int) -> set[str]:  # the mistakes made in layer l (0: the loss, of no layer)
        return mistakes if student.layer in (None, l) else set()

    log = np.log10 if "log_base_ten" in at(0) else np.log

    def forward(W, b, prefix):
        a, layers = x, []
        for l in range(1, depth + 1):
            z = write(f"{prefix}z{l}", a @ W[l] + (b[l] if l in b else 0.0))
            a = write(f"{prefix}a{l}", activate(spec.activations[l - 1], z))
            layers.append((z, a))
        return layers

    layers = forward(W, b, "forward.")
    z_out, a_out = layers[-1]
    write("forward.loss", mean_loss(spec, a_out, t, log))

    output = at(depth)
    per_example = "sum_over_batch" in output or "per_example_deltas" in conventions
    factor = -1.0 if "loss_derivative_sign" in output else 1.0
    if "dropped_factor_two" in output and spec.loss in ("sse", "mse"):  # 2(y − t) → y − t
        factor *= 0.5
    if "doubled_factor_two" in output and spec.loss == "half_sse":  # y − t → 2(y − t)
        factor *= 2.0
    scale = factor / (1 if per_example else batch)
    write(f"backward.dE_da{depth}", scale * output_error(spec, a_out, t))
    skipped = _skipped_layers(spec, at)
    if fused(spec):
        units = 1 if spec.loss == "cross_entropy" else spec.layers[-1]
        delta = scale * (a_out - t) / units
        if "extra_output_derivative" in output:
            delta = delta * a_out * (1 - a_out)
    else:
        delta = _times_slope(spec.activations[-1], z_out, a_out,
                             paper.values[f"backward.dE_da{depth}"], output, depth in skipped)
    swapped = {l for l in W if W[l].shape[0] == W[l].shape[1] > 1
               and "swapped_weight_indices" in at(l)}

    def again(l: int) -> bool:  # the gradients of layer l divided by N once more
        return "mean_over_batch" in at(l) or "per_example_deltas" in conventions

    grads = {}
    for l in range(depth, 0, -1):
        delta = write(f"backward.delta{l}", delta)
        a_prev = x if l == 1 else layers[l - 2][1]
        if l > 1 and "net_input_in_gradient" in at(l):
            a_prev = layers[l - 2][0]
        grad_w = a_prev.T @ delta if spec.batched else np.outer(a_prev, delta)
        grad_w = grad_w / batch if again(l) else grad_w
        grads[f"W{l}"] = write(f"gradients.W{l}", grad_w.T if l in swapped else grad_w)
        if l in b:
            rows = (delta[0] if "bias_not_summed" in at(l) else np.sum(delta, axis=0)) \
                if spec.batched else delta
            if "bias_gradient_times_input" in at(l):
                layer_input = x if l == 1 else layers[l - 2][1]
                rows = rows * float(np.mean(layer_input))
            if spec.bias == "shared_per_layer":
                rows = np.array([np.sum(rows)])
            elif "bias_summed_over_units" in at(l) and not spec.batched:
                rows = np.full(rows.shape, np.sum(rows))
            grads[f"b{l}"] = write(f"gradients.b{l}", rows / batch if again(l) else rows)
        if l == 1:
            break
        weights, below = W[l], at(l - 1)  # δ_{l−1}: layer l − 1's delta
        if "updated_weights_in_backward" in below:
            weights = write(f"working.W{l}_new", W[l] - eta * grads[f"W{l}"])
        upstream = write(f"working.upstream{l - 1}",
                         delta @ (weights if "transposed_weights" in below else weights.T))
        z, a = layers[l - 2]
        delta = _times_slope(spec.activations[l - 2], z, a, upstream, below, l - 1 in skipped)

    new_W, new_b = {}, {}
    for l in range(1, depth + 1):
        sign = 1.0 if "gradient_ascent" in at(l) else -1.0
        rate = eta ** (2 if "learning_rate_twice" in at(l) else
                       0 if "learning_rate_missing" in at(l) else 1)
        new_W[l] = write(f"updated.W{l}", W[l] + sign * rate * grads[f"W{l}"])
        if l in b:
            new_b[l] = write(f"updated.b{l}", b[l].copy() if "biases_not_updated" in at(l)
                             else b[l] + sign * rate * grads[f"b{l}"])
    if "stale_loss_after" in at(0):  # the loss before the step, copied from above
        write("loss_after", paper.values["forward.loss"])
    else:
        after = forward(new_W, new_b, "working.after.")
        write("loss_after", mean_loss(spec, after[-1][1], t, log))

    values = paper.values
    if "err_sign" in conventions:  # the book's Err = −δ, written on the sheet as such
        values = {k: -v if k.startswith("backward.delta") else v for k, v in values.items()}
    return values
