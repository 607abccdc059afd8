"""The expression language of ``explain --expr``: what it computes, and everything it refuses.

A student's text is untrusted: every refusal is one ExprError line naming the construct and
its column, in bounded time, and nothing of the text is ever run.
"""

from __future__ import annotations

import io
import json
import re
import string
import time
import tokenize
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import expr_syntax
from chainrule.errors import ChainruleError, ExprError, SpecError
from chainrule.expr import (
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


# --- what it refuses, with the column --------------------------------------------------------

REFUSALS = [
    ("f = x.__class__", "attribute access", 6),
    ("f = (x + y) . real", "attribute access", 13),
    ("f = x.exp()", "attribute access", 6),
    ("f = x[0]", "indexing", 6),
    ("f = lambda: 1", "a lambda", 5),
    ("f = [x for x in y]", "a comprehension", 5),
    ("f = (x for x in y)", "a comprehension", 5),
    ("__import__('os')", "unknown function '__import__'", 1),
    ("f = open('x')", "unknown function 'open'", 5),
    ("f = 2 * (x)(y)", "unknown function 'x'", 10),
    ("f = exp(x)(y)", "only a function's name can be called", 11),
    ("f = sigmod(x)", "did you mean sigmoid?", 5),
    ("f = exp(x=1)", "a keyword argument (x=...)", 9),
    ("f = exp(**x)", "a keyword argument (**...)", 9),
    ("f = max(*x)", "a starred argument", 9),
    ("f = 'x'", "a string", 5),
    ("f = b'x'", "bytes", 5),
    ("f = f'{x}'", "an f-string", 5),
    ("f = x < y", "a comparison", 7),
    ("f = x and y", "a boolean operator", 7),
    ("f = x if y else z", "an if-expression", 7),
    ("f = (a := x)", "an assignment expression (:=)", 8),
    ("f = [x, y]", "a list", 5),
    ("f = (x, y)", "a tuple", 5),
    ("f = {x: y}", "a dict", 5),
    ("f = x @ y", "the operator '@'", 7),
    ("f = x // y", "the operator '//'", 7),
    ("f = x % y", "the operator '%'", 7),
    ("f = not x", "the operator 'not'", 5),
    ("f = ~x", "the operator '~'", 5),
    ("f = True", "True is not part", 5),
    ("f = None", "None is not part", 5),
    ("f = 1j", "a complex number", 5),
    ("f = 0x10", "not a plain decimal", 5),
    ("f = 1_000", "not a plain decimal", 5),
    ("f = 1e999 * x", "not finite", 5),
    ("f = x * " + "9" * 101, "more than 100 digits", 9),
    ("import os", "a Python statement (import)", 1),
    ("q = x; from os import path", "a Python statement (from ... import)", 8),
    ("def f(): return 1", "a Python statement (def)", 1),
    ("del x", "a Python statement (del)", 1),
    ("x += 1", "augmented assignment (+=)", 3),
    ("x: float = 1", "an annotation", 2),
    ("a = b = x", "several names assigned at once", 5),
    ("a, b = x, y", "assignment to a tuple", 1),
    ("x[0] = y", "assignment to indexing", 1),
    ("exp = x", "exp is a function name", 1),
    ("f = exp", "exp is a function; call it: exp(x)", 5),
    ("f = exp(x, y)", "exp takes 1 argument (exp(x)), got 2", 5),
    ("f = max(x)", "max takes 2 arguments (max(a, b)), got 1", 5),
    ("f = leaky_relu(x, 0.1, 2)", "leaky_relu takes 1 or 2 arguments", 5),
    ("f = leaky_relu(x, y)", "slope must be a number written in the expression", 19),
    ("q = x + y; x * 2; f = q", "neither assigned to a name nor the last statement", 12),
    ("f = x +", "invalid syntax", 8),
    ("f = (x + y", "'(' was never closed", 5),
    ("f = x − y", "character '−' (U+2212); expressions are plain ASCII; write '-'", 7),
    ("f = ｘ", "(U+FF58)", 5),
    ("f = x\x00", "character '\\x00'", 6),
    ("f = " + "a" * 65, "a name of 65 characters", 5),
]


@pytest.mark.parametrize("text, fragment, column", REFUSALS,
                         ids=[text[:30] for text, _, _ in REFUSALS])
def test_refused_with_one_line_naming_the_construct_and_its_column(text, fragment, column):
    error = refused(parse_program, text)
    assert fragment in str(error)
    assert error.column == column and str(error).startswith(f"column {column}: "), str(error)


def test_a_multiline_program_names_line_and_column():
    error = refused(parse_program, "q = x + y\n  f = q.z")
    assert (error.line, error.column) == (2, 8) and str(error).startswith("line 2, column 8: ")
    error = refused(parse_program, "f = exp(\n  x.y)")  # a statement continued in brackets
    assert (error.line, error.column) == (2, 4)


def test_unknown_function_lists_the_table():
    assert ", ".join(FUNCTIONS) in str(refused(parse_program, "f = foo(x)"))


@pytest.mark.parametrize("text", ["", "   ", "# only a comment", ";;\n;"])
def test_an_empty_program_is_refused(text):
    assert "empty" in str(refused(parse_program, text))


@pytest.mark.parametrize("text, at, fragment, error", [
    ("f = x * w", "x=1", "column 9: w is read before any assignment and no value is "
                         "given for it; known names here: x", ExprError),
    ("f = xx * y", "x=1,y=2", "column 5: xx is read before any assignment and no value "
                              "is given for it (did you mean x?)", ExprError),
    ("q = a\nf = q * b", "a=1", "line 2, column 9: b is read before any assignment and "
                                "no value is given for it; known names here: a, q", ExprError),
    ("f = x * y", "x=1,y=2,z=3", "at: z=3: the expression never reads it (its inputs: x, y)",
     ExprError),
    ("f = x * yy", "x=1,yy=2,y=3", "at: y=3: the expression never reads it (its inputs: x, "
                                   "yy); did you mean yy?", ExprError),
    ("x = 2; f = x * y", "x=1,y=2", "at: x=1: the expression assigns it before reading it",
     ExprError),
    ("f = 2 * 3 + 0 * x; g = 2", "x=1", "column 20: the output g does not depend on any input",
     ExprError),
    ("f = log(x)", "x=-1", "column 5: log(x) is nan at these values", NonFiniteError),
    ("f = 2 * (1 / x)", "x=0", "column 10: 1 / x is inf at these values", NonFiniteError),
    ("f = exp(x) - exp(x)", "x=1000", "column 5: exp(x) is inf", NonFiniteError),
])
def test_evaluation_refusals(text, at, fragment, error):
    problem = refused(run, text, at, error=error)
    assert fragment in str(problem), str(problem)


@pytest.mark.parametrize("at, fragment", [
    ("x=-2,,y=5", "at: item 2 is empty"),
    ("x=-2,", "at: item 2 is empty"),
    ("", "at: no values given"),
    ("x", "at: item 1 'x': expected name=value"),
    ("x=abc", "at: x='abc': expected a plain decimal number"),
    ("x=1_0", "at: x='1_0': expected a plain decimal"),
    ("x=inf", "at: x='inf': expected a plain decimal"),
    ("x=\u0663", "expected a plain decimal"),  # an Arabic-Indic digit: Python's float takes it
    ("x=1e999", "at: x='1e999': not a finite number"),
    ("x=1,x=2", "at: x is given twice"),
    ("1x=2", "at: item 1: '1x' is not a name"),
    ("x.y=2", "at: item 1: 'x.y' is not a name"),
    ("if=2", "at: item 1: 'if' is not a name"),
    ("exp=2", "at: item 1: exp is a function"),
    ("=2", "at: item 1: '' is not a name"),
])
def test_at_refusals(at, fragment):
    assert fragment in str(refused(parse_at, at))


def test_at_reads_plain_decimals_with_spaces():
    assert parse_at(" x = -2 , y=5.5e1,z=+.5 ") == {"x": -2.0, "y": 55.0, "z": 0.5}


@pytest.mark.parametrize("at, fragment", [
    ({"x": True}, "at: x: expected a number"), ({"x": float("nan")}, "expected a finite"),
    ({"1x": 1.0}, "'1x' is not a name"), ([("x", 1.0)], "expected a mapping"),
])
def test_evaluate_checks_values_given_from_python(at, fragment):
    assert fragment in str(refused(evaluate, parse_program("f = x * 2"), at))


# --- limits: bounded before the work --------------------------------------------------------


@pytest.mark.parametrize("text, fragment", [
    ("(" * 5000 + "x" + ")" * 4999, "column 51: brackets nested more than 50 deep"),
    ("f = " + "(" * 5000, "brackets nested more than 50 deep"),
    ("f = " + "exp(" * 60 + "x" + ")" * 60, "brackets nested more than 50 deep"),
    ("f = " + "-" * 9000 + "x", "nested"),
    ("f = " + "x + " * 2400 + "x", "nested"),
    ("f = " + "x ** " * 1900 + "x", "nested"),
    (";".join(["a = x * y * z"] * 201), "more than 1,000 numbers, names and operations"),
    (";".join(["a = x"] * 1001), "more than 1,000 statements"),
])
def test_deep_and_large_programs_are_one_line_and_fast(text, fragment):
    started = time.monotonic()
    assert fragment in str(refused(parse_program, text))
    assert time.monotonic() - started < 1


def test_ten_megabytes_are_refused_by_length_before_parsing(monkeypatch):
    def parse(*args, **kwargs):
        raise AssertionError("ast.parse was called")

    monkeypatch.setattr(expr_syntax.ast, "parse", parse)
    started = time.monotonic()
    error = refused(parse_program, "f = " + "x + " * (10 * 2**20 // 4) + "x")
    assert "characters; an expression may have at most 10,000" in str(error)
    assert "characters; at most 10,000" in str(refused(parse_at, "x=1," * (10 * 2**18)))
    assert time.monotonic() - started < 1


def test_a_long_chain_within_the_limits_is_fine():
    evaluation = run("f = " + " + ".join(["x"] * 150), "x=2")
    assert evaluation.output.item() == 300.0 and gradients(evaluation) == {"x": 150.0}


@settings(max_examples=300, deadline=2000)
@given(st.text(alphabet=string.printable, max_size=200))
def test_random_printable_text_raises_only_expr_errors(text):
    try:
        parse_program(text)
    except ExprError as error:
        assert "\n" not in str(error)


TOKENS = ["x", "y", "f", "q", "=", ";", "\n", "(", ")", ",", "+", "-", "*", "/", "**", "1",
          "0", "2.5", "1e308", ".", "[", "]", "exp", "log", "sqrt", "max", "leaky_relu", "abs",
          "sigmoid", "#", "'", " ", "lambda", ":", "if", "else", "__import__", "1e999"]


@settings(max_examples=300, deadline=2000)
@given(st.lists(st.sampled_from(TOKENS), max_size=40), st.floats(-3, 3), st.floats(-3, 3))
def test_token_soup_parses_and_evaluates_or_raises_one_chainrule_line(tokens, x, y):
    try:
        program = parse_program("".join(tokens))
        evaluation = evaluate(program, {name: v for name, v in (("x", x), ("y", y))
                                        if name in program.inputs})
        evaluation.output.backward()
    except ChainruleError as error:
        assert "\n" not in str(error)


def test_no_eval_exec_or_compile_in_the_expression_modules():
    package = Path(cr.__file__).parent
    forbidden = {"eval", "exec", "compile", "__import__", "getattr", "globals", "locals",
                 "builtins", "importlib", "runpy", "pickle", "subprocess", "os"}
    for module in ("expr.py", "expr_syntax.py", "expr_text.py", "expr_tree.py",
                   "expr_functions.py"):
        source = (package / module).read_text()
        tokens = [token for token in tokenize.generate_tokens(io.StringIO(source).readline)
                  if token.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE)]
        # a forbidden name, unless it is a method of something else (re.compile is a regex)
        found = [token.string for before, token in zip([None, *tokens], tokens)
                 if token.type == tokenize.NAME and token.string in forbidden
                 and not (before is not None and before.string == ".")]
        assert not found, (module, found)
    assert "ast.parse(" in (package / "expr_syntax.py").read_text()


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


# --- more text ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["q = x + y\r\nf = q * z\r\n", "q = x + \\\n y; f = q * z",
                                  "q = x + \\\r\n y\r\nf = q * z", "q = (x\n + y)\nf = q * z",
                                  "\tq = x + y ;  ; f = q*z ;"])
def test_line_ends_continuations_and_blanks(text):
    assert gradients(run(text, "x=-2,y=5,z=-4")) == {"x": -4.0, "y": -4.0, "z": 3.0}


@settings(max_examples=200, deadline=2000)
@given(st.text(max_size=100))
def test_random_unicode_text_raises_only_expr_errors(text):
    try:
        parse_program(text)
    except ExprError as error:
        assert "\n" not in str(error)
        assert error.column is None or error.column >= 1


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
    from chainrule import expr, expr_text

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
