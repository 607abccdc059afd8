"""The performance work of issue 6: fused primitives, the engine's gradient arrays, reused
buffers and the blocked SGD update — each must give the very bits the plain code gives.

The fused primitives (chainrule.autodiff.fused) are checked against the composed expressions they
replace, forward values and gradients alike, bit for bit; that is what keeps the golden
files and every trace unchanged. Timings live in bench/, never here.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from chainrule.autodiff import buffers
from chainrule.autodiff.engine import BackwardStep, backward
from chainrule.optim.optimizers import _subtract_scaled
from chainrule.autodiff.tensor import apply

DTYPES = st.sampled_from(["float64", "float32"])
REDUCTIONS = st.sampled_from(["mean", "sum", "none"])


def same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def values(draw, shape, dtype):
    floats = st.floats(-3, 3, allow_nan=False, width=32)
    return draw(hnp.arrays(np.float64, shape, elements=floats)).astype(dtype)


def run(make, arrays, seed: int = 0):
    """Forward value and every input's gradient for a random upstream gradient."""
    tensors = [cr.Tensor(a) for a in arrays]
    out = make(*tensors)
    upstream = np.random.default_rng(seed).normal(size=out.shape).astype(out.dtype)
    out.backward(upstream)
    return out.data, [t.grad for t in tensors]


def assert_same(fused, composed):
    (out_f, grads_f), (out_c, grads_c) = fused, composed
    assert same_bits(out_f, out_c)
    for g_f, g_c in zip(grads_f, grads_c):
        assert same_bits(g_f, g_c)


def composed_reduce(per_example, reduction):
    return {"mean": per_example.mean, "sum": per_example.sum}.get(reduction, lambda: per_example)()


@given(data=st.data(), dtype=DTYPES)
def test_linear_is_matmul_then_add_bit_for_bit(data, dtype):
    n, k, m = (data.draw(st.integers(1, 5)) for _ in range(3))
    x = values(data.draw, data.draw(st.sampled_from([(n,), (k, n)])), dtype)
    bias = values(data.draw, data.draw(st.sampled_from([(m,), (1,)])), dtype)
    arrays = [x, values(data.draw, (n, m), dtype), bias]
    assert_same(run(lambda a, w, b: apply(cr.PRIMITIVES["linear"], a, w, b), arrays),
                run(lambda a, w, b: a @ w + b, arrays))


@given(data=st.data(), dtype=DTYPES, reduction=REDUCTIONS,
       kind=st.sampled_from(["sse", "half_sse", "mse"]))
def test_squared_errors_match_their_composed_formulas(data, dtype, reduction, kind):
    shape = data.draw(st.sampled_from([(3,), (4, 2), (1, 1), (2, 3, 2)]))
    arrays = [values(data.draw, shape, dtype), values(data.draw, shape, dtype)]

    def composed(y, t):
        squares = ((y - t) ** 2)
        per_example = {"sse": lambda: squares.sum(axis=-1),
                       "half_sse": lambda: 0.5 * squares.sum(axis=-1),
                       "mse": lambda: squares.mean(axis=-1)}[kind]()
        return composed_reduce(per_example, reduction)

    fused = run(lambda y, t: apply(cr.PRIMITIVES["squared_error"], y, t, kind=kind,
                                   reduction=reduction), arrays)
    assert_same(fused, run(composed, arrays))


@given(data=st.data(), dtype=DTYPES, reduction=REDUCTIONS)
def test_cross_entropy_matches_its_composed_formula(data, dtype, reduction):
    shape = data.draw(st.sampled_from([(3,), (4, 3), (2, 1), (5, 10)]))
    z = values(data.draw, shape, dtype)
    t = np.eye(shape[-1], dtype=dtype)[np.random.default_rng(0).integers(0, shape[-1],
                                                                          shape[:-1])]
    fused = run(lambda logits: cr.nn.cross_entropy(logits, t, reduction), [z])
    composed = run(lambda logits: composed_reduce(
        -(cr.Tensor(t, requires_grad=False) * logits.log_softmax()).sum(axis=-1), reduction),
        [z])
    assert_same(fused, composed)


