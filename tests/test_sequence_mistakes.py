"""The sequence layers' catalogue entries, each recognised in a student's own code that makes
that mistake: a recurrent network, an LSTM, attention, layer norm and an embedding written
by hand in PyTorch ops (not chainrule's), their gradients judged by ``verify --tensors``
(:func:`chainrule.verify.layered_tensors.check_layered_tensors`), which must name the mistake
— and must name none when the student's code is right."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from chainrule.spec.network import parse_spec  # noqa: E402
from chainrule.verify.layer_mistakes import LAYER_MISTAKES  # noqa: E402
from chainrule.verify.layered_tensors import check_layered_tensors  # noqa: E402

RNG = np.random.default_rng(11)
F64 = torch.float64


def _spec(layers, input_shape, inputs, targets, loss="mse", **extra):
    return parse_spec({"name": "student", "input_shape": input_shape, "layers": layers,
                       "loss": loss, "inputs": inputs, "targets": targets,
                       "learning_rate": 0.1, **extra})


def _leaves(spec):
    return {name: torch.tensor(value, dtype=F64, requires_grad=True)
            for name, value in spec.build_model().state_dict().items()
            if not name.endswith(("running_mean", "running_var", "num_batches_tracked"))}


def _judged(spec, p, out, extra=None):
    """The student's loss (chainrule's mse or cross-entropy, the mean over every position),
    backward, and their gradients judged."""
    t = torch.tensor(np.asarray(spec.targets), dtype=F64)
    if spec.loss == "mse":
        loss = ((out - t) ** 2).mean(dim=-1).mean()
    else:
        loss = torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]),
                                                 t.long().reshape(-1))
    loss.backward()
    grads = {name: leaf.grad.numpy() for name, leaf in p.items() if leaf.grad is not None}
    grads.update(extra or {})
    return check_layered_tensors(spec, grads)


def _named(report):
    return {m.id for m in report.mistakes}


# --- a recurrent network, by hand -----------------------------------------------------------

RNN_X = RNG.normal(size=(2, 5, 2))
RNN_T = RNG.normal(size=(2, 5, 1))


def _rnn_spec(truncate=None):
    return _spec([{"type": "RNN", "hidden_size": 3, "truncate": truncate},
                  {"type": "Linear", "out_features": 1}], [5, 2], RNN_X.tolist(),
                 RNN_T.tolist(), seed=4)


def _student_rnn(spec, detach_every=None, average=False):
    """h_t = tanh(x_t W_ihᵀ + b_ih + h W_hhᵀ + b_hh), the state detached before every
    ``detach_every``-th step (1: every step, the recurrent path cut)."""
    p = _leaves(spec)
    x = torch.tensor(RNN_X, dtype=F64)
    h = torch.zeros(2, 3, dtype=F64)
    outs = []
    for t in range(5):
        if detach_every and t and t % detach_every == 0:
            h = h.detach()
        h = torch.tanh(x[:, t] @ p["0.weight_ih_l0"].T + p["0.bias_ih_l0"]
                       + h @ p["0.weight_hh_l0"].T + p["0.bias_hh_l0"])
        outs.append(h)
    out = torch.stack(outs, 1) @ p["1.weight"] + p["1.bias"]
    if not average:
        return _judged(spec, p, out)
    t_ = torch.tensor(RNN_T, dtype=F64)
    ((out - t_) ** 2).mean(dim=-1).mean().backward()
    grads = {n: leaf.grad.numpy() / (5 if n.startswith("0.") else 1) for n, leaf in p.items()}
    return check_layered_tensors(spec, grads)


def test_a_students_correct_rnn_is_judged_right():
    report = _student_rnn(_rnn_spec())
    assert report.ok and not report.mistakes
    assert _student_rnn(_rnn_spec(truncate=2), detach_every=2).ok


def test_the_recurrent_path_forgotten_is_named():
    report = _student_rnn(_rnn_spec(), detach_every=1)
    assert not report.ok
    assert "bptt_recurrent_path_forgotten" in _named(report)


def test_gradients_averaged_over_the_steps_are_named():
    report = _student_rnn(_rnn_spec(), average=True)
    assert _named(report) == {"bptt_gradient_averaged_over_steps"}


@pytest.mark.parametrize("asked, done, mistake", [
    (None, 4, "bptt_truncated_too_short"),  # full BPTT asked, one step short of it
    (3, 2, "bptt_truncated_too_short"),
    (2, 3, "bptt_truncated_too_long"),
])
def test_a_truncation_other_than_asked_is_named(asked, done, mistake):
    report = _student_rnn(_rnn_spec(truncate=asked), detach_every=done)
    assert not report.ok
    assert mistake in _named(report)


# --- an LSTM, by hand ------------------------------------------------------------------------

LSTM_X = RNG.normal(size=(1, 4, 1))


def _lstm_spec():
    return _spec([{"type": "LSTM", "hidden_size": 2, "output": "last"},
                  {"type": "Linear", "out_features": 1}], [4, 1], LSTM_X.tolist(), [[0.7]])


def _student_lstm(mistake=None):
    spec = _lstm_spec()
    p = _leaves(spec)
    x = torch.tensor(LSTM_X, dtype=F64)
    h = c = torch.zeros(1, 2, dtype=F64)
    for t in range(4):
        z = x[:, t] @ p["0.weight_ih_l0"].T + p["0.bias_ih_l0"] + h @ p["0.weight_hh_l0"].T \
            + p["0.bias_hh_l0"]
        i, f, g, o = (torch.sigmoid(z[:, :2]), torch.sigmoid(z[:, 2:4]), torch.tanh(z[:, 4:6]),
                      torch.sigmoid(z[:, 6:]))
        if mistake == "forget":
            f = f.detach()  # no ∂E/∂f
        if mistake == "carry":  # the value f·c, but ∂c_t/∂c_(t−1) taken as 1
            c = f * c.detach() + (c - c.detach()) + i * g
        else:
            c = f * c + i * g
        h = o * torch.tanh(c)
    return _judged(spec, p, h @ p["1.weight"] + p["1.bias"])


def test_lstm_mistakes_are_named():
    assert _student_lstm().ok
    assert "lstm_forget_gate_gradient_left_out" in _named(_student_lstm("forget"))
    assert "lstm_cell_gradient_not_gated" in _named(_student_lstm("carry"))


# --- attention, by hand ----------------------------------------------------------------------

ATT_X = RNG.normal(size=(2, 3, 4))
ATT_T = RNG.normal(size=(2, 3, 4))


def _attention_spec():
    return _spec([{"type": "MultiheadAttention", "num_heads": 2, "is_causal": True}], [3, 4],
                 ATT_X.tolist(), ATT_T.tolist(), seed=5)


def _student_attention(mistake=None):
    spec = _attention_spec()
    p = _leaves(spec)
    x = torch.tensor(ATT_X, dtype=F64)
    w, b = p["0.in_proj_weight"], p["0.in_proj_bias"]
    q, k, v = (x @ w[i * 4:(i + 1) * 4].T + b[i * 4:(i + 1) * 4] for i in range(3))
    heads = []
    for h in range(2):
        cols = slice(2 * h, 2 * h + 2)
        product = q[..., cols] @ k[..., cols].transpose(1, 2)
        if mistake == "scale":  # the value scaled, its gradient not
            scores = product.detach() / np.sqrt(2) + (product - product.detach())
        else:
            scores = product / np.sqrt(2)
        scores = scores.masked_fill(torch.triu(torch.ones(3, 3, dtype=torch.bool), 1),
                                    float("-inf"))
        a = torch.softmax(scores, dim=-1)
        if mistake == "diagonal":  # the value softmax, its Jacobian only a(1 − a)
            value = a.detach()
            finite = torch.where(torch.isfinite(scores), scores, torch.zeros_like(scores))
            a = value + (finite - finite.detach()) * value * (1 - value)
        heads.append(a @ v[..., cols])
    out = torch.cat(heads, -1) @ p["0.out_proj.weight"].T + p["0.out_proj.bias"]
    return _judged(spec, p, out)


def test_attention_mistakes_are_named():
    assert _student_attention().ok
    assert "attention_softmax_elementwise" in _named(_student_attention("diagonal"))
    assert "attention_scale_forgotten" in _named(_student_attention("scale"))


# --- layer norm and an embedding, by hand ----------------------------------------------------

TOKENS = [[1, 2, 2, 0], [3, 3, 1, 2]]


def _embedding_spec():
    return _spec([{"type": "Embedding", "num_embeddings": 4, "embedding_dim": 3},
                  {"type": "LayerNorm"}, {"type": "Linear", "out_features": 4}], [4], TOKENS,
                 [[2, 2, 0, 1], [3, 1, 2, 0]], loss="cross_entropy", seed=6)


def _student_embedding(mistake=None):
    spec = _embedding_spec()
    p = _leaves(spec)
    index = torch.tensor(TOKENS)
    rows = p["0.weight"][index]
    rows.retain_grad()
    axes = (0, 1) if mistake == "axis" else (-1,)
    mean = rows.mean(dim=axes, keepdim=True)
    var = ((rows - mean) ** 2).mean(dim=axes, keepdim=True)
    y = (rows - mean) / torch.sqrt(var + 1e-5) * p["1.weight"] + p["1.bias"]
    out = y @ p["2.weight"] + p["2.bias"]
    if mistake != "overwrite":
        return _judged(spec, p, out)
    t = torch.tensor([[2, 2, 0, 1], [3, 1, 2, 0]])
    torch.nn.functional.cross_entropy(out.reshape(-1, 4), t.reshape(-1)).backward()
    table = np.zeros((4, 3))
    for n in range(2):
        for position in range(4):  # each position's gradient assigned, not added
            table[TOKENS[n][position]] = rows.grad[n, position].numpy()
    grads = {name: leaf.grad.numpy() for name, leaf in p.items()}
    grads["0.weight"] = table
    return check_layered_tensors(spec, grads)


def test_layer_norm_and_embedding_mistakes_are_named():
    assert _student_embedding().ok
    assert "layer_norm_wrong_axis" in _named(_student_embedding("axis"))
    assert _named(_student_embedding("overwrite")) == {"embedding_gradient_overwritten"}


def test_every_sequence_mistake_is_exercised_here():
    sequence = {m for m, entry in LAYER_MISTAKES.items()
                if entry.layers[0] in ("RNN", "LSTM", "MultiheadAttention", "LayerNorm",
                                       "Embedding")}
    from pathlib import Path

    source = Path(__file__).read_text()
    assert sequence and all(f'"{m}"' in source for m in sequence)
