"""GIFT, Moodle's text format for questions: a category per exercise, one numerical question
per part (GIFT has no multi-part question), each with :mod:`.answers`' table in its order,
written as Moodle's own exporter writes them::

    ::Exercise 1, 1a::[html]<p>…</p> {#
        =%100%0.1234:0.00005#Correct.
        =%0%-0.1234:0.00005#Output error written t − y. …
        =%50%0.1234:0.0002#Close: …
        ~#No known mistake gives this number: check each step.
        ####The correct working: …
    }

Text is HTML-escaped, then GIFT's special characters (``\\ ~ = # { } :``) are escaped with a
backslash; numbers are fixed-point (Moodle's reader takes any non-number for ``*``).
"""

from __future__ import annotations

from chainrule.exercises.model import ProblemSet
from chainrule.exercises.platforms.answers import fixed
from chainrule.exercises.platforms.moodle import _by_exercise
from chainrule.exercises.platforms.text import prompt_html, statement

OTHER = "No known mistake gives this number: check each step."


def escape_gift(text: str) -> str:
    for char in "\\~=#{}:":
        text = text.replace(char, "\\" + char)
    return text.replace("\n", "\\n")


def _percent(credit: float) -> str:
    return f"{100 * credit:.7g}"


def questions(problem_set: ProblemSet, close_credit: float = 0.5, category: str = "") -> str:
    from html import escape

    top = category or f"$course$/top/chainrule/{problem_set.title}"
    sets = problem_set.student_sets()
    tables = [_by_exercise(one, close_credit) for one in sets]
    out: list[str] = [f"// {problem_set.title}: written by {problem_set.generator or 'chainrule'}",
                      ""]
    for number in range(1, len(problem_set.exercises) + 1):
        out += [f"$CATEGORY: {top}/Exercise {number}".replace("\n", " "), ""]
        for variant, table in enumerate(tables, 1):
            chosen = table[number]
            text = statement(sets[variant - 1], chosen[0].exercise)
            for item in chosen:
                name = f"Exercise {number}" + (f", variant {variant}" if len(sets) > 1 else "")
                body = f"{text}\n<p><b>{escape(item.question.label)}</b> " \
                       f"{prompt_html(item.question)}</p>"
                out.append(f"::{escape_gift(name + ', ' + item.question.label)}::[html]"
                           f"{escape_gift(body)} {{#")
                for a in item.answers:
                    out.append(f"\t=%{_percent(a.credit)}%{a.value}:{fixed(a.tolerance)}"
                               f"#{escape_gift(escape(a.feedback, quote=False))}")
                out.append(f"\t~#{escape_gift(escape(OTHER, quote=False))}")
                if item.working:  # general feedback: shown once the attempt is finished
                    working = escape("The correct working: " + "; ".join(item.working),
                                     quote=False)
                    out.append(f"\t####{escape_gift(working)}")
                out += ["}", ""]
    return "\n".join(out)
