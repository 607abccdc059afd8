"""``chainrule verify``: every method side by side, exit status 1 on any disagreement."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys

import pytest

import chainrule as cr
from chainrule.cli.main import main


def test_seed_agrees_three_ways(capsys):
    """By default: finite differences, the NumPy reference and sympy, and PyTorch named as
    not run, with why, in the verdict too."""
    assert main(["verify"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.strip().startswith("element"))
    assert header.split()[1:6] == ["analytic", "finite", "diff.", "reference", "symbolic"]
    assert "W1[0,0]  -0.000555507945" in out
    assert "PyTorch: not run: not asked for (--torch adds it" in out
    verdict, why = out.rstrip().splitlines()[-2:]
    assert verdict == "verdict: the 3 methods that ran agree (finite diff., reference, symbolic)"
    assert why.startswith("  not run: PyTorch, not asked for (--torch adds it")


def test_sympys_values_are_remembered_for_the_same_network(monkeypatch, capsys, tmp_path):
    pytest.importorskip("sympy")
    assert main(["verify"]) == 0
    first = capsys.readouterr().out
    assert "symbolic: ran (sympy)\n" in first
    from chainrule.verify import symbolic

    def no_sympy(*args, **kwargs):
        raise AssertionError("derived again")

    monkeypatch.setattr(symbolic, "symbolic_values", no_sympy)
    assert main(["verify"]) == 0
    second = capsys.readouterr().out
    assert "symbolic: ran (sympy, in an earlier run on this same network: " in second
    assert second.split("\nW1\n")[1] == first.split("\nW1\n")[1]  # the same table
    assert main(["verify", "--no-cache"]) == 70  # the internal error of no_sympy: derived
    assert "AssertionError: derived again" in capsys.readouterr().err
    spec = tmp_path / "other.json"  # another weight: another network, derived again
    spec.write_text(json.dumps({"layers": [2, 2, 1], "activations": "sigmoid", "loss": "sse",
                                "input": [0.5, 0.3], "target": [0.7], "learning_rate": 0.1,
                                "seed": 5}))
    assert main(["verify", str(spec)]) == 70
    assert "AssertionError: derived again" in capsys.readouterr().err


def test_torch_on_request_makes_four(capsys):
    pytest.importorskip("torch")
    pytest.importorskip("sympy")
    assert main(["verify", "--torch"]) == 0
    out = capsys.readouterr().out
    assert "PyTorch: ran (PyTorch " in out and "not run" not in out
    assert out.rstrip().endswith("verdict: every method agrees")


def test_torch_only_with_the_engines_gradients(capsys, tmp_path):
    answers = tmp_path / "answers.json"
    answers.write_text("{}")
    assert main(["verify", "--torch", "--answers", str(answers)]) == 2
    assert capsys.readouterr().err.startswith("chainrule: error: --torch: checks the engine")


def test_a_wrong_reference_quantity_fails_the_report(monkeypatch, capsys):
    """The reference step checks the forward values and the update too, not only gradients."""
    from chainrule.verify import reference

    step = reference.reference_step

    def wrong_update(spec, alterations=reference.CORRECT):
        out = step(spec, alterations)
        out["updated.W1"] = out["updated.W1"] + 1.0
        return out

    monkeypatch.setattr(reference, "reference_step", wrong_update)
    assert main(["verify"]) == 1
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("reference disagrees"))
    assert line.startswith("reference disagrees: updated.W1[") and ", reference 1.4" in line
    assert "verdict: DISAGREEMENT in forward values, deltas or the update" in out


def test_json_report(capsys):
    assert main(["verify", "examples/softmax.yaml", "--format", "json", "--torch"]) == 0
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
    """Without sympy PyTorch is tried in its place; without either the verdict says that two
    methods ran, and which did not and why: not "every method agrees"."""
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "sympy", None)
    assert main(["verify"]) == 0
    out = capsys.readouterr().out
    assert "PyTorch: not run: PyTorch is not installed: pip install 'chainrule[torch]'" in out
    assert "symbolic: not run: sympy is not installed" in out
    assert out.rstrip().splitlines()[-3:] == [
        "verdict: the 2 methods that ran agree (finite diff., reference)",
        "  not run: symbolic, sympy is not installed: pip install 'chainrule[symbolic]'",
        "  not run: PyTorch, PyTorch is not installed: pip install 'chainrule[torch]'"]


def test_too_large_for_sympy_still_verifies(capsys):
    spec = {"layers": [6, 6, 1], "activations": "tanh", "loss": "mse", "input": [0.1] * 6,
            "target": [0.5], "learning_rate": 0.1, "seed": 3}
    from chainrule.verify.report import verify

    report = verify(cr.parse_spec(spec))
    assert report.ok and report.methods["symbolic"].startswith("not run: symbolic: network")
    if importlib.util.find_spec("torch") is not None:  # the third way, in sympy's place
        assert report.methods["torch"].startswith("ran (PyTorch")


def test_explain_symbolic_shows_the_formula(capsys):
    assert main(["explain", "--symbolic", "--param", "W2[0,0]", "--precision", "6"]) == 0
    out = capsys.readouterr().out
    assert "∂E/∂w²₁₁ (symbolic) = " in out and "exp(" in out and "= -0.005019" in out


def test_bce_needs_probabilities():
    with pytest.raises(cr.SpecError, match="loss: bce needs outputs in"):
        cr.parse_spec({"layers": [2, 1], "activations": "tanh", "loss": "bce",
                       "input": [1, 2], "target": [1], "learning_rate": 0.1})
