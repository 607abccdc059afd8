"""Students' text and spec names are untrusted: no raw HTML or Markdown structure in Markdown,
no formulas in CSV, no file names that leave their folder or break a file system."""

from __future__ import annotations

import csv
import io
import json
import os
import re

import pytest

import chainrule as cr
from chainrule.cli.main import main
from chainrule.escape import MAX_STEM_BYTES, csv_cell, csv_text, file_stem, markdown_text
from chainrule.exercises import export, generate, grade_class, report
from chainrule.exercises.model import ExerciseError
from chainrule.exercises.writers import write_worksheets
from chainrule.spec.network import PRESETS

HOSTILE = ["<img src=x onerror=alert(1)>|x", "<script>alert(1)</script>",
           "[click](javascript:alert(1))", "![t](http://x/t.png)", "a\nb\r\n# heading",
           "{: onclick=alert(1) }", "$\\href{javascript:alert(1)}{x}$", "*bold* _it_ `code`",
           "- item", "1. item", "=== ", "a\\|b", "Tom & Jerry", "x\x00y\x1b[31m"]


# --- Markdown ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_text_leaves_no_html_no_structure(text):
    out = markdown_text(text, line_start=True)
    assert "<" not in out and ">" not in out and "\n" not in out and "\r" not in out
    assert not re.search(r"(?<!\\)[|\[\]{}$*_`]", out.replace("\\\\", ""))  # all escaped
    assert not re.match(r"[-+=#]|\d+[.)]", out)
    assert all(ord(c) >= 32 for c in out)


def test_markdown_text_keeps_plain_names_as_they_are():
    for name in ("ann", "Anne-Marie O'Brien", "José Müller", "seed: a 2-2-1 network"):
        assert markdown_text(name) == name
    assert markdown_text("Tom & Jerry") == "Tom &amp; Jerry"
    assert markdown_text("a|b") == r"a\|b"
    for answer in ("-0.5", "1.5", "+2", "=3"):  # inside a line, not a list or a rule
        assert markdown_text(answer) == answer
    assert markdown_text("-0.5", line_start=True) == r"\-0.5"
    assert markdown_text("1. x", line_start=True) == r"1\. x"


def _spec(name: str) -> dict:
    return {**PRESETS["seed"], "name": name}


def test_explain_markdown_escapes_a_hostile_spec_name(tmp_path, capsys):
    name = "<img src=x onerror=alert(1)>|x"
    text = cr.render(cr.explain(_spec(name)), "markdown")
    assert "<img" not in text and text.startswith("# &lt;img src=x onerror=alert(1)&gt;\\|x: ")
    assert "$" in text  # the math chainrule writes is untouched
    path = tmp_path / "net.json"
    path.write_text(json.dumps(_spec("<script>alert(1)</script>")))
    assert main(["explain", str(path), "--format", "markdown"]) == 0
    assert "<script" not in capsys.readouterr().out


def test_the_html_page_escapes_a_hostile_spec_name():
    page = cr.render(cr.explain(_spec("</script><img src=x onerror=alert(1)>")), "html")
    data = re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', page, re.S)
    assert data and all("</" not in block for block in data)  # the name cannot end the data
    outside = re.sub(r'<script type="application/json"[^>]*>.*?</script>', "", page, flags=re.S)
    assert "<img" not in outside and "&lt;img src=x" in outside


@pytest.fixture(scope="module")
def key():
    return generate("output", seed=5, count=1)


def _graded(key, names, given="<b>9</b>"):
    answers = {q.id: q.rounded(4) for q in key.questions}
    answers[key.questions[0].id] = given
    return grade_class(key, {name: (f"{name}.json", dict(answers)) for name in names})


def test_grade_markdown_and_feedback_escape_students_text(key, tmp_path):
    graded = _graded(key, ["<script>alert(1)</script>", "ann|x"])
    text = report.markdown(graded, "<key>.json", details=True)
    assert "<script" not in text and "<b>" not in text and "<key>" not in text
    assert "| ann\\|x | " in text  # one cell, not two
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    for path in export.write_feedback(graded, tmp_path):
        body = path.read_text()
        assert "<script" not in body and "<b>9</b>" not in body


def test_worksheet_titles_are_escaped(tmp_path):
    problem_set = generate("output", seed=5, count=1, title="<img src=x onerror=alert(1)>")
    for format in ("markdown", "ipynb"):
        for path in write_worksheets(problem_set, tmp_path / format, format):
            if path.suffix in (".md", ".ipynb"):
                assert "<img" not in path.read_text(), path


# --- CSV -----------------------------------------------------------------------------------------

FORMULAS = ["=cmd|' /C calc'!A0", "+HYPERLINK(\"http://x\")", "@SUM(A1:A9)", "-2+3",
            "\t=1", "\r=1"]


@pytest.mark.parametrize("cell", FORMULAS)
def test_a_formula_cell_is_neutralised(cell):
    assert csv_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["-0.5", "1e-3", "+4", "0.1250", "-1.5E+02", "ann", "a=b", 3,
                                  -0.5])
def test_numbers_and_plain_text_stay_as_they_are(cell):
    assert csv_cell(cell) == cell


def test_the_gradebook_neutralises_formula_names_and_keeps_scores_numbers(key):
    graded = _graded(key, FORMULAS[:4], given="-0.5")
    rows = list(csv.reader(io.StringIO(export.to_csv(graded))))
    assert [row[0] for row in rows[1:]] == ["'" + name for name in FORMULAS[:4]]
    assert all(not row[3].startswith("'") and float(row[3]) >= 0 for row in rows[1:])


