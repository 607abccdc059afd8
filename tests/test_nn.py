"""Layers, losses, initialisation and SGD: the formulas as documented, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

RNG = np.random.default_rng(5)
Y = RNG.uniform(0.05, 0.95, size=(4, 3))
T = RNG.uniform(0, 1, size=(4, 3))


@pytest.mark.parametrize("name, per_example", [
    ("sse", lambda y, t: ((y - t) ** 2).sum(-1)),
    ("half_sse", lambda y, t: 0.5 * ((y - t) ** 2).sum(-1)),
    ("mse", lambda y, t: ((y - t) ** 2).mean(-1)),
    ("bce", lambda y, t: (-(t * np.log(y) + (1 - t) * np.log(1 - y))).mean(-1)),
])
def test_loss_formulas(name, per_example):
    loss = nn.LOSSES[name]
    np.testing.assert_allclose(loss(cr.Tensor(Y), T, reduction="none").data, per_example(Y, T),
                               rtol=1e-14)
    np.testing.assert_allclose(loss(cr.Tensor(Y), T).item(), per_example(Y, T).mean(),
                               rtol=1e-14)
    np.testing.assert_allclose(loss(cr.Tensor(Y[0]), T[0]).item(), per_example(Y[0], T[0]),
                               rtol=1e-14)


def test_cross_entropy_from_logits_with_one_hot_or_index_targets():
    z = RNG.normal(size=(4, 3))
    classes = np.array([2, 0, 1, 2])
    one_hot = np.eye(3)[classes]
    log_p = z - np.log(np.exp(z).sum(-1, keepdims=True))
    expected = -log_p[np.arange(4), classes].mean()
    assert nn.cross_entropy(cr.Tensor(z), classes).item() == pytest.approx(expected, rel=1e-14)
    assert nn.cross_entropy(cr.Tensor(z), one_hot).item() == pytest.approx(expected, rel=1e-14)
    assert nn.cross_entropy(cr.Tensor(z[1]), 0).item() == pytest.approx(-log_p[1, 0], rel=1e-14)
    with pytest.raises(cr.ShapeError, match=r"class indices must lie in 0..2"):
        nn.cross_entropy(cr.Tensor(z), np.array([0, 1, 2, 3]))


def test_losses_from_logits_equal_the_textbook_form():
    z = cr.Tensor(RNG.normal(size=(4, 3)))
    t = np.eye(3)[[0, 1, 2, 0]]
    textbook = -(t * np.log(z.softmax().data)).sum(-1).mean()
    assert nn.output_loss("cross_entropy", z, z.softmax(), "softmax", t).item() == pytest.approx(
        textbook, rel=1e-13)
    assert nn.output_loss("bce", z, z.sigmoid(), "sigmoid", T).item() == pytest.approx(
        nn.bce(z.sigmoid(), T).item(), rel=1e-13)


def test_saturated_outputs_keep_finite_losses():
    z = cr.Tensor([[800.0, -800.0]])
    assert np.isfinite(nn.output_loss("bce", z, z.sigmoid(), "sigmoid", [[0.0, 1.0]]).item())
    assert nn.output_loss("cross_entropy", z, z.softmax(), "softmax", [[0.0, 1.0]]).item() == (
        pytest.approx(1600.0))


def test_target_must_match_the_output_shape():
    with pytest.raises(cr.ShapeError, match=r"target: expected shape \(4, 1\).*got \(4,\)"):
        nn.sse(cr.Tensor(np.zeros((4, 1))), np.zeros(4))


def test_weight_shape_error_names_layer_and_units():
    with pytest.raises(cr.ShapeError) as error:
        nn.MLP([2, 2, 1], weights=[np.zeros((2, 2)), np.zeros((1, 2))])
    assert str(error.value) == "weights[1]: expected shape (2, 1) for layer 2 (2 → 1 units), got (1, 2)"


def test_input_shape_error():
    with pytest.raises(cr.ShapeError, match=r"input: expected 2 values per example.*got shape \(3,\)"):
        nn.MLP([2, 1])([1.0, 2.0, 3.0])


def test_seeded_initialisation_is_reproducible_and_scaled():
    first, second = nn.MLP([64, 32, 10], "tanh", seed=7), nn.MLP([64, 32, 10], "tanh", seed=7)
    for (name, p), (_, q) in zip(first.named_parameters(), second.named_parameters()):
        assert p.data.tobytes() == q.data.tobytes(), name
    assert not np.array_equal(first.parameter("W1").data, nn.MLP([64, 32, 10], seed=8)
                              .parameter("W1").data)
    limit = np.sqrt(6 / (64 + 32))  # Xavier uniform for tanh
    assert np.abs(first.parameter("W1").data).max() <= limit
    assert np.all(first.parameter("b1").data == 0)
    relu = nn.MLP([400, 300, 1], "relu", seed=1).parameter("W1").data
    assert relu.std() == pytest.approx(np.sqrt(2 / 400), rel=0.02)  # He normal for relu


def test_shared_bias_gradient_is_the_sum_over_units():
    model = nn.MLP([2, 3, 1], "tanh", bias_mode="shared_per_layer", seed=3)
    steps = model.forward_steps([0.4, -0.7])
    steps[0].z.retain_grad()
    nn.half_sse(steps[-1].a, [0.2]).backward()
    assert model.parameter("b1").shape == (1,)
    np.testing.assert_allclose(model.parameter("b1").grad, [steps[0].z.grad.sum()], rtol=1e-15)
    assert [name for name, _ in nn.MLP([2, 1], bias_mode="none").named_parameters()] == ["W1"]


def test_frozen_parameter_gets_a_gradient_but_no_update():
    model = nn.MLP([2, 2, 1], "sigmoid", seed=0)
    model.freeze("b1")
    before = model.parameter("b1").data.copy()
    nn.sse(model([0.5, 0.3]), [0.7]).backward()
    cr.optim.SGD(model.parameters(), lr=0.5).step()
    assert np.any(model.parameter("b1").grad != 0)
    np.testing.assert_array_equal(model.parameter("b1").data, before)


def test_sgd_momentum_by_hand():
    p = nn.Parameter([1.0])
    optimizer = cr.optim.SGD([p], lr=0.1, momentum=0.9)
    for grad in (2.0, 4.0):
        p.grad = np.array([grad])
        optimizer.step()
    # v1 = 2, p = 1 − 0.2 = 0.8; v2 = 0.9·2 + 4 = 5.8, p = 0.8 − 0.58 = 0.22
    assert p.data[0] == pytest.approx(0.22, abs=1e-15)


def test_unknown_names_suggest_the_closest():
    with pytest.raises(cr.SpecError, match=r"unknown activation 'sigmod' \(did you mean 'sigmoid'\?\)"):
        nn.MLP([2, 1], "sigmod")
