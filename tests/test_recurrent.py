"""RNN, LSTM and GRU: PyTorch's names, shapes, gate order and numbers (a random cotangent on the
output and on the final states), backpropagation through time worked by hand on a scalar
RNN, central differences, and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ShapeError
from chainrule.verify.gradcheck import gradcheck


def _torch_twin(torch, module, kind, **options):
    twin = getattr(torch.nn, kind)(module.input_size, module.hidden_size, **options).double()
    with torch.no_grad():
        for name, p in twin.named_parameters():
            p.copy_(torch.tensor(getattr(module, name).data))
    return twin


@pytest.mark.parametrize("kind, options", [
    ("RNN", {}), ("RNN", {"num_layers": 2, "batch_first": True}),
    ("RNN", {"nonlinearity": "relu", "bias": False}), ("LSTM", {}),
    ("LSTM", {"num_layers": 2, "batch_first": True}), ("LSTM", {"bias": False}),
    ("GRU", {}), ("GRU", {"num_layers": 2, "batch_first": True}), ("GRU", {"bias": False})])
def test_against_torch_with_random_cotangents_on_every_output(kind, options):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    module = getattr(cr.nn, kind)(3, 4, generator=1, **options)
    twin = _torch_twin(torch, module, kind, **options)
    layers = options.get("num_layers", 1)
    x = rng.normal(size=(2, 5, 3) if options.get("batch_first") else (5, 2, 3))
    h0 = rng.normal(size=(layers, 2, 4))
    c0 = rng.normal(size=(layers, 2, 4))
    tx, th0, tc0 = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    cx, ch0, cc0 = (cr.Tensor(a) for a in (x, h0, c0))
    if kind in ("RNN", "GRU"):
        out, h_n = module(cx, ch0)
        t_out, t_h = twin(tx, th0)
        mine, theirs = [out, h_n], [t_out, t_h]
    else:
        out, (h_n, c_n) = module(cx, (ch0, cc0))
        t_out, (t_h, t_c) = twin(tx, (th0, tc0))
        mine, theirs = [out, h_n, c_n], [t_out, t_h, t_c]
    weights = [rng.normal(size=m.shape) for m in mine]
    sum((m * cr.Tensor(w, requires_grad=False)).sum() for m, w in zip(mine, weights)).backward()
    sum((t * torch.tensor(w)).sum() for t, w in zip(theirs, weights)).backward()
    for m, t in zip(mine, theirs):
        np.testing.assert_allclose(m.data, t.detach().numpy(), rtol=1e-12, atol=1e-12)
    for name, p in twin.named_parameters():
        np.testing.assert_allclose(getattr(module, name).grad, p.grad.numpy(), rtol=1e-10,
                                   atol=1e-12, err_msg=name)
    np.testing.assert_allclose(cx.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ch0.grad, th0.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert [n for n, _ in module.named_parameters()] == [n for n, _ in twin.named_parameters()]


def test_backprop_through_time_by_hand_on_a_scalar_rnn():
    """h₁ = tanh(w·x₁ + u·h₀ + b), h₂ = tanh(w·x₂ + u·h₁ + b), E = h₂:
    ∂E/∂u = (1 − h₂²)·(h₁ + u·(1 − h₁²)·h₀): the direct term at step 2 and the recurrent
    path back through step 1."""
    rnn = cr.nn.RNN(1, 1, bias=False, generator=0)
    w, u = 0.7, -0.4
    rnn.weight_ih_l0.data[:] = w
    rnn.weight_hh_l0.data[:] = u
    x1, x2, h0 = 0.5, -1.0, 0.3
    out, h_n = rnn(np.array([[[x1]], [[x2]]]), np.array([[[h0]]]))
    h_n.sum().backward()
    h1 = np.tanh(w * x1 + u * h0)
    h2 = np.tanh(w * x2 + u * h1)
    assert h_n.data.item() == pytest.approx(h2, rel=1e-15)
    direct, recurrent = (1 - h2 ** 2) * h1, (1 - h2 ** 2) * u * (1 - h1 ** 2) * h0
    assert rnn.weight_hh_l0.grad.item() == pytest.approx(direct + recurrent, rel=1e-13)
    assert rnn.weight_ih_l0.grad.item() == pytest.approx(
        (1 - h2 ** 2) * (x2 + u * (1 - h1 ** 2) * x1), rel=1e-13)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_central_differences_through_time(kind):
    module = getattr(cr.nn, kind)(2, 3, generator=2)
    x = cr.Tensor(np.random.default_rng(4).normal(size=(4, 2)))  # unbatched (L, H_in)
    params = dict(module.named_parameters())

    def loss(**tensors):
        for name, t in tensors.items():
            if name != "x":
                setattr(module, name, t)
        return module(tensors["x"])[0]

    report = gradcheck(loss, {"x": x, **params})
    assert report.ok, report.summary()


def test_errors_are_one_line():
    with pytest.raises(ShapeError, match=r"^RNN: expected an input \(L, N, H_in\) with H_in = "
                                          r"3 \(or \(L, H_in\) unbatched\), got shape"):
        cr.nn.RNN(3, 2)(np.zeros((4, 2, 5)))
    with pytest.raises(ShapeError, match=r"^LSTM: expected h_0 of shape \(1, 2, 4\), got "
                                          r"\(1, 3, 4\)$"):
        cr.nn.LSTM(3, 4)(np.zeros((5, 2, 3)), (np.zeros((1, 3, 4)), np.zeros((1, 2, 4))))
    with pytest.raises(ShapeError, match="^RNN: nonlinearity must be 'tanh' or 'relu'"):
        cr.nn.RNN(3, 2, nonlinearity="gelu")
    with pytest.raises(ShapeError, match="^LSTM: dropout between layers is not supported"):
        cr.nn.LSTM(3, 2, num_layers=2, dropout=0.1)
