"""Grades for programs and spreadsheets: CSV (a row per student), JSON (everything), and
feedback files per student (Markdown and HTML).

Students' names are untrusted text: CSV cells are neutralised (:func:`chainrule.escape.
csv_cell`), Markdown escaped, and a feedback file's name is made from the name by
:func:`chainrule.escape.file_stem` (bounded, unique, inside the folder).
"""

from __future__ import annotations

import json
from pathlib import Path

from chainrule.escape import csv_text, file_stem
from chainrule.exercises.grade import NOT_CREDITED, STATUSES
from chainrule.exercises.model import ExerciseError
from chainrule.exercises.report import student_markdown
from chainrule.exercises.summary import ClassGrade
from chainrule.exercises.working import Workings, equation_text
from chainrule.files import write_atomically

SCHEMA = "chainrule.grades/2"


def to_csv(class_grade: ClassGrade) -> str:
    """A gradebook: one row per student, the score, then one column per question holding its
    result (``correct``, ``carried``, ``close``, ``incorrect: derivative_of_z``,
    ``unanswered``)."""
    questions = class_grade.problem_set.questions
    named = any(s.name for s in class_grade.students)  # a roster's names: a column of them
    rows: list[list] = [["student", *(["name"] if named else []), "points", "max_points",
                         "score", *STATUSES, "mistakes", *(q.label for q in questions)]]
    for s in class_grade.students:
        results = []
        for j in s.judgements:
            results.append(j.status + (f": {j.mistakes[0]}" if j.mistakes else ""))
        rows.append([s.student, *([s.name] if named else []), f"{s.points:g}", s.max_points,
                     f"{s.score:.4f}", *(s.count(k) for k in STATUSES), " ".join(s.diagnoses),
                     *results])
    return csv_text(rows)


def to_dict(class_grade: ClassGrade) -> dict:
    ps = class_grade.problem_set
    workings = Workings.of(class_grade.problem_set)
    students = []
    for s in class_grade.students:
        answers = []
        for e in s.exercises:
            for j in e.judgements:
                q = j.question
                entry = {"id": q.id, "label": q.label, "quantity": q.quantity,
                         "symbol": q.symbol, "given": j.given, "answer": q.answer,
                         "rounded": q.rounded(ps.precision), "status": j.status,
                         "points": j.points, "mistakes": list(j.mistakes), "note": j.note}
                answers.append(entry)
        students.append({
            "student": s.student, "name": s.name, "points": s.points, "max_points": s.max_points,
            "score": s.score,
            "counts": {k: s.count(k) for k in STATUSES},
            # per exercise: the mistake, or the two together, behind the wrong answers
            "diagnoses": {str(e.exercise.number): list(e.diagnoses) for e in s.exercises
                          if e.diagnoses},
            # per exercise: the one layer its mistake is made in, where it is made in one
            "diagnosis_layers": {str(e.exercise.number): e.layer for e in s.exercises
                                 if e.layer is not None},
            "first_wrong": {str(e.exercise.number): e.first_wrong for e in s.exercises
                            if e.first_wrong is not None},
            "answers": answers})
    return {
        "schema": SCHEMA,
        "key": {"title": ps.title, "level": ps.level, "precision": ps.precision,
                "seed": ps.seed, "exercises": len(ps.exercises), "questions": len(ps.questions),
                "variants": len(ps.variants)},
        "close_credit": class_grade.close_credit, "marking": class_grade.marking,
        "students": students,
        "summary": {
            "students": len(class_grade.students), "mean_score": class_grade.mean_score,
            "questions": [{"id": q.question.id, "label": q.question.label,
                           "symbol": q.question.symbol, "counts": q.counts,
                           "mistakes": dict(q.mistakes)} for q in class_grade.questions()],
            # the correct working of every question someone did not get right, once
            # (a class of variants has no one working: each student's is in their feedback)
            "working": {} if ps.variants else {
                q.question.id: [equation_text(eq) for eq in workings.steps(
                    ps.exercises[q.question.exercise - 1], q.question.quantity)]
                for q in class_grade.questions() if any(q.counts[k] for k in NOT_CREDITED)},
            "mistakes": [{"id": m.id, "title": m.title, "students": m.students,
                          "answers": m.answers, "questions": list(m.questions)}
                         for m in class_grade.mistakes()],
        },
    }


def to_json(class_grade: ClassGrade) -> str:
    return json.dumps(to_dict(class_grade), indent=2, ensure_ascii=False) + "\n"


def write_feedback(class_grade: ClassGrade, folder: str | Path) -> list[Path]:
    """Two files per student (``alice.md``, ``alice.html``): their answers, mistakes and
    working, the working of each step once.

    A file that cannot be written does not stop the others: every other student's files are
    written, then one :class:`ExerciseError` names the students left without feedback."""
    from chainrule.exercises.feedback_html import student_html

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    workings = Workings.of(class_grade.problem_set)
    written: list[Path] = []
    failed: list[str] = []
    used: set[str] = set()
    for student in class_grade.students:
        stem = file_stem(student.student, used)
        texts = {".md": "\n".join(student_markdown(student, class_grade, workings)).rstrip()
                 + "\n", ".html": student_html(student, class_grade, workings)}
        for suffix, text in texts.items():
            path = folder / f"{stem}{suffix}"
            try:
                write_atomically(path, text)
            except OSError as error:
                name = (student.student if len(student.student) <= 40
                        else student.student[:40] + "…")
                failed.append(f"{name!r} ({error.filename}: {error.strerror})")
                break
            written.append(path)
    if failed:
        shown = "; ".join(failed[:3]) + (f"; and {len(failed) - 3} more" if len(failed) > 3
                                         else "")
        raise ExerciseError(f"{folder}: feedback of {len(failed)} of "
                            f"{len(class_grade.students)} students not written: {shown}")
    return written
