"""Grades shown to people: a terminal table or Markdown, for one student or a class.

One student is shown in full: every answer, the mistake behind each wrong one and the correct
working. A class is shown as a table of students and a summary (the questions and mistakes
most common); ``details`` adds every student in full.
"""

from __future__ import annotations

from chainrule.escape import markdown_text, terminal_text
from chainrule.exercises.grade import NOT_CREDITED, STATUSES, ExerciseGrade, StudentGrade
from chainrule.exercises.summary import ClassGrade
from chainrule.exercises.working import Workings, equation_latex, equation_text
from chainrule.exercises.catalogue import MISTAKES
from chainrule.words import plural

TOP_QUESTIONS = 10  # the summary's list of the questions most often missed


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
            for row in rows]


def _md_table(rows: list[list[str]], user: tuple[int, ...] = ()) -> list[str]:
    """A Markdown table; the columns ``user`` hold users' text (escaped in full), the others
    chainrule's own Markdown and math (only ``|`` escaped, which would end the cell)."""
    escaped = [rows[0]] + [[markdown_text(cell) if i in user else cell.replace("|", r"\|")
                            for i, cell in enumerate(row)] for row in rows[1:]]
    return (["| " + " | ".join(escaped[0]) + " |", "|" + "---|" * len(rows[0])]
            + ["| " + " | ".join(row) + " |" for row in escaped[1:]])


def percent(score: float) -> str:
    return f"{100 * score:.0f}%"


def points(value: float) -> str:
    return f"{value:g}"


def headline(student: StudentGrade, name: str | None = None) -> str:
    """``ann: 7 of 8 points (88%): …``; ``name`` is the student's name as shown (escaped)."""
    counts = ", ".join(f"{student.count(s)} {s}" for s in STATUSES if student.count(s))
    name = student.student if name is None else name
    return (f"{name}: {points(student.points)} of {student.max_points} points "
            f"({percent(student.score)}): {counts}")


def result_text(judgement) -> str:
    """``incorrect: derivative_of_z``; a carried answer is just ``carried`` (the exercise's
    first-wrong line says once what it follows from)."""
    text = judgement.status
    if judgement.mistakes:
        text += ": " + judgement.mistakes[0]
    elif judgement.note and judgement.status != "carried":
        text += f": {judgement.note}"
    return text


MARKING_WORDS = {
    "carried-forward": "error carried forward: an answer right from the student's own earlier "
                       "answers earns its point",
    "strict": "strict: only answers right on their own earn points"}


def _key_line(class_grade: ClassGrade, source: str) -> str:
    ps = class_grade.problem_set
    return (f"Graded against {source}: level {ps.level}, "
            f"{plural(len(ps.exercises), 'exercise')}, {plural(len(ps.questions), 'question')}, "
            f"answers to {ps.precision} decimals "
            f"(close: off in the last digit or truncated, {points(class_grade.close_credit)} "
            f"point; marked {MARKING_WORDS[class_grade.marking]})")


def diagnosis_text(exercise: ExerciseGrade, code=str) -> str:
    """``diagnosis a (title). explanation`` for one mistake or two together; "" for none.
    ``code`` marks a mistake's id (Markdown's backticks)."""
    named = [MISTAKES[m] for m in exercise.diagnoses]
    if not named:
        return exercise.uncertain
    if exercise.layer is not None:  # made in one layer only: its title says which
        named = [m.confined(exercise.layer) for m in named]
    if len(named) == 1:
        m = named[0]
        return f"diagnosis {code(m.id)} ({m.title}). {m.explanation}"
    return "diagnosis: two mistakes together. " + " ".join(
        f"{code(m.id)} ({m.title}): {m.explanation}" for m in named)


def first_wrong_text(exercise: ExerciseGrade, precision: int, escape=str) -> str:
    """Where the errors began, when later answers were credited as following from it; the
    number it should have been at the precision asked."""
    first = exercise.first_wrong
    if first is None or not first["followed"]:
        return ""
    expected = first["expected"]
    shown = "no number" if expected is None else (
        f"{expected:.{precision}f}" if isinstance(expected, float) else str(expected))
    return (f"The first wrong answer is {first['label']} {first['symbol']}: "
            f"{escape(str(first['given']))} given, {shown} expected; "
            f"{plural(first['followed'], 'later answer')} "
            f"{'follows' if first['followed'] == 1 else 'follow'} correctly from the "
            f"wrong numbers and {'is' if first['followed'] == 1 else 'are'} credited.")


