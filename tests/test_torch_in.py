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
    yield "tutorial-cnn", (1, 12, 12), TutorialNet()
    yield "lstm-classifier", (5, 3), LastStep(tnn.LSTM(3, 4, num_layers=2, batch_first=True),
                                              by_state=False)
    yield "gru-h_n", (6, 2), LastStep(tnn.GRU(2, 3, batch_first=True), by_state=True)
    yield "rnn-relu-sequence", (4, 3), Tagger()
    yield "residual", (2, 5, 5), ResidualNet()
    yield "causal-attention", (5, 4), CausalBlock(length=5)
    yield "encoder-layer", (5, 3), tnn.Sequential(
        tnn.Linear(3, 4), tnn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, batch_first=True),
        tnn.Linear(4, 2))
    yield "encoder-stack-causal", (5, 3), Encoder(length=5)


class Encoder(tnn.Module):
    """A pre-norm causal Transformer encoder of two layers and a final norm."""

    def __init__(self, length):
        super().__init__()
        self.embed = tnn.Linear(3, 4)
        block = tnn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, batch_first=True,
                                            norm_first=True)
        self.encoder = tnn.TransformerEncoder(block, 2, norm=tnn.LayerNorm(4),
                                              enable_nested_tensor=False)
        self.head = tnn.Linear(4, 2)
        self.register_buffer("mask", torch.triu(torch.ones(length, length, dtype=torch.bool),
                                                1))

    def forward(self, x):
        return self.head(self.encoder(self.embed(x), mask=self.mask))


