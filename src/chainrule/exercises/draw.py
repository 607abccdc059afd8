"""Drawing one network with "nice" numbers: one or two decimals, from an explicit generator.

Weights, biases and inputs are multiples of 0.1 (or of 0.05 with two decimals), never zero.
The target is drawn after the forward pass, away from the output, so the error the backward
pass carries is large enough to show at the precision asked. Whether the exercise is good
enough to ask is for :mod:`chainrule.exercises.checks` to say; this module only draws.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.tables.activations import ACTIVATION_TABLE
from chainrule.tables.losses import LOSS_TABLE
from chainrule.verify.reference import activate

LEARNING_RATES = (0.5,)  # smaller rates hide several mistakes below the 4th decimal
MIN_OUTPUT_ERROR = 0.25  # |y − t| of a drawn target, where the output range allows it


def _values(rng: np.random.Generator, decimals: int, smallest: float, largest: float,
            shape: tuple[int, ...]) -> np.ndarray:
    """Multiples of 0.1 (or 0.05) with smallest ≤ |v| ≤ largest: all different when there are
    enough of them, else different within each row and each column (so no two weights into
    a unit, or out of one, are equal)."""
    scale = 10 if decimals == 1 else 20
    magnitudes = np.arange(int(round(smallest * scale)), int(round(largest * scale)) + 1)
    pool = rng.permutation(np.concatenate([-magnitudes[::-1], magnitudes]) / scale)
    size = int(np.prod(shape))
    if size <= pool.size:
        return pool[:size].reshape(shape)
    # A Latin rectangle: entry (i, j) is pool[(r_i + c_j) mod P] with distinct offsets r, c.
    rows = rng.choice(pool.size, size=shape[0], replace=False)
    columns = rng.choice(pool.size, size=shape[1], replace=False)
    return pool[(rows[:, None] + columns[None, :]) % pool.size]


def draw_spec(rng: np.random.Generator, *, name: str, layers: tuple[int, ...],
              activations: tuple[str, ...], loss: str, batch_size: int | None,
              learning_rate: float | None, decimals: int) -> dict[str, Any]:
    """A spec dict (as a spec file holds it) for one exercise."""
    depth = len(layers) - 1
    weights = [_values(rng, decimals, 0.3, 0.9, (layers[l], layers[l + 1]))
               for l in range(depth)]
    biases = [_values(rng, decimals, 0.1, 0.5, (layers[l + 1],)) for l in range(depth)]
    examples = batch_size or 1
    inputs = np.stack([_values(rng, decimals, 0.3, 1.0, (layers[0],)) for _ in range(examples)])
    outputs = inputs
    for l in range(depth):
        outputs = activate(activations[l], outputs @ weights[l] + biases[l])
    targets = np.stack([_target(rng, activations[-1], loss, row, decimals) for row in outputs])
    lr = learning_rate if learning_rate is not None else float(rng.choice(LEARNING_RATES))
    spec: dict[str, Any] = {
        "name": name, "layers": list(layers), "activations": list(activations), "loss": loss,
        "weights": [w.tolist() for w in weights], "biases": [b.tolist() for b in biases],
    }
    if batch_size:
        spec["inputs"], spec["targets"] = inputs.tolist(), targets.tolist()
    else:
        spec["input"], spec["target"] = inputs[0].tolist(), targets[0].tolist()
    spec["learning_rate"] = lr
    return spec


def _target(rng: np.random.Generator, last: str, loss: str, output: np.ndarray,
            decimals: int) -> np.ndarray | int:
    """A target for one example, drawn among the nice values far enough from the output."""
    units, kind = output.shape[-1], LOSS_TABLE[loss].target
    if kind == "classes":  # a class index: preferably not the class already predicted
        classes = [k for k in range(units) if k != int(np.argmax(output))] or list(range(units))
        return int(rng.choice(classes))
    scale = 10 if decimals == 1 else 20
    if kind == "probabilities":
        candidates = np.array([0.0, 1.0])
    else:  # the nice values in [−1, 1] the output can reach, e.g. (0, 1) after a sigmoid
        low, high = ACTIVATION_TABLE[last].output_range
        candidates = np.arange(-scale, scale + 1) / scale
        candidates = candidates[(candidates > low) & (candidates < high)]
    if last == "softmax" and kind != "probabilities":  # one-hot: the probabilities must sum to 1
        hot = int(rng.integers(units))
        return np.eye(units)[hot]
    target = np.empty(units)
    for k in range(units):
        far = candidates[np.abs(candidates - output[k]) >= MIN_OUTPUT_ERROR]
        target[k] = rng.choice(far if far.size else candidates)
    return target
