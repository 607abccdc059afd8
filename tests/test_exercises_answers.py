"""Reading students' answers (JSON, YAML, CSV, notebooks, folders) and writing the grades."""

from __future__ import annotations

import csv
import io
import json

import pytest

from chainrule.exercises import (
    ExerciseError, generate, grade_class, load_submissions, write_worksheets,
)
from chainrule.exercises import export, report


@pytest.fixture(scope="module")
def key():
    return generate("output", seed=5, count=2)  # 8 questions: 1a-1d, 2a-2d


def read(tmp_path, key, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_submissions([path], key)


def test_one_student_in_json_yaml_and_csv(tmp_path, key):
    a, b = key.questions[0], key.questions[1]
    found = read(tmp_path, key, "ann.json", json.dumps({"1a": a.rounded(4), b.id: b.answer}))
    assert found == {"ann": (str(tmp_path / "ann.json"), {"1a": a.rounded(4), b.id: repr(
        b.answer)})}
    found = read(tmp_path, key, "bob.yaml", f"1a: {a.rounded(4)}\n'1':\n  {b.quantity}: x\n")
    assert found["bob"][1] == {"1a": a.rounded(4), b.id: "x"}  # nested: exercise → quantity
    # two columns; an unquoted id with a comma in its index is put back together
    found = read(tmp_path, key, "cy.csv", f"question,value\n# a comment\n1a,{a.rounded(4)}\n"
                                          f"{b.id},0.1\n")
    assert found["cy"][1] == {"1a": a.rounded(4), b.id: "0.1"}


def test_a_class_in_one_csv_wide_or_long(tmp_path, key):
    found = read(tmp_path, key, "wide.csv", "student,1a,1b\nann,0.1,\nbob,,0.2\n")
    assert found["ann"][1] == {"1a": "0.1"} and found["bob"][1] == {"1b": "0.2"}
    assert found["bob"][0] == f"{tmp_path / 'wide.csv'}:3"
    found = read(tmp_path, key, "long.csv", "student,question,value\nann,1a,0.1\nann,1b,0.2\n"
                                            "bob,1a,0.3\n")
    assert found["ann"][1] == {"1a": "0.1", "1b": "0.2"} and found["bob"][1] == {"1a": "0.3"}
    found = read(tmp_path, key, "class.json", json.dumps({"students": {"ann": {"1a": 0.1}}}))
    assert found["ann"][1] == {"1a": "0.1"}


def test_a_filled_in_notebook(tmp_path, key):
    write_worksheets(key, tmp_path / "set", "ipynb")
    notebook = json.loads((tmp_path / "set" / "worksheet.ipynb").read_text())
    for cell in notebook["cells"]:
        if cell["id"] == "ex1-answer-1a":
            cell["source"] = ['answers["1a"] = -0.25  # my answer\n']
        if cell["id"] == "ex1-answer-1b":
            cell["source"] = ["answers['1b'] = '0.5'"]
    (tmp_path / "dee.ipynb").write_text(json.dumps(notebook))
    found = load_submissions([tmp_path / "dee.ipynb"], key)
    assert found["dee"][1]["1a"] == "-0.25" and found["dee"][1]["1b"] == "0.5"
    assert found["dee"][1]["1c"] is None  # still ...


def test_a_folder_of_answer_files(tmp_path, key):
    folder = tmp_path / "submissions"
    folder.mkdir()
    (folder / "ann.json").write_text('{"1a": "0.1"}')
    (folder / "bob.csv").write_text("1a,0.2\n")
    (folder / "notes.txt").write_text("not answers")
    found = load_submissions([folder], key)
    assert sorted(found) == ["ann", "bob"]


@pytest.mark.parametrize("name, text, message", [
    ("a.json", '{"1a": 0.1,\n', r"a.json:2:1: invalid JSON"),
    ("a.json", '{"1a": 0.1, "1a": 0.2}', r"a.json: '1a' is given twice"),
    ("a.yaml", "1a: [\n", r"a.yaml:2:1: invalid YAML"),
    ("a.csv", "student,1a,9z\nann,1,2\n", r"a.csv:1: column '9z': no such question"),
    ("a.csv", "student,1a\nann,1\nann,2\n", r"a.csv:3: student 'ann' appears twice"),
    ("a.csv", "student,1a\nann,1,2\n", r"a.csv:2: 3 cells for 2 columns"),
    ("a.csv", "student,1a\n,1\n", r"a.csv:2: no student named"),
    ("a.csv", "1a,1\n1a,2\n", r"a.csv:2: '1a' is answered twice"),
    ("a.csv", "1a,1,2\n", r"a.csv:1: expected two cells"),
    ("a.csv", "student,question,value\nann,1a,1\nann,1a,2\n", r"a.csv:3: ann answers '1a' twice"),
    ("a.txt", "1a,1\n", r"a.txt: unknown answers format '.txt'"),
    ("a.json", "[1, 2]", r"a.json: expected a mapping from question to value"),
    ("a.ipynb", "{}", r"a.ipynb: not a Jupyter notebook"),
])
def test_bad_files_are_one_line_errors(tmp_path, key, name, text, message):
    with pytest.raises(ExerciseError, match=message) as error:
        read(tmp_path, key, name, text)
    assert "\n" not in str(error.value)


def test_missing_files_and_students_in_two_files(tmp_path, key):
    with pytest.raises(ExerciseError, match="no such answers file"):
        load_submissions([tmp_path / "nope.csv"], key)
    (tmp_path / "ann.json").write_text('{"1a": "1"}')
    (tmp_path / "class.csv").write_text("student,1a\nann,2\n")
    with pytest.raises(ExerciseError, match=r"class.csv:2: student 'ann' is also in .*ann.json"):
        load_submissions([tmp_path / "ann.json", tmp_path / "class.csv"], key)


def test_an_unknown_question_in_a_students_file(tmp_path, key):
    submissions = read(tmp_path, key, "ann.json", '{"7q": "1"}')
    with pytest.raises(ExerciseError, match=r"ann.json: '7q': no such question in the key"):
        grade_class(key, submissions)


# --- the grades written -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graded(key):
    right = {q.id: q.rounded(4) for q in key.questions}
    wrong = dict(right)
    q = key.questions[1]
    wrong[q.id] = f"{q.answer * 3:.4f}"  # no known mistake triples a gradient
    return grade_class(key, {"ann": ("a", right), "bob": ("b", wrong)})


def test_csv_is_a_gradebook(graded):
    rows = list(csv.reader(io.StringIO(export.to_csv(graded))))
    assert rows[0][:11] == ["student", "points", "max_points", "score", "correct", "carried",
                            "close", "incorrect", "unanswered", "mistakes", "1a"]
    assert rows[1][:4] == ["ann", "8", "8", "1.0000"]
    assert rows[2][:4] == ["bob", "7", "8", "0.8750"] and rows[2][11] == "incorrect"


def test_json_has_every_answer_and_the_working_of_missed_questions(graded):
    data = json.loads(export.to_json(graded))
    assert data["schema"] == "chainrule.grades/2" and data["summary"]["students"] == 2
    bob = data["students"][1]
    wrong = bob["answers"][1]
    assert wrong["status"] == "incorrect" and wrong["mistakes"] == []
    working = data["summary"]["working"]
    assert list(working) == [wrong["id"]]  # once per question someone missed
    assert working[wrong["id"]][-1].startswith("∂E/∂w²₁₁ = ")
    assert data["summary"]["questions"][0]["label"] == "1b"


def test_table_and_markdown(graded):
    text = report.table(graded, "key.json")
    assert text.startswith("Graded against key.json: level output, 2 exercises, 8 questions")
    assert "Class: 2 students, mean score 94%" in text
    assert "Questions most often missed:" in text and "\n  1b " in text
    assert "bob: 7 of 8 points" not in text  # a class: details on request
    detailed = report.table(graded, "key.json", details=True)
    assert "bob: 7 of 8 points (88%): 7 correct, 1 incorrect" in detailed
    assert "no known mistake gives this number. The correct working:" in detailed
    assert "error carried forward)" not in detailed  # a carried answer is "carried", once
    markdown = report.markdown(graded, "key.json", details=True)
    assert markdown.startswith("# Grades: ") and "| ann | 8/8 | 100% |" in markdown
    assert "- $\\delta^{2}_{1} = " in markdown


def test_feedback_files_one_per_student(graded, tmp_path):
    written = export.write_feedback(graded, tmp_path)
    assert [p.name for p in written] == ["ann.md", "ann.html", "bob.md", "bob.html"]
    page = (tmp_path / "bob.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "default-src 'none'" in page
    assert "<td class='incorrect'>incorrect</td>" in page and "<script" not in page
    assert (tmp_path / "bob.md").read_text().startswith("# bob\n\nbob: 7 of 8 points")