def train(dtype: str, steps: int = 3, sizes=(6, 300, 4), loss: str = "cross_entropy"):
    """A few SGD steps as a user writes them; big enough that the buffer pool is used."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(64, sizes[0])).astype(dtype)
    t = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], 64)]
    activations = ["relu", "softmax" if loss == "cross_entropy" else "sigmoid"]
    model = cr.nn.MLP(sizes, activations, seed=3, dtype=dtype)
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        optimizer.zero_grad()
        steps_ = model.forward_steps(x)
        last = steps_[-1]
        value = cr.nn.output_loss(loss, last.z, last.a, activations[-1], t)
        value.backward()
        optimizer.step()
    return model, steps_, value


@pytest.mark.parametrize("loss", ["cross_entropy", "sse"])
def test_float32_stays_float32_through_a_whole_step(loss):
    model, steps, value = train("float32", loss=loss)
    tensors = [value] + [t for s in steps for t in (s.z, s.a)] + model.parameters()
    assert {t.data.dtype for t in tensors} == {np.dtype(np.float32)}
    assert {p.grad.dtype for p in model.parameters()} == {np.dtype(np.float32)}


def test_same_seed_same_bits_with_reused_buffers():
    first, _, loss_a = train("float64", steps=4)
    buffers.clear()
    second, _, loss_b = train("float64", steps=4)
    assert same_bits(loss_a.data, loss_b.data)
    for (name, p), (_, q) in zip(first.named_parameters(), second.named_parameters()):
        assert same_bits(p.data, q.data), name
        assert same_bits(p.grad, q.grad), name


def test_a_gradient_shared_by_two_leaves_is_copied_for_each():
    x, y = cr.Tensor([1.0, 2.0]), cr.Tensor([3.0, 4.0])
    (x + y).backward(np.array([1.0, 1.0]))
    assert x.grad is not y.grad and not np.shares_memory(x.grad, y.grad)
    x.grad *= 5
    np.testing.assert_array_equal(y.grad, [1.0, 1.0])


def test_the_callers_upstream_array_is_never_adopted():
    x = cr.Tensor([1.0, 2.0])
    upstream = np.array([0.5, 0.25])
    (x + 0.0).backward(upstream)  # add's rule hands the upstream itself on to x
    leaf = cr.Tensor([3.0])
    leaf.backward(upstream[:1])  # a leaf as the root
    x.grad[:] = 0
    leaf.grad[:] = 0
    np.testing.assert_array_equal(upstream, [0.5, 0.25])


def test_arrays_an_observer_has_seen_are_copied_into_grad():
    w = cr.Tensor(np.ones((3, 2)))
    seen: list[BackwardStep] = []
    backward((cr.Tensor(np.ones((4, 3)), requires_grad=False) @ w).sum(), observer=seen.append)
    matmul_step = next(step for step in seen if step.node.prim.name == "matmul")
    assert not np.shares_memory(w.grad, matmul_step.input_grads[1])


def test_an_adopted_gradient_is_the_rules_own_new_array():
    x = cr.Tensor(np.ones((4, 3)), requires_grad=False)
    w = cr.Tensor(np.full((3, 2), 0.5))
    (x @ w).sum().backward()
    assert w.grad.flags.owndata and w.grad.flags.writeable
    np.testing.assert_array_equal(w.grad, np.full((3, 2), 4.0))


def test_the_buffer_pool_reuses_only_arrays_nobody_holds():
    buffers.clear()
    shape, dtype = (256, 64), np.dtype(np.float64)  # 16384 elements: pooled
    first = buffers.empty(shape, dtype)
    second = buffers.empty(shape, dtype)
    assert second is not first  # first is still held here
    kept_view = first[:2]
    del first
    third = buffers.empty(shape, dtype)
    assert third is not kept_view.base  # a view still holds it
    address = third.__array_interface__["data"][0]
    del third
    assert buffers.empty(shape, dtype).__array_interface__["data"][0] == address
    assert buffers.held_bytes() == 3 * 256 * 64 * 8
    small = buffers.empty((4, 4), dtype)  # small arrays are left to malloc
    assert small.shape == (4, 4) and buffers.held_bytes() == 3 * 256 * 64 * 8
    assert buffers.output((4, 4), dtype) is None  # ... and a rule's out= lets NumPy allocate
    buffers.clear()
    assert buffers.held_bytes() == 0


def test_graph_values_are_never_overwritten_while_the_graph_lives():
    model, steps, value = train("float64", steps=1)
    kept = [(s.z.data.copy(), s.a.data.copy()) for s in steps]
    value.backward()  # a second backward: the first step's arrays are all still held
    train("float64", steps=2)  # more steps that want buffers of the same shapes
    for (z, a), s in zip(kept, steps):
        assert same_bits(z, s.z.data) and same_bits(a, s.a.data)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_blocked_sgd_update_rounds_as_the_plain_formula(dtype):
    rng = np.random.default_rng(1)
    param = rng.normal(size=(300, 250)).astype(dtype)  # bigger than one block
    grad = rng.normal(size=param.shape).astype(dtype)
    expected = param.copy()
    expected -= 0.037 * grad
    _subtract_scaled(param, 0.037, grad)
    assert same_bits(param, expected)


def test_a_layers_input_array_is_shared_not_copied_nor_written():
    x = np.random.default_rng(2).normal(size=(5, 3))
    model = cr.nn.MLP([3, 4, 2], "tanh", seed=0)
    steps = model.forward_steps(x)
    a0 = steps[0].z._node.inputs[0]
    assert np.shares_memory(a0.data, x) and not a0.data.flags.writeable
    assert x.flags.writeable and a0.name == "a0"


def _one_step(model, x, t, loss, fused):
    model.zero_grad()
    steps = model.forward_steps(x, fused=fused)
    value = cr.nn.output_loss(loss, steps[-1].z, steps[-1].a, model.activations[-1], t)
    value.backward()
    return steps, value, {name: p.grad for name, p in model.named_parameters()}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("bias_mode", ["per_unit", "shared_per_layer", "none"])
@pytest.mark.parametrize("activations,loss", [
    (["sigmoid", "sigmoid", "sigmoid"], "sse"),
    (["tanh", "relu", "softmax"], "cross_entropy"),
    (["leaky_relu", "tanh", "identity"], "mse"),
    (["relu", "leaky_relu", "sigmoid"], "bce"),
])
@pytest.mark.parametrize("batch", [None, 1, 7])
def test_a_fused_forward_gives_the_unfused_values_and_gradients_bit_for_bit(
        dtype, bias_mode, activations, loss, batch):
    rng = np.random.default_rng(11)
    model = cr.nn.MLP([3, 5, 4, 2], activations, seed=2, bias_mode=bias_mode, dtype=dtype)
    x = rng.normal(size=(3,) if batch is None else (batch, 3)).astype(dtype)
    t = rng.uniform(0.1, 0.9, size=(2,) if batch is None else (batch, 2)).astype(dtype)
    if loss == "cross_entropy":
        t = np.eye(2, dtype=dtype)[rng.integers(0, 2, size=() if batch is None else batch)]
    plain_steps, plain_loss, plain_grads = _one_step(model, x, t, loss, fused=False)
    steps, value, grads = _one_step(model, x, t, loss, fused=True)

    assert same_bits(value.data, plain_loss.data)
    for fused_values, plain_values in zip(steps, plain_steps):
        assert same_bits(fused_values.z.data, plain_values.z.data)
        assert same_bits(fused_values.a.data, plain_values.a.data)
    for name, grad in grads.items():
        assert same_bits(grad, plain_grads[name]), name
    expected = ["dense" if bias_mode != "none" and f in ("sigmoid", "tanh", "relu", "leaky_relu")
                else None for f in activations]
    assert [s.a.op if s.a.op == "dense" else None for s in steps] == expected


def test_a_fused_layer_leaves_z_grad_unset_but_z_stays_differentiable():
    model = cr.nn.MLP([2, 3, 1], "sigmoid", seed=0)
    steps = model.forward_steps(np.array([0.5, -1.0]), fused=True)
    steps[0].z.retain_grad()
    steps[-1].a.sum().backward()
    assert steps[0].z.grad is None  # backward went through the dense nodes, not through z
    model.zero_grad()
    z = model.forward_steps(np.array([0.5, -1.0]), fused=True)[0].z
    (z * z).sum().backward()  # z itself is a linear node of x, W1 and b1
    w = model.layers[0].weight.data
    expected = np.outer([0.5, -1.0], 2 * (np.array([0.5, -1.0]) @ w + model.layers[0].bias.data))
    np.testing.assert_allclose(model.layers[0].weight.grad, expected, rtol=1e-15)


def test_the_dense_primitive_refuses_an_activation_it_cannot_read_off_its_output():
    x, w, b = np.ones((1, 2)), np.ones((2, 2)), np.zeros(2)
    with pytest.raises(ValueError, match="dense: activation must be one of"):
        cr.PRIMITIVES["dense"].forward(x, w, b, activation="softmax")
    with pytest.raises(ValueError, match="with a slope ≥ 0"):
        cr.PRIMITIVES["dense"].forward(x, w, b, activation="leaky_relu", slope=-0.5)


@pytest.mark.parametrize("kind", ["sse", "half_sse", "mse"])
def test_squared_error_of_a_0d_output_matches_torch_and_differences(kind):
    """A 0-d output is one unit of one example (it used to index shape[-1] of ()):
    value and gradient as PyTorch's, and as central differences, with a random cotangent."""
    torch = pytest.importorskip("torch")
    from chainrule.nn.losses import get_loss

    rng = np.random.default_rng(11)
    y0, t0, w = rng.normal(), rng.normal(), rng.normal()
    y = cr.Tensor(y0, "y")
    (get_loss(kind)(y, t0) * w).backward()
    scale = {"sse": 1.0, "half_sse": 0.5, "mse": 1.0}[kind]
    yt = torch.tensor(y0, dtype=torch.float64, requires_grad=True)
    (scale * (yt - t0) ** 2 * w).backward()
    assert float(y.grad) == pytest.approx(float(yt.grad), rel=1e-12)
    f = lambda v: float(get_loss(kind)(cr.Tensor(v), t0).data) * w  # noqa: E731
    numeric = (f(y0 + 1e-6) - f(y0 - 1e-6)) / 2e-6
    assert float(y.grad) == pytest.approx(numeric, rel=1e-6)
