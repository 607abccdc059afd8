"""The answers a platform is told of, per question: what earns credit, what a mistake gives
and what it says. One table, read by every format, so none can drift from ``grade``.

Matching is first-answer-first, as Moodle matches numerical answers: the correct number
(± half a unit of the last decimal asked), then each catalogue mistake's number (± half a
unit, no credit), then "close" (± :data:`~chainrule.verify.judging.CLOSE_UNITS` units, the
close credit), as ``grade`` judges an answer on its own (strict marking: a platform cannot
know the student's own earlier numbers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chainrule.exercises.grade import Grader
from chainrule.exercises.levels import split_key
from chainrule.exercises.model import Exercise, ProblemSet, Question
from chainrule.exercises.working import Workings, equation_latex, equation_text
from chainrule.frozen import Frozen
from chainrule.verify.judging import CLOSE_DIGITS, CLOSE_UNITS

CORRECT_FEEDBACK = "Correct."
CLOSE_FEEDBACK = ("Close: off in the last digit (or truncated rather than rounded). Keep more "
                  "digits in your working and round once, at the end.")


@dataclass(unsafe_hash=True)
class Answer(Frozen):
    value: str  # as the platform is given it: rounded to the precision asked
    tolerance: float  # absolute
    credit: float  # 0 to 1
    feedback: str
    mistake: str = ""  # the catalogue id, for a mistake's answer


@dataclass(unsafe_hash=True)
class Item(Frozen):
    exercise: Exercise
    question: Question
    answers: tuple[Answer, ...]  # in matching order
    working: tuple[str, ...]  # the correct working, one equation per line (plain text)
    working_latex: tuple[str, ...]


def unit(precision: int) -> float:
    return 10.0 ** -precision


def items(problem_set: ProblemSet, close_credit: float = 0.5) -> list[Item]:
    """Every question of the set with its answers (a class's set: its own exercises; use
    :meth:`ProblemSet.student_sets` for the variants)."""
    grader = Grader(problem_set, close_credit)
    workings = Workings.of(problem_set)
    return [_item(problem_set, exercise, q, grader, workings, close_credit)
            for exercise in problem_set.exercises for q in exercise.questions]


def _item(problem_set: ProblemSet, exercise: Exercise, q: Question, grader: Grader,
          workings: Workings, close_credit: float) -> Item:
    p = problem_set.precision
    half = unit(p) / 2
    answers = [Answer(q.rounded(p), half, 1.0, CORRECT_FEEDBACK)]
    truth = grader.truth(exercise.number)
    name, index = split_key(q.quantity)
    taken = [q.answer]
    for mistake_id, (mistake, values) in truth.variants.items():
        try:
            value = float(np.asarray(values[name])[index])
        except (KeyError, IndexError, ValueError, TypeError):
            continue
        if not np.isfinite(value) or any(abs(value - t) <= unit(p) for t in taken):
            continue  # the same number at this precision: it cannot be told apart
        taken.append(value)
        answers.append(Answer(f"{value:.{p}f}", half, 0.0,
                              f"{mistake.title}. {mistake.explanation}", mistake_id))
    if close_credit > 0 and abs(q.answer) >= 10 ** (CLOSE_DIGITS - 1) * unit(p):
        answers.append(Answer(q.rounded(p), CLOSE_UNITS * unit(p), close_credit,
                              CLOSE_FEEDBACK))
    steps = workings.steps(exercise, q.quantity)
    return Item(exercise, q, tuple(answers), tuple(equation_text(e) for e in steps),
                tuple(equation_latex(e) for e in steps))


def fixed(value: float) -> str:
    """A number in fixed point, never an exponent (0.00005, not 5e-05): every importer reads
    it."""
    from decimal import Decimal

    text = format(Decimal(repr(float(value))), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def match(answers: tuple[Answer, ...], response: float) -> Answer | None:
    """The answer a response earns, first match first (None: no credit, no feedback)."""
    for answer in answers:
        if abs(response - float(answer.value)) <= answer.tolerance * (1 + 1e-9):
            return answer
    return None
