"""Level ``circuit``: random small expressions, every node's value and gradient asked.

The key is checked against the graph explanation of the evaluated program and, independently,
against PyTorch's autograd of the same statements; a student who forgets one path of a reused
node is wrong on exactly the gradients that path feeds, and the mistake is named.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from chainrule.cli.main import main
from chainrule.exercises import ExerciseError, generate, grade_answers, key_from_dict, load_key
from chainrule.exercises import write_worksheets
from chainrule.exercises.circuit import (
    MAX_VALUE, MIN_DENOMINATOR, MIN_MAX_GAP, UNARY_INPUT_RANGE, judge, routed_to_zero,
    statements, trace,
)
from chainrule.verify.circuit_mistakes import mistaken_steps
from chainrule.expr.program import evaluate, load_expression_spec
from chainrule.explain.graph import explain_graph

PRECISION = 4
UNIT = 10.0 ** -PRECISION
LINE = re.compile(r"(\w+) = (?:(\w+)\((\w+)(?:, (\w+))?\)|(\w+) ([-+*/]) (\w+))")


@pytest.fixture(scope="module")
def problem_set():
    return generate("circuit", seed=11, count=12, precision=PRECISION)


def torch_values(spec: dict, detach: tuple[str, str] | None = None) -> dict[str, float]:
    """The statements run in PyTorch (an interpreter written here, not chainrule's parser):
    every node's value and gradient. ``detach=(node, consumer)`` cuts the one edge from node to
    consumer (the consumer reads a copy), as a student who forgets that path does."""
    torch = pytest.importorskip("torch")
    nodes = {name: torch.tensor(value, dtype=torch.float64, requires_grad=True)
             for name, value in spec["at"].items()}
    functions = {"exp": torch.exp, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
                 "max": torch.maximum}
    binary = {"+": torch.add, "-": torch.sub, "*": torch.mul, "/": torch.div}
    for line in statements(spec):
        match = LINE.fullmatch(line)
        assert match, line
        name, fn, a1, a2, b1, op, b2 = match.groups()
        operands = [o for o in ((a1, a2) if fn else (b1, b2)) if o]
        args = [nodes[o] for o in operands]
        if detach and detach[1] == name:  # a copy of the node as a new leaf: the path is cut
            cut = operands.index(detach[0])
            args[cut] = args[cut].detach().clone().requires_grad_(True)
        nodes[name] = functions[fn](*args) if fn else binary[op](*args)
        nodes[name].retain_grad()
    output = nodes[name]
    output.backward()
    values = {f"forward.{n}": float(t.detach()) for n, t in nodes.items() if n not in spec["at"]}
    values.update({f"gradients.{n}": float(t.grad) for n, t in nodes.items() if n != name})
    return values


def test_every_answer_is_the_graph_explanation_and_pytorch(problem_set):
    for exercise in problem_set.exercises:
        program, at = load_expression_spec(exercise.spec, "spec")
        run = evaluate(program, at)
        graph = explain_graph(run.output, names=run.names)
        reference = torch_values(exercise.spec)
        for q in exercise.questions:
            section, _, name = q.quantity.partition(".")
            node = graph[name]
            assert q.answer == float(node.value if section == "forward" else node.grad)
            assert q.answer == pytest.approx(reference[q.quantity], rel=1e-12, abs=1e-12)
        asked = {q.quantity for q in exercise.questions}
        assert asked == set(reference) - {"gradients.f"} - {f"forward.{n}" for n in at}


def test_questions_are_named_by_nodes(problem_set):
    first = problem_set.exercises[0]
    q = next(q for q in first.questions if q.quantity == "gradients.x")
    assert (q.id, q.symbol, q.latex) == ("1.gradients.x", "∂f/∂x", r"\frac{\partial f}{\partial x}")
    assert q.prompt == "the gradient ∂f/∂x"
    labels = [q.label for q in first.questions]
    assert labels[:3] == ["1a", "1b", "1c"]
    assert first.questions[0].quantity.startswith("forward.")


def test_same_seed_same_files(tmp_path):
    for fmt in ("markdown", "latex", "ipynb", "json"):
        written = []
        for run in ("one", "two"):
            made = generate("circuit", seed=5, count=4)
            paths = write_worksheets(made, tmp_path / f"{fmt}-{run}", fmt)
            written.append({p.name: p.read_bytes() for p in paths})
        assert written[0] == written[1]
        assert "key.json" in written[0]
    other = generate("circuit", seed=6, count=4)
    assert other.to_json() != generate("circuit", seed=5, count=4).to_json()
    # exercise 3 is the same whatever the count
    assert generate("circuit", seed=5, count=3).exercises[2] == \
        generate("circuit", seed=5, count=9).exercises[2]


def test_worksheet_shows_statements_nodes_and_no_answers(tmp_path, problem_set):
    write_worksheets(problem_set, tmp_path, "markdown", key="worked")
    sheet = (tmp_path / "worksheet.md").read_text(encoding="utf-8")
    first = problem_set.exercises[0]
    block = "```text\n" + "\n".join(statements(first.spec)) + "\n```"
    assert block in sheet
    assert "| `x` | input: " in sheet and "| **1a** | the value of $q$ | |" in sheet
    assert not (tmp_path / "diagrams").exists()
    for q in first.questions:
        assert f"| **{q.label}** |" in sheet
    key = (tmp_path / "key.md").read_text(encoding="utf-8")
    assert "#### Backward pass" in key and r"\frac{\partial f}{\partial x} =" in key
    assert f"| `{first.questions[0].id}` | {first.questions[0].rounded(PRECISION)} |" in key


def test_full_marks_for_the_key(problem_set):
    answers = {q.label: q.rounded(PRECISION) for q in problem_set.questions}
    grade = grade_answers(problem_set, answers)
    assert grade.points == grade.max_points == len(problem_set.questions)


def _single_reuse(exercise) -> tuple[str, list[str]] | None:
    """The one reused node of a circuit and its consumers in program order, or None."""
    graph = trace(exercise.spec)
    reused = [n for n in graph.nodes if len(n.terms) >= 2]
    if len(reused) != 1 or len(reused[0].terms) != 2:
        return None
    order = [n.name for n in graph.nodes]
    return reused[0].name, sorted({t.consumer for t in reused[0].terms}, key=order.index)


def test_a_forgotten_path_is_wrong_exactly_where_it_flows_and_named():
    problem_set = generate("circuit", seed=2, count=30, precision=PRECISION)
    checked = 0
    for exercise in problem_set.exercises:
        found = _single_reuse(exercise)
        if found is None:
            continue
        node, (earlier, _later) = found
        forgot = torch_values(exercise.spec, detach=(node, earlier))  # only the later use
        answers = {q.label: f"{forgot[q.quantity]:.{PRECISION}f}" for q in exercise.questions}
        grade = grade_answers(problem_set, answers).exercises[exercise.number - 1]
        affected = {q.quantity for q in exercise.questions
                    if abs(forgot[q.quantity] - q.answer) > 1e-9}
        assert affected and all(k.startswith("gradients.") for k in affected)
        assert f"gradients.{node}" in affected
        for j in grade.judgements:
            if j.question.quantity in affected:
                assert j.status == "incorrect", (exercise.spec, j)
                assert j.mistakes[0] == "missing_path"
            else:
                assert j.status == "correct"
        assert grade.diagnosis == "missing_path"
        checked += 1
    assert checked >= 3


def test_local_derivative_without_upstream_is_named(problem_set):
    checked = 0
    for exercise in problem_set.exercises:
        mistaken = mistaken_steps(trace(exercise.spec))["local_without_upstream"]
        answers = {q.label: f"{mistaken[q.quantity]:.{PRECISION}f}" for q in exercise.questions}
        grade = grade_answers(problem_set, answers).exercises[exercise.number - 1]
        wrong = [j for j in grade.judgements if j.status != "correct"]
        if not wrong:  # every upstream gradient is 1 (f = a + b + ...): the same numbers
            assert all(abs(mistaken[q.quantity] - q.answer) < 1e-9 for q in exercise.questions)
            continue
        assert all(j.status == "incorrect" for j in wrong)
        assert grade.diagnosis == "local_without_upstream"
        assert all(j.mistakes[0] == "local_without_upstream" for j in wrong)
        checked += 1
    assert checked >= len(problem_set.exercises) // 2


def test_no_degenerate_circuit_over_many_seeds():
    reused = routed_zeros = 0
    for seed in range(300):
        exercise = generate("circuit", seed=seed, count=1, precision=PRECISION).exercises[0]
        graph = trace(exercise.spec)
        by_name = {n.name: float(n.value) for n in graph.nodes}
        assert 3 <= len(exercise.spec["at"]) <= 4
        assert 3 <= sum(n.kind == "op" for n in graph.nodes) <= 6
        for node in graph.nodes:
            args = [by_name[i] for i in node.inputs]
            assert abs(float(node.value)) <= MAX_VALUE and abs(float(node.grad)) <= MAX_VALUE
            if node.op == "div":
                assert abs(args[1]) >= MIN_DENOMINATOR
            if node.op == "maximum":
                assert abs(args[0] - args[1]) >= MIN_MAX_GAP
            if node.op in UNARY_INPUT_RANGE:
                assert abs(args[0]) <= UNARY_INPUT_RANGE[node.op]
            if node.kind != "op" or node.name != graph.output:
                assert node.terms, f"seed {seed}: {node.name} does not reach f"
        reused += any(len(n.terms) >= 2 for n in graph.nodes)  # exercise 1 always reuses
        grads = {q.rounded(PRECISION) for q in exercise.questions
                 if q.quantity.startswith("gradients.")}
        assert len(grads) >= 2
        routed = routed_to_zero(graph)
        routed_zeros += len(routed)
        for q in exercise.questions:
            assert abs(q.answer) >= 5 * UNIT or (q.quantity in routed and q.answer == 0.0)
            assert not q.rounded(PRECISION).startswith("-0.0000")
        for mistake_id, values in mistaken_steps(graph).items():
            moved = [abs(values[q.quantity] - q.answer) for q in exercise.questions]
            assert all(m < 1e-9 * (1 + abs(q.answer)) or m >= UNIT
                       for m, q in zip(moved, exercise.questions)), (seed, mistake_id)
            assert not moved or max(moved) > 2 * UNIT or max(moved) < 1e-9
    assert reused == 300
    assert routed_zeros > 0  # max's smaller side gets 0, and that zero is asked


def test_a_draw_that_divides_by_zero_is_redrawn_not_an_error():
    spec = {"name": "e", "expression": "q = x - y\nf = z / q", "at": {"x": 0.5, "y": 0.5,
                                                                      "z": 1.0}}
    assert "inf" in judge(spec, PRECISION)
    assert generate("circuit", seed=1, count=12).exercises[-1].number == 12  # once an error


def test_a_set_reuses_a_node_in_every_odd_exercise(problem_set):
    for exercise in problem_set.exercises[::2]:
        assert any(len(n.terms) >= 2 for n in trace(exercise.spec).nodes)


def test_network_options_and_an_edited_key_are_refused(problem_set):
    with pytest.raises(ExerciseError, match="^arch: level circuit draws an expression"):
        generate("circuit", arch="2-2-1")
    data = json.loads(problem_set.to_json())
    data["exercises"][0]["questions"][0]["answer"] += 0.5
    from chainrule.exercises import Grader

    with pytest.raises(ExerciseError, match=r"was the key edited\?"):
        Grader(key_from_dict(data)).truth(1)
    data = json.loads(problem_set.to_json())
    data["exercises"][0]["spec"]["expression"] = "f = x.__class__"
    with pytest.raises(ExerciseError, match=r"exercises\[0\]: spec: .*attribute access"):
        key_from_dict(data)


def test_cli_new_then_grade(tmp_path, capsys):
    out = tmp_path / "circuits"
    assert main(["exercise", "new", "--level", "circuit", "--count", "5", "--seed", "4",
                 "--out", str(out)]) == 0
    key = load_key(out / "key.json")
    assert key.level == "circuit" and len(key.exercises) == 5
    first = key.exercises[0]
    rows = ["student," + ",".join(q.label for q in key.questions),
            "ann," + ",".join(q.rounded(key.precision) for q in key.questions),
            "bob," + ",".join("" if q.exercise == 1 else q.rounded(key.precision)
                              for q in key.questions)]
    (tmp_path / "answers.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["exercise", "grade", str(out / "key.json"), str(tmp_path / "answers.csv"),
                 "--format", "csv"]) == 0
    gradebook = capsys.readouterr().out.splitlines()
    total = len(key.questions)
    assert gradebook[1].startswith(f"ann,{total},{total},1")  # no roster: no name column
    assert gradebook[2].startswith(f"bob,{total - len(first.questions)},{total},")
    assert main(["exercise", "new", "--level", "circuit", "--loss", "mse", "--out",
                 str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert np.isfinite([q.answer for q in key.questions]).all()
