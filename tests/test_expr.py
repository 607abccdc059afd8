"""The expression language of ``explain --expr``: what it computes (its refusals are in
test_expr_refusals.py).

A student's text is untrusted: every refusal is one ExprError line naming the construct and
its column, in bounded time, and nothing of the text is ever run.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ExprError, SpecError
from chainrule.expr.program import (
    FUNCTIONS, evaluate, is_expression_spec, load_expression_file, load_expression_spec,
    parse_at, parse_program,
)
from chainrule.finite import NonFiniteError


def run(text: str, at: str):
    return evaluate(parse_program(text), parse_at(at))


def gradients(evaluation) -> dict[str, float]:
    evaluation.output.backward()
    return {name: float(leaf.grad) for name, leaf in evaluation.leaves.items()}


def refused(call, *args, error=ExprError) -> ExprError:
    with pytest.raises(error) as caught:
        call(*args)
    message = str(caught.value)
    assert message and "\n" not in message and "Traceback" not in message, message
    assert "\x1b" not in message, message
    return caught.value


# --- what it computes ------------------------------------------------------------------------


def test_the_cs231n_circuit():
    evaluation = run("q = x + y; f = q * z", "x=-2,y=5,z=-4")
    assert evaluation.output.item() == -12.0
    assert gradients(evaluation) == {"x": -4.0, "y": -4.0, "z": 3.0}
    q, f = (step.tensor for step in evaluation.nodes)
    assert [step.name for step in evaluation.nodes] == ["q", "f"]
    assert evaluation.names == {id(evaluation.leaves["x"]): "x", id(evaluation.leaves["y"]): "y",
                                id(evaluation.leaves["z"]): "z", id(q): "q", id(f): "f"}
    # the engine's own graph: f = mul(q, z), q = add(x, y), float64 throughout
    assert f.op == "mul" and f._node.inputs == (q, evaluation.leaves["z"])
    assert q.op == "add" and f.dtype == np.float64


def test_newlines_and_comments_separate_statements_like_semicolons():
    text = "q = x + y   # the sum\n\n  f = q * z\n"
    assert gradients(run(text, "x=-2, y=5, z=-4")) == {"x": -4.0, "y": -4.0, "z": 3.0}


def test_a_reassigned_name_refers_to_its_latest_node():
    evaluation = run("a = x * 2; a = a + 1; f = a * a", "x=3")
    assert evaluation.output.item() == 49.0
    assert gradients(evaluation) == {"x": 28.0}  # d/dx (2x + 1)² = 4(2x + 1)
    first, second, _ = (step.tensor for step in evaluation.nodes)
    assert first is not second
    assert evaluation.names[id(first)] == evaluation.names[id(second)] == "a"


def test_an_input_may_be_reassigned_after_it_is_read():
    evaluation = run("x = x * x; f = x + 1", "x=3")
    assert evaluation.output.item() == 10.0 and gradients(evaluation) == {"x": 6.0}
    assert evaluation.names[id(evaluation.leaves["x"])] == "x"


def test_a_name_for_a_leaf_keeps_the_leaf_its_input_name_and_a_bare_last_expression():
    evaluation = run("a = x; b = a * 2; c = b; c + a", "x=1.5")
    assert evaluation.output.item() == 4.5 and gradients(evaluation) == {"x": 3.0}
    assert evaluation.names[id(evaluation.leaves["x"])] == "x"
    assert evaluation.names[id(evaluation.nodes[1].tensor)] == "c"  # the latest name wins
    assert evaluation.nodes[-1].name is None and id(evaluation.output) not in evaluation.names


def test_numbers_are_float64_constants_and_powers_are_never_python_integers():
    evaluation = run("f = x * 2 + 10 ** 3 - -0.5", "x=1")
    assert evaluation.output.item() == 1002.5 and gradients(evaluation) == {"x": 2.0}
    started = time.monotonic()
    with pytest.raises(NonFiniteError, match=r"column 10: 9 \*\* 9 \*\* 9 is inf"):
        run("f = 9 ** 9 ** 9 ** 9 * x", "x=1")  # right to left: 9 ** (9 ** 387,420,489) is inf
    assert time.monotonic() - started < 1


# NumPy's value and derivative of every function of the table, at a point away from kinks.
REFERENCE = {
    "exp": (np.exp, np.exp, (0.7,)),
    "log": (np.log, lambda x: 1 / x, (0.7,)),
    "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2, (0.7,)),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)),
                lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2, (0.7,)),
    "relu": (lambda x: np.maximum(x, 0), lambda x: float(x > 0), (-0.7,)),
    "leaky_relu": (lambda x, s=0.01: np.where(x > 0, x, s * x),
                   lambda x, s=0.01: np.where(x > 0, 1, s), (-0.7, 0.2)),
    "softplus": (lambda x: np.log1p(np.exp(x)), lambda x: 1 / (1 + np.exp(-x)), (0.7,)),
    "max": (np.maximum, lambda a, b: (float(a > b), float(b > a)), (0.7, -1.2)),
    "maximum": (np.maximum, lambda a, b: (float(a > b), float(b > a)), (-0.7, 1.2)),
    "min": (np.minimum, lambda a, b: (float(a < b), float(b < a)), (0.7, -1.2)),
    "minimum": (np.minimum, lambda a, b: (float(a < b), float(b < a)), (-0.7, 1.2)),
    "abs": (np.abs, np.sign, (-0.7,)),
    "sqrt": (np.sqrt, lambda x: 0.5 / np.sqrt(x), (0.7,)),
}


def test_every_function_has_a_reference():
    assert set(REFERENCE) == set(FUNCTIONS)


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_every_function_against_numpy(name):
    forward, derivative, point = REFERENCE[name]
    tensors = [f"t{i}" for i in range(len(point))]
    if FUNCTIONS[name].numeric:  # leaky relu's slope: a number in the text, not an input
        args, at = [tensors[0], repr(point[1])], f"t0={point[0]}"
        expected_grads = {"t0": float(derivative(*point))}
    else:
        args, at = tensors, ",".join(f"{t}={v}" for t, v in zip(tensors, point))
        expected = np.atleast_1d(derivative(*point))
        expected_grads = {t: float(g) for t, g in zip(tensors, expected)}
    evaluation = run(f"f = {name}({', '.join(args)})", at)
    assert evaluation.output.item() == pytest.approx(float(forward(*point)), rel=1e-15)
    assert gradients(evaluation) == pytest.approx(expected_grads, rel=1e-12)


def test_leaky_relu_without_a_slope_is_the_engines_default():
    assert run("f = leaky_relu(x)", "x=-2").output.item() == pytest.approx(-0.02)
    assert run("f = leaky_relu(x, -0.5)", "x=-2").output.item() == 1.0


def test_max_of_two_is_one_maximum_node_whose_tie_splits_the_gradient():
    evaluation = run("f = max(x, y)", "x=1,y=1")
    assert evaluation.output.op == "maximum"
    assert gradients(evaluation) == {"x": 0.5, "y": 0.5}


def test_the_graph_is_recorded_inside_no_grad():
    with cr.no_grad():
        evaluation = run("f = x * x", "x=3")
    assert gradients(evaluation) == {"x": 6.0}


# --- spec files -------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix, text", [
    (".json", json.dumps({"name": "circuit", "expression": "q = x + y; f = q * z",
                          "at": {"x": -2, "y": 5, "z": -4}})),
    (".toml", 'name = "circuit"\nexpression = "q = x + y; f = q * z"\n'
              "[at]\nx = -2\ny = 5\nz = -4\n"),
    (".yaml", "name: circuit\ndescription: CS231n\nexpression: |\n  q = x + y\n  f = q * z\n"
              "at: {x: -2, y: 5, z: -4}\n"),
])
def test_a_spec_file_holds_expression_and_at(tmp_path, suffix, text):
    path = tmp_path / f"circuit{suffix}"
    path.write_text(text)
    program, at = load_expression_file(path)
    assert program.name == "circuit" and at == {"x": -2.0, "y": 5.0, "z": -4.0}
    assert gradients(evaluate(program, at)) == {"x": -4.0, "y": -4.0, "z": 3.0}


@pytest.mark.parametrize("data, fragment, error", [
    ([1], "expected an object with fields expression and at", SpecError),
    ({"expresion": "f = x", "at": {"x": 1}}, "expresion: unknown field (did you mean "
                                             "'expression'?)", SpecError),
    ({"at": {"x": 1}}, "expression: required field is missing", SpecError),
    ({"expression": "f = x"}, "at: required field is missing", SpecError),
    ({"expression": 3, "at": {"x": 1}}, "expression: expected text", SpecError),
    ({"expression": "f = x", "at": [1]}, "at: expected names with numbers", SpecError),
    ({"expression": "f = x", "at": {"x": "1"}}, "at.x: expected a number", SpecError),
    ({"expression": "f = x", "at": {"x": True}}, "at.x: expected a number", SpecError),
    ({"expression": "f = x", "at": {"x y": 1}}, "at['x y']: 'x y' is not a name", SpecError),
    ({"expression": "f = x", "at": {"\x1b[2J": 1}}, "at['\\x1b[2J']: '\\x1b[2J' is not",
     SpecError),
    ({"expression": "f = x", "at": {"exp": 1}}, "at.exp: exp is a function", SpecError),
    ({"expression": "f = x", "at": {"x": 1}, "name": "a\x1bb"}, "name: control character",
     SpecError),
    ({"expression": "f = x.y", "at": {"x": 1}}, "c.json: expression: column 6: attribute",
     ExprError),
    ({"expression": "f = x", "at": {"x": 1, "w": 2}}, "c.json: at: w=2: the expression never "
                                                      "reads it", ExprError),
])
def test_spec_field_errors_name_the_file_and_field(data, fragment, error):
    problem = refused(load_expression_spec, data, "c.json", error=error)
    assert fragment in str(problem) and str(problem).startswith("c.json: "), str(problem)


def test_is_expression_spec():
    assert is_expression_spec({"expression": "f = x", "at": {}})
    assert not is_expression_spec({"layers": [2, 1]}) and not is_expression_spec([1])


def test_a_network_spec_loader_names_an_expression_spec_for_what_it_is():
    with pytest.raises(SpecError, match="this spec describes an expression"):
        cr.parse_spec({"expression": "f = x", "at": {"x": 1}})


# --- the docs follow the table ----------------------------------------------------------------


DOCS = Path(__file__).resolve().parents[1] / "docs" / "expressions.md"


def test_the_docs_list_exactly_the_functions_of_the_table():
    rows = [re.fullmatch(r"\| `(\w+\([^`]*\))` \| (.*) \|", line)
            for line in DOCS.read_text().splitlines()]
    documented = {row[1]: row[2] for row in rows if row}
    expected = {function.signature(name): function.meaning.replace("|", "\\|")
                for name, function in FUNCTIONS.items()}
    assert documented == expected


def test_the_docs_state_the_limits_the_code_enforces():
    from chainrule.expr import program as expr
    from chainrule.expr import text as expr_text

    text = DOCS.read_text()
    for module, constant in [(expr_text, "MAX_TEXT"), (expr_text, "MAX_PARENS"),
                             (expr_text, "MAX_DIGITS"), (expr_text, "MAX_STATEMENTS"),
                             (expr_text, "MAX_NODES"), (expr_text, "MAX_DEPTH"),
                             (expr_text, "MAX_NAME"), (expr, "MAX_VALUES")]:
        row = next(line for line in text.splitlines() if f"`{constant}`" in line)
        assert f"{getattr(module, constant):,}" in row, (constant, row)


def test_a_lone_carriage_return_inside_brackets_keeps_the_columns():
    error = refused(parse_program, "f = (x\r+ y.z)")
    assert error.column == 11


def test_long_lists_of_names_are_cut_in_messages():
    program = parse_program("f = " + " + ".join(f"x{i}" for i in range(100)) + " + w")
    error = refused(evaluate, program, {f"x{i}": 1.0 for i in range(100)})
    assert "x19, … (80 more)" in str(error) and len(str(error)) < 400
