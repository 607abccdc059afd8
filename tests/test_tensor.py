"""The Tensor surface: what a PyTorch or micrograd user expects of it."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.autodiff.engine import BackwardStep, backward


def test_python_numbers_on_either_side():
    f = cr.Tensor(4.0)
    c = cr.Tensor(2.0)
    out = 10.0 / f + (1 + c) * (3 - c) - 2**c + c**2
    out.backward()
    assert out.item() == pytest.approx(10 / 4 + 3 * 1 - 4 + 4)
    assert f.grad == pytest.approx(-10 / 16)
    # d/dc [(1 + c)(3 − c) − 2^c + c²] = (3 − c) − (1 + c) − 2^c ln 2 + 2c
    assert c.grad == pytest.approx(1 - 3 - 4 * np.log(2) + 4)


def test_tensor_exponent_gets_a_gradient():
    x, y = cr.Tensor([1.5, 2.0]), cr.Tensor([2.0, 0.5])
    (x**y).sum().backward()
    np.testing.assert_allclose(x.grad, y.data * x.data ** (y.data - 1))
    np.testing.assert_allclose(y.grad, x.data**y.data * np.log(x.data))


def test_gradient_accumulates_over_uses_of_a_node():
    x = cr.Tensor([1.0, -2.0])
    y = x * x + x + x.sigmoid()  # x used four times
    y.sum().backward()
    s = 1 / (1 + np.exp(-x.data))
    np.testing.assert_allclose(x.grad, 2 * x.data + 1 + s * (1 - s))


def test_gradient_accumulates_across_calls_until_zero_grad():
    x = cr.Tensor(3.0)
    for expected in (6.0, 12.0):
        (x * x).backward()
        assert x.grad == expected
    x.zero_grad()
    assert x.grad is None
    (x * x).backward()
    assert x.grad == 6.0


def test_broadcast_gradients_are_summed_back_to_each_shape():
    a = cr.Tensor(np.arange(3.0).reshape(3, 1))
    b = cr.Tensor(np.arange(4.0))
    (a * b).sum().backward()
    assert a.grad.shape == (3, 1) and b.grad.shape == (4,)
    np.testing.assert_allclose(a.grad, np.full((3, 1), 6.0))
    np.testing.assert_allclose(b.grad, np.full(4, 3.0))


def test_non_scalar_backward_needs_an_explicit_gradient():
    x = cr.Tensor([1.0, 2.0])
    with pytest.raises(cr.GradError, match=r"shape \(2,\).*backward\(gradient\)"):
        (x * 2).backward()
    with pytest.raises(cr.GradError, match=r"expected shape \(2,\), got \(3,\)"):
        (x * 2).backward(np.ones(3))
    (x * 2).backward(np.array([1.0, 10.0]))
    np.testing.assert_allclose(x.grad, [2.0, 20.0])


def test_only_leaves_and_retained_tensors_keep_grad():
    x = cr.Tensor([0.5, -1.0])
    hidden = (x * 3).tanh()
    kept = (hidden * 2).retain_grad()
    kept.sum().backward()
    assert hidden.grad is None
    np.testing.assert_allclose(kept.grad, [1.0, 1.0])
    assert not hidden.is_leaf and x.is_leaf and hidden.op == "tanh"


def test_no_grad_records_nothing():
    x = cr.Tensor([1.0, 2.0])
    with cr.no_grad():
        y = (x * x).sum()
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    with pytest.raises(cr.GradError, match="does not depend"):
        y.backward()


def test_detach_shares_data_and_stops_gradients():
    x = cr.Tensor([2.0])
    frozen = x.detach()
    assert frozen.data is x.data and not frozen.requires_grad
    (x * frozen).sum().backward()
    np.testing.assert_allclose(x.grad, [2.0])  # frozen is a constant 2, not a second x


def test_constructor_copies_and_converts():
    source = np.array([1, 2, 3])
    t = cr.Tensor(source, name="z1")
    assert t.dtype == np.float64 and t.name == "z1"
    t.data += 1
    assert source.tolist() == [1, 2, 3]
    assert cr.Tensor(np.ones(2, np.float32)).dtype == np.float32
    assert cr.Tensor([1.0], dtype="float32").dtype == np.float32
    with pytest.raises(TypeError, match="float32 or float64"):
        cr.Tensor([1], dtype="int32")
    with pytest.raises(TypeError, match="real numbers"):
        cr.Tensor(["a"])


def test_float32_is_not_upcast_by_python_numbers():
    x = cr.Tensor([1.0, 2.0], dtype="float32")
    y = (2.5 * x + 1) / 3.0 - x**2
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32


def test_numpy_array_on_the_left_defers_to_tensor():
    x = cr.Tensor([1.0, 2.0])
    y = np.array([3.0, 4.0]) * x
    assert isinstance(y, cr.Tensor)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, 4.0])


def test_indexing_slicing_and_repeated_fancy_indices():
    x = cr.Tensor(np.arange(6.0).reshape(2, 3))
    (x[0, 1:] * 2).sum().backward()
    np.testing.assert_allclose(x.grad, [[0, 2, 2], [0, 0, 0]])
    x.zero_grad()
    x[[1, 1, 0]].sum().backward()  # row 1 taken twice
    np.testing.assert_allclose(x.grad, [[1, 1, 1], [2, 2, 2]])
    x.zero_grad()
    x[cr.Tensor([0.0, 1.0]), 2].sum().backward()  # a tensor of indices
    np.testing.assert_allclose(x.grad, [[0, 0, 1], [0, 0, 1]])


def test_reshape_transpose_mean_and_item():
    x = cr.Tensor(np.arange(6.0))
    y = x.reshape(2, 3).T.mean(axis=0)
    assert y.shape == (2,)
    np.testing.assert_allclose(y.data, [1.0, 4.0])
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.full(6, 1 / 3))
    assert cr.Tensor([[2.5]]).item() == 2.5 and float(cr.Tensor(1.5)) == 1.5
    assert np.mean(np.arange(7.0) / 3) == cr.Tensor(np.arange(7.0) / 3).mean().item()


@pytest.mark.parametrize("op", ["sigmoid", "tanh", "softplus", "softmax", "log_softmax"])
def test_stable_at_large_magnitudes(op):
    """No overflow warning (they fail the test) and finite gradients for |z| up to 1e4."""
    z = cr.Tensor([-1e4, -50.0, 0.0, 50.0, 1e4])
    out = getattr(z, op)()
    (out * cr.Tensor([1.0, -2.0, 3.0, -4.0, 5.0])).sum().backward()
    assert np.all(np.isfinite(out.data)) and np.all(np.isfinite(z.grad))


def test_stable_values_at_extremes():
    z = cr.Tensor([-1e4, 1e4])
    np.testing.assert_array_equal(z.sigmoid().data, [0.0, 1.0])
    np.testing.assert_allclose(z.log_softmax().data, [-2e4, 0.0])
    np.testing.assert_allclose(z.softplus().data, [0.0, 1e4])


def test_maximum_ties_split_the_gradient():
    a, b = cr.Tensor([1.0, 2.0, 3.0]), cr.Tensor([1.0, 5.0, 0.0])
    cr.maximum(a, b).sum().backward()
    np.testing.assert_allclose(a.grad, [0.5, 0.0, 1.0])
    np.testing.assert_allclose(b.grad, [0.5, 1.0, 0.0])


def test_relu_subgradient_at_zero_is_zero():
    x = cr.Tensor([0.0, 1.0, -1.0])
    x.relu().sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 0.0])
    x.zero_grad()
    x.leaky_relu().sum().backward()
    np.testing.assert_array_equal(x.grad, [0.01, 1.0, 0.01])


def test_a_long_chain_does_not_recurse():
    x = cr.Tensor(1.0)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.backward()
    assert x.grad == pytest.approx(1.0001**5000)


def test_observer_sees_every_node_in_reverse_order():
    x = cr.Tensor([1.0, 2.0])
    hidden = x * 3
    out = hidden.sigmoid().sum()
    seen: list[BackwardStep] = []
    backward(out, observer=seen.append)
    assert [step.node.prim.name for step in seen] == ["sum", "sigmoid", "mul"]
    np.testing.assert_allclose(seen[-1].input_grads[0], x.grad)
    assert seen[-1].input_grads[1] is None  # the constant 3 needs no gradient


def test_repr_shows_name_op_and_dtype():
    x = cr.Tensor([1.0, 2.0], name="a0")
    assert repr(x) == "Tensor([1., 2.], name='a0')"
    assert "op='mul'" in repr(x * 2)
    assert "dtype=float32" in repr(cr.Tensor([1.0], dtype="float32"))
