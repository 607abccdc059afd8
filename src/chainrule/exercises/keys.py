"""Keys a teacher hands out: the compact key (the given numbers, then each answer beside the
one line of working that gives it) and the answers-only key (the numbers alone, every
student's on one sheet).

The compact key of a 2-2-1 exercise fits one page: its table writes a derivative as
∂E/∂w¹₁₁ on one line (``\\partial E/\\partial w^{1}_{11}``), never as a stacked fraction, so
rows keep their height and nothing collides. The full worked solution (every equation of the
step) is :mod:`chainrule.exercises.markdown`'s and :mod:`chainrule.exercises.latex`'s
``solutions``.
"""

from __future__ import annotations

from chainrule.escape import csv_text, markdown_text
from chainrule.exercises.kinds import special_sheet
from chainrule.exercises.model import Exercise, ProblemSet, Question
from chainrule.exercises.working import Workings, equation_latex, equation_text
from chainrule.explain.render.latex import latex_escape


def inline_latex(latex: str) -> str:
    r"""Math for a table row: every ``\frac{a}{b}`` as ``a/b`` (braced where needed)."""
    out, i = [], 0
    while True:
        at = latex.find(r"\frac{", i)
        if at < 0:
            return "".join(out) + latex[i:]
        top, after = _group(latex, at + len(r"\frac"))
        bottom, end = _group(latex, after)
        out.append(latex[i:at] + _wrap(inline_latex(top)) + "/" + _wrap(inline_latex(bottom)))
        i = end


def _group(text: str, start: int) -> tuple[str, int]:
    """The braced group at ``start``: (its content, the index after it)."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1:i], i + 1
    return text[start + 1:], len(text)


def _wrap(term: str) -> str:
    simple = term.startswith(r"\partial ") or not any(c in term for c in "+-=")
    return term if simple else f"({term})"


def working_of(workings: Workings, exercise: Exercise, question: Question) -> tuple[str, str]:
    """(text, LaTeX) of the numbers that give one answer: its own equation's worked middle."""
    steps = workings.steps(exercise, question.quantity)
    if not steps:
        return "", ""
    last = steps[-1]
    parts = last.parts[:-1] if len(last.parts) > 1 else last.parts
    text = f"{last.lhs.text} {last.relation} {parts[-1][0]}" if parts else equation_text(last)
    latex = (f"{last.lhs.latex} {last.relation_latex} {parts[-1][1]}" if parts
             else equation_latex(last))
    return text, inline_latex(latex)


def given_math(spec: dict) -> list[str]:
    """The given numbers as LaTeX math lines (without dollars)."""
    special = special_sheet(spec)
    if special is None:
        from chainrule.exercises.sheet import given_lines

        return given_lines(spec)
    if hasattr(special, "given_lines"):
        return special.given_lines(spec)
    from chainrule.exercises.circuit import given_text, statements

    return [r"\text{" + latex_escape("; ".join(statements(spec))) + "}",
            r"\text{" + latex_escape(given_text(spec)) + "}"]


def student_line(problem_set: ProblemSet) -> str:
    """``Ann Lee (id s001)``, or "" for a set drawn for no one."""
    if not problem_set.student:
        return ""
    return (f"{problem_set.name} (id {problem_set.student})" if problem_set.name
            else f"id {problem_set.student}")


# --- Markdown ----------------------------------------------------------------------------------


def compact_markdown(problem_set: ProblemSet, title: str) -> list[str]:
    workings = Workings.of(problem_set)
    out: list[str] = []
    for sheet in problem_set.student_sets():
        who = student_line(sheet)
        if who:
            out += [f"## {markdown_text(who)}", ""]
        for exercise in sheet.exercises:
            out += [f"{'###' if who else '##'} Exercise {exercise.number}", ""]
            out += [f"- ${line}$" for line in given_math(exercise.spec)] + [""]
            out += ["| question | quantity | answer | working |", "|---|---|--:|---|"]
            for q in exercise.questions:
                _, working = working_of(workings, exercise, q)
                cell = (f"${working}$" if working else "").replace("|", r"\|")
                out.append(f"| **{q.label}** | ${inline_latex(q.latex)}$ | "
                           f"{q.rounded(problem_set.precision)} | {cell} |")
            out.append("")
    return [f"# Answer key: {markdown_text(title)}", "",
            f"Answers rounded to {problem_set.precision} decimals; the working shows "
            f"{workings.digits}.", "", *out]


