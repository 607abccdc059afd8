"""Marking as a careful teacher does (chainrule.verify.marking): error carried forward,
rounding that is not a mistake, diagnoses that contradict no right answer, two mistakes at
once. The answer sheets are worked here by hand, in plain NumPy, independently of chainrule's
reference step, the way a student works the seed exercise on paper."""

from __future__ import annotations

import json

import numpy as np
import pytest

import chainrule as cr
from chainrule.verify.answers import judge_answers
from chainrule.verify.reference import reference_step, step_rules, evaluate, start_values
from chainrule.verify.mistakes import MISTAKES, applicable_mistakes

SEED = cr.load_spec("seed")


def sheet(round_to: int | None = None, slip: tuple[str, int, float] | None = None,
          ascend: bool | int = False, bias_summed: bool = False, eta_twice: bool = False):
    """The seed step worked by a student: every intermediate written (and, with
    ``round_to``, rounded as it is written and used rounded); ``slip`` adds a number to one
    element of one quantity, and everything after is worked from the slipped value;
    ``ascend`` a layer's number: only that layer's parameters climb."""
    w = {k: np.array(v, dtype=float) for k, v in SEED.build_model().state_dict().items()}
    x, t, eta = np.array(SEED.inputs, float), np.array(SEED.targets, float), SEED.learning_rate
    out: dict[str, np.ndarray] = {}

    def write(name, value):
        value = np.array(value, dtype=float)
        if slip is not None and slip[0] == name:
            value = value.copy()
            value.flat[slip[1]] += slip[2]
        if round_to is not None:
            value = np.round(value, round_to)
        out[name] = value
        return value

    z1 = write("forward.z1", x @ w["W1"] + w["b1"])
    a1 = write("forward.a1", 1 / (1 + np.exp(-z1)))
    z2 = write("forward.z2", a1 @ w["W2"] + w["b2"])
    a2 = write("forward.a2", 1 / (1 + np.exp(-z2)))
    write("forward.loss", np.sum((a2 - t) ** 2))
    dE = write("backward.dE_da2", 2 * (a2 - t))
    d2 = write("backward.delta2", dE * a2 * (1 - a2))
    d1 = write("backward.delta1", (d2 @ w["W2"].T) * a1 * (1 - a1))
    g = {"W1": write("gradients.W1", np.outer(x, d1)), "W2": write("gradients.W2", np.outer(a1, d2)),
         "b1": write("gradients.b1", np.full(2, d1.sum()) if bias_summed else d1),
         "b2": write("gradients.b2", d2)}
    rate = eta * eta if eta_twice else eta
    for name in ("W1", "W2", "b1", "b2"):
        climbs = ascend is True or (ascend is not False and name.endswith(str(ascend)))
        write(f"updated.{name}", w[name] + rate * g[name] if climbs else w[name] - rate * g[name])
    return out


def as_answers(values: dict[str, np.ndarray], decimals: int) -> dict[str, object]:
    text = np.vectorize(lambda v: f"{v:.{decimals}f}", otypes=[object])
    return {k: text(v).tolist() for k, v in values.items()}


def statuses(report) -> dict[str, str]:
    return {row.quantity: row.status for row in report.rows}


def test_the_rules_are_the_step():
    for spec in (SEED, cr.parse_spec({"layers": [2, 3, 2], "activations": ["tanh", "softmax"],
                                      "loss": "cross_entropy", "input": [0.3, -0.2],
                                      "target": 1, "learning_rate": 0.5, "seed": 1})):
        for mistake in [None, *applicable_mistakes(spec)]:
            altered = () if mistake is None else (mistake.alterations,)
            step = reference_step(spec, *altered)
            again = evaluate(step_rules(spec, *altered), start_values(spec))
            assert list(step) == list(again)
            assert all(np.array_equal(step[k], again[k]) for k in step)


def test_the_hand_worked_sheet_is_the_correct_step():
    correct = reference_step(SEED)
    for key, value in sheet().items():
        assert np.allclose(value, correct[key], rtol=1e-13, atol=1e-15), key


@pytest.mark.parametrize("decimals", [2, 3, 4])
def test_calculator_rounding_is_not_a_mistake(decimals):
    report = judge_answers("seed", as_answers(sheet(round_to=decimals), decimals))
    found = statuses(report)
    assert set(found.values()) <= {"correct", "rounded"}, str(report)
    assert report.ok and report.diagnosis is None and report.first_wrong is None
    if decimals == 3:  # at 3 decimals some answers differ from the true ones' rounding
        assert "rounded" in found.values()
        assert "rounding is not a mistake" in report.verdict and "are right" in report.verdict


