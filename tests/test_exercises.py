"""Generating exercises: levels, nice and non-degenerate numbers, determinism, the files."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import chainrule as cr
from chainrule.exercises import (
    LEVELS, ExerciseError, generate, key_from_dict, load_key, write_worksheets,
)
from chainrule.exercises.levels import split_key
from chainrule.verify.mistakes import applicable_mistakes, correct_step


def value(step: dict, key: str) -> float:
    name, index = split_key(key)
    return float(np.asarray(step[name])[index])


def decimals(number: float) -> int:
    return max(0, -Decimal(repr(number)).as_tuple().exponent)


# --- the properties every generated exercise has ------------------------------------------------


def assert_not_degenerate(problem_set) -> None:
    """The checks, written again independently: what a teacher relies on."""
    unit = 10.0 ** -problem_set.precision
    for exercise in problem_set.exercises:
        spec = cr.parse_spec(exercise.spec)
        # nice numbers: one decimal (the default), never zero
        for array in (*spec.weights, *spec.biases, spec.inputs):
            assert all(decimals(v) <= 1 and v != 0 for v in np.ravel(array).tolist())
        # no saturated unit
        trace = cr.explain(spec)
        for l, name in enumerate(spec.activations, 1):
            z = trace.forward[f"z{l}"]
            if name in ("sigmoid", "tanh"):
                assert np.max(np.abs(z)) <= 2.0
            if name == "softmax":
                assert 0.02 <= trace.forward[f"a{l}"].min() <= trace.forward[f"a{l}"].max() <= 0.9
        truth = correct_step(spec)
        asked = {q.quantity: q.answer for q in exercise.questions}
        rounded: dict[str, set] = {}
        for key, answer in asked.items():
            assert answer == pytest.approx(value(truth, key), abs=1e-12)
            assert abs(answer) >= 5 * unit, f"{key} is degenerate"  # no zero gradient
            group = rounded.setdefault(key.partition("[")[0], set())
            assert f"{answer:.{problem_set.precision}f}" not in group, f"{key}: a tie"
            group.add(f"{answer:.{problem_set.precision}f}")
        # no wrong method lands on the right answer, and each shows clearly somewhere
        for mistake in applicable_mistakes(spec):
            step = mistake.compute(spec)
            moves = [abs(value(step, k) - a) for k, a in asked.items()
                     if np.isfinite(value(step, k))]
            touched = [m for m, a in zip(moves, asked.values()) if m > 1e-9 * (1 + abs(a))]
            assert all(m >= unit for m in touched), mistake.id
            assert not touched or max(touched) > 2 * unit, mistake.id


@pytest.mark.parametrize("level", [name for name, level in LEVELS.items()
                                   if not level.circuit and not level.layered])
def test_every_level_is_not_degenerate(level):
    # level circuit: tests/test_exercises_circuit.py; conv, pool, batchnorm, cnn:
    # tests/test_exercises_layered.py
    assert_not_degenerate(generate(level, seed=11, count=2))


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), level=st.sampled_from(["output", "full", "batch",
                                                               "softmax"]))
def test_non_degenerate_for_any_seed(seed, level):
    assert_not_degenerate(generate(level, seed=seed, count=1))


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1),
       activation=st.sampled_from(["tanh", "relu,sigmoid", "leaky_relu,identity", "sigmoid"]),
       loss=st.sampled_from(["sse", "mse", "half_sse"]))
def test_non_degenerate_for_other_activations_and_losses(seed, activation, loss):
    assert_not_degenerate(generate("full", seed=seed, count=1, activation=activation,
                                   loss=loss, precision=5))


# --- what each level asks -----------------------------------------------------------------------


def quantities(problem_set) -> list[str]:
    return [q.quantity for q in problem_set.exercises[0].questions]


def test_levels_ask_what_they_say():
    forward = quantities(generate("forward", count=1))
    assert forward == ["forward.z1[0]", "forward.z1[1]", "forward.a1[0]", "forward.a1[1]",
                       "forward.z2[0]", "forward.a2[0]", "forward.loss"]
    assert quantities(generate("output", count=1)) == [
        "backward.delta2[0]", "gradients.W2[0,0]", "gradients.W2[1,0]", "gradients.b2[0]"]
    full = quantities(generate("full", count=1))
    assert len(full) == 18 and full[0] == "gradients.W1[0,0]" and full[-1] == "updated.b2[0]"
    batch = generate("batch", count=1, batch_size=3)
    spec = batch.exercises[0].spec
    assert len(spec["inputs"]) == len(spec["targets"]) == 3
    assert quantities(batch)[0] == "forward.loss"
    softmax = generate("softmax", count=1)
    spec = softmax.exercises[0].spec
    assert spec["activations"][-1] == "softmax" and spec["loss"] == "cross_entropy"
    assert isinstance(spec["target"], int)
    assert quantities(softmax)[:4] == ["forward.a2[0]", "forward.a2[1]", "forward.a2[2]",
                                       "forward.loss"]
    deep = generate("deep", count=1)
    assert len(deep.exercises[0].spec["layers"]) == 4
    assert quantities(deep)[0] == "backward.delta3[0]"


def test_questions_are_named_for_people_and_for_machines():
    problem_set = generate("full", count=2)
    question = problem_set.exercises[1].questions[2]
    assert question.id == "2.gradients.W1[1,0]" and question.label == "2c"
    assert question.symbol == "∂E/∂w¹₂₁"
    assert question.latex == r"\frac{\partial E}{\partial w^{1}_{21}}"
    updated = problem_set.exercises[1].questions[-1]
    assert updated.prompt == "the updated b²₁, after one step of gradient descent"
    assert problem_set.question("2c") is question
    assert problem_set.question("2.gradients.W1[1,0]") is question
    assert problem_set.question("2C") is question


def test_answers_are_those_of_explain():
    problem_set = generate("batch", count=1, seed=3)
    trace = cr.explain(problem_set.exercises[0].spec).to_dict()
    for q in problem_set.questions:
        name, index = split_key(q.quantity)
        section, _, what = name.partition(".")
        expected = np.asarray(trace[section][what])[index]
        assert q.answer == pytest.approx(float(expected), rel=1e-9)


# --- determinism --------------------------------------------------------------------------------


@pytest.mark.parametrize("format", ["markdown", "latex", "ipynb", "json"])
def test_same_seed_same_files_byte_for_byte(tmp_path, format):
    first = write_worksheets(generate("full", seed=7, count=3), tmp_path / "a", format)
    second = write_worksheets(generate("full", seed=7, count=3), tmp_path / "b", format)
    assert [p.relative_to(tmp_path / "a") for p in first] == \
        [p.relative_to(tmp_path / "b") for p in second]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_another_seed_other_exercises():
    assert generate(seed=1, count=1).exercises != generate(seed=2, count=1).exercises


def test_an_exercise_does_not_depend_on_the_count():
    assert generate(seed=5, count=3).exercises[:2] == generate(seed=5, count=2).exercises


# --- options ------------------------------------------------------------------------------------


@pytest.mark.parametrize("options, message", [
    ({"level": "hard"}, "level: unknown level 'hard'"),
    ({"arch": "2"}, "arch: expected units per layer"),
    ({"arch": "2-x-1"}, "arch: expected units per layer"),
    ({"arch": "2-2-1", "level": "deep"}, "arch: level deep needs 3 weight layers"),
    ({"arch": "2-2-1", "level": "softmax"}, "two or more output units"),
    ({"activation": "swish"}, "activation: unknown activation 'swish'"),
    ({"activation": "relu,tanh,sigmoid"}, "expected one name, or one per layer (2)"),
    ({"level": "softmax", "loss": "sse"}, "level softmax uses cross_entropy"),
    ({"loss": "bce", "activation": "tanh"}, "bce needs a sigmoid output"),
    ({"precision": 1}, "precision: expected 2 to 8 decimals"),
    ({"count": 0}, "count: expected 1 to 1000"),
    ({"seed": -1}, "seed: expected a whole number"),
    ({"batch_size": 3}, "batch_size: only for level batch"),
    ({"level": "batch", "batch_size": 1}, "batch_size: expected 2 to 8"),
    ({"learning_rate": 0}, "learning_rate: expected a number in (0, 10]"),
    ({"decimals": 3}, "decimals: expected 1 or 2"),
])
def test_bad_options_name_the_option(options, message):
    with pytest.raises(ExerciseError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        generate(**{"level": "full", **options})


def test_an_impossible_request_says_what_to_change(monkeypatch):
    # the package's generate() hides its module of the same name: reach the module itself
    monkeypatch.setattr(sys.modules["chainrule.exercises.generate"], "MAX_ATTEMPTS", 30)
    with pytest.raises(ExerciseError) as error:
        generate("full", precision=2, count=1)
    assert "none of 30 networks drawn passed the checks" in str(error.value)
    assert "ask for more decimals" in str(error.value)


def test_two_decimals_and_a_fixed_learning_rate():
    problem_set = generate("full", decimals=2, learning_rate=1.0, count=1, seed=4)
    spec = problem_set.exercises[0].spec
    assert spec["learning_rate"] == 1.0
    values = np.ravel(spec["weights"][0]).tolist()
    assert all(decimals(v) <= 2 and round(v * 20) == v * 20 for v in values)


# --- files --------------------------------------------------------------------------------------


def test_the_key_round_trips(tmp_path):
    problem_set = generate("softmax", count=2, seed=9)
    write_worksheets(problem_set, tmp_path, "json")
    loaded = load_key(tmp_path / "key.json")
    assert loaded.to_dict() == problem_set.to_dict()
    assert load_key(tmp_path).to_dict() == problem_set.to_dict()  # the folder will do


def test_the_json_worksheet_has_no_answers(tmp_path):
    write_worksheets(generate("full", count=2), tmp_path, "json")
    worksheet = json.loads((tmp_path / "worksheet.json").read_text())
    assert worksheet["schema"] == "chainrule.worksheet/1"
    question = worksheet["exercises"][0]["questions"][0]
    assert "answer" not in question and "rounded" not in question
    assert question["label"] == "1a" and question["id"] == "1.gradients.W1[0,0]"


def test_markdown_worksheet_key_and_diagrams(tmp_path):
    problem_set = generate("full", count=2, seed=7)
    written = write_worksheets(problem_set, tmp_path, "markdown")
    names = sorted(str(p.relative_to(tmp_path)) for p in written)
    assert names == ["answers-template.csv", "diagrams/exercise-01.svg",
                     "diagrams/exercise-02.svg", "key-answers.md", "key.csv", "key.json",
                     "key.md", "worksheet.md"]
    worksheet = (tmp_path / "worksheet.md").read_text()
    assert "![The network of exercise 1](diagrams/exercise-01.svg)" in worksheet
    assert "| **1c** | the gradient $\\frac{\\partial E}{\\partial w^{1}_{21}}$ | |" in worksheet
    svg = ET.parse(tmp_path / "diagrams" / "exercise-01.svg").getroot()
    assert svg.tag.endswith("svg") and len(svg.findall("{http://www.w3.org/2000/svg}circle")) == 5
    key = (tmp_path / "key.md").read_text()
    first = problem_set.exercises[0].questions[0]
    # the compact key: each answer beside the numbers that give it, no stacked fraction
    assert f"| **1a** | $\\partial E/\\partial w^{{1}}_{{11}}$ | {first.rounded(4)} | " in key
    assert "\\frac" not in key.split("| question |", 1)[1]
    worked = write_worksheets(problem_set, tmp_path / "worked", "markdown", key="worked")
    key = (tmp_path / "worked" / "key.md").read_text()
    assert f"| **1a** | ${first.latex}$ | `{first.id}` | {first.rounded(4)} |" in key
    assert "### Worked solution" in key and "#### Backward pass" in key and worked
    header = (tmp_path / "answers-template.csv").read_text().strip().split(",")
    assert header[:3] == ["student", "1a", "1b"] and len(header) == 1 + 36


def test_a_key_of_other_exercises_is_not_replaced(tmp_path):
    write_worksheets(generate(seed=1, count=1), tmp_path)
    write_worksheets(generate(seed=1, count=1), tmp_path)  # the same set: fine
    with pytest.raises(ExerciseError, match="holds the key of other exercises"):
        write_worksheets(generate(seed=2, count=1), tmp_path)
    write_worksheets(generate(seed=2, count=1), tmp_path, force=True)
    assert load_key(tmp_path).seed == 2


def test_a_bad_key_is_refused(tmp_path):
    path = tmp_path / "key.json"
    path.write_text("{\n  \"schema\": 1,\n")
    with pytest.raises(ExerciseError, match=r"key.json:3:1: invalid JSON"):
        load_key(path)
    path.write_text(json.dumps({"schema": "chainrule.trace/1"}))
    with pytest.raises(ExerciseError, match="not an answer key"):
        load_key(path)
    data = generate(count=1).to_dict()
    data["exercises"][0]["spec"]["layers"] = [2, 0]
    with pytest.raises(ExerciseError, match=r"exercises\[0\]: spec: layers"):
        key_from_dict(data, "key.json")
    with pytest.raises(ExerciseError, match="no such key file"):
        load_key(tmp_path / "missing.json")


# --- LaTeX and PDF ------------------------------------------------------------------------------


def test_latex_uses_only_texlive_latex_base_packages(tmp_path):
    import re

    write_worksheets(generate("batch", count=1, title="Week 3 — backprop"), tmp_path, "latex")
    assert r"\section*{Week 3 --- backprop}" in (tmp_path / "worksheet.tex").read_text()
    base = {"inputenc", "fontenc", "amsmath,amssymb", "geometry", "color", "array,longtable"}
    for name in ("worksheet.tex", "key.tex"):
        text = (tmp_path / name).read_text()
        assert set(re.findall(r"\\usepackage(?:\[[^]]*\])?\{([^}]*)\}", text)) <= base
        assert text.startswith(r"\documentclass") and text.rstrip().endswith(r"\end{document}")
    assert r"\begin{picture}" in (tmp_path / "worksheet.tex").read_text()


def test_pdf_through_pdflatex(tmp_path):
    import shutil

    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-base)")
    problem_set = generate("deep", count=1, seed=2, activation="tanh", loss="mse")
    first = write_worksheets(problem_set, tmp_path / "a", "pdf")
    second = write_worksheets(problem_set, tmp_path / "b", "pdf")
    for name in ("worksheet.pdf", "key.pdf"):
        data = (tmp_path / "a" / name).read_bytes()
        assert data.startswith(b"%PDF") and data == (tmp_path / "b" / name).read_bytes()
    # worksheet, key and answers-only key as .tex and .pdf; key.csv, key.json, the template
    assert len(first) == len(second) == 9


def test_pdf_without_pdflatex_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(cr.MissingDependency, match="apt-get install texlive-latex-base"):
        write_worksheets(generate(count=1), tmp_path, "pdf")
    assert not (tmp_path / "key.json").exists()  # nothing half-written
