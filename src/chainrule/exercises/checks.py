"""Is a drawn exercise worth asking? Each check returns why not, or None.

An exercise is redrawn until every check passes (:mod:`chainrule.exercises.generate`):

* **no ties in the given numbers**: within a row or a column of a weight matrix, and within an
  example's inputs, all numbers differ, so mixing up two indices gives a different number;
* **no saturated unit**: |z| ≤ 2 for sigmoid and tanh, no softmax probability above 0.9 or
  below 0.02, and relu units at least 0.1 away from the kink at 0;
* **no degenerate answer**: every asked number is finite and at least 5 units of the last
  digit asked (no zero gradient), not within 0.1 % of a unit of a rounding tie (so correct
  working rounds one way), and the answers to the same quantity all differ at the precision;
* **no wrong method lands on the right answer**: for every catalogue mistake that can be made
  on the network, each asked number is either untouched by the mistake or moved by at least
  one unit of the last digit (so it rounds differently), and some answer is moved by more
  than two units, where a correctly rounded mistaken answer is incorrect, not even close —
  so the grader can name the mistake, and count its one-unit answers as that mistake too.
"""

from __future__ import annotations

import numpy as np

from chainrule.tables.activations import ACTIVATION_TABLE
from chainrule.spec.network import Spec
from chainrule.verify.reference import forward_pass, initial_parameters

SATURATED_Z = 2.0
SOFTMAX_RANGE = (0.02, 0.9)
RELU_MARGIN = 0.1
MIN_UNITS = 5  # smallest |answer|, in units of the last digit asked
ROUNDING_MARGIN = 0.001  # of a unit: how close to a half an answer may be
SLIP_UNITS = 1.02  # smallest move of an answer by a mistake, in units of the last digit
MISTAKE_UNITS = 2.05  # a mistake moves some answer by more, in units of the last digit
UNTOUCHED = 1e-9  # a mistake moving an answer by less (relative) leaves it as it is


def given_ties(spec: Spec) -> str | None:
    for name, values in initial_parameters(spec).items():
        if name.startswith("W"):
            for lines, what in ((values, "row"), (values.T, "column")):
                for i, line in enumerate(lines):
                    if len(set(line.tolist())) < len(line):
                        return f"{name}: {what} {i} repeats a number"
    for n, row in enumerate(np.atleast_2d(spec.inputs)):
        if len(set(row.tolist())) < len(row):
            return f"input {n} repeats a number"
    if spec.batched and len({tuple(row) for row in spec.inputs.tolist()}) < len(spec.inputs):
        return "two examples have the same input"
    return None


def saturation(spec: Spec) -> str | None:
    params = initial_parameters(spec)
    layers = forward_pass(spec, params, np.asarray(spec.inputs, dtype=float))
    for l, ((z, a), name) in enumerate(zip(layers, spec.activations), 1):
        entry = ACTIVATION_TABLE[name]
        if entry.saturates and np.max(np.abs(z)) > SATURATED_Z:
            return f"layer {l}: |z| = {np.max(np.abs(z)):.2f} saturates {name}"
        if name == "softmax" and (a.min() < SOFTMAX_RANGE[0] or a.max() > SOFTMAX_RANGE[1]):
            return f"layer {l}: a softmax probability is near 0 or 1"
        if entry.kink and np.min(np.abs(z)) < RELU_MARGIN:
            return f"layer {l}: a unit sits at the kink of {name}"
    return None


def answers(values: dict[str, float], precision: int) -> str | None:
    """``values``: question quantity → correct answer."""
    unit = 10.0 ** -precision
    groups: dict[str, set[str]] = {}
    for key, value in values.items():
        if not np.isfinite(value):
            return f"{key} is not finite"
        if abs(value) < MIN_UNITS * unit:
            return f"{key} = {value:.3g} is too close to zero"
        fraction = abs(value) / unit % 1.0
        if abs(fraction - 0.5) < ROUNDING_MARGIN:
            return f"{key} = {value!r} is a rounding tie"
        rounded = f"{value:.{precision}f}"
        group = groups.setdefault(key.partition("[")[0], set())
        if rounded in group:
            return f"{key}: two answers of {key.partition('[')[0]} are both {rounded}"
        group.add(rounded)
    return None


def mistake(mistake_id: str, correct: dict[str, float], mistaken: dict[str, float],
            precision: int) -> str | None:
    """Each answer untouched by the mistake or rounding differently (moved by at least one
    unit), and some answer moved by more than two units, where the mistake shows for sure."""
    unit = 10.0 ** -precision
    touched = clear = False
    for key, value in correct.items():
        other = mistaken[key]
        moved = abs(other - value) if np.isfinite(other) else np.inf
        if moved <= UNTOUCHED * (1.0 + abs(value)):
            continue
        touched = True
        if moved < SLIP_UNITS * unit:
            return f"{mistake_id} moves {key} by only {moved:.2g}"
        clear = clear or moved > MISTAKE_UNITS * unit
    if touched and not clear:
        return f"{mistake_id} moves no answer by more than two units of the last digit"
    return None
