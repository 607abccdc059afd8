"""The classroom: a variant per student, keys and sheets a teacher hands out, feedback read
once, notation profiles.

A variant must be the student's own (drawn from the seed and their id, whatever the roster's
order), graded against their own numbers; a key must be short enough to use and print given
numbers as given; feedback must say each step's working once; a profile must rename, never
renumber.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from chainrule.cli.main import main
from chainrule.exercises import export, report
from chainrule.exercises.checking import Checker
from chainrule.exercises.generate import generate, generate_class
from chainrule.exercises.keys import answers_csv, inline_latex
from chainrule.exercises.levels import split_key
from chainrule.exercises.model import ExerciseError, key_from_dict, load_key
from chainrule.exercises.roster import Student, entropy, load_roster, numbered
from chainrule.exercises.summary import grade_class
from chainrule.exercises.writers import write_worksheets
from chainrule.spec.network import parse_spec
from chainrule.verify.mistakes import applicable_mistakes


def _mistaken(exercise, mistake_id: str, precision: int = 4) -> dict[str, str]:
    """Every answer of ``exercise`` as the mistake gives it, rounded as asked."""
    spec = parse_spec(exercise.spec)
    values = {m.id: m for m in applicable_mistakes(spec)}[mistake_id].compute(spec)
    out = {}
    for q in exercise.questions:
        name, index = split_key(q.quantity)
        out[q.label] = f"{float(np.asarray(values[name])[index]):.{precision}f}"
    return out


# --- variants ----------------------------------------------------------------------------------


def test_each_student_gets_their_own_variant_whatever_the_roster():
    ann, bo, cy = Student("s1", "Ann"), Student("s2", "Bo"), Student("s3", "Cy")
    first = generate_class([ann, bo, cy], "full", count=2, seed=4)
    reordered = generate_class([cy, ann], "full", count=2, seed=4)
    specs = {v.student: [e.spec for e in v.exercises] for v in first.variants}
    assert {v.student: [e.spec for e in v.exercises] for v in reordered.variants} == {
        s: specs[s] for s in ("s3", "s1")}
    # every student's networks differ from everyone else's and from the teacher's copy
    drawn = [json.dumps(e.spec, sort_keys=True) for v in first.variants for e in v.exercises]
    drawn += [json.dumps(e.spec, sort_keys=True) for e in first.exercises]
    assert len(set(drawn)) == len(drawn)
    # the same questions, other numbers
    labels = [q.label for q in first.questions]
    assert all([q.label for e in v.exercises for q in e.questions] == labels
               for v in first.variants)
    assert entropy(4, 1) == [4, 1] and entropy(4, 1, "s1")[:2] == [4, 1]
    assert generate_class([ann], "full", count=1, seed=5).variants[0].exercises[0].spec != \
        first.variants[0].exercises[0].spec  # another seed, another network


def test_a_class_key_round_trips_and_finds_a_student_by_id_or_name():
    made = generate_class(numbered(3), "output", count=1, seed=2)
    key = key_from_dict(json.loads(made.to_json()))
    assert [v.student for v in key.variants] == ["student-001", "student-002", "student-003"]
    own = key.for_student("STUDENT-002")
    assert own.student == "student-002" and own.exercises == made.variants[1].exercises
    assert key.for_student("nobody") is None
    damaged = json.loads(made.to_json())
    assert "questions" not in damaged["variants"][0]["exercises"][0]  # the set's, not repeated
    damaged["variants"][1]["exercises"][0]["answers"].pop()
    with pytest.raises(ExerciseError, match=r"variants\[1\]: exercises\[0\]: answers: "
                                            r"expected 4 numbers"):
        key_from_dict(damaged)
    edited = json.loads(made.to_json())
    edited["variants"][2]["exercises"][0]["answers"][0] += 0.01
    from chainrule.exercises.grade import Grader

    with pytest.raises(ExerciseError, match="was the key edited"):
        Grader(key_from_dict(edited).student_sets()[2]).truth(1)


def test_a_key_too_large_to_read_back_is_never_written(tmp_path, monkeypatch):
    from chainrule.exercises import writers

    monkeypatch.setattr(writers, "MAX_KEY_BYTES", 1_000)
    with pytest.raises(ExerciseError, match="above the 1,000 a key may have"):
        write_worksheets(generate_class(numbered(5), "output", count=1), tmp_path / "k")
    assert not (tmp_path / "k").exists()


def test_grading_matches_each_student_to_their_variant(tmp_path, capsys):
    roster = tmp_path / "roster.csv"
    roster.write_text("Student,ID,SIS User ID\nAnn Lee,101,a1\nBo Chen,102,b2\n")
    students = load_roster(roster)
    assert students == [Student("101", "Ann Lee"), Student("102", "Bo Chen")]
    assert main(["exercise", "new", "--roster", str(roster), "--level", "output", "--count",
                 "1", "--out", str(tmp_path / "set")]) == 0
    key = load_key(tmp_path / "set")
    ann, bo = key.student_sets()
    # Ann answers her own numbers; Bo answers Ann's: right for her, wrong for him
    rows = [["student", *(q.label for q in ann.questions)],
            ["101", *(q.rounded(4) for q in ann.questions)],
            ["Bo Chen", *(q.rounded(4) for q in ann.questions)]]
    answers = tmp_path / "class.csv"
    with answers.open("w", newline="") as file:
        csv.writer(file).writerows(rows)
    graded = grade_class(key, {"101": ("a", dict(zip(rows[0][1:], rows[1][1:]))),
                               "Bo Chen": ("b", dict(zip(rows[0][1:], rows[2][1:])))})
    first, second = graded.students
    assert (first.student, first.name, first.score) == ("101", "Ann Lee", 1.0)
    assert second.student == "102" and second.count("correct") < len(ann.questions)
    book = list(csv.reader(io.StringIO(export.to_csv(graded))))
    assert book[0][:3] == ["student", "name", "points"] and book[2][:2] == ["102", "Bo Chen"]
    # a student not on the roster is one line, exit 2
    answers.write_text("student,1a\nzed,0.1\n")
    capsys.readouterr()
    assert main(["exercise", "grade", str(tmp_path / "set"), str(answers)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "student 'zed' is not on the roster" in err


@pytest.mark.parametrize("text, message", [
    ("name\nAnn\n", "no id column"),
    ("id,name\ns1,Ann\nS1,Bo\n", "student id 'S1' is also on line 2"),
    ("id,name\n,Ann\n", "no student id"),
    ("id\n" + "x" * 101 + "\n", "at most 100 printable characters"),
    ("id\n", "expected a header (id,name) and a row per student"),
])
def test_a_bad_roster_is_one_line(tmp_path, capsys, text, message):
    roster = tmp_path / "roster.csv"
    roster.write_text(text)
    assert main(["exercise", "new", "--roster", str(roster), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_a_class_writes_one_key_a_sheet_each_and_a_template_with_their_ids(tmp_path):
    hostile = [Student("s<1>", "=HYPERLINK(\"x\")"), Student("../s2", "Ann & Bo_%$#")]
    made = generate_class(hostile, "output", count=2, seed=3)
    written = write_worksheets(made, tmp_path, "markdown")
    names = sorted(p.relative_to(tmp_path).as_posix() for p in written)
    assert "sheets/s_1.md" in names and "sheets/s2.md" in names
    assert all(p.resolve().is_relative_to(tmp_path.resolve()) for p in written)
    sheet = (tmp_path / "sheets" / "s2.md").read_text()
    assert "**Student id:** `../s2`" in sheet and "![The network of exercise 1](diagrams/" in sheet
    template = list(csv.reader(io.StringIO((tmp_path / "answers-template.csv").read_text())))
    assert [row[0] for row in template[1:]] == ["s<1>", "../s2"]
    answers = list(csv.reader(io.StringIO(answers_csv(made))))
    assert answers[1][1].startswith("'=")  # a roster's formula reaches no spreadsheet
    assert answers[2][2:] == [q.rounded(4) for q in made.student_sets()[1].questions]


@pytest.mark.skipif(shutil.which("pdflatex") is None or shutil.which("pdfinfo") is None,
                    reason="pdflatex or its pdfinfo (poppler-utils) is not installed")
def test_the_compact_key_is_a_page_per_exercise_and_the_sheets_merge_for_printing(tmp_path):
    made = generate_class([Student("s1", "Ann"), Student("s2", "Bo & Cy_%")], "full", count=2,
                          seed=1)
    write_worksheets(made, tmp_path, "pdf")

    def pages(name: str) -> int:
        info = subprocess.run(["pdfinfo", str(tmp_path / name)], capture_output=True,
                              text=True, check=True).stdout
        return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))

    assert pages("key.pdf") == 4  # 2 students × 2 exercises of a 2-2-1 network
    assert pages("key-answers.pdf") == 1
    one = pages("sheets/s1.pdf")
    assert pages("worksheets.pdf") == one + pages("sheets/s2.pdf") + one % 2  # odd starts
    tex = (tmp_path / "key.tex").read_text()
    table = tex.split(r"\endhead", 1)[1]
    assert r"\frac" not in table.split(r"\end{longtable}")[0]  # no stacked fraction in a row
    sheet = (tmp_path / "sheets" / "s2.tex").read_text()
    assert r"\framebox[7.5cm][l]{\strut Bo \& Cy\_\%}" in sheet and r"\workbox" in sheet


def test_the_key_prints_given_numbers_as_given_and_computed_ones_in_full():
    made = generate("forward", count=1, seed=3)
    text = "\n".join(__import__("chainrule.exercises.keys", fromlist=["x"]).compact_markdown(
        made, "t"))
    spec = made.exercises[0].spec
    w = spec["weights"][0][0][0]
    row = next(line for line in text.splitlines() if line.startswith("| **1a**"))
    assert f"({w:g})" in row and f"({w:.6f})" not in row  # 0.3, not 0.300000
    assert re.search(r"\\sigma\(-?\d\.\d{6}\)", text)  # a computed z in full
    assert inline_latex(r"\frac{\partial E}{\partial w^{1}_{11}} = a") == \
        r"\partial E/\partial w^{1}_{11} = a"
    assert inline_latex(r"\frac{1}{1 + e}") == "1/(1 + e)"


def test_ask_chooses_the_quantities(capsys, tmp_path):
    made = generate("full", count=1, seed=2, ask="forward,deltas,updates")
    sections = {q.quantity.split(".")[0] for q in made.questions}
    assert sections == {"forward", "backward", "updated"}
    assert made.options["ask"] == ["forward", "deltas", "updated"]
    assert main(["exercise", "new", "--ask", "forward,weights", "--out", str(tmp_path)]) == 2
    assert "ask: expected some of forward" in capsys.readouterr().err
    assert main(["exercise", "new", "--level", "conv", "--ask", "forward", "--out",
                 str(tmp_path)]) == 2
    assert "level conv asks its own quantities" in capsys.readouterr().err


# --- feedback ----------------------------------------------------------------------------------


def _equations(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("- $")]


def test_feedback_shows_each_step_once_then_what_followed():
    made = generate("full", count=1, seed=7, ask="forward,deltas,gradients,updates")
    answers = _mistaken(made.exercises[0], "derivative_of_z")
    graded = grade_class(made, {"ann": ("a", answers)})
    student = graded.students[0]
    assert student.exercises[0].diagnosis == "derivative_of_z"
    from chainrule.exercises.working import Workings

    text = "\n".join(report.student_markdown(student, graded, Workings.of(made)))
    equations = _equations(text)
    assert equations and len(equations) == len(set(equations))  # no working twice
    explanation = "was evaluated with the net input z in place of the activation a"
    assert text.count(explanation) == 1  # the diagnosis, said once
    assert "later answers follow correctly from the wrong numbers and are credited" in text
    assert "error carried forward)" not in text  # "carried", not the sentence, per row


def test_the_class_summary_names_the_questions_each_mistake_hit():
    made = generate("output", count=2, seed=3)
    right = {q.label: q.rounded(4) for q in made.questions}
    wrong = {**right, **_mistaken(made.exercises[1], "gradient_ascent")}
    wrong.update({label: value for label, value in
                  _mistaken(made.exercises[0], "loss_derivative_sign").items()})
    graded = grade_class(made, {"ann": ("a", right), "bo": ("b", wrong)})
    summary = {m.id: m.questions for m in graded.mistakes()}
    assert summary["loss_derivative_sign"][0].startswith("1")
    table = report.table(graded, "key")
    assert "questions hit" in table and ", ".join(summary["loss_derivative_sign"][:2]) in table
    data = export.to_dict(graded)
    assert data["summary"]["mistakes"][0]["questions"]


def test_the_notebook_says_a_mistake_once():
    made = generate("full", count=1, seed=7)
    answers = _mistaken(made.exercises[0], "gradient_ascent")
    feedback = Checker(made)(answers, exercise=1)
    advice = [row[3] for row in feedback.lines() if row[2] == "wrong"]
    assert len(advice) >= 3
    assert sum("Update along the gradient" in a for a in advice) == 1
    assert all(a.startswith("as for ") for a in advice[1:])


# --- notation profiles ---------------------------------------------------------------------------


@pytest.mark.parametrize("notation, weight, gradient", [
    ("nielsen", "w¹₂₁", "∂C/∂w¹₂₁"),  # to unit 1 from unit 2: W1[1,0] in chainrule's layout
    ("ng", "w[1]₂₁", "dw[1]₂₁"),
    ("cs231n", "W1[0,1]", "dW1[0,1]"),  # code names keep NumPy's layout, from 0
    ("goodfellow", "w⁽¹⁾₁₂", "∂J/∂w⁽¹⁾₁₂"),
    ("d2l", "w⁽¹⁾₁₂", "∂L/∂w⁽¹⁾₁₂"),
])
def test_a_profile_renames_and_never_renumbers(capsys, notation, weight, gradient):
    assert main(["explain", "--precision", "4"]) == 0
    plain = capsys.readouterr().out
    assert main(["explain", "--precision", "4", "--notation", notation]) == 0
    named = capsys.readouterr().out
    numbers = re.compile(r"-?\d+\.\d{4}")
    assert numbers.findall(named) == numbers.findall(plain)  # the same numbers, in order
    # w¹₁₂ of chainrule (W1[0,1], from unit 1 to unit 2) under the profile's name
    assert "∂E/∂w¹₁₂ =" in plain and re.search(rf"^\s*{re.escape(gradient)} =", named, re.M)
    assert weight in named and "∂E/∂w" not in named


def test_a_worksheet_in_a_profile_takes_answers_in_its_names(tmp_path):
    made = generate("output", count=1, seed=3, notation="nielsen")
    assert made.options["notation"] == "nielsen"
    gradient = next(q for q in made.questions if q.quantity == "gradients.W2[1,0]")
    assert gradient.symbol == "∂C/∂w²₁₂"
    write_worksheets(made, tmp_path, "markdown")
    sheet = (tmp_path / "worksheet.md").read_text()
    assert "to neuron $j$ of layer $l$ from neuron $k$" in sheet and "The loss is $C" in sheet
    graded = grade_class(made, {"ann": ("a", {"∂C/∂w²₁₂": gradient.rounded(4),
                                               r"\frac{\partial C}{\partial w^{2}_{11}}":
                                               "0.9999"})})
    judged = {j.question.label: j.status for j in graded.students[0].judgements}
    assert judged[gradient.label] == "correct" and list(judged.values()).count("incorrect") == 1
    key = (tmp_path / "key.md").read_text()
    assert r"\partial C/\partial w^{2}_{12}" in key


def test_a_bad_profile_is_one_line(capsys, tmp_path):
    assert main(["explain", "--notation", "bishop"]) == 2
    assert "notation: expected one of chainrule, nielsen" in capsys.readouterr().err
    assert main(["explain", "--notation", "ng", "--format", "html"]) == 2
    assert "--notation: for --format text, markdown or latex" in capsys.readouterr().err
    assert main(["exercise", "new", "--level", "circuit", "--notation", "ng", "--out",
                 str(tmp_path)]) == 2
    assert "level circuit writes its own symbols" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
@pytest.mark.parametrize("notation", ["ng", "cs231n", "goodfellow"])
def test_a_profile_s_latex_compiles(tmp_path, notation):
    assert main(["explain", "--notation", notation, "--format", "latex", "-o",
                 str(tmp_path / "step.tex")]) == 0
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                             "step.tex"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout[-2000:]


def test_a_student_s_notebook_is_graded_against_their_variant_whatever_its_name(tmp_path):
    made = generate_class([Student("s1", "Ann"), Student("s2", "Bo")], "output", count=1,
                          seed=6)
    write_worksheets(made, tmp_path / "set", "ipynb")
    notebook = json.loads((tmp_path / "set" / "sheets" / "s2.ipynb").read_text())
    assert notebook["metadata"]["chainrule"] == {"student": "s2"}
    bo = made.student_sets()[1]
    for cell in notebook["cells"]:  # Bo fills in his own answers, then renames the file
        for q in bo.questions:
            if cell.get("id") == f"ex1-answer-{q.label}":
                cell["source"] = [f'answers["{q.label}"] = {q.rounded(4)}\n']
    renamed = tmp_path / "my-homework.ipynb"
    renamed.write_text(json.dumps(notebook))
    from chainrule.exercises.submissions import load_submissions

    graded = grade_class(made, load_submissions([renamed], made))
    assert graded.students[0].student == "s2" and graded.students[0].score == 1.0