# --- terminal table ------------------------------------------------------------------------------


def table(class_grade: ClassGrade, source: str = "the key", details: bool = False) -> str:
    single = len(class_grade.students) == 1
    workings = Workings.of(class_grade.problem_set)
    out = [_key_line(class_grade, source), ""]
    if single or details:
        for student in class_grade.students:
            out += _student_text(student, class_grade, workings) + [""]
    if not single:
        out += _class_text(class_grade)
    # Students' names and answers are in it: no control character reaches the terminal.
    return terminal_text("\n".join(out).rstrip() + "\n")


def _student_text(student: StudentGrade, class_grade: ClassGrade,
                  workings: Workings) -> list[str]:
    precision = class_grade.problem_set.precision
    out = [headline(student)]
    for exercise in student.exercises:
        said = diagnosis_text(exercise)
        out.append(f"  Exercise {exercise.exercise.number}" + (f": {said}" if said else ""))
        first = first_wrong_text(exercise, precision)
        if first:
            out.append(f"  {first}")
        rows = [["question", "quantity", "given", "answer", "result"]]
        rows += [[j.question.label, j.question.symbol, j.given or "", j.question.rounded(
            precision), result_text(j)] for j in exercise.judgements]
        out += _table(rows, "    ")
        for j, why, steps in uncredited(exercise, workings):
            out += [f"    {j.question.label} {j.question.symbol}: {why}"]
            out += [f"        {equation_text(e)}" for e in steps]
    return out


def uncredited(exercise: ExerciseGrade, workings: Workings, escape=str):
    """(judgement, why, the working not shown yet) for each answer not credited, in order:
    the first wrong answer's working in full, then only what each later one adds. A mistake
    is explained once: the diagnosis above the answers, any other at its first answer."""
    shown: set[tuple[str, str]] = set()
    explained = set(exercise.diagnoses)
    for j in exercise.judgements:
        if j.status not in NOT_CREDITED:
            continue
        steps = [e for e in workings.steps(exercise.exercise, j.question.quantity)
                 if (e.lhs.text, e.relation) not in shown]
        had = bool(shown)
        shown.update((e.lhs.text, e.relation) for e in steps)
        why = _why(j, explained, escape)
        if j.mistakes:
            explained.add(j.mistakes[0])
        if steps:
            why += " The correct working:" if not had else " The working it adds:"
        else:
            why += " Its working is above."
        yield j, why, steps


def _why(judgement, diagnoses: tuple[str, ...], escape=str) -> str:
    """Why an answer is not credited; a mistake other than the exercise's diagnosis (already
    explained above the answers) is explained here; ``escape`` shows the student's text."""
    if judgement.status == "close":
        return f"close ({judgement.note or 'off in the last digit'})."
    if judgement.mistakes:
        m = MISTAKES[judgement.mistakes[0]]
        also = (f" (also fits: {', '.join(judgement.mistakes[1:])})"
                if len(judgement.mistakes) > 1 else "")
        explanation = "" if m.id in diagnoses else f" {m.explanation}"
        return f"the number of the known mistake {m.id}{also}.{explanation}"
    if judgement.note == "not a number":
        return f"{escape(repr(judgement.given))} is not a number."
    if judgement.note:
        return f"no known mistake gives this number ({judgement.note})."
    return "no known mistake gives this number."


def _class_text(class_grade: ClassGrade) -> list[str]:
    out = [f"Class: {len(class_grade.students)} students, mean score "
           f"{percent(class_grade.mean_score)}"]
    out += _table(_student_rows(class_grade))
    out += ["", "Questions most often missed:"]
    rows = _question_rows(class_grade)
    out += _table(rows) if len(rows) > 1 else ["  none: every answer is correct"]
    out += ["", "Mistakes found:"]
    rows = _mistake_rows(class_grade)
    out += _table(rows) if len(rows) > 1 else ["  none from the catalogue"]
    return out