def test_one_slip_costs_one_answer_and_what_follows_is_credited():
    report = judge_answers("seed", as_answers(sheet(slip=("forward.z1", 0, 0.1)), 6))
    found = statuses(report)
    assert found["forward.z1[0]"] == "wrong"
    assert [q for q, s in found.items() if s == "wrong"] == ["forward.z1[0]"], str(report)
    assert found["forward.a1[0]"] == "carried" and found["updated.W2[0][0]"] == "carried"
    assert found["forward.z1[1]"] == "correct" and found["forward.a1[1]"] == "correct"
    assert found["updated.W1[1][1]"] == "carried"  # δ¹₂ comes through a², which the slip moved
    assert report.diagnosis is None and not report.candidates
    first = report.first_wrong
    true = float(reference_step(SEED)["forward.z1"][0])
    assert first["quantity"] == "forward.z1[0]" and first["given"] == f"{true + 0.1:.6f}"
    assert first["expected"] == pytest.approx(true, abs=1e-12)
    assert first["followed"] == sum(1 for s in found.values() if s == "carried") >= 10
    assert "the first forward.z1[0]" in report.verdict
    assert "error carried forward" in report.verdict
    data = json.loads(json.dumps(report.to_dict()))
    assert data["statuses"]["wrong"] == 1 and data["first_wrong"]["quantity"] == "forward.z1[0]"


def test_strict_marking_gives_no_credit_for_what_follows_a_slip():
    from chainrule.verify.answers import judge_written, checked_answers
    from chainrule.verify.judging import network_truth

    answers = checked_answers(as_answers(sheet(slip=("forward.z1", 0, 0.1)), 6))
    report = judge_written(network_truth(SEED), answers, "answers", marking="strict")
    found = statuses(report)
    assert found["forward.a1[0]"] == "wrong" and "carried" not in found.values()
    assert found["forward.z1[1]"] == "correct"
    assert report.marking == "strict"


def test_a_mistake_that_would_change_right_answers_is_not_named():
    # gradients slipped, updates worked from them with the right η: learning_rate_twice or
    # gradient_ascent would have changed those updates, so neither is named
    report = judge_answers("seed", as_answers(sheet(slip=("gradients.W1", 1, 0.02)), 6))
    assert report.diagnosis is None, str(report)
    assert statuses(report)["updated.W1[0][1]"] == "carried"


def test_a_conceptual_mistake_is_named_once_where_it_happens():
    report = judge_answers("seed", as_answers(sheet(ascend=True), 8))
    assert report.diagnosis.id == "gradient_ascent"
    wrong = [row.quantity for row in report.wrong]
    assert wrong and all(q.startswith("updated.") for q in wrong)


def test_two_mistakes_at_once_are_both_named():
    # the seed notebook's two: it climbs, and it sums delta1 over the units into b1
    report = judge_answers("seed", as_answers(sheet(ascend=True, bias_summed=True), 8))
    assert {m.id for m in report.diagnoses} == {"gradient_ascent", "bias_summed_over_units"}, \
        str(report)
    assert report.explained == len(report.wrong) and not report.unexplained
    assert "two known mistakes together" in report.verdict


def test_truncation_and_a_last_digit_slip_are_close_not_mistakes():
    values = reference_step(SEED)
    # a forward value whose fourth decimal is 5 or more: truncated, it differs from rounded
    key, true = next((f"{k}[{i}]", float(v)) for k in ("forward.a1", "forward.z2", "forward.a2")
                     for i, v in enumerate(values[k]) if int(v * 1e4) % 10 >= 5)
    # what it is worked from is written with every digit, so no rounding of unwritten
    # numbers could explain the missing unit
    before = {f"{k}[{i}]": f"{v:.12f}" for k in ("forward.z1", "forward.a1")
              for i, v in enumerate(values[k]) if f"{k}[{i}]" != key}
    truncated = judge_answers("seed", {**before, key: f"{np.trunc(true * 1e3) / 1e3:.3f}"})
    truncated.rows = [r for r in truncated.rows if r.quantity == key]
    assert truncated.rows[0].status == "close", str(truncated)
    assert truncated.rows[0].note.startswith("truncated rather than rounded")
    # away from zero: chopping cannot make a number larger
    off = f"{values['gradients.W2'][0, 0] - 2e-6:.6f}"
    slipped = judge_answers("seed", {"gradients.W2[0][0]": off})
    assert slipped.rows[0].status == "close" and "last digit" in slipped.rows[0].note
    assert slipped.diagnosis is None


