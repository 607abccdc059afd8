"""The catalogue of known mistakes: the NumPy reference step and its variants.

The reference is an independent computation (no autodiff engine): with no mistake it must give
``chainrule.explain``'s numbers, to 1e-12, on every example and on random specs. Each mistake
must be a real alternative: applicable somewhere, and then changing the numbers.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
from chainrule.errors import SpecError
from chainrule.verify.mistakes import (
    CATALOGUE, MISTAKES, Mistake, applicable_mistakes, correct_step, mistaken_step,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SECTIONS = ("parameters", "forward", "backward", "gradients", "updated")

# Networks the examples lack, so every mistake has a network to show itself on.
EXTRA_SPECS = {
    # a square W2: sending errors back through W instead of Wᵀ runs
    "square": {"layers": [2, 2, 2], "activations": ["tanh", "sigmoid"], "loss": "sse",
               "weights": [[[0.3, -0.2], [0.5, 0.4]], [[0.6, -0.1], [0.2, 0.7]]],
               "biases": [[0.1, -0.1], [0.05, 0.0]], "input": [0.4, -0.7],
               "target": [0.2, 0.9], "learning_rate": 0.3},
    # a softmax whose Jacobian is multiplied in (no cross-entropy to fuse it with)
    "softmax_sse": {"layers": [2, 3, 3], "activations": ["sigmoid", "softmax"], "loss": "sse",
                    "weights": [[[0.1, -0.2, 0.3], [0.4, 0.1, -0.3]],
                                [[0.2, -0.1, 0.3], [0.5, 0.2, -0.4], [-0.3, 0.4, 0.1]]],
                    "biases": [[0.0, 0.1, -0.1], [0.1, 0.0, -0.1]],
                    "inputs": [[0.6, -0.4], [0.1, 0.9], [-0.5, 0.2]],
                    "targets": [[0, 0, 1], [1, 0, 0], [0, 1, 0]], "learning_rate": 0.5},
}


def fixed_specs() -> dict[str, cr.Spec]:
    specs = {"seed": cr.load_spec("seed")}
    specs.update({path.name: spec for path in sorted(EXAMPLES.iterdir())
                  if isinstance(spec := cr.load_spec(path), cr.Spec)})  # MLPs: not typed layers
    specs.update({name: cr.parse_spec(data, name) for name, data in EXTRA_SPECS.items()})
    return specs


FIXED = fixed_specs()


def assert_matches_trace(spec: cr.Spec, values: dict[str, np.ndarray]) -> None:
    trace = cr.explain(spec)
    names = {f"{s}.{k}" for s in SECTIONS for k in getattr(trace, s)} | {"loss_after"}
    assert set(values) == names
    for section in SECTIONS:
        for key, expected in getattr(trace, section).items():
            got = values[f"{section}.{key}"]
            assert np.shape(got) == np.shape(expected), (section, key)
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12,
                                       err_msg=f"{section}.{key}")
    np.testing.assert_allclose(values["loss_after"], trace.loss_after, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(FIXED))
def test_reference_reproduces_explain(name):
    assert_matches_trace(FIXED[name], correct_step(FIXED[name]))


def test_reference_seed_numbers():
    values = correct_step("seed")
    np.testing.assert_allclose(values["updated.W1"], [[0.2000555508, 0.4000636489],
                                                      [0.1000333305, 0.3000381893]], atol=1e-10)
    np.testing.assert_allclose(values["updated.W2"], [[0.5005018681], [0.6005584797]],
                               atol=1e-10)
    np.testing.assert_allclose(values["updated.b1"], [0.1001111016, 0.2001272977], atol=1e-10)
    np.testing.assert_allclose(values["updated.b2"], [0.1009006192], atol=1e-10)
    assert values["forward.loss"] == pytest.approx(0.0004273090, abs=1e-10)
    assert values["loss_after"] == pytest.approx(0.0004132980, abs=1e-10)
    assert values["updated.b1"].shape == (2,)


# --- random specs ----------------------------------------------------------------------------

ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "identity", "softmax"]


@st.composite
def random_specs(draw) -> cr.Spec:
    """Any network chainrule can explain: every activation, loss, bias mode, batch or not,
    given or initialised weights, momentum, weight decay, frozen parameters."""
    depth = draw(st.integers(1, 3))
    layers = [draw(st.integers(1, 4)) for _ in range(depth + 1)]
    activations = [draw(st.sampled_from(ACTIVATIONS)) for _ in range(depth - 1)]
    loss = draw(st.sampled_from(["sse", "half_sse", "mse", "bce", "cross_entropy"]))
    if loss in ("bce", "cross_entropy"):
        layers[-1] = max(layers[-1], 2)  # a one-unit softmax or cross-entropy is constant
    last = {"bce": ["sigmoid", "softmax"],
            "cross_entropy": ["softmax", "identity", "sigmoid", "tanh"]}.get(loss, ACTIVATIONS)
    activations.append(draw(st.sampled_from(last)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.sampled_from([None, 2, 3, 4]))
    shape = (layers[-1],) if n is None else (n, layers[-1])
    if loss == "bce":
        targets = rng.uniform(0, 1, shape).tolist()
    elif loss == "cross_entropy":
        classes = rng.integers(0, layers[-1], shape[:-1])
        targets = classes.tolist() if draw(st.booleans()) else \
            np.eye(layers[-1])[classes].tolist()
    else:
        targets = rng.normal(0, 1, shape).tolist()
    bias = draw(st.sampled_from(["per_unit", "shared_per_layer", "none"]))
    data = {"layers": layers, "activations": activations, "loss": loss, "bias": bias,
            "learning_rate": draw(st.sampled_from([0.05, 0.1, 0.5, 1.0])),
            "seed": draw(st.integers(0, 1000))}
    inputs = rng.normal(0, 1, (layers[0],) if n is None else (n, layers[0])).tolist()
    data.update({"input": inputs, "target": targets} if n is None else
                {"inputs": inputs, "targets": targets})
    if draw(st.booleans()):
        pairs = list(zip(layers, layers[1:]))
        data["weights"] = [rng.normal(0, 0.8, pair).tolist() for pair in pairs]
        if bias != "none":
            data["biases"] = [rng.normal(0, 0.3, out if bias == "per_unit" else 1).tolist()
                              for _, out in pairs]
    data["optimizer"] = draw(st.sampled_from([
        "sgd", {"momentum": 0.9}, {"weight_decay": 0.01},
        {"momentum": 0.5, "nesterov": True}]))
    names = [f"W{l}" for l in range(1, depth + 1)]
    names += [] if bias == "none" else [f"b{l}" for l in range(1, depth + 1)]
    data["frozen"] = draw(st.lists(st.sampled_from(names), max_size=2, unique=True))
    return cr.parse_spec(data, "random")


@given(random_specs())
def test_reference_reproduces_explain_on_random_specs(spec):
    assert_matches_trace(spec, correct_step(spec))


@given(random_specs(), st.sampled_from(list(MISTAKES)))
def test_every_mistake_computes_on_any_spec_or_says_why_not(spec, mistake_id):
    mistake = MISTAKES[mistake_id]
    if not mistake.applies(spec):
        assert mistake.why_not(spec)
        with pytest.raises(SpecError, match=f"mistake {mistake_id}: does not apply"):
            mistaken_step(spec, mistake_id)
        return
    values, correct = mistaken_step(spec, mistake_id), correct_step(spec)
    assert set(values) == set(correct)
    for key, value in values.items():
        assert np.shape(value) == np.shape(correct[key]), key
        # a mistake is made after the forward pass, but for one in the loss's own value
        if key.startswith(("forward.", "parameters.")) and not (
                key == "forward.loss" and "loss" in mistake.sites):
            np.testing.assert_array_equal(value, correct[key])


# --- each mistake is real --------------------------------------------------------------------


def changes(spec: cr.Spec, mistake: Mistake, rel: float = 1e-6) -> list[str]:
    """The quantities the mistake moves by more than ``rel`` relative."""
    correct, wrong = correct_step(spec), mistake.compute(spec)
    return [key for key in correct
            if np.any(np.abs(wrong[key] - correct[key]) > rel * np.abs(correct[key]))]


@pytest.mark.parametrize("mistake", CATALOGUE, ids=lambda m: m.id)
def test_each_mistake_changes_the_numbers_on_some_example(mistake):
    applicable = [name for name, spec in FIXED.items() if mistake.applies(spec)]
    assert applicable, f"{mistake.id} applies to none of {list(FIXED)}"
    assert any(changes(FIXED[name], mistake) for name in applicable)
    for name in applicable:  # where it applies on these networks, it always shows
        assert changes(FIXED[name], mistake), (mistake.id, name)


def test_mistakes_are_distinguishable_on_the_seed_network():
    seed = FIXED["seed"]
    variants = {m.id: m.compute(seed) for m in applicable_mistakes(seed)}
    for first, a in variants.items():
        for second, b in variants.items():
            if first < second:
                assert any(not np.allclose(a[k], b[k], rtol=1e-6, atol=0) for k in a), \
                    (first, second)


def test_seed_mistake_numbers():
    ascent = mistaken_step("seed", "gradient_ascent")
    np.testing.assert_allclose(ascent["updated.W1"], [[0.1999444492, 0.3999363511],
                                                      [0.0999666695, 0.2999618107]], atol=1e-10)
    assert ascent["loss_after"] > ascent["forward.loss"]  # it climbs
    dropped = mistaken_step("seed", "dropped_factor_two")
    np.testing.assert_allclose(dropped["gradients.W2"], correct_step("seed")["gradients.W2"] / 2)
    at_z = mistaken_step("seed", "derivative_of_z")
    z2 = at_z["forward.z2"]
    np.testing.assert_allclose(at_z["backward.delta2"], 2 * (at_z["forward.a2"] - 0.7)
                               * z2 * (1 - z2))


def test_applicability():
    seed, batch = FIXED["seed"], FIXED["batch.json"]
    assert not MISTAKES["transposed_weights"].applies(seed)
    assert "square" in MISTAKES["transposed_weights"].why_not(seed)
    assert MISTAKES["transposed_weights"].applies(FIXED["square"])
    for batch_only in ("sum_over_batch", "mean_over_batch", "bias_not_summed"):
        assert not MISTAKES[batch_only].applies(seed) and MISTAKES[batch_only].applies(batch)
    assert not MISTAKES["dropped_factor_two"].applies(batch)  # half_sse
    assert MISTAKES["doubled_factor_two"].applies(batch)
    assert not MISTAKES["softmax_diagonal_jacobian"].applies(FIXED["softmax.yaml"])  # fused
    assert MISTAKES["softmax_diagonal_jacobian"].applies(FIXED["softmax_sse"])
    relu = cr.parse_spec({"layers": [2, 1], "activations": "relu", "loss": "sse",
                          "input": [1, 2], "target": [1], "learning_rate": 1.0, "bias": "none"})
    ids = [m.id for m in applicable_mistakes(relu)]
    assert "derivative_of_z" not in ids and "learning_rate_missing" not in ids
    assert "biases_not_updated" not in ids and "missing_activation_derivative" in ids


def test_unknown_mistake_is_a_clear_error():
    with pytest.raises(SpecError, match="unknown mistake 'gradient_acent' "
                                        r"\(did you mean 'gradient_ascent'\?\)"):
        mistaken_step("seed", "gradient_acent")
    with pytest.raises(SpecError, match="does not apply to network 'seed': .*square"):
        mistaken_step("seed", "transposed_weights")


@pytest.mark.parametrize("mistake", CATALOGUE, ids=lambda m: m.id)
def test_catalogue_entries_are_documented(mistake):
    assert re.fullmatch(r"[a-z]+(_[a-z]+)*", mistake.id)
    assert mistake.title and mistake.formula
    sentence = mistake.explanation
    assert sentence[0].isupper() and sentence.endswith(".") and sentence.count(". ") == 0
    assert f"`{mistake.id}`" in (Path(__file__).parent.parent / "docs/mistakes.md").read_text()


def test_required_catalogue():
    required = {"gradient_ascent", "derivative_of_z", "derivative_of_activation_value",
                "missing_activation_derivative", "dropped_factor_two", "doubled_factor_two",
                "sum_over_batch", "mean_over_batch", "transposed_weights",
                "updated_weights_in_backward", "bias_not_summed", "learning_rate_twice",
                "learning_rate_missing", "biases_not_updated"}
    assert required <= set(MISTAKES)


def test_every_rule_of_the_step_has_a_kind_of_node():
    from chainrule.verify.reference import RULE_KINDS, step_rules

    for spec in FIXED.values():
        kinds = {rule.kind for rule in step_rules(spec).values()}
        assert kinds <= set(RULE_KINDS) and "" not in kinds


# where the fixed networks have no such node: a hidden softmax, a batch from the logits
SITE_SPECS = [cr.parse_spec(data, name) for name, data in {
    "hidden_softmax": {"layers": [2, 3, 1], "activations": ["softmax", "sigmoid"],
                       "loss": "sse", "weights": [[[0.1, -0.2, 0.3], [0.4, 0.1, -0.3]],
                                                  [[0.2], [-0.5], [0.3]]],
                       "biases": [[0.0, 0.1, -0.1], [0.1]], "input": [0.6, -0.4],
                       "target": [1.0], "learning_rate": 0.5},
    "batch_logits": {"layers": [2, 2, 3], "activations": ["tanh", "softmax"],
                     "loss": "cross_entropy", "weights": [[[0.3, -0.2], [0.1, 0.4]],
                                                         [[0.2, -0.1, 0.3], [0.5, 0.2, -0.4]]],
                     "biases": [[0.0, 0.1], [0.1, 0.0, -0.1]],
                     "inputs": [[0.6, -0.4], [0.2, 0.9]], "targets": [2, 0],
                     "learning_rate": 0.5},
}.items()]


@pytest.mark.parametrize("mistake", CATALOGUE, ids=lambda m: m.id)
def test_a_mistake_acts_exactly_at_the_kinds_of_node_it_names(mistake):
    """Its sites are the kinds of the step's graph whose rules compute otherwise from the same
    numbers, on the fixed networks it can be made on: where on the graph it acts."""
    from chainrule.verify.reference import step_rules

    acted = set()
    for spec in [*FIXED.values(), *SITE_SPECS]:
        if not mistake.applies(spec):
            continue
        values = correct_step(spec)
        right, wrong = step_rules(spec), step_rules(spec, mistake.alterations)
        for key, rule in wrong.items():
            mine, theirs = rule(values), right[key](values)
            if np.shape(mine) != np.shape(theirs) or not np.allclose(
                    mine, theirs, rtol=1e-9, atol=1e-12, equal_nan=True):
                acted.add(rule.kind)
    assert acted == set(mistake.sites)
