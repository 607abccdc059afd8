"""Answer files: JSON, YAML and CSV read with every number kept as the text written."""

from __future__ import annotations

import pytest

import chainrule as cr
from chainrule.errors import SpecError
from chainrule.verify.answers import judge_answers, load_answers
from tests.test_answers import FIXTURES, row
from tests.test_mistakes import FIXED


@pytest.mark.parametrize("name", ["ascent_answers.yaml", "ascent_answers.csv"])
def test_answer_files_keep_the_written_text(name):
    answers = load_answers(FIXTURES / name)
    assert answers["forward.loss"] == "0.0004"
    report = judge_answers("seed", answers, source=name)
    assert report.diagnosis.id == "gradient_ascent" and report.explained == 7, str(report)
    assert row(report, "updated.W1[1][0]").given == "0.1000"  # trailing zeros are precision
    assert str(report).startswith(f"{name} on network seed")


def test_json_numbers_keep_their_precision(tmp_path):
    path = tmp_path / "answers.json"
    path.write_text('{"updated": {"W1": [[0.2001, 0.40006], [0.10003, 0.30004]]},'
                    ' "loss_after": 4.133e-4, "updated.b2[0]": 0.1009006192}')
    answers = load_answers(path)
    assert answers["updated.W1"][0] == ["0.2001", "0.40006"]
    assert answers["loss_after"] == "4.133e-4"
    assert judge_answers("seed", answers).ok


def test_the_notebook_printed_values_from_a_file():
    report = judge_answers("seed", load_answers(FIXTURES / "notebook_printed.json"))
    assert len(report.wrong) == len(report.rows) == 8
    assert row(report, "updated.b1").note.startswith("shape (1, 2), expected (2,)")


def test_csv_forms(tmp_path):
    path = tmp_path / "answers.csv"
    path.write_text("updated.W1[0,1],0.4001\n\n# a comment\n\"updated.b1\",\"[0.1001, 0.2001]\"\n"
                    "loss_after, 0.000413\n")
    answers = load_answers(path)
    assert answers == {"updated.W1[0,1]": "0.4001", "updated.b1": ["0.1001", "0.2001"],
                       "loss_after": "0.000413"}
    assert judge_answers("seed", answers).ok


@pytest.mark.parametrize("name", ["seed", "batch.json"])
def test_a_trace_json_is_accepted_as_answers(tmp_path, name):
    path = tmp_path / "trace.json"
    path.write_text(cr.explain(FIXED[name]).to_json())
    report = judge_answers(FIXED[name], load_answers(path))
    assert report.ok and len(report.rows) > 20


@pytest.mark.parametrize("name, text, message", [
    ("a.json", '{"updated.W1[0][0]": 0.2,\n "x": }', r"a\.json:2:7: invalid JSON"),
    ("a.json", '[1, 2]', r"a\.json: expected a mapping from quantity to value, got a list"),
    ("a.json", '{"loss_after": 1, "loss_after": 2}', r"'loss_after' is given twice"),
    ("a.yaml", 'updated.W1: [0.2\n', r"a\.yaml:2:1: invalid YAML"),
    ("a.yaml", '', r"a\.yaml: expected a mapping from quantity to value, got nothing"),
    ("a.csv", 'updated.W1[0][0]\n', r"a\.csv:1: expected two columns, quantity,value"),
    ("a.csv", 'loss_after,1\nloss_after,2\n', r"a\.csv:2: 'loss_after' is given twice"),
    ("a.txt", 'loss_after = 1', r"unknown answers format '\.txt'"),
    ("a.json", '{}', r"a\.json: no answers in the file"),
])
def test_answer_file_errors(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(SpecError, match=message):
        load_answers(path)


def test_missing_answer_file():
    with pytest.raises(SpecError, match=r"nowhere\.json: no such answers file"):
        load_answers("nowhere.json")
