"""Grading answers against a key, at the precision asked, and naming the mistake behind them.

With d decimals asked and u = 10⁻ᵈ (plus a hair for float error, as in verify's judging):

* **correct**: |given − answer| ≤ ½u, i.e. the answer rounded right (more digits are fine);
* **close**: |given − answer| ≤ 1½u, one off in the last digit asked: a rounding slip;
* **incorrect**: anything else, a text that is not a number included;
* **unanswered**: no answer (an empty cell, ``...`` in the notebook).

A wrong answer is explained by each catalogue mistake whose own number it is: exactly (within
½u) or with a rounding slip (within 1½u). An exercise's diagnosis is the mistake explaining the
most incorrect answers, then agreeing with the most correct ones, then catalogue order (the rule
of :mod:`chainrule.verify.judging`). A "close" answer that is exactly the diagnosed mistake's
number is that mistake, not a slip: it is counted incorrect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from chainrule.frozen import Frozen
from chainrule.exercises.checks import UNTOUCHED
from chainrule.exercises.levels import split_key
from chainrule.exercises.model import Exercise, ExerciseError, ProblemSet, Question
from chainrule.spec.network import parse_spec
from chainrule.verify.answers import is_blank, plain_number
from chainrule.verify.judging import WRITTEN
from chainrule.exercises.catalogue import MISTAKES
from chainrule.verify.mistakes import applicable_mistakes, correct_step

STATUSES = ("correct", "close", "incorrect", "unanswered")


@dataclass(unsafe_hash=True)
class Judgement(Frozen):
    """One answer, judged."""

    question: Question
    given: str | None  # as written; None when unanswered
    status: str  # one of STATUSES
    points: float
    mistakes: tuple[str, ...] = ()  # catalogue ids whose number this is, best first
    slip: bool = False  # the best mistake matches only up to one unit in the last digit
    note: str = ""  # "not a number", ...


@dataclass
class ExerciseGrade:
    exercise: Exercise
    judgements: list[Judgement]
    diagnosis: str | None  # the mistake id explaining most incorrect answers


@dataclass
class StudentGrade:
    student: str
    exercises: list[ExerciseGrade]

    @property
    def judgements(self) -> list[Judgement]:
        return [j for e in self.exercises for j in e.judgements]

    @property
    def points(self) -> float:
        return sum(j.points for j in self.judgements)

    @property
    def max_points(self) -> int:
        return len(self.judgements)

    @property
    def score(self) -> float:
        return self.points / self.max_points if self.max_points else 0.0

    def count(self, status: str) -> int:
        return sum(1 for j in self.judgements if j.status == status)

    @property
    def diagnoses(self) -> list[str]:
        """The diagnosed mistakes, most exercises first (then catalogue order)."""
        found = [e.diagnosis for e in self.exercises if e.diagnosis]
        order = list(MISTAKES)
        return sorted(set(found), key=lambda m: (-found.count(m), order.index(m)))


@dataclass
class _Table:
    """What grading one exercise needs, computed once: correct and mistaken numbers."""

    correct: dict[str, float]
    mistaken: dict[str, dict[str, float]] = field(default_factory=dict)  # id → key → value


class Grader:
    """Grades answers against a problem set; every network's step is computed once."""

    def __init__(self, problem_set: ProblemSet, close_credit: float = 0.5,
                 source: str = "key") -> None:
        if not 0.0 <= close_credit <= 1.0:
            raise ExerciseError(f"close_credit: expected a number from 0 to 1, "
                                f"got {close_credit!r}")
        self.problem_set, self.close_credit, self.source = problem_set, close_credit, source
        self.unit = 10.0 ** -problem_set.precision
        self._tables: dict[int, _Table] = {}

    def grade(self, answers: Mapping[str, Any], student: str = "student",
              source: str = "answers") -> StudentGrade:
        """Judge one student's answers: a mapping from question id or label to a value."""
        given: dict[str, Any] = {}
        for ref, value in answers.items():
            question = self.problem_set.question(str(ref))
            if question is None:
                raise ExerciseError(f"{source}: {str(ref)!r}: no such question in the key "
                                    f"({_known(self.problem_set)})")
            if question.id in given:
                raise ExerciseError(f"{source}: question {question.label} "
                                    f"({question.id}) is answered twice")
            given[question.id] = value
        return StudentGrade(student, [self._exercise(e, given)
                                      for e in self.problem_set.exercises])

    def _exercise(self, exercise: Exercise, given: dict[str, Any]) -> ExerciseGrade:
        table = self.table(exercise.number)
        first = [self._judge(q, given.get(q.id), table) for q in exercise.questions]
        diagnosis = self._diagnosis(first, table)
        final = [self._settle(j, diagnosis, table) for j in first]
        return ExerciseGrade(exercise, final, diagnosis)

    def _judge(self, question: Question, value: Any, table: _Table) -> Judgement:
        parsed = parse_value(value)
        if parsed is None:
            return Judgement(question, None, "unanswered", 0.0)
        text, number = parsed
        if number is None:
            return Judgement(question, text, "incorrect", 0.0, note="not a number")
        answer = table.correct[question.quantity]
        distance = abs(number - answer)
        if distance <= self._allowed(0.5, answer):
            return Judgement(question, text, "correct", 1.0)
        if distance <= self._allowed(1.5, answer):
            return Judgement(question, text, "close", self.close_credit)
        exact, slips = self._fits(question.quantity, number, table)
        return Judgement(question, text, "incorrect", 0.0, tuple(exact or slips),
                         slip=not exact and bool(slips))

    def _fits(self, key: str, number: float, table: _Table) -> tuple[list[str], list[str]]:
        exact, slips = [], []
        for mistake_id, values in table.mistaken.items():
            value = values[key]
            if not _touched(value, table.correct[key]):
                continue
            distance = abs(number - value)
            if distance <= self._allowed(0.5, value):
                exact.append(mistake_id)
            elif distance <= self._allowed(1.5, value):
                slips.append(mistake_id)
        return exact, slips

    def _allowed(self, units: float, true: float) -> float:
        return float(WRITTEN.allowed(units * self.unit, true))

    def _diagnosis(self, judgements: list[Judgement], table: _Table) -> str | None:
        scores = {}
        for mistake_id, values in table.mistaken.items():
            explained = sum(1 for j in judgements if mistake_id in j.mistakes)
            agreeing = sum(1 for j in judgements if j.status == "correct" and abs(
                values[j.question.quantity] - table.correct[j.question.quantity])
                <= self._allowed(0.5, table.correct[j.question.quantity]))
            if explained:
                scores[mistake_id] = (explained, agreeing)
        if not scores:
            return None
        best = max(scores.values())
        return next(m for m, score in scores.items() if score == best)

    def _settle(self, judgement: Judgement, diagnosis: str | None, table: _Table) -> Judgement:
        """Put the diagnosis first among the mistakes, and turn a "close" answer that is the
        diagnosed mistake's own number into that mistake."""
        if diagnosis is None:
            return judgement
        key = judgement.question.quantity
        if judgement.status == "close":
            value = table.mistaken[diagnosis][key]
            number = parse_value(judgement.given)[1]
            if _touched(value, table.correct[key]) and \
                    abs(number - value) <= self._allowed(0.5, value):
                return Judgement(judgement.question, judgement.given, "incorrect", 0.0,
                                 (diagnosis,))
        if diagnosis in judgement.mistakes[1:]:
            rest = tuple(m for m in judgement.mistakes if m != diagnosis)
            return Judgement(judgement.question, judgement.given, judgement.status,
                             judgement.points, (diagnosis, *rest), judgement.slip,
                             judgement.note)
        return judgement

    def table(self, number: int) -> _Table:
        """The correct and mistaken answers of exercise ``number``; a damaged key is refused."""
        if number not in self._tables:
            exercise = self.problem_set.exercises[number - 1]
            keys = [q.quantity for q in exercise.questions]
            correct_values, mistakes = _steps(exercise.spec)
            correct = _pick(correct_values, keys, f"{self.source}: exercise {number}")
            for q in exercise.questions:
                if abs(q.answer - correct[q.quantity]) > 1e-9 * (1.0 + abs(q.answer)):
                    raise ExerciseError(
                        f"{self.source}: question {q.label} ({q.id}): the key's answer "
                        f"{q.answer!r} is not what its network gives ({correct[q.quantity]!r});"
                        f" was the key edited?")
            mistaken = {m: _pick(values, keys, "") for m, values in mistakes.items()}
            self._tables[number] = _Table(correct, mistaken)
        return self._tables[number]