def test_every_catalogue_mistake_is_still_named_from_its_own_numbers():
    for mistake in applicable_mistakes(SEED):
        values = MISTAKES[mistake.id].compute(SEED)
        answers = {k: np.vectorize(lambda v: f"{v:.16e}")(v).tolist() for k, v in values.items()
                   if not k.startswith(("parameters.", "forward.a0")) and np.all(np.isfinite(v))}
        report = judge_answers("seed", answers)
        assert mistake.id in report.candidates, (mistake.id, str(report))


def test_the_command_line_marks_carried_forward_unless_told_strict(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "slip.json"
    path.write_text(json.dumps(as_answers(sheet(slip=("forward.z1", 0, 0.1)), 6)))
    base = [sys.executable, "-m", "chainrule", "verify", "seed", "--answers", str(path)]
    default = subprocess.run(base, capture_output=True, text=True, timeout=120)
    strict = subprocess.run(base + ["--marking", "strict"], capture_output=True, text=True,
                            timeout=120)
    assert default.returncode == strict.returncode == 1  # a wrong answer: not all right
    assert "1 of 29 answers is wrong, the first forward.z1[0]" in default.stdout
    assert "error carried forward" in default.stdout and "carried" not in strict.stdout
    bad = subprocess.run(base + ["--marking", "lenient"], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "invalid choice: 'lenient'" in bad.stderr


def test_blanks_decimal_commas_and_typographic_minus_signs_are_read_as_grade_reads_them():
    values = reference_step(SEED)
    w00 = f"{values['updated.W1'][0, 0]:.6f}"
    report = judge_answers("seed", {
        "updated.W1[0][0]": w00.replace(".", ","),            # 0,200056
        "gradients.b2[0]": f"{values['gradients.b2'][0]:.6f}".replace("-", "\u2212"),
        "gradients.W2[0][0]": "",                            # left blank
        "updated.b2[0]": None})
    found = statuses(report)
    assert found["updated.W1[0][0]"] == "correct" and found["gradients.b2[0]"] == "correct"
    assert found["gradients.W2[0][0]"] == found["updated.b2[0]"] == "blank"
    assert report.diagnosis is None and report.first_wrong is None and not report.ok
    assert "2 answers were left blank" in report.verdict
    # exercise grade reads answers with verify's own reading (test_exercises_grade)


def test_chopped_working_is_named_as_truncation_not_as_a_mistake():
    values = sheet()
    # worked from the chopped numbers, each chopped again as it is written
    w = {k: np.array(v, dtype=float) for k, v in SEED.build_model().state_dict().items()}
    x, t = np.array(SEED.inputs, float), np.array(SEED.targets, float)
    chop = lambda v: np.trunc(np.asarray(v, dtype=float) * 1e4) / 1e4  # noqa: E731
    z1 = chop(x @ w["W1"] + w["b1"]); a1 = chop(1 / (1 + np.exp(-z1)))  # noqa: E702
    z2 = chop(a1 @ w["W2"] + w["b2"]); a2 = chop(1 / (1 + np.exp(-z2)))  # noqa: E702
    d2 = chop(2 * (a2 - t) * a2 * (1 - a2)); d1 = chop((d2 @ w["W2"].T) * a1 * (1 - a1))  # noqa
    chopped = {"forward.z1": z1, "forward.a1": a1, "forward.z2": z2, "forward.a2": a2,
               "backward.delta2": d2, "backward.delta1": d1,
               "gradients.W1": chop(np.outer(x, d1)), "gradients.W2": chop(np.outer(a1, d2))}
    assert any(not np.allclose(chopped[k], np.round(values[k], 4)) for k in chopped)
    report = judge_answers("seed", as_answers(chopped, 4))
    assert report.diagnosis is None and not report.wrong, str(report)
    assert "close" in statuses(report).values()
    assert any("truncated" in note for note in report.notes)


def test_an_element_left_blank_in_a_row_is_blank_too():
    a1 = reference_step(SEED)["forward.a1"]
    report = judge_answers("seed", {"forward.a1": [f"{a1[0]:.4f}", ""]})
    assert statuses(report) == {"forward.a1[0]": "correct", "forward.a1[1]": "blank"}


MAZUR = {"name": "mazur", "layers": [2, 2, 2], "activations": "sigmoid", "loss": "half_sse",
         "bias": "shared_per_layer", "weights": [[[0.15, 0.25], [0.2, 0.3]],
                                                 [[0.4, 0.5], [0.45, 0.55]]],
         "biases": [[0.35], [0.6]], "input": [0.05, 0.1], "target": [0.01, 0.99],
         "learning_rate": 0.5, "frozen": ["b1", "b2"]}
# Mazur's "A step by step backpropagation example" (2015), as published: w1..w8 updated, the
# total error before and after the step
MAZUR_POST = {"forward.loss": "0.298371109",
              "updated.W2[0][0]": "0.35891648", "updated.W2[1][0]": "0.408666186",
              "updated.W2[0][1]": "0.511301270", "updated.W2[1][1]": "0.561370121",
              "updated.W1[0][0]": "0.149780716", "updated.W1[1][0]": "0.19956143",
              "updated.W1[0][1]": "0.24975114", "updated.W1[1][1]": "0.29950229",
              "loss_after": "0.291027924"}


def test_mazurs_numbers_read_as_two_computations():
    report = judge_answers(MAZUR, MAZUR_POST)
    found = statuses(report)
    assert found["loss_after"] == "wrong"
    assert all(status == "correct" for key, status in found.items() if key != "loss_after")
    # the loss after is the step's with updated weights in the backward pass, but his updated
    # weights are the correct step's: no single way of working gives them all
    assert report.diagnosis is None
    assert report.two_computations == {"mistake": "updated_weights_in_backward",
                                       "answers": ["loss_after"]}
    assert "two computations" in report.verdict
    assert report.to_dict()["two_computations"]["mistake"] == "updated_weights_in_backward"
    # and the number it should have been, from his own updated weights
    row = next(r for r in report.rows if r.quantity == "loss_after")
    assert row.expected == pytest.approx(0.2910277737, abs=1e-10)


def test_per_example_deltas_are_a_convention_not_two_mistakes_that_cancel():
    """Deltas without the batch mean's 1/N and gradients divided by N give the right
    gradients: that is sum_over_batch and mean_over_batch made together (they alter different
    kinds of node, so they combine), and it is also a book's convention; the convention, which
    leaves no answer wrong, is read, not the pair."""
    from chainrule.verify.mistakes import correct_step

    spec = cr.parse_spec({"layers": [2, 2, 1], "activations": ["sigmoid", "sigmoid"],
                          "loss": "mse", "inputs": [[0.1, 0.5], [0.7, -0.2], [0.3, 0.9]],
                          "targets": [[1.0], [0.0], [1.0]], "learning_rate": 0.5, "seed": 3})
    pair = MISTAKES["sum_over_batch"].alterations.combined(
        MISTAKES["mean_over_batch"].alterations)
    both, right = reference_step(spec, pair), correct_step(spec)
    for key in right:
        factor = 3.0 if key.startswith("backward.") else 1.0
        np.testing.assert_allclose(both[key], factor * right[key], rtol=1e-12, atol=1e-15)
    answers = {k: v for k, v in both.items() if not k.startswith(("parameters.", "forward.a0"))}
    report = judge_answers(spec, as_answers(answers, 8))
    assert report.convention == "per_example_deltas" and report.diagnosis is None, str(report)
    assert not report.wrong


def test_a_mistake_made_in_one_layer_only_is_named_with_its_layer():
    """W1 and b1 climb, W2 and b2 descend: gradient_ascent made throughout would have changed
    the right updates of layer 2, so it is not named; made in layer 1 only, it explains every
    wrong answer and contradicts none."""
    report = judge_answers("seed", as_answers(sheet(ascend=1), 8))
    found = statuses(report)
    assert {q for q, s in found.items() if s == "wrong"} == {
        "updated.W1[0][0]", "updated.W1[0][1]", "updated.W1[1][0]", "updated.W1[1][1]",
        "updated.b1[0]", "updated.b1[1]"}
    assert report.diagnosis.id == "gradient_ascent" and report.diagnosis.layer == 1
    assert report.candidates == ("gradient_ascent@layer1",)
    assert "(Update along the gradient, in layer 1 only) explains all of them" in report.verdict
    data = report.to_dict()["diagnosis"]
    assert data["layer"] == 1 and data["alters"] == {"update.sign": 1.0}
    # climbing in layer 2 only is another reading, and the sheet is not it
    assert judge_answers("seed", as_answers(sheet(ascend=2), 8)).diagnosis.layer == 2
