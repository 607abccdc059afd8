"""Specs of typed layers: every layer's shape, one-line errors, the network they build (held
to PyTorch's), its checkpoints (buffers and dropout generators kept) and its training."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from chainrule.errors import SpecError
from chainrule.optim import optimizers as optim
from chainrule.spec import parse_spec
from chainrule.spec.layered_spec import LayeredSpec
from chainrule.train.checkpoint import load_checkpoint, load_model, save_model
from chainrule.train.loop import fit

IMAGE = np.arange(16, dtype=float).reshape(1, 4, 4) / 10 - 0.7

TINY = {
    "input_shape": [1, 4, 4],
    "layers": [
        {"type": "Conv2d", "out_channels": 2, "kernel_size": 2},
        {"type": "ReLU"},
        {"type": "MaxPool2d", "kernel_size": 2, "stride": 1},
        {"type": "Flatten"},
        {"type": "Linear", "out_features": 3},
        {"type": "Softmax"},
    ],
    "loss": "cross_entropy", "input": IMAGE.tolist(), "target": 2, "learning_rate": 0.1,
}


def spec_with(**changes) -> dict:
    data = copy.deepcopy(TINY)
    data.update(changes)
    return data


def layers_with(index: int, **fields) -> dict:
    data = copy.deepcopy(TINY)
    data["layers"][index].update(fields)
    return data


def test_every_layer_shape_and_parameter_count_is_computed():
    spec = parse_spec(TINY)
    assert isinstance(spec, LayeredSpec)
    assert [row[2] for row in spec.shape_rows()] == [
        "(1, 4, 4)", "(2, 3, 3)", "(2, 3, 3)", "(2, 2, 2)", "(8,)", "(3,)", "(3,)"]
    assert [row[3] for row in spec.shape_rows()] == [0, 2 * 4 + 2, 0, 0, 0, 8 * 3 + 3, 0]
    assert spec.shape_rows()[1][1] == "Conv2d(1, 2, kernel_size=2)"
    model = spec.build_model()
    assert [(n, p.shape) for n, p in model.named_parameters()] == [
        ("0.weight", (2, 1, 2, 2)), ("0.bias", (2,)), ("4.weight", (8, 3)), ("4.bias", (3,))]
    assert model.activation == "softmax" and model.output_size == 3


def test_type_names_follow_pytorch_in_any_case_and_with_underscores():
    data = layers_with(2, type="max_pool2d")
    data["layers"][0]["type"] = "conv2d"
    assert [layer.type for layer in parse_spec(data).layers][:3] == [
        "Conv2d", "ReLU", "MaxPool2d"]


def test_the_same_seed_draws_the_same_network_and_another_seed_does_not():
    a, b = parse_spec(TINY).build_model(), parse_spec(TINY).build_model()
    c = parse_spec(spec_with(seed=1)).build_model()
    assert a.state_dict()["0.weight"].tobytes() == b.state_dict()["0.weight"].tobytes()
    assert a.state_dict()["0.weight"].tobytes() != c.state_dict()["0.weight"].tobytes()


def test_given_weights_are_used_and_shapes_are_checked():
    w = np.arange(8, dtype=float).reshape(2, 1, 2, 2) / 10
    spec = parse_spec(layers_with(0, weight=w.tolist(), bias=[0.5, -0.5]))
    model = spec.build_model()
    np.testing.assert_array_equal(model[0].weight.data, w)
    np.testing.assert_array_equal(model[0].bias.data, [0.5, -0.5])
    with pytest.raises(SpecError, match=r"^layers\[0\]\.weight: expected shape \(2, 1, 2, 2\) "
                                        r"\(out_channels, in_channels/groups, \*kernel_size\), "
                                        r"got \(2, 2, 2\)$"):
        parse_spec(layers_with(0, weight=w[:, 0].tolist()))
    assert parse_spec(layers_with(4, bias=False)).build_model()[4].bias is None


BAD = [
    (layers_with(0, kernel_size=5),
     r"^layers\[0\]: Conv2d: the kernel is 5 but the padded input is 4 \(size 4, padding 0\)$"),
    (layers_with(0, in_channels=3),
     r"^layers\[0\]\.in_channels: 3 given, but the layer before gives 1 \(\(1, 4, 4\)\)$"),
    (spec_with(layers=[TINY["layers"][0], {"type": "Linear", "out_features": 3}]),
     r"^layers\[1\]: Linear takes a flat input, got \(2, 3, 3\); put a \{\"type\": "
     r"\"Flatten\"\} layer before it \(18 values\)$"),
    (layers_with(1, type="Relu6"), r"^layers\[1\]\.type: unknown layer type 'Relu6'; did you "
                                   r"mean 'ReLU'\? known: Linear, Conv1d"),
    (layers_with(1, type=["ReLU"]), r"^layers\[1\]\.type: expected the name of a layer type "
                                    r"\(a string such as \"Conv2d\"\), got \['ReLU'\]$"),
    (layers_with(0, kernal_size=2), r"^layers\[0\]\.kernal_size: unknown field \(did you mean "
                                    r"'kernel_size'\?\)$"),
    (layers_with(0, out_channels=0), r"^layers\[0\]\.out_channels: expected an integer ≥ 1, "
                                     r"got 0$"),
    (layers_with(0, stride=[1]), r"^layers\[0\]\.stride: expected an integer ≥ 1 or a list of "
                                 r"them \(2 for an input with 2 spatial axes\), got \[1\]$"),
    (layers_with(2, padding=2), r"^layers\[2\]: MaxPool2d: padding \(2, 2\) must be at most "
                                r"half the kernel \(2, 2\)"),
    (spec_with(input_shape=[1, 4]), r"^layers\[0\]: Conv2d takes \(C, H, W\) per example, got "
                                    r"\(1, 4\)$"),
    (spec_with(input_shape=[1, 100, 101]), r"^input_shape: \[1, 100, 101\] is 10,100 values "
                                           r"per example; at most 10,000$"),
    (spec_with(layers=[{"type": "Conv2d", "out_channels": 4000, "kernel_size": 1}],
               input_shape=[3, 8, 8]),
     r"^layers\[0\]: Conv2d gives \(4000, 8, 8\), 256,000 values per example; a layer may "
     r"give at most 100,000$"),
    (spec_with(layers=[{"type": "Flatten"}, {"type": "Linear", "out_features": 100_000}]),
     r"^layers\[1\]: the network has 1,700,000 parameters up to this layer; a spec may have "
     r"at most 1,000,000$"),
    (spec_with(layers=TINY["layers"][:3]), r"^layers: the last layer gives \(2, 2, 2\) per "
                                           r"example; a loss needs one value per output unit"),
    (spec_with(input=[[0.0] * 4] * 4), r"^input: expected shape \(1, 4, 4\) \(input_shape "
                                       r"\[1, 4, 4\]\), got shape \(4, 4\)$"),
    (spec_with(target=3), r"^target: expected shape \(3,\) \(3 value\(s\) per example for 3 "
                          r"output unit\(s\) or a class index\), got shape \(\)$"),
    (spec_with(activations="relu"), r"^activations: not a field of a network of typed layers; "
                                    r"give each activation as a layer"),
    (spec_with(layers=[{"type": "Residual", "layers": [
        {"type": "Conv2d", "out_channels": 2, "kernel_size": 1}]}, {"type": "Flatten"},
        {"type": "Linear", "out_features": 3}]),
     r"^layers\[0\]: the block gives \(2, 4, 4\) per example but the input \(no shortcut\) "
     r"\(1, 4, 4\); a residual adds them"),
    (spec_with(layers=[{"type": "Residual", "layers": [{"type": "Conv2d", "out_channels": 1,
                                                        "kernel_size": 9}]}]),
     r"^layers\[0\]\.layers\[0\]: Conv2d: the kernel is 9"),
    (layers_with(0, groups=2), r"^layers\[0\]\.groups: 2 groups must divide the 1 input and 2 "
                               r"output channels$"),
    (spec_with(frozen=["0.wieght"]), r"^frozen\[0\]: no parameter '0.wieght'; this network has "
                                     r"0.weight, 0.bias, 4.weight, 4.bias$"),
    (spec_with(layers=[{"type": "Flatten"}, {"type": "BatchNorm1d"},
                       {"type": "Linear", "out_features": 3}]),
     r"^layers\[1\]: BatchNorm1d normalises each channel over the batch, and this one has 1 "
     r"value per channel; give a batch"),
    (spec_with(loss="bce", target=[0.0, 1.0, 0.0], layers=TINY["layers"][:5]),
     r"^loss: bce needs outputs in \(0, 1\), but the last layer is Linear"),
]


@pytest.mark.parametrize("data, message", BAD, ids=range(len(BAD)))
def test_a_bad_layer_is_one_line_naming_its_path(data, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(data)


def test_batch_norm_refuses_one_value_per_channel_as_pytorch_does():
    from chainrule.errors import ShapeError
    from chainrule.nn import BatchNorm1d

    with pytest.raises(ShapeError, match="more than 1 value per channel"):
        BatchNorm1d(3)(np.ones((1, 3)))


def test_the_mlp_shorthand_still_reads_and_refuses_input_shape():
    assert parse_spec({"layers": [2, 1], "loss": "mse", "input": [1, 2], "target": [1],
                       "learning_rate": 0.1}).layers == (2, 1)
    with pytest.raises(SpecError, match=r"^input_shape: for a network of typed layers"):
        parse_spec({"layers": [2, 1], "input_shape": [2], "loss": "mse", "input": [1, 2],
                    "target": [1], "learning_rate": 0.1})


RESNETISH = {
    "input_shape": [2, 5, 5],
    "layers": [
        {"type": "Conv2d", "out_channels": 3, "kernel_size": 3, "padding": 1, "stride": 2},
        {"type": "BatchNorm2d"},
        {"type": "Residual", "layers": [
            {"type": "Conv2d", "out_channels": 3, "kernel_size": 3, "padding": 1},
            {"type": "Tanh"}]},
        {"type": "Residual", "layers": [
            {"type": "Conv2d", "out_channels": 4, "kernel_size": 1}, {"type": "LeakyReLU"}],
         "shortcut": [{"type": "Conv2d", "out_channels": 4, "kernel_size": 1, "bias": False}]},
        {"type": "AvgPool2d", "kernel_size": 3},
        {"type": "Flatten"},
        {"type": "Dropout", "p": 0.25},
        {"type": "Linear", "out_features": 3},
        {"type": "BatchNorm1d"},
        {"type": "Sigmoid"},
    ],
    "loss": "bce", "learning_rate": 0.1, "seed": 4,
}


def resnetish_batch(n: int = 6):
    rng = np.random.default_rng(5)
    return rng.normal(size=(n, 2, 5, 5)), (rng.random((n, 3)) > 0.5).astype(float)


def test_a_network_of_every_layer_type_matches_pytorch_forward_and_backward():
    torch = pytest.importorskip("torch")
    x, t = resnetish_batch()
    spec = parse_spec({**RESNETISH, "inputs": x.tolist(), "targets": t.tolist()})
    model = spec.build_model()
    assert [row[2] for row in spec.shape_rows()][1:] == [
        "(3, 3, 3)", "(3, 3, 3)", "(3, 3, 3)", "(3, 3, 3)", "(3, 3, 3)", "(4, 3, 3)",
        "(4, 3, 3)", "(4, 3, 3)", "(4, 3, 3)", "(4, 1, 1)", "(4,)", "(4,)", "(3,)", "(3,)",
        "(3,)"]
    tn = torch.nn
    twin = tn.Sequential(
        tn.Conv2d(2, 3, 3, stride=2, padding=1), tn.BatchNorm2d(3),
        Res(tn.Sequential(tn.Conv2d(3, 3, 3, padding=1), tn.Tanh())),
        Res(tn.Sequential(tn.Conv2d(3, 4, 1), tn.LeakyReLU()), tn.Sequential(tn.Conv2d(3, 4, 1, bias=False))),
        tn.AvgPool2d(3), tn.Flatten(), tn.Dropout(0.25), tn.Linear(4, 3), tn.BatchNorm1d(3),
        tn.Sigmoid()).double()
    ours = dict(model.named_parameters())
    for name, p in twin.named_parameters():
        key = name.replace(".block.", ".block.").replace(".body.", ".block.")
        value = ours[key].data.T if name == "7.weight" else ours[key].data  # (out, in) there
        p.data = torch.tensor(np.ascontiguousarray(value))
    z, a, _ = model.head(x)
    dropout = model[6]
    mask = torch.tensor(dropout.mask.astype(float))

    class Masked(tn.Module):  # PyTorch's dropout with our mask: the same numbers
        def forward(self, v):
            return v * mask / 0.75
    twin[6] = Masked()
    xt = torch.tensor(x, requires_grad=True)
    out = twin(xt)
    np.testing.assert_allclose(a.data, out.detach().numpy(), rtol=1e-12, atol=1e-13)
    cotangent = np.random.default_rng(6).normal(size=a.shape)
    (a * cotangent).sum().backward()
    (out * torch.tensor(cotangent)).sum().backward()
    for name, p in twin.named_parameters():
        key = name.replace(".body.", ".block.")
        grad = p.grad.numpy().T if name == "7.weight" else p.grad.numpy()
        np.testing.assert_allclose(ours[key].grad, grad, rtol=1e-10, atol=1e-12, err_msg=name)
    for name, buffer in twin.named_buffers():
        np.testing.assert_allclose(dict(model.named_buffers())[name.replace(".body.", ".block.")],
                                   buffer.numpy(), rtol=1e-12, err_msg=name)


try:
    import torch as _torch

    class Res(_torch.nn.Module):
        def __init__(self, block, shortcut=None):
            super().__init__()
            self.block, self.shortcut = block, shortcut

        def forward(self, x):
            return self.block(x) + (x if self.shortcut is None else self.shortcut(x))
except ImportError:  # pragma: no cover - torch is a test dependency
    Res = None


def fitted(epochs, *, callbacks=(), checkpoint=None, resume=None):
    x, t = resnetish_batch(24)
    spec = parse_spec({**RESNETISH, "inputs": x[:2].tolist(), "targets": t[:2].tolist()})
    model = spec.build_model()
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    history = fit(model, x, t, loss="bce", optimizer=optimizer, epochs=epochs, batch_size=5,
                  seed=2, validation=(x[:6], t[:6]), callbacks=callbacks,
                  checkpoint=checkpoint, resume=resume)
    return model, history


def test_batch_norm_and_dropout_networks_resume_bit_for_bit(tmp_path):
    from tests.test_train import Recorder

    straight, _ = fitted(4)
    path = tmp_path / "run.npz"
    stopped, history = fitted(4, callbacks=[Recorder(stop_at=(2, 3))], checkpoint=path)
    assert history.stop_reason == "interrupted"
    state = load_checkpoint(path)
    assert set(state["buffers"]) == {"1.running_mean", "1.running_var",
                                     "1.num_batches_tracked", "8.running_mean",
                                     "8.running_var", "8.num_batches_tracked"}
    assert set(state["generators"]) == {"6.generator"}
    resumed, _ = fitted(4, resume=state, checkpoint=path)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert a.tobytes() == b.tobytes(), name
    assert int(straight[1].num_batches_tracked) == 4 * 5  # 24 examples in batches of 5


def test_a_saved_network_of_layers_loads_with_its_running_statistics(tmp_path):
    model, _ = fitted(2)
    save_model(tmp_path / "m.npz", model)
    loaded, state = load_model(tmp_path / "m.npz")
    assert state["architecture"]["kind"] == "layers"
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    x, _ = resnetish_batch(3)
    model.eval(), loaded.eval()
    np.testing.assert_array_equal(model(x).data, loaded(x).data)


def test_a_checkpoint_keeps_cumulative_batch_norm_and_every_option(tmp_path):
    data = spec_with(layers=[{"type": "BatchNorm2d", "momentum": None, "eps": 0.001},
                             {"type": "Flatten"}, {"type": "Dropout", "p": 0.1, "seed": 7},
                             {"type": "Linear", "out_features": 3}])
    model = parse_spec(data).build_model()
    save_model(tmp_path / "m.npz", model)
    loaded, _ = load_model(tmp_path / "m.npz")
    assert loaded.description == model.description
    assert loaded[0].momentum is None and loaded[0].eps == 0.001 and loaded[2].p == 0.1


def test_a_forged_architecture_is_refused_in_one_line(tmp_path):
    import json

    model = parse_spec(TINY).build_model()
    save_model(tmp_path / "m.npz", model)
    with np.load(tmp_path / "m.npz") as archive:
        arrays = {k: archive[k] for k in archive.files}
    meta = json.loads(str(arrays["meta"]))
    meta["architecture"]["layers"][0]["kernel_size"] = 50
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "forged.npz", **arrays)
    from chainrule.train.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match=r"^forged.npz: architecture.layers\[0\]: Conv2d: "
                                              r"the kernel is 50"):
        load_model(tmp_path / "forged.npz")
