"""The chain-rule factorisation: products multiply, and terms add, to the engine's gradients.

The factorisation is computed from forward values and formulas alone; the engine computes
gradients by reverse-mode autodiff. Agreement on random networks checks both.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
from chainrule.nn.activations import ACTIVATIONS

ACTS = sorted(ACTIVATIONS)


@st.composite
def specs(draw):
    layers = draw(st.lists(st.integers(1, 3), min_size=2, max_size=4))
    depth = len(layers) - 1
    activations = draw(st.lists(st.sampled_from(ACTS), min_size=depth, max_size=depth))
    loss = draw(st.sampled_from(["sse", "half_sse", "mse", "bce", "cross_entropy"]))
    if loss == "bce":
        activations[-1] = "sigmoid"
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    batch = draw(st.sampled_from([None, 2, 3]))
    shape_in = (batch, layers[0]) if batch else (layers[0],)
    shape_out = (batch, layers[-1]) if batch else (layers[-1],)
    target = rng.uniform(0.05, 0.95, size=shape_out)
    if loss == "cross_entropy":
        target = np.eye(layers[-1])[rng.integers(0, layers[-1], size=shape_out[:-1])]
    bias = draw(st.sampled_from(["per_unit", "shared_per_layer", "none"]))
    data = {
        "layers": layers, "activations": activations, "loss": loss, "seed": seed, "bias": bias,
        "init": "xavier_normal", "learning_rate": 0.1,
        ("inputs" if batch else "input"): rng.normal(size=shape_in).tolist(),
        ("targets" if batch else "target"): target.tolist(),
    }
    return data


def element(trace, key):
    name, index = key.split("[")
    return trace.gradients[name][tuple(int(i) for i in index[:-1].split(","))]


@given(data=specs())
def test_factors_and_terms_give_the_engine_gradients(data):
    trace = cr.explain(data)
    chain = trace.chain
    assert set(chain.parameters) == {
        f"{name}[{','.join(map(str, i))}]" for name, g in trace.gradients.items()
        for i in np.ndindex(g.shape)}
    for key, expansion in chain.parameters.items():
        expected = element(trace, key)
        if expansion.factors:
            product = np.prod([f.value for f in expansion.factors])
            assert product == pytest.approx(expected, rel=1e-9, abs=1e-14), key
        if expansion.terms:
            assert sum(t.value for t in expansion.terms) == pytest.approx(
                expected, rel=1e-9, abs=1e-14), key
            for term in expansion.terms:
                assert term.value == pytest.approx(np.prod([f.value for f in term.factors]))
        assert expansion.value == pytest.approx(expected, rel=1e-9, abs=1e-14), key
    for key, expansion in chain.deltas.items():
        layer = int(key[5:key.index("[")])
        index = tuple(int(i) for i in key[key.index("[") + 1:-1].split(","))
        assert expansion.value == pytest.approx(trace.backward[f"delta{layer}"][index],
                                                rel=1e-9, abs=1e-14), key


def test_seed_chain_is_the_five_factor_product():
    w = cr.explain("seed").chain.parameters["W1[0,0]"]
    assert w.symbol == "∂E/∂w¹₁₁" and w.paths == 1
    assert [f.symbol for f in w.factors] == ["∂E/∂a²₁", "∂a²₁/∂z²₁", "∂z²₁/∂a¹₁", "∂a¹₁/∂z¹₁",
                                             "∂z¹₁/∂w¹₁₁"]
    np.testing.assert_allclose([f.value for f in w.factors],
                               [-0.0413429, 0.2178, 0.5, 0.2467, 0.5], atol=5e-5)
    assert [f.formula for f in w.factors] == ["2(a²₁ − t₁)", "a²₁(1 − a²₁)", "w²₁₁",
                                              "a¹₁(1 − a¹₁)", "a⁰₁"]


def test_where_paths_meet_the_delta_form_lists_every_term():
    trace = cr.explain({"layers": [2, 2, 3], "activations": ["sigmoid", "softmax"],
                        "loss": "cross_entropy", "input": [0.5, -0.2], "target": 2,
                        "learning_rate": 0.1, "seed": 4})
    w = trace.chain.parameters["W1[1,0]"]
    assert w.paths == 9 and w.delta == "delta1[0]"
    assert [f.symbol for f in w.factors] == ["δ¹₁", "∂z¹₁/∂w¹₂₁"]
    delta = trace.chain.deltas["delta1[0]"]
    assert delta.rule == "δ¹₁ = ∂a¹₁/∂z¹₁ · Σₖ w²₁ₖ δ²ₖ"
    assert [[f.symbol for f in t.factors] for t in delta.terms] == [
        ["w²₁₁", "δ²₁"], ["w²₁₂", "δ²₂"], ["w²₁₃", "δ²₃"]]
    softmax = trace.chain.deltas["delta2[0]"]
    assert len(softmax.terms) == 3 and softmax.rule.startswith("δ²₁ = Σₘ")
    # softmax + cross-entropy: δ = a − t, whatever the path by path numbers
    np.testing.assert_allclose([trace.chain.deltas[f"delta2[{k}]"].value for k in range(3)],
                               trace.forward["a2"] - np.eye(3)[2], rtol=1e-12)


def test_batch_gradients_are_sums_over_examples():
    trace = cr.explain(_batch_spec())
    w = trace.chain.parameters["W2[1,0]"]
    assert len(w.terms) == 4 and not w.factors
    assert [f.symbol for f in w.terms[2].factors] == ["δ²⁽³⁾₁", "∂z²⁽³⁾₁/∂w²₂₁"]


def _batch_spec():
    from pathlib import Path
    import json

    return json.loads((Path(__file__).parent.parent / "examples" / "batch.json").read_text())


def test_large_networks_skip_per_element_chains():
    trace = cr.explain({"layers": [40, 50, 10], "activations": "relu", "loss": "mse",
                        "input": [0.1] * 40, "target": [0.0] * 10, "learning_rate": 0.1})
    assert trace.chain.parameters == {} and "exceed" in trace.chain.omitted
    assert len(trace.chain.deltas) == 60
