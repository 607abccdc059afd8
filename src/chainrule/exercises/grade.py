"""Grading answers against a key, as verify judges them (chainrule.verify.marking).

Every answer is judged at the precision asked (d decimals: half a unit, ½·10⁻ᵈ, plus a hair
for float error), and a network's from the student's own earlier answers, as examiners mark
error carried forward:

* **correct**: the right number, or right from the rounded numbers it was worked from
  (rounding is not a mistake): 1 point;
* **carried**: right from earlier answers that were wrong (``marking="carried-forward"``, the
  default: 1 point; ``"strict"`` counts it incorrect). The exercise says which answer was the
  first wrong one, what it should have been and how many followed from it;
* **close**: off only in the last digit asked, or truncated rather than rounded, and no
  mistake explains it: ``close_credit`` points;
* **incorrect**: anything else, a text that is not a number included;
* **unanswered**: no answer (an empty cell, ``...`` in the notebook).

A wrong answer lists the catalogue mistakes that give it from the student's earlier numbers;
an exercise's diagnosis is the mistake (or the two mistakes together) explaining the most
wrong answers without contradicting a credited one. A circuit has no step's rules: each
answer is judged against its correct number alone, and its mistake by its own number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from chainrule.frozen import Frozen
from chainrule.exercises.levels import split_key
from chainrule.exercises.model import Exercise, ExerciseError, ProblemSet, Question
from chainrule.spec.network import parse_spec
from chainrule.verify.answers import judge_written
from chainrule.verify import judging
from chainrule.verify.judging import MARKINGS, Truth, network_truth
from chainrule.exercises.catalogue import MISTAKES

CORRECT, CARRIED, CLOSE, INCORRECT, UNANSWERED = (
    "correct", "carried", "close", "incorrect", "unanswered")
STATUSES = (CORRECT, CARRIED, CLOSE, INCORRECT, UNANSWERED)
NOT_CREDITED = (CLOSE, INCORRECT)  # shown with the correct working
ROUNDED_NOTE = "right from the rounded numbers it was worked from"
CARRIED_NOTE = "right from the wrong answers before it (error carried forward)"
# verify's statuses, as a worksheet's
_STATUS = {judging.CORRECT: CORRECT, judging.ROUNDED: CORRECT, judging.CARRIED: CARRIED,
           judging.CLOSE: CLOSE, judging.WRONG: INCORRECT, judging.BLANK: UNANSWERED}


@dataclass(unsafe_hash=True)
class Judgement(Frozen):
    """One answer, judged."""

    question: Question
    given: str | None  # as written; None when unanswered
    status: str  # one of STATUSES
    points: float
    mistakes: tuple[str, ...] = ()  # catalogue ids giving this number, the diagnosis first
    note: str = ""  # "not a number", "from the numbers given before it: 0.1234", ...


@dataclass
class ExerciseGrade:
    exercise: Exercise
    judgements: list[Judgement]
    diagnoses: tuple[str, ...] = ()  # the mistake (or the two together) behind the answers
    first_wrong: dict[str, Any] | None = None  # {"label", "symbol", "given", "expected",
    #                                            "followed"}: where the errors began
    uncertain: str = ""  # why no mistake is named although some would explain answers
    convention: str | None = None  # another book's convention the answers were read in
    layer: int | None = None  # the one layer the diagnosis's mistake is made in, if it is

    @property
    def diagnosis(self) -> str | None:
        return self.diagnoses[0] if self.diagnoses else None


@dataclass
class StudentGrade:
    student: str  # as the answers name them; a roster's id when graded against variants
    exercises: list[ExerciseGrade]
    name: str = ""  # the roster's name, when there is one

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
        found = [m for e in self.exercises for m in e.diagnoses]
        order = list(MISTAKES)
        return sorted(set(found), key=lambda m: (-found.count(m), order.index(m)))


class Grader:
    """Grades answers against a problem set; every exercise's truth is computed once."""

    def __init__(self, problem_set: ProblemSet, close_credit: float = 0.5,
                 source: str = "key", marking: str = "carried-forward") -> None:
        if not 0.0 <= close_credit <= 1.0:
            raise ExerciseError(f"close_credit: expected a number from 0 to 1, "
                                f"got {close_credit!r}")
        if marking not in MARKINGS:
            raise ExerciseError(f"marking: expected one of {', '.join(MARKINGS)}, "
                                f"got {marking!r}")
        self.problem_set, self.close_credit, self.source = problem_set, close_credit, source
        self.marking = marking
        self.half_unit = 0.5 * 10.0 ** -problem_set.precision
        self._truths: dict[int, Truth] = {}

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
        return StudentGrade(student, [self._exercise(e, given, source)
                                      for e in self.problem_set.exercises])

    def _exercise(self, exercise: Exercise, given: dict[str, Any],
                  source: str) -> ExerciseGrade:
        truth = self.truth(exercise.number)
        answers = {q.quantity: given.get(q.id) for q in exercise.questions}  # None: blank
        report = judge_written(truth, answers, source, marking=self.marking,
                               asked=self.half_unit)
        ids = tuple(m.id for m in report.diagnoses) or (
            (report.diagnosis.id,) if report.diagnosis is not None else ())
        # one row per answer, in the order given (a convention's rows keep the names)
        judgements = [self._judgement(q, row, ids)
                      for q, row in zip(exercise.questions, report.rows)]
        first = None
        if report.first_wrong is not None:
            at = [row.quantity for row in report.rows].index(report.first_wrong["quantity"])
            q = exercise.questions[at]
            first = {"label": q.label, "symbol": q.symbol, "id": q.id,
                     "given": report.first_wrong["given"],
                     "expected": report.first_wrong["expected"],
                     "followed": report.first_wrong["followed"]}
        return ExerciseGrade(exercise, judgements, ids, first, report.uncertain,
                             report.convention, getattr(report.diagnosis, "layer", None))

    def _judgement(self, question: Question, row, diagnoses: tuple[str, ...]) -> Judgement:
        status = _STATUS[row.status]
        if status == UNANSWERED:
            return Judgement(question, None, UNANSWERED, 0.0)
        points = {CORRECT: 1.0, CARRIED: 1.0, CLOSE: self.close_credit}.get(status, 0.0)
        note = {judging.ROUNDED: ROUNDED_NOTE, judging.CARRIED: CARRIED_NOTE}.get(row.status,
                                                                               row.note)
        mistakes = tuple(sorted(row.mistakes, key=lambda m: m not in diagnoses))
        return Judgement(question, row.given, status, points, mistakes, note)

    def truth(self, number: int) -> Truth:
        """What exercise ``number`` is judged against; a damaged or edited key is refused."""
        if number not in self._truths:
            exercise = self.problem_set.exercises[number - 1]
            truth = _truth(exercise.spec)
            where = f"{self.source}: exercise {number}"
            for q in exercise.questions:
                name, index = split_key(q.quantity)
                try:
                    value = float(np.asarray(truth.values[name])[index])
                except (KeyError, IndexError, ValueError):
                    raise ExerciseError(f"{where}: no quantity {q.quantity!r} in this "
                                        f"network") from None
                if abs(q.answer - value) > 1e-9 * (1.0 + abs(q.answer)):
                    raise ExerciseError(
                        f"{self.source}: question {q.label} ({q.id}): the key's answer "
                        f"{q.answer!r} is not what its network gives ({value!r}); was the "
                        f"key edited?")
            self._truths[number] = truth
        return self._truths[number]


def _truth(spec: dict) -> Truth:
    """A network's step with its rules, a circuit's recorded graph, or a network of typed
    layers' step (each answer judged on its own, its mistakes the layer mistakes')."""
    from chainrule.exercises import circuit, layered

    if layered.is_layered(spec):
        return layered.truth(spec)
    if circuit.is_circuit(spec):
        from chainrule.verify.expression_answers import recorded_truth

        return recorded_truth(circuit.trace(spec), "circuit", dict(spec.get("at", {})))
    return network_truth(parse_spec(spec))


def _known(problem_set: ProblemSet) -> str:
    questions = problem_set.questions
    return (f"questions are labelled {questions[0].label} to {questions[-1].label}, or named by "
            f"id like {questions[0].id}")
