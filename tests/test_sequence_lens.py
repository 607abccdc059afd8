"""Sequence networks in specs, explained and verified: backpropagation through time, the LSTM's
gates, layer norm, attention and embeddings, each recomputed quantity of the explanation held
to the engine's, and the engine's step held to finite differences, the NumPy reference and
PyTorch (every layer's output and gradient, every parameter's gradient)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from chainrule.cli.main import main
from chainrule.errors import SpecError
from chainrule.explain.lens.layer_derivations import Focus
from chainrule.explain.lens.layers import explain_layers
from chainrule.spec.network import parse_spec
from chainrule.verify.layered import verify_layered

RNG = np.random.default_rng(7)

HELLO = {"name": "hello", "input_shape": [4], "layers": [
    {"type": "Embedding", "num_embeddings": 4, "embedding_dim": 2},
    {"type": "RNN", "hidden_size": 2}, {"type": "Linear", "out_features": 4},
    {"type": "Softmax"}], "loss": "cross_entropy", "input": [0, 1, 2, 2],
    "target": [1, 2, 2, 3], "learning_rate": 0.1}

SPECS = {
    "rnn-char": HELLO,
    "lstm-last": {"input_shape": [3, 1], "layers": [
        {"type": "LSTM", "hidden_size": 2, "output": "last"},
        {"type": "Linear", "out_features": 1}], "loss": "mse",
        "input": [[0.5], [-0.2], [0.8]], "target": [0.3]},
    "gru-batch": {"input_shape": [3, 2], "layers": [
        {"type": "GRU", "hidden_size": 3}, {"type": "Linear", "out_features": 2}],
        "loss": "mse", "inputs": RNG.normal(size=(2, 3, 2)).tolist(),
        "targets": RNG.normal(size=(2, 3, 2)).tolist()},
    "rnn-deep-relu-truncated": {"input_shape": [5, 2], "layers": [
        {"type": "RNN", "hidden_size": 3, "num_layers": 2, "nonlinearity": "relu",
         "truncate": 2, "output": "last"}, {"type": "Linear", "out_features": 1}],
        "loss": "mse", "inputs": RNG.normal(size=(2, 5, 2)).tolist(),
        "targets": [[0.3], [-0.1]], "seed": 3},
    "lstm-truncated": {"input_shape": [5, 1], "layers": [
        {"type": "LSTM", "hidden_size": 2, "truncate": 2},
        {"type": "Linear", "out_features": 1}], "loss": "mse",
        "input": [[0.5], [-1], [0.2], [0.3], [0.9]],
        "target": [[0.1], [0.2], [0.3], [0.4], [0.5]]},
    "embedding-padding-layernorm": {"input_shape": [4], "layers": [
        {"type": "Embedding", "num_embeddings": 5, "embedding_dim": 4, "padding_idx": 0},
        {"type": "LayerNorm", "bias": False}, {"type": "Tanh"}, {"type": "Flatten"},
        {"type": "Linear", "out_features": 3}], "loss": "cross_entropy",
        "inputs": [[1, 2, 2, 0], [3, 3, 4, 0]], "targets": [0, 2]},
    "attention-block": {"input_shape": [4], "layers": [
        {"type": "Embedding", "num_embeddings": 5, "embedding_dim": 4},
        {"type": "PositionalEncoding"},
        {"type": "Residual", "layers": [
            {"type": "LayerNorm"},
            {"type": "MultiheadAttention", "num_heads": 2, "is_causal": True}]},
        {"type": "Residual", "layers": [
            {"type": "LayerNorm"}, {"type": "Linear", "out_features": 6}, {"type": "ReLU"},
            {"type": "Linear", "out_features": 4}]},
        {"type": "Linear", "out_features": 5}, {"type": "Softmax"}],
        "loss": "cross_entropy", "inputs": [[0, 1, 2, 3], [4, 4, 1, 0]],
        "targets": [[1, 2, 3, 4], [4, 1, 0, 2]], "seed": 2},
    "attention-batch-bce": {"input_shape": [3, 4], "layers": [
        {"type": "MultiheadAttention", "num_heads": 2}, {"type": "LayerNorm"},
        {"type": "Linear", "out_features": 2}, {"type": "Sigmoid"}], "loss": "bce",
        "inputs": RNG.normal(size=(2, 3, 4)).tolist(),
        "targets": RNG.uniform(size=(2, 3, 2)).tolist()},
}


def _spec(name):
    return parse_spec({"name": name, "learning_rate": 0.1, **SPECS[name]})


@pytest.mark.parametrize("name", SPECS)
def test_every_recomputed_quantity_of_the_explanation_is_the_engines(name):
    trace = explain_layers(_spec(name))
    checks = [(layer.path, piece.title) for layer in trace.steps[0].layers
              for piece in layer.pieces if piece.check is False]
    assert checks == []
    sequence = [layer for layer in trace.steps[0].layers if layer.type in (
        "RNN", "LSTM", "GRU", "LayerNorm", "MultiheadAttention", "Embedding")]
    assert sequence and all(any(p.check for p in layer.pieces) for layer in sequence)
    if "truncated" not in name:  # a truncated gradient need not descend
        assert trace.loss_after < trace.loss


@pytest.mark.parametrize("name", SPECS)
def test_the_engines_step_agrees_with_three_independent_computations(name):
    report = verify_layered(_spec(name))
    details = report.details
    assert details["reference_ok"] and details["torch_ok"], (details["reference"],
                                                             details["torch"])
    assert all(row.ok for row in report.rows)
    truncated = "truncated" in name
    assert report.methods["finite_differences"].startswith("not run" if truncated else "ran")
    if not truncated:  # every element differenced (these networks are small)
        assert details["finite_differences"]["checked"] >= 0.9 * details[
            "finite_differences"]["elements"]


def test_bptt_explained_by_hand_numbers():
    """The RNN's tables, recomputed here from the engine's recorded values: δ_t = ∂E/∂h_t ·
    (1 − h_t²), ∂E/∂h_t's recurrent share W_hhᵀ·δ_(t+1), and ∂E/∂W_hh = Σ_t δ_t h_(t−1)ᵀ."""
    spec = parse_spec(HELLO)
    model = spec.build_model()
    rnn = model.modules[1].module
    rnn.record = {}
    from chainrule.autodiff.tensor import Tensor
    from chainrule.nn.losses import output_loss

    z = model.modules[2](rnn_out := model.modules[1](model.modules[0](
        np.array([[0, 1, 2, 2]], dtype=float))))
    loss = output_loss("cross_entropy", z, z, "identity", np.array([[1, 2, 2, 3]]))
    for t in rnn.record["h"][0]:
        t.retain_grad()
    loss.backward()
    h = np.stack([t.data[0] for t in rnn.record["h"][0]])
    dh = np.stack([t.grad[0] for t in rnn.record["h"][0]])
    delta = dh * (1 - h ** 2)
    w_hh = rnn.weight_hh_l0.data
    direct = dh.copy()
    direct[:-1] -= delta[1:] @ w_hh
    expected = sum(np.outer(delta[t], h[t - 1]) for t in range(1, 4))
    np.testing.assert_allclose(rnn.weight_hh_l0.grad, expected, rtol=1e-12, atol=1e-15)
    trace = explain_layers(spec, focus=Focus("1.weight_hh_l0", (1, 0)))
    rnn_layer = trace.steps[0].layers[1]
    backward = next(p for p in rnn_layer.pieces if p.title.startswith("Backward through"))
    assert [row[0] for row in backward.rows] == ["4", "3", "2", "1"]
    shown = next(p for p in rnn_layer.pieces if p.title.startswith("∂E/∂W_hh[1,0]"))
    assert shown.check and f"= {rnn.weight_hh_l0.grad[1, 0]:.4g}"[:8] in "\n".join(
        shown.lines).replace("−", "-")
    assert Tensor  # the engine's tensor type is what the record holds
    del rnn_out


