"""Every primitive in the table: its vjp against central differences on random inputs.

The cases (tests/op_cases.py) say how to draw valid inputs for each primitive; the tests
here are shared. A primitive added to the table without a case fails
``test_every_primitive_has_a_case``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from chainrule.autodiff.tensor import apply
from tests.gradcheck_helpers import assert_grad_close, numeric_grad
from tests.op_cases import CASES, DIFFERENTIABLE, FLOATS, NON_DIFFERENTIABLE, SHAPES, arrays


def test_every_primitive_has_a_case():
    assert set(CASES) == set(cr.PRIMITIVES)
    assert NON_DIFFERENTIABLE == {n for n, p in cr.PRIMITIVES.items() if not p.differentiable}


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@given(data=st.data())
def test_vjp_matches_central_differences(name, data):
    prim = cr.PRIMITIVES[name]
    inputs, params = CASES[name](data.draw)
    upstream_seed = data.draw(st.integers(0, 2**32 - 1))
    out = np.asarray(prim.forward(*inputs, **params))
    upstream = np.random.default_rng(upstream_seed).normal(size=out.shape)

    tensors = [cr.Tensor(x) for x in inputs]
    apply(prim, *tensors, **params).backward(upstream)

    for i, tensor in enumerate(tensors):
        def projected(xi, i=i):
            args = [xi if j == i else x for j, x in enumerate(inputs)]
            return float(np.sum(upstream * prim.forward(*args, **params)))

        assert_grad_close(tensor.grad, numeric_grad(projected, inputs[i]),
                          f"{name} input {i}, shapes {[np.shape(x) for x in inputs]}, {params}")


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@given(data=st.data())
def test_float32_stays_float32(name, data):
    inputs, params = CASES[name](data.draw)
    tensors = [cr.Tensor(x, dtype="float32") for x in inputs]
    out = apply(cr.PRIMITIVES[name], *tensors, **params)
    out.backward(np.ones(out.shape, dtype=np.float32))
    assert out.dtype == np.float32
    assert [t.grad.dtype for t in tensors] == [np.float32] * len(tensors)


@pytest.mark.parametrize("name", sorted(NON_DIFFERENTIABLE))
@given(data=st.data())
def test_boolean_and_integer_results_are_constants(name, data):
    """Comparisons and argmax: NumPy's answer, in a bool or int64 tensor with no node and no
    gradient; its rules refuse to run rather than hand back zeros."""
    prim = cr.PRIMITIVES[name]
    inputs, params = CASES[name](data.draw)
    tensors = [cr.Tensor(x) for x in inputs]
    out = apply(prim, *tensors, **params)
    numpy_name = {"lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal",
                  "eq": "equal", "ne": "not_equal"}.get(name)
    if numpy_name:
        expected = getattr(np, numpy_name)(*inputs)
    else:
        axis, keepdims = params["axis"], params["keepdims"]
        x = inputs[0]
        expected = getattr(np, name)(x, axis=None if x.ndim == 0 else axis, keepdims=keepdims)
    np.testing.assert_array_equal(out.data, expected)
    assert out.dtype == (np.bool_ if numpy_name else np.int64)
    assert out.requires_grad is False and out.is_leaf
    with pytest.raises(cr.GradError, match=f"{name}: .*no gradient"):
        prim.vjps[0](np.ones(out.shape), out.data, *inputs, **params)


@given(x=hnp.arrays(np.float64, hnp.array_shapes(max_dims=2), elements=FLOATS))
def test_stable_forwards_match_textbook_formulas(x):
    np.testing.assert_allclose(cr.Tensor(x).sigmoid().data, 1 / (1 + np.exp(-x)), rtol=1e-15)
    e = np.exp(x)
    np.testing.assert_allclose(cr.Tensor(x).softmax().data, e / e.sum(-1, keepdims=True),
                               rtol=1e-14)
    np.testing.assert_allclose(cr.Tensor(x).log_softmax().data,
                               np.log(e / e.sum(-1, keepdims=True)), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(cr.Tensor(x).softplus().data, np.log1p(np.exp(x)), rtol=1e-15)


@pytest.mark.parametrize("name", [
    "add", "sub", "mul", "div", "pow", "maximum", "minimum", "matmul", "where", "cat", "stack"])
@given(data=st.data())
def test_a_tensor_used_as_both_operands(name, data):
    """x op x: both vjps land on one tensor and must add up."""
    prim = cr.PRIMITIVES[name]
    side = data.draw(st.integers(1, 4))
    shape = (side, side) if name == "matmul" else data.draw(SHAPES)
    x = arrays(data.draw, shape, st.floats(0.5, 2.0))
    params = {}
    if name == "where":
        params = {"condition": data.draw(hnp.arrays(np.bool_, shape))}
    elif name == "cat":
        shape = shape or (1,)
        x = x.reshape(shape)
    x_tensor = cr.Tensor(x)
    out = apply(prim, x_tensor, x_tensor, **params)
    upstream = np.random.default_rng(0).normal(size=out.shape)
    out.backward(upstream)
    numeric = numeric_grad(lambda v: float(np.sum(upstream * prim.forward(v, v, **params))), x)
    assert_grad_close(x_tensor.grad, numeric, f"{name}(x, x), shape {shape}")


@given(x=hnp.arrays(np.float64, (3, 2), elements=FLOATS),
       w=hnp.arrays(np.float64, (2,), elements=FLOATS))
def test_reused_nodes_in_a_composite_expression(x, w):
    """A hidden value feeding three later ops, through broadcasting, against differences."""
    def f(x_value, w_value, backend):
        h = backend["tanh"](x_value * w_value)  # (3, 2) * (2,)
        return backend["sum"](h * h + h / (1.5 + h) + backend["sigmoid"](h) * x_value)

    tensors = {"tanh": cr.Tensor.tanh, "sigmoid": cr.Tensor.sigmoid, "sum": cr.Tensor.sum}
    arrays_ = {"tanh": np.tanh, "sigmoid": lambda v: 1 / (1 + np.exp(-v)), "sum": np.sum}
    xt, wt = cr.Tensor(x), cr.Tensor(w)
    f(xt, wt, tensors).backward()
    assert_grad_close(xt.grad, numeric_grad(lambda v: f(v, w, arrays_), x), "x")
    assert_grad_close(wt.grad, numeric_grad(lambda v: f(x, v, arrays_), w), "w")


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@given(data=st.data())
def test_the_all_inputs_rule_gives_the_per_input_rules_bits(name, data):
    """``prim.vjp_all`` (what the engine calls) against each input's own rule, for every subset
    of wanted inputs: the same arrays to the last bit, and None where not wanted."""
    prim = cr.PRIMITIVES[name]
    inputs, params = CASES[name](data.draw)
    out = prim.forward(*inputs, **params)
    g = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).normal(size=np.shape(out))
    arity = len(inputs)  # a variadic primitive (cat, stack) takes as many as it is given
    assert prim.arity in (arity, None)
    wanted = data.draw(st.lists(st.booleans(), min_size=arity, max_size=arity))
    grads = prim.vjp_all(g, out, wanted, *inputs, **params)
    assert len(grads) == arity
    for i, (want, grad) in enumerate(zip(wanted, grads)):
        if not want:
            assert grad is None
            continue
        expected = np.asarray(prim.rule(i)(g, out, *inputs, **params))
        assert np.asarray(grad).tobytes() == expected.tobytes(), f"{name} input {i}"
