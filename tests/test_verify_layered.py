"""verify of networks of typed layers: the engine beside finite differences, the textbook
NumPy reference (verify/reference_layers.py) and PyTorch's torch.nn layers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import chainrule as cr
from chainrule.cli.main import main
from chainrule.nn import functional
from chainrule.spec.network import parse_spec
from chainrule.verify import layered
from chainrule.verify.layered import EngineStep, sample, verify_layered
from chainrule.verify.reference_layers import layered_step

RNG = np.random.default_rng(7)


def _image_spec() -> dict:
    """Every layer type and geometry at once: strided, padded, dilated, grouped convolution,
    batch norm, a residual block with and one without a shortcut, padded max pool, average
    pool, dropout, a softmax head; three examples."""
    rng = np.random.default_rng(0)
    return {"name": "every-layer", "input_shape": [2, 7, 6], "layers": [
        {"type": "Conv2d", "out_channels": 4, "kernel_size": [3, 2], "stride": [2, 1],
         "padding": [1, 2], "dilation": [1, 2], "groups": 2},
        {"type": "BatchNorm2d"}, {"type": "LeakyReLU", "negative_slope": 0.2},
        {"type": "Residual", "layers": [
            {"type": "Conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
            {"type": "Tanh"}]},
        {"type": "MaxPool2d", "kernel_size": 2, "stride": 1, "padding": 1},
        {"type": "Residual", "layers": [{"type": "Conv2d", "out_channels": 3, "kernel_size": 1}],
         "shortcut": [{"type": "Conv2d", "out_channels": 3, "kernel_size": 1, "bias": False}]},
        {"type": "AvgPool2d", "kernel_size": 2}, {"type": "Dropout", "p": 0.3},
        {"type": "Flatten"}, {"type": "Linear", "out_features": 3}, {"type": "Softmax"}],
        "loss": "cross_entropy", "inputs": rng.normal(size=(3, 2, 7, 6)).tolist(),
        "targets": [0, 2, 1], "learning_rate": 0.1}


def _sequence_spec() -> dict:
    rng = np.random.default_rng(1)
    return {"name": "sequence", "input_shape": [2, 9], "layers": [
        {"type": "Conv1d", "out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 1},
        {"type": "BatchNorm1d"}, {"type": "ReLU"}, {"type": "MaxPool1d", "kernel_size": 2},
        {"type": "Flatten"}, {"type": "Linear", "out_features": 4}, {"type": "BatchNorm1d"},
        {"type": "Sigmoid"}, {"type": "Linear", "out_features": 2}, {"type": "Sigmoid"}],
        "loss": "bce", "inputs": rng.normal(size=(4, 2, 9)).tolist(),
        "targets": rng.integers(0, 2, (4, 2)).astype(float).tolist(), "learning_rate": 0.1}


SPECS = {"every-layer": _image_spec, "sequence": _sequence_spec}


def _agree(spec) -> None:
    step = EngineStep(spec)
    reference = layered_step(spec, step.before, step.buffers, step.masks)
    assert set(reference) == set(step.values)
    for name, ours in step.values.items():
        np.testing.assert_allclose(reference[name], ours, rtol=1e-10, atol=1e-12,
                                   err_msg=name)


@pytest.mark.parametrize("name", SPECS)
def test_the_reference_computes_every_quantity_the_engine_does(name):
    """Each layer's output and ∂E/∂ it, every gradient, the input's, the running
    statistics after the step and the loss, computed without the engine."""
    _agree(parse_spec(SPECS[name]()))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(d=st.sampled_from([1, 2]), kernel=st.integers(1, 3), stride=st.integers(1, 3),
       padding=st.integers(0, 2), dilation=st.integers(1, 2), groups=st.sampled_from([1, 2]),
       pool=st.sampled_from(["MaxPool", "AvgPool"]), pool_kernel=st.integers(1, 2),
       pool_stride=st.integers(1, 2), seed=st.integers(0, 2**16))
def test_the_reference_agrees_on_any_geometry(d, kernel, stride, padding, dilation, groups,
                                              pool, pool_kernel, pool_stride, seed):
    size = 7
    reach = dilation * (kernel - 1) + 1
    out = (size + 2 * padding - reach) // stride + 1
    if out < pool_kernel:
        return
    rng = np.random.default_rng(seed)
    shape = [2] + [size] * d
    spec = parse_spec({
        "input_shape": shape, "layers": [
            {"type": f"Conv{d}d", "out_channels": 4, "kernel_size": kernel, "stride": stride,
             "padding": padding, "dilation": dilation, "groups": groups},
            {"type": f"{pool}{d}d", "kernel_size": pool_kernel, "stride": pool_stride},
            {"type": "Flatten"}, {"type": "Linear", "out_features": 2}],
        "loss": "mse", "inputs": rng.normal(size=[2, *shape]).tolist(),
        "targets": rng.normal(size=(2, 2)).tolist(), "learning_rate": 0.1, "seed": seed})
    _agree(spec)


@pytest.mark.parametrize("name", SPECS)
def test_verify_passes_with_every_method(name):
    pytest.importorskip("torch")
    report = verify_layered(parse_spec(SPECS[name]()))
    assert report.ok
    assert [m for m, how in report.methods.items() if how.startswith("ran")] == [
        "finite_differences", "reference", "torch"]
    assert report.methods["finite_differences"] == \
        "ran (central differences, every element)"
    row = next(r for r in report.rows if r.key.startswith("0.weight[1,0,"))
    assert set(row.values) == {"finite_differences", "reference", "torch"}
    assert row.values["torch"] == pytest.approx(row.analytic, rel=1e-10)
    assert row.values["finite_differences"] == pytest.approx(row.analytic, rel=1e-5)


def test_a_wrong_convolution_rule_is_caught_by_all_three(monkeypatch):
    """The engine's kernel gradient written rotated 180° (a flip where there is none): every
    method disagrees at the kernel's elements, not only one."""
    pytest.importorskip("torch")
    conv = cr.PRIMITIVES["conv"]

    def flipped(g, out, wanted, x, w, **options):
        dx, dw = conv.vjp(g, out, wanted, x, w, **options)
        return dx, None if dw is None else dw[..., ::-1, ::-1].copy()

    wrong = dataclasses.replace(conv, vjp=flipped)
    monkeypatch.setitem(cr.PRIMITIVES, "conv", wrong)
    monkeypatch.setattr(functional, "_CONV", wrong)  # as nn.functional holds it
    report = verify_layered(parse_spec(_image_spec()))
    assert not report.ok
    row = next(r for r in report.rows if r.key == "0.weight[0,0,0,0]")
    assert row.agrees == {"finite_differences": False, "reference": False, "torch": False}
    assert any(f.startswith("gradients.0.weight") for f in report.details["torch"]["failures"])


