"""The expression language's refusals: every construct outside the whitelist, bad values and
programs beyond the limits get one ExprError line with the column, in bounded time; random
text and token soup raise nothing else (the shared helpers are test_expr's)."""

from __future__ import annotations

import io
import string
import time
import tokenize
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.expr import syntax as expr_syntax
from chainrule.errors import ChainruleError, ExprError
from chainrule.expr.program import FUNCTIONS, evaluate, parse_at, parse_program
from chainrule.finite import NonFiniteError
from tests.test_expr import gradients, refused, run


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
    package = Path(cr.__file__).parent / "expr"
    forbidden = {"eval", "exec", "compile", "__import__", "getattr", "globals", "locals",
                 "builtins", "importlib", "runpy", "pickle", "subprocess", "os"}
    modules = sorted(p.name for p in package.glob("*.py"))
    assert modules == ["__init__.py", "functions.py", "program.py", "syntax.py", "text.py",
                       "tree.py"]
    for module in modules:
        source = (package / module).read_text()
        tokens = [token for token in tokenize.generate_tokens(io.StringIO(source).readline)
                  if token.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE)]
        # a forbidden name, unless it is a method of something else (re.compile is a regex)
        found = [token.string for before, token in zip([None, *tokens], tokens)
                 if token.type == tokenize.NAME and token.string in forbidden
                 and not (before is not None and before.string == ".")]
        assert not found, (module, found)
    assert "ast.parse(" in (package / "syntax.py").read_text()


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