class TutorialNet(tnn.Module):
    """PyTorch's "Training a classifier" network, smaller: functional pools and flatten."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = tnn.Conv2d(1, 3, 3), tnn.Conv2d(3, 4, 2)
        self.fc1, self.fc2 = tnn.Linear(16, 6), tnn.Linear(6, 3)

    def forward(self, x):
        x = tnn.functional.max_pool2d(tnn.functional.relu(self.conv1(x)), 2)
        x = tnn.functional.avg_pool2d(torch.tanh(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(tnn.functional.leaky_relu(self.fc1(x), 0.2))


class LastStep(tnn.Module):
    def __init__(self, rnn, by_state):
        super().__init__()
        self.rnn, self.by_state, self.head = rnn, by_state, tnn.Linear(rnn.hidden_size, 2)

    def forward(self, x):
        out, h_n = self.rnn(x)
        return self.head(h_n[-1] if self.by_state else out[:, -1])


class Tagger(tnn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = tnn.RNN(3, 4, nonlinearity="relu", batch_first=True)
        self.out = tnn.Linear(4, 2)

    def forward(self, x):
        states, _ = self.rnn(x)
        return self.out(states).sigmoid()


class ResidualNet(tnn.Module):
    def __init__(self):
        super().__init__()
        self.stem = tnn.Conv2d(2, 3, 3, padding=1)
        self.body = tnn.Sequential(tnn.Conv2d(3, 3, 3, padding=1), tnn.BatchNorm2d(3),
                                   tnn.ReLU(), tnn.Conv2d(3, 3, 3, padding=1))
        self.down = tnn.Conv2d(3, 2, 1)
        self.body2 = tnn.Conv2d(3, 2, 3, padding=1)
        self.fc = tnn.Linear(50, 3)

    def forward(self, x):
        x = self.stem(x)
        x = tnn.functional.relu(self.body(x) + x)
        x = self.body2(x) + self.down(x)
        return self.fc(x.view(x.size(0), -1))


class CausalBlock(tnn.Module):
    def __init__(self, length):
        super().__init__()
        self.norm = tnn.LayerNorm(4)
        self.attn = tnn.MultiheadAttention(4, 2, batch_first=True)
        self.fc = tnn.Linear(4, 3)
        self.register_buffer("mask", torch.triu(torch.ones(length, length, dtype=torch.bool),
                                                1))

    def forward(self, x):
        h = self.norm(x)
        a, _ = self.attn(h, h, h, attn_mask=self.mask, need_weights=False)
        return self.fc(x + a)


@pytest.mark.parametrize("name, shape, model", list(_models()), ids=lambda v: v
                         if isinstance(v, str) else "")
def test_one_step_equals_pytorch(name, shape, model):
    one_step_equals(shape, model, seed=7)


def one_step_equals(shape, model, seed: int) -> None:
    """One training step of ``model`` read by chainrule, its loss and every parameter's
    gradient against PyTorch's autograd: random weights, batch and target (MSE against it:
    a random cotangent)."""
    torch.manual_seed(seed)
    model = model.double()
    for p in model.parameters():  # away from PyTorch's init: numbers that mean something
        p.data.uniform_(-0.8, 0.8)
    x = torch.randn(3, *shape, dtype=torch.float64)
    with torch.no_grad():
        t = torch.randn_like(model(x))
    spec = torch_spec(model, shape, loss="mse", inputs=x.numpy().tolist(),
                      targets=t.numpy().tolist(), learning_rate=0.1)
    step = EngineStep(parse_spec(spec))
    model.train()
    loss = tnn.functional.mse_loss(model(x), t)
    loss.backward()
    assert abs(float(step.values["loss"]) - loss.item()) <= 1e-10 * max(1.0, loss.item())
    params = dict(model.named_parameters())
    names = {k: v for k, v in torch_names(model, shape).items() if v in params}
    assert sorted(names.values()) == sorted(params)
    for ours_key, key in names.items():
        ours = step.values[f"gradients.{ours_key}"]
        theirs = params[key].grad.numpy()
        owner = model.get_submodule(key.rpartition(".")[0])
        if type(owner) is tnn.Linear and key.endswith("weight"):
            theirs = theirs.T  # chainrule's W is (in, out), PyTorch's (out, in), square too
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


class _Twice(tnn.Module):
    def __init__(self):
        super().__init__()
        self.fc = tnn.Linear(3, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.fc(x)))


class _Forward(tnn.Module):
    """A module whose forward is given as a function of (self, x)."""

    def __init__(self, fn, **parts):
        super().__init__()
        self.fn = fn
        for name, part in parts.items():
            setattr(self, name, part)

    def forward(self, x):
        return self.fn(self, x)


def _branchy(self, x):
    if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
        return self.fc(x)
    return x


@pytest.mark.parametrize("model, shape, message", [
    (_Forward(lambda s, x: s.fc(tnn.functional.gelu(x)), fc=tnn.Linear(3, 2)), (3,),
     r"model: gelu\(\) in forward: not a layer chainrule has"),
    (_Forward(lambda s, x: s.head(s.rnn(x)[0][:, -1]),
              rnn=tnn.LSTM(3, 4, batch_first=True, bidirectional=True),
              head=tnn.Linear(8, 2)), (4, 3), r"model.rnn \(LSTM\): bidirectional"),
    (_Forward(lambda s, x: s.head(s.rnn(x)[0][:, -1]), rnn=tnn.GRU(3, 4),
              head=tnn.Linear(4, 2)), (4, 3), r"model.rnn \(GRU\): batch_first=False"),
    (_Forward(lambda s, x: s.head(s.rnn(x)[1]), rnn=tnn.RNN(3, 4, batch_first=True),
              head=tnn.Linear(4, 2)), (4, 3), r"h_n of every layer; take h_n\[-1\]"),
    (_Forward(lambda s, x: s.head(s.rnn(x)[0][:, 0]), rnn=tnn.RNN(3, 4, batch_first=True),
              head=tnn.Linear(4, 2)), (4, 3), r"\[:, 0\] of sequence is not modelled"),
    (_Twice(), (3,), r"model.fc: used twice in forward"),
    (_Forward(lambda s, x: s.attn(x, s.fc(x), x)[0], attn=tnn.MultiheadAttention(
        4, 2, batch_first=True), fc=tnn.Linear(4, 4)), (3, 4), r"different tensors"),
    (_Forward(lambda s, x: s.attn(x, x, x, attn_mask=s.mask)[0], attn=tnn.MultiheadAttention(
        4, 2, batch_first=True), mask=torch.zeros(3, 3, dtype=torch.bool)), (3, 4),
     r"an attn_mask other than the causal one"),
    (_Forward(lambda s, x: torch.cat([s.fc(x), x], 1), fc=tnn.Linear(3, 3)), (3,),
     r"cat\(\) in forward: not a layer"),
    (_Forward(lambda s, x: s.fc(x) + 1.0, fc=tnn.Linear(3, 3)), (3,), r"adds a constant"),
    (_Forward(lambda s, x: s.enc(x), enc=tnn.TransformerEncoderLayer(4, 2, 8,
                                                                       batch_first=True)),
     (3, 4), r"model.enc \(TransformerEncoderLayer\): dropout 0.1, which acts inside its "
             r"attention, is not modelled; build it with dropout=0.0"),
    (_Forward(lambda s, x: s.enc(x), enc=tnn.TransformerEncoderLayer(
        4, 2, 8, dropout=0.0, activation="gelu", batch_first=True)), (3, 4),
     r"activation gelu"),
    (_Forward(lambda s, x: s.enc(x, src_key_padding_mask=s.pad), enc=tnn.TransformerEncoderLayer(
        4, 2, 8, dropout=0.0, batch_first=True), pad=torch.zeros(2, 3, dtype=torch.bool)),
     (3, 4), r"src_key_padding_mask is not modelled"),
    (_Forward(lambda s, x: s.fc(x)[:, -1:], fc=tnn.Linear(3, 3)), (3,),
     r"indexing a tensor \[:, -1:\]"),
    (_Forward(_branchy, fc=tnn.Linear(3, 3)), (3,), r"torch.fx cannot trace its forward"),
    (_Forward(lambda s, x: s.fc(x), fc=tnn.Linear(3, 3)), (4,),
     r"a forward pass on one example of shape \(4,\) failed"),
    (_Forward(lambda s, x: s.conv(x), conv=tnn.Conv2d(1, 1, 3)), (1000, 1000, 1000),
     r"input_shape: \[1000, 1000, 1000\] is 1,000,000,000 values per example; at most"),
    (_Forward(lambda s, x: s.conv(x), conv=tnn.Conv2d(1, 1, 3)), None,
     r"model \(Conv2d\): the model does not say the size of one example; give input_shape"),
], ids=lambda v: "" if not isinstance(v, str) else v[:30])
def test_a_traced_forward_chainrule_cannot_hold_is_one_line_naming_it(model, shape, message):
    with pytest.raises(TorchImportError, match=message) as raised:
        from_torch(model.double(), shape)
    assert "\n" not in str(raised.value)


def test_a_failing_forward_is_one_line_with_the_modules_own_error(capfd):
    with pytest.raises(TorchImportError, match=r"failed \(RuntimeError: Given groups=1, "
                                               r"weight of size \[1, 1, 3, 3\]"):
        from_torch(_Forward(lambda s, x: s.conv(x), conv=tnn.Conv2d(1, 1, 3)).double(),
                   (2, 4, 4))
    assert capfd.readouterr().err == ""  # ShapeProp's own traceback print is kept quiet


def test_reading_a_model_leaves_it_as_it_was():
    model = ResidualNet().double().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    from_torch(model, (2, 5, 5))
    assert model.training and all(m.training for m in model.modules())
    for key, value in model.state_dict().items():  # BatchNorm's statistics untouched
        assert torch.equal(value, before[key]), key


def test_an_encoders_parameters_keep_their_names():
    names = torch_names(Encoder(length=5), (5, 3))
    assert names["1.block.0.weight"] == "encoder.layers.0.norm1.weight"
    assert names["1.block.1.in_proj_weight"] == "encoder.layers.0.self_attn.in_proj_weight"
    assert names["2.block.1.weight"] == "encoder.layers.0.linear1.weight"
    assert names["2.block.3.bias"] == "encoder.layers.0.linear2.bias"
    assert names["5.weight"] == "encoder.norm.weight"
    spec = torch_spec(Encoder(length=5), (5, 3))
    assert spec["layers"][1]["layers"][1]["is_causal"] is True


def test_the_names_of_a_traced_model_are_its_own():
    names = torch_names(ResidualNet(), (2, 5, 5))
    assert names["1.block.0.weight"] == "body.0.weight"
    assert names["1.block.1.running_var"] == "body.1.running_var"
    assert names["3.block.0.weight"] == "body2.weight"
    assert names["3.shortcut.0.weight"] == "down.weight"
    assert names["5.weight"] == "fc.weight"
