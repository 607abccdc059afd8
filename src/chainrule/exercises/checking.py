"""The checking cells of a worksheet notebook: feedback on answers, never the answers.

The notebook carries its answer key packed (zlib, then base64) in its first code cell, so it
needs nothing but chainrule; the answers are not shown unless a student unpacks them.

>>> check = Checker.unpack(packed)       # doctest: +SKIP
>>> check({"1a": "0.1234"}, exercise=1)  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import json
import zlib
from typing import Any, Mapping

from chainrule.exercises.grade import ExerciseGrade, Grader, Judgement
from chainrule.exercises.model import ExerciseError, ProblemSet, key_from_dict
from chainrule.exercises.catalogue import MISTAKES

WRAP = 76


def pack(problem_set: ProblemSet) -> list[str]:
    """The key as lines of base64 text (zlib level 9: the same key gives the same text)."""
    data = base64.b64encode(zlib.compress(problem_set.to_json().encode("utf-8"), 9)).decode()
    return [data[i:i + WRAP] for i in range(0, len(data), WRAP)]


class Checker:
    """``check(answers, exercise=None)``: feedback on one exercise, or on all of them."""

    def __init__(self, problem_set: ProblemSet) -> None:
        self.problem_set = problem_set
        self._grader = Grader(problem_set, source="the notebook's key")

    @classmethod
    def unpack(cls, packed: str) -> "Checker":
        try:
            data = json.loads(zlib.decompress(base64.b64decode("".join(packed.split()))))
        except (ValueError, zlib.error):
            raise ExerciseError("the notebook's key is damaged: generate the worksheet "
                                "again") from None
        return cls(key_from_dict(data, "the notebook's key"))

    def __call__(self, answers: Mapping[str, Any], exercise: int | None = None) -> "Feedback":
        count = len(self.problem_set.exercises)
        if exercise is not None and not (isinstance(exercise, int) and 1 <= exercise <= count):
            return Feedback([], f"There is no exercise {exercise!r}: exercises are 1 to {count}.")
        try:
            grade = self._grader.grade(answers, "you", "answers")
        except ExerciseError as error:
            return Feedback([], str(error))
        chosen = [e for e in grade.exercises if exercise in (None, e.exercise.number)]
        return Feedback(chosen, "")


class Feedback:
    """What a checking cell shows: plain text, or HTML in Jupyter."""

    def __init__(self, exercises: list[ExerciseGrade], problem: str) -> None:
        self.exercises, self.problem = exercises, problem

    def lines(self) -> list[tuple[str, str, str, str]]:
        """(label, symbol, verdict, advice) per question; advice said once: a later answer
        with the same mistake, or following from the same wrong one, points back to it."""
        out = []
        said: dict[str, str] = {}  # advice → the label it was first given at
        for e in self.exercises:
            for j in e.judgements:
                verdict, advice = _verdict(j)
                if advice and advice in said:
                    advice = f"as for {said[advice]}"
                elif advice:
                    said[advice] = j.question.label
                out.append((j.question.label, j.question.symbol, verdict, advice))
        return out

    def headline(self) -> str:
        if self.problem:
            return self.problem
        judgements = [j for e in self.exercises for j in e.judgements]
        correct = sum(j.status == "correct" for j in judgements)
        carried = sum(j.status == "carried" for j in judgements)
        close = sum(j.status == "close" for j in judgements)
        open_ = sum(j.status == "unanswered" for j in judgements)
        where = (f"Exercise {self.exercises[0].exercise.number}" if len(self.exercises) == 1
                 else "All exercises")
        text = f"{where}: {correct} of {len(judgements)} correct"
        text += f", {carried} right from a wrong earlier answer" if carried else ""
        text += f", {close} close" if close else ""
        return text + (f", {open_} not answered yet" if open_ else "") + "."

    def __repr__(self) -> str:
        rows = self.lines()
        if not rows:
            return self.headline()
        width = max(len(symbol) for _, symbol, _, _ in rows)
        out = [self.headline()]
        for label, symbol, verdict, advice in rows:
            out.append(f"  {label:<5} {symbol:<{width}}  {verdict}" + (f": {advice}"
                                                                       if advice else ""))
        return "\n".join(out)

    def _repr_html_(self) -> str:
        colours = {"correct": "#1a7f37", "follows": "#0969da", "close": "#9a6700",
                   "wrong": "#cf222e",
                   "not answered yet": "#57606a"}
        rows = "".join(
            f"<tr><td><b>{html.escape(label)}</b></td><td>{html.escape(symbol)}</td>"
            f"<td style='color:{colours[verdict]}'>{html.escape(verdict)}</td>"
            f"<td style='text-align:left'>{html.escape(advice)}</td></tr>"
            for label, symbol, verdict, advice in self.lines())
        table = f"<table>{rows}</table>" if rows else ""
        return f"<p>{html.escape(self.headline())}</p>{table}"


def _verdict(j: Judgement) -> tuple[str, str]:
    if j.status == "correct":
        return "correct", ""
    if j.status == "carried":
        return "follows", ("right from your earlier answers, but one of them is wrong: "
                           "correct it, then work this again")
    if j.status == "close":
        return "close", f"{j.note or 'off in the last digit'}: check how you rounded"
    if j.status == "unanswered":
        return "not answered yet", ""
    if j.note:
        return "wrong", f"{j.given!r} is {j.note}"
    if not j.mistakes:
        return "wrong", "no known mistake gives this number: check each step"
    mistake = MISTAKES[j.mistakes[0]]
    return "wrong", f"this is the number you get from a known mistake, {mistake.title}: " \
                    f"{mistake.explanation}"
