"""What every network spec shares, whether its layers are unit counts (an MLP) or typed
layers: the size limits (docs/limits.md), the examples and targets, the optimizer, the
learning rate, seed, steps, frozen parameters, name and description, each checked field by
field with the field's path in the message."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.errors import SpecError
from chainrule.frozen import Frozen
from chainrule.nn.activations import unknown_name_message
from chainrule.nn.init import INIT_NAMES
from chainrule.spec.validate import array, check_fields, kind, number, required, shown
from chainrule.tables.losses import LOSS_TABLE

OPTIMIZER_FIELDS = ("name", "momentum", "dampening", "nesterov", "weight_decay")
MAX_STEPS = 1000
# Limits checked before anything is allocated (docs/limits.md). A network a person works by
# hand has tens of parameters; these leave room for trained networks like 64-64-10 digits.
MAX_UNITS = 10_000  # units in one layer
MAX_LAYERS = 64  # weight layers
MAX_PARAMETERS = 1_000_000  # weights and biases, all layers (8 MB of float64)
MAX_EXAMPLES = 10_000  # examples in a batch
# What an explanation or a gradient check lists: parameter elements × examples × steps.
# 20,000 is a 2-100-100-1 network's step, about 5 MB of text in a few seconds; beyond, a
# worked explanation is no longer something a person reads.
MAX_EXPLAINED = 20_000


@dataclass(unsafe_hash=True)
class OptimizerSpec(Frozen):
    """SGD with PyTorch's options; a plain step is θ ← θ − η·∂E/∂θ."""

    name: str = "sgd"
    momentum: float = 0.0
    dampening: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0

    @property
    def plain(self) -> bool:
        return not (self.momentum or self.weight_decay)

    def build(self, params, learning_rate: float):
        from chainrule.optim.optimizers import SGD

        return SGD(params, lr=learning_rate, momentum=self.momentum, dampening=self.dampening,
                   nesterov=self.nesterov, weight_decay=self.weight_decay)


def common_fields(data: dict, default_name: str) -> dict[str, Any]:
    """The fields every network spec has besides its layers and examples, checked:
    learning_rate, init, seed, steps, optimizer, name and description."""
    learning_rate = number(required(data, "learning_rate"), "learning_rate")
    if learning_rate <= 0:
        raise SpecError(f"learning_rate: expected a positive number, got {learning_rate}")
    init = data.get("init", "auto")
    if init not in INIT_NAMES:
        raise SpecError("init: " + unknown_name_message("init", init, dict.fromkeys(INIT_NAMES)))
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise SpecError(f"seed: expected a non-negative integer, got {shown(seed)}")
    steps = data.get("steps", 1)
    if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= MAX_STEPS:
        raise SpecError(f"steps: expected a whole number from 1 to {MAX_STEPS}, got {shown(steps)}")
    return {"learning_rate": learning_rate, "init": init, "seed": seed, "steps": steps,
            "optimizer": parse_optimizer(data.get("optimizer")),
            "name": spec_text(data, "name", default_name),
            "description": spec_text(data, "description", "")}


def spec_text(data: dict, key: str, default: str) -> str:
    """A name or description: text without control characters (an ESC in a network's name
    would reach the terminal, a NUL a file name)."""
    value = data.get(key, default)
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise SpecError(f"{key}: expected text, got {kind(value)}")
    value = str(value)
    bad = re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", value)
    if bad:
        raise SpecError(f"{key}: control character {bad.group()!r} at position {bad.start()}; "
                        f"expected plain text")
    return value