def _student_rows(class_grade: ClassGrade) -> list[list[str]]:
    rows = [["student", "points", "score", *STATUSES, "mistakes"]]
    total = len(class_grade.problem_set.questions)
    for s in class_grade.students:
        rows.append([s.student, f"{points(s.points)}/{total}", percent(s.score),
                     *(str(s.count(k)) for k in STATUSES), ", ".join(s.diagnoses)])
    return rows


def _question_rows(class_grade: ClassGrade) -> list[list[str]]:
    rows = [["question", "quantity", "incorrect", "close", "unanswered", "most common mistake"]]
    for summary in class_grade.questions()[:TOP_QUESTIONS]:
        c = summary.counts
        if not (c["incorrect"] or c["close"] or c["unanswered"]):
            break
        common = f"{summary.mistakes[0][0]} ({summary.mistakes[0][1]})" if summary.mistakes \
            else ""
        rows.append([summary.question.label, summary.question.symbol, str(c["incorrect"]),
                     str(c["close"]), str(c["unanswered"]), common])
    return rows


def _mistake_rows(class_grade: ClassGrade) -> list[list[str]]:
    rows = [["mistake", "title", "students", "answers", "questions hit"]]
    rows += [[m.id, m.title, str(m.students), str(m.answers), _labels(m.questions)]
             for m in class_grade.mistakes()]
    return rows


def _labels(labels: tuple[str, ...], most: int = 6) -> str:
    shown = ", ".join(labels[:most])
    return shown + (f" and {len(labels) - most} more" if len(labels) > most else "")


# --- Markdown ------------------------------------------------------------------------------------


def markdown(class_grade: ClassGrade, source: str = "the key", details: bool = False) -> str:
    single = len(class_grade.students) == 1
    workings = Workings.of(class_grade.problem_set)
    out = [f"# Grades: {markdown_text(class_grade.problem_set.title)}", "",
           _key_line(class_grade, markdown_text(source)), ""]
    if not single:
        out += [f"## Class: {len(class_grade.students)} students, mean score "
                f"{percent(class_grade.mean_score)}", ""]
        out += _md_table(_student_rows(class_grade), user=(0,)) + [
            "", "### Questions most often missed", ""]
        rows = _question_rows(class_grade)
        out += (_md_table(rows) if len(rows) > 1 else ["None: every answer is correct."])
        out += ["", "### Mistakes found", ""]
        rows = _mistake_rows(class_grade)
        out += (_md_table(rows) if len(rows) > 1 else ["None from the catalogue."]) + [""]
    if single or details:
        for student in class_grade.students:
            out += student_markdown(student, class_grade, workings, level=2) + [""]
    return "\n".join(out).rstrip() + "\n"


def student_markdown(student: StudentGrade, class_grade: ClassGrade, workings: Workings,
                     level: int = 1) -> list[str]:
    """One student's grades in full: every answer, each mistake, the correct working."""
    h = "#" * level
    precision = class_grade.problem_set.precision
    name = markdown_text(student.student, line_start=True)  # the headline begins with it
    out = [f"{h} {name}", "", headline(student, name) + ".", ""]
    for exercise in student.exercises:
        out += [f"{h}# Exercise {exercise.exercise.number}", ""]
        said = diagnosis_text(exercise, code=lambda text: f"`{text}`")
        if said:
            out += [said[0].upper() + said[1:], ""]
        first = first_wrong_text(exercise, precision, markdown_text)
        if first:
            out += [first, ""]
        rows = [["question", "quantity", "given", "answer", "result"]]
        rows += [[f"**{j.question.label}**", f"${j.question.latex}$", j.given or "",
                  j.question.rounded(precision), result_text(j)] for j in exercise.judgements]
        out += _md_table(rows, user=(2,)) + [""]
        for j, why, steps in uncredited(exercise, workings, markdown_text):
            out += [f"**{j.question.label}** ${j.question.latex}$: {why}", ""]
            if steps:
                out += [f"- ${equation_latex(e)}$" for e in steps] + [""]
    return out
