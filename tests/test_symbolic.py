"""Symbolic gradients (sympy) against the engine: the same numbers by exact differentiation.

The loss is written out as one formula of the parameters and differentiated by sympy, never by
the engine, so agreement to 1e-12 checks the engine's backward pass and the loss definitions.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
from chainrule.errors import ChainruleError, MissingDependency
from chainrule.nn.activations import ACTIVATIONS

pytest.importorskip("sympy")

from chainrule.verify.symbolic import (  # noqa: E402 (after the skip: needs sympy to matter)
    MAX_EXAMPLES, MAX_PARAMETERS, symbolic_gradients,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE_FILES = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".json", ".yaml", ".toml")
                       and isinstance(cr.load_spec(p), cr.Spec))  # MLPs: sympy checks their steps
LOSSES = ["sse", "half_sse", "mse", "bce", "cross_entropy"]


def engine_gradient(trace: cr.Trace, parameter: str, index: tuple[int, ...]) -> float:
    return float(trace.gradients[parameter][index])


def assert_agrees(result, trace: cr.Trace, rel: float, abs_: float = 0.0) -> None:
    expected_keys = {f"{name}[{','.join(map(str, i))}]" for name, g in trace.gradients.items()
                     for i in np.ndindex(g.shape)}
    assert set(result.gradients) == expected_keys
    assert result.loss_value == pytest.approx(float(trace.loss), rel=rel, abs=abs_)
    for key, gradient in result.gradients.items():
        expected = engine_gradient(trace, gradient.parameter, gradient.index)
        assert gradient.value == pytest.approx(expected, rel=rel, abs=abs_), key


@pytest.fixture(scope="module")
def seed():
    return symbolic_gradients("seed")


def test_seed_loss_and_gradients(seed):
    assert seed.loss_value == pytest.approx(0.0004273090, abs=1e-10)
    assert_agrees(seed, cr.explain("seed"), rel=1e-12)


def test_seed_w2_11_formula(seed):
    gradient = seed.gradients["W2[0,0]"]
    assert (gradient.parameter, gradient.index) == ("W2", (0, 0))
    assert (gradient.symbol_text, gradient.symbol_latex) == ("w2_11", "w^{2}_{11}")
    # ∂E/∂w²₁₁ = 2(a²₁ − t) · σ'(z²₁) · a¹₁: the output unit's other weight and bias, the
    # hidden unit a¹₁ through its own weights, and exponentials from the sigmoids.
    for symbol in ("w2_11", "w2_21", "b2_1", "w1_11", "w1_21", "b1_1", "exp", "7/10"):
        assert symbol in gradient.text, symbol
    assert gradient.latex and (r"\frac" in gradient.latex or "e^" in gradient.latex)
    assert "w^{1}_{11}" in gradient.latex
    assert "w2_11" in seed.loss_text and "b^{2}_{1}" in seed.loss_latex


def test_seed_symbol_names(seed):
    names = {key: g.symbol_text for key, g in seed.gradients.items()}
    assert names == {"W1[0,0]": "w1_11", "W1[0,1]": "w1_12", "W1[1,0]": "w1_21",
                     "W1[1,1]": "w1_22", "b1[0]": "b1_1", "b1[1]": "b1_2",
                     "W2[0,0]": "w2_11", "W2[1,0]": "w2_21", "b2[0]": "b2_1"}
    assert seed.gradients["b1[1]"].symbol_latex == "b^{1}_{2}"


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_examples_agree_with_the_engine(path):
    spec = cr.load_spec(path)
    sizes = sum(a * b + b for a, b in zip(spec.layers, spec.layers[1:]))
    examples = len(spec.inputs) if spec.batched else 1
    if sizes > MAX_PARAMETERS or examples > MAX_EXAMPLES:
        pytest.skip(f"{path.name} is beyond the symbolic size limits")
    assert_agrees(symbolic_gradients(path), cr.explain(path), rel=1e-12)


def test_accepts_spec_and_dict():
    data = json.loads((EXAMPLES / "seed.json").read_text())
    from_dict = symbolic_gradients(data)
    from_spec = symbolic_gradients(cr.parse_spec(data))
    assert from_dict.to_dict() == from_spec.to_dict()


def test_shared_bias_is_one_symbol_per_layer():
    data = json.loads((EXAMPLES / "seed.json").read_text())
    data.update(bias="shared_per_layer", biases=[[0.1], [0.2]])
    result = symbolic_gradients(data)
    assert result.gradients["b1[0]"].symbol_text == "b1"
    assert result.gradients["b1[0]"].symbol_latex == "b^{1}"
    assert_agrees(result, cr.explain(data), rel=1e-12)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_kink_at_zero_matches_the_engine(activation):
    # Input 0 and bias 0 put every hidden z exactly at the kink: relu'(0) = 0, leaky'(0) = slope.
    data = {"layers": [2, 2, 1], "activations": [activation, "identity"], "loss": "sse",
            "weights": [[[0.3, -0.2], [0.5, 0.1]], [[0.4], [-0.6]]],
            "biases": [[0.0, 0.0], [0.1]], "input": [0.0, 0.0], "target": [1.0],
            "learning_rate": 0.1}
    result = symbolic_gradients(data)
    assert_agrees(result, cr.explain(data), rel=1e-12)
    expected_b1 = 0.0 if activation == "relu" else 2 * (0.1 - 1.0) * 0.4 * 0.01
    assert result.gradients["b1[0]"].value == pytest.approx(expected_b1, rel=1e-12)


@st.composite
def small_specs(draw):
    layers = draw(st.lists(st.integers(1, 3), min_size=2, max_size=3))
    depth = len(layers) - 1
    activations = draw(st.lists(st.sampled_from(sorted(ACTIVATIONS)), min_size=depth,
                                max_size=depth))
    loss = draw(st.sampled_from(LOSSES))
    if loss == "bce":  # probabilities needed: ln y and ln(1 − y)
        activations[-1] = "sigmoid"
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    batch = draw(st.sampled_from([None, 1, 2, 3]))
    shape_in = (batch, layers[0]) if batch else (layers[0],)
    shape_out = (batch, layers[-1]) if batch else (layers[-1],)
    target = rng.uniform(0.05, 0.95, size=shape_out)
    if loss == "cross_entropy":
        classes = rng.integers(0, layers[-1], size=shape_out[:-1])
        target = classes if draw(st.booleans()) else np.eye(layers[-1])[classes]
    bias = draw(st.sampled_from(["per_unit", "shared_per_layer", "none"]))
    pairs = list(zip(layers, layers[1:]))
    data = {
        "layers": layers, "activations": activations, "loss": loss, "bias": bias,
        "learning_rate": 0.1,
        "weights": [rng.uniform(-1.5, 1.5, size=(a, b)).tolist() for a, b in pairs],
        ("inputs" if batch else "input"): rng.normal(size=shape_in).tolist(),
        ("targets" if batch else "target"): target.tolist(),
    }
    if bias != "none":
        data["biases"] = [rng.uniform(-0.5, 0.5, size=b if bias == "per_unit" else 1).tolist()
                          for _, b in pairs]
    return data


@given(data=small_specs())
def test_random_small_networks_agree_with_the_engine(data):
    assert_agrees(symbolic_gradients(data), cr.explain(data), rel=1e-9, abs_=1e-14)


def test_too_many_parameters_names_the_limit():
    data = {"layers": [6, 6], "activations": "identity", "loss": "sse", "seed": 1,
            "input": [0.1] * 6, "target": [0.2] * 6, "learning_rate": 0.1}
    with pytest.raises(ChainruleError) as error:
        symbolic_gradients(data)
    message = str(error.value)
    assert "42 parameter elements" in message and f"MAX_PARAMETERS = {MAX_PARAMETERS}" in message
    assert "\n" not in message


def test_too_many_examples_names_the_limit():
    data = {"layers": [1, 1], "activations": "identity", "loss": "sse", "seed": 1,
            "inputs": [[0.1]] * 5, "targets": [[0.2]] * 5, "learning_rate": 0.1}
    with pytest.raises(ChainruleError, match=f"5 examples.*MAX_EXAMPLES = {MAX_EXAMPLES}"):
        symbolic_gradients(data)


def test_missing_sympy_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sympy", None)  # `import sympy` now raises ImportError
    with pytest.raises(MissingDependency, match=r"pip install 'chainrule\[symbolic\]'"):
        symbolic_gradients("seed")


def test_to_dict_is_json(seed):
    data = seed.to_dict()
    text = json.dumps(data, allow_nan=False)
    back = json.loads(text)
    assert back["loss_value"] == seed.loss_value
    gradient = back["gradients"]["W1[0,1]"]
    assert gradient["index"] == [0, 1] and gradient["symbol_text"] == "w1_12"
    assert math.isclose(gradient["value"], seed.gradients["W1[0,1]"].value)
    assert set(gradient) == {"key", "parameter", "index", "symbol_text", "symbol_latex",
                             "text", "latex", "value"}
