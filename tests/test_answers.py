"""Judging answers and implementations: rounding, file formats, errors, and diagnoses.

The diagnosis tests feed each catalogue mistake's numbers back as answers (at full precision
and rounded to 4 decimals), and run an independently written student step that makes one
mistake at a time; each must be diagnosed as exactly that mistake.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.errors import SpecError
from chainrule.verify.answers import judge_answers
from chainrule.verify.impl import run_impl
from chainrule.verify.mistakes import MISTAKES, applicable_mistakes, correct_step

from tests.student_code import run_student, student_answers, student_source
from tests.test_mistakes import FIXED, random_specs

FIXTURES = Path(__file__).parent / "fixtures"
NOTEBOOK = FIXTURES / "seed_notebook.py"
JUDGED = ("backward.", "gradients.", "updated.", "forward.loss", "loss_after")


def judged(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v for k, v in values.items() if k.startswith(JUDGED)}


def full_precision(values: dict[str, np.ndarray]) -> dict[str, object]:
    return {k: v.tolist() for k, v in judged(values).items() if np.all(np.isfinite(v))}


def rounded(values: dict[str, np.ndarray], decimals: int = 4) -> dict[str, object]:
    text = np.vectorize(lambda v: f"{v:.{decimals}f}", otypes=[object])
    return {k: text(v).tolist() for k, v in judged(values).items() if np.all(np.isfinite(v))}


def row(report, quantity):
    return next(r for r in report.rows if r.quantity == quantity)


# --- rounding --------------------------------------------------------------------------------


@pytest.mark.parametrize("given, status", [
    ("0.2001", "correct"),  # 0.2000555508 rounds to 0.2001 at 4 decimals
    ("0.2000", "close"),  # rounded intermediates not written could give it
    ("0.20006", "correct"), ("0.20005", "close"),
    ("2.0006e-01", "correct"),  # 5 significant digits
    ("2.0005e-01", "close"), ("2.00056E-1", "correct"),
    ("0.2", "correct"), ("0", "correct"), ("1", "wrong"),
    ("0.2000555508", "correct"), ("0.2000555509", "close"),  # the last digit slipped
    (0.2001, "wrong"),  # a float is exact: no written precision, judged to 1e-10
    (0.2000555507945226, "correct"),
])
def test_answers_are_judged_at_the_precision_given(given, status):
    report = judge_answers("seed", {"updated.W1[0][0]": given})
    assert report.rows[0].status == status
    assert report.ok == (status == "correct")


def test_keys_index_forms_and_whole_arrays():
    answers = {"updated.W1[0][1]": "0.4001", "updated.W1[1,0]": "0.1000",
               "updated.W1[1, 1]": "0.3000", "gradients.b1": ["-0.0011", "-0.0013"],
               "updated.W2[1]": ["0.6006"], "forward.loss": "0.000427",
               "loss_after": "4.133e-4", "backward.delta1[0]": "-0.0011"}
    report = judge_answers("seed", answers)
    assert [r.quantity for r in report.rows] == [
        "updated.W1[0][1]", "updated.W1[1][0]", "updated.W1[1][1]", "gradients.b1[0]",
        "gradients.b1[1]", "updated.W2[1][0]", "forward.loss", "loss_after",
        "backward.delta1[0]"]
    assert report.ok and report.diagnosis is None, str(report)
    assert "All 9 answers are correct." in str(report)


def test_one_element_list_for_a_number_and_typographic_minus():
    report = judge_answers("seed", {"loss_after": ["0.0004133"], "gradients.b2[0]": "−0.0090"})
    assert report.ok


# --- diagnoses -------------------------------------------------------------------------------


def test_correct_answers_are_all_correct_with_no_diagnosis():
    for name, spec in FIXED.items():
        values = correct_step(spec)
        for answers in (full_precision(values), rounded(values)):
            report = judge_answers(spec, answers)
            assert report.ok and report.diagnosis is None and not report.candidates, name


CASES = [(name, m.id) for name, spec in FIXED.items() for m in applicable_mistakes(spec)]


@pytest.mark.parametrize("name, mistake_id", CASES)
def test_a_mistakes_own_numbers_are_diagnosed_as_that_mistake(name, mistake_id):
    spec = FIXED[name]
    values = MISTAKES[mistake_id].compute(spec)
    report = judge_answers(spec, full_precision(values))
    assert not report.ok
    assert report.diagnosis is not None and report.diagnosis.id == mistake_id, str(report)
    assert report.candidates == (mistake_id,)
    assert report.explained == len(report.wrong) and not report.unexplained

    report = judge_answers(spec, rounded(values))
    if not report.ok:  # some mistakes hide below 4 decimals on some networks
        assert mistake_id in report.candidates, str(report)
        assert report.explained == len(report.wrong)


def test_gradient_ascent_at_four_decimals_on_the_seed():
    values = MISTAKES["gradient_ascent"].compute("seed")
    report = judge_answers("seed", rounded(values))
    assert report.diagnosis.id == "gradient_ascent"
    assert row(report, "updated.W1[0][0]").mistakes[0] == "gradient_ascent"
    assert row(report, "updated.W1[0][0]").given == "0.1999"
    verdict = report.verdict
    assert "gradient_ascent" in verdict and MISTAKES["gradient_ascent"].explanation in verdict
    assert "gradient_ascent" in str(report)


def wrong_beyond_tolerance(spec, values) -> bool:
    correct = correct_step(spec)
    return any(np.any(np.abs(values[k] - correct[k]) > 1e-6 * np.abs(correct[k]) + 1e-12)
               for k in full_precision(values))


@settings(suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(random_specs(), st.sampled_from(list(MISTAKES)))
def test_random_specs_diagnose_the_mistake_made(spec, mistake_id):
    mistake = MISTAKES[mistake_id]
    if not mistake.applies(spec):
        return
    values = mistake.compute(spec)
    answers = full_precision(values)
    if not answers:
        return
    for submitted in (answers, rounded(values)):
        report = judge_answers(spec, submitted)
        if submitted is answers and wrong_beyond_tolerance(spec, values):
            assert not report.ok
        if report.ok:
            continue
        # The mistake made explains every wrong answer and agrees with every right one; any
        # other candidate must then give the same numbers on this network.
        assert mistake_id in report.candidates, str(report)
        assert report.explained == len(report.wrong)


# --- an independently written student step, one mistake at a time ---------------------------

STUDENT_SPECS = ["seed", "batch.json", "square", "softmax_sse", "softmax.yaml"]
STUDENT_CASES = [(name, m.id) for name in STUDENT_SPECS for m in applicable_mistakes(FIXED[name])]


@pytest.mark.parametrize("name", STUDENT_SPECS)
def test_the_student_step_without_mistakes_is_correct(name):
    report = judge_answers(FIXED[name], student_answers(run_student(FIXED[name], None)))
    assert report.ok, str(report)


@pytest.mark.parametrize("name, mistake_id", STUDENT_CASES)
def test_a_student_making_one_mistake_is_diagnosed(name, mistake_id):
    spec = FIXED[name]
    report = judge_answers(spec, student_answers(run_student(spec, mistake_id)))
    assert report.diagnosis is not None and report.diagnosis.id == mistake_id, str(report)
    assert report.candidates == (mistake_id,) and not report.unexplained


def test_every_mistake_is_made_by_the_student_somewhere():
    assert {mistake for _, mistake in STUDENT_CASES} == set(MISTAKES)


@pytest.mark.parametrize("name, mistake_id", [("seed", "derivative_of_z"),
                                              ("batch.json", "sum_over_batch"),
                                              ("square", "transposed_weights")])
def test_a_student_file_run_as_impl_is_diagnosed(tmp_path, name, mistake_id):
    path = tmp_path / "student.py"
    path.write_text(student_source(FIXED[name], mistake_id))
    report = run_impl(FIXED[name], f"{path}:step")
    assert report.diagnosis.id == mistake_id, str(report)
    assert report.precision == "to 1e-06 relative"


# --- the seed notebook -----------------------------------------------------------------------


def test_the_notebook_training_loop_is_gradient_ascent():
    report = run_impl(cr.load_spec("seed"), f"{NOTEBOOK}:step")
    assert report.diagnosis.id == "gradient_ascent", str(report)
    assert "updated.W1[0][0]" not in report.unexplained
    assert row(report, "forward.loss").status == "correct"  # its forward pass is right
    # its b1 step, np.sum over the hidden units and added, is a second mistake on top: the
    # two are named together, and nothing is left unexplained
    assert [m.id for m in report.diagnoses] == ["gradient_ascent", "bias_summed_over_units"]
    assert report.unexplained == []
    assert "gradient_ascent" in report.verdict and "bias_summed_over_units" in report.verdict


def test_the_notebook_printed_updates_are_wrong_and_b1_has_the_wrong_shape():
    printed = {"updated.W1": [["0.20005613", "0.40006431"], ["0.10003368", "0.30003858"]],
               "updated.W2": [["0.50050706"], ["0.60056425"]],
               "updated.b1": [["0.10011357", "0.20012976"]], "updated.b2": ["0.10090993"]}
    report = judge_answers("seed", printed)
    assert not report.ok
    assert all(r.status == "wrong" for r in report.rows)
    b1 = row(report, "updated.b1")
    assert b1.note.startswith("shape (1, 2), expected (2,)")
    assert b1.expected == pytest.approx([0.1001111016, 0.2001272977], abs=1e-10)
    assert "shape (1, 2), expected (2,)" in str(report)
    assert json.loads(json.dumps(report.to_dict()))["rows"][6]["note"] == b1.note


def test_the_notebook_manual_cells_get_the_b1_shape_flagged():
    report = run_impl("seed", f"{NOTEBOOK}:manual_step")
    assert [r.quantity for r in report.wrong] == ["updated.b1"]
    assert report.wrong[0].note == ("shape (1, 2), expected (2,); "
                                    "the numbers themselves are right")


# --- report ----------------------------------------------------------------------------------


def test_report_to_dict_is_json_safe_and_complete():
    report = judge_answers("seed", rounded(MISTAKES["learning_rate_missing"].compute("seed")))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["diagnosis"]["id"] == "learning_rate_missing"
    assert data["diagnosis"]["explanation"] == MISTAKES["learning_rate_missing"].explanation
    assert data["wrong"] == len(report.wrong) and data["ok"] is False
    assert set(data["rows"][0]) == {"quantity", "given", "expected", "status", "mistakes",
                                    "note", "tolerance"}
    assert data["verdict"] == report.verdict


def test_report_table_is_aligned():
    text = str(judge_answers("seed", {"updated.W1[0][0]": "0.1999", "loss_after": "0.0004"}))
    lines = text.splitlines()
    assert lines[1].split() == ["quantity", "given", "expected", "result"]
    columns = {line.index(line.split()[1]) for line in lines[1:4]}
    assert len(columns) == 1  # the "given" column starts at the same place on every line


# --- answer errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("key, value, message", [
    ("updated.W3[0][0]", "1",
     'answers: "updated.W3[0][0]": no parameter W3 (this network has W1, b1, W2, b2)'),
    ("gradients.b3", "1", 'answers: "gradients.b3": no parameter b3'),
    ("forward.z3", "1", 'answers: "forward.z3": no forward quantity z3 (this network has a0, '
                        'z1, a1, z2, a2, loss)'),
    ("backward.delta3", "1", "no backward quantity delta3 (this network has dE_da2, delta2, "
                             "delta1)"),
    ("W1", "1", 'answers: "W1": unknown quantity (did you mean "updated.W1"?)'),
    ("loss", "1", 'did you mean "forward.loss"?'),
    ("updated.W1[2][0]", "1", 'answers: "updated.W1[2][0]": index 2 is out of range for axis 0 '
                              'of updated.W1 (shape (2, 2))'),
    ("updated.W1[0][0][0]", "1", "3 indices for updated.W1 of shape (2, 2)"),
    ("updated.W1[a]", "1", "index 'a' is not a whole number ≥ 0"),
    ("updated.W1[-1][0]", "1", "index '-1' is not a whole number ≥ 0"),
    ("updated.W1[0", "1", 'answers: "updated.W1[0": expected a quantity like'),
    ("updated.W1[0][0]", "abc", 'answers: "updated.W1[0][0]": expected a number, got \'abc\''),
    ("updated.W1[0][0]", True, "expected a number, got True"),
    ("updated.W1[0][0]", float("inf"), "expected a finite number, got inf"),
    ("updated.W1", [["0.2", "x"], ["0.1", "0.3"]],
     'answers: "updated.W1" element [0][1]: expected a number'),
    ("updated.W1", [["0.2"], ["0.1", "0.3"]], "rows of different lengths"),
    ("updated.W1", [], "got an empty list"),
])
def test_bad_answers_are_one_line_errors(key, value, message):
    with pytest.raises(SpecError) as error:
        judge_answers("seed", {key: value})
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_no_answers_and_not_a_mapping():
    with pytest.raises(SpecError, match="no answers given"):
        judge_answers("seed", {})
    with pytest.raises(SpecError, match="expected a mapping"):
        judge_answers("seed", [("loss_after", "1")])


def test_a_wrong_shape_is_wrong_not_an_error():
    report = judge_answers("seed", {"updated.b1": [["0.1001", "0.2001"]],
                                    "updated.W1": ["0.2", "0.4", "0.1", "0.3"],
                                    "forward.loss": ["0.0004273"]})
    assert row(report, "updated.b1").note.startswith("shape (1, 2), expected (2,)")
    assert row(report, "updated.W1").note.startswith("shape (4,), expected (2, 2)")
    assert row(report, "forward.loss").status == "correct"
