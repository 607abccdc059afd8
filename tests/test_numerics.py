"""Numerics at the edges of float64: stable where a stable formulation exists, otherwise one
line naming the first non-finite quantity — never a NaN printed with exit status 0, never a
raw NumPy warning, never a crash of a verify method."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.train.checkpoint import save_model
from chainrule.cli.main import main
from chainrule.finite import NonFiniteError
from chainrule.nn.losses import bce, bce_with_softmax_logits, output_loss

ROOT = Path(__file__).resolve().parent.parent

# A saturated two-unit softmax: z = (1e4, −1e4), the target on the unit with p = e^−20000.
SATURATED_SOFTMAX_BCE = {
    "layers": [2, 2], "activations": ["softmax"], "loss": "bce",
    "weights": [[[1e4, -1e4], [0.0, 0.0]]], "biases": [[0.0, 0.0]],
    "input": [1.0, 0.0], "target": [0.0, 1.0], "learning_rate": 0.1,
}
IDENTITY_1E200 = {
    "layers": [2, 1], "activations": ["identity"], "loss": "sse",
    "weights": [[[1e200], [1e200]]], "biases": [[0.0]],
    "input": [1e200, 1e200], "target": [0.0], "learning_rate": 0.1,
}


def write(tmp_path: Path, name: str, spec: dict) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(spec))
    return str(path)


def test_bce_after_a_saturated_softmax_is_finite_and_exact():
    # E = −½[ln(1 − p₁) + ln p₂] with ln(1 − p₁) = ln p₂ = −20000: E = 20000 exactly, and
    # E = z₁ − z₂ in effect, so δ = (1, −1); from a = softmax(z) it was inf and NaN.
    trace = cr.explain(SATURATED_SOFTMAX_BCE)
    assert trace.loss == 20000.0
    np.testing.assert_array_equal(trace.backward["delta1"], [1.0, -1.0])
    np.testing.assert_array_equal(trace.gradients["W1"], [[1.0, -1.0], [0.0, 0.0]])
    np.testing.assert_array_equal(trace.updated["b1"], [-0.1, 0.1])
    # the rendered chain shows the same finite delta, not (inf)(0) = nan
    assert trace.chain.deltas["delta1[0]"].value == 1.0
    assert "nan" not in cr.render(trace, "text", precision=4)


@pytest.mark.parametrize("units", [2, 3, 6])
def test_bce_from_softmax_logits_matches_the_textbook_form_where_that_is_finite(units):
    rng = np.random.default_rng(units)
    z_values, t = rng.normal(scale=3.0, size=(5, units)), rng.uniform(size=(5, units))
    fused, composed = cr.Tensor(z_values), cr.Tensor(z_values)
    weights = rng.normal(size=5)
    (bce_with_softmax_logits(fused, t, reduction="none") * weights).sum().backward()
    (bce(composed.softmax(), t, reduction="none") * weights).sum().backward()
    np.testing.assert_allclose(fused.grad, composed.grad, rtol=1e-10, atol=1e-15)
    z = cr.Tensor(z_values)
    last = output_loss("bce", z, z.softmax(), "softmax", t)
    np.testing.assert_allclose(last.data, bce(z.softmax(), t).data, rtol=1e-13)


def test_bce_from_softmax_logits_far_beyond_1e4_stays_finite():
    z = cr.Tensor([[1e300, -1e300, 0.0], [5e4, 5e4, -5e4]])
    loss = bce_with_softmax_logits(z, [[0.0, 1.0, 0.5], [0.5, 0.5, 1.0]])
    loss.backward()
    assert np.isfinite(loss.data) and np.all(np.isfinite(z.grad))
    # second example: p = (½, ½, e^−1e5): −⅓[ln ½ + ln ½ + ln e^−1e5 + 0] per the formula
    expected_second = -(2 * np.log(0.5) + (-1e5 - np.log(2.0))) / 3
    per_example = bce_with_softmax_logits(cr.Tensor(z.data[1:]),
                                          [[0.5, 0.5, 1.0]], reduction="none").data
    np.testing.assert_allclose(per_example, [expected_second], rtol=1e-15)


def test_cli_explain_of_a_saturated_softmax_bce(tmp_path, capsys):
    path = write(tmp_path, "sm.json", SATURATED_SOFTMAX_BCE)
    assert main(["explain", path, "--format", "json"]) == 0
    trace = json.loads(capsys.readouterr().out)
    assert trace["forward"]["loss"] == 20000.0
    assert trace["backward"]["delta1"] == [1.0, -1.0]


def test_verify_of_a_saturated_softmax_bce_runs_every_method(tmp_path, capsys):
    pytest.importorskip("sympy")
    pytest.importorskip("torch")
    path = write(tmp_path, "sm.json", SATURATED_SOFTMAX_BCE)
    assert main(["verify", path, "--format", "json", "--torch"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["methods"]["symbolic"] == "ran (sympy)"  # was a ZeroDivisionError
    row = report["parameters"]["W1"][0]
    assert row["analytic"] == 1.0 and row["torch"] == 1.0
    assert row["symbolic"] == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("command", ["explain", "verify"])
def test_an_overflowing_forward_pass_is_one_line_naming_the_quantity(tmp_path, capsys, command):
    path = write(tmp_path, "big.json", IDENTITY_1E200)
    assert main([command, path]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("chainrule: error: explain: z1[0] overflowed to inf in the forward "
                            "pass (inputs or weights too large for float64)\n")


def test_the_api_raises_a_non_finite_error_with_the_quantity():
    with pytest.raises(NonFiniteError) as caught:
        cr.explain(IDENTITY_1E200)
    assert (caught.value.quantity, caught.value.index) == ("z1", (0,))
    assert caught.value.value == np.inf


def test_a_loss_that_overflows_is_named():
    # z = 1e200 is a float64, z² = 1e400 is not
    spec = {"layers": [1, 1], "activations": ["identity"], "loss": "sse",
            "weights": [[[1e200]]], "biases": [[0.0]], "input": [1.0], "target": [0.0],
            "learning_rate": 0.1}
    with pytest.raises(NonFiniteError, match=r"^explain: loss overflowed to inf \(the loss is "
                                             r"not a finite number at these outputs\)$"):
        cr.explain(spec)


def test_explain_model_with_inputs_near_the_float64_limit(tmp_path):
    """The whole process: exit 2, one line on stderr, no RuntimeWarning, no traceback."""
    model = cr.nn.MLP([2, 3, 1], "sigmoid", weights=[np.full((2, 3), 2.0), np.ones((3, 1))])
    save_model(tmp_path / "m.npz", model, extra={"loss": "mse"})
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-m", "chainrule", "explain", "--model",
                           str(tmp_path / "m.npz"), "--input", "1e308,1e308", "--target", "0"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("chainrule: error: explain: z1[")
    assert "overflowed to" in done.stderr and done.stderr.count("\n") == 1


def test_finite_differences_keep_their_step_at_1e154(tmp_path, capsys):
    # W = 1.3e154: W ± 1e-6 rounds back to W, and so does b ± 1e-6 inside z = W + b; the
    # difference quotient was 0, a silently wrong slope. The true gradient is 2z = 2.6e154.
    spec = {"layers": [1, 1], "activations": ["identity"], "loss": "sse",
            "weights": [[[1.3e154]]], "biases": [[0.0]], "input": [1.0], "target": [0.0],
            "learning_rate": 0.1}
    report = cr.gradcheck_spec(spec)
    for row in report.rows:
        assert row.numeric == pytest.approx(2.6e154, rel=1e-5), row.label
        assert row.status == "ok"


def test_a_method_without_a_finite_number_says_so_in_its_row(tmp_path, capsys):
    pytest.importorskip("sympy")
    pytest.importorskip("torch")
    # E = z² ≈ 1.797691e308, just below the largest float64: one relative step of 1e-6 up
    # overflows to inf, so finite differences have no finite slope; PyTorch and sympy still
    # check the element.
    spec = {"layers": [1, 1], "activations": ["identity"], "loss": "sse",
            "weights": [[[1.34078e154]]], "input": [1.0], "target": [0.0], "bias": "none",
            "learning_rate": 0.1}
    path = write(tmp_path, "edge.json", spec)
    assert main(["verify", path]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.strip().startswith("W1[0,0]"))
    assert "not finite" in row and row.rstrip().endswith("ok")
    assert "\nverdict: the 3 methods that ran agree (finite diff., reference, symbolic)\n" in out


def test_the_reference_step_agrees_at_saturation_and_judges_answers(tmp_path, capsys):
    # verify/reference.py is the independent computation that judges answers: it must give
    # the engine's finite numbers for a saturated softmax + bce, not inf and NaN
    from chainrule.verify.mistakes import correct_step

    truth = correct_step(SATURATED_SOFTMAX_BCE)
    assert truth["forward.loss"] == 20000.0
    np.testing.assert_array_equal(truth["backward.delta1"], [1.0, -1.0])
    np.testing.assert_array_equal(truth["gradients.W1"], [[1.0, -1.0], [0.0, 0.0]])
    spec = write(tmp_path, "sm.json", SATURATED_SOFTMAX_BCE)
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"forward.loss": 20000, "backward.delta1": [1, -1]}))
    assert main(["verify", spec, "--answers", str(answers)]) == 0
    assert "All 3 answers are correct." in capsys.readouterr().out


def test_answers_are_not_judged_against_an_overflowed_step(tmp_path, capsys):
    spec = write(tmp_path, "big.json", IDENTITY_1E200)
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"forward.loss": 1.0}))
    assert main(["verify", spec, "--answers", str(answers)]) == 2
    assert capsys.readouterr().err == ("chainrule: error: verify: forward.z1[0] overflowed to "
                                       "inf in the correct step (inputs or weights too large "
                                       "for float64)\n")


def test_an_update_that_overflows_is_named_with_its_element():
    # W = 1e308 and a gradient of 2·z·x ≈ 2e308·... : the step η·g overflows W1 past 1.8e308
    spec = {"layers": [1, 1], "activations": ["identity"], "loss": "half_sse",
            "weights": [[[1.0]]], "biases": [[0.0]], "input": [1e154], "target": [0.0],
            "learning_rate": 1e10, "steps": 2}
    with pytest.raises(NonFiniteError) as caught:
        cr.explain(spec)
    assert str(caught.value).startswith("explain: W1[0,0] after the update overflowed to -inf "
                                        "in the update (the learning rate")
