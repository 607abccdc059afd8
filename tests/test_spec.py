"""Spec files in every format, the options a textbook may use, and precise error messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SEED = json.loads((EXAMPLES / "seed.json").read_text())


def test_every_example_loads_and_descends():
    for path in sorted(EXAMPLES.iterdir()):
        trace = cr.explain(str(path))
        assert trace.loss_after < trace.loss, path.name


def test_formats_give_the_same_network(tmp_path):
    import yaml

    (tmp_path / "s.yaml").write_text(yaml.safe_dump(SEED))
    (tmp_path / "s.toml").write_text(
        "\n".join(f"{k} = {json.dumps(v)}" for k, v in SEED.items()))
    from_json = cr.explain(str(EXAMPLES / "seed.json"))
    for name in ("s.yaml", "s.toml"):
        other = cr.explain(str(tmp_path / name))
        for key in from_json.updated:
            np.testing.assert_array_equal(other.updated[key], from_json.updated[key])


@pytest.mark.parametrize("name, text, message", [
    ("bad.toml", "layers = [2, 1", "bad.toml: invalid TOML"),
    # libyaml's words ("did not find expected ...") or PyYAML's, at the same place
    ("bad.yaml", "layers: [2, 1\nloss: sse", "bad.yaml:2:5: invalid YAML: "),
    ("bad.yml", "- 1\n- 2", "spec: expected an object with fields, got a list"),
])
def test_syntax_errors_name_the_file(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(cr.SpecError) as error:
        cr.load_spec(path)
    assert message in str(error.value)


@pytest.mark.parametrize("change, message", [
    ({"optimizer": "adam"}, 'optimizer.name: expected "sgd"'),
    ({"optimizer": {"name": "sgd", "momentun": 0.9}},
     "optimizer.momentun: unknown field (did you mean 'momentum'?)"),
    ({"optimizer": {"momentum": 1.5}}, "optimizer.momentum: expected a number [0, 1), got 1.5"),
    ({"optimizer": {"nesterov": True}}, "optimizer.nesterov: needs momentum > 0"),
    ({"steps": 0}, "steps: expected a whole number from 1 to 1000, got 0"),
    ({"bias": "shared"}, "bias: expected one of per_unit, shared_per_layer, none"),
    ({"bias": "shared_per_layer"},
     "biases[0]: expected shape (1,) for layer 1 (2 → 2 units), got (2,)"),
    ({"activations": ["sigmoid"]}, "activations: expected one name or a list of 2"),
    ({"layers": [2, 0, 1]}, "layers: expected a list of at least two positive integers"),
    ({"weights": [[[0.2, 0.4], [0.1, 0.3]]]},
     "weights: expected a list of 2 entries (one per layer), got a list of 1"),
    ({"weights": [[[0.2, 0.4], [0.1]], [[0.5], [0.6]]]},
     "weights[0]: rows of different lengths"),
    ({"learning_rate": float("inf")}, "learning_rate: expected a finite number, got inf"),
    ({"input": [0.5, True]}, "input[1]: expected a number, got true/false True"),
    ({"seed": -1}, "seed: expected a non-negative integer"),
])
def test_spec_errors(change, message):
    with pytest.raises(cr.SpecError) as error:
        cr.parse_spec({**SEED, **change})
    assert message in str(error.value)


def test_momentum_over_several_steps_matches_the_optimizer():
    trace = cr.explain({**SEED, "optimizer": {"momentum": 0.9}, "steps": 3})
    assert [s.number for s in trace.steps] == [1, 2, 3]
    model = cr.nn.MLP([2, 2, 1], weights=SEED["weights"], biases=SEED["biases"])
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for step in trace.steps:
        model.zero_grad()
        cr.nn.sse(model(SEED["input"]), SEED["target"]).backward()
        optimizer.step()
        np.testing.assert_array_equal(step.updated["W1"], model.parameter("W1").data)
    assert trace.steps[1].parameters["W1"].tolist() == trace.steps[0].updated["W1"].tolist()


def test_frozen_and_shared_bias_in_a_trace():
    trace = cr.explain({**SEED, "frozen": ["W2"], "bias": "shared_per_layer",
                        "biases": [[0.1], [0.1]]})
    np.testing.assert_array_equal(trace.updated["W2"], trace.parameters["W2"])
    assert np.all(trace.gradients["W2"] != 0)
    assert trace.gradients["b1"][0] == pytest.approx(trace.backward["delta1"].sum())


def test_explain_a_model_object():
    model = cr.nn.MLP([2, 2, 1], "sigmoid", weights=SEED["weights"], biases=SEED["biases"])
    trace = cr.explain(model, input=[0.5, 0.3], target=[0.7], loss="sse", learning_rate=0.1)
    assert trace.loss == pytest.approx(0.0004273090, abs=1e-10)
    with pytest.raises(TypeError, match="also give target"):
        cr.explain(model, input=[0.5, 0.3], loss="sse", learning_rate=0.1)


def test_notebook_representations():
    trace = cr.explain("seed")
    assert trace._repr_markdown_().startswith("# seed: a 2-2-1 network")
    x = cr.Tensor([0.5, 0.3], name="a0")
    (x * 2).sum().backward()
    html = x._repr_html_()
    assert "<b>a0</b>" in html and "grad" in html and "2., 2." in html
