"""CS231n-style layer functions, run in the sandbox and judged against the engine."""

from __future__ import annotations

import json

import numpy as np
import pytest

from chainrule.cli.main import main
from chainrule.errors import ChainruleError
from chainrule.verify.impl import ImplError
from chainrule.verify.layer_functions import (
    LAYER_FUNCTIONS, check_layer_function, layer_inputs,
)
from chainrule.verify.layer_functions_cnn import CNN_FUNCTIONS

# written from the CS231n assignment's docstrings, independently of chainrule's engine
LAYERS = '''
import numpy as np

MISTAKE = {mistake!r}


def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1) @ w + (0 if MISTAKE == "bias_left_out" else b)
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    if MISTAKE == "dw_averaged_again":
        dw = dw / x.shape[0]
    db = dout.sum(axis=1 if MISTAKE == "db_summed_over_outputs" else 0)
    if MISTAKE == "transposed_dw":
        dw = dw.T
    return dx, dw, db


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    if MISTAKE == "relu_mask_without_upstream":
        return (cache > 0) * 1.0
    return dout * (cache > 0)


def softmax_loss(x, y):
    shifted = x - x.max(axis=1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    n = x.shape[0]
    loss = -np.log(p[np.arange(n), y]).mean()
    dx = p.copy()
    dx[np.arange(n), y] -= 1
    return loss, dx if MISTAKE == "dx_not_averaged" else dx / n


def svm_loss(x, y):
    n = x.shape[0]
    correct = x[np.arange(n), y][:, None]
    margins = np.maximum(0, x - correct + 1.0)
    margins[np.arange(n), y] = 0
    loss = margins.sum() / n
    positive = (margins > 0) * 1.0
    positive[np.arange(n), y] = -positive.sum(axis=1)
    return loss, positive / n
'''


@pytest.fixture()
def layers(tmp_path):
    def write(mistake=None):
        path = tmp_path / f"layers_{mistake}.py"
        path.write_text(LAYERS.format(mistake=mistake))
        return path
    return write


DENSE = [f for f in LAYER_FUNCTIONS if f not in CNN_FUNCTIONS]  # tests/test_layer_functions_cnn.py


@pytest.mark.parametrize("function", DENSE)
def test_correct_layer_functions_agree_with_the_engine(layers, function):
    report = check_layer_function(function, str(layers()))
    assert report.ok, str(report)
    assert [row.name for row in report.rows] == list(LAYER_FUNCTIONS[function].returns)


@pytest.mark.parametrize("function, mistake, output", [
    ("affine_forward", "bias_left_out", "out"),
    ("affine_backward", "dw_averaged_again", "dw"),
    ("affine_backward", "db_summed_over_outputs", "db"),
    ("relu_backward", "relu_mask_without_upstream", "dx"),
    ("softmax_loss", "dx_not_averaged", "dx"),
])
def test_a_known_layer_mistake_is_named(layers, function, mistake, output):
    report = check_layer_function(function, f"{layers(mistake)}:{function}")
    assert not report.ok
    row = next(r for r in report.rows if r.name == output)
    assert not row.close and row.mistake is not None and row.mistake.id == mistake
    assert all(r.close for r in report.rows if r.name != output)
    assert f"First off: {output}, which is the known mistake {mistake}" in str(report)


def test_a_transposed_gradient_is_a_shape_mismatch_not_a_reshape(layers):
    report = check_layer_function("affine_backward", str(layers("transposed_dw")))
    row = next(r for r in report.rows if r.name == "dw")
    assert row.shape == (5, 6) and row.expected_shape == (6, 5) and not row.close
    assert row.max_diff is None and "5×6 ≠ 6×5" in str(report)


def test_the_engine_truth_uses_a_random_upstream_gradient():
    inputs = layer_inputs()
    assert len(np.unique(np.round(inputs["dout"], 6))) == inputs["dout"].size
    assert np.all(np.abs(inputs["x"]) >= 0.05)  # no relu ties


def test_bad_calls_are_one_line(tmp_path, layers):
    with pytest.raises(ChainruleError, match="layer function 'conv_forward': expected one of"):
        check_layer_function("conv_forward", str(layers()))
    path = tmp_path / "few.py"
    path.write_text("def affine_backward(dout, cache):\n    return dout\n")
    with pytest.raises(ImplError, match=r"affine_backward\(\) returned 1 value, expected dx, "
                                        r"dw, db"):
        check_layer_function("affine_backward", str(path))


def test_the_command_line(layers, capsys):
    assert main(["verify", "--layer", "relu_backward", "--impl", str(layers())]) == 0
    assert "All 1 outputs agree" in capsys.readouterr().out
    code = main(["verify", "--layer", "softmax_loss", "--impl",
                 f"{layers('dx_not_averaged')}:softmax_loss", "-f", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and data["outputs"][1]["mistake"]["id"] == "dx_not_averaged"
    assert main(["verify", "--layer", "relu_backward"]) == 2
    assert "--layer: needs --impl" in capsys.readouterr().err
