"""Network specs: what a user writes to describe one training step, validated field by field.

A spec is a JSON object (see docs/spec.md). Validation is hand-written rather than delegated
to a schema library: every message must name the field path and the expectation in the
network's own terms (``weights[1]: expected shape (2, 1) for layer 2 (2 → 1 units), got
(1, 2)``), and the CLI must start fast.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import ShapeError, SpecError
from chainrule.nn.activations import ACTIVATIONS, unknown_name_message
from chainrule.nn.init import INIT_NAMES
from chainrule.nn.layers import BIAS_MODES, MLP
from chainrule.nn.losses import LOSSES
from chainrule.validate import array, check_fields, kind, known_name, number, required

FIELDS = (
    "name", "description", "layers", "activations", "loss", "weights", "biases", "input",
    "target", "inputs", "targets", "learning_rate", "frozen", "init", "seed", "bias",
    "optimizer", "steps",
)
OPTIMIZER_FIELDS = ("name", "momentum", "dampening", "nesterov", "weight_decay")
MAX_STEPS = 1000

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


@dataclass(frozen=True)
class OptimizerSpec:
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
        from chainrule.optim import SGD

        return SGD(params, lr=learning_rate, momentum=self.momentum, dampening=self.dampening,
                   nesterov=self.nesterov, weight_decay=self.weight_decay)


@dataclass(frozen=True)
class Spec:
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
    path = Path(source)
    if not path.is_file():
        presets = ", ".join(PRESETS)
        raise SpecError(f"{source}: no such spec file (built-in networks: {presets})")
    return parse_spec(read_spec_file(path), default_name=path.stem)


def read_spec_file(path: Path) -> Any:
    """Decode a spec file by its suffix; a syntax error names the file, line and column."""
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        import tomllib

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise SpecError(f"{path}: invalid TOML: {error}") from None
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            raise SpecError(f"{path}{where}: invalid YAML: {problem}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise SpecError(f"{path}:{error.lineno}:{error.colno}: invalid JSON: {error.msg}") from None


def parse_spec(data: Any, default_name: str = "network") -> Spec:
    """Validate a decoded spec; the first problem found raises a :class:`SpecError`."""
    if not isinstance(data, dict):
        raise SpecError(f"spec: expected an object with fields, got {kind(data)}")
    check_fields(data, FIELDS)

    layers = _layers(required(data, "layers"))
    depth = len(layers) - 1
    activations = _activations(data.get("activations", "sigmoid"), depth)
    loss = known_name(required(data, "loss"), "loss", "loss", LOSSES)
    weights = _matrices(data.get("weights"), "weights", depth)
    biases = _matrices(data.get("biases"), "biases", depth)
    if loss == "bce" and activations[-1] not in ("sigmoid", "softmax"):
        raise SpecError(f"loss: bce needs outputs in (0, 1), but the output activation is "
                        f"{activations[-1]!r}; use sigmoid (or cross_entropy for logits)")
    inputs, targets, batched = _examples(data, layers, loss)
    learning_rate = number(required(data, "learning_rate"), "learning_rate")
    if learning_rate <= 0:
        raise SpecError(f"learning_rate: expected a positive number, got {learning_rate}")
    init = data.get("init", "auto")
    if init not in INIT_NAMES:
        raise SpecError("init: " + unknown_name_message("init", init, dict.fromkeys(INIT_NAMES)))
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise SpecError(f"seed: expected a non-negative integer, got {seed!r}")
    bias = data.get("bias", "per_unit")
    if bias not in BIAS_MODES:
        raise SpecError(f"bias: expected one of {', '.join(BIAS_MODES)}, got {bias!r}")

    steps = data.get("steps", 1)
    if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= MAX_STEPS:
        raise SpecError(f"steps: expected a whole number from 1 to {MAX_STEPS}, got {steps!r}")

    spec = Spec(
        name=str(data.get("name", default_name)), optimizer=_optimizer(data.get("optimizer")),
        steps=steps, layers=layers, activations=activations,
        loss=loss, weights=weights, biases=biases, inputs=inputs, targets=targets,
        batched=batched, learning_rate=learning_rate, init=init, seed=seed, bias=bias,
        description=str(data.get("description", "")),
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
                        f"(units per layer, input first), got {value!r}")
    return tuple(value)


def _activations(value: Any, depth: int) -> tuple[str, ...]:
    if isinstance(value, str):
        return (known_name(value, "activations", "activation", ACTIVATIONS),) * depth
    if not isinstance(value, list) or len(value) != depth:
        raise SpecError(f"activations: expected one name or a list of {depth} "
                        f"(one per layer), got {value!r}")
    return tuple(known_name(v, f"activations[{i}]", "activation", ACTIVATIONS) for i, v in enumerate(value))


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
    if loss == "cross_entropy" and targets.shape == index_shape and _all_ints(targets, n_out):
        return inputs, targets.astype(np.int64), batch
    if targets.shape != out_shape:
        hint = " or a class index" if loss == "cross_entropy" else ""
        raise SpecError(f"{t_key}: expected shape {out_shape} ({n_out} value(s) per example "
                        f"for {n_out} output unit(s){hint}), got shape {targets.shape}")
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
                        f"got {name!r}")
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
        raise SpecError(f"optimizer.nesterov: expected true or false, got {nesterov!r}")
    if nesterov and (numbers.get("momentum", 0) == 0 or numbers.get("dampening", 0) != 0):
        raise SpecError("optimizer.nesterov: needs momentum > 0 and dampening 0")
    return OptimizerSpec(nesterov=nesterov, **numbers)


def _frozen(value: Any, names: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise SpecError(f"frozen: expected a list of parameter names like \"b1\", got {value!r}")
    for i, name in enumerate(value):
        if name not in names:
            raise SpecError(f"frozen[{i}]: no parameter {name!r}; this network has "
                            f"{', '.join(names)}")
    return tuple(value)