def _steps(spec: dict) -> tuple[dict, dict[str, dict]]:
    """The correct quantities of an exercise's spec, and each applicable mistake's."""
    from chainrule.exercises import circuit
    from chainrule.verify.circuit_mistakes import mistaken_steps

    if circuit.is_circuit(spec):
        return circuit.correct_step(spec), mistaken_steps(circuit.trace(spec))
    parsed = parse_spec(spec)
    return correct_step(parsed), {m.id: m.compute(parsed) for m in applicable_mistakes(parsed)}


def _touched(value: float, correct: float) -> bool:
    """Whether a mistake changes this answer at all (a diverged step counts as no number)."""
    return bool(np.isfinite(value)) and abs(value - correct) > UNTOUCHED * (1.0 + abs(correct))


def _pick(values: dict[str, np.ndarray], keys: list[str], where: str) -> dict[str, float]:
    picked = {}
    for key in keys:
        name, index = split_key(key)
        try:
            picked[key] = float(np.asarray(values[name])[index])
        except (KeyError, IndexError, ValueError):
            raise ExerciseError(f"{where}: no quantity {key!r} in this network") from None
    return picked


def parse_value(value: Any) -> tuple[str, float | None] | None:
    """(text as written, its number or None if it is not one), or None for no answer; a
    written number is read as verify reads it (chainrule.verify.answers.plain_number)."""
    if is_blank(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(value), None
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
        text = repr(number) if isinstance(value, (float, np.floating)) else str(int(value))
        return text, number if np.isfinite(number) else None
    text = str(value).strip()
    plain = plain_number(text)
    return text, None if plain is None else float(plain)


def _known(problem_set: ProblemSet) -> str:
    questions = problem_set.questions
    return (f"questions are labelled {questions[0].label} to {questions[-1].label}, or named by "
            f"id like {questions[0].id}")
