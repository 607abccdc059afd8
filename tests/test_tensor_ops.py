"""The Tensor surface of the newer primitives, called as a PyTorch user calls it.

Each call is made on a chainrule tensor and on a PyTorch twin, with PyTorch's argument names
(and NumPy's where chainrule accepts both), and the values and the gradients of
``(out * W).sum()`` must agree. Bad arguments get one ChainruleError line.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule as cr  # noqa: E402

RNG = np.random.default_rng(42)
X = RNG.normal(size=(2, 3, 4))
Y = RNG.normal(size=(2, 3, 4))
INDEX = np.array([[[0, 2], [1, 1], [2, 0]], [[1, 0], [0, 0], [2, 2]]])  # along dim 1

# (chainrule call, PyTorch call), each a function of (x, y) tensors of shape (2, 3, 4)
CALLS = {
    "sum dim keepdim": (lambda x, y: x.sum(dim=1, keepdim=True),
                        lambda x, y: x.sum(dim=1, keepdim=True)),
    "sum axis keepdims": (lambda x, y: x.sum(axis=(0, 2), keepdims=True),
                          lambda x, y: x.sum(dim=(0, 2), keepdim=True)),
    "mean dim": (lambda x, y: x.mean(-1), lambda x, y: x.mean(-1)),
    "var": (lambda x, y: x.var(), lambda x, y: x.var()),
    "var dim correction": (lambda x, y: x.var(1, correction=0, keepdim=True),
                           lambda x, y: x.var(1, correction=0, keepdim=True)),
    "std ddof": (lambda x, y: x.std(axis=2, ddof=0), lambda x, y: x.std(2, correction=0)),
    "logsumexp": (lambda x, y: x.logsumexp(1), lambda x, y: x.logsumexp(1)),
    "cumsum": (lambda x, y: x.cumsum(dim=-1), lambda x, y: x.cumsum(dim=-1)),
    "max()": (lambda x, y: x.max(), lambda x, y: x.max()),
    "min(axis=)": (lambda x, y: x.min(axis=1), lambda x, y: x.amin(1)),
    "max(dim).values": (lambda x, y: x.max(2).values, lambda x, y: x.max(2).values),
    "min(dim, keepdim)[0]": (lambda x, y: x.min(0, True)[0], lambda x, y: x.min(0, True)[0]),
    "amax": (lambda x, y: x.amax((0, 1)), lambda x, y: x.amax((0, 1))),
    "max(other)": (lambda x, y: x.max(y), lambda x, y: x.max(y)),
    "maximum": (lambda x, y: cr.maximum(x, y), lambda x, y: torch.maximum(x, y)),
    "minimum method": (lambda x, y: x.minimum(y), lambda x, y: x.minimum(y)),
    "clamp": (lambda x, y: x.clamp(-0.5, 0.5), lambda x, y: x.clamp(-0.5, 0.5)),
    "clip min only": (lambda x, y: cr.clip(x, min=0.1), lambda x, y: x.clip(min=0.1)),
    "sqrt abs": (lambda x, y: x.abs().sqrt(), lambda x, y: x.abs().sqrt()),
    "where": (lambda x, y: cr.where(x > y, x, y * 2), lambda x, y: torch.where(x > y, x, y * 2)),
    "where scalar": (lambda x, y: cr.where(x <= 0, 0.0, x), lambda x, y: torch.where(
        x <= 0, 0.0, x)),
    "mask multiply": (lambda x, y: (x >= 0) * y, lambda x, y: (x >= 0) * y),
    "boolean index": (lambda x, y: x[x > 0.5], lambda x, y: x[x > 0.5]),
    "flip": (lambda x, y: x.flip(0, 2), lambda x, y: x.flip(0, 2)),
    "repeat": (lambda x, y: x.repeat(2, 1, 1, 3), lambda x, y: x.repeat(2, 1, 1, 3)),
    "gather": (lambda x, y: x.gather(1, cr.Tensor(INDEX).argmax(-1, keepdim=True)),
               lambda x, y: x.gather(1, torch.tensor(INDEX).argmax(-1, keepdim=True))),
    "gather index": (lambda x, y: x[..., :2].gather(1, INDEX),
                     lambda x, y: x[..., :2].gather(1, torch.tensor(INDEX))),
    "gather float index": (lambda x, y: x[..., :2].gather(-2, cr.Tensor(INDEX)),
                           lambda x, y: x[..., :2].gather(-2, torch.tensor(INDEX))),
    "squeeze unsqueeze": (lambda x, y: x[:1].squeeze(0).unsqueeze(-1).squeeze(),
                          lambda x, y: x[:1].squeeze(0).unsqueeze(-1).squeeze()),
    "flatten": (lambda x, y: x.flatten(1), lambda x, y: x.flatten(1)),
    "flatten middle": (lambda x, y: x.flatten(0, 1), lambda x, y: x.flatten(0, 1)),
    "expand": (lambda x, y: x[:, :1].expand(5, -1, 3, 4),
               lambda x, y: x[:, :1].expand(5, -1, 3, 4)),
    "cat": (lambda x, y: cr.cat([x, y, x], dim=1), lambda x, y: torch.cat([x, y, x], dim=1)),
    "cat numbers": (lambda x, y: cr.cat([x[0], np.ones((1, 4))]),
                    lambda x, y: torch.cat([x[0], torch.ones(1, 4, dtype=x.dtype)])),
    "stack": (lambda x, y: cr.stack((x, y), dim=-1), lambda x, y: torch.stack((x, y), -1)),
    "pad": (lambda x, y: cr.pad(x, (1, 2, 0, 1), value=0.5),
            lambda x, y: torch.nn.functional.pad(x, (1, 2, 0, 1), value=0.5)),
    "softmax dim": (lambda x, y: x.softmax(dim=1), lambda x, y: x.softmax(dim=1)),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_call_matches_torch(name):
    ours, theirs = CALLS[name]
    x, y = cr.Tensor(X), cr.Tensor(Y)
    tx, ty = (torch.tensor(v, requires_grad=True) for v in (X, Y))
    out, expected = ours(x, y), theirs(tx, ty)
    assert out.shape == tuple(expected.shape)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-14)
    w = np.random.default_rng(0).normal(size=out.shape)
    (out * w).sum().backward()
    (expected * torch.tensor(w)).sum().backward()
    for mine, twin in ((x, tx), (y, ty)):
        reference = np.zeros(X.shape) if twin.grad is None else twin.grad.numpy()
        got = np.zeros(X.shape) if mine.grad is None else mine.grad
        np.testing.assert_allclose(got, reference, rtol=1e-10, atol=1e-12)


def test_comparisons_give_boolean_constants():
    x = cr.Tensor([1.0, 2.0, 3.0])
    for result, expected in ((x < 2, [True, False, False]), (x <= 2, [True, True, False]),
                             (x > 2, [False, False, True]), (x >= 2, [False, True, True]),
                             (x == 2, [False, True, False]), (x != 2, [True, False, True]),
                             (2 < x, [False, False, True]), (x.eq(x), [True] * 3)):
        assert result.dtype == np.bool_ and not result.requires_grad and result.is_leaf
        np.testing.assert_array_equal(result.data, expected)
    assert ((x > 1) + 0.5).data.tolist() == [0.5, 1.5, 1.5]  # not True + True
    assert (x > 1).sum().item() == 2 and (x > 1).mean().item() == pytest.approx(2 / 3)
    assert x.argmax().dtype == np.int64 and x.argmax().item() == 2
    assert (x == None) is False and (x != "a") is True  # noqa: E711


def test_tensors_stay_hashable_and_truthy_only_when_single():
    x, y = cr.Tensor([1.0, 2.0]), cr.Tensor([1.0, 2.0])
    assert len({x, y}) == 2 and {x: 1}[x] == 1 and x in [x]
    with pytest.raises(cr.ShapeError, match="no single truth value"):
        y in [x, y]  # as in PyTorch: x == y is elementwise, and not one truth value
    assert bool(cr.Tensor(3.0) > 2) and not bool(cr.Tensor([0.0]))
    with pytest.raises(cr.ShapeError, match=r"bool\(\): a tensor of shape \(2,\)"):
        bool(x == y)


def test_a_comparison_does_not_record_a_node():
    x = cr.Tensor([1.0, -1.0])
    mask = x > 0
    assert mask.op is None
    with pytest.raises(cr.GradError, match="does not depend"):
        mask.sum().backward()


@pytest.mark.parametrize("call, message", [
    (lambda x: x.var(dim=(0, 1, 2), correction=24), r"var: 24 element\(s\) per reduction "
                                                    r"with correction 24 leave no degrees"),
    (lambda x: cr.Tensor([5.0]).std(), r"std: 1 element\(s\) per reduction"),
    (lambda x: x.gather(1, np.array([[[3]]])), r"gather: index values must be in 0 to 2"),
    (lambda x: x.gather(1, np.array([0])), r"gather: index has 1 dimension\(s\), the input 3"),
    (lambda x: x.gather(0, np.zeros((1, 4, 1), int)), r"gather: index shape \(1, 4, 1\) is "
                                                      r"longer than the input"),
    (lambda x: x.gather(0, np.full((1, 1, 1), np.nan)), r"gather: index must hold integers"),
    (lambda x: cr.cat([x, x[:, :2, :2]], dim=1), r"cat: input 1 has shape \(2, 2, 2\), input 0 "
                                                 r"\(2, 3, 4\); shapes must match except"),
    (lambda x: cr.cat([]), r"cat: expected at least one tensor"),
    (lambda x: cr.cat(x), r"cat: expected a list or tuple"),
    (lambda x: cr.cat([cr.Tensor(1.0)]), r"cat: a 0-d tensor cannot be concatenated"),
    (lambda x: cr.stack([x, x[0]]), r"stack: input 1 has shape \(3, 4\)"),
    (lambda x: x.expand(3, 3, 4), r"expand: axis 0 has size 2"),
    (lambda x: x.expand(2, 4, 4), r"expand: axis 1 has size 3"),
    (lambda x: x.expand(-1, 2, 3, 4), r"expand: -1 \(keep the size\) cannot be a new axis"),
    (lambda x: x.repeat(2, 2), r"repeat: 2 size\(s\) for a tensor of 3"),
    (lambda x: cr.pad(x, (1,)), r"pad: expected \(before, after\) pairs"),
    (lambda x: cr.pad(x, (-1, 0)), r"pad .*slice instead.*integers ≥ 0"),
    (lambda x: x.clamp(), r"clamp: give at least one of min and max"),
    (lambda x: x.max(3), r"max: dim 3 is out of range"),
    (lambda x: x.argmax((0, 1)), r"argmax: dim must be one axis or None"),
    (lambda x: x.sum(dim=1, axis=2), r"sum: got dim=1 and axis=2; give one"),
    (lambda x: x.cumsum(), r"cumsum: give the axis"),
    (lambda x: x.flatten(2, 0), r"flatten: start_dim 2 comes after end_dim 0"),
    (lambda x: cr.where(x, x, x), r"where: the condition must be boolean"),
    (lambda x: cr.Tensor(np.ones((0, 2))).max(0), r"max: cannot reduce over an empty axis"),
    (lambda x: x.sum((1, 1)), r"sum: dim \(1, 1\) names an axis twice"),
    (lambda x: x.clamp(min=np.zeros(2)), r"clamp: min must be a number, got shape \(2,\)"),
    (lambda x: x + x[0, :2], r"add: operands could not be broadcast together .*\(input "
                             r"shapes \(2, 3, 4\), \(2, 4\)\)"),
    (lambda x: x @ x, r"matmul: .*mismatch.*\(input shapes \(2, 3, 4\), \(2, 3, 4\)\)"),
    (lambda x: x[0] == x[:, 0], r"eq: operands could not be broadcast"),
    (lambda x: x.gather(1, cr.Tensor([[[0.5]]])), r"gather: index must hold integers"),
])
def test_bad_arguments_are_one_line(call, message):
    with pytest.raises(cr.ChainruleError, match=message) as caught:
        call(cr.Tensor(X))
    assert "\n" not in str(caught.value)


def test_a_cat_node_hands_the_observer_one_gradient_per_input():
    from chainrule.autodiff.engine import backward

    parts = [cr.Tensor(np.ones((1, 2)) * k) for k in range(4)]
    out = cr.cat(parts, axis=0)
    seen = []
    backward((out * np.arange(8.0).reshape(4, 2)).sum(), observer=seen.append)
    cat_step = next(step for step in seen if step.node.prim.name == "cat")
    assert len(cat_step.input_grads) == 4
    for k, (part, grad) in enumerate(zip(parts, cat_step.input_grads)):
        np.testing.assert_array_equal(grad, [[2.0 * k, 2.0 * k + 1]])
        np.testing.assert_array_equal(part.grad, grad)


def test_a_nan_is_the_maximum_and_takes_the_gradient_as_in_torch():
    values = np.array([np.nan, 1.0, 3.0])
    x, twin = cr.Tensor(values), torch.tensor(values, requires_grad=True)
    out, expected = x.max(), twin.max()
    assert np.isnan(out.item()) and np.isnan(expected.item())
    out.backward()
    expected.backward()
    np.testing.assert_array_equal(x.grad, twin.grad.numpy())  # [1, 0, 0], no warning
