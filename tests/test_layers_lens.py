"""The layer lens: a network of typed layers explained layer by layer, every written-out sum
checked against the engine's gradient, in every format, through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from chainrule.explain.lens.layer_derivations import Focus
from chainrule.explain.lens.layers import explain_layers
from chainrule.explain.render.layers import render_layers
from chainrule.spec import parse_spec
from tests.test_layered_spec import RESNETISH, TINY, resnetish_batch


def resnetish():
    x, t = resnetish_batch(4)
    return parse_spec({**RESNETISH, "inputs": x.tolist(), "targets": t.tolist()})


@pytest.mark.parametrize("make", [lambda: parse_spec(TINY), resnetish], ids=["tiny", "resnet"])
def test_every_sum_written_out_equals_the_engines_gradient(make):
    trace = explain_layers(make())
    checked = [piece for layer in trace.steps[0].layers for piece in layer.pieces
               if piece.check is not None]
    assert checked and all(piece.check for piece in checked)
    kinds = {layer.type for layer in trace.steps[0].layers}
    if "Residual" in kinds:
        titles = [p.title for layer in trace.steps[0].layers for p in layer.pieces]
        assert any("the two paths" in t for t in titles)
        assert any("batch's statistics" in t for t in titles)
        assert any(t.startswith("the staged graph of channel") for t in titles)


def test_the_staged_batch_norm_graph_computes_each_step_of_the_three_terms():
    """The staged graph's numbers by hand: μ, d, d², σ², r, x̂ and their gradients for the
    focused element, as makemore's backprop-ninja cells compute them."""
    trace = explain_layers(resnetish(), focus=Focus.parse("1.input[2,0,1,1]"))
    layer = next(l for l in trace.steps[0].layers if l.type == "BatchNorm2d")
    staged = next(p for p in layer.pieces if p.title.startswith("the staged graph"))
    x = next(l for l in trace.steps[0].layers if l.path == "0").value[:, 0].reshape(-1)
    g = layer.grad[:, 0].reshape(-1)
    j = staged.title.split("element ")[1].split(" ")[0]
    j = int(j)
    mu, d = x.mean(), x - x.mean()
    var = (d * d).mean()
    r = 1 / np.sqrt(var + 1e-5)
    gamma = 1.0  # BatchNorm2d's default weight
    dxhat = gamma * g
    dr = (dxhat * d).sum()
    dvar = dr * -0.5 * (var + 1e-5) ** -1.5
    dd = dxhat * r + 2 * d * dvar / len(x)
    dmu = -dd.sum()
    by_node = {row[0].split("[")[0]: row for row in staged.rows}
    for node, value, grad in (("μ", mu, dmu), ("d", d[j], dd[j]), ("σ²", var, dvar),
                              ("r", r, dr), ("x", x[j], dd[j] + dmu / len(x))):
        assert float(by_node[node][2]) == pytest.approx(value, rel=2e-3), node
        assert float(by_node[node][3]) == pytest.approx(grad, rel=2e-3, abs=1e-6), node
    assert staged.check


