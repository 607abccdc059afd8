"""A class's grades: which questions and which mistakes were most common."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Mapping

from chainrule.frozen import Frozen
from chainrule.exercises.grade import STATUSES, Grader, StudentGrade
from chainrule.exercises.model import ExerciseError, ProblemSet, Question
from chainrule.exercises.catalogue import MISTAKES


@dataclass(unsafe_hash=True)
class QuestionSummary(Frozen):
    question: Question
    counts: dict[str, int]  # status → students
    mistakes: tuple[tuple[str, int], ...]  # (mistake id, incorrect answers it explains)


@dataclass(unsafe_hash=True)
class MistakeSummary(Frozen):
    id: str
    title: str
    students: int  # students diagnosed with it in at least one exercise
    answers: int  # incorrect answers it explains (named first)
    questions: tuple[str, ...] = ()  # the labels of the questions it hit, most often first


@dataclass
class ClassGrade:
    problem_set: ProblemSet
    students: list[StudentGrade]
    close_credit: float
    marking: str = "carried-forward"

    @property
    def mean_score(self) -> float:
        return sum(s.score for s in self.students) / len(self.students) if self.students else 0.0

    def questions(self) -> list[QuestionSummary]:
        """Every question, the most often missed first (incorrect, then close, then
        unanswered; ties in the worksheet's order)."""
        questions = self.problem_set.questions
        counts = {q.id: Counter({status: 0 for status in STATUSES}) for q in questions}
        mistakes: dict[str, Counter[str]] = {q.id: Counter() for q in questions}
        for student in self.students:
            for j in student.judgements:
                counts[j.question.id][j.status] += 1
                if j.mistakes:
                    mistakes[j.question.id][j.mistakes[0]] += 1
        rows = [(position, QuestionSummary(q, dict(counts[q.id]),
                                           tuple(mistakes[q.id].most_common())))
                for position, q in enumerate(questions)]
        rows.sort(key=lambda row: (-row[1].counts["incorrect"], -row[1].counts["close"],
                                   -row[1].counts["unanswered"], row[0]))
        return [summary for _, summary in rows]

    def mistakes(self) -> list[MistakeSummary]:
        """The mistakes found, by how many students made them, then how many answers."""
        students: Counter[str] = Counter()
        answers: Counter[str] = Counter()
        hit: dict[str, Counter[str]] = {}
        position = {q.label: i for i, q in enumerate(self.problem_set.questions)}
        for student in self.students:
            students.update(set(student.diagnoses))
            for j in student.judgements:
                if j.mistakes:
                    answers[j.mistakes[0]] += 1
                    hit.setdefault(j.mistakes[0], Counter())[j.question.label] += 1
        order = list(MISTAKES)
        found = sorted(set(students) | set(answers),
                       key=lambda m: (-students[m], -answers[m], order.index(m)))
        return [MistakeSummary(m, MISTAKES[m].title, students[m], answers[m], tuple(sorted(
            hit.get(m, {}), key=lambda q: (-hit[m][q], position.get(q, 0)))))
                for m in found]


def grade_class(problem_set: ProblemSet, submissions: Mapping[str, tuple[str, Mapping[str, Any]]],
                close_credit: float = 0.5, source: str = "key",
                marking: str = "carried-forward") -> ClassGrade:
    """Grade every student: ``submissions`` maps a student to (where the answers came
    from, the answers); ``marking`` as :class:`~chainrule.exercises.grade.Grader` takes it."""
    if not submissions:
        raise ExerciseError("answers: no students to grade")
    if not problem_set.variants:
        grader = Grader(problem_set, close_credit, source, marking)
        students = [grader.grade(answers, student, where)
                    for student, (where, answers) in submissions.items()]
        return ClassGrade(problem_set, students, close_credit, marking)
    students = []
    for student, (where, answers) in submissions.items():
        own = problem_set.for_student(student)
        if own is None:
            ids = ", ".join(v.student for v in problem_set.variants[:3])
            raise ExerciseError(f"{where}: student {student!r} is not on the roster of "
                                f"{source} ({len(problem_set.variants)} students, ids like "
                                f"{ids}); name the answers by the student's id")
        grade = Grader(own, close_credit, source, marking).grade(answers, own.student, where)
        grade.name = own.name
        students.append(grade)
    return ClassGrade(problem_set, students, close_credit, marking)
