"""Moodle XML: a category per exercise, each student's variant one question in it (the quiz
draws "a random question" from the category), a Cloze question for an exercise of several
parts, a numerical question for one of a single part.

Each part's answers are :mod:`.answers`' table in its order (Moodle takes the first answer
within tolerance: ``qtype_numerical_question::get_matching_answer``): the correct number at
100 %, each mistake's number at 0 % with its explanation as feedback, the correct number with
a wider tolerance at the close credit, and (numerical questions) ``*`` for anything else.
The correct working is the question's general feedback. Variants are numbered, never named:
a quiz's question names can reach students.

Inside Cloze feedback ``~``, ``}`` and ``#`` are written as HTML entities (Moodle's
multianswer parser ends a feedback at a bare ``~`` or ``}``).
"""

from __future__ import annotations

import base64
from html import escape
from xml.sax.saxutils import escape as xml_escape

from chainrule.exercises.diagram import svg
from chainrule.exercises.kinds import special_sheet
from chainrule.exercises.model import ProblemSet
from chainrule.exercises.platforms.answers import Item, fixed, items
from chainrule.exercises.platforms.text import prompt_html, statement


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _text(tag: str, html: str, indent: str = "    ") -> str:
    return f'{indent}<{tag} format="html"><text>{_cdata(html)}</text></{tag}>'


def _percent(credit: float) -> str:
    return f"{100 * credit:.7g}"


def _cloze_feedback(text: str) -> str:
    return escape(text, quote=False).replace("~", "&#126;").replace("}", "&#125;").replace(
        "#", "&#35;")


def _cloze(item: Item) -> str:
    parts = []
    for a in item.answers:
        mark = "=" if a.credit == 1 else f"%{_percent(a.credit)}%"
        parts.append(f"{mark}{a.value}:{fixed(a.tolerance)}#{_cloze_feedback(a.feedback)}")
    return "{1:NUMERICAL:" + "~".join(parts) + "}"


def _working(chosen: list[Item]) -> str:
    rows = []
    for item in chosen:
        lines = "".join(rf"<li>\({escape(line)}\)</li>" for line in item.working_latex)
        rows.append(f"<p><b>{escape(item.question.label)}</b> "
                    f"{escape(item.answers[0].value)}</p><ul>{lines}</ul>"
                    if lines else f"<p><b>{escape(item.question.label)}</b> "
                                  f"{escape(item.answers[0].value)}</p>")
    return "<p>The correct working:</p>" + "".join(rows)


def quiz(problem_set: ProblemSet, close_credit: float = 0.5, category: str = "") -> str:
    """The Moodle XML of every exercise of every variant (the set's own without a roster)."""
    top = category or f"$course$/top/chainrule/{problem_set.title}"
    sets = problem_set.student_sets()
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<quiz>"]
    tables = [_by_exercise(one, close_credit) for one in sets]
    for number in range(1, len(problem_set.exercises) + 1):
        out += ['  <question type="category">',
                f"    <category><text>{xml_escape(f'{top}/Exercise {number}')}</text></category>",
                "  </question>"]
        for variant, table in enumerate(tables, 1):
            name = f"Exercise {number}" + (f", variant {variant}" if len(sets) > 1 else "")
            out += _question(problem_set, table[number], name, number, variant)
    return "\n".join(out + ["</quiz>", ""])


def _by_exercise(one: ProblemSet, close_credit: float) -> dict[int, list[Item]]:
    table: dict[int, list[Item]] = {}
    for item in items(one, close_credit):
        table.setdefault(item.exercise.number, []).append(item)
    return table


def _question(problem_set: ProblemSet, chosen: list[Item], name: str, number: int,
              variant: int) -> list[str]:
    exercise = chosen[0].exercise
    image, files = "", []
    if special_sheet(exercise.spec) is None:
        file = f"exercise-{number:02d}-{variant}.svg"
        image = (f'<p><img src="@@PLUGINFILE@@/{file}" alt="The network of exercise '
                 f'{number}"></p>')
        data = base64.b64encode(svg(exercise.spec).encode("utf-8")).decode()
        files = [f'      <file name="{file}" path="/" encoding="base64">{data}</file>']
    text = statement(problem_set, exercise, image)
    if len(chosen) == 1:
        item = chosen[0]
        body = text + f"\n<p><b>{escape(item.question.label)}</b> {prompt_html(item.question)}</p>"
        out = ['  <question type="numerical">', f"    <name><text>{xml_escape(name)}</text></name>",
               '    <questiontext format="html">', f"      <text>{_cdata(body)}</text>", *files,
               "    </questiontext>", _text("generalfeedback", _working(chosen)),
               "    <defaultgrade>1</defaultgrade>", "    <penalty>0</penalty>",
               "    <hidden>0</hidden>"]
        for a in item.answers:
            out += [f'    <answer fraction="{_percent(a.credit)}" format="moodle_auto_format">',
                    f"      <text>{a.value}</text>",
                    f"      <tolerance>{fixed(a.tolerance)}</tolerance>",
                    _text("feedback", escape(a.feedback), "      "), "    </answer>"]
        out += ['    <answer fraction="0" format="moodle_auto_format">', "      <text>*</text>",
                "      <tolerance>0</tolerance>",
                _text("feedback", "No known mistake gives this number: check each step.",
                      "      "), "    </answer>",
                "    <units></units>", "    <unitgradingtype>0</unitgradingtype>",
                "    <showunits>3</showunits>", "  </question>"]
        return out
    parts = "\n".join(f"<p><b>{escape(i.question.label)}</b> {prompt_html(i.question)} "
                      f"{_cloze(i)}</p>" for i in chosen)
    return ['  <question type="cloze">', f"    <name><text>{xml_escape(name)}</text></name>",
            '    <questiontext format="html">', f"      <text>{_cdata(text + chr(10) + parts)}</text>",
            *files, "    </questiontext>", _text("generalfeedback", _working(chosen)),
            "    <penalty>0</penalty>", "    <hidden>0</hidden>", "  </question>"]