def read_examples(data: dict, in_shape: tuple[int, ...], n_out: int, loss: str,
                  context: str, positions: tuple[int, ...] = ()
                  ) -> tuple[np.ndarray, np.ndarray, bool]:
    """(inputs, targets, batched) of a spec: ``input`` + ``target`` for one example of
    ``in_shape``, or ``inputs`` + ``targets`` for a batch of them. ``positions`` (L,): the
    network gives ``n_out`` outputs at each of L positions, and a target is one per
    position."""
    single, batch = "input" in data or "target" in data, "inputs" in data or "targets" in data
    if single and batch:
        raise SpecError("inputs: give either input + target (one example) or inputs + targets "
                        "(a batch), not both")
    if not single and not batch:
        raise SpecError("input: required field is missing (or inputs + targets for a batch)")
    x_key, t_key = ("inputs", "targets") if batch else ("input", "target")
    inputs = array(required(data, x_key), x_key)
    if batch and inputs.ndim >= 1 and inputs.shape[0] > MAX_EXAMPLES:
        raise SpecError(f"{x_key}: {inputs.shape[0]:,} examples; a batch may have at most "
                        f"{MAX_EXAMPLES:,}")
    expected = ((inputs.shape[0] if inputs.ndim else 0,) if batch else ()) + tuple(in_shape)
    if inputs.shape != expected or (batch and not inputs.shape[0]):
        each = (f"{in_shape[0]} values" if len(in_shape) == 1
                else f"shape {tuple(in_shape)}")
        what = f"a list of examples, each {each}" if batch else each
        raise SpecError(f"{x_key}: expected {what} ({context}), got shape {inputs.shape}")
    return inputs, check_targets(data, t_key, ((inputs.shape[0],) if batch else ()) +
                                 positions, n_out, loss), batch


def check_targets(data: dict, t_key: str, batch: tuple[int, ...], n_out: int,
                  loss: str) -> np.ndarray:
    """The targets of ``data[t_key]`` for ``n_out`` output units: class indices where the loss
    takes classes, else one row per example, in [0, 1] where the loss needs it."""
    targets = array(required(data, t_key), t_key)
    out_shape = batch + (n_out,)
    kind_of_target = LOSS_TABLE[loss].target
    if kind_of_target == "classes" and targets.shape == batch and _all_ints(targets, n_out):
        return targets.astype(np.int64)
    if targets.shape != out_shape:
        hint = " or a class index" if kind_of_target == "classes" else ""
        raise SpecError(f"{t_key}: expected shape {out_shape} ({n_out} value(s) per example "
                        f"for {n_out} output unit(s){hint}), got shape {targets.shape}")
    if kind_of_target != "values" and not np.all((targets >= 0) & (targets <= 1)):
        where = np.argwhere((targets < 0) | (targets > 1))[0]
        bad = f"{t_key}" + "".join(f"[{i}]" for i in where)
        what = ("probabilities" if kind_of_target == "probabilities"
                else "a one-hot row or probabilities")
        raise SpecError(f"{bad}: expected a target in [0, 1] for {loss} ({what}), got "
                        f"{targets[tuple(where)]:g}")
    return targets


def _all_ints(values: np.ndarray, classes: int) -> bool:
    return bool(np.all(values == np.round(values)) and np.all((values >= 0) & (values < classes)))


def parse_optimizer(value: Any) -> OptimizerSpec:
    if value is None:
        return OptimizerSpec()
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        raise SpecError(f"optimizer: expected \"sgd\" or an object like "
                        f"{{\"name\": \"sgd\", \"momentum\": 0.9}}, got {kind(value)}")
    check_fields(value, OPTIMIZER_FIELDS, "optimizer.")
    name = value.get("name", "sgd")
    if name != "sgd":
        raise SpecError(f"optimizer.name: expected \"sgd\" (the optimizer explanations show), "
                        f"got {shown(name)}")
    numbers = {key: number(value[key], f"optimizer.{key}")
               for key in ("momentum", "dampening", "weight_decay") if key in value}
    limits = {"momentum": (0, 1, "[0, 1)"), "dampening": (0, 1.0000001, "[0, 1]"),
              "weight_decay": (0, float("inf"), "≥ 0")}
    for key, amount in numbers.items():
        low, high, text = limits[key]
        if not low <= amount < high:
            raise SpecError(f"optimizer.{key}: expected a number {text}, got {amount}")
    nesterov = value.get("nesterov", False)
    if not isinstance(nesterov, bool):
        raise SpecError(f"optimizer.nesterov: expected true or false, got {shown(nesterov)}")
    if nesterov and (numbers.get("momentum", 0) == 0 or numbers.get("dampening", 0) != 0):
        raise SpecError("optimizer.nesterov: needs momentum > 0 and dampening 0")
    return OptimizerSpec(nesterov=nesterov, **numbers)


def parse_frozen(value: Any, names: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise SpecError(f"frozen: expected a list of parameter names like \"b1\", got {shown(value)}")
    for i, name in enumerate(value):
        if name not in names:
            raise SpecError(f"frozen[{i}]: no parameter {shown(name)}; this network has "
                            f"{', '.join(names)}")
    return tuple(value)
