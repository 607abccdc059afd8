"""The JSON trace against its schema, chainrule/schemas/trace-1.schema.json (chainrule.trace/1).

Every kind of trace the library writes must validate; structurally wrong ones must not. A few
invariants that JSON Schema cannot express (a key equal to its map key, the first step equal
to the top level) are checked in Python beside it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

import chainrule as cr
from chainrule.nn.activations import ACTIVATIONS

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCHEMA_RESOURCE = "schemas/trace-1.schema.json"


def load_schema() -> dict:
    return json.loads(files("chainrule").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8"))


SCHEMA = load_schema()
VALIDATOR = Draft202012Validator(SCHEMA)


def errors(trace: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
            for e in VALIDATOR.iter_errors(trace)]


def as_json(trace: cr.Trace) -> dict:
    """The trace as a consumer reads it: through JSON text, refusing NaN and Infinity."""
    def refuse(constant: str):
        raise AssertionError(f"{constant} in the JSON text: not valid JSON, should be null")

    return json.loads(trace.to_json(), parse_constant=refuse)


def assert_valid(trace: cr.Trace) -> dict:
    data = as_json(trace)
    assert errors(data) == []
    assert errors(trace.to_dict()) == []
    check_invariants(data)
    return data


def check_invariants(data: dict) -> None:
    """What the schema cannot say: keys agree with each other and with the network."""
    network = data["network"]
    layers = network["layers"]
    depth = len(layers) - 1
    assert len(network["activations"]) == depth
    bodies = [data] + data.get("steps", [])
    if "steps" in data:
        assert [s["step"] for s in data["steps"]] == list(range(1, len(data["steps"]) + 1))
        first = dict(data["steps"][0])
        del first["step"]
        assert first == {k: v for k, v in data.items() if k not in ("schema", "network", "steps")}
        for before, after in zip(data["steps"], data["steps"][1:]):
            assert after["parameters"] == before["updated"]
    batch = network["batch_size"]
    for body in bodies:
        forward = ["a0"] + [name for l in range(1, depth + 1) for name in (f"z{l}", f"a{l}")]
        assert list(body["forward"]) == forward + ["loss"] + (["example_losses"] if batch else [])
        assert list(body["backward"]) == [f"dE_da{depth}"] + [f"delta{l}"
                                                               for l in range(depth, 0, -1)]
        for l in range(depth + 1):
            a = np.asarray(body["forward"][f"a{l}"], dtype=float)
            assert a.shape == ((batch, layers[l]) if batch else (layers[l],))
        names = list(body["parameters"])
        assert list(body["gradients"]) == list(body["updated"]) == names
        expected = [f"W{l}" for l in range(1, depth + 1)]
        if network["bias"] != "none":
            expected = [n for l in range(1, depth + 1) for n in (f"W{l}", f"b{l}")]
        assert names == expected
        for name in names:
            layer = int(name[1:])
            shape = ((layers[layer - 1], layers[layer]) if name[0] == "W" else
                     ((1,) if network["bias"] == "shared_per_layer" else (layers[layer],)))
            for group in ("parameters", "gradients", "updated"):
                assert np.asarray(body[group][name], dtype=float).shape == shape, (group, name)
        for name in network["frozen"]:
            assert body["updated"][name] == body["parameters"][name]
        for group, values in (("deltas", body["backward"]), ("chain", body["gradients"])):
            for key, expansion in body[group].items():
                assert expansion["key"] == key
                if "delta" in expansion:
                    assert expansion["delta"] in body["deltas"]
                check_arithmetic(expansion)
                name, index = key[:-1].split("[")
                element = np.asarray(values[name], dtype=float)[
                    tuple(int(i) for i in index.split(","))]
                if expansion["value"] is not None and np.isfinite(element):
                    assert expansion["value"] == pytest.approx(element, rel=1e-9, abs=1e-14), key
        units = sum(layers[1:]) * (batch or 1)
        assert len(body["deltas"]) == units
        if body["chain"]:
            assert "chain_omitted" not in body
            elements = {f"{name}[{','.join(map(str, index))}]" for name in names
                        for index in np.ndindex(np.asarray(body["parameters"][name]).shape)}
            assert set(body["chain"]) == elements
        else:
            assert body["chain_omitted"]


def check_arithmetic(expansion: dict) -> None:
    """How the numbers of an expansion combine (docs/trace-schema.md, "Expansions")."""
    def close(a, b):
        return a == pytest.approx(b, rel=1e-9, abs=1e-14)

    def product(factors):
        return float(np.prod([f["value"] for f in factors]))

    factors, terms = expansion.get("factors"), expansion.get("terms")
    numbers = [expansion["value"]] + [f["value"] for f in factors or []] + [
        v for t in terms or [] for v in [t["value"]] + [f["value"] for f in t["factors"]]]
    if None in numbers:  # a non-finite number: nothing to multiply
        return
    for term in terms or []:
        assert close(term["value"], product(term["factors"]))
    if factors:
        assert close(expansion["value"], product(factors)), expansion["key"]
    if terms:
        total = sum(term["value"] for term in terms)
        # With both, the terms are the paths that add up to the last factor, ∂E/∂aˡⱼ.
        assert close(factors[-1]["value"] if factors else expansion["value"], total)


# --- the schema itself ------------------------------------------------------------------------


def test_schema_is_valid_draft_2020_12():
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["properties"]["schema"]["const"] == "chainrule.trace/1"


def test_schema_ships_as_package_data():
    resource = files("chainrule").joinpath("schemas").joinpath("trace-1.schema.json")
    assert resource.is_file()


# --- traces that must validate ----------------------------------------------------------------


SEED = {"layers": [2, 2, 1], "activations": "sigmoid", "loss": "sse",
        "weights": [[[0.2, 0.4], [0.1, 0.3]], [[0.5], [0.6]]], "biases": [[0.1, 0.2], [0.1]],
        "input": [0.5, 0.3], "target": [0.7], "learning_rate": 0.1}

CASES = {
    "seed": "seed",
    "batch": str(EXAMPLES / "batch.json"),
    "softmax cross-entropy, class index": {
        "layers": [2, 4, 3], "activations": ["tanh", "softmax"], "loss": "cross_entropy",
        "input": [0.5, -0.2], "target": 2, "learning_rate": 0.1, "seed": 3},
    "softmax cross-entropy, batch of class indices": {
        "layers": [2, 3], "activations": "softmax", "loss": "cross_entropy",
        "inputs": [[0.5, -0.2], [1.0, 0.4], [-0.3, 0.8]], "targets": [2, 0, 1],
        "learning_rate": 0.1, "seed": 4},
    "softmax cross-entropy, one-hot": {
        "layers": [3, 3], "activations": "softmax", "loss": "cross_entropy",
        "input": [0.1, 0.2, 0.3], "target": [0, 1, 0], "learning_rate": 0.1},
    "cross-entropy from identity logits": {
        "layers": [2, 3], "activations": "identity", "loss": "cross_entropy",
        "input": [0.1, 0.2], "target": [0, 0, 1], "learning_rate": 0.1},
    "three layers": {
        "layers": [3, 4, 3, 2], "activations": ["tanh", "relu", "sigmoid"], "loss": "mse",
        "input": [0.3, -0.1, 0.8], "target": [0.2, 0.9], "learning_rate": 0.05, "seed": 7},
    "three layers, a single path": {
        "layers": [2, 1, 1, 1], "activations": ["sigmoid", "tanh", "sigmoid"], "loss": "bce",
        "input": [0.3, -0.1], "target": [1.0], "learning_rate": 0.5, "seed": 2},
    "three layers, batch": {
        "layers": [2, 3, 2, 1], "activations": ["leaky_relu", "tanh", "identity"],
        "loss": "half_sse", "inputs": [[0.1, 0.2], [0.3, -0.4]], "targets": [[0.5], [-0.5]],
        "learning_rate": 0.1, "seed": 5},
    "shared bias": {**SEED, "biases": [[0.1], [0.2]], "bias": "shared_per_layer"},
    "shared bias, batch": {
        "layers": [2, 2, 1], "loss": "sse", "bias": "shared_per_layer",
        "inputs": [[0.1, 0.2], [0.3, 0.4]], "targets": [[0.0], [1.0]], "learning_rate": 0.1},
    "no bias": {**{k: v for k, v in SEED.items() if k != "biases"}, "bias": "none"},
    "no bias, batch": {
        "layers": [2, 2, 1], "loss": "sse", "bias": "none",
        "inputs": [[0.1, 0.2], [0.3, 0.4]], "targets": [[0.0], [1.0]], "learning_rate": 0.1},
    "frozen": {**SEED, "frozen": ["W1", "b2"]},
    "frozen, steps": {**SEED, "frozen": ["b1"], "steps": 2},
    "plain steps, batch": {**json.loads((EXAMPLES / "batch.json").read_text()), "steps": 3},
}


@pytest.mark.parametrize("source", CASES.values(), ids=CASES.keys())
def test_trace_validates(source):
    assert_valid(cr.explain(source))


@pytest.mark.parametrize("path", [p for p in sorted(EXAMPLES.glob("*.*"))  # MLPs: trace/1
                                  if isinstance(cr.load_spec(p), cr.Spec)],
                         ids=lambda path: path.name)
def test_every_example_validates(path):
    assert_valid(cr.explain(str(path)))


@pytest.mark.parametrize("path", sorted((Path(__file__).parent / "golden").glob("*.json")),
                         ids=lambda path: path.name)
def test_golden_traces_validate(path):
    data = json.loads(path.read_text(encoding="utf-8"))
    assert errors(data) == []
    check_invariants(data)


def test_seed_trace_shape():
    data = assert_valid(cr.explain("seed"))
    assert "steps" not in data and "chain_omitted" not in data
    assert data["network"]["batch_size"] is None
    w = data["chain"]["W1[0,0]"]
    assert len(w["factors"]) == 5 and w["delta"] == "delta1[0]" and w["paths"] == 1
    assert "terms" in data["deltas"]["delta1[0]"] and "terms" not in data["deltas"]["delta2[0]"]


def test_batch_trace_is_two_dimensional():
    data = assert_valid(cr.explain(str(EXAMPLES / "batch.json")))
    assert data["network"]["batch_size"] == 4
    assert len(data["forward"]["example_losses"]) == 4
    assert "delta1[3,2]" in data["deltas"]
    assert "terms" in data["chain"]["W1[0,0]"] and "delta" not in data["chain"]["W1[0,0]"]


def test_shared_and_absent_biases():
    shared = assert_valid(cr.explain(CASES["shared bias"]))
    assert shared["parameters"]["b1"] == [0.1] and "b1[0]" in shared["chain"]
    assert shared["chain"]["b1[0]"]["symbol"] == "∂E/∂b¹"
    none = assert_valid(cr.explain(CASES["no bias"]))
    assert set(none["parameters"]) == {"W1", "W2"}
    assert not any(key.startswith("b") for key in none["chain"])


def test_frozen_parameters_keep_their_values():
    data = assert_valid(cr.explain(CASES["frozen"]))
    assert data["network"]["frozen"] == ["W1", "b2"]
    assert data["updated"]["W1"] == data["parameters"]["W1"]
    assert data["updated"]["b1"] != data["parameters"]["b1"]


@pytest.mark.parametrize("options", [
    {"momentum": 0.9},
    {"momentum": 0.9, "nesterov": True},
    {"momentum": 0.5, "dampening": 0.5, "weight_decay": 0.01},
], ids=["momentum", "nesterov", "dampening+weight_decay"])
@pytest.mark.parametrize("batched", [False, True], ids=["one", "batch"])
def test_momentum_steps(options, batched):
    base = (json.loads((EXAMPLES / "batch.json").read_text()) if batched else SEED)
    spec = {**base, "optimizer": {"name": "sgd", **options}, "steps": 3}
    data = assert_valid(cr.explain(spec))
    assert len(data["steps"]) == 3
    assert data["network"]["optimizer"] == {"name": "sgd", "momentum": 0.0, "dampening": 0.0,
                                            "nesterov": False, "weight_decay": 0.0, **options}
    assert [s["step"] for s in data["steps"]] == [1, 2, 3]


def test_large_network_omits_the_chain():
    spec = {"layers": [40, 50, 10], "loss": "mse", "input": np.linspace(-1, 1, 40).tolist(),
            "target": [0.5] * 10, "learning_rate": 0.1}
    data = assert_valid(cr.explain(spec))
    assert data["chain"] == {} and "exceed" in data["chain_omitted"]
    assert len(data["deltas"]) == 60


def test_large_network_omits_the_chain_in_every_step():
    spec = {"layers": [40, 50, 10], "loss": "mse", "input": np.linspace(-1, 1, 40).tolist(),
            "target": [0.5] * 10, "learning_rate": 0.1, "steps": 2}
    data = assert_valid(cr.explain(spec))
    assert all(step["chain"] == {} and step["chain_omitted"] for step in data["steps"])


def test_explain_of_a_model_validates():
    model = cr.nn.MLP([2, 3, 2], ["tanh", "softmax"], seed=1)
    assert_valid(cr.explain(model, input=[0.2, 0.4], target=1, loss="cross_entropy",
                            learning_rate=0.1))


def test_nulls_stand_for_non_finite_numbers():
    data = cr.explain("seed").to_dict()
    data["forward"]["loss"] = None
    data["backward"]["dE_da2"] = [None]
    data["gradients"]["W1"][0][1] = None
    data["chain"]["W1[0,0]"]["factors"][0]["value"] = None
    data["loss_after"] = None
    assert errors(data) == []


SATURATED = {
    "softmax": {"layers": [1, 2], "activations": "softmax", "loss": "cross_entropy",
                "weights": [[[800.0, -800.0]]], "input": [1.0], "target": [0, 1],
                "learning_rate": 0.1},
    "softmax, batch": {"layers": [2, 2], "activations": "softmax", "loss": "cross_entropy",
                       "weights": [[[800.0, -800.0], [1.0, 1.0]]], "inputs": [[1, 0], [0, 1]],
                       "targets": [1, 0], "learning_rate": 0.1},
    "sigmoid bce": {"layers": [1, 1], "activations": "sigmoid", "loss": "bce",
                    "weights": [[[800.0]]], "input": [1.0], "target": [0.0],
                    "learning_rate": 0.1},
    "sigmoid bce, hidden": {"layers": [1, 2, 1], "activations": "sigmoid", "loss": "bce",
                            "weights": [[[800.0, 1.0]], [[900.0], [1.0]]], "input": [1.0],
                            "target": [0.0], "learning_rate": 0.1},
}


@pytest.mark.parametrize("spec", SATURATED.values(), ids=SATURATED.keys())
def test_saturated_network_writes_null_not_nan(spec):
    data = assert_valid(cr.explain(spec))
    dE_da = data["backward"][f"dE_da{len(spec['layers']) - 1}"]
    assert None in np.ravel(np.asarray(dE_da, dtype=object))  # ±inf at the saturated unit


def test_documented_examples_are_real():
    """The two expansions shown in docs/trace-schema.md are the seed trace's own."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "trace-schema.md").read_text(
        encoding="utf-8")
    shown = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", doc, re.S)]
    data = cr.explain("seed").to_dict()
    assert shown == [data["chain"]["W1[0,0]"], data["deltas"]["delta1[0]"]]
    assert errors(data) == []


