"""Random PyTorch models, drawn by hypothesis (architecture, options, weights, batch and
target), read by from_torch: one training step's loss and every parameter's gradient equal
PyTorch's in float64 (rtol 1e-10), and to_torch gives the model's outputs back. The loss is
the MSE against a random target, so the cotangent is random, never all ones."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
tnn = torch.nn

from chainrule.interop.torch_in import torch_names, torch_spec  # noqa: E402
from chainrule.spec.network import parse_spec  # noqa: E402
from chainrule.verify.layered import EngineStep  # noqa: E402

ACTIVATIONS = [tnn.ReLU, tnn.Tanh, tnn.Sigmoid, lambda: tnn.LeakyReLU(0.07)]


@st.composite
def image_models(draw):
    channels, size = draw(st.integers(1, 3)), draw(st.integers(5, 9))
    shape = (channels, size, size)
    parts = []
    for _ in range(draw(st.integers(1, 2))):
        out = draw(st.integers(1, 4))
        groups = draw(st.sampled_from([g for g in (1, 2) if channels % g == 0 and out % g == 0]))
        kernel = draw(st.integers(1, min(3, size)))
        padding = draw(st.integers(0, kernel // 2))
        stride, dilation = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        if (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1 < 2:
            stride, dilation = 1, 1
        parts.append(tnn.Conv2d(channels, out, kernel, stride, padding, dilation, groups,
                                bias=draw(st.booleans())))
        size = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
        channels = out
        if draw(st.booleans()):
            parts.append(tnn.BatchNorm2d(channels, momentum=draw(st.sampled_from([0.1, 0.5]))))
        parts.append(draw(st.sampled_from(ACTIVATIONS))())
        if size >= 2 and draw(st.booleans()):
            parts.append(draw(st.sampled_from([tnn.MaxPool2d, tnn.AvgPool2d]))(2))
            size //= 2
    parts.append(tnn.Flatten())
    features = channels * size * size
    for _ in range(draw(st.integers(1, 2))):
        out = draw(st.integers(1, 4))
        parts += [tnn.Linear(features, out), draw(st.sampled_from(ACTIVATIONS))()]
        features = out
    return shape, tnn.Sequential(*parts[:-1])


class _Sequence(tnn.Module):
    def __init__(self, rnn, norm, attention, heads, last):
        super().__init__()
        self.rnn, self.last = rnn, last
        self.norm = tnn.LayerNorm(rnn.hidden_size) if norm else None
        self.attn = tnn.MultiheadAttention(rnn.hidden_size, heads, batch_first=True) \
            if attention else None
        self.head = tnn.Linear(rnn.hidden_size, 2)

    def forward(self, x):
        out, _ = self.rnn(x)
        if self.norm is not None:
            out = self.norm(out)
        if self.attn is not None:
            out = out + self.attn(out, out, out, need_weights=False)[0]
        return self.head(out[:, -1] if self.last else out)


@st.composite
def sequence_models(draw):
    features, hidden = draw(st.integers(1, 3)), draw(st.sampled_from([2, 4]))
    kind = draw(st.sampled_from([tnn.RNN, tnn.LSTM, tnn.GRU]))
    rnn = kind(features, hidden, num_layers=draw(st.integers(1, 2)), batch_first=True,
               bias=draw(st.booleans()))
    norm, attention = draw(st.booleans()), draw(st.booleans())
    # the last step is a recurrent layer's own output: out[:, -1] right after the RNN
    last = not (norm or attention) and draw(st.booleans())
    model = _Sequence(rnn, norm, attention, draw(st.sampled_from([1, 2])), last)
    return (draw(st.integers(2, 5)), features), model


def one_step_equals(shape, model, seed):
    torch.manual_seed(seed)
    model = model.double()
    for p in model.parameters():
        p.data.uniform_(-0.9, 0.9)
    x = torch.randn(3, *shape, dtype=torch.float64)
    with torch.no_grad():
        target = torch.randn_like(model(x))
    spec = torch_spec(model, shape, loss="mse", inputs=x.numpy().tolist(),
                      targets=target.numpy().tolist(), learning_rate=0.1)
    step = EngineStep(parse_spec(spec))
    model.train()
    loss = tnn.functional.mse_loss(model(x), target)
    loss.backward()
    assert abs(float(step.values["loss"]) - loss.item()) <= 1e-10 * max(1.0, loss.item())
    params = dict(model.named_parameters())
    names = {k: v for k, v in torch_names(model, shape).items() if v in params}
    assert sorted(names.values()) == sorted(params)
    for ours, theirs in names.items():
        grad = params[theirs].grad.numpy()
        got = step.values[f"gradients.{ours}"]
        owner = model.get_submodule(theirs.rpartition(".")[0])
        if type(owner) is tnn.Linear and theirs.endswith("weight"):
            grad = grad.T  # chainrule's W is (in, out): transposed whatever its shape
        np.testing.assert_allclose(got, grad, rtol=1e-10, atol=1e-12, err_msg=theirs)


SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(image_models(), st.integers(0, 2**16))
def test_random_image_models(drawn, seed):
    one_step_equals(*drawn, seed)


@SETTINGS
@given(sequence_models(), st.integers(0, 2**16))
def test_random_sequence_models(drawn, seed):
    one_step_equals(*drawn, seed)