def test_grade_cli_writes_a_safe_gradebook_and_every_feedback_file(tmp_path, capsys):
    assert main(["exercise", "new", "--level", "output", "--count", "1", "--seed", "5",
                 "--out", str(tmp_path / "sheet")]) == 0
    names = [*FORMULAS[:3], "y" * 300, "<script>alert(1)</script>"]
    (tmp_path / "class.csv").write_text(csv_text([["student", "1a"], *([n, "-0.5"] for n in
                                                                       names)]))
    book = tmp_path / "book.csv"
    assert main(["exercise", "grade", str(tmp_path / "sheet"), str(tmp_path / "class.csv"),
                 "--format", "csv", "-o", str(book), "--feedback", str(tmp_path / "fb")]) == 0
    capsys.readouterr()
    rows = list(csv.reader(io.StringIO(book.read_text())))
    assert [row[0] for row in rows[1:4]] == ["'" + name for name in FORMULAS[:3]]
    assert len(os.listdir(tmp_path / "fb")) == 2 * len(names)  # Markdown and HTML each


def test_every_csv_writer_uses_csv_cell():
    root = os.path.join(os.path.dirname(cr.__file__))
    users = []
    for folder, _, names in os.walk(root):
        for name in names:
            if name.endswith(".py") and name != "escape.py":
                with open(os.path.join(folder, name), encoding="utf-8") as file:
                    if "csv.writer" in file.read():
                        users.append(name)
    assert users == []  # they call chainrule.escape.csv_text


# --- file names ----------------------------------------------------------------------------------

NAMES = ["ann", "../../etc/passwd", "/abs", "..", ".hidden", "a\x00b", "tab\there", "CON",
         "lpt1.final", "nul", "x" * 300, "é" * 300, "José", "Jose\u0301", "a/b", "a\\b",
         "trailing.", "  ", ""]


def test_file_stems_are_bounded_safe_and_unique():
    used: set[str] = set()
    stems = [file_stem(name, used) for name in NAMES]
    assert len({s.casefold() for s in stems}) == len(stems)
    for stem in stems:
        assert 0 < len(stem.encode("utf-8")) <= MAX_STEM_BYTES
        assert "/" not in stem and "\\" not in stem and "\x00" not in stem
        assert not stem.startswith((".", "-")) and not stem.endswith(".")
        assert all(c.isprintable() and c != " " for c in stem)
        assert stem.split(".")[0].lower() not in ("con", "prn", "aux", "nul", "lpt1")
    assert stems[0] == "ann" and stems[12] == "José"
    assert file_stem("x" * 300, set()) == stems[10]  # the same name, the same file, every run


def test_two_names_with_the_same_slug_get_two_files():
    used: set[str] = set()
    first, second = file_stem("ann smith", used), file_stem("ann/smith", used)
    assert first == "ann_smith" and second.startswith("ann_smith-") and first != second
    assert file_stem("ANN_SMITH", used).casefold() not in ("ann_smith", second.casefold())


def test_a_class_with_long_and_hostile_names_gets_every_feedback_file(key, tmp_path):
    names = ["ann", "x" * 300, "../../escape", "ann", "Ann"][:3] + ["CON", "\x00"]
    graded = _graded(key, names)
    folder = tmp_path / "feedback"
    written = export.write_feedback(graded, folder)
    assert len(written) == 2 * len(names) == len(set(written))  # .md and .html each
    assert all(path.parent == folder and path.is_file() for path in written)
    assert sorted(os.listdir(tmp_path)) == ["feedback"]  # nothing outside the folder


def test_one_failing_feedback_file_never_stops_the_class(key, tmp_path, monkeypatch, capsys):
    from chainrule.exercises import export as module

    real = module.write_atomically

    def fail_for_bob(path, data):
        if path.name == "bob.md":
            raise OSError(28, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(module, "write_atomically", fail_for_bob)
    graded = _graded(key, ["ann", "bob", "cy"])
    with pytest.raises(ExerciseError, match=r"feedback of 1 of 3 students not written: 'bob' "
                                            r"\(.*bob.md: No space left on device\)"):
        export.write_feedback(graded, tmp_path / "fb")
    assert sorted(os.listdir(tmp_path / "fb")) == ["ann.html", "ann.md", "cy.html", "cy.md"]


def test_a_feedback_file_that_fails_costs_neither_the_gradebook_nor_the_class(tmp_path, capsys,
                                                                               monkeypatch):
    assert main(["exercise", "new", "--level", "output", "--count", "1", "--seed", "5",
                 "--out", str(tmp_path / "sheet")]) == 0
    (tmp_path / "class.csv").write_text("student,1a\nann,0.1\nbob,0.2\ncy,0.3\n")
    real = export.write_atomically

    def fail_for_bob(path, data):
        if path.name == "bob.md":
            raise PermissionError(13, "Permission denied", str(path))
        real(path, data)

    monkeypatch.setattr(export, "write_atomically", fail_for_bob)
    capsys.readouterr()
    book = tmp_path / "book.csv"
    assert main(["exercise", "grade", str(tmp_path / "sheet"), str(tmp_path / "class.csv"),
                 "--format", "csv", "-o", str(book), "--feedback", str(tmp_path / "fb")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "feedback of 1 of 3 students not written: 'bob'" in err
    assert "bob.md: Permission denied" in err
    assert [row[0] for row in csv.reader(io.StringIO(book.read_text()))][1:] == \
        ["ann", "bob", "cy"]
    assert sorted(os.listdir(tmp_path / "fb")) == ["ann.html", "ann.md", "cy.html", "cy.md"]
