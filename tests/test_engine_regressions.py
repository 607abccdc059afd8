"""Issue 11, "no silent wrong gradient": each bug found, pinned by the numbers it got wrong.

1. ``x.transpose(-1, 0)`` came back with a permuted gradient, and the engine reshaped any
   right-size gradient into the input's shape, so nothing noticed. Now the rule normalises
   the axes, and a gradient of the wrong shape raises GradError naming the primitive.
2. ``x ** 0`` at x = 0 had ∂/∂x = NaN (0·∞); PyTorch gives 0.
3. ``softmax``/``log_softmax`` of a 0-d tensor raised TypeError; PyTorch gives 1 and 0.
4. ``t.sum(0)`` of a 0-d tensor raised IndexError in backward; PyTorch allows dim 0 and -1.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.autodiff.engine import unbroadcast
from chainrule.autodiff.ops import Primitive
from chainrule.autodiff.tensor import apply

W = np.random.default_rng(11).normal(size=(4, 3, 2))  # a random cotangent, not all ones


@pytest.mark.parametrize("axes", [(-1, 0), (1, -2), (-1, -2)])
def test_transpose_with_negative_axes_sends_each_gradient_home(axes):
    x = cr.Tensor(np.arange(6.0).reshape(2, 3))
    (x.transpose(*axes) * W[0]).sum().backward()
    np.testing.assert_array_equal(x.grad, W[0].T)  # W[0] is (3, 2): out's shape


def test_transpose_of_three_axes_with_negatives():
    x = cr.Tensor(np.arange(24.0).reshape(2, 3, 4))
    out = x.transpose(-1, 0, -2)  # axes (2, 0, 1): out[k, i, j] = x[i, j, k]
    w = W.reshape(out.shape)
    (out * w).sum().backward()
    np.testing.assert_array_equal(x.grad, np.transpose(w, (1, 2, 0)))


def _wrong(rule) -> Primitive:
    """A primitive whose forward is the identity and whose rule is the given mistake."""
    return Primitive("wrong_rule", lambda x: x.copy(), (rule,), "x", ("1",), "x", ("1",))


@pytest.mark.parametrize("rule, given", [
    (lambda g, out, x: g.T, (3, 2)),                        # same size, transposed
    (lambda g, out, x: g.reshape(-1), (6,)),                # same size, flattened
    (lambda g, out, x: g[:1], (1, 3)),                      # too small
    (lambda g, out, x: np.stack([g, g]).reshape(2, 6), (2, 6)),  # an axis that does not fit
    (lambda g, out, x: np.float64(1.0), ()),                # a NumPy scalar for a (2, 3) input
])
def test_a_rule_with_a_wrongly_shaped_gradient_is_named(rule, given):
    x = cr.Tensor(np.ones((2, 3)))
    out = apply(_wrong(rule), x)
    with pytest.raises(cr.GradError) as caught:
        (out * W[0].T).sum().backward()
    message = str(caught.value)
    assert "wrong_rule (input 0)" in message
    assert f"shape {given}" in message and "expected the input's shape (2, 3)" in message
    assert x.grad is None


@pytest.mark.parametrize("shape, given, summed", [
    ((3,), (2, 3), [2.0, 2.0, 2.0]),                  # a bias: summed over the examples
    ((1, 3), (2, 3), [[2.0, 2.0, 2.0]]),              # a stretched axis, kept
    ((2, 1), (4, 2, 3), [[12.0], [12.0]]),            # both
    ((), (2, 3), 6.0),                                # a scalar
])
def test_unbroadcast_still_sums_broadcast_axes(shape, given, summed):
    np.testing.assert_array_equal(unbroadcast(np.ones(given), shape), summed)


@pytest.mark.parametrize("shape, given", [((2, 3), (3, 2)), ((1, 3), (3,)), ((4,), (2, 2)),
                                          ((2, 3), (6,)), ((3,), (3, 2))])
def test_unbroadcast_refuses_what_it_cannot_sum_back(shape, given):
    expected = f"matmul (input 1): the gradient has shape {given}, expected the input's shape "
    with pytest.raises(cr.GradError, match=re.escape(f"{expected}{shape}")):
        unbroadcast(np.ones(given), shape, "matmul", 1)


@pytest.mark.parametrize("exponent, expected", [
    (0.0, 0.0), (0.5, np.inf), (1.0, 1.0), (2.0, 0.0), (-1.0, -np.inf), (3.0, 0.0)])
def test_power_at_zero_has_pytorchs_derivatives(exponent, expected):
    """PyTorch's numbers (tests/test_ops_against_torch.py checks them there too); a
    RuntimeWarning would fail this test (filterwarnings = error)."""
    x = cr.Tensor([0.0, 0.0])
    y = cr.Tensor([exponent, exponent])
    (x ** exponent * [1.0, 2.0]).sum().backward()
    np.testing.assert_array_equal(x.grad, [expected, 2 * expected])
    x.zero_grad()
    (x ** y).sum().backward()
    np.testing.assert_array_equal(x.grad, [expected, expected])
    np.testing.assert_array_equal(y.grad, [-np.inf if exponent < 0 else 0.0] * 2)


@pytest.mark.parametrize("op, value", [("softmax", 1.0), ("log_softmax", 0.0)])
@pytest.mark.parametrize("axis", [None, 0, -1])
def test_softmax_of_a_scalar(op, value, axis):
    x = cr.Tensor(2.5)
    out = getattr(x, op)() if axis is None else getattr(x, op)(axis)
    assert out.shape == () and out.item() == value
    (out * 3.0).backward()
    assert x.grad.shape == () and x.grad == 0.0
    with pytest.raises(cr.ShapeError, match=rf"{op}: dim 1 is out of range"):
        getattr(x, op)(1)


@pytest.mark.parametrize("axis", [0, -1, (0,)])
@pytest.mark.parametrize("method", ["sum", "mean"])
def test_sum_of_a_scalar_over_its_axis(axis, method):
    x = cr.Tensor(4.0)
    out = getattr(x, method)(axis)
    assert out.shape == () and out.item() == 4.0
    (out * -1.5).backward()
    assert x.grad.shape == () and x.grad == -1.5
    x.zero_grad()
    kept = getattr(x, method)(axis, keepdim=True)
    assert kept.shape == ()  # PyTorch: a 0-d tensor stays 0-d
    kept.backward()
    assert x.grad == 1.0


def test_an_axis_out_of_range_is_one_line():
    with pytest.raises(cr.ShapeError, match=r"sum: dim 2 is out of range for a tensor of 2 "
                                            r"dimension\(s\) \(expected -2 to 1\)"):
        cr.Tensor(np.ones((2, 3))).sum(2).backward()