def test_a_large_network_is_differenced_on_a_seeded_sample(monkeypatch):
    monkeypatch.setattr(layered, "MAX_DIFFERENCED", 40)
    spec = parse_spec(_image_spec())
    report = verify_layered(spec, torch=False)
    total = sum(p.size for p in spec.build_model().state_dict().values()) - sum(
        b.size for _, b in spec.build_model().named_buffers())
    checked = report.details["finite_differences"]["checked"]
    assert report.details["finite_differences"]["elements"] == total
    assert checked < total and checked >= 10  # every tensor keeps at least one element
    assert report.methods["finite_differences"] == (
        f"ran (central differences, {checked:,} of {total:,} elements, a seeded sample "
        "(seed 0))")
    differenced = [r for r in report.rows if "finite_differences" in r.values]
    assert len(differenced) == checked and report.ok
    assert report.methods["torch"] == "not run: not asked for"


def test_the_sample_takes_each_tensors_share_and_is_the_same_each_time():
    params = {"a": np.zeros((10, 10)), "b": np.zeros(3), "c": np.zeros((2, 50))}
    chosen = sample({k: cr.Tensor(v) for k, v in params.items()}, 40, 0)
    assert {k: len(v) for k, v in chosen.items()} == {"a": 19, "b": 1, "c": 19}
    assert chosen == sample({k: cr.Tensor(v) for k, v in params.items()}, 40, 0)
    assert len(set(chosen["a"])) == 19


def test_cli_verify_of_the_cnn_example(capsys):
    assert main(["verify", "examples/cnn.yaml", "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("tiny-cnn: gradients of a Conv2d → ReLU → MaxPool2d → Flatten → "
                          "Linear → Softmax network, checked independently")
    assert "0.weight[1,0,1,1]" in out and "verdict:" in out


def test_cli_verify_refuses_an_mlps_answers_for_a_cnn(capsys, tmp_path):
    answers = tmp_path / "answers.json"
    answers.write_text("{}")
    assert main(["verify", "examples/cnn.yaml", "--answers", str(answers)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--answers: judges an MLP's numbers" in err[0]
    assert "--tensors FILE" in err[0] and "--layer NAME --impl FILE.py" in err[0]


def test_a_network_too_large_to_check_is_refused_in_one_line():
    """Its layers' values for the batch bounded as explain's, before anything is computed."""
    spec = parse_spec({"name": "big", "input_shape": [1, 32, 32], "layers": [
        {"type": "Conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1},
        {"type": "Flatten"}, {"type": "Linear", "out_features": 2}], "loss": "mse",
        "inputs": np.zeros((16, 1, 32, 32)).tolist(), "targets": np.zeros((16, 2)).tolist(),
        "learning_rate": 0.1})
    with pytest.raises(cr.ChainruleError, match=r"^verify: 'big' has 524,320 layer values for "
                                                r"its 16 example\(s\); at most 200,000"):
        verify_layered(spec)
