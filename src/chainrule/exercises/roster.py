"""A class list, and each student's variant of a problem set.

Exercise n of seed s for student id u is drawn from ``default_rng([s, n, h(u)])``, where h(u)
is the first 8 bytes of SHA-256 of the id: the same seed and id give the same network on any
machine, whatever the roster's order or size, and a student added later changes nobody
else's. Every variant passes the same checks as a set without a roster (no ties, nothing
saturated, every known mistake visible at the precision asked), so all are equally fit to be
worked by hand.

A roster is a CSV with a header. The id column is the first of ``id``, ``student_id``,
``sis user id``, ``username``, ``email address``, ``email`` (the exports of Canvas and Moodle
carry one of them); the name is ``name``, or ``first name`` and ``last name``, or
``student``. Without an id column a ``student`` column is the id. ``--students N`` stands for
a roster of ids ``student-001`` … .
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from chainrule import inputs
from chainrule.exercises.model import ExerciseError
from chainrule.frozen import Frozen

MAX_STUDENTS = 5000  # as many as a class's answers may hold (submissions.MAX_STUDENTS)
MAX_ID_CHARS = 100
ID_COLUMNS = ("id", "student_id", "student id", "sis user id", "username", "email address",
              "email")


@dataclass(unsafe_hash=True)
class Student(Frozen):
    id: str  # what grading matches answers to
    name: str = ""  # what a sheet prints in its name box (may be empty)


def entropy(seed: int, number: int, student: str | None = None) -> list[int]:
    """The seed sequence of exercise ``number``: ``[seed, number]``, with a student's id
    hashed in for their variant."""
    if student is None:
        return [seed, number]
    digest = hashlib.sha256(("chainrule-variant\0" + student).encode("utf-8")).digest()
    return [seed, number, int.from_bytes(digest[:8], "big")]


def numbered(count: int) -> list[Student]:
    """``--students N``: ids student-001 … student-N."""
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_STUDENTS:
        raise ExerciseError(f"students: expected 1 to {MAX_STUDENTS:,} students, got {count!r}")
    width = max(3, len(str(count)))
    return [Student(f"student-{n:0{width}d}") for n in range(1, count + 1)]


def load_roster(path: str | Path) -> list[Student]:
    """The students of a roster CSV; a problem names the file, line and column."""
    path = Path(path)
    text = inputs.read_text(path, ExerciseError, "roster")
    reader = csv.reader(io.StringIO(text), skipinitialspace=True)
    rows: list[tuple[int, list[str]]] = []
    try:
        for cells in reader:
            if "".join(cells).strip() and not cells[0].lstrip().startswith("#"):
                rows.append((reader.line_num, [c.strip() for c in cells]))
            if len(rows) > MAX_STUDENTS + 1:
                raise ExerciseError(f"{path}: more than {MAX_STUDENTS:,} students; a roster "
                                    f"may have at most {MAX_STUDENTS:,}")
    except csv.Error as error:
        raise ExerciseError(f"{path}:{reader.line_num}: invalid CSV: {error}") from None
    if len(rows) < 2:
        raise ExerciseError(f"{path}: expected a header (id,name) and a row per student")
    header = [c.lower() for c in rows[0][1]]
    id_column = next((header.index(c) for c in ID_COLUMNS if c in header), None)
    if id_column is None and "student" in header:
        id_column = header.index("student")
    if id_column is None:
        raise ExerciseError(f"{path}:{rows[0][0]}: no id column (expected one of "
                            f"{', '.join(ID_COLUMNS)}, or student)")
    name_of = _names(header, id_column)
    students: list[Student] = []
    seen: dict[str, int] = {}
    for line, cells in rows[1:]:
        cells += [""] * (len(header) - len(cells))
        sid = cells[id_column]
        if not sid:
            raise ExerciseError(f"{path}:{line}: {rows[0][1][id_column]}: no student id")
        if len(sid) > MAX_ID_CHARS or not sid.isprintable():
            raise ExerciseError(f"{path}:{line}: {rows[0][1][id_column]}: expected an id of at "
                                f"most {MAX_ID_CHARS} printable characters")
        if sid.casefold() in seen:
            raise ExerciseError(f"{path}:{line}: student id {sid!r} is also on line "
                                f"{seen[sid.casefold()]}")
        seen[sid.casefold()] = line
        students.append(Student(sid, name_of(cells)[:MAX_ID_CHARS]))
    return students


def _names(header: list[str], id_column: int):
    if "name" in header:
        column = header.index("name")
        return lambda cells: cells[column]
    if "first name" in header and "last name" in header:
        first, last = header.index("first name"), header.index("last name")
        return lambda cells: f"{cells[first]} {cells[last]}".strip()
    if "student" in header and header.index("student") != id_column:
        column = header.index("student")
        return lambda cells: cells[column]
    return lambda cells: ""
