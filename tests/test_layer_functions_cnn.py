"""CS231n's convolutional layer functions (conv, max pool, batch norm, dropout) judged by
``verify --layer``: a correct file agrees, each catalogued mistake is named at the output it
changes, and the mistakes' numbers are the textbook reference's with one part altered."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from chainrule.cli.main import main
from chainrule.verify.impl import ImplError
from chainrule.verify.layer_functions import check_layer_function
from chainrule.verify.layer_functions_cnn import CNN_FUNCTIONS, _pool_inputs
from chainrule.verify.layer_mistakes import LAYER_MISTAKES, candidates
from chainrule.verify.alterations import LAYER_KINDS

SOURCE = (Path(__file__).parent / "fixtures" / "cs231n_cnn_layers.py").read_text()


@pytest.fixture()
def layers(tmp_path):
    def write(mistake=None):
        path = tmp_path / f"layers_{mistake}.py"
        path.write_text(SOURCE.replace("MISTAKE = None", f"MISTAKE = {mistake!r}"))
        return path
    return write


@pytest.mark.parametrize("function", list(CNN_FUNCTIONS))
def test_correct_functions_agree_with_the_engine(layers, function):
    report = check_layer_function(function, str(layers()))
    assert report.ok, str(report)
    assert [row.name for row in report.rows] == list(CNN_FUNCTIONS[function].returns)


@pytest.mark.parametrize("function, mistake, output", [
    ("conv_backward_naive", "conv_kernel_not_flipped", "dx"),
    ("conv_backward_naive", "conv_padding_forgotten", "dx"),
    ("conv_backward_naive", "conv_weight_gradient_flipped", "dw"),
    ("max_pool_backward_naive", "max_pool_gradient_to_every_tie", "dx"),
    ("max_pool_backward_naive", "max_pool_gradient_spread", "dx"),
    ("batchnorm_forward", "batchnorm_unbiased_variance", "out"),
    ("batchnorm_backward", "batchnorm_unbiased_variance", "dx"),
    ("batchnorm_backward", "batchnorm_backward_without_mean_and_variance", "dx"),
    ("batchnorm_backward_alt", "batchnorm_backward_without_mean_and_variance", "dx"),
    ("spatial_batchnorm_backward", "batchnorm_backward_without_mean_and_variance", "dx"),
    ("dropout_forward", "dropout_p_as_drop_probability", "out"),
    ("dropout_forward", "dropout_forward_not_rescaled", "out"),
    ("dropout_backward", "dropout_mask_not_reused", "dx"),
    ("dropout_backward", "dropout_backward_not_rescaled", "dx"),
])
def test_each_known_mistake_is_named(layers, function, mistake, output):
    report = check_layer_function(function, str(layers(mistake)))
    assert not report.ok
    row = next(r for r in report.rows if r.name == output)
    assert not row.close and row.mistake is not None and row.mistake.id == mistake, str(report)
    assert f"First off: {output}, which is the known mistake {mistake}" in str(report)


def test_only_the_output_a_mistake_changes_is_off(layers):
    report = check_layer_function("conv_backward_naive", str(layers("conv_padding_forgotten")))
    assert [r.name for r in report.rows if not r.close] == ["dx"]
    report = check_layer_function("batchnorm_backward",
                                  str(layers("batchnorm_backward_without_mean_and_variance")))
    assert [r.name for r in report.rows if not r.close] == ["dx"]


def test_the_pool_inputs_hold_ties_where_the_first_maximum_decides():
    """Without ties the mask x == max and PyTorch's first maximum agree, and the mistake
    could not be seen."""
    x = _pool_inputs(np.random.default_rng(0))["x"]
    windows = x.reshape(2, 3, 3, 2, 3, 2).transpose(0, 1, 2, 4, 3, 5).reshape(2, 3, 3, 3, 4)
    tied = (windows == windows.max(axis=-1, keepdims=True)).sum(axis=-1) > 1
    assert 0 < tied.sum() < tied.size


def test_dropout_forward_is_judged_on_the_mask_it_drew(layers):
    report = check_layer_function("dropout_forward", str(layers()))
    (row,) = report.rows
    assert row.note.startswith("it kept 70.0% of the units; p = 0.7 keeps 70% ± 1.8%")
    assert "out: it kept" in str(report)


def test_a_backward_pass_without_its_forward_is_one_line(tmp_path):
    path = tmp_path / "only.py"
    path.write_text("def conv_backward_naive(dout, cache):\n    return cache\n")
    with pytest.raises(ImplError, match="no function 'conv_forward_naive' in only.py: the "
                                        "backward pass is given the cache of its forward"):
        check_layer_function("conv_backward_naive", str(path))


def test_every_layer_part_is_altered_by_some_mistake():
    """No part of LAYER_KINDS is dead: each is a choice a catalogued layer mistake makes."""
    altered = {(a.kind, a.part, a.value) for m in LAYER_MISTAKES.values() if m.alterations
               for a in m.alterations.items}
    assert {(k, p) for k, p, _ in altered} == {
        (kind, part) for kind, k in LAYER_KINDS.items() for part in k.parts}


def test_the_catalogue_offers_the_mistakes_a_spec_can_make():
    from chainrule.spec.network import parse_spec

    spec = parse_spec({"input_shape": [1, 4, 4], "layers": [
        {"type": "Conv2d", "out_channels": 2, "kernel_size": 2}, {"type": "ReLU"},
        {"type": "MaxPool2d", "kernel_size": 2, "stride": 1}, {"type": "Flatten"},
        {"type": "Linear", "out_features": 2}], "loss": "mse", "input": [[[0.0] * 4] * 4],
        "target": [0.0, 1.0], "learning_rate": 0.1})
    assert [m.id for m in candidates(spec)] == [
        "conv_kernel_not_flipped", "conv_weight_gradient_flipped", "conv_padding_forgotten",
        "max_pool_gradient_to_every_tie", "max_pool_gradient_spread"]


def test_the_command_line(layers, capsys):
    assert main(["verify", "--layer", "max_pool_backward_naive", "--impl", str(layers())]) == 0
    assert "All 1 outputs agree" in capsys.readouterr().out
    code = main(["verify", "--layer", "conv_backward_naive", "--impl",
                 str(layers("conv_kernel_not_flipped")), "-f", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [o["mistake"]["id"] if o["mistake"] else None for o in data["outputs"]] == [
        "conv_kernel_not_flipped", None, None]