def test_the_lstm_cell_path_is_the_product_of_the_forget_gates():
    trace = explain_layers(_spec("lstm-last"))
    lstm = trace.steps[0].layers[0]
    table = next(p for p in lstm.pieces if p.title.startswith("The cell path"))
    model = _spec("lstm-last").build_model()
    cell = model.modules[0].module
    cell.record = {}
    model.modules[0](np.array([[[0.5], [-0.2], [0.8]]]))
    f = [t.data[0] for t in cell.record["f"][0]]
    assert table.rows[-1][0] == "1"
    from chainrule.explain.lens.derivation_parts import vector

    assert table.rows[-1][2] == vector(f[1] * f[2])


def test_the_attention_page_draws_each_heads_weights_as_a_heatmap(tmp_path):
    path = tmp_path / "attention.json"
    path.write_text(json.dumps({"name": "attn", "learning_rate": 0.1,
                                **SPECS["attention-block"]}))
    out = tmp_path / "attention.html"
    assert main(["explain", str(path), "--format", "html", "-o", str(out)]) == 0
    page = out.read_text()
    assert page.count("Attention weights A, head") == 2
    assert "The softmax&#x27;s Jacobian" in page or "The softmax's Jacobian" in page
    # the causal mask: the weights above the diagonal are exactly 0
    trace = explain_layers(_spec("attention-block"))
    grid = next(p for layer in trace.steps[0].layers for p in layer.pieces
                if p.title.startswith("Attention weights A, head 0"))
    assert np.all(np.triu(grid.array, 1) == 0) and np.allclose(grid.array.sum(axis=1), 1)


