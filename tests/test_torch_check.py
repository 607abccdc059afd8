"""The PyTorch cross-check: specs built twice, every quantity of the trace compared.

Every test needs PyTorch except the last, which checks the error raised without it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
from chainrule.errors import MissingDependency
from chainrule.verify.torch_check import TorchReport, compare, torch_crosscheck

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="PyTorch is not installed")

EXAMPLES = sorted(str(p) for p in (Path(__file__).parent.parent / "examples").iterdir()
                  if isinstance(cr.load_spec(p), cr.Spec))  # typed layers: test_layered_spec
ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "softmax", "identity")
LOSSES = ("sse", "half_sse", "mse", "bce", "cross_entropy")


def expected_quantities(spec: cr.Spec) -> set[str]:
    """Every z, a, delta, gradient and updated parameter of step 1, plus the losses."""
    depth = len(spec.layers) - 1
    names = {"forward.loss", "loss_after"}
    for l in range(1, depth + 1):
        names |= {f"forward.z{l}", f"forward.a{l}", f"backward.delta{l}"}
    for name, _ in spec.build_model().named_parameters():
        names |= {f"gradients.{name}", f"updated.{name}"}
    from_logits = (spec.loss, spec.activations[-1]) in (
        ("cross_entropy", "softmax"), ("bce", "sigmoid"))
    if not from_logits:  # a{L} is on the loss's path only then
        names.add(f"backward.dE_da{depth}")
    if spec.batched:
        names.add("forward.example_losses")
    return names


@needs_torch
@pytest.mark.parametrize("source", ["seed", *EXAMPLES], ids=lambda s: Path(s).name)
def test_example_specs_agree_with_torch(source):
    report = torch_crosscheck(source)
    assert isinstance(report, TorchReport)
    assert report.ok, str(report)
    assert report.failures == []
    assert {c.quantity for c in report.comparisons} == expected_quantities(cr.load_spec(source))
    for c in report.comparisons:
        assert c.max_rel_error < 1e-10, c.quantity
        assert c.chainrule.shape == c.torch.shape, c.quantity


@needs_torch
def test_report_renders_and_serialises():
    import torch

    threads = torch.get_num_threads()
    report = torch_crosscheck(cr.load_spec("seed"), rtol=1e-9, atol=1e-11)
    assert torch.get_num_threads() == threads  # the user's setting is left alone
    assert (report.rtol, report.atol) == (1e-9, 1e-11)
    assert report.torch_version == torch.__version__
    text = str(report).splitlines()
    assert text[0].split() == ["quantity", "max", "abs", "error", "max", "rel", "error", "ok"]
    assert len({len(line) for line in text[1:-1]}) == 1  # the columns line up
    assert text[-1].startswith("all 17 quantities agree with PyTorch")
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["ok"] is True
    first = data["comparisons"][0]
    # the same sums in another order (OpenBLAS's kernels differ by CPU): equal to the last
    # bits, not bit for bit
    assert first["quantity"] == "forward.z1"
    assert first["chainrule"] == pytest.approx(first["torch"], rel=4e-16, abs=0)


@needs_torch
def test_every_step_is_compared():
    data = {"layers": [2, 3, 1], "activations": ["tanh", "sigmoid"], "loss": "bce",
            "input": [0.4, -0.7], "target": [1.0], "learning_rate": 0.3, "seed": 3,
            "optimizer": {"momentum": 0.9, "nesterov": True}, "steps": 3}
    report = torch_crosscheck(data)
    assert report.ok, str(report)
    names = {c.quantity for c in report.comparisons}
    assert {"gradients.W1", "step2.gradients.W1", "step3.updated.b2"} <= names
    assert "step4.loss_after" not in names


@st.composite
def random_specs(draw) -> dict:
    depth = draw(st.integers(1, 3))
    layers = [draw(st.integers(1, 4)) for _ in range(depth + 1)]
    loss = draw(st.sampled_from(LOSSES))
    activations = [draw(st.sampled_from(ACTIVATIONS)) for _ in range(depth)]
    if loss == "bce":
        activations[-1] = "sigmoid"  # probabilities out
    bias = draw(st.sampled_from(("per_unit", "shared_per_layer", "none")))
    batch = draw(st.sampled_from((None, 1, 3)))  # None: one example, unbatched
    # Numbers come from a seeded generator, not from hypothesis: values drawn that way are
    # never exactly at a kink (relu at 0), where summation order could pick another branch.
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rows = () if batch is None else (batch,)
    n_out = layers[-1]
    spec = {
        "layers": layers, "activations": activations, "loss": loss, "bias": bias,
        "weights": [rng.uniform(-1.5, 1.5, (i, o)).tolist() for i, o in zip(layers, layers[1:])],
        "learning_rate": draw(st.sampled_from((0.01, 0.1, 0.5))),
        "steps": draw(st.integers(1, 2)),
    }
    if bias != "none":
        spec["biases"] = [rng.uniform(-0.5, 0.5, o if bias == "per_unit" else 1).tolist()
                          for o in layers[1:]]
    inputs = rng.uniform(-2, 2, (*rows, layers[0])).tolist()
    if loss == "bce":
        targets = rng.uniform(0, 1, (*rows, n_out))
        if draw(st.booleans()):
            targets = targets.round()  # hard 0/1 labels
    elif loss == "cross_entropy":
        classes = rng.integers(0, n_out, rows)
        targets = classes if draw(st.booleans()) else np.eye(n_out)[classes]
    else:
        targets = rng.uniform(-1, 1, (*rows, n_out))
    examples = ("input", "target") if batch is None else ("inputs", "targets")
    spec |= dict(zip(examples, (inputs, targets.tolist())))
    momentum = draw(st.sampled_from((0.0, 0.9)))
    nesterov = momentum > 0 and draw(st.booleans())
    spec["optimizer"] = {"momentum": momentum, "nesterov": nesterov,
                         "dampening": 0.0 if nesterov else draw(st.sampled_from((0.0, 0.5))),
                         "weight_decay": draw(st.sampled_from((0.0, 0.01)))}
    names = [f"{kind}{l}" for l in range(1, depth + 1)
             for kind in ("W", "b") if kind == "W" or bias != "none"]
    spec["frozen"] = draw(st.lists(st.sampled_from(names), unique=True, max_size=2))
    return spec


@needs_torch
@given(random_specs())
def test_random_specs_agree_with_torch(data):
    spec = cr.parse_spec(data)
    report = torch_crosscheck(spec)
    assert report.ok, f"{data}\n{report}"
    names = {c.quantity for c in report.comparisons}
    assert expected_quantities(spec) <= names
    for name in spec.frozen:  # a frozen parameter keeps its value on both sides
        updated = next(c for c in report.comparisons if c.quantity == f"updated.{name}")
        np.testing.assert_array_equal(updated.torch, spec.build_model().parameter(name).data)


@needs_torch
def test_a_wrong_vjp_in_chainrule_is_caught(monkeypatch):
    sigmoid = cr.PRIMITIVES["sigmoid"]

    def forgets_one_minus_sigma(g, out, x):
        return g * out  # σ' taken as σ rather than σ(1 − σ)

    wrong = dataclasses.replace(sigmoid, vjps=(forgets_one_minus_sigma,))
    monkeypatch.setitem(cr.PRIMITIVES, "sigmoid", wrong)
    report = torch_crosscheck("seed")
    assert not report.ok
    failing = {c.quantity for c in report.failures}
    assert any(name.startswith("backward.delta") for name in failing)
    assert any(name.startswith("gradients.W") for name in failing)
    assert not any(name.startswith("forward.") for name in failing)  # forward is untouched
    text = str(report)
    assert "FAIL" in text and "backward.delta2[0]: chainrule" in text
    assert text.splitlines()[-1].startswith(f"{len(failing)} of 17 quantities disagree")


def test_compare_tolerances_and_non_finite_values():
    inf, nan = np.inf, np.nan
    agree = compare("q", [inf, nan, 1.0, 0.0], [inf, nan, 1.0 + 1e-11, 1e-13], 1e-10, 1e-12)
    assert agree.ok and agree.max_abs_error == pytest.approx(1e-11)
    assert agree.max_rel_error == 1.0  # 0 against 1e-13: relatively far, absolutely close
    apart = compare("q", [inf, 2.0], [-inf, nan], 1e-10, 1e-12)
    assert not apart.ok and apart.max_abs_error == inf
    assert apart.detail() == "q[0]: chainrule inf, PyTorch -inf"
    assert apart.to_dict()["chainrule"] == [None, 2.0]
    assert not compare("q", [1.0], [1.0, 2.0], 1e-10, 1e-12).ok  # shapes differ


def test_without_torch_the_install_hint_is_given(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(MissingDependency) as caught:
        torch_crosscheck("seed")
    assert str(caught.value) == "PyTorch is not installed: pip install 'chainrule[torch]'"
    assert isinstance(caught.value, cr.ChainruleError)
