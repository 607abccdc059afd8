"""verify SPEC --tensors on a network of typed layers: someone's gradients, computed by their
own layer code (CS231n's functions, tests/fixtures/cs231n_cnn_layers.py) or by PyTorch with a
path cut, judged against the engine's step, and the layer mistake behind them named."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from chainrule.cli.main import main
from chainrule.errors import SpecError
from chainrule.spec.network import parse_spec
from chainrule.verify.layered_tensors import check_layered_tensors
from tests.test_layer_functions_cnn import SOURCE

SPEC = {"name": "two-convs", "input_shape": [1, 5, 5], "layers": [
    {"type": "Conv2d", "out_channels": 2, "kernel_size": 3, "padding": 1}, {"type": "ReLU"},
    {"type": "MaxPool2d", "kernel_size": 2, "stride": 1},
    {"type": "Conv2d", "out_channels": 2, "kernel_size": 2, "padding": 1},
    {"type": "Flatten"}, {"type": "Linear", "out_features": 3}, {"type": "Softmax"}],
    "loss": "cross_entropy", "inputs": np.random.default_rng(3).normal(size=(2, 1, 5, 5)).tolist(),
    "targets": [2, 0], "learning_rate": 0.1, "seed": 1}


def _student(tmp_path, mistake):
    """The step as a student's network of their own CS231n functions computes it."""
    path = tmp_path / f"student_{mistake}.py"
    path.write_text(SOURCE.replace("MISTAKE = None", f"MISTAKE = {mistake!r}"))
    loaded = importlib.util.spec_from_file_location(f"student_{mistake}", path)
    L = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(L)
    spec = parse_spec(SPEC)
    p = {k: v for k, v in spec.build_model().state_dict().items()}
    x, y = np.array(SPEC["inputs"]), np.array(SPEC["targets"])
    conv, pool = {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 1}
    z1, c1 = L.conv_forward_naive(x, p["0.weight"], p["0.bias"], conv)
    a1 = np.maximum(z1, 0)
    m1, cp = L.max_pool_forward_naive(a1, pool)
    z2, c2 = L.conv_forward_naive(m1, p["3.weight"], p["3.bias"], conv)
    flat = z2.reshape(len(x), -1)
    scores = flat @ p["5.weight"] + p["5.bias"]
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs = shifted / shifted.sum(axis=1, keepdims=True)
    loss = -np.log(probs[np.arange(len(x)), y]).mean()
    dscores = probs.copy()
    dscores[np.arange(len(x)), y] -= 1
    dscores /= len(x)
    dz2 = (dscores @ p["5.weight"].T).reshape(z2.shape)
    dm1, dw2, db2 = L.conv_backward_naive(dz2, c2)
    da1 = L.max_pool_backward_naive(dm1, cp)
    dx, dw1, db1 = L.conv_backward_naive(da1 * (z1 > 0), c1)
    return {"loss": loss, "0.weight": dw1, "0.bias": db1, "3.weight": dw2, "3.bias": db2,
            "5.weight": flat.T @ dscores, "5.bias": dscores.sum(axis=0),
            "gradients.input": dx, "forward.3": z2}


def test_a_students_correct_network_agrees(tmp_path):
    report = check_layered_tensors(parse_spec(SPEC), _student(tmp_path, None))
    assert report.ok and report.mistakes == [], str(report)
    assert [r.quantity for r in report.rows] == [
        "forward.3", "loss", "gradients.5.weight", "gradients.5.bias", "gradients.3.weight",
        "gradients.3.bias", "gradients.0.weight", "gradients.0.bias", "gradients.input"]
    assert str(report).endswith("All 9 tensors agree with chainrule's step.")


@pytest.mark.parametrize("mistake, first", [
    ("conv_kernel_not_flipped", "0.weight"),  # the second convolution's dx, into the first
    ("conv_padding_forgotten", "0.weight"),
    ("conv_weight_gradient_flipped", "3.weight"),
    ("max_pool_gradient_spread", "0.weight"),
])
def test_the_mistake_in_a_students_layers_is_named_from_the_networks_numbers(
        tmp_path, mistake, first):
    report = check_layered_tensors(parse_spec(SPEC), _student(tmp_path, mistake))
    assert not report.ok
    assert report.first_off.name == first, str(report)
    assert [m.id for m in report.mistakes] == [mistake]
    assert f"The numbers are those of the known mistake {mistake}" in report.verdict


def test_a_residual_whose_skip_path_is_cut_is_named():
    """PyTorch's own gradients with the identity path detached: the block's share only."""
    torch = pytest.importorskip("torch")
    spec = parse_spec({"name": "res", "input_shape": [2, 4, 4], "layers": [
        {"type": "Conv2d", "out_channels": 2, "kernel_size": 3, "padding": 1},
        {"type": "Residual", "layers": [
            {"type": "Conv2d", "out_channels": 2, "kernel_size": 3, "padding": 1},
            {"type": "Tanh"}]},
        {"type": "Flatten"}, {"type": "Linear", "out_features": 2}],
        "loss": "mse", "inputs": np.random.default_rng(0).normal(size=(2, 2, 4, 4)).tolist(),
        "targets": [[0.5, -1.0], [1.0, 0.0]], "learning_rate": 0.1})
    params = {k: torch.tensor(v, requires_grad=True)
              for k, v in spec.build_model().state_dict().items()}
    x, t = torch.tensor(spec.inputs), torch.tensor(spec.targets)
    F = torch.nn.functional
    h = F.conv2d(x, params["0.weight"], params["0.bias"], padding=1)
    block = torch.tanh(F.conv2d(h, params["1.block.0.weight"], params["1.block.0.bias"],
                                padding=1))
    out = (block + h.detach()).flatten(1) @ params["3.weight"] + params["3.bias"]
    ((out - t) ** 2).mean(dim=1).mean().backward()
    grads = {k: p.grad.numpy() for k, p in params.items()}
    report = check_layered_tensors(spec, grads)
    assert [r.name for r in report.rows if not r.close] == ["0.weight", "0.bias"]
    assert [m.id for m in report.mistakes] == ["residual_skip_gradient_dropped"]


def test_bad_names_are_one_line():
    with pytest.raises(SpecError, match=r"tensors: '0.wieght': not a quantity of this "
                                        r"network's step \(names: forward.0, "):
        check_layered_tensors(parse_spec(SPEC), {"0.wieght": np.zeros(3)})
    with pytest.raises(SpecError, match="is given twice"):
        check_layered_tensors(parse_spec(SPEC), {"0.bias": np.zeros(2),
                                                 "gradients.0.bias": np.zeros(2)})


def test_the_command_line(tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps({k: np.asarray(v).tolist() for k, v in
                                _student(tmp_path, "conv_weight_gradient_flipped").items()}))
    assert main(["verify", str(spec), "--tensors", str(mine), "-f", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["first_off"] == "3.weight"
    assert data["mistakes"][0]["alters"] == {"conv_weight_gradient.kernel": "flipped"}
