"""Network specs: what a user writes to describe one training step, validated field by field.

A spec is a JSON object (see docs/spec.md). Validation is hand-written rather than delegated
to a schema library: every message must name the field path and the expectation in the
network's own terms (``weights[1]: expected shape (2, 1) for layer 2 (2 → 1 units), got
(1, 2)``), and the CLI must start fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.frozen import Frozen
from chainrule import inputs
from chainrule.tables.activations import ACTIVATION_TABLE
from chainrule.errors import ShapeError, SpecError
from chainrule.tables.losses import LOSS_TABLE
from chainrule.nn.activations import unknown_name_message
from chainrule.nn.init import INIT_NAMES
from chainrule.nn.layers import BIAS_MODES, MLP
if TYPE_CHECKING:
    from pathlib import Path

from chainrule.spec.validate import array, check_fields, kind, known_name, number, required, shown

FIELDS = (
    "name", "description", "layers", "activations", "loss", "weights", "biases", "input",
    "target", "inputs", "targets", "learning_rate", "frozen", "init", "seed", "bias",
    "optimizer", "steps",
)
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

PRESETS: dict[str, dict[str, Any]] = {
    # The 2-2-1 sigmoid network of the classic hand-worked exercise in shared/seed.
    "seed": {
        "name": "seed",
        "description": "2-2-1 sigmoid network, squared error, one gradient-descent step",
        "layers": [2, 2, 1],
        "activations": "sigmoid",
        "loss": "sse",
        "weights": [[[0.2, 0.4], [0.1, 0.3]], [[0.5], [0.6]]],
        "biases": [[0.1, 0.2], [0.1]],
        "input": [0.5, 0.3],
        "target": [0.7],
        "learning_rate": 0.1,
    },
}


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


@dataclass(eq=False)  # arrays: no elementwise ==
class Spec(Frozen):
    """A validated network spec. Inputs and targets are 2-D (example, unit) when ``batched``."""

    name: str
    layers: tuple[int, ...]
    activations: tuple[str, ...]
    loss: str
    weights: tuple[np.ndarray, ...] | None
    biases: tuple[np.ndarray, ...] | None
    inputs: np.ndarray
    targets: np.ndarray
    batched: bool
    learning_rate: float
    frozen: tuple[str, ...] = ()
    init: str = "auto"
    seed: int = 0
    bias: str = "per_unit"
    description: str = ""
    optimizer: OptimizerSpec = OptimizerSpec()
    steps: int = 1

    @property
    def architecture(self) -> str:
        return "-".join(map(str, self.layers))

    def build_model(self, dtype: Any = None) -> MLP:
        model = MLP(self.layers, self.activations, weights=self.weights, biases=self.biases,
                    init=self.init, seed=self.seed, bias_mode=self.bias, dtype=dtype)
        model.freeze(*self.frozen)
        return model


def load_spec(source: str | Path | None = None) -> Spec:
    """A spec from a preset name (``"seed"``; the default) or a JSON, TOML or YAML file."""
    if source is None:
        source = "seed"
    if isinstance(source, str) and source in PRESETS:
        return parse_spec(PRESETS[source])
    from pathlib import Path

    path = Path(source)
    if not path.exists() and not path.is_symlink():
        presets = ", ".join(PRESETS)
        raise SpecError(f"{source}: no such spec file (built-in networks: {presets})")
    return parse_spec(read_spec_file(path), default_name=path.stem)


def read_spec_file(path: Path) -> Any:
    """Decode a spec file by its suffix, within the limits of :mod:`chainrule.inputs`; a
    syntax error names the file, line and column."""
    text = inputs.read_text(path, SpecError, "spec file")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return inputs.parse_toml(text, path)
    if suffix in (".yaml", ".yml"):
        return inputs.parse_yaml(text, path)
    return inputs.parse_json(text, path)


def parse_spec(data: Any, default_name: str = "network") -> Spec:
    """Validate a decoded spec; the first problem found raises a :class:`SpecError`."""
    if not isinstance(data, dict):
        raise SpecError(f"spec: expected an object with fields, got {kind(data)}")
    if "expression" in data:  # chainrule.expr.program reads these; "unknown field" would mislead
        raise SpecError("expression: this spec describes an expression (expression + at), "
                        "not a network (layers, loss, ...)")
    check_fields(data, FIELDS)

    layers = _layers(required(data, "layers"))
    depth = len(layers) - 1
    _check_size(layers, data.get("bias", "per_unit"))
    activations = _activations(data.get("activations", "sigmoid"), depth)
    loss = known_name(required(data, "loss"), "loss", "loss", LOSS_TABLE)
    weights = _matrices(data.get("weights"), "weights", depth)
    biases = _matrices(data.get("biases"), "biases", depth)
    if LOSS_TABLE[loss].target == "probabilities" and not ACTIVATION_TABLE[
            activations[-1]].probabilities:
        raise SpecError(f"loss: {loss} needs outputs in (0, 1), but the output activation is "
                        f"{shown(activations[-1])}; use sigmoid (or cross_entropy for logits)")
    inputs, targets, batched = _examples(data, layers, loss)
    learning_rate = number(required(data, "learning_rate"), "learning_rate")
    if learning_rate <= 0:
        raise SpecError(f"learning_rate: expected a positive number, got {learning_rate}")
    init = data.get("init", "auto")
    if init not in INIT_NAMES:
        raise SpecError("init: " + unknown_name_message("init", init, dict.fromkeys(INIT_NAMES)))
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise SpecError(f"seed: expected a non-negative integer, got {shown(seed)}")
    bias = data.get("bias", "per_unit")
    if bias not in BIAS_MODES:
        raise SpecError(f"bias: expected one of {', '.join(BIAS_MODES)}, got {shown(bias)}")

    steps = data.get("steps", 1)
    if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= MAX_STEPS:
        raise SpecError(f"steps: expected a whole number from 1 to {MAX_STEPS}, got {shown(steps)}")

    name, description = (_text(data, key, fallback) for key, fallback in
                         (("name", default_name), ("description", "")))
    spec = Spec(
        name=name, optimizer=_optimizer(data.get("optimizer")),
        steps=steps, layers=layers, activations=activations,
        loss=loss, weights=weights, biases=biases, inputs=inputs, targets=targets,
        batched=batched, learning_rate=learning_rate, init=init, seed=seed, bias=bias,
        description=description,
    )
    # Building the network checks every weight and bias shape against the layer sizes,
    # with the same messages the Python API gives.
    try:
        names = [name for name, _ in spec.build_model().named_parameters()]
    except ShapeError as error:  # in a spec, a wrong shape is a spec error like any other
        raise SpecError(str(error)) from None
    return replace(spec, frozen=_frozen(data.get("frozen", []), names))


# --- field validators ------------------------------------------------------------------------


def _layers(value: Any) -> tuple[int, ...]:
    ok = isinstance(value, list) and len(value) >= 2 and all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in value)
    if not ok:
        raise SpecError(f"layers: expected a list of at least two positive integers "
                        f"(units per layer, input first), got {shown(value)}")
    return tuple(value)


def _text(data: dict, key: str, default: str) -> str:
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


def _check_size(layers: tuple[int, ...], bias: Any) -> None:
    """Refuse a network too large to hold before a weight is drawn."""
    if len(layers) - 1 > MAX_LAYERS:
        raise SpecError(f"layers: {len(layers) - 1} weight layers; at most {MAX_LAYERS}")
    for i, units in enumerate(layers):
        if units > MAX_UNITS:
            raise SpecError(f"layers[{i}]: {units:,} units; a layer may have at most "
                            f"{MAX_UNITS:,}")
    count = parameter_count(layers, bias)
    if count > MAX_PARAMETERS:
        raise SpecError(f"layers: {list(layers)} has {count:,} parameters; a spec may have at "
                        f"most {MAX_PARAMETERS:,}")


def parameter_count(layers: tuple[int, ...], bias: Any = "per_unit") -> int:
    """Weights and biases of a network with these layer sizes."""
    per_layer = {"per_unit": lambda n: n, "shared_per_layer": lambda n: 1}.get(bias, lambda n: 0)
    return sum(n * m + per_layer(m) for n, m in zip(layers, layers[1:]))


def check_explainable(spec: Spec, steps: int | None = None, what: str = "explain") -> None:
    """Refuse a step too large to list element by element (:data:`MAX_EXPLAINED`)."""
    examples = spec.inputs.shape[0] if spec.batched else 1
    count = parameter_count(spec.layers, spec.bias)
    size = count * examples * (steps or spec.steps)
    if size > MAX_EXPLAINED:
        raise SpecError(f"{what}: network {spec.name!r} has {count:,} parameters × {examples} "
                        f"example(s) × {steps or spec.steps} step(s) = {size:,} elements to "
                        f"list; at most {MAX_EXPLAINED:,} (try a smaller network or batch)")


def _activations(value: Any, depth: int) -> tuple[str, ...]:
    if isinstance(value, str):
        return (known_name(value, "activations", "activation", ACTIVATION_TABLE),) * depth
    if not isinstance(value, list) or len(value) != depth:
        raise SpecError(f"activations: expected one name or a list of {depth} "
                        f"(one per layer), got {shown(value)}")
    return tuple(known_name(v, f"activations[{i}]", "activation", ACTIVATION_TABLE)
                 for i, v in enumerate(value))


def _matrices(value: Any, path: str, depth: int) -> tuple[np.ndarray, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != depth:
        raise SpecError(f"{path}: expected a list of {depth} entries (one per layer), "
                        f"got {kind(value)}" + (f" of {len(value)}" if isinstance(value, list)
                                                 else ""))
    return tuple(array(v, f"{path}[{i}]") for i, v in enumerate(value))


def _examples(data: dict, layers: tuple[int, ...], loss: str) -> tuple[np.ndarray, np.ndarray,
                                                                         bool]:
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
    n_in, n_out = layers[0], layers[-1]
    expected = (inputs.shape[0], n_in) if batch and inputs.ndim == 2 else (n_in,)
    if batch and inputs.ndim != 2 or inputs.shape != expected:
        what = f"a list of examples, each {n_in} values" if batch else f"{n_in} values"
        raise SpecError(f"{x_key}: expected {what} (layer sizes {list(layers)}), "
                        f"got shape {inputs.shape}")
    raw_target = required(data, t_key)
    targets = array(raw_target, t_key)
    out_shape = (inputs.shape[0], n_out) if batch else (n_out,)
    index_shape = out_shape[:-1]
    kind_of_target = LOSS_TABLE[loss].target
    if kind_of_target == "classes" and targets.shape == index_shape and _all_ints(targets, n_out):
        return inputs, targets.astype(np.int64), batch
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
    return inputs, targets, batch


def _all_ints(values: np.ndarray, classes: int) -> bool:
    return bool(np.all(values == np.round(values)) and np.all((values >= 0) & (values < classes)))


def _optimizer(value: Any) -> OptimizerSpec:
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


def _frozen(value: Any, names: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise SpecError(f"frozen: expected a list of parameter names like \"b1\", got {shown(value)}")
    for i, name in enumerate(value):
        if name not in names:
            raise SpecError(f"frozen[{i}]: no parameter {shown(name)}; this network has "
                            f"{', '.join(names)}")
    return tuple(value)
