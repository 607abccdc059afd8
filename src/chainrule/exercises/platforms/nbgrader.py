"""An nbgrader source notebook (the instructor's version, for ``source/<assignment>/``):
``nbgrader generate_assignment`` turns it into the students' notebook, ``autograde`` grades
what they hand in, with no chainrule needed on the grading server.

Cells carry nbgrader's metadata (schema version 3): the statements and prompts are locked
Markdown; one solution cell per question holds ``answers["1a"] = 0.1234`` between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` (the students' version has nbgrader's
stub in its place); one locked test cell per question, worth a point, checks it between
``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``, so the students' version does not
show the answer. A wrong answer that a catalogue mistake gives fails with that mistake's
explanation; a close one fails saying it is close (nbgrader's test cells pass or fail: no
partial credit). Each answer is judged on its own (strict marking).
"""

from __future__ import annotations

import base64
import json

from chainrule.escape import markdown_text
from chainrule.exercises import sheet
from chainrule.exercises.diagram import svg
from chainrule.exercises.keys import given_math
from chainrule.exercises.kinds import special_sheet
from chainrule.exercises.model import ProblemSet
from chainrule.exercises.notebook import _lines
from chainrule.exercises.platforms.answers import items

SCHEMA_VERSION = 3

HELPER = '''# Run this cell first. It checks an answer when the notebook is graded.
answers = {}


def check_answer(answers, label, expected, tolerance, mistakes=(), close=None):
    """Fail with a reason unless answers[label] is expected within tolerance."""
    if label not in answers:
        raise AssertionError(f"{label}: no answer (write answers[{label!r}] = your number)")
    try:
        value = float(answers[label])
    except (TypeError, ValueError):
        raise AssertionError(f"{label}: {answers[label]!r} is not a number") from None
    if abs(value - expected) <= tolerance * (1 + 1e-9):
        return
    for number, within, why in mistakes:
        if abs(value - number) <= within * (1 + 1e-9):
            raise AssertionError(f"{label}: the number a known mistake gives. {why}")
    if close is not None and abs(value - expected) <= close * (1 + 1e-9):
        raise AssertionError(f"{label}: close, off in the last digit: check how you rounded")
    raise AssertionError(f"{label}: not right, and no known mistake gives this number")
'''


def _meta(grade_id: str, *, grade=False, solution=False, locked=False, points=None) -> dict:
    data = {"schema_version": SCHEMA_VERSION, "grade": grade, "solution": solution,
            "locked": locked, "grade_id": grade_id}
    if points is not None:
        data["points"] = points
    return {"nbgrader": data}


def _markdown(grade_id: str, text: str, attachments: dict | None = None) -> dict:
    cell = {"cell_type": "markdown", "id": grade_id, "metadata": _meta(grade_id, locked=True),
            "source": _lines(text)}
    if attachments:
        cell["attachments"] = attachments
    return cell


def _code(grade_id: str, text: str, **meta) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": grade_id,
            "metadata": _meta(grade_id, **meta), "outputs": [], "source": _lines(text)}


def source_notebook(problem_set: ProblemSet) -> str:
    """The notebook's JSON (nbformat 4.5; the same set gives the same text)."""
    p = problem_set.precision
    intro = "\n".join([
        f"# {markdown_text(problem_set.title)}", "", f"*{sheet.set_summary(problem_set)}*", "",
        sheet.instructions(problem_set), "",
        "Run the first code cell once. Write each answer in its cell as "
        f'`answers["1a"] = 0.1234` (rounded to {p} decimals), in place of the code there.'])
    cells = [_markdown("intro", intro), _code("setup", HELPER, locked=True)]
    by_exercise: dict[int, list] = {}
    for item in items(problem_set, close_credit=0.5):
        by_exercise.setdefault(item.exercise.number, []).append(item)
    for number, chosen in by_exercise.items():
        exercise = chosen[0].exercise
        given = "\n".join(f"- ${line}$" for line in given_math(exercise.spec))
        attachments = None
        text = [f"## Exercise {number}", ""]
        if special_sheet(exercise.spec) is None:
            image = f"exercise-{number:02d}.svg"
            attachments = {image: {"image/svg+xml": base64.b64encode(
                svg(exercise.spec).encode("utf-8")).decode()}}
            text += [f"![The network of exercise {number}](attachment:{image})", "",
                     sheet.network_text(exercise.spec), "", sheet.convention(), ""]
        cells.append(_markdown(f"exercise-{number}", "\n".join(text + [given]), attachments))
        for item in chosen:
            q = item.question
            cells.append(_markdown(f"prompt-{q.label}",
                                   f"**{q.label}.** {q.prompt_latex[0].upper()}"
                                   f"{q.prompt_latex[1:]}"))
            cells.append(_code(f"answer-{q.label}",
                               f"### BEGIN SOLUTION\nanswers[\"{q.label}\"] = "
                               f"{item.answers[0].value}\n### END SOLUTION", solution=True))
            correct = item.answers[0]
            mistakes = [(float(a.value), a.tolerance, a.feedback) for a in item.answers
                        if a.mistake]
            close = next((a.tolerance for a in item.answers[1:] if a.credit > 0), None)
            check = (f"check_answer(answers, {q.label!r}, {correct.value}, "
                     f"{correct.tolerance!r},\n             {mistakes!r},\n"
                     f"             close={close!r})")
            cells.append(_code(f"test-{q.label}",
                               f"# {q.label}: {q.symbol}, to {p} decimals\n"
                               f"### BEGIN HIDDEN TESTS\n{check}\n### END HIDDEN TESTS",
                               grade=True, locked=True, points=1))
    document = {"cells": cells, "metadata": {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"
