"""One student's feedback as a self-contained HTML page (no script, no external file): what
:func:`chainrule.exercises.report.student_markdown` says, for a student who opens a file
rather than reads Markdown. Every text that came from a student (the name, the answers) is
escaped; the working is chainrule's plain-text equations, so no math library is needed.
"""

from __future__ import annotations

from html import escape

from chainrule.exercises.grade import StudentGrade
from chainrule.exercises.report import (
    diagnosis_text, first_wrong_text, headline, result_text, uncredited)
from chainrule.exercises.summary import ClassGrade
from chainrule.exercises.working import Workings, equation_text

STYLE = """
body { font: 16px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; color: #1f2328; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #d0d7de; padding: .25rem .6rem; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.correct { color: #1a7f37; } .carried { color: #0969da; } .close { color: #9a6700; }
.incorrect { color: #cf222e; } .unanswered { color: #57606a; }
.working { font-family: ui-monospace, monospace; margin: .2rem 0 1rem 1.5rem; }
.working div { white-space: pre-wrap; }
"""


def student_html(student: StudentGrade, class_grade: ClassGrade, workings: Workings) -> str:
    precision = class_grade.problem_set.precision
    name = student.name or student.student
    body = [f"<h1>{escape(class_grade.problem_set.title)}: {escape(name)}</h1>",
            f"<p>{escape(headline(student, name))}.</p>"]
    for exercise in student.exercises:
        body.append(f"<h2>Exercise {exercise.exercise.number}</h2>")
        said = diagnosis_text(exercise)
        if said:
            body.append(f"<p>{escape(said[0].upper() + said[1:])}</p>")
        first = first_wrong_text(exercise, precision)
        if first:
            body.append(f"<p>{escape(first)}</p>")
        rows = "".join(
            f"<tr><td><b>{escape(j.question.label)}</b></td><td>{escape(j.question.symbol)}"
            f"</td><td class='num'>{escape(j.given or '')}</td><td class='num'>"
            f"{escape(j.question.rounded(precision))}</td><td class='{escape(j.status)}'>"
            f"{escape(result_text(j))}</td></tr>" for j in exercise.judgements)
        body.append("<table><tr><th>question</th><th>quantity</th><th>given</th>"
                    f"<th>answer</th><th>result</th></tr>{rows}</table>")
        for j, why, steps in uncredited(exercise, workings):
            body.append(f"<p><b>{escape(j.question.label)}</b> {escape(j.question.symbol)}: "
                        f"{escape(why)}</p>")
            if steps:
                body.append("<div class='working'>" + "".join(
                    f"<div>{escape(equation_text(e))}</div>" for e in steps) + "</div>")
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
            "style-src 'unsafe-inline'\">"
            f"<title>{escape(name)}: feedback</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")
