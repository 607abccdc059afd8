"""Every primitive in the table: its vjp against central differences on random inputs.

One case per primitive says how to draw valid inputs (away from kinks and poles) and
parameters; the test itself is shared. A primitive added to the table without a case here
fails ``test_every_primitive_has_a_case``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from chainrule.tensor import apply
from tests.gradcheck_helpers import assert_grad_close, numeric_grad

FLOATS = st.floats(-2.0, 2.0, allow_nan=False, width=64)
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)


def arrays(draw, shape, elements=FLOATS):
    return draw(hnp.arrays(np.float64, shape, elements=elements))


def away_from_zero(draw, shape, low=0.5, high=2.0):
    magnitude = arrays(draw, shape, st.floats(low, high))
    signs = arrays(draw, shape, st.sampled_from([-1.0, 1.0]))
    return magnitude * signs


def broadcast_pair(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3))
    return shapes.input_shapes


def binary(draw):
    first, second = broadcast_pair(draw)
    return [arrays(draw, first), arrays(draw, second)], {}


def unary(draw, elements=FLOATS):
    return [arrays(draw, draw(SHAPES), elements)], {}


def with_axis(draw):
    x = arrays(draw, draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4)))
    return [x], {"axis": draw(st.integers(-x.ndim, x.ndim - 1))}


def kinked(draw):
    # relu and leaky_relu: inputs at least 1e-3 from the kink, far beyond the step 1e-6
    return [away_from_zero(draw, draw(SHAPES), 1e-3, 2.0)], {}


def leaky(draw):
    x, _ = kinked(draw)
    return x, {"slope": draw(st.floats(0.0, 0.5))}


def division(draw):
    first, second = broadcast_pair(draw)
    return [arrays(draw, first), away_from_zero(draw, second)], {}


def power(draw):
    first, second = broadcast_pair(draw)
    return [arrays(draw, first, st.floats(0.5, 2.0)), arrays(draw, second)], {}


def maximum(draw):
    # x on a grid of quarters, y on the grid shifted by an eighth: never a tie (a kink)
    first, second = broadcast_pair(draw)
    x = arrays(draw, first, st.integers(-8, 8).map(lambda k: k / 4))
    y = arrays(draw, second, st.integers(-8, 8).map(lambda k: k / 4 + 1 / 8))
    return [x, y], {}


def matmul(draw):
    n, k, m, b = (draw(st.integers(1, 4)) for _ in range(4))
    left = draw(st.sampled_from([(n,), (k, n), (b, k, n)]))
    right = draw(st.sampled_from([(n,), (n, m), (b, n, m), (1, n, m)]))
    return [arrays(draw, left), arrays(draw, right)], {}


def summation(draw):
    x = arrays(draw, draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4)))
    axes = draw(st.none() | st.integers(-x.ndim, x.ndim - 1)
                | st.lists(st.integers(0, x.ndim - 1), min_size=1, unique=True).map(tuple))
    return [x], {"axis": axes, "keepdims": draw(st.booleans())}


def reshape(draw):
    x = arrays(draw, draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4)))
    return [x], {"shape": (x.size,) if draw(st.booleans()) else (1, -1)}


def transpose(draw):
    x = arrays(draw, draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4)))
    axes = draw(st.permutations(range(x.ndim)).map(tuple) | st.none())
    return [x], {"axes": axes}


def getitem(draw):
    x = arrays(draw, draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=2, max_side=4)))
    basic = draw(st.sampled_from([0, slice(None, None, 2), (Ellipsis, -1), slice(1, None)]))
    fancy = np.array(draw(st.lists(st.integers(0, x.shape[0] - 1), min_size=1, max_size=5)))
    return [x], {"index": draw(st.sampled_from([basic, fancy]))}


def linear(draw):
    n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
    x = arrays(draw, draw(st.sampled_from([(n,), (k, n), (2, k, n)])))
    bias = arrays(draw, draw(st.sampled_from([(m,), (1,), ()])))
    return [x, arrays(draw, (n, m)), bias], {}


def dense(draw):
    x, w, b = linear(draw)[0]
    activation = draw(st.sampled_from(["sigmoid", "tanh", "relu", "leaky_relu"]))
    if activation in ("relu", "leaky_relu"):  # z at least 1e-3 from the kink, as for relu
        assume(np.all(np.abs(x @ w + b) > 1e-3))
    params = {"activation": activation}
    if activation == "leaky_relu":
        params["slope"] = draw(st.floats(0.0, 0.5))
    return [x, w, b], params


def loss_pair(draw):
    shape = draw(st.sampled_from([(3,), (2, 3), (4, 1), (2, 2, 3)]))
    return arrays(draw, shape), arrays(draw, shape), draw(st.sampled_from(["mean", "sum", "none"]))


def squared_error(draw):
    y, t, reduction = loss_pair(draw)
    kind = draw(st.sampled_from(["sse", "half_sse", "mse"]))
    return [y, t], {"kind": kind, "reduction": reduction}


def nll(draw):
    log_probs, t, reduction = loss_pair(draw)  # any reals: the rule holds for all
    return [log_probs, t], {"reduction": reduction}


def softmax_bce(draw):
    # at least two units (one unit has p = 1 and ln(1 − p) = −∞); the loss is linear in t,
    # so the rule holds for any real targets, as for nll
    shape = draw(st.sampled_from([(2,), (3,), (2, 3), (4, 2), (2, 2, 3)]))
    z, t, reduction = arrays(draw, shape, st.floats(-30.0, 30.0)), arrays(draw, shape), \
        draw(st.sampled_from(["mean", "sum", "none"]))
    return [z, t], {"reduction": reduction}


CASES = {
    "add": binary, "sub": binary, "mul": binary, "div": division, "pow": power,
    "neg": unary, "exp": unary, "tanh": unary, "sigmoid": unary, "softplus": unary,
    "log": lambda draw: unary(draw, st.floats(0.2, 3.0)),
    "relu": kinked, "leaky_relu": leaky, "maximum": maximum,
    "softmax": with_axis, "log_softmax": with_axis, "matmul": matmul, "sum": summation,
    "reshape": reshape, "transpose": transpose, "getitem": getitem,
    "linear": linear, "dense": dense, "squared_error": squared_error, "nll": nll,
    "softmax_bce": softmax_bce,
}


def test_every_primitive_has_a_case():
    assert set(CASES) == set(cr.PRIMITIVES)


@pytest.mark.parametrize("name", sorted(CASES))
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


@pytest.mark.parametrize("name", sorted(CASES))
@given(data=st.data())
def test_float32_stays_float32(name, data):
    inputs, params = CASES[name](data.draw)
    tensors = [cr.Tensor(x, dtype="float32") for x in inputs]
    out = apply(cr.PRIMITIVES[name], *tensors, **params)
    out.backward(np.ones(out.shape, dtype=np.float32))
    assert out.dtype == np.float32
    assert [t.grad.dtype for t in tensors] == [np.float32] * len(tensors)


@given(x=hnp.arrays(np.float64, hnp.array_shapes(max_dims=2), elements=FLOATS))
def test_stable_forwards_match_textbook_formulas(x):
    np.testing.assert_allclose(cr.Tensor(x).sigmoid().data, 1 / (1 + np.exp(-x)), rtol=1e-15)
    e = np.exp(x)
    np.testing.assert_allclose(cr.Tensor(x).softmax().data, e / e.sum(-1, keepdims=True),
                               rtol=1e-14)
    np.testing.assert_allclose(cr.Tensor(x).log_softmax().data,
                               np.log(e / e.sum(-1, keepdims=True)), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(cr.Tensor(x).softplus().data, np.log1p(np.exp(x)), rtol=1e-15)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow", "maximum", "matmul"])
@given(data=st.data())
def test_a_tensor_used_as_both_operands(name, data):
    """x op x: both vjps land on one tensor and must add up."""
    prim = cr.PRIMITIVES[name]
    side = data.draw(st.integers(1, 4))
    shape = (side, side) if name == "matmul" else data.draw(SHAPES)
    x = arrays(data.draw, shape, st.floats(0.5, 2.0))
    x_tensor = cr.Tensor(x)
    out = apply(prim, x_tensor, x_tensor)
    upstream = np.random.default_rng(0).normal(size=out.shape)
    out.backward(upstream)
    numeric = numeric_grad(lambda v: float(np.sum(upstream * prim.forward(v, v))), x)
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


@pytest.mark.parametrize("name", sorted(CASES))
@given(data=st.data())
def test_the_all_inputs_rule_gives_the_per_input_rules_bits(name, data):
    """``prim.vjp_all`` (what the engine calls) against each input's own rule, for every subset
    of wanted inputs: the same arrays to the last bit, and None where not wanted."""
    prim = cr.PRIMITIVES[name]
    inputs, params = CASES[name](data.draw)
    out = prim.forward(*inputs, **params)
    g = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).normal(size=np.shape(out))
    wanted = data.draw(st.lists(st.booleans(), min_size=prim.arity, max_size=prim.arity))
    grads = prim.vjp_all(g, out, wanted, *inputs, **params)
    assert len(grads) == prim.arity
    for i, (want, grad) in enumerate(zip(wanted, grads)):
        if not want:
            assert grad is None
            continue
        expected = np.asarray(prim.vjps[i](g, out, *inputs, **params))
        assert np.asarray(grad).tobytes() == expected.tobytes(), f"{name} input {i}"