# --- random small networks --------------------------------------------------------------------


@st.composite
def specs(draw):
    layers = draw(st.lists(st.integers(1, 3), min_size=2, max_size=4))
    depth = len(layers) - 1
    activations = draw(st.lists(st.sampled_from(sorted(ACTIVATIONS)), min_size=depth,
                                max_size=depth))
    loss = draw(st.sampled_from(["sse", "half_sse", "mse", "bce", "cross_entropy"]))
    if loss == "bce":
        activations[-1] = "sigmoid"
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    batch = draw(st.sampled_from([None, 1, 2, 3]))
    shape_in = (batch, layers[0]) if batch else (layers[0],)
    shape_out = (batch, layers[-1]) if batch else (layers[-1],)
    target = rng.uniform(0.05, 0.95, size=shape_out).tolist()
    if loss == "cross_entropy":
        index = rng.integers(0, layers[-1], size=shape_out[:-1])
        target = (index.tolist() if draw(st.booleans())
                  else np.eye(layers[-1])[index].tolist())
    bias = draw(st.sampled_from(["per_unit", "shared_per_layer", "none"]))
    names = [n for l in range(1, depth + 1) for n in (f"W{l}", f"b{l}")
             if bias != "none" or n[0] == "W"]
    data = {
        "layers": layers, "activations": activations, "loss": loss, "seed": seed, "bias": bias,
        "init": "xavier_normal", "learning_rate": draw(st.sampled_from([0.01, 0.1, 0.5])),
        "steps": draw(st.integers(1, 3)),
        "frozen": draw(st.lists(st.sampled_from(names), unique=True, max_size=2)),
        ("inputs" if batch else "input"): rng.normal(size=shape_in).tolist(),
        ("targets" if batch else "target"): target,
    }
    optimizer = draw(st.sampled_from([None, "sgd", {"momentum": 0.9},
                                      {"name": "sgd", "momentum": 0.9, "nesterov": True},
                                      {"momentum": 0.5, "dampening": 0.1},
                                      {"weight_decay": 0.01}]))
    if optimizer is not None:
        data["optimizer"] = optimizer
    return data


@given(spec=specs())
def test_random_traces_validate(spec):
    assert_valid(cr.explain(spec))


# --- the command line -------------------------------------------------------------------------


def run_cli(*args: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "chainrule", "explain", *args,
                             "--format", "json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert not re.search(r"\b(NaN|-?Infinity)\b", result.stdout)
    return json.loads(result.stdout)


@pytest.mark.parametrize("args", [(), (str(EXAMPLES / "batch.json"),),
                                  (str(EXAMPLES / "batch.json"), "--steps", "3")],
                         ids=["seed", "batch", "batch, 3 steps"])
def test_cli_json_validates(args):
    data = run_cli(*args)
    assert errors(data) == []
    check_invariants(data)
    assert len(data.get("steps", [data])) == (3 if "--steps" in args else 1)
