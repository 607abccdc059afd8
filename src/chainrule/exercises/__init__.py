"""Exercises: worksheets with answer keys for any network, and grading that names the mistake.

>>> from chainrule.exercises import generate, write_worksheets, load_key, grade_answers
>>> problem_set = generate("full", arch="2-2-1", seed=7, count=20)   # doctest: +SKIP
>>> write_worksheets(problem_set, "week3", "markdown")               # doctest: +SKIP
>>> grades = grade_answers(load_key("week3/key.json"), {"1a": "0.0123"})   # doctest: +SKIP

``generate`` (:mod:`.generate`) draws networks with nice numbers until nothing asked is
degenerate (:mod:`.checks`); ``write_worksheets`` (:mod:`.writers`) writes Markdown, LaTeX,
PDF, notebook or JSON worksheets with the answer key; :class:`Grader` (:mod:`.grade`) judges
answers at the precision asked and names the catalogue mistake behind a wrong one;
``grade_class`` (:mod:`.summary`) grades many students and summarises them; ``report`` and
``export`` show the grades. Level ``circuit`` (:mod:`.circuit`) draws small expressions instead
of networks, and names the mistakes of :mod:`chainrule.verify.circuit_mistakes`. See
docs/exercises.md.
"""

from __future__ import annotations

from typing import Any, Mapping

from chainrule.exercises.generate import generate
from chainrule.exercises.grade import Grader, Judgement, StudentGrade
from chainrule.exercises.levels import LEVELS, Level
from chainrule.exercises.model import (
    Exercise, ExerciseError, ProblemSet, Question, key_from_dict, load_key,
)
from chainrule.exercises.submissions import load_submissions
from chainrule.exercises.summary import ClassGrade, grade_class
from chainrule.exercises.writers import FORMATS, write_worksheets


def grade_answers(problem_set: ProblemSet, answers: Mapping[str, Any],
                  student: str = "student", close_credit: float = 0.5,
                  marking: str = "carried-forward") -> StudentGrade:
    """One student's answers (question id or label → value) judged against the key;
    ``marking`` is "carried-forward" or "strict" (see :class:`Grader`)."""
    return Grader(problem_set, close_credit, marking=marking).grade(answers, student)


__all__ = [
    "FORMATS", "LEVELS", "ClassGrade", "Exercise", "ExerciseError", "Grader", "Judgement",
    "Level", "ProblemSet", "Question", "StudentGrade", "generate", "grade_answers",
    "grade_class", "key_from_dict", "load_key", "load_submissions", "write_worksheets",
]
