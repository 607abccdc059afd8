"""Random PyTorch models, drawn by hypothesis (architecture, options, weights, batch and
target), read by from_torch: one training step's loss and every parameter's gradient equal
PyTorch's in float64 (rtol 1e-10), and to_torch gives the model's outputs back. The loss is
the MSE against a random target, so the cotangent is random, never all ones."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
tnn = torch.nn

from tests.test_torch_in import one_step_equals  # noqa: E402

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
