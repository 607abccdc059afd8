"""The course platforms' files, parsed back and graded as each platform grades them.

Every export is read with a port of the platform's own reader (Moodle's Cloze and GIFT
parsers, Canvas's QTI conditions), or run by the platform's own tool (nbgrader's validator
and preprocessors, the Gradescope autograder in a temporary /autograder), and its verdict on
the correct number, each mistake's number, a close one and a wild one must be chainrule's
(strict marking: a platform sees one answer at a time).
"""

from __future__ import annotations

import copy
import html
import io
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile

import pytest

from chainrule.cli.main import main
from chainrule.exercises.catalogue import MISTAKES
from chainrule.exercises.generate import generate, generate_class
from chainrule.exercises.grade import Grader
from chainrule.exercises.model import ExerciseError
from chainrule.exercises.platforms import export
from chainrule.exercises.platforms.answers import items
from chainrule.exercises.roster import Student, numbered


@pytest.fixture(scope="module")
def output_set():
    return generate("output", count=2, seed=5)


def _responses(item, precision=4):
    """(response, the credit it should earn, the mistake it shows or None) for one part."""
    unit = 10.0 ** -precision
    out = [(float(item.answers[0].value), 1.0, None),
           (float(item.answers[0].value) + 1000 * unit + 0.37, 0.0, None)]
    out += [(float(a.value), 0.0, a.mistake) for a in item.answers if a.mistake]
    if any(0 < a.credit < 1 for a in item.answers):
        out.append((float(item.answers[0].value) + 1.5 * unit, 0.5, None))
    return out


def _chainrule(problem_set, label, response):
    judged = Grader(problem_set, 0.5, marking="strict").grade({label: f"{response:.6f}"})
    return next(j for j in judged.judgements if j.question.label == label)


# --- Moodle XML, Cloze ----------------------------------------------------------------------------

CLOZE = re.compile(r"\{(\d*):(?:NUMERICAL|NM):(.*?)(?<!\\)\}")


def _cloze_answers(body: str):
    """Moodle's multianswer reading of one NUMERICAL part: (credit, value, tolerance,
    feedback), in order."""
    out = []
    for alternative in re.split(r"(?<!\\)~", body):
        m = re.match(r"(=|%(-?[0-9]+(?:[.,][0-9]*)?)%)?(.+?)(?:#(.*))?$", alternative, re.S)
        credit = 1.0 if m.group(1) == "=" else float(m.group(2)) / 100 if m.group(2) else 0.0
        value, _, tolerance = m.group(3).partition(":")
        out.append((credit, float(value), float(tolerance or 0), html.unescape(m.group(4) or "")))
    return out


def _first_match(answers, response):
    for credit, value, tolerance, feedback in answers:
        if abs(response - value) <= tolerance + 1e-12:
            return credit, feedback
    return 0.0, ""


def test_moodle_cloze_grades_as_chainrule(output_set):
    quiz = ET.fromstring(export(output_set, "moodle"))
    questions = list(quiz)
    categories = [q for q in questions if q.get("type") == "category"]
    assert [c.find("category/text").text.rsplit("/", 1)[1] for c in categories] == [
        "Exercise 1", "Exercise 2"]
    cloze = [q for q in questions if q.get("type") == "cloze"]
    assert len(cloze) == 2
    table = items(output_set)
    for question, exercise in zip(cloze, output_set.exercises):
        text = question.find("questiontext/text").text
        parts = CLOZE.findall(text)
        assert len(parts) == len(exercise.questions)
        file = question.find("questiontext/file")
        assert f"@@PLUGINFILE@@/{file.get('name')}" in text and file.get("encoding") == "base64"
        for (_, body), q in zip(parts, exercise.questions):
            item = next(i for i in table if i.question.id == q.id)
            answers = _cloze_answers(body)
            for response, credit, mistake in _responses(item):
                got, feedback = _first_match(answers, response)
                assert got == credit, (q.label, response)
                judged = _chainrule(output_set, q.label, response)
                assert judged.points == credit
                if mistake:
                    assert feedback.startswith(MISTAKES[mistake].title)
                    assert mistake in judged.mistakes


def test_moodle_xml_survives_a_hostile_title():
    made = generate("output", count=1, seed=2, title="</text>]]><x>&\"'")
    quiz = ET.fromstring(export(made, "moodle"))
    category = quiz.find("question/category/text").text
    assert "</text>]]><x>&\"'" in category


