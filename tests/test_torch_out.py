"""A chainrule model as PyTorch's (``model.to_torch()``): the same outputs for random inputs,
the same state_dict names, and read back by from_torch into the same network."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule as cr  # noqa: E402
from chainrule.interop.torch_in import from_torch  # noqa: E402
from chainrule.nn.torch_export import TorchExportError, torch_state_names  # noqa: E402
from chainrule.spec.layered import parse_layers  # noqa: E402
from chainrule.spec.layered_build import build_network  # noqa: E402

NETWORKS = {
    "cnn-residual": ((2, 6, 6), [
        {"type": "Conv2d", "out_channels": 3, "kernel_size": 3, "padding": 1},
        {"type": "BatchNorm2d"}, {"type": "ReLU"},
        {"type": "Residual", "layers": [
            {"type": "Conv2d", "out_channels": 3, "kernel_size": 3, "padding": 1},
            {"type": "Tanh"}]},
        {"type": "Residual", "layers": [{"type": "Conv2d", "out_channels": 2,
                                         "kernel_size": 1}],
         "shortcut": [{"type": "AvgPool2d", "kernel_size": 3, "stride": 1, "padding": 1},
                      {"type": "Conv2d", "out_channels": 2, "kernel_size": 1,
                       "bias": False}]},
        {"type": "MaxPool2d", "kernel_size": 2}, {"type": "Dropout", "p": 0.3},
        {"type": "Flatten"}, {"type": "Linear", "out_features": 4}, {"type": "Softmax"}]),
    "conv1d": ((2, 9), [
        {"type": "Conv1d", "out_channels": 4, "kernel_size": 3, "stride": 2, "dilation": 1,
         "groups": 2}, {"type": "BatchNorm1d", "momentum": None}, {"type": "LeakyReLU"},
        {"type": "MaxPool1d", "kernel_size": 2}, {"type": "Flatten"},
        {"type": "Linear", "out_features": 2, "bias": False}, {"type": "Sigmoid"}]),
    "lstm": ((7, 4), [{"type": "LSTM", "hidden_size": 5, "num_layers": 2},
                      {"type": "Linear", "out_features": 3}]),
    "gru-last-truncated": ((7, 4), [
        {"type": "GRU", "hidden_size": 5, "output": "last", "truncate": 3},
        {"type": "Linear", "out_features": 3}]),
    "rnn-attention": ((6, 4), [
        {"type": "RNN", "hidden_size": 4, "nonlinearity": "relu"}, {"type": "LayerNorm"},
        {"type": "MultiheadAttention", "num_heads": 2, "is_causal": True},
        {"type": "Linear", "out_features": 3}]),
    "language-model": ((6,), [
        {"type": "Embedding", "num_embeddings": 10, "embedding_dim": 4, "padding_idx": 0},
        {"type": "PositionalEncoding"}, {"type": "MultiheadAttention", "num_heads": 2},
        {"type": "LayerNorm", "bias": False}, {"type": "Linear", "out_features": 10}]),
}


def network(name: str, seed: int = 3):
    shape, layers = NETWORKS[name]
    return build_network(parse_layers(layers, shape, max_layers=50, max_parameters=10**6),
                         shape, seed=seed)


def inputs(name: str, rng, batch: int = 3):
    shape, layers = NETWORKS[name]
    if layers[0]["type"] == "Embedding":
        return rng.integers(0, 10, (batch, *shape))
    return rng.normal(size=(batch, *shape))


@pytest.mark.parametrize("name", NETWORKS)
def test_the_same_outputs_and_names(name):
    rng = np.random.default_rng(11)
    ours = network(name).eval()
    theirs = ours.to_torch()
    assert not theirs.training  # the mode travels too
    x = inputs(name, rng)
    expected = ours(x.astype(float)).data
    got = theirs(torch.as_tensor(x)).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    assert set(theirs.state_dict()) == set(ours.state_dict())
    assert all(p.dtype == torch.float64 for p in theirs.parameters())


@pytest.mark.parametrize("name", NETWORKS)
def test_one_training_step_has_the_same_gradients(name):
    """Training mode (batch statistics, truncation; dropout off so that masks agree), a
    random cotangent: every parameter's gradient equals the engine's."""
    rng = np.random.default_rng(5)
    shape, layers = NETWORKS[name]
    ours = network(name)
    for module in ours.modules:
        if type(module).__name__ == "Dropout":
            module.p = 0.0
    theirs = ours.to_torch()
    for m in theirs.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    x = inputs(name, rng)
    out = ours(x.astype(float))
    weights = rng.normal(size=out.shape)
    (out * cr.Tensor(weights)).sum().backward()
    t_out = theirs(torch.as_tensor(x))
    (t_out * torch.as_tensor(weights)).sum().backward()
    t_grads = {k: p.grad for k, p in theirs.named_parameters()}
    for key, p in ours.named_parameters():
        g = t_grads[key].numpy()
        owner = theirs.get_submodule(key.rpartition(".")[0])
        if type(owner) is torch.nn.Linear and key.endswith("weight"):
            g = g.T  # W (in, out) here, (out, in) there, whatever its shape
        np.testing.assert_allclose(p.grad, g, rtol=1e-9, atol=1e-12, err_msg=key)
    for key, value in ours.named_buffers():  # batch norm's statistics moved alike
        np.testing.assert_allclose(value, theirs.state_dict()[key].numpy(), rtol=1e-12,
                                   err_msg=key)


@pytest.mark.parametrize("name", NETWORKS)
def test_back_from_torch_is_the_same_network(name):
    ours = network(name)
    shape = NETWORKS[name][0]
    again = from_torch(ours.to_torch(), shape)
    assert repr(again) == repr(ours)
    assert [layer["type"] for layer in again.description] == \
        [layer["type"] for layer in ours.description]
    for (key, p), (key2, q) in zip(ours.named_parameters(), again.named_parameters()):
        assert key == key2
        np.testing.assert_array_equal(p.data, q.data)


def test_an_mlp_becomes_a_sequential():
    mlp = cr.nn.MLP([2, 3, 2], ["relu", "identity"], seed=1)
    model = mlp.to_torch()
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear"]
    assert torch_state_names(mlp) == {"W1": "0.weight", "b1": "0.bias", "W2": "2.weight",
                                      "b2": "2.bias"}
    np.testing.assert_array_equal(model[0].weight.detach().numpy(), mlp.layers[0].weight.data.T)
    x = np.random.default_rng(2).normal(size=(4, 2))
    np.testing.assert_allclose(model(torch.as_tensor(x)).detach().numpy(), mlp(x).data,
                               rtol=1e-13)
    assert mlp.to_torch(dtype="float32")[0].weight.dtype == torch.float32


def test_what_pytorch_cannot_hold_is_one_line():
    mlp = cr.nn.MLP([2, 2, 1], "sigmoid", bias_mode="shared_per_layer")
    with pytest.raises(TorchExportError, match=r"model.layer 1: a bias shared by the layer"):
        mlp.to_torch()
    with pytest.raises(TorchExportError, match="dtype: expected float64, float32 or float16"):
        cr.nn.MLP([2, 1]).to_torch(dtype="int32")


def test_a_frozen_parameter_stays_frozen_both_ways():
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(),
                                torch.nn.Linear(3, 1)).double()
    model[0].bias.requires_grad_(False)
    network = from_torch(model)
    assert [n for n, p in network.named_parameters() if p.frozen] == ["0.bias"]
    back = network.to_torch()
    assert [n for n, p in back.named_parameters() if not p.requires_grad] == ["0.bias"]
    from chainrule.interop.torch_in import torch_spec

    assert torch_spec(model)["frozen"] == ["0.bias"]
