"""gradcheck: a report per element — analytic, numeric, errors, ok / fail / kink.

Every primitive passes on smooth inputs; a deliberately wrong vjp is caught and named; kinks
are flagged instead of failed; float32 inputs warn and are still checked in float64.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import GradcheckError
from chainrule.autodiff.ops import Primitive
from chainrule.autodiff.tensor import apply
from chainrule.verify.gradcheck import GradcheckWarning, gradcheck, gradcheck_spec

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
RNG = np.random.default_rng(2024)


def normal(*shape):
    return RNG.normal(size=shape)


def away_from_zero(*shape, low=0.5):
    return RNG.uniform(low, 2.0, size=shape) * RNG.choice([-1.0, 1.0], size=shape)


# One smooth case per primitive: inputs away from kinks and poles, and the op's parameters.
SMOOTH = {
    "add": ([normal(2, 3), normal(3)], {}),  # broadcasting: b's gradient is summed
    "sub": ([normal(2, 3), normal(3)], {}),
    "mul": ([normal(2, 3), normal(1, 3)], {}),
    "div": ([normal(2, 3), away_from_zero(3)], {}),
    "pow": ([RNG.uniform(0.5, 2.0, (2, 3)), normal(3)], {}),
    "neg": ([normal(2, 3)], {}),
    "exp": ([normal(2, 3)], {}),
    "log": ([RNG.uniform(0.2, 3.0, (2, 3))], {}),
    "tanh": ([normal(2, 3)], {}),
    "sigmoid": ([normal(2, 3)], {}),
    "softplus": ([normal(2, 3)], {}),
    "relu": ([away_from_zero(2, 3, low=0.01)], {}),
    "leaky_relu": ([away_from_zero(2, 3, low=0.01)], {"slope": 0.1}),
    "maximum": ([np.array([[0.0, 1.0, -1.0]]), np.array([[0.5], [-0.5]])], {}),  # no ties
    "softmax": ([normal(2, 3)], {"axis": 0}),
    "log_softmax": ([normal(2, 3)], {"axis": -1}),
    "matmul": ([normal(2, 3), normal(3, 4)], {}),
    "sum": ([normal(2, 3)], {"axis": 1, "keepdims": False}),
    "reshape": ([normal(2, 3)], {"shape": (3, 2)}),
    "transpose": ([normal(2, 3)], {"axes": None}),
    "getitem": ([normal(3, 2)], {"index": np.array([0, 2, 0])}),  # a repeated row adds up
    "sqrt": ([RNG.uniform(0.2, 3.0, (2, 3))], {}),
    "abs": ([away_from_zero(2, 3, low=0.01)], {}),
    "clamp": ([np.array([[-1.2, -0.3, 0.4], [0.9, 1.6, 2.2]])], {"min": 0.0, "max": 1.0}),
    "minimum": ([np.array([[0.0, 1.0, -1.0]]), np.array([[0.5], [-0.5]])], {}),  # no ties
    "where": ([normal(2, 3), normal(3)], {"condition": np.array([True, False, True])}),
    "max": ([np.array([[0.1, 0.7, -0.2], [0.3, -0.9, 0.5]])], {"axis": 1, "keepdims": False}),
    "min": ([np.array([[0.1, 0.7, -0.2], [0.3, -0.9, 0.5]])], {"axis": None, "keepdims": False}),
    "var": ([normal(2, 3)], {"axis": 1, "correction": 1, "keepdims": False}),
    "std": ([normal(2, 3)], {"axis": None, "correction": 0, "keepdims": True}),
    "logsumexp": ([normal(2, 3)], {"axis": -1, "keepdims": False}),
    "cumsum": ([normal(2, 3)], {"axis": 1}),
    "pad": ([normal(2, 3)], {"pad": (1, 2, 0, 1), "value": 0.5}),
    "flip": ([normal(2, 3)], {"axis": (1,)}),
    "repeat": ([normal(2, 3)], {"sizes": (2, 1, 2)}),
    "expand": ([normal(3, 1)], {"shape": (2, -1, 4)}),
    "gather": ([normal(2, 3)], {"index": np.array([[2, 2], [0, 1]]), "axis": 1}),
    "cat": ([normal(2, 3), normal(1, 3), normal(2, 3)], {"axis": 0}),
    "stack": ([normal(2, 3), normal(2, 3)], {"axis": -1}),
    # the fused primitives (chainrule.autodiff.fused), drawn from their own generator
    "linear": ([np.random.default_rng(1).normal(size=s) for s in ((2, 3), (3, 4), (4,))], {}),
    "dense": ([np.random.default_rng(4).normal(size=s) for s in ((2, 3), (3, 4), (4,))],
              {"activation": "tanh"}),
    "squared_error": ([np.random.default_rng(2).normal(size=(2, 3)) for _ in range(2)],
                      {"kind": "half_sse", "reduction": "mean"}),
    "nll": ([np.random.default_rng(3).normal(size=(2, 3)), np.eye(3)[[2, 0]]],
            {"reduction": "sum"}),
    "softmax_bce": ([np.random.default_rng(5).normal(size=(2, 3)),
                     np.random.default_rng(6).uniform(size=(2, 3))], {"reduction": "mean"}),
    # the convolutional primitives (chainrule.autodiff.ops_conv, ops_pool, ops_norm)
    "conv": ([np.random.default_rng(7).normal(size=s) for s in ((2, 2, 5, 4), (3, 2, 2, 3))],
             {"stride": (2, 1), "padding": 1, "dilation": 1, "groups": 1}),
    "max_pool": ([np.random.default_rng(8).permutation(32).reshape(1, 2, 4, 4) * 0.1],
                 {"kernel_size": 2, "stride": 1, "padding": 0}),  # no ties
    "avg_pool": ([np.random.default_rng(9).normal(size=(2, 1, 5))],
                 {"kernel_size": 3, "stride": 2, "padding": 1}),
    "batch_norm": ([np.random.default_rng(10).normal(size=s) for s in ((4, 3), (3,), (3,))],
                   {"eps": 1e-5}),
    "dropout": ([normal(2, 3), np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])], {"p": 0.25}),
    # the sequence primitives (chainrule.autodiff.ops_sequence)
    "embedding": ([np.random.default_rng(11).normal(size=(4, 3))],
                  {"index": np.array([[1, 3, 1], [0, 1, 2]]), "padding_idx": None}),
    "layer_norm": ([np.random.default_rng(12).normal(size=s) for s in ((2, 3, 4), (3, 4),
                                                                     (3, 4))],
                   {"ndim": 2, "eps": 1e-5}),
}


# Comparisons and argmax have no gradient to check (tests/test_ops.py tests them).
NON_DIFFERENTIABLE = {name for name, p in cr.PRIMITIVES.items() if not p.differentiable}


def test_every_primitive_has_a_smooth_case():
    assert set(SMOOTH) | NON_DIFFERENTIABLE == set(cr.PRIMITIVES)


@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_every_primitive_passes_on_smooth_inputs(name):
    arrays, params = SMOOTH[name]
    tensors = [cr.Tensor(a, f"x{i}") for i, a in enumerate(arrays)]
    report = gradcheck(lambda *xs: apply(cr.PRIMITIVES[name], *xs, **params), tensors)
    assert report.ok, str(report)
    assert report.kinks == []
    assert len(report.rows) == sum(a.size for a in arrays)
    assert report.worst().rel_error < 1e-6
    report.assert_ok()


def test_seed_spec_gradients_check_out():
    report = gradcheck_spec("seed")
    assert report.ok and report.kinks == []
    assert [row.label for row in report.rows] == [
        "W1[0,0]", "W1[0,1]", "W1[1,0]", "W1[1,1]", "b1[0]", "b1[1]", "W2[0,0]", "W2[1,0]",
        "b2[0]"]
    assert report.worst().rel_error < 1e-7
    # The analytic column is the trace's gradient: the same loss, the same engine.
    gradients = cr.explain("seed").gradients
    for row in report.rows:
        assert row.analytic == pytest.approx(gradients[row.input][row.index], rel=1e-12)
    assert report.rows[0].numeric == pytest.approx(-0.0005555079, abs=1e-10)


MLP_EXAMPLES = [path for path in sorted(EXAMPLES.iterdir())
                if isinstance(cr.load_spec(path), cr.Spec)]  # typed layers: test_layers_lens


@pytest.mark.parametrize("path", MLP_EXAMPLES, ids=lambda p: p.name)
def test_every_example_spec_checks_out(path):
    report = gradcheck_spec(path)
    assert report.ok, str(report)
    assert report.worst().rel_error < 1e-6
    assert {row.input for row in report.rows} == set(cr.explain(path).gradients)


# --- a wrong gradient is caught -------------------------------------------------------------

# x² with a vjp that forgets the factor 2 where x > 2: right at x[0], x[1]; wrong at x[2].
BAD_SQUARE = Primitive(
    "bad_square", lambda x: x * x, (lambda g, out, x: g * np.where(x > 2, x, 2 * x),),
    "x²", ("2x",), "x^2", ("2x",))


def test_a_wrong_vjp_is_caught_and_named():
    x = cr.Tensor([1.0, -2.0, 3.0, 4.0], "x")
    report = gradcheck(lambda x: apply(BAD_SQUARE, x).sum(), [x])
    assert "bad_square" not in cr.PRIMITIVES
    assert report.ok is False
    assert [row.status for row in report.rows] == ["ok", "ok", "fail", "fail"]
    first = report.failures[0]
    assert (first.input, first.index, first.label) == ("x", (2,), "x[2]")
    assert first.analytic == 3.0
    assert first.numeric == pytest.approx(6.0, abs=1e-8)
    assert first.abs_error == pytest.approx(3.0, abs=1e-8)
    assert first.rel_error == pytest.approx(0.5, abs=1e-8)
    assert report.worst().rel_error == pytest.approx(0.5)  # at x[2] and x[3]
    with pytest.raises(GradcheckError) as caught:
        report.assert_ok()
    message = str(caught.value)
    for part in ("x[2]", "'x'", "(2,)", "analytic 3.0", "numeric 6.0", "absolute error 3",
                 "relative error 0.5", "0.00601", "2 of 4 elements failed"):
        assert part in message, message


def test_a_function_off_the_graph_fails():
    # Going through .data cuts the graph: the engine sees no path, differences see one.
    x = cr.Tensor([0.5, 1.5], "x")
    report = gradcheck(lambda x: (cr.Tensor(x.data) ** 2).sum(), [x])
    assert [(row.analytic, row.status) for row in report.rows] == [(0.0, "fail"), (0.0, "fail")]
    assert [row.numeric for row in report.rows] == pytest.approx([1.0, 3.0], abs=1e-8)


def test_a_step_across_a_pole_fails_without_a_numpy_warning():
    # log at 1e-7 with ε = 1e-6: the probe x − ε leaves the domain; the row says so.
    report = gradcheck(lambda x: x.log().sum(), [cr.Tensor([1e-7, 1.0], "x")])
    assert [row.status for row in report.rows] == ["fail", "ok"]
    assert np.isnan(report.rows[0].numeric) and report.to_dict()["rows"][0]["numeric"] is None
    assert report.rows[0].analytic == pytest.approx(1e7)


# --- kinks ----------------------------------------------------------------------------------


def test_relu_at_exactly_zero_is_a_kink_not_a_failure():
    x = cr.Tensor([0.0, 0.5, -0.5], "x")
    report = gradcheck(lambda x: x.relu(), [x])
    assert [row.status for row in report.rows] == ["kink", "ok", "ok"]
    assert report.ok and report.kinks == [report.rows[0]] and report.failures == []
    kink = report.rows[0]
    assert kink.analytic == 0.0  # relu'(0) = 0, as in PyTorch
    assert kink.numeric != 0.0  # the central difference sees half the slope
    assert report.worst().label != "x[0]"
    report.assert_ok()


def test_relu_away_from_zero_is_ok():
    report = gradcheck(lambda x: x.relu().sum(), [cr.Tensor([1e-3, -1e-3, 2.0], "x")])
    assert [(row.status, row.analytic) for row in report.rows] == [
        ("ok", 1.0), ("ok", 0.0), ("ok", 1.0)]


def test_maximum_tie_is_a_kink_for_both_operands():
    x, y = cr.Tensor([1.0, 2.0], "x"), cr.Tensor([1.0, 0.0], "y")
    report = gradcheck(lambda x, y: cr.maximum(x, y).sum(), [x, y])
    assert {row.label: row.status for row in report.rows} == {
        "x[0]": "kink", "x[1]": "ok", "y[0]": "kink", "y[1]": "ok"}
    assert report.rows[0].analytic == 0.5  # the tie splits the gradient


def test_abs_at_zero_is_a_kink():
    report = gradcheck(lambda x: cr.maximum(x, -x).sum(), [cr.Tensor([0.0, -1.0], "x")])
    assert [row.status for row in report.rows] == ["kink", "ok"]


def test_strong_curvature_is_not_a_kink():
    # 1000·x² at 0: the one-sided slopes differ by 2000·ε = 2e-3, beyond atol, but the gap
    # shrinks with ε, so it is curvature, and the derivative (0) checks out.
    report = gradcheck(lambda x: (x * x * 1000.0).sum(), [cr.Tensor([0.0, 0.01], "x")])
    assert [row.status for row in report.rows] == ["ok", "ok"]
    assert report.rows[1].analytic == pytest.approx(20.0)


# --- inputs ---------------------------------------------------------------------------------


def test_float32_inputs_warn_and_are_checked_in_float64():
    x = cr.Tensor([0.5, -0.25], "x", dtype="float32")
    with pytest.warns(GradcheckWarning, match="float32.*float64 on a copy"):
        report = gradcheck(lambda x: (x.tanh() * x).sum(), [x])
    assert report.ok and len(report.rows) == 2
    assert "float64 on a copy" in report.warnings[0] and "warning:" in str(report)
    # The float64 values of the float32 numbers, to float64 accuracy.
    t = np.tanh(np.float64(np.float32(0.5)))
    assert report.rows[0].analytic == pytest.approx(t + 0.5 * (1 - t * t), rel=1e-14)
    assert x.dtype == np.float32 and x.grad is None  # the caller's tensor is untouched


def test_non_scalar_output_is_projected_with_the_seeded_direction():
    x_data, y_data = normal(2, 3), normal(3)
    x, y = cr.Tensor(x_data, "x"), cr.Tensor(y_data, "y")
    report = gradcheck(lambda x, y: x.tanh() * y, [x, y], seed=7)
    assert report.ok and report.output_shape == (2, 3) and report.projected
    u = np.random.default_rng(7).normal(size=(2, 3))
    expected_x = u * (1 - np.tanh(x_data) ** 2) * y_data  # uᵀJ for x
    expected_y = (u * np.tanh(x_data)).sum(axis=0)
    assert [row.analytic for row in report.rows[:6]] == pytest.approx(expected_x.ravel())
    assert [row.analytic for row in report.rows[6:]] == pytest.approx(expected_y)
    assert "default_rng(7)" in str(report)
    assert report.to_dict()["projection_seed"] == 7


def test_dict_inputs_named_by_key():
    a0 = np.array([[0.5, 0.3]])
    inputs = {"W": cr.Tensor([[0.2, 0.4], [0.1, 0.3]]), "b": cr.Tensor([0.1, 0.2])}
    report = gradcheck(lambda W, b: (a0 @ W + b).sigmoid().sum(), inputs)
    assert report.ok
    assert [row.label for row in report.rows] == ["W[0,0]", "W[0,1]", "W[1,0]", "W[1,1]",
                                                  "b[0]", "b[1]"]


def test_inputs_without_grad_are_skipped_and_unnamed_are_numbered():
    x, c = cr.Tensor([1.0, 2.0]), cr.Tensor([3.0, 4.0], "c", requires_grad=False)
    report = gradcheck(lambda x, c: (x * c).sum(), [x, c])
    assert report.skipped == ["c"]
    assert {row.input for row in report.rows} == {"inputs[0]"}
    assert [row.analytic for row in report.rows] == [3.0, 4.0]
    assert "skipped (requires_grad=False): c" in str(report)


def test_perturbations_are_restored_exactly_and_callers_tensors_untouched():
    original = np.array([0.1, 0.7, -0.3])
    x = cr.Tensor(original, "x")
    seen = []

    def f(x):
        seen.append(x.data.copy())
        return (x * x).sum()

    gradcheck(f, [x])
    # Every call sees at most one element moved: the previous one was put back bit for bit.
    assert all(np.count_nonzero(values != original) <= 1 for values in seen)
    assert np.array_equal(x.data, original) and x.grad is None


def test_works_inside_no_grad_and_rejects_non_tensors():
    x = cr.Tensor([0.5], "x")
    with cr.no_grad():
        assert gradcheck(lambda x: x.exp().sum(), [x]).ok
    with pytest.raises(TypeError, match="input 'inputs\\[0\\]': expected a chainrule.Tensor"):
        gradcheck(lambda x: x, [np.array([1.0])])
    with pytest.raises(TypeError, match="f must return a chainrule.Tensor"):
        gradcheck(lambda x: 1.0, [x])


# --- the report -----------------------------------------------------------------------------


def test_str_is_an_aligned_table_with_a_summary():
    report = gradcheck(lambda x: x.relu(), [cr.Tensor([0.0, 0.5, -0.5], "x")])
    text = str(report)
    worst = report.worst()
    assert worst.label == "x[1]"
    assert text.endswith(f"3 elements: 2 ok, 1 kink, 0 failed; "
                         f"worst relative error {worst.rel_error:.2g} at x[1]")
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("input"))
    for column in ("index", "analytic", "numeric", "abs err", "rel err", "status"):
        assert column in header
    table = lines[lines.index(header):-1]
    assert len(table) == 2 + 3  # header, rule, one line per element
    assert len({line.index("  ", len("input")) for line in table[2:]}) == 1  # aligned
    assert table[2].split()[-1] == "kink"


def test_to_dict_is_json_safe_even_with_nan():
    nan_grad = Primitive("nan_grad", lambda x: x * 1.0, (lambda g, out, x: g * np.nan,),
                         "x", ("1",), "x", ("1",))
    report = gradcheck(lambda x: apply(nan_grad, x).sum(), [cr.Tensor([1.0, 2.0], "x")])
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["ok"] is False and data["rows"][0]["analytic"] is None
    assert data["rows"][0]["numeric"] == pytest.approx(1.0)
    assert data["rows"][0]["index"] == [0] and data["rows"][0]["status"] == "fail"
    assert data["summary"].startswith("2 elements: 0 ok, 0 kinks, 2 failed")
    assert (data["eps"], data["atol"], data["rtol"]) == (1e-6, 1e-5, 1e-3)
    seed = gradcheck_spec("seed").to_dict()
    assert seed["ok"] is True and seed["projection_seed"] is None and len(seed["rows"]) == 9
    json.dumps(seed, allow_nan=False)