def test_moodle_numerical_for_a_single_part(output_set):
    import dataclasses

    one = dataclasses.replace(output_set, exercises=(dataclasses.replace(
        output_set.exercises[0], questions=output_set.exercises[0].questions[:1]),))
    quiz = ET.fromstring(export(one, "moodle"))
    numerical = quiz.find("question[@type='numerical']")
    answers = [(float(a.get("fraction")) / 100, a.find("text").text,
                float(a.find("tolerance").text)) for a in numerical.findall("answer")]
    assert answers[0][0] == 1.0 and answers[-1][1] == "*"
    assert all("e" not in a[1].lower() for a in answers)  # fixed point for every importer


# --- GIFT -------------------------------------------------------------------------------------


def _unescape_gift(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


def _gift(text: str):
    """Moodle's GIFT reader for the numerical questions chainrule writes:
    {name: [(credit, value, tolerance, feedback)], …} and the catch-all of each."""
    found = {}
    for m in re.finditer(r"^::(.*?)(?<!\\)::\[html\](.*?) \{#\n(.*?)\n\}$", text, re.S | re.M):
        answers, other = [], None
        for line in m.group(3).split("\n"):
            line = line.strip()
            if line.startswith("=%"):
                a = re.match(r"=%([0-9.]+)%(-?[0-9.]+):([0-9.]+)#(.*)$", line)
                assert a, line
                answers.append((float(a.group(1)) / 100, float(a.group(2)),
                                float(a.group(3)), html.unescape(_unescape_gift(a.group(4)))))
            elif line.startswith("~#"):
                other = _unescape_gift(line[2:])
        found[_unescape_gift(m.group(1))] = (answers, other)
    return found


def test_gift_grades_as_chainrule(output_set):
    text = export(output_set, "gift")
    assert text.count("$CATEGORY:") == 2
    assert not re.search(r"=%[0-9.]+%-?[0-9.]+e", text)  # no exponent: Moodle would take '*'
    parsed = _gift(text)
    assert len(parsed) == len(output_set.questions)
    for item in items(output_set):
        answers, other = parsed[f"Exercise {item.exercise.number}, {item.question.label}"]
        assert other.startswith("No known mistake")
        for response, credit, mistake in _responses(item):
            got, feedback = _first_match(answers, response)
            assert got == credit
            if mistake:
                assert feedback.startswith(MISTAKES[mistake].title)


# --- Canvas QTI --------------------------------------------------------------------------------

QTI = "{http://www.imsglobal.org/xsd/ims_qtiasiv1p2}"


def _accepts(item, response: float) -> bool:
    condition = next(c for c in item.iter(f"{QTI}respcondition")
                     if c.find(f"{QTI}setvar") is not None).find(f"{QTI}conditionvar")
    equal = float(condition.find(f".//{QTI}varequal").text)
    low = float(condition.find(f".//{QTI}vargte").text)
    high = float(condition.find(f".//{QTI}varlte").text)
    return response == equal or low <= response <= high


def test_qti_zip_is_canvas_s_layout_and_accepts_what_chainrule_accepts():
    made = generate_class(numbered(2), "output", count=1, seed=4)
    data = export(made, "qti")
    assert data == export(made, "qti")  # the same set, the same bytes
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = set(archive.namelist())
    manifest = ET.fromstring(archive.read("imsmanifest.xml"))
    hrefs = {f.get("href") for f in manifest.iter() if f.tag.endswith("file")}
    assert hrefs == names - {"imsmanifest.xml"}
    quizzes = [n for n in names if n.count("/") == 1 and not n.endswith("meta.xml")]
    assert len(quizzes) == 2  # one quiz per variant
    for name, own in zip(sorted(quizzes, key=lambda n: ET.fromstring(archive.read(n)).find(
            f"{QTI}assessment").get("title")), made.student_sets()):
        root = ET.fromstring(archive.read(name))
        found = list(root.iter(f"{QTI}item"))
        assert len(found) == len(own.questions)
        for item, q in zip(found, own.questions):
            fields = {f.find(f"{QTI}fieldlabel").text: f.find(f"{QTI}fieldentry").text
                      for f in item.iter(f"{QTI}qtimetadatafield")}
            assert fields["question_type"] == "numerical_question"
            assert item.find(f".//{QTI}render_fib").get("fibtype") == "Decimal"
            assert _accepts(item, float(q.rounded(4)))
            assert not _accepts(item, float(q.rounded(4)) + 1e-4)


def test_qti_scales_what_canvas_would_round():
    made = generate("output", count=1, seed=4, precision=6)
    archive = zipfile.ZipFile(io.BytesIO(export(made, "qti")))
    name = next(n for n in archive.namelist() if n.count("/") == 1
                and not n.endswith("meta.xml"))
    root = ET.fromstring(archive.read(name))
    for item, q in zip(root.iter(f"{QTI}item"), made.questions):
        text = item.find(f".//{QTI}mattext").text
        assert "Give 10<sup>2</sup> × the answer" in text
        scaled = round(q.answer * 100, 4)
        assert _accepts(item, scaled) and not _accepts(item, scaled + 2e-4)
        bounds = [float(e.text) for e in item.iter() if e.tag in (
            f"{QTI}varequal", f"{QTI}vargte", f"{QTI}varlte")]
        assert all(b == 0 or abs(b) >= 1e-4 for b in bounds[:1])


def test_qti_item_holds_text2qti_s_numerical_structure(tmp_path):
    pytest.importorskip("text2qti")
    (tmp_path / "quiz.md").write_text("Quiz title: Reference\n\n1.  What is 1.2345?\n"
                                      "=   1.2345 +- 0.0001\n", encoding="utf-8")
    program = os.path.join(os.path.dirname(sys.executable), "text2qti")
    subprocess.run([program, "quiz.md"], cwd=tmp_path, check=True, capture_output=True,
                   timeout=120)

    def paths(element, prefix=""):
        tag = element.tag.split("}")[-1]
        here = f"{prefix}/{tag}"
        return {here} | {p for child in element for p in paths(child, here)}

    reference = zipfile.ZipFile(tmp_path / "quiz.zip")
    ref_xml = next(n for n in reference.namelist() if n.count("/") == 1
                   and n.endswith(".xml") and not n.endswith("meta.xml")
                   and not n.startswith("non_cc"))
    ref_item = next(ET.fromstring(reference.read(ref_xml)).iter(f"{QTI}item"))
    ours = zipfile.ZipFile(io.BytesIO(export(generate("output", count=1, seed=1), "qti")))
    our_xml = next(n for n in ours.namelist() if n.count("/") == 1
                   and not n.endswith("meta.xml"))
    our_item = next(ET.fromstring(ours.read(our_xml)).iter(f"{QTI}item"))
    assert paths(ref_item) <= paths(our_item)
    types = {r.get("type") for r in ET.fromstring(reference.read("imsmanifest.xml")).iter()
             if r.tag.endswith("resource")}
    assert types == {r.get("type") for r in ET.fromstring(ours.read("imsmanifest.xml")).iter()
                     if r.tag.endswith("resource")}


# --- Gradescope --------------------------------------------------------------------------------


def _run_autograder(tmp_path, data: bytes, answers: str, users: list[dict]) -> dict:
    archive = zipfile.ZipFile(io.BytesIO(data))
    for name in ("setup.sh", "run_autograder"):
        info = archive.getinfo(name)
        assert info.external_attr >> 16 == 0o755 and archive.read(name).startswith(b"#!")
    archive.extractall(tmp_path / "source")
    (tmp_path / "run_autograder").write_bytes(archive.read("run_autograder"))
    (tmp_path / "submission").mkdir()
    if answers:
        (tmp_path / "submission" / "answers.csv").write_text(answers)
    (tmp_path / "submission_metadata.json").write_text(json.dumps({"users": users}))
    env = {**os.environ, "AUTOGRADER_ROOT": str(tmp_path), "PYTHON": sys.executable}
    subprocess.run(["bash", str(tmp_path / "run_autograder")], env=env, check=True,
                   timeout=120, capture_output=True)
    return json.loads((tmp_path / "results" / "results.json").read_text())


def test_gradescope_grades_the_student_s_own_variant(tmp_path):
    made = generate_class([Student("s1", "Ann"), Student("s2", "Bo")], "output", count=1,
                          seed=8)
    bo = made.student_sets()[1]
    # Bo answers every question as one mistake gives it (its whole step), where it has one
    table = items(bo)
    wrong = {i.question.label: next((a.value for a in i.answers
                                     if a.mistake == "derivative_of_z"), i.answers[0].value)
             for i in table}
    assert any(wrong[i.question.label] != i.answers[0].value for i in table)
    rows = ["question,value"] + [f"{label},{value}" for label, value in wrong.items()]
    results = _run_autograder(tmp_path / "bo", export(made, "gradescope"), "\n".join(rows),
                              [{"sid": "s2", "email": "bo@x", "name": "Bo"}])
    tests = results["tests"]
    assert len(tests) == len(bo.questions) and all(t["max_score"] == 1 for t in tests)
    assert [t["name"].split()[0] for t in tests] == [q.label for q in bo.questions]
    assert sum(t["score"] for t in tests) == results["score"] < len(bo.questions)
    judged = Grader(bo, 0.5).grade(wrong)  # carried forward, as the autograder marks
    assert [t["score"] for t in tests] == [j.points for j in judged.judgements]
    outputs = "\n".join(t["output"] for t in tests)
    assert "derivative_of_z" in outputs
    assert outputs.count(MISTAKES["derivative_of_z"].explanation) == 1  # said once
    stranger = _run_autograder(tmp_path / "zed", export(made, "gradescope"), "\n".join(rows),
                               [{"sid": "s9", "email": "z@x", "name": "Zed"}])
    assert stranger["score"] == 0 and "not on the class's roster" in stranger["output"]
    empty = _run_autograder(tmp_path / "none", export(made, "gradescope"), "",
                            [{"sid": "s1"}])
    assert empty["score"] == 0 and "no answers file" in empty["output"]


# --- nbgrader ----------------------------------------------------------------------------------


def test_nbgrader_validates_hides_answers_and_autogrades(output_set, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbgraderformat = pytest.importorskip("nbgrader.nbgraderformat")
    from nbgrader import preprocessors as pp
    from nbclient import NotebookClient

    source = nbformat.reads(export(output_set, "nbgrader"), as_version=4)
    nbformat.validate(source)
    nbgraderformat.MetadataValidator().validate_nb(source)
    tests = [c for c in source.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(tests) == len(output_set.questions)
    assert all(c.metadata.nbgrader["locked"] and c.metadata.nbgrader["points"] == 1
               for c in tests)
    student, resources = copy.deepcopy(source), {}
    for step in (pp.InstantiateTests(), pp.LockCells(), pp.ClearSolutions(), pp.ClearOutput(),
                 pp.CheckCellMetadata(), pp.ComputeChecksums(), pp.ClearHiddenTests(),
                 pp.ClearMarkScheme(), pp.ComputeChecksums(), pp.CheckCellMetadata()):
        student, resources = step.preprocess(student, resources)
    released = json.dumps(student)
    table = items(output_set)
    for item in table:
        assert f'answers[\\"{item.question.label}\\"] = {item.answers[0].value}' not in released
    # a student answers: right, a known mistake, close
    right, mistaken, close = table[0], next(i for i in table[1:] if any(
        a.mistake for a in i.answers)), None
    close = next(i for i in table if i not in (right, mistaken)
                 and any(0 < a.credit < 1 for a in i.answers))
    mistake = next(a for a in mistaken.answers if a.mistake)
    given = {right.question.label: right.answers[0].value,
             mistaken.question.label: mistake.value,
             close.question.label: f"{float(close.answers[0].value) + 1.5e-4:.4f}"}
    # nbgrader's autograde runs the student's solution cells with the source's locked cells,
    # hidden tests restored
    handed_in = copy.deepcopy(source)
    for cell in handed_in.cells:
        label = cell.get("id", "").removeprefix("answer-")
        if cell.get("id", "").startswith("answer-"):
            cell.source = f'answers["{label}"] = {given[label]}' if label in given else ""
    NotebookClient(handed_in, timeout=60, kernel_name="python3", allow_errors=True).execute()
    errors = {c.id.removeprefix("test-"): "".join(
        o.get("evalue", "") for o in c.outputs if o.get("output_type") == "error")
        for c in handed_in.cells if c.get("id", "").startswith("test-")}
    assert all("no answer" in errors[i.question.label] for i in table
               if i.question.label not in given)
    assert errors[right.question.label] == ""
    assert MISTAKES[mistake.mistake].title in errors[mistaken.question.label]
    assert "close" in errors[close.question.label]


def test_nbgrader_refuses_a_class_key():
    with pytest.raises(ExerciseError, match="nbgrader hands every student the same notebook"):
        export(generate_class(numbered(2), "output", count=1), "nbgrader")


# --- the command -------------------------------------------------------------------------------


def test_export_writes_beside_the_key_and_refuses_bad_options(tmp_path, capsys):
    assert main(["exercise", "new", "--level", "output", "--count", "1", "--seed", "5",
                 "--out", str(tmp_path / "set")]) == 0
    capsys.readouterr()
    assert main(["exercise", "export", str(tmp_path / "set"), "--to", "gift"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and (tmp_path / "set" / "moodle.gift.txt").is_file()
    assert main(["exercise", "export", str(tmp_path / "set"), "--to", "qti", "-o",
                 str(tmp_path / "canvas.zip")]) == 0
    assert zipfile.is_zipfile(tmp_path / "canvas.zip")
    capsys.readouterr()
    assert main(["exercise", "export", str(tmp_path / "set"), "--to", "moodle",
                 "--close-credit", "1.5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "close_credit: expected a number from 0 to 1" in err
