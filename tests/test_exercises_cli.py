"""``chainrule exercise new`` and ``grade`` through the command line's own parser helpers."""

from __future__ import annotations

import argparse
import json

import pytest

from chainrule.cli.exercise import add_exercise_parser, run_exercise
from chainrule.errors import ChainruleError


def main(argv: list[str]) -> int:
    """What chainrule.cli.main.main does with the exercise command: errors are one line, code 2."""
    parser = argparse.ArgumentParser(prog="chainrule")
    add_exercise_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    try:
        return run_exercise(args)
    except ChainruleError as error:
        import sys

        print(f"chainrule: error: {error}", file=sys.stderr)
        return 2


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("chainrule: error: "), err
    return err


@pytest.fixture
def made(tmp_path, capsys):
    folder = tmp_path / "week3"
    assert main(["exercise", "new", "--arch", "2-2-1", "--activation", "sigmoid", "--loss",
                 "half_sse", "--seed", "7", "--count", "3", "--level", "full", "--format",
                 "markdown", "--out", str(folder)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 exercises, 54 questions, answers to 4 decimals (level full, "
                          "seed 7):")
    assert f"{folder / 'key.json'}" in out and "(3 diagrams)" in out
    return folder


def test_new_writes_the_same_files_for_the_same_seed(made, tmp_path, capsys):
    again = tmp_path / "again"
    assert main(["exercise", "new", "--seed", "7", "--count", "3", "--loss", "half_sse",
                 "--out", str(again)]) == 0
    for name in ("worksheet.md", "key.md", "key.json", "answers-template.csv",
                 "diagrams/exercise-02.svg"):
        assert (made / name).read_bytes() == (again / name).read_bytes()


def test_grade_exits_0_whatever_the_answers(made, tmp_path, capsys):
    key = json.loads((made / "key.json").read_text())
    questions = key["exercises"][0]["questions"]
    (tmp_path / "ann.json").write_text(json.dumps({"1a": questions[0]["rounded"], "1b": "9"}))
    assert main(["exercise", "grade", str(made / "key.json"), str(tmp_path / "ann.json")]) == 0
    out = capsys.readouterr().out
    assert "ann: 1 of 54 points (2%): 1 correct, 1 incorrect, 52 unanswered" in out
    for format, start in (("markdown", "# Grades: "), ("csv", "student,points,max_points"),
                          ("json", "{")):
        assert main(["exercise", "grade", str(made), str(tmp_path / "ann.json"),
                     "--format", format]) == 0
        assert capsys.readouterr().out.startswith(start)


def test_grade_a_class_into_files(made, tmp_path, capsys):
    (tmp_path / "class.csv").write_text("student,1a,1b\nann,0.1,0.2\nbob,,0.3\n")
    assert main(["exercise", "grade", str(made / "key.json"), str(tmp_path / "class.csv"),
                 "--output", str(tmp_path / "grades.json"), "--format", "json", "--feedback",
                 str(tmp_path / "feedback")]) == 0
    assert capsys.readouterr().out == ""
    grades = json.loads((tmp_path / "grades.json").read_text())
    assert [s["student"] for s in grades["students"]] == ["ann", "bob"]
    assert sorted(p.name for p in (tmp_path / "feedback").iterdir()) == [
        "ann.html", "ann.md", "bob.html", "bob.md"]


@pytest.mark.parametrize("argv, message", [
    (["exercise", "new", "--arch", "2"], "arch: expected units per layer"),
    (["exercise", "new", "--level", "deep", "--arch", "2-2-1"], "level deep needs 3"),
    (["exercise", "new", "--precision", "12"], "precision: expected 2 to 8"),
    (["exercise", "grade", "nowhere/key.json", "a.json"], "no such key file"),
])
def test_bad_options_are_one_line_errors(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in one_line_error(capsys)


def test_bad_answers_are_one_line_errors(made, tmp_path, capsys):
    (tmp_path / "bad.json").write_text('{"1a": ')
    assert main(["exercise", "grade", str(made), str(tmp_path / "bad.json")]) == 2
    assert "bad.json:1:8: invalid JSON" in one_line_error(capsys)
    assert main(["exercise", "grade", str(made), str(tmp_path / "missing.csv")]) == 2
    assert "no such answers file" in one_line_error(capsys)
    (tmp_path / "ok.json").write_text("{}")
    assert main(["exercise", "grade", str(made), str(tmp_path / "ok.json"),
                 "--close-credit", "2"]) == 2
    assert "--close-credit: expected a number from 0 to 1" in one_line_error(capsys)


def test_a_key_of_other_exercises_needs_force(made, capsys):
    assert main(["exercise", "new", "--seed", "8", "--count", "1", "--out", str(made)]) == 2
    assert "holds the key of other exercises" in one_line_error(capsys)
    assert main(["exercise", "new", "--seed", "8", "--count", "1", "--out", str(made),
                 "--force"]) == 0


def test_pdf_without_pdflatex(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert main(["exercise", "new", "--count", "1", "--format", "pdf", "--out",
                 str(tmp_path)]) == 2
    assert "needs pdflatex: apt-get install texlive-latex-base" in one_line_error(capsys)


def test_no_subcommand_shows_help(capsys):
    assert main(["exercise"]) == 2
    assert "new" in capsys.readouterr().err
