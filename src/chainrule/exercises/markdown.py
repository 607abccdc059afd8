"""The worksheet and the answer key as Markdown (math in $…$, diagrams as SVG files)."""

from __future__ import annotations


from chainrule.escape import markdown_text
from chainrule.exercises.model import Exercise, ProblemSet
from chainrule.exercises import sheet
from chainrule.exercises.sheet import nested_markdown
from chainrule.exercises.kinds import special_sheet
from chainrule.explain.render import render
from chainrule.explain.trace import explain

WORKING_EXTRA_DIGITS = 2  # the worked solutions show two digits more than the answers


def diagram_name(exercise: Exercise, prefix: str = "diagrams/exercise-") -> str:
    return f"{prefix}{exercise.number:02d}.svg"


def diagram(exercise: Exercise, prefix: str = "diagrams/exercise-") -> str | None:
    """The diagram's file name, or None for a circuit (shown as its statements) or a network
    of typed layers (shown as its given matrices)."""
    return None if special_sheet(exercise.spec) else diagram_name(exercise, prefix)


def name_line(problem_set: ProblemSet) -> str:
    """``**Name:** ____ **Student id:** ____``, filled in for a student's own variant."""
    blank = r"\_" * 16
    name = markdown_text(problem_set.name) if problem_set.name else blank
    sid = f"`{problem_set.student}`" if problem_set.student else blank
    return f"**Name:** {name} &emsp; **Student id:** {sid}"


def worksheet(problem_set: ProblemSet, diagrams: str = "diagrams/exercise-") -> str:
    lines = [f"# {markdown_text(problem_set.title)}", "", name_line(problem_set), "",
             f"*{sheet.set_summary(problem_set)}*", "",
             sheet.instructions(problem_set), "",
             "Write your answers in the last column, or in `answers-template.csv` (one row "
             "per student, one column per question label) to have them graded.", ""]
    for exercise in problem_set.exercises:
        lines += exercise_lines(exercise, problem_set.precision, diagram(exercise, diagrams))
    return "\n".join(lines).rstrip() + "\n"


def exercise_lines(exercise: Exercise, precision: int, diagram: str | None) -> list[str]:
    spec = exercise.spec
    special = special_sheet(spec)
    if special:
        return special.markdown_lines(exercise, precision)
    lines = [f"## Exercise {exercise.number}", ""]
    if diagram:
        lines += [f"![The network of exercise {exercise.number}]({diagram})", ""]
    lines += [sheet.network_text(spec), "", sheet.convention(), ""]
    lines += [f"- ${line}$" for line in sheet.given_lines(spec)]
    lines += ["", f"Give each answer rounded to {precision} decimals.", "",
              "| question | asked | your answer |", "|---|---|---|"]
    lines += [f"| **{q.label}** | {q.prompt_latex} | |" for q in exercise.questions]
    return lines + [""]


def key(problem_set: ProblemSet, kind: str = "compact") -> str:
    """The answer key: ``compact`` (each answer beside its working, :mod:`.keys`),
    ``worked`` (every equation of the step) or ``answers`` (the numbers alone)."""
    from chainrule.exercises import keys

    if kind == "compact":
        return "\n".join(keys.compact_markdown(problem_set, problem_set.title)).rstrip() + "\n"
    if kind == "answers":
        return keys.answers_markdown(problem_set)
    return _worked_key(problem_set)


def _worked_key(problem_set: ProblemSet) -> str:
    digits = min(problem_set.precision + WORKING_EXTRA_DIGITS, 10)
    lines = [f"# Answer key: {markdown_text(problem_set.title)}", "",
             f"*{sheet.set_summary(problem_set)}*", "",
             f"Answers are rounded to {problem_set.precision} decimals; the worked "
             f"solutions show {digits}. Ids name each quantity as the trace does (indices from "
             f"0); labels and symbols count units from 1.", ""]
    for exercise in problem_set.exercises:
        lines += [f"## Exercise {exercise.number}", "", "| question | quantity | id | answer |",
                  "|---|---|---|---|"]
        lines += [f"| **{q.label}** | ${q.latex}$ | `{q.id}` | "
                  f"{q.rounded(problem_set.precision)} |" for q in exercise.questions]
        lines += ["", "### Worked solution", "", worked(exercise, digits), ""]
    return "\n".join(lines).rstrip() + "\n"


def worked(exercise: Exercise, digits: int) -> str:
    """The explain trace as Markdown, its title dropped and its headings two levels down."""
    special = special_sheet(exercise.spec)
    if special:
        return special.worked_markdown(exercise, digits)
    text = render(explain(exercise.spec), "markdown", precision=digits)
    return nested_markdown(text)
