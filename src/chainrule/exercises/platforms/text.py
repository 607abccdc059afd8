"""An exercise's statement for a platform's HTML: the network (or the level's summary), the
given numbers as display math, each question's prompt. Math is TeX between ``\\(…\\)`` and
``\\[…\\]``, which Moodle's and Canvas's MathJax filters render; every text is HTML-escaped,
math included (MathJax reads the decoded text), so nothing a title holds becomes markup."""

from __future__ import annotations

import re
from html import escape

from chainrule.exercises.keys import given_math
from chainrule.exercises.kinds import special_sheet
from chainrule.exercises.levels import LEVELS
from chainrule.exercises.model import Exercise, ProblemSet

_MATH = re.compile(r"\$(.+?)\$")


def math_html(text: str) -> str:
    """Prose with ``$…$`` math as HTML with ``\\(…\\)`` math, all of it escaped."""
    out, at = [], 0
    for m in _MATH.finditer(text):
        out.append(escape(text[at:m.start()]) + r"\(" + escape(m.group(1)) + r"\)")
        at = m.end()
    return "".join(out) + escape(text[at:])


def statement(problem_set: ProblemSet, exercise: Exercise, diagram: str = "") -> str:
    """The exercise as HTML paragraphs (``diagram``: an ``<img>`` to put first)."""
    from chainrule.exercises import sheet

    spec = exercise.spec
    if special_sheet(spec) is None:
        about = [sheet.network_text(spec), sheet.convention()]
    else:
        about = [LEVELS[problem_set.level].summary[0].upper()
                 + LEVELS[problem_set.level].summary[1:] + "."]
    parts = [diagram] if diagram else []
    parts += [f"<p>{math_html(text)}</p>" for text in about]
    parts += [r"<p>\[" + escape(line) + r"\]</p>" for line in given_math(spec)]
    parts.append(f"<p>Give each answer rounded to {problem_set.precision} decimals.</p>")
    return "\n".join(parts)


def prompt_html(question) -> str:
    return math_html(question.prompt_latex[0].upper() + question.prompt_latex[1:])
