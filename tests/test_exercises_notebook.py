"""The notebook worksheet runs in Jupyter (a real kernel, through nbclient) and checks answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from chainrule.exercises import generate, write_worksheets
from chainrule.exercises.levels import split_key
from chainrule.verify.mistakes import MISTAKES, mistaken_step

nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed "
                                                  "(pip install -e '.[test]')")
nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed "
                                                  "(pip install -e '.[test]')")


@pytest.fixture(scope="module")
def worksheet(tmp_path_factory):
    folder = tmp_path_factory.mktemp("notebook")
    problem_set = generate("full", seed=7, count=2)
    write_worksheets(problem_set, folder, "ipynb")
    return problem_set, folder / "worksheet.ipynb"


def test_the_notebook_is_valid_and_has_a_cell_per_question(worksheet):
    problem_set, path = worksheet
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    ids = [cell.id for cell in notebook.cells]
    assert ids[:2] == ["intro", "setup"] and ids[-1] == "check-all"
    for q in problem_set.questions:
        n = q.exercise
        assert f"ex{n}-q{q.label}" in ids and f"ex{n}-answer-{q.label}" in ids
    assert ids.count("ex1-check") == 1
    assert "attachment:exercise-01.svg" in "".join(notebook.cells[2].source)
    # the answers are not written in the notebook, only packed in the setup cell
    text = path.read_text()
    assert problem_set.questions[0].rounded(4) not in text.replace(
        "".join(notebook.cells[1].source), "")


def test_the_checking_cell_reports_a_deliberately_wrong_answer(worksheet, tmp_path):
    problem_set, path = worksheet
    notebook = nbformat.read(path, as_version=4)
    exercise = problem_set.exercises[0]
    right, slip, wrong = exercise.questions[0], exercise.questions[1], exercise.questions[9]
    name, index = split_key(wrong.quantity)
    ascent = float(np.asarray(mistaken_step(exercise.spec, "gradient_ascent")[name])[index])
    answers = {right.label: right.rounded(4), slip.label: f"{slip.answer + 1e-4:.4f}",
               wrong.label: f"{ascent:.4f}"}
    for cell in notebook.cells:
        for label, value in answers.items():
            if cell.id == f"ex1-answer-{label}":
                cell.source = f'answers["{label}"] = {value}'
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    cells = {cell.id: cell for cell in notebook.cells}
    assert not any(o.output_type == "error" for c in notebook.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
    output = cells["ex1-check"].outputs[0]
    text = output.data["text/plain"]
    assert text.startswith("Exercise 1: 1 of 18 correct, 1 close, 15 not answered yet.")
    lines = {line.split()[0]: line for line in text.splitlines()[1:]}
    assert lines[right.label].rstrip().endswith("correct")
    assert "close: off in the last digit" in lines[slip.label]
    assert "wrong: this is the number you get from a known mistake, " \
           f"{MISTAKES['gradient_ascent'].title}" in lines[wrong.label]
    assert "<table>" in output.data["text/html"]
    for q in exercise.questions:  # feedback never shows an answer
        assert q.rounded(4) not in text or q.label == right.label
    assert cells["check-all"].outputs[0].data["text/plain"].startswith(
        "All exercises: 1 of 36 correct, 1 close, 33 not answered yet.")
    # a filled-in, run notebook is a submission the grader reads
    submitted = tmp_path / "ann.ipynb"
    nbformat.write(notebook, submitted)
    from chainrule.exercises import grade_class, load_submissions

    graded = grade_class(problem_set, load_submissions([submitted], problem_set))
    ann = graded.students[0]
    assert (ann.count("correct"), ann.count("close"), ann.count("incorrect")) == (1, 1, 1)
    assert json.loads(json.dumps(ann.exercises[0].diagnosis)) == "gradient_ascent"
