"""Every primitive of the table against PyTorch autograd: forward values, and the gradients of
``(out * W).sum()`` for a fixed random W, on the random inputs of tests/op_cases.py (float64).

The ties and kinks the random inputs avoid are checked one by one below, against PyTorch's
own subgradients: max/min (full, amax over an axis, and max(dim) with its indices),
maximum/minimum, clamp at its bounds, abs and relu at 0, x ** y at x = 0.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
F = torch.nn.functional

import chainrule as cr  # noqa: E402
from chainrule.autodiff.tensor import apply  # noqa: E402
from tests.op_cases import CASES, NON_DIFFERENTIABLE  # noqa: E402

FORWARD = dict(rtol=1e-12, atol=1e-13)
GRADIENT = dict(rtol=1e-10, atol=1e-12)


def _dims(x, axis):
    """PyTorch's dim for chainrule's axis: every axis for None (and for a 0-d tensor, 0)."""
    if axis is None:
        axis = tuple(range(x.ndim))
    return axis if axis != () else 0


def _squared_error(y, t, kind, reduction):
    squares = (y - t) ** 2
    per_example = {"sse": squares.sum(-1), "half_sse": 0.5 * squares.sum(-1),
                   "mse": squares.mean(-1)}[kind]
    return _reduced(per_example, reduction)


def _reduced(per_example, reduction):
    return {"mean": per_example.mean, "sum": per_example.sum,
            "none": lambda: per_example}[reduction]()


DENSE = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
         "leaky_relu": lambda z, slope=0.01: F.leaky_relu(z, slope)}


def _torch_index(index):
    if isinstance(index, np.ndarray):
        return torch.tensor(index)
    return index


# Each primitive written with PyTorch's own functions: (torch inputs, params) -> output.
TORCH = {
    "add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y, "pow": torch.pow, "neg": torch.neg, "exp": torch.exp,
    "log": torch.log, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "softplus": F.softplus,
    "sqrt": torch.sqrt, "abs": torch.abs, "relu": torch.relu,
    "leaky_relu": lambda x, slope: F.leaky_relu(x, slope),
    "clamp": lambda x, min, max: torch.clamp(x, min, max),
    "maximum": torch.maximum, "minimum": torch.minimum,
    "where": lambda x, y, condition: torch.where(torch.tensor(condition), x, y),
    "lt": torch.lt, "le": torch.le, "gt": torch.gt, "ge": torch.ge, "eq": torch.eq,
    "ne": torch.ne,
    "softmax": lambda x, axis: torch.softmax(x, axis),
    "log_softmax": lambda x, axis: torch.log_softmax(x, axis),
    "matmul": torch.matmul,
    "sum": lambda x, axis, keepdims: torch.sum(x, _dims(x, axis), keepdim=keepdims),
    "max": lambda x, axis, keepdims: torch.amax(x, _dims(x, axis), keepdim=keepdims),
    "min": lambda x, axis, keepdims: torch.amin(x, _dims(x, axis), keepdim=keepdims),
    "argmax": lambda x, axis, keepdims: torch.argmax(x, axis, keepdim=keepdims),
    "argmin": lambda x, axis, keepdims: torch.argmin(x, axis, keepdim=keepdims),
    "var": lambda x, axis, correction, keepdims: torch.var(
        x, axis, correction=correction, keepdim=keepdims),
    "std": lambda x, axis, correction, keepdims: torch.std(
        x, axis, correction=correction, keepdim=keepdims),
    "logsumexp": lambda x, axis, keepdims: torch.logsumexp(x, _dims(x, axis), keepdim=keepdims),
    "cumsum": lambda x, axis: torch.cumsum(x, axis),
    "reshape": lambda x, shape: x.reshape(shape),
    "transpose": lambda x, axes: x.permute(axes if axes is not None
                                           else tuple(reversed(range(x.ndim)))),
    "getitem": lambda x, index: x[tuple(map(_torch_index, index)) if isinstance(index, tuple)
                                  else _torch_index(index)],
    "pad": lambda x, pad, value: F.pad(x, pad, value=value),
    "flip": lambda x, axis: torch.flip(x, axis),
    "repeat": lambda x, sizes: x.repeat(sizes),
    "expand": lambda x, shape: x.expand(shape),
    "gather": lambda x, index, axis: torch.gather(x, axis, torch.tensor(index)),
    "cat": lambda *xs, axis: torch.cat(xs, axis),
    "stack": lambda *xs, axis: torch.stack(xs, axis),
    "linear": lambda x, w, b: x @ w + b,
    "dense": lambda x, w, b, activation, **slope: DENSE[activation](x @ w + b, **slope),
    "squared_error": _squared_error,
    "nll": lambda log_probs, t, reduction: _reduced(-(t * log_probs).sum(-1), reduction),
    "softmax_bce": lambda z, t, reduction: _reduced(_softmax_bce(z, t), reduction),
    "conv": lambda x, w, **params: (F.conv1d if x.ndim == 3 else F.conv2d)(x, w, **params),
    "max_pool": lambda x, kernel_size, stride, padding: (
        F.max_pool1d if x.ndim == 3 else F.max_pool2d)(x, kernel_size, stride, padding),
    "avg_pool": lambda x, kernel_size, stride, padding: (
        F.avg_pool1d if x.ndim == 3 else F.avg_pool2d)(x, kernel_size, stride, padding),
    "batch_norm": lambda x, weight, bias, eps: F.batch_norm(x, None, None, weight, bias,
                                                           training=True, eps=eps),
    "dropout": lambda x, mask, p: x * mask / (1 - p) if p < 1 else x * mask * 0.0,
    "embedding": lambda w, index, padding_idx: F.embedding(torch.tensor(index), w,
                                                           padding_idx=padding_idx),
    "layer_norm": lambda x, weight, bias, ndim, eps: F.layer_norm(
        x, tuple(x.shape[x.ndim - ndim:]), weight, bias, eps),
}


def _softmax_bce(z, t):
    """bce of p = softmax(z), composed in torch: ln pₖ = log_softmax, and ln(1 − pₖ) as the
    logsumexp of the other logits minus that of all (ln1p(−p) loses digits as p → 1)."""
    others = z.unsqueeze(-2) + torch.diag(torch.full((z.shape[-1],), -torch.inf,
                                                     dtype=z.dtype))
    log_q = torch.logsumexp(others, -1) - torch.logsumexp(z, -1, keepdim=True)
    return -(t * torch.log_softmax(z, -1) + (1 - t) * log_q).mean(-1)


def test_every_primitive_has_a_torch_twin():
    assert set(TORCH) == set(cr.PRIMITIVES)


@pytest.mark.parametrize("name", sorted(TORCH))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_primitive_matches_torch(name, data):
    inputs, params = CASES[name](data.draw)
    tensors = [cr.Tensor(x) for x in inputs]
    out = apply(cr.PRIMITIVES[name], *tensors, **params)
    twins = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in inputs]
    expected = TORCH[name](*twins, **params)
    assert out.shape == tuple(expected.shape), f"{name} {params}"
    if name in NON_DIFFERENTIABLE:  # bool or integer results, exactly
        np.testing.assert_array_equal(out.data, expected.numpy())
        assert out.dtype.kind == {torch.bool: "b", torch.int64: "i"}[expected.dtype]
        assert not out.requires_grad and not expected.requires_grad
        return
    np.testing.assert_allclose(out.data, expected.detach().numpy(), **FORWARD)
    weights = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).normal(
        size=out.shape)
    (out * weights).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    for i, (tensor, twin) in enumerate(zip(tensors, twins)):
        reference = np.zeros(inputs[i].shape) if twin.grad is None else twin.grad.numpy()
        np.testing.assert_allclose(tensor.grad, reference, **GRADIENT,
                                   err_msg=f"{name} input {i}, {params}")


# --- ties and kinks, exactly as PyTorch splits them --------------------------------------

TIES = np.array([[1.0, 3.0, 3.0, -2.0], [2.0, 2.0, 0.0, 2.0], [-1.0, -1.0, -1.0, -1.0]])
W = np.random.default_rng(7).normal(size=(3, 4))


def both(values, grad_of, torch_of):
    """chainrule's and PyTorch's gradients of ``(f(x) * w).sum()``, w fixed and random."""
    x, twin = cr.Tensor(values), torch.tensor(values, requires_grad=True)
    out, expected = grad_of(x), torch_of(twin)
    w = np.random.default_rng(3).normal(size=out.shape)
    (out * w).sum().backward()
    (expected * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-15)
    return x.grad, twin.grad.numpy()


@pytest.mark.parametrize("method", ["max", "min"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
def test_amax_and_full_max_spread_ties_evenly_as_torch(method, axis):
    amax = {"max": torch.amax, "min": torch.amin}[method]
    ours, theirs = both(TIES, lambda x: getattr(x, f"a{method}")(axis if axis is not None
                                                                 else ()),
                        lambda t: amax(t, axis if axis is not None else (0, 1)))
    np.testing.assert_array_equal(ours, theirs)  # 1/k of each w: exact in both
    if axis is None:  # Tensor.max() with no dim: PyTorch's full max, also spread evenly
        ours, theirs = both(TIES, lambda x: getattr(x, method)(),
                            lambda t: getattr(t, method)())
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("method", ["max", "min"])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_max_over_a_dim_routes_the_gradient_to_torchs_index(method, dim, keepdim):
    x, twin = cr.Tensor(TIES), torch.tensor(TIES, requires_grad=True)
    values, indices = getattr(x, method)(dim, keepdim)
    expected = getattr(twin, method)(dim, keepdim)
    np.testing.assert_array_equal(indices.data, expected.indices.numpy())
    assert indices.dtype == np.int64 and not indices.requires_grad
    w = np.random.default_rng(5).normal(size=values.shape)
    (values * w).sum().backward()
    (expected.values * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(values.data, expected.values.detach().numpy())
    np.testing.assert_array_equal(x.grad, twin.grad.numpy())


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_and_minimum_split_ties_as_torch(name):
    a = np.array([1.0, 2.0, 3.0, -0.5, 0.0])
    b = np.array([1.0, 1.0, 4.0, -0.5, 0.0])
    x, y = cr.Tensor(a), cr.Tensor(b)
    tx, ty = (torch.tensor(v, requires_grad=True) for v in (a, b))
    w = np.random.default_rng(1).normal(size=5)
    (getattr(cr, name)(x, y) * w).sum().backward()
    (getattr(torch, name)(tx, ty) * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())
    np.testing.assert_array_equal(y.grad, ty.grad.numpy())


@pytest.mark.parametrize("low, high", [(0.0, 1.0), (0.0, None), (None, 1.0), (1.0, 0.0)])
def test_clamp_at_its_bounds_matches_torch(low, high):
    values = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])  # both bounds hit exactly
    ours, theirs = both(values, lambda x: x.clamp(low, high),
                        lambda t: torch.clamp(t, low, high))
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("op", ["abs", "relu", "sqrt"])
def test_kinks_at_zero_match_torch(op):
    values = np.array([-1.5, 0.0, 2.0]) if op != "sqrt" else np.array([0.0, 4.0])
    ours, theirs = both(values, lambda x: getattr(x, op)(), lambda t: getattr(t, op)())
    np.testing.assert_array_equal(ours, theirs)  # abs'(0) = relu'(0) = 0, sqrt'(0) = ∞


@pytest.mark.parametrize("exponent", [0.0, 0.5, 1.0, 2.0, -1.0, 3.0])
@pytest.mark.parametrize("as_tensor", [False, True])
def test_power_at_zero_matches_torch(exponent, as_tensor):
    """0 ** y: ∂/∂x is 0 for y = 0 (not 0·∞ = NaN), ∞ for y = 0.5, 1 for y = 1, 0 for y = 2,
    −∞ for y = −1; ∂/∂y is 0 for y ≥ 0 and −∞ for y = −1 — PyTorch's numbers, no warning."""
    x, tx = cr.Tensor(0.0), torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    y = cr.Tensor(exponent) if as_tensor else exponent
    ty = torch.tensor(exponent, dtype=torch.float64, requires_grad=True)
    (x ** y).backward()
    (tx ** (ty if as_tensor else exponent)).backward()
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())
    if as_tensor:
        np.testing.assert_array_equal(y.grad, ty.grad.numpy())


def test_std_of_a_constant_has_torchs_zero_gradient():
    ours, theirs = both(np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]]),
                        lambda x: x.std(1), lambda t: t.std(1))
    np.testing.assert_array_equal(ours[0], [0.0, 0.0, 0.0])  # not 0·∞ = NaN
    np.testing.assert_allclose(ours, theirs, rtol=1e-14)
