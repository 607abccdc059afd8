"""Answers named by a worksheet's symbols (chainrule.verify.symbols)."""

from __future__ import annotations

import pytest

from chainrule.errors import SpecError
from chainrule.verify.answers import judge_answers
from chainrule.verify.mistakes import correct_step
from chainrule.verify.reference import as_spec
from chainrule.verify.symbols import canonical, symbol_names


@pytest.mark.parametrize("spellings", [
    ("w¹₁₂", "w^1_12", "w^{1}_{12}", "W^1_12", " w ^1 _12 "),
    ("δ²₁", "delta^2_1", r"\delta^{2}_{1}", "Δ²₁".lower()),
    ("∂E/∂w¹₁₂", "dE/dw^1_12", r"\partial E/\partial w^{1}_{12}"),
    ("w¹₁₂ (updated)", "w¹₁₂⁺", "w^1_12+", "w^1_12_new"),
    ("z¹⁽²⁾₁", "z^1(2)_1", "z^{1(2)}_{1}"),
])
def test_every_spelling_of_a_symbol_is_one_canonical_form(spellings):
    assert len({canonical(s) for s in spellings}) == 1, [canonical(s) for s in spellings]


def test_each_element_of_the_step_has_its_symbol():
    spec = as_spec("seed")
    names = symbol_names(spec, correct_step(spec))
    assert names["w^1_12"] == "parameters.W1[0][1]"  # w¹₁₂ is W1[0][1]: units from 1
    assert names["w^1_12+"] == "updated.W1[0][1]"
    assert names["de/dw^1_21"] == "gradients.W1[1][0]"
    assert names["delta^2_1"] == "backward.delta2[0]"
    assert names["z^1_2"] == "forward.z1[1]" and names["e"] == "forward.loss"


def test_a_sheet_in_the_worksheets_symbols_is_judged_and_says_how_it_was_read():
    step = correct_step("seed")
    answers = {"δ²₁": f"{float(step['backward.delta2'][0]):.4f}",
               "∂E/∂w¹₁₂": f"{float(step['gradients.W1'][0, 1]):.5f}",
               "w^1_12 (updated)": f"{float(step['updated.W1'][0, 1]):.4f}",
               "updated.b2[0]": f"{float(step['updated.b2'][0]):.4f}"}
    report = judge_answers("seed", answers)
    assert report.ok, str(report)
    assert [row.quantity for row in report.rows] == [
        "backward.delta2[0]", "gradients.W1[0][1]", "updated.W1[0][1]", "updated.b2[0]"]
    assert report.notes[0].startswith("Read the worksheet's symbols: δ²₁ as backward.delta2[0]")


def test_a_batch_names_its_examples_and_an_unknown_symbol_is_still_one_line():
    spec = as_spec({"name": "b", "layers": [2, 2, 1], "activations": "sigmoid", "loss": "mse",
                    "weights": [[[0.1, 0.2], [0.3, 0.4]], [[0.5], [0.6]]],
                    "biases": [[0.1, 0.1], [0.2]], "inputs": [[1.0, 0.5], [0.2, 0.3]],
                    "targets": [[1.0], [0.0]], "learning_rate": 0.5})
    step = correct_step(spec)
    report = judge_answers(spec, {"z¹⁽²⁾₁": f"{float(step['forward.z1'][1, 0]):.4f}"})
    assert report.ok and report.rows[0].quantity == "forward.z1[1][0]"
    with pytest.raises(SpecError, match=r'answers: "q⁷₉": unknown quantity'):
        judge_answers(spec, {"q⁷₉": "1"})


def test_a_symbol_two_elements_share_is_not_read():
    spec = as_spec({"name": "s", "layers": [2, 2, 1], "activations": "sigmoid", "loss": "sse",
                    "bias": "shared_per_layer", "weights": [[[0.1, 0.2], [0.3, 0.4]],
                                                            [[0.5], [0.6]]],
                    "biases": [[0.1], [0.2]], "input": [1.0, 0.5], "target": [1.0],
                    "learning_rate": 0.5})
    names = symbol_names(spec, correct_step(spec))
    assert names["b^1"] == "parameters.b1[0]"  # one bias for the layer: b¹
