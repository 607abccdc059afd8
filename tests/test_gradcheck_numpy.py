"""gradcheck for plain NumPy functions with a gradient the user derived (``grad=``).

The same report as for tensors: a right gradient passes, a transposed or halved one fails
naming the element, a wrong shape or a vector-valued f is one line, and the caller's arrays
are never touched.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import GradcheckError, ShapeError
from chainrule.verify.gradcheck import GradcheckWarning

RNG = np.random.default_rng(13)


def cube_sum(x):
    return float(np.sum(x ** 3))


def test_a_correct_gradient_passes_as_an_array_or_a_callable():
    x = RNG.normal(size=(2, 3))
    for grad in (3 * x ** 2, lambda x: 3 * x ** 2):
        report = cr.gradcheck(cube_sum, x, grad=grad)
        assert report.ok and report.kinks == [], str(report)
        assert [row.label for row in report.rows][:2] == ["x[0,0]", "x[0,1]"]
        assert len(report.rows) == 6 and report.worst().rel_error < 1e-7
        assert report.analytic_source == "grad" and report.to_dict()["analytic"] == "grad"
        assert "a from grad= (yours)" in str(report)
        assert report.assert_ok() is report


def softmax_loss(W, X, y):
    """Mean cross-entropy of softmax(X W) and the textbook gradient Xᵀ(p − onehot(y)) / N."""
    scores = X @ W
    scores = scores - scores.max(axis=1, keepdims=True)
    p = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(len(y)), y]))
    p[np.arange(len(y)), y] -= 1
    return loss, X.T @ p / len(y)


X, Y = RNG.normal(size=(5, 4)), np.array([0, 2, 1, 2, 0])


def test_softmax_cross_entropy_of_a_weight_matrix_with_the_textbook_gradient():
    W = RNG.normal(size=(4, 3)) * 0.1
    report = cr.gradcheck(lambda W: softmax_loss(W, X, Y)[0], W,
                          grad=lambda W: softmax_loss(W, X, Y)[1])
    assert report.ok, str(report)
    assert len(report.rows) == 12 and report.worst().rel_error < 1e-6


def test_a_transposed_gradient_of_a_square_matrix_fails_naming_the_element():
    A = RNG.normal(size=(3, 3))
    W = RNG.normal(size=(3, 3))

    def f(W):
        return float(np.sum(A * W))  # ∂f/∂W = A; Aᵀ has the right shape and is wrong

    report = cr.gradcheck(f, W, grad=A.T)
    assert not report.ok
    assert {row.index for row in report.failures} == {
        (i, j) for i in range(3) for j in range(3) if i != j}  # the diagonal agrees
    first = report.failures[0]
    assert first.label == "x[0,1]" and first.analytic == A[1, 0]
    assert first.numeric == pytest.approx(A[0, 1], abs=1e-8)
    with pytest.raises(GradcheckError, match=r"^gradcheck: x\[0,1\] \(input 'x', index "
                                             r"\(0, 1\)\): analytic "):
        report.assert_ok()
    assert "worst relative error" in report.summary() and report.worst().input == "x"


def test_a_gradient_off_by_a_factor_2_fails_everywhere():
    x = RNG.uniform(0.5, 2.0, size=4)
    report = cr.gradcheck(cube_sum, x, grad=6 * x ** 2)
    assert [row.status for row in report.rows] == ["fail"] * 4
    assert all(row.rel_error == pytest.approx(0.5, abs=1e-6) for row in report.rows)
    assert report.summary().startswith("4 elements: 0 ok, 0 kinks, 4 failed; worst relative "
                                       "error 0.5 at x[")


@pytest.mark.parametrize("grad", [np.zeros((3, 2)), lambda x: np.zeros((3, 2))])
def test_a_wrong_shaped_gradient_is_one_line_naming_both_shapes(grad):
    x = np.ones((2, 3))
    with pytest.raises(ShapeError) as caught:
        cr.gradcheck(cube_sum, x, grad=grad)
    assert str(caught.value) == (
        "gradcheck: the analytic gradient of 'x' has shape (3, 2), the input has shape "
        "(2, 3); they must match exactly (compared element by element, never reshaped)")


def test_a_same_size_gradient_of_another_rank_is_refused_too():
    with pytest.raises(ShapeError, match=r"has shape \(6,\), the input has shape \(2, 3\)"):
        cr.gradcheck(cube_sum, np.ones((2, 3)), grad=np.zeros(6))


def test_a_vector_valued_f_is_refused_in_one_line_saying_how_to_check_it():
    with pytest.raises(ShapeError) as caught:
        cr.gradcheck(lambda x: x ** 2, np.ones(3), grad=np.ones(3))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("gradcheck: f returned an array of shape (3,); with grad=, f "
                              "must return a scalar (a loss)")
    assert "np.sum(v * f(x))" in message and "vᵀJ" in message


def test_the_callers_array_is_unchanged_and_never_given_to_f():
    x = RNG.normal(size=(2, 2))
    before = x.tobytes()
    seen = []

    def f(x_given):
        seen.append(x_given)
        value = float(np.sum(np.sin(x_given)))
        x_given *= 100.0  # an f that writes into its argument harms nothing
        return value

    def grad(x_given):
        seen.append(x_given)
        result = np.cos(x_given)
        x_given[...] = np.nan
        return result

    report = cr.gradcheck(f, x, grad=grad)
    assert report.ok, str(report)
    assert x.tobytes() == before
    assert seen and all(not np.shares_memory(given, x) for given in seen)
    # Every call saw the point itself or it with one element moved by ε: writes did not leak.
    assert all(np.count_nonzero(np.abs(given / 100.0 - x) > 1e-5) <= 1 for given in seen[1:])


def test_a_dict_of_two_inputs_with_a_dict_or_a_callable_gradient():
    W, b = RNG.normal(size=(4, 3)) * 0.1, RNG.normal(size=3) * 0.1
    inputs = {"W": W, "b": b}
    copies = {k: v.copy() for k, v in inputs.items()}

    def loss(W, b):
        return softmax_loss(np.vstack([W, b]), np.hstack([X, np.ones((5, 1))]), Y)[0]

    def gradient(W, b):
        full = softmax_loss(np.vstack([W, b]), np.hstack([X, np.ones((5, 1))]), Y)[1]
        return {"W": full[:4], "b": full[4]}

    for grad in (gradient, gradient(W, b)):
        report = cr.gradcheck(loss, inputs, grad=grad)
        assert report.ok, str(report)
        assert [row.label for row in report.rows][-4:] == ["W[3,2]", "b[0]", "b[1]", "b[2]"]
    bad = cr.gradcheck(loss, inputs, grad={"W": gradient(W, b)["W"], "b": np.zeros(3)})
    assert {row.input for row in bad.failures} == {"b"}
    assert all(np.array_equal(inputs[k], copies[k]) for k in inputs)
    with pytest.raises(ValueError, match=r"^gradcheck: grad's keys \('W'\) are not the "
                                         r"inputs' \('W', 'b'\)$"):
        cr.gradcheck(loss, inputs, grad={"W": W})
    with pytest.raises(TypeError, match="expected a dict of arrays with the inputs' keys"):
        cr.gradcheck(loss, inputs, grad=W)


def test_float32_inputs_warn_as_for_tensors_and_are_checked_in_float64():
    x = np.array([0.5, -0.25], dtype=np.float32)
    with pytest.warns(GradcheckWarning, match="float32.*float64 on a copy"):
        report = cr.gradcheck(cube_sum, x, grad=lambda x: 3 * x ** 2)
    assert report.ok and "warning: input 'x' is float32" in str(report)
    assert x.dtype == np.float32
    with pytest.warns(GradcheckWarning, match="f returned float32"):
        cr.gradcheck(lambda x: np.float32(np.sum(x ** 2)), np.ones(2), grad=2 * np.ones(2))


def test_a_kink_is_flagged_as_for_tensors():
    x = np.array([0.0, 0.5, -0.5])
    report = cr.gradcheck(lambda x: float(np.maximum(x, 0).sum()), x,
                          grad=lambda x: (x > 0).astype(float))
    assert [row.status for row in report.rows] == ["kink", "ok", "ok"] and report.ok


def test_a_scalar_input_and_json_output():
    report = cr.gradcheck(lambda x: float(np.log(x)), 2.0, grad=0.5)
    assert [row.label for row in report.rows] == ["x"] and report.ok
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["rows"][0]["analytic"] == 0.5 and data["output_shape"] == []


@pytest.mark.parametrize("inputs, grad, error, message", [
    ([np.ones(2), np.ones(2)], [np.ones(2)] * 2, TypeError, "go in a dict of arrays"),
    (cr.Tensor([1.0]), np.ones(1), TypeError, "input 'x' is a chainrule.Tensor; grad= is for"),
    (np.array(["a"]), np.ones(1), TypeError, "input 'x': expected an array of real numbers, "
                                             "got dtype <U1"),
    (np.ones(2), lambda x: None, TypeError, "gradient of 'x': expected an array of real "
                                            "numbers, got NoneType"),
    (np.ones(2), {"x": np.ones(2)}, TypeError, "grad is a dict but the input is one array"),
])
def test_misuse_is_one_line(inputs, grad, error, message):
    with pytest.raises(error) as caught:
        cr.gradcheck(lambda x: 0.0, inputs, grad=grad)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_f_returning_something_else_and_arrays_without_grad():
    with pytest.raises(TypeError, match="f must return a number"):
        cr.gradcheck(lambda x: None, np.ones(2), grad=np.ones(2))
    with pytest.raises(TypeError, match=r"for a NumPy function, pass its gradient: "
                                        r"gradcheck\(f, x, grad=\.\.\.\)"):
        cr.gradcheck(cube_sum, [np.ones(2)])