@pytest.mark.parametrize("fmt", ["text", "markdown", "latex", "json"])
def test_every_format_renders_a_sequence_network(tmp_path, fmt, capsys):
    path = tmp_path / "lstm.json"
    path.write_text(json.dumps({"name": "lstm", "learning_rate": 0.1, **SPECS["lstm-last"]}))
    assert main(["explain", str(path), "--format", fmt]) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        data = json.loads(out)
        assert data["steps"][0]["input_grad"] is not None
    else:
        assert "∂E/∂c" in out or r"\partial E/\partial c_{t}" in out


@pytest.mark.parametrize("change, message", [
    ({"layers": [{"type": "Linear", "out_features": 2},
                 {"type": "Embedding", "num_embeddings": 4, "embedding_dim": 2}]},
     r"layers\[1\]: an Embedding takes the token indices, so it is the first layer"),
    ({"input": [0, 1, 4, 2]}, r"input\[2\]: expected a token index \(a whole number from 0 "
                              r"to 3"),
    ({"input": [0, 1, 1.5, 2]}, r"input\[2\]: expected a token index"),
    ({"target": [1, 2, 3]}, r"target: expected shape \(4, 4\)"),
    ({"layers": [{"type": "Embedding", "num_embeddings": 4, "embedding_dim": 2},
                 {"type": "RNN", "hidden_size": 2, "input_size": 3}]},
     r"layers\[1\]\.input_size: 3 given, but the layer before gives 2 features"),
    ({"layers": [{"type": "Embedding", "num_embeddings": 4, "embedding_dim": 3},
                 {"type": "MultiheadAttention", "num_heads": 2}]},
     r"layers\[1\]\.num_heads: 2 heads must divide the 3 features"),
    ({"layers": [{"type": "Embedding", "num_embeddings": 4, "embedding_dim": 2},
                 {"type": "LSTM", "hidden_size": 2, "output": "all"}]},
     r"layers\[1\]\.output: expected 'sequence' or 'last', got 'all'"),
    ({"layers": [{"type": "Embedding", "num_embeddings": 4, "embedding_dim": 2},
                 {"type": "RNN", "hidden_size": 2, "weight_hh_l1": [[1, 0], [0, 1]]}]},
     r"layers\[1\]\.weight_hh_l1: this RNN has no such parameter"),
    ({"layers": [{"type": "Embedding", "num_embeddings": 4, "embedding_dim": 2},
                 {"type": "RNN", "hidden_size": 2, "weight_hh_l0": [[1, 0]]}]},
     r"layers\[1\]\.weight_hh_l0: expected shape \(2, 2\)"),
    ({"layers": [{"type": "Embedding", "num_embeddings": 4, "embedding_dim": 2},
                 {"type": "RNN", "hidden_size": 2, "truncate": 0}]},
     r"layers\[1\]\.truncate: expected an integer ≥ 1"),
    ({"layers": [{"type": "Embedding", "num_embeddings": 4, "embedding_dim": 2},
                 {"type": "LayerNorm", "normalized_shape": 3}]},
     r"layers\[1\]\.normalized_shape: \[3\] must be the last axes"),
])
def test_a_bad_sequence_spec_gets_one_line_naming_the_field(change, message):
    with pytest.raises(SpecError, match=message):
        parse_spec({**HELLO, **change})


