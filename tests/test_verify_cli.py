"""``chainrule verify``: every method side by side, exit status 1 on any disagreement."""

from __future__ import annotations

import dataclasses
import json
import sys

import pytest

import chainrule as cr
from chainrule.cli.main import main


def test_seed_agrees_three_ways(capsys):
    assert main(["verify"]) == 0
    out = capsys.readouterr().out
    assert "finite diff." in out and "PyTorch" in out and "symbolic" in out
    assert "W1[0,0]  -0.000555507945" in out
    assert out.rstrip().endswith("verdict: every method agrees")


def test_json_report(capsys):
    assert main(["verify", "examples/softmax.yaml", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["schema"] == "chainrule.verify/1" and report["ok"] is True
    row = report["parameters"]["W2"][0]
    assert row["element"] == "W2[0,0]"
    assert row["torch"] == pytest.approx(row["analytic"], rel=1e-10)
    assert row["symbolic"] == pytest.approx(row["analytic"], rel=1e-9)
    assert row["finite_differences"] == pytest.approx(row["analytic"], rel=1e-6)


def test_a_wrong_rule_is_caught_with_exit_status_1(monkeypatch, capsys):
    sigmoid = cr.PRIMITIVES["sigmoid"]
    wrong = dataclasses.replace(sigmoid, vjps=(lambda g, out, x: g * out,))
    monkeypatch.setitem(cr.PRIMITIVES, "sigmoid", wrong)
    assert main(["verify"]) == 1
    out = capsys.readouterr().out
    assert "DISAGREE" in out and "verdict: DISAGREEMENT in W1[0,0]" in out


def test_missing_optional_methods_are_named_not_failed(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "sympy", None)
    assert main(["verify"]) == 0
    out = capsys.readouterr().out
    assert "PyTorch: not run: PyTorch is not installed: pip install 'chainrule[torch]'" in out
    assert "symbolic: not run: sympy is not installed" in out


def test_too_large_for_sympy_still_verifies(capsys):
    spec = {"layers": [6, 6, 1], "activations": "tanh", "loss": "mse", "input": [0.1] * 6,
            "target": [0.5], "learning_rate": 0.1, "seed": 3}
    from chainrule.verify.report import verify

    report = verify(cr.parse_spec(spec))
    assert report.ok and report.methods["symbolic"].startswith("not run: symbolic: network")


def test_explain_symbolic_shows_the_formula(capsys):
    assert main(["explain", "--symbolic", "--param", "W2[0,0]", "--precision", "6"]) == 0
    out = capsys.readouterr().out
    assert "∂E/∂w²₁₁ (symbolic) = " in out and "exp(" in out and "= -0.005019" in out


def test_bce_needs_probabilities():
    with pytest.raises(cr.SpecError, match="loss: bce needs outputs in"):
        cr.parse_spec({"layers": [2, 1], "activations": "tanh", "loss": "bce",
                       "input": [1, 2], "target": [1], "learning_rate": 0.1})
