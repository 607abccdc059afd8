"""``verify --expr ... --answers/--impl``: someone's numbers or function for an expression's
graph, judged against the engine's graph and diagnosed with the circuit mistakes."""

from __future__ import annotations

import json
import textwrap

import pytest

from chainrule.cli.main import main
from chainrule.expr.program import parse_program
from chainrule.verify.expression_answers import (
    graph_truth, judge_expression_answers, run_expression_impl,
)
from chainrule.verify.impl import ImplError

CS231N = ["--expr", "q = x + y; f = q * z", "--at", "x=-2,y=5,z=-4"]
# CS231n's "backprop intuitions": q = 3, f = -12, ∂f/∂x = ∂f/∂y = z = -4, ∂f/∂z = q = 3
RIGHT = {"forward.q": "3", "forward.f": "-12", "gradients.x": "-4", "gradients.y": "-4",
         "gradients.z": "3", "gradients.q": -4}
# a and b each feed two nodes: ∂f/∂a = (a+b)·b + ab·1 = 16, ∂f/∂b = (a+b)·a + ab·1 = 21
REUSED = ["--expr", "f = (a*b)*(a+b)", "--at", "a=3,b=2"]


def answers_file(tmp_path, data, name="answers.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data) if name.endswith(".json") else data)
    return str(path)


def verify_json(capsys, *argv) -> tuple[int, dict]:
    code = main(["verify", *argv, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def one_line_error(capsys, *argv) -> str:
    assert main(["verify", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured
    assert "Traceback" not in captured.err
    return captured.err.removeprefix("chainrule: error: ").rstrip("\n")


def rows(report: dict) -> dict[str, tuple[str, float, list]]:
    return {r["quantity"]: (r["status"], r["expected"], r["mistakes"]) for r in report["rows"]}


# --- the source of truth ---------------------------------------------------------------------


def test_the_graph_truth_is_cs231ns_numbers():
    truth = graph_truth(parse_program("q = x + y; f = q * z"), {"x": -2, "y": 5, "z": -4})
    numbers = {key: float(value) for key, value in truth.values.items()}
    assert numbers == {"forward.x": -2, "forward.y": 5, "forward.z": -4, "forward.q": 3,
                       "forward.f": -12, "gradients.x": -4, "gradients.y": -4,
                       "gradients.z": 3, "gradients.q": -4, "gradients.f": 1}
    assert set(truth.variants) == {"local_without_upstream", "value_for_gradient"}
    assert truth.subject == "expression" and truth.name == "q = x + y; f = q * z"


# --- --answers --------------------------------------------------------------------------------


def test_right_answers_pass(tmp_path, capsys):
    code, report = verify_json(capsys, *CS231N, "--answers", answers_file(tmp_path, RIGHT))
    assert code == 0 and report["ok"] and report["correct"] == 6
    assert report["expression"] == "q = x + y; f = q * z"
    assert report["at"] == {"x": -2.0, "y": 5.0, "z": -4.0}
    assert rows(report)["gradients.z"] == ("correct", 3.0, [])
    assert rows(report)["forward.f"] == ("correct", -12.0, [])
    assert main(["verify", *CS231N, "--answers", answers_file(tmp_path, RIGHT)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("answers on expression q = x + y; f = q * z at x=-2, y=5, z=-4 "
                          "(numbers judged at the precision given)\n")
    assert out.rstrip().endswith("All 6 answers are correct.")


def test_nested_yaml_answers_and_an_expression_spec_file(tmp_path, capsys):
    spec = tmp_path / "circuit.yaml"
    spec.write_text("expression: q = x + y; f = q * z\nat: {x: -2, y: 5, z: -4}\n")
    answers = answers_file(tmp_path, "forward: {q: 3}\ngradients: {x: -4.0, q: '-4'}\n",
                           "answers.yaml")
    code, report = verify_json(capsys, str(spec), "--answers", answers)
    assert code == 0 and [r["quantity"] for r in report["rows"]] == \
        ["forward.q", "gradients.x", "gradients.q"]


def test_a_rounded_answer_is_judged_at_its_precision(tmp_path, capsys):
    expr = ["--expr", "f = x / y", "--at", "x=1,y=3"]  # f = 0.333…, ∂f/∂y = -1/9 = -0.111…
    close = answers_file(tmp_path, {"forward.f": "0.333", "gradients.y": "-0.11"})
    code, report = verify_json(capsys, *expr, "--answers", close)
    assert code == 0, report
    assert rows(report)["gradients.y"] == ("correct", pytest.approx(-1 / 9), [])
    assert report["rows"][1]["tolerance"] == pytest.approx(0.005, rel=1e-6)
    near = answers_file(tmp_path, {"forward.f": "0.334", "gradients.y": "-0.12"}, "near.json")
    code, report = verify_json(capsys, *expr, "--answers", near)
    assert code == 1 and report["wrong"] == 0 and not report["ok"]
    assert [row["status"] for row in report["rows"]] == ["close", "close"]
    assert report["rows"][0]["note"] == "off in the last digit written"
    off = answers_file(tmp_path, {"forward.f": "0.337", "gradients.y": "-0.15"}, "off.json")
    code, report = verify_json(capsys, *expr, "--answers", off)
    assert code == 1 and report["wrong"] == 2
    assert rows(report)["forward.f"][0] == "wrong"
    assert rows(report)["gradients.y"][0] == "wrong"


def test_a_forgotten_path_of_a_reused_node_is_named(tmp_path, capsys):
    # f = (a*b)*(a+b) at a=3, b=2: ∂f/∂a = 5·2 + 6·1 = 16, ∂f/∂b = 5·3 + 6·1 = 21; with only
    # the path through a+b (reached first going backward) 6 and 6
    given = {"forward.mul1": 6, "forward.add1": 5, "gradients.add1": 6, "gradients.mul1": 5,
             "gradients.a": 6, "gradients.b": 6}
    code, report = verify_json(capsys, *REUSED, "--answers", answers_file(tmp_path, given))
    assert code == 1 and report["wrong"] == 2 and report["correct"] == 4
    assert rows(report)["gradients.a"] == ("wrong", 16.0, ["missing_path"])
    assert rows(report)["gradients.b"] == ("wrong", 21.0, ["missing_path"])
    assert report["diagnosis"]["id"] == "missing_path" and report["diagnosis"]["explains"] == 2
    assert report["diagnosis"]["formula"]
    assert report["unexplained"] == []
    other = {"gradients.a": 10, "gradients.b": 15}  # only the path through a*b
    code, report = verify_json(capsys, *REUSED, "--answers",
                               answers_file(tmp_path, other, "other.json"))
    assert code == 1 and report["diagnosis"]["id"] == "missing_path_other"


def test_f_equals_ab_plus_a_in_text(tmp_path, capsys):
    given = {"gradients.a": 1, "gradients.b": 3}  # ∂f/∂a = b + 1 = 3, the b path forgotten
    path = answers_file(tmp_path, given)
    assert main(["verify", "--expr", "f = a*b + a", "--at", "a=3,b=2", "--answers", path]) == 1
    out = capsys.readouterr().out
    assert "gradients.a  1      3.0000000000  wrong (missing_path)" in out
    assert "the known mistake missing_path (a path of a reused node forgotten)" in out


def test_other_catalogue_mistakes_are_named(tmp_path, capsys):
    # the local derivative alone: ∂q/∂x = 1 instead of z · 1 = -4
    local = {"gradients.x": 1, "gradients.y": 1, "gradients.z": 3}
    code, report = verify_json(capsys, *CS231N, "--answers", answers_file(tmp_path, local))
    assert code == 1 and report["diagnosis"]["id"] == "local_without_upstream"
    assert rows(report)["gradients.x"] == ("wrong", -4.0, ["local_without_upstream"])
    assert rows(report)["gradients.z"][0] == "correct"


@pytest.mark.parametrize("answers, expected", [
    ({"gradients.qq": 1}, 'answers: "gradients.qq": no node qq in this expression (did you '
                          'mean "gradients.q"?); its nodes: x, y, q, z, f'),
    ({"q": 3}, 'answers: "q": unknown quantity (did you mean "forward.q"?); expected '
               'forward.<node> or gradients.<node>'),
    ({"gradients.x[0]": -4}, 'answers: "gradients.x[0]": 1 indices for gradients.x of shape ()'),
    ({"gradients.x": "four"}, "answers: \"gradients.x\": expected a number, got 'four'"),
])
def test_a_bad_answer_is_one_line(tmp_path, capsys, answers, expected):
    assert one_line_error(capsys, *CS231N, "--answers", answers_file(tmp_path, answers)) == \
        expected


def test_a_constant_has_no_gradient():
    program = parse_program("f = 2 * x")
    with pytest.raises(Exception) as error:
        judge_expression_answers(program, {"x": 1.0}, {"gradients.c1": 0})
    assert "c1 is a constant: it has no gradient" in str(error.value)
    report = judge_expression_answers(program, {"x": 1.0}, {"forward.c1": "2"})
    assert report.ok


def test_a_one_element_list_is_a_number_and_a_longer_one_a_wrong_shape(tmp_path, capsys):
    code, report = verify_json(capsys, *CS231N, "--answers",
                               answers_file(tmp_path, {"gradients.x": ["-4"]}))
    assert code == 0 and rows(report)["gradients.x"][0] == "correct"
    code, report = verify_json(capsys, *CS231N, "--answers",
                               answers_file(tmp_path, {"gradients.x": ["-4", "-4"]}, "b.json"))
    assert code == 1 and report["rows"][0]["note"] == "shape (2,), expected ()"


# --- --impl -----------------------------------------------------------------------------------


def impl(tmp_path, body: str, name: str = "impl.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


def test_a_right_function_passes(tmp_path, capsys):
    path = impl(tmp_path, """
        def step(values):
            x, y, z = values["x"], values["y"], values["z"]
            q = x + y
            return {"forward": {"q": q, "f": q * z},
                    "gradients": {"x": z, "y": z, "z": q, "q": z, "f": 1.0}}
    """)
    code, report = verify_json(capsys, *CS231N, "--impl", path)
    assert code == 0 and report["ok"] and report["correct"] == 7
    assert report["precision"] == "to 1e-06 relative"
    assert rows(report)["gradients.z"] == ("correct", 3.0, [])
    assert report["sandbox"]["level"] in ("bubblewrap", "unshare", "basic")


def test_a_function_that_forgets_a_path_is_named(tmp_path, capsys):
    path = impl(tmp_path, """
        def backward(values):
            a, b = values["a"], values["b"]
            upstream_mul, upstream_add = a + b, a * b
            # a and b each feed a*b and a+b; only the a+b path is kept
            return {"gradients": {"a": upstream_add * 1.0, "b": upstream_add * 1.0,
                                  "mul1": upstream_mul}}
    """)
    code, report = verify_json(capsys, *REUSED, "--impl", f"{path}:backward")
    assert code == 1
    assert rows(report)["gradients.a"] == ("wrong", 16.0, ["missing_path"])
    assert rows(report)["gradients.b"] == ("wrong", 21.0, ["missing_path"])
    assert rows(report)["gradients.mul1"] == ("correct", 5.0, [])
    assert report["diagnosis"]["id"] == "missing_path"


def test_the_function_gets_the_inputs_as_floats(tmp_path):
    path = impl(tmp_path, """
        def step(values):
            assert type(values) is dict and list(values) == ["x", "y", "z"]
            assert all(type(v) is float for v in values.values())
            return {"forward": {"x": values["x"]}}
    """)
    report = run_expression_impl(parse_program("q = x + y; f = q * z"),
                                 {"x": -2, "y": 5, "z": -4}, path)
    assert report.ok and [r.quantity for r in report.rows] == ["forward.x"]


@pytest.mark.parametrize("body, expected", [
    ("def step(values):\n    return 1 / 0\n",
     "step() raised ZeroDivisionError: division by zero (impl.py:2 in step: return 1 / 0)"),
    ("def step(values)\n    return {}\n", "syntax error at impl.py:1: expected ':'"),
    ("def other(values):\n    return {}\n",
     "no function 'step' in impl.py (functions defined there: other)"),
    ("def step(values):\n    return [1]\n",
     'step() returned list, expected a dict with "forward" and/or "gradients"'),
])
def test_a_broken_function_is_one_line(tmp_path, capsys, body, expected):
    path = impl(tmp_path, body)
    assert one_line_error(capsys, *CS231N, "--impl", path) == f"{path}: {expected}"


@pytest.mark.parametrize("returned, expected", [
    ("{'forward': {}}", "step() returned no numbers"),
    ("{'grads': {'x': 1}}", 'step() returned unknown key "grads" (expected "forward" and/or '
                            '"gradients"'),
    ("{'gradients': 1.0}", 'step()["gradients"] is a number or an array, expected a dict'),
    ("{'gradients': {'xx': 1.0}}", 'step()["gradients"]["xx"]: no node xx in this expression '
                                   '(did you mean "gradients.x"?)'),
])
def test_a_wrong_result_is_one_line(tmp_path, capsys, returned, expected):
    path = impl(tmp_path, f"def step(values):\n    return {returned}\n")
    assert one_line_error(capsys, *CS231N, "--impl", path).startswith(expected)


def test_a_hanging_function_is_stopped_by_the_timeout(tmp_path, capsys):
    path = impl(tmp_path, "def step(values):\n    while True:\n        pass\n")
    message = one_line_error(capsys, *CS231N, "--impl", path, "--timeout", "1")
    assert message == (f"{path}: no result within 1 s, so it was stopped (an endless loop? "
                       f"give a longer timeout if it is just slow)")


def test_a_forged_result_is_not_believed(tmp_path):
    forged = {"ok": True, "result": {"gradients": {"mapping": {
        "x": {"shape": [], "values": [-4.0]}}}}}
    path = impl(tmp_path, f"""
        import json, os
        for fd in range(3, 64):
            try:
                os.write(fd, b"0" * 32 + b"\\n" + json.dumps({forged!r}).encode() + b"\\n")
            except OSError:
                pass
        os._exit(0)
    """)
    with pytest.raises(ImplError) as error:
        run_expression_impl(parse_program("q = x + y; f = q * z"),
                            {"x": -2, "y": 5, "z": -4}, path)
    assert str(error.value) == (f"{path}: the result channel holds something the runner did "
                                f"not write, so nothing it returned is judged")


def test_a_timeout_out_of_range_is_refused(tmp_path, capsys):
    path = impl(tmp_path, "def step(values):\n    return {}\n")
    assert one_line_error(capsys, *CS231N, "--impl", path, "--timeout", "0").startswith(
        "--timeout: expected a number of seconds from 0 to 3600")


def test_a_mistake_that_would_change_a_right_gradient_is_not_named():
    program = parse_program("q = a * b; f = q * c")  # ∂f/∂a = b·c = 12, ∂f/∂b = a·c = 8
    at = {"a": 2, "b": 3, "c": 4}
    # ∂f/∂a as the local derivative alone (b = 3) fits local_without_upstream, but that
    # mistake would also have made ∂f/∂b = a = 2, which the answers have right
    report = judge_expression_answers(program, at, {"gradients.a": "3", "gradients.b": "8"})
    assert report.diagnosis is None and report.wrong[0].quantity == "gradients.a"
    assert "local_without_upstream" in report.wrong[0].mistakes
    assert report.uncertain.startswith("local_without_upstream would explain 1 of them, but "
                                       "would also have changed 1 answer that is right "
                                       "(gradients.b)")
    # with ∂f/∂b made the same way, it explains both and is named
    both = judge_expression_answers(program, at, {"gradients.a": "3", "gradients.b": "2"})
    assert both.diagnosis.id == "local_without_upstream" and both.explained == 2
