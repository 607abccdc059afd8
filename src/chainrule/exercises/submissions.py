"""Reading students' answers: one student per file, or a whole class in one CSV.

* JSON or YAML: a mapping from question (id or label) to value; nested mappings are joined
  with dots (``{"3": {"gradients.W1[1,0]": …}}``). A class: ``{"students": {name: mapping}}``.
* CSV, one student: two columns ``question,value`` (an optional header, ``#`` comments).
* CSV, a class (a ``student`` column): one row per student with a column per question
  (``student,1a,1b,…``, the layout of ``answers-template.csv``), or one row per answer
  (``student,question,value``).
* A worksheet notebook (``.ipynb``) a student filled in: its ``answers["1a"] = …`` lines.
* A folder: every such file in it, each named by its file name unless it names its students.

Values stay the text written; an empty cell is unanswered. The student of a one-student file
is its file name without the suffix.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any, Iterable

from chainrule import inputs
from chainrule.exercises.model import ExerciseError, ProblemSet
from chainrule.verify.answer_files import flatten, parse_json, parse_yaml

# A class of this size is graded in seconds; more is a mistake (or an attack) to stop early.
MAX_STUDENTS = 5000
SUFFIXES = (".json", ".yaml", ".yml", ".csv", ".ipynb")
HEADER_KEYS = ("question", "id", "label", "quantity")
NOTEBOOK_ANSWER = re.compile(
    r"""^\s*answers\s*\[\s*(['"])(?P<ref>[^'"]+)\1\s*\]\s*=\s*(?P<value>.*?)\s*(?:#.*)?$""")

Submissions = dict[str, tuple[str, dict[str, Any]]]  # student → (where from, answers)


def load_submissions(paths: Iterable[str | Path], problem_set: ProblemSet) -> Submissions:
    """Every student's answers from files and folders; a problem names the file and line."""
    found: Submissions = {}
    for path in map(Path, paths):
        if path.is_dir():
            files = []
            for entry in path.iterdir():
                if entry.suffix.lower() in SUFFIXES:
                    files.append(entry)
                    if len(files) > MAX_STUDENTS:
                        raise ExerciseError(f"{path}: more than {MAX_STUDENTS:,} answers "
                                            f"files; a class may have at most {MAX_STUDENTS:,}")
            files.sort()
            if not files:
                raise ExerciseError(f"{path}: no answers files in the folder (expected "
                                    f"{', '.join(SUFFIXES)})")
        elif path.exists():  # a regular file; anything else is refused when it is read
            files = [path]
        else:
            raise ExerciseError(f"{path}: no such answers file")
        for file in files:
            for student, entry in _read(file, problem_set).items():
                if student in found:
                    raise ExerciseError(f"{entry[0]}: student {student!r} is also in "
                                        f"{found[student][0]}")
                found[student] = entry
                if len(found) > MAX_STUDENTS:
                    raise ExerciseError(f"{file}: more than {MAX_STUDENTS:,} students; a class "
                                        f"may have at most {MAX_STUDENTS:,}")
    if not found:
        raise ExerciseError("answers: no students to grade")
    return found


def _read(path: Path, problem_set: ProblemSet) -> Submissions:
    suffix = path.suffix.lower()
    text = inputs.read_text(path, ExerciseError, "answers file")
    if suffix == ".csv":
        return _csv(text, path, problem_set)
    if suffix == ".ipynb":
        student, answers = _notebook(text, path)
        return {student or path.stem: (str(path), answers)}
    if suffix in (".yaml", ".yml"):
        data = parse_yaml(text, path, ExerciseError)
    elif suffix == ".json":
        data = parse_json(text, path, ExerciseError)
    else:
        raise ExerciseError(f"{path}: unknown answers format {suffix or '(no suffix)'!r}; "
                            f"expected {', '.join(SUFFIXES)}")
    if not isinstance(data, dict):
        raise ExerciseError(f"{path}: expected a mapping from question to value")
    if isinstance(data.get("students"), dict):
        out = {}
        for student, answers in data["students"].items():
            if not isinstance(answers, dict):
                raise ExerciseError(f"{path}: students.{student}: expected a mapping from "
                                    f"question to value")
            out[str(student)] = (f"{path}: {student}", flatten(answers))
        return out
    return {path.stem: (str(path), flatten(data))}


def _notebook(text: str, path: Path) -> tuple[str, dict[str, Any]]:
    """(the student its metadata names, or "", the answers in its cells)."""
    notebook = inputs.parse_json(text, path, ExerciseError)
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise ExerciseError(f"{path}: not a Jupyter notebook (no list of cells)")
    answers: dict[str, Any] = {}
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(part for part in source if isinstance(part, str))
        for line in (source if isinstance(source, str) else "").splitlines():
            match = NOTEBOOK_ANSWER.match(line)
            if match:
                value = match["value"].strip().strip("'\"")
                answers[match["ref"]] = None if value in ("", "...", "None") else value
    owner = (notebook.get("metadata") or {}).get("chainrule") or {}
    student = owner.get("student") if isinstance(owner, dict) else None
    return (student if isinstance(student, str) and student.isprintable() else ""), answers


def _csv(text: str, path: Path, problem_set: ProblemSet) -> Submissions:
    rows = []
    # One reader over the whole text: a quoted cell may span lines (a spreadsheet writes a
    # cell with a line break that way), and must not become invented students.
    reader = csv.reader(io.StringIO(text), skipinitialspace=True)
    try:
        for cells in reader:
            if "".join(cells).strip() and not cells[0].lstrip().startswith("#"):
                rows.append((reader.line_num, _rejoin([c.strip() for c in cells])))
            if len(rows) > MAX_STUDENTS + 1:
                raise ExerciseError(f"{path}: more than {MAX_STUDENTS:,} rows; a class may "
                                    f"have at most {MAX_STUDENTS:,} students")
    except csv.Error as error:
        raise ExerciseError(f"{path}:{reader.line_num}: invalid CSV: {error}") from None
    if not rows:
        raise ExerciseError(f"{path}: no answers in the file")
    header = [c.lower() for c in rows[0][1]]
    if "student" not in header:
        return {path.stem: (str(path), _two_columns(rows, path))}
    column = header.index("student")
    if sorted(header) == ["question", "student", "value"]:
        return _long(rows[1:], path, column, header.index("question"), header.index("value"))
    refs = rows[0][1]
    for i, ref in enumerate(refs):
        if i != column and problem_set.question(ref) is None:
            raise ExerciseError(f"{path}:{rows[0][0]}: column {ref!r}: no such question in "
                                f"the key")
    out: Submissions = {}
    for number, cells in rows[1:]:
        if len(cells) > len(refs):
            raise ExerciseError(f"{path}:{number}: {len(cells)} cells for {len(refs)} columns")
        cells += [""] * (len(refs) - len(cells))
        student = _student(cells[column], path, number, out)
        answers = {ref: cell for i, (ref, cell) in enumerate(zip(refs, cells))
                   if i != column and cell != ""}
        out[student] = (f"{path}:{number}", answers)
    if not out:
        raise ExerciseError(f"{path}: a header but no students")
    return out


def _long(rows: list, path: Path, student: int, question: int, value: int) -> Submissions:
    out: Submissions = {}
    for number, cells in rows:
        if len(cells) != 3:
            raise ExerciseError(f"{path}:{number}: expected three cells, student,question,value")
        name = cells[student]
        if not name:
            raise ExerciseError(f"{path}:{number}: no student named")
        answers = out.setdefault(name, (f"{path}: {name}", {}))[1]
        if cells[question] in answers:
            raise ExerciseError(f"{path}:{number}: {name} answers {cells[question]!r} twice")
        answers[cells[question]] = cells[value]
    return out


def _two_columns(rows: list, path: Path) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for position, (number, cells) in enumerate(rows):
        if position == 0 and cells and cells[0].lower() in HEADER_KEYS:
            continue
        if len(cells) != 2:
            raise ExerciseError(f"{path}:{number}: expected two cells, question,value (or a "
                                f"student column for a class)")
        if cells[0] in answers:
            raise ExerciseError(f"{path}:{number}: {cells[0]!r} is answered twice")
        answers[cells[0]] = cells[1]
    return answers


def _rejoin(cells: list[str]) -> list[str]:
    """Cells with an unquoted id's index put back together: ``1.updated.W1[0``, ``1]``."""
    out: list[str] = []
    depth = 0
    for cell in cells:
        if depth > 0:
            out[-1] += "," + cell
        else:
            out.append(cell)
        depth += cell.count("[") - cell.count("]")
    return out


def _student(name: str, path: Path, number: int, seen: Submissions) -> str:
    if not name:
        raise ExerciseError(f"{path}:{number}: no student named")
    if name in seen:
        raise ExerciseError(f"{path}:{number}: student {name!r} appears twice")
    return name
