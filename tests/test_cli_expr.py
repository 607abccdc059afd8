"""chainrule explain --expr / --at, expression spec files, and cr.explain of any computation."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

import chainrule as cr
from chainrule.cli import main as cli

CIRCUIT = ["--expr", "q = x + y; f = q * z", "--at", "x=-2,y=5,z=-4"]
SCHEMA = json.loads((Path(cr.__file__).parent / "schemas" / "graph-1.schema.json").read_text())


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_cs231n_circuit_as_json(capsys):
    code, out, err = run(capsys, "explain", *CIRCUIT, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    jsonschema.validate(data, SCHEMA)
    nodes = {node["name"]: node for node in data["nodes"]}
    assert data["output"] == "f" and nodes["f"]["value"] == -12.0
    assert {k: nodes[k]["grad"] for k in "xyzq"} == {"x": -4.0, "y": -4.0, "z": 3.0, "q": -4.0}
    assert [node["name"] for node in data["nodes"]].index("q") < \
        [node["name"] for node in data["nodes"]].index("f")


@pytest.mark.parametrize("fmt, expected", [
    ("text", "∂f/∂x = ∂f/∂q·∂q/∂x = (-4.00)(1.00) = -4.00"),
    ("markdown", "$q = x + y = (-2.00) + 5.00 = 3.00$"),
    ("latex", r"\begin{document}"),
    ("html", '<script type="application/json" class="gp-data">'),
])
def test_every_format(capsys, tmp_path, fmt, expected):
    code, out, err = run(capsys, "explain", *CIRCUIT, "--format", fmt, "--precision", "2")
    assert code == 0, err
    assert expected in out.replace('": "', '":"'), out[:2000]
    target = tmp_path / f"circuit.{fmt}"
    assert run(capsys, "explain", *CIRCUIT, "--format", fmt, "--precision", "2", "-o",
               str(target))[0] == 0
    assert target.read_text(encoding="utf-8") == out


@pytest.mark.parametrize("suffix, body", [
    (".toml", 'expression = "q = x + y; f = q * z"\n[at]\nx = -2\ny = 5\nz = -4\n'),
    (".json", '{"expression": "q = x + y\\nf = q * z", "at": {"x": -2, "y": 5, "z": -4}}'),
    (".yaml", "expression: q = x + y; f = q * z\nat: {x: -2, y: 5, z: -4}\n"),
])
def test_an_expression_spec_file(capsys, tmp_path, suffix, body):
    path = tmp_path / f"circuit{suffix}"
    path.write_text(body)
    code, out, err = run(capsys, "explain", str(path), "--format", "json")
    assert code == 0, err
    grads = {n["name"]: n["grad"] for n in json.loads(out)["nodes"]}
    assert (grads["x"], grads["z"]) == (-4.0, 3.0)
    code, out, _ = run(capsys, "explain", str(path), "--format", "json", "--at", "z=2")
    grads = {n["name"]: n["grad"] for n in json.loads(out)["nodes"]}
    assert code == 0 and (grads["x"], grads["z"]) == (2.0, 3.0)  # --at wins over the file


@pytest.mark.parametrize("argv, fragment", [
    (["--expr", "f = x.__class__", "--at", "x=1"], "--expr: column 6: attribute access"),
    (["--expr", "f = __import__('os')", "--at", "x=1"], "unknown function '__import__'"),
    (["--expr", "f = x * x"], "also give --at"),
    (["--expr", "f = x * x", "--at", "x=1", "--param", "W1[0,0]"], "--param: for a network"),
    (["--expr", "f = x * x", "--at", "x=1", "--steps", "2"], "--steps: for a network"),
    (["seed", "--expr", "f = x * x", "--at", "x=1"], None),
    (["--at", "x=1"], "--at: only with --expr"),
    (["--expr", "f = x * x", "--at", "x=1_0"], "--at:"),
])
def test_refusals_are_one_line(capsys, argv, fragment):
    code, _, err = run(capsys, "explain", *argv)
    assert code == 2 and err.count("\n") == 1 and err.startswith("chainrule: error: "), err
    if fragment:
        assert fragment in err


def test_explain_dispatches_tensors_and_functions():
    x, y, z = cr.Tensor(-2.0, "x"), cr.Tensor(5.0, "y"), cr.Tensor(-4.0, "z")
    trace = cr.explain((x + y) * z)
    assert isinstance(trace, cr.GraphTrace) and trace.value == -12.0
    assert trace["x"].grad == -4.0
    assert repr(trace).startswith("GraphTrace(") and len(repr(trace)) < 100
    assert '<div class="gp-fragment"' in trace._repr_html_()
    by_function = cr.explain(lambda x, y, z: (x + y) * z, -2.0, 5.0, -4.0)
    assert by_function.gradients["x"] == -4.0 and by_function.gradients["z"] == 3.0
    with pytest.raises(TypeError, match="steps"):
        cr.explain((x + y) * z, steps=2)
    with pytest.raises(TypeError, match="function"):
        cr.explain("seed", 1.0)
    assert isinstance(cr.explain("seed"), cr.Trace)  # networks as before
