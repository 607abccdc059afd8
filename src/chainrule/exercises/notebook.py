"""The worksheet as a Jupyter notebook: a cell per question, an answer cell, a checking cell.

Cells have fixed ids (``ex1-q1a``, ``ex1-answer-1a``, ``ex1-check``) and tags (``answer``,
``check``), so the same problem set gives the same file, and a filled-in notebook can be
graded (:mod:`chainrule.exercises.submissions` reads its ``answers["1a"] = …`` lines).
"""

from __future__ import annotations

import base64
import json

from chainrule.escape import markdown_text
from chainrule.exercises import sheet
from chainrule.exercises.kinds import special_sheet
from chainrule.exercises.checking import pack
from chainrule.exercises.diagram import svg
from chainrule.exercises.model import Exercise, ProblemSet


def _lines(text: str) -> list[str]:
    parts = text.split("\n")
    return [line + "\n" for line in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _markdown(cell_id: str, text: str, attachments: dict | None = None) -> dict:
    cell = {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": _lines(text)}
    if attachments:
        cell["attachments"] = attachments
    return cell


def _code(cell_id: str, text: str, tags: list[str]) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": cell_id,
            "metadata": {"tags": tags}, "outputs": [], "source": _lines(text)}


def notebook(problem_set: ProblemSet) -> str:
    from chainrule.exercises.markdown import name_line

    intro = "\n".join([
        f"# {markdown_text(problem_set.title)}", "", name_line(problem_set), "",
        f"*{sheet.set_summary(problem_set)}*", "",
        sheet.instructions(problem_set), "",
        "**How to work:** run the first code cell once. Write each answer in place of `...` "
        "in its answer cell, then run the exercise's checking cell: it says *correct*, "
        "*close* (one off in the last digit) or *wrong*, and names the known mistake that "
        "gives a wrong number. It never shows the answers. (The answer key is packed into "
        "the first code cell; unpacking it spoils the exercise.)"])
    packed = "\n".join(f'    "{line}"' for line in pack(problem_set))
    setup = ("# Run this cell first: it loads chainrule's checker and the answer key (packed,\n"
             "# not for reading).\n"
             "from chainrule.exercises.checking import Checker\n\n"
             f"check = Checker.unpack(\n{packed}\n)\nanswers = {{}}")
    cells = [_markdown("intro", intro), _code("setup", setup, ["setup"])]
    for exercise in problem_set.exercises:
        cells += _exercise_cells(exercise, problem_set.precision)
    cells += [_markdown("summary", "## All exercises\n\nYour answers so far, checked together."),
              _code("check-all", "check(answers)", ["check"])]
    metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}}
    if problem_set.student:  # a student's own variant: grading finds it by this id
        metadata["chainrule"] = {"student": problem_set.student}
    document = {"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def _exercise_cells(exercise: Exercise, precision: int) -> list[dict]:
    n = exercise.number
    special = special_sheet(exercise.spec)
    if special:
        return _question_cells(exercise, precision, _markdown(
            f"ex{n}", special.notebook_text(exercise, precision)))
    image = f"exercise-{n:02d}.svg"
    attachments = {image: {"image/svg+xml": base64.b64encode(
        svg(exercise.spec).encode("utf-8")).decode()}}
    given = "\n".join(f"- ${line}$" for line in sheet.given_lines(exercise.spec))
    text = "\n".join([f"## Exercise {n}", "", f"![The network of exercise {n}](attachment:{image})",
                      "", sheet.network_text(exercise.spec), "", sheet.convention(), "", given,
                      "", f"Give each answer rounded to {precision} decimals."])
    return _question_cells(exercise, precision, _markdown(f"ex{n}", text, attachments))


def _question_cells(exercise: Exercise, precision: int, intro: dict) -> list[dict]:
    n = exercise.number
    cells = [intro]
    for q in exercise.questions:
        cells.append(_markdown(f"ex{n}-q{q.label}", f"**{q.label}.** {q.prompt_latex[0].upper()}"
                                                    f"{q.prompt_latex[1:]}"))
        cells.append(_code(f"ex{n}-answer-{q.label}",
                           f'answers["{q.label}"] = ...  # {q.symbol}, to {precision} decimals',
                           ["answer"]))
    cells.append(_code(f"ex{n}-check", f"check(answers, exercise={n})", ["check"]))
    return cells
