"""Network specs: what a user writes to describe one training step, validated field by field.

A spec is a JSON object (see docs/spec.md). Validation is hand-written rather than delegated
to a schema library: every message must name the field path and the expectation in the
network's own terms (``weights[1]: expected shape (2, 1) for layer 2 (2 → 1 units), got
(1, 2)``), and the CLI must start fast.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.frozen import Frozen
from chainrule import inputs
from chainrule.tables.activations import ACTIVATION_TABLE
from chainrule.errors import ShapeError, SpecError
from chainrule.tables.losses import LOSS_TABLE
from chainrule.nn.layers import BIAS_MODES, MLP
if TYPE_CHECKING:
    from pathlib import Path

from chainrule.spec.common import (  # noqa: F401 (the limits are read from here too)
    MAX_EXAMPLES, MAX_EXPLAINED, MAX_LAYERS, MAX_PARAMETERS, MAX_STEPS, MAX_UNITS, OptimizerSpec,
    common_fields, parse_frozen, read_examples,
)
from chainrule.spec.validate import array, check_fields, kind, known_name, required, shown

FIELDS = (
    "name", "description", "layers", "activations", "loss", "weights", "biases", "input",
    "target", "inputs", "targets", "learning_rate", "frozen", "init", "seed", "bias",
    "optimizer", "steps",
)
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
    """Validate a decoded spec; the first problem found raises a :class:`SpecError`. Typed
    layers give a :class:`chainrule.spec.layered_spec.LayeredSpec`."""
    if not isinstance(data, dict):
        raise SpecError(f"spec: expected an object with fields, got {kind(data)}")
    if "expression" in data:  # chainrule.expr.program reads these; "unknown field" would mislead
        raise SpecError("expression: this spec describes an expression (expression + at), "
                        "not a network (layers, loss, ...)")
    if isinstance(data.get("layers"), list) and any(isinstance(v, dict) for v in data["layers"]):
        from chainrule.spec.layered_spec import parse_layered

        return parse_layered(data, default_name)
    if "input_shape" in data:
        raise SpecError("input_shape: for a network of typed layers ({\"type\": \"Conv2d\", "
                        "...}); these layers are unit counts, whose first is the input's size")
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
    bias = data.get("bias", "per_unit")
    if bias not in BIAS_MODES:
        raise SpecError(f"bias: expected one of {', '.join(BIAS_MODES)}, got {shown(bias)}")
    spec = Spec(layers=layers, activations=activations, loss=loss, weights=weights,
                biases=biases, inputs=inputs, targets=targets, batched=batched, bias=bias,
                **common_fields(data, default_name))
    # Building the network checks every weight and bias shape against the layer sizes,
    # with the same messages the Python API gives.
    try:
        names = [name for name, _ in spec.build_model().named_parameters()]
    except ShapeError as error:  # in a spec, a wrong shape is a spec error like any other
        raise SpecError(str(error)) from None
    return replace(spec, frozen=parse_frozen(data.get("frozen", []), names))


# --- field validators ------------------------------------------------------------------------


def _layers(value: Any) -> tuple[int, ...]:
    ok = isinstance(value, list) and len(value) >= 2 and all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in value)
    if not ok:
        raise SpecError(f"layers: expected a list of at least two positive integers "
                        f"(units per layer, input first), got {shown(value)}")
    return tuple(value)


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
    return read_examples(data, (layers[0],), layers[-1], loss, f"layer sizes {list(layers)}")


