"""A user's own torch.nn model as a chainrule network: the same weights, so one training step's
loss and every gradient equal PyTorch's in float64 (1e-10), for random models and random
targets (the MSE against a random target is a random cotangent, never all ones)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tnn = torch.nn

from chainrule.interop.torch_in import (  # noqa: E402
    TorchImportError, from_torch, torch_names, torch_spec)
from chainrule.spec.network import parse_spec  # noqa: E402
from chainrule.verify.layered import EngineStep  # noqa: E402


def _models():
    yield "mlp", (3,), tnn.Sequential(tnn.Linear(3, 4), tnn.Tanh(), tnn.Linear(4, 2),
                                      tnn.Sigmoid())
    yield "cnn", (1, 5, 5), tnn.Sequential(
        tnn.Conv2d(1, 2, 3, padding=1, stride=(1, 2)), tnn.LeakyReLU(0.1),
        tnn.AvgPool2d(2, stride=1), tnn.Flatten(), tnn.Sequential(tnn.Linear(16, 3)))
    yield "batchnorm", (2, 6), tnn.Sequential(tnn.Conv1d(2, 3, 2), tnn.BatchNorm1d(3),
                                              tnn.ReLU(), tnn.MaxPool1d(2), tnn.Flatten(),
                                              tnn.Linear(6, 2))
    yield "layernorm", (4, 3), tnn.Sequential(tnn.Linear(3, 5), tnn.LayerNorm(5),
                                              tnn.Tanh(), tnn.Linear(5, 2))


@pytest.mark.parametrize("name, shape, model", list(_models()), ids=lambda v: v
                         if isinstance(v, str) else "")
def test_one_step_equals_pytorch(name, shape, model):
    torch.manual_seed(7)
    model = model.double()
    for p in model.parameters():  # away from PyTorch's init: numbers that mean something
        p.data.uniform_(-0.8, 0.8)
    batch = 3
    x = torch.randn(batch, *shape, dtype=torch.float64)
    with torch.no_grad():
        t = torch.randn_like(model(x))
    spec = torch_spec(model, shape, loss="mse", inputs=x.numpy().tolist(),
                      targets=t.numpy().tolist(), learning_rate=0.1)
    step = EngineStep(parse_spec(spec))
    model.train()
    loss = tnn.functional.mse_loss(model(x), t)
    loss.backward()
    assert abs(float(step.values["loss"]) - loss.item()) <= 1e-10 * max(1.0, loss.item())
    names = torch_names(model)
    assert sorted(names.values()) == sorted(k for k, _ in model.named_parameters())
    for ours_key, key in names.items():
        p = model.get_parameter(key)
        ours = step.values[f"gradients.{ours_key}"]
        theirs = p.grad.numpy()
        if ours.shape != theirs.shape:  # Linear: chainrule's W is (in, out), PyTorch's (out, in)
            assert ours.shape == theirs.T.shape and key.endswith("weight")
            theirs = theirs.T
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12, err_msg=key)


def test_the_same_weights_and_names():
    model = tnn.Sequential(tnn.Linear(2, 3), tnn.ReLU(), tnn.Linear(3, 1)).double()
    network = from_torch(model, (2,))
    ours = dict(network.named_parameters())
    assert sorted(ours) == sorted(k for k, _ in model.named_parameters())
    np.testing.assert_array_equal(ours["0.weight"].data, model[0].weight.detach().numpy().T)
    np.testing.assert_array_equal(ours["2.bias"].data, model[2].bias.detach().numpy())


@pytest.mark.parametrize("model, message", [
    (tnn.Sequential(tnn.Linear(2, 2), tnn.GELU()), r"model\[1\] \(GELU\): not a part"),
    (tnn.Sequential(tnn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect")),
     r"model\[0\] \(Conv2d\): padding \(1, 1\) with mode 'reflect'"),
    (tnn.Sequential(tnn.MaxPool2d(2, ceil_mode=True)), r"ceil_mode is not modelled"),
    (tnn.Sequential(tnn.BatchNorm1d(3, affine=False)), r"affine=False"),
])
def test_an_unsupported_part_is_one_line_naming_it(model, message):
    with pytest.raises(TorchImportError, match=message):
        torch_spec(model, (1, 4, 4))