def test_the_step_is_plain_gradient_descent_and_lowers_this_loss():
    spec = parse_spec(TINY)
    step = explain_layers(spec).steps[0]
    model = spec.build_model()
    z, a, activation = model.head(spec.inputs[None])
    from chainrule.nn import output_loss

    loss = output_loss(spec.loss, z, a, activation, spec.targets[None])
    loss.backward()
    for name, p in model.named_parameters():
        np.testing.assert_allclose(step.gradients[name], p.grad, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(step.updated[name], p.data - 0.1 * p.grad, rtol=1e-12)
    assert step.loss == pytest.approx(float(loss.data), rel=1e-12)
    assert step.loss_after < step.loss


def test_param_focuses_the_derivation_on_one_element():
    trace = explain_layers(parse_spec(TINY), focus=Focus.parse("0.weight[0,0,1,0]"))
    conv = next(layer for layer in trace.steps[0].layers if layer.type == "Conv2d")
    assert conv.pieces[1].title.startswith("∂E/∂W[0,0,1,0]")
    # the sum over the 3 × 3 positions: x[0,0,p+1,q] δ[0,0,p,q]
    assert conv.pieces[1].lines[0] == "∂E/∂W[0,0,1,0] = Σₙ Σ_pq x[n,0,p+1,q] · δ[n,0,p,q]"


def test_max_pool_routes_each_window_to_its_first_maximum():
    data = {**TINY, "input": [[[1.0, 1.0, 0.0, 2.0], [0.0, 0.0, 2.0, 2.0], [3.0, 0.0, 0.0, 0.0],
                               [0.0, 0.0, 0.0, 1.0]]],
            "input_shape": [1, 4, 4],
            "layers": [{"type": "MaxPool2d", "kernel_size": 2}, {"type": "Flatten"},
                       {"type": "Linear", "out_features": 3}]}
    trace = explain_layers(parse_spec(data))
    pool = trace.steps[0].layers[0]
    rows = pool.pieces[1].rows
    assert [(r[2], r[3], r[5]) for r in rows] == [
        ("[0,0]", "[0,0]", "2"), ("[0,1]", "[0,3]", "3"), ("[1,0]", "[2,0]", ""),
        ("[1,1]", "[3,3]", "")]
    grid = pool.pieces[2].array
    assert np.count_nonzero(grid) <= 4 and grid[0, 1] == 0 and grid[1, 2] == 0


@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "json"])
def test_every_format_renders_the_same_numbers(fmt):
    trace = explain_layers(resnetish())
    out = render_layers(trace, fmt)
    assert "<script>" not in out or fmt == "html"
    if fmt == "json":
        data = json.loads(out)
        assert data["schema"] == "chainrule.layers/1"
        assert data["steps"][0]["loss"] == pytest.approx(trace.loss)
        return
    assert "E after the update" in out and "three-term" in out


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True,
                          text=True, cwd=cwd)


def test_the_cli_explains_and_verifies_the_shipped_digits_cnn_and_refuses_in_one_line(tmp_path):
    from pathlib import Path

    example = str(Path(__file__).parents[1] / "examples" / "digits-cnn.yaml")
    result = run("explain", example, "--only", "backward")
    assert result.returncode == 0, result.stderr
    assert "BatchNorm2d(32)" in result.stdout and "≠" not in result.stdout
    for args, message in ((("--param", "9.wieght"), "--param: no parameter '9.wieght'"),):
        bad = run("explain", example, *args)
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
        assert message in bad.stderr
    checked = run("verify", example, "--no-cache")  # its 21,578 elements: a line each
    assert checked.returncode == 0, checked.stderr
    assert "0.weight        288" in checked.stdout and "verdict: the " in checked.stdout


@pytest.mark.parametrize("name", ["cnn.yaml", "digits-cnn.yaml"])
def test_the_example_networks_gradients_agree_with_central_differences(name):
    """The engine's ∂E/∂θ of each shipped network of typed layers, at 40 elements drawn at
    random (every element of the small one), against (E(θ + h) − E(θ − h)) / 2h."""
    from pathlib import Path

    from chainrule.autodiff.engine import no_grad
    from chainrule.nn import output_loss
    from chainrule.spec import load_spec

    spec = load_spec(Path(__file__).parents[1] / "examples" / name)
    model = spec.build_model()
    x, t = spec.inputs[None], spec.targets[None]

    def loss() -> float:
        z, a, activation = model.head(x)
        return output_loss(spec.loss, z, a, activation, t)

    loss().backward()
    rng = np.random.default_rng(0)
    for pname, p in model.named_parameters():
        count = min(p.data.size, 40)
        for flat in rng.choice(p.data.size, size=count, replace=False):
            index = np.unravel_index(int(flat), p.data.shape)
            keep, h = p.data[index], 1e-6
            with no_grad():
                p.data[index] = keep + h
                up = float(loss().data)
                p.data[index] = keep - h
                down = float(loss().data)
            p.data[index] = keep
            assert p.grad[index] == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-8), \
                f"{pname}{list(index)}"


def test_an_overflowing_batch_variance_is_one_line_not_a_silent_zero(tmp_path):
    """An input of −1e308 makes batch norm's variance inf and x̂ = 0 everywhere: finite
    outputs that lost their value. explain and verify stop, naming the statistics."""
    from pathlib import Path

    import yaml

    data = yaml.safe_load((Path(__file__).parents[1] / "examples" / "digits-cnn.yaml")
                          .read_text())
    data["input"][0][0][4] = -1e308
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(data))
    for command in ("explain", "verify"):
        result = run(command, str(path))
        assert result.returncode == 2 and result.stdout == "", result.stdout[-300:]
        assert result.stderr == (f"chainrule: error: {command}: 1.running_var[0] overflowed "
                                 "to inf in the forward pass: the batch statistics of layer 1 "
                                 "overflowed (inputs or weights too large for float64)\n")