def answers_markdown(problem_set: ProblemSet) -> str:
    """Every answer, nothing else: a table per student (or for the set)."""
    out = [f"# Answers: {markdown_text(problem_set.title)}", "",
           f"Rounded to {problem_set.precision} decimals.", ""]
    for sheet in problem_set.student_sets():
        who = student_line(sheet)
        if who:
            out += [f"## {markdown_text(who)}", ""]
        for exercise in sheet.exercises:
            out.append(f"**Exercise {exercise.number}:** " + " · ".join(
                f"{q.label} {q.rounded(problem_set.precision)}" for q in exercise.questions))
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def answers_csv(problem_set: ProblemSet) -> str:
    """``student,name,1a,1b,…``: every student's answers, for a teaching assistant's
    spreadsheet (cells neutralised: no formula reaches it)."""
    questions = problem_set.questions
    rows: list[list[object]] = [["student", "name", *(q.label for q in questions)]]
    for sheet in problem_set.student_sets():
        rows.append([sheet.student, sheet.name,
                     *(q.rounded(problem_set.precision) for q in sheet.questions)])
    return csv_text(rows)


# --- LaTeX -------------------------------------------------------------------------------------


def compact_latex(problem_set: ProblemSet, escape) -> list[str]:
    """The body of the compact key: one page per exercise."""
    workings = Workings.of(problem_set)
    body = [rf"\section*{{Answer key: {escape(problem_set.title)}}}",
            f"Answers rounded to {problem_set.precision} decimals; the working shows "
            f"{workings.digits}.", ""]
    first = True
    for sheet in problem_set.student_sets():
        who = student_line(sheet)
        for exercise in sheet.exercises:
            body += ["" if first else r"\clearpage"]
            first = False
            heading = f"Exercise {exercise.number}" + (f" --- {escape(who)}" if who else "")
            body += [rf"\subsection*{{{heading}}}", r"{\small", r"\begin{gather*}",
                     r" \\ ".join(given_math(exercise.spec)), r"\end{gather*}}",
                     r"\renewcommand{\arraystretch}{1.35}", r"{\small",
                     r"\begin{longtable}{@{}>{\bfseries}l l r >{\raggedright\arraybackslash}"
                     r"p{9cm}@{}}",
                     r"\textnormal{question} & quantity & answer & working \\ \hline \endhead"]
            for q in exercise.questions:
                _, working = working_of(workings, exercise, q)
                body.append(rf"{q.label} & ${inline_latex(q.latex)}$ & "
                            rf"${q.rounded(problem_set.precision)}$ & "
                            + (f"${working}$" if working else "") + r" \\")
            body += [r"\end{longtable}}", r"\renewcommand{\arraystretch}{1}"]
    return body


def answers_latex(problem_set: ProblemSet, escape) -> list[str]:
    """The body of the answers-only key: a table per student, several to a page."""
    body = [rf"\section*{{Answers: {escape(problem_set.title)}}}",
            f"Rounded to {problem_set.precision} decimals.", ""]
    for sheet in problem_set.student_sets():
        who = student_line(sheet)
        if who:
            body.append(rf"\subsection*{{{escape(who)}}}")
        for exercise in sheet.exercises:
            cells = ", ".join(rf"\textbf{{{q.label}}}~${q.rounded(problem_set.precision)}$"
                              for q in exercise.questions)
            body += [rf"\noindent Exercise {exercise.number}: {cells}", ""]
    return body