def test_given_weights_are_the_networks(tmp_path):
    """Weights given in PyTorch's layouts are used as given: the step is theirs."""
    import torch

    w_ih, w_hh = RNG.normal(size=(2, 2)), RNG.normal(size=(2, 2))
    spec = parse_spec({**HELLO, "layers": [
        {"type": "Embedding", "num_embeddings": 4, "embedding_dim": 2,
         "weight": (table := RNG.normal(size=(4, 2))).tolist()},
        {"type": "RNN", "hidden_size": 2, "weight_ih_l0": w_ih.tolist(),
         "weight_hh_l0": w_hh.tolist(), "bias_ih_l0": [0.1, 0.2], "bias_hh_l0": [0, 0]},
        {"type": "Linear", "out_features": 4}]})
    model = spec.build_model()
    out = model(np.array([[0, 1, 2, 2]], dtype=float)).data
    rnn = torch.nn.RNN(2, 2, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.tensor(w_ih))
        rnn.weight_hh_l0.copy_(torch.tensor(w_hh))
        rnn.bias_ih_l0.copy_(torch.tensor([0.1, 0.2], dtype=torch.float64))
        rnn.bias_hh_l0.zero_()
    h = rnn(torch.tensor(table[[0, 1, 2, 2]])[None])[0].detach().numpy()
    linear = dict(model.named_parameters())
    np.testing.assert_allclose(out, h @ linear["2.weight"].data + linear["2.bias"].data,
                               rtol=1e-12)


def test_a_long_sequence_is_summarised_in_text_and_drawn_whole_on_the_page(tmp_path, capsys):
    """Twenty positions: the text gives each query row's largest weight and where; the page
    draws the 20 × 20 attention matrix as a heatmap, each number on hover."""
    spec = {"name": "long", "learning_rate": 0.1, "input_shape": [20], "layers": [
        {"type": "Embedding", "num_embeddings": 6, "embedding_dim": 4},
        {"type": "MultiheadAttention", "num_heads": 2, "is_causal": True},
        {"type": "Linear", "out_features": 6}], "loss": "cross_entropy",
        "input": [i % 6 for i in range(20)], "target": [(i + 1) % 6 for i in range(20)]}
    path = tmp_path / "long.json"
    path.write_text(json.dumps(spec))
    assert main(["explain", str(path)]) == 0
    text = capsys.readouterr().out
    assert "(rows: queries, columns: keys) (20 × 20, one row a line):" in text
    assert "max (at column)" in text and "1.000 at 0" in text  # query 0 sees key 0 alone
    assert "(the 12 keys with the largest |∂E/∂S| of 20; each of the others the same way)" \
        in text
    out = tmp_path / "long.html"
    assert main(["explain", str(path), "--format", "html", "-o", str(out)]) == 0
    page = out.read_text()
    figure = page.split("Attention weights A, head 0")[1]
    heat = figure.split('<table class="grid heat">')[1].split("</table>")[0]
    assert heat.count("<tr>") == 20 and heat.count("<td") == 400


def test_the_loss_note_divides_by_the_examples_and_the_positions():
    """E is the mean over 2 examples × 4 positions, so ∂E/∂z = (softmax(z) − t)/8: the note
    says so, and the last Linear's δ is that."""
    batch = {k: v for k, v in HELLO.items() if k not in ("input", "target")}
    spec = parse_spec({**batch, "inputs": [[0, 1, 2, 2], [3, 2, 1, 0]],
                       "targets": [[1, 2, 2, 3], [2, 1, 0, 0]]})
    step = explain_layers(spec).steps[0]
    assert step.loss_note == [
        "E = −Σₖ tₖ ln softmax(z)ₖ (the mean over the batch's 2 examples and the 4 positions), "
        "taken from the logits z before the Softmax:", "∂E/∂z = softmax(z) − t, divided by 8"]
    z = step.layers[2].value
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    t = np.eye(4)[np.array([[1, 2, 2, 3], [2, 1, 0, 0]])]
    np.testing.assert_allclose(step.layers[2].grad, (p - t) / 8, rtol=1e-12, atol=1e-15)


def test_a_long_sequences_tables_show_its_first_and_last_steps():
    """30 steps: each table keeps steps 1–12 and 19–30 with a row for the 6 between; the
    sums over the steps still run over all 30 (and equal the engine's)."""
    spec = parse_spec({"name": "long-rnn", "input_shape": [30, 1], "layers": [
        {"type": "RNN", "hidden_size": 2}, {"type": "Linear", "out_features": 1}],
        "loss": "mse", "input": RNG.normal(size=(30, 1)).tolist(),
        "target": RNG.normal(size=(30, 1)).tolist(), "learning_rate": 0.1})
    rnn = explain_layers(spec).steps[0].layers[0]
    backward = next(p for p in rnn.pieces if p.title.startswith("Backward through"))
    assert [row[0] for row in backward.rows] == [str(t) for t in range(30, 18, -1)] + [
        "… 6 steps"] + [str(t) for t in range(12, 0, -1)]
    assert backward.check
    total = next(p for p in rnn.pieces if p.title.startswith("∂E/∂W_hh"))
    assert total.check and "(30 more terms)" not in total.lines[1]
