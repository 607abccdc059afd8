"""chainrule verify --expr: an expression's gradients by the engine, finite differences,
PyTorch and sympy, on the published circuits and on every function of the language."""

from __future__ import annotations

import json

import pytest

from chainrule.cli import main as cli
from chainrule.expr.program import parse_at, parse_program
from chainrule.expr.functions import FUNCTIONS
from chainrule.verify import expression as vx

CIRCUITS = [  # (program, values, the published gradients)
    ("q = x + y; f = q * z", "x=-2,y=5,z=-4", {"x": -4.0, "y": -4.0, "z": 3.0}),
    ("f = 2 * (x * y + max(z, w))", "x=3,y=-4,z=2,w=-1",
     {"x": -8.0, "y": 6.0, "z": 2.0, "w": 0.0}),
    ("n = x1*w1 + x2*w2 + b; o = tanh(n)", "x1=2,x2=0,w1=-3,w2=1,b=6.8813735870195432",
     {"x1": -1.5, "w1": 1.0, "x2": 0.5, "w2": 0.0, "b": 0.5}),
    ("f = 1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))", "w0=2,w1=-3,w2=-3,x0=-1,x1=-2",
     {"w0": -0.19661193, "x0": 0.39322387, "w1": -0.39322387, "x1": -0.58983580,
      "w2": 0.19661193}),
]


@pytest.mark.parametrize("text, at, published", CIRCUITS)
def test_published_circuits_agree_every_way(text, at, published):
    report = vx.verify_expression(parse_program(text), parse_at(at))
    assert report.ok and not report.kink
    assert all(state.startswith("ran") for state in report.methods.values()), report.methods
    for row in report.rows:
        # published to 8 decimals for the neuron, exactly for the others
        assert row.analytic == pytest.approx(published[row.key], abs=5e-9)
        assert set(row.values) == {"finite_differences", "torch", "symbolic"}
        assert row.values["torch"] == pytest.approx(row.analytic, rel=1e-12, abs=1e-15)
        assert row.values["symbolic"] == pytest.approx(row.analytic, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_of_the_language_is_checked_by_every_backend(name):
    torch = pytest.importorskip("torch")
    assert set(vx.torch_backend()[1].functions) == set(FUNCTIONS)
    assert set(vx.sympy_backend()[1].functions) == set(FUNCTIONS)
    call = {2: f"{name}(x, y)"}.get(len(FUNCTIONS[name].params), f"{name}(x)")
    if name == "leaky_relu":
        call = "leaky_relu(x, 0.2)"
    program = parse_program(f"f = {call} * y + x")
    report = vx.verify_expression(program, {"x": 0.7, "y": 1.3})
    assert report.ok, str(report)
    assert not report.kink and all(s.startswith("ran") for s in report.methods.values())
    del torch


def test_a_kink_is_named_and_torch_still_agrees_exactly():
    report = vx.verify_expression(parse_program("f = relu(x) + abs(y)"), {"x": 0.0, "y": 0.0})
    assert report.kink and report.ok
    by_key = {row.key: row for row in report.rows}
    assert by_key["x"].analytic == 0.0 and by_key["x"].values["torch"] == 0.0
    assert by_key["x"].values["finite_differences"] == pytest.approx(0.5)  # the mean slope


def test_a_wrong_rule_is_caught(monkeypatch):
    """The engine's tanh rule made wrong: every independent method disagrees with it."""
    import numpy as np

    import chainrule as cr
    from dataclasses import replace

    wrong = replace(cr.PRIMITIVES["tanh"], vjps=(lambda g, out, x: g * (1.0 - out),))
    monkeypatch.setitem(cr.PRIMITIVES, "tanh", wrong)
    report = vx.verify_expression(parse_program("f = tanh(x) * 2"), {"x": 0.5})
    assert not report.ok
    (row,) = report.rows
    assert row.analytic == pytest.approx(2 * (1 - np.tanh(0.5)))
    assert not any(row.agrees.values())


def test_the_cli(capsys, tmp_path):
    code = cli.main(["verify", "--expr", "q = x + y; f = q * z", "--at", "x=-2,y=5,z=-4",
                     "--format", "json"])
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(out)
    assert data["schema"] == "chainrule.verify/1" and data["ok"] and data["value"] == -12.0
    assert [row["element"] for row in data["inputs"]] == ["x", "y", "z"]
    spec = tmp_path / "circuit.yaml"
    spec.write_text("expression: f = x * x\nat: {x: 3}\n")
    assert cli.main(["verify", str(spec)]) == 0
    assert "verdict: every method agrees" in capsys.readouterr().out


def test_sympy_without_accurate_digits_is_no_check():
    """Found by the fuzzer: tanh′ at n ≈ −1e308 evaluated by sympy to 6e144 (no correct bit)."""
    report = vx.verify_expression(parse_program("n = x * w + b; o = tanh(n)"),
                                  {"x": -1e308, "w": 1.0, "b": 6.88})
    assert report.ok, str(report)
    assert "no accurate value" in report.methods["symbolic"]
    assert all(row.values.get("symbolic", 0.0) == pytest.approx(0.0, abs=1e-100)
               for row in report.rows)
