"""Writing a problem set into a folder: the worksheet in one format, the answer key, a CSV
template for the answers. Every file is written atomically; the same set gives the same bytes.

| format   | worksheet                         | for the teacher               |
|----------|-----------------------------------|-------------------------------|
| markdown | worksheet.md, diagrams/*.svg      | key.md, key.json              |
| latex    | worksheet.tex                     | key.tex, key.json             |
| pdf      | worksheet.pdf (and .tex)          | key.pdf (and .tex), key.json  |
| ipynb    | worksheet.ipynb (checks answers)  | key.md, key.json              |
| json     | worksheet.json (no answers)       | key.json                      |

The key (key.md, key.tex, key.pdf) is compact by default: each answer beside the line of
working that gives it, a page per exercise; ``key="worked"`` writes every equation of the step
instead. Every format also writes ``key-answers`` (the numbers alone, in the key's format) and
``key.csv`` (the same, for a spreadsheet).

A class's set (one with a roster's variants) writes one worksheet per student into
``sheets/`` (``sheets/ann.md``, named from the student's id), a merged ``worksheets.pdf``
for printing (format pdf), and one key for the whole class.

``answers-template.csv`` (``student,1a,1b,…``, a row per student of a roster) is written for
every format. ``key.json`` is
what ``chainrule exercise grade`` reads; an existing key.json of another set is not replaced
unless ``force`` (it may be the key of worksheets already handed out).

The files are written as one set (:func:`chainrule.fileset.write_set`): an interrupted run
leaves the old set or the new one, never a new worksheet beside the old key. When the key
changes, the old set's files that the new set has not (``worksheet.tex`` after a switch to
Markdown, ``diagrams/exercise-12.svg`` of a longer set) are removed with it, as they belong to
the old key. Anything else in the folder (a teacher's notes, files of their own) is never
touched.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from chainrule.exercises import latex, markdown
from chainrule.exercises.diagram import svg
from chainrule.exercises.model import MAX_KEY_BYTES, ExerciseError, ProblemSet
from chainrule.escape import csv_text, file_stem
from chainrule.exercises.keys import answers_csv
from chainrule.fileset import finish_interrupted, write_set

FORMATS = ("markdown", "latex", "pdf", "ipynb", "json")
WORKSHEET_SCHEMA = "chainrule.worksheet/1"
# The names any format writes: the files of a set, removed with its key when the key changes.
SET_NAMES = re.compile(r"(worksheets?|key|key-answers)\.(md|tex|pdf|ipynb|json)|key\.csv"
                       r"|answers-template\.csv|diagrams/exercise-\d+\.svg"
                       r"|sheets/[\w.-]+\.(md|tex|pdf|ipynb|json)"
                       r"|sheets/diagrams/[\w.-]+-exercise-\d+\.svg")
KEYS = ("compact", "worked")


def write_worksheets(problem_set: ProblemSet, folder: str | Path, format: str = "markdown",
                     force: bool = False, key: str = "compact") -> list[Path]:
    """Write the set into ``folder`` (created if needed); the paths written, in order."""
    if format not in FORMATS:
        raise ExerciseError(f"format: expected one of {', '.join(FORMATS)}, got {format!r}")
    if key not in KEYS:
        raise ExerciseError(f"key: expected one of {', '.join(KEYS)}, got {key!r}")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ExerciseError(f"{folder}: exists and is not a folder")
    key_json = problem_set.to_json()
    size = len(key_json.encode("utf-8"))
    if size > MAX_KEY_BYTES:
        raise ExerciseError(f"key.json: {size:,} bytes, above the {MAX_KEY_BYTES:,} a key may "
                            f"have; ask fewer exercises or split the class")
    key_path = folder / "key.json"
    if folder.is_dir():
        finish_interrupted(folder)  # a killed run's set first, so the key compared is whole
    old_key = _read(key_path) if key_path.is_file() else None
    if old_key is not None and not force and old_key != key_json:
        raise ExerciseError(f"{key_path}: holds the key of other exercises (perhaps handed "
                            f"out already); choose another folder, or replace it with --force (force=True in Python)")
    from chainrule.explain.profiles import using

    with using(problem_set.options.get("notation")):  # the symbols the key was written in
        files = _contents(problem_set, format, key)  # all made before anything is written
    files["answers-template.csv"] = template(problem_set)
    files["key.json"] = key_json  # last: a reader that sees the new key sees the new sheets
    stale = _old_set(folder, files) if old_key is not None and old_key != key_json else []
    return write_set(folder, files, remove=stale)


def _old_set(folder: Path, files: dict) -> list[str]:
    """The files of the set being replaced that the new set does not write."""
    found = [p.relative_to(folder).as_posix() for p in [
        *folder.glob("*"), *folder.glob("diagrams/*"), *folder.glob("sheets/*"),
        *folder.glob("sheets/diagrams/*")]]
    return sorted(name for name in found if SET_NAMES.fullmatch(name) and name not in files
                  and not (folder / name).is_dir())


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _contents(problem_set: ProblemSet, format: str, key: str) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {}
    if problem_set.variants:
        used: set[str] = set()
        sheets = problem_set.student_sets()
        for one in sheets:
            stem = file_stem(one.student, used)
            files.update(_worksheet(one, format, f"sheets/{stem}", f"diagrams/{stem}-exercise-"))
        if format == "pdf":
            files["worksheets.tex"] = latex.worksheets(sheets)
    else:
        files.update(_worksheet(problem_set, format, "worksheet", "diagrams/exercise-"))
    if format in ("latex", "pdf"):
        files["key.tex"] = latex.key(problem_set, key)
        files["key-answers.tex"] = latex.key(problem_set, "answers")
    elif format != "json":
        files["key.md"] = markdown.key(problem_set, key)
        files["key-answers.md"] = markdown.key(problem_set, "answers")
    files["key.csv"] = answers_csv(problem_set)
    if format == "pdf":
        sources = {name: text for name, text in files.items() if name.endswith(".tex")}
        for name, pdf in latex.pdfs(sources).items():
            files[name] = pdf
    return files


def _worksheet(one: ProblemSet, format: str, stem: str, diagrams: str) -> dict[str, str | bytes]:
    """One worksheet's files: ``stem`` + its suffix, its diagrams beside it."""
    if format == "markdown":
        folder = stem.rpartition("/")[0]
        prefix = f"{folder}/" if folder else ""
        files: dict[str, str | bytes] = {f"{stem}.md": markdown.worksheet(one, diagrams)}
        for exercise in one.exercises:
            if markdown.diagram(exercise):
                files[prefix + markdown.diagram_name(exercise, diagrams)] = svg(exercise.spec)
        return files
    if format in ("latex", "pdf"):
        return {f"{stem}.tex": latex.worksheet(one)}
    if format == "ipynb":
        from chainrule.exercises.notebook import notebook

        return {f"{stem}.ipynb": notebook(one)}
    return {f"{stem}.json": worksheet_json(one)}


def worksheet_json(problem_set: ProblemSet) -> str:
    """The questions without their answers, for a learning platform to import."""
    data = problem_set.to_dict()
    data["schema"] = WORKSHEET_SCHEMA
    for exercise in data["exercises"]:
        for question in exercise["questions"]:
            del question["answer"], question["rounded"]
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def template(problem_set: ProblemSet) -> str:
    """``student,1a,1b,…``: a header for a class's answers, then a row per student of the
    roster, their id filled in."""
    rows = [["student", *(q.label for q in problem_set.questions)]]
    rows += [[v.student] for v in problem_set.variants]
    return csv_text(rows)
