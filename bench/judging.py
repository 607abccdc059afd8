"""Judging: the share of chainrule's verdicts a careful teacher agrees with, per category.

    .venv/bin/python bench/judging.py              # the table
    .venv/bin/python bench/judging.py --json       # machine output, one entry per case too
    .venv/bin/python bench/judging.py --show pair  # each case of a category, and why not
    .venv/bin/python bench/judging.py --no-grade   # verify --answers only

The cases come from tests/judging_cases.py (seeded: ``--seed``), their answers from the
independent student model (tests/student_model.py). Each runs through
``chainrule.verify.answers.judge_answers`` and is compared with the teacher's verdict through
the public report only (``report.to_dict()``), so a later chainrule is measured the same way.

A verdict **agrees** with the teacher when all three hold:

1. *credit*: the answers whose row ``status`` is credited (``correct``, ``rounded``,
   ``carried`` and ``close``) are exactly the answers the teacher credits;
2. *mistakes*: the mistakes named (the report's ``diagnoses`` list when it has one, else
   ``{diagnosis.id}``, or none when ``diagnosis`` is null) are the teacher's set, or, on a sheet
   the teacher calls ambiguous, one of the equally right alternatives;
3. *first wrong*: when the teacher names the first wrong answer (an error carried forward),
   the report's ``first_wrong`` is it (the element, ``forward.z1[0]``, or its quantity,
   ``forward.z1``). Today's report has no such key, so such a case cannot agree yet.

Answers chainrule refuses (a SpecError, e.g. for a blank or a decimal comma) are a
disagreement for that case, not a crash. Beside agreement, ``credit`` is the finer share of
*answers* credited (or not) as the teacher does, over all the category's answers (a refused
sheet gets none right): rounding drift may cost a case its agreement by one answer of thirty.

The worksheet grader (``chainrule exercise grade``, chainrule.exercises.grade) is measured
beside it on every sheet it can express: all answers written with one number of decimals (the
key's precision; sheets written with every digit are left out). Its key is a one-exercise
problem set asking the sheet's quantities with chainrule's own answers; its statuses
``correct``, ``carried`` and ``close`` credit; its diagnoses are the named mistakes, and its
``first_wrong`` the exercise's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chainrule.errors import ChainruleError
from chainrule.exercises.grade import Grader
from chainrule.exercises.model import Exercise, ProblemSet, Question
from chainrule.verify.answers import judge_answers
from chainrule.verify.mistakes import correct_step
from tests.judging_cases import CATEGORIES, Case, generate_cases, network_data

CREDITED = ("correct", "rounded", "carried", "close")  # row statuses that give credit


def named_mistakes(report: dict[str, Any]) -> frozenset[str]:
    """The catalogue ids named; a mistake made in one layer only as ``id@layerL``."""
    diagnosis = report.get("diagnosis") or {}
    ids = report["diagnoses"] if "diagnoses" in report else \
        ([diagnosis["id"]] if diagnosis else [])
    layer = report.get("layer") or diagnosis.get("layer")
    return frozenset(f"{m}@layer{layer}" if layer else m for m in ids)


def agreement(case: Case, report: dict[str, Any]) -> tuple[bool, list[str]]:
    """(whether the teacher agrees with the report, what they disagree about)."""
    verdict, why = case.verdict, []
    rows = {row["quantity"]: row for row in report["rows"]}
    credited = frozenset(q for q, row in rows.items() if row["status"] in CREDITED)
    if credited != verdict.credited:
        lost = sorted(verdict.credited - credited)
        extra = sorted(credited - verdict.credited)
        why.append("credit: " + "; ".join(
            part for part in (f"not credited {_few(lost)}" if lost else "",
                              f"credited {_few(extra)}" if extra else "") if part))
    named = named_mistakes(report)
    if named != verdict.mistakes and named not in verdict.alternatives:
        others = "".join(f" or {sorted(a)}" for a in verdict.alternatives)
        why.append(f"named {sorted(named) or 'no mistake'}, teacher "
                   f"{sorted(verdict.mistakes) or 'none'}{others}")
    if verdict.first_wrong is not None:
        given = report.get("first_wrong")
        if isinstance(given, dict):  # {"quantity": ..., "given": ..., "expected": ...}
            given = given.get("quantity")
        if given not in (verdict.first_wrong, verdict.first_wrong.split("[")[0]):
            why.append(f"first_wrong {given!r}, teacher {verdict.first_wrong}")
    return not why, why


def answers_credited_alike(case: Case, report: dict[str, Any] | None) -> int:
    """How many answers the report credits (or not) as the teacher does; none if refused.
    A finer figure than agreement: rounding drift may cost a case by one answer of thirty."""
    if report is None:
        return 0
    status = {row["quantity"]: row["status"] in CREDITED for row in report["rows"]}
    return sum(status.get(key) == (key in case.verdict.credited) for key in case.answers)


def judge_case(case: Case) -> tuple[bool, list[str], dict[str, Any] | None]:
    try:
        report = judge_answers(case.spec, case.answers).to_dict()
    except ChainruleError as error:  # refused answers: a disagreement, not a crash
        return False, [f"refused: {str(error).splitlines()[0]}"], None
    agrees, why = agreement(case, report)
    return agrees, why, report


# --- the worksheet grader (chainrule exercise grade) ------------------------------------------


def written_decimals(answers: dict[str, str]) -> int | None:
    """The one number of decimals every written answer has (blanks aside), or None: the
    grader asks every question at one precision, so only such sheets can be graded."""
    counts = set()
    for text in answers.values():
        text = text.strip().replace(",", ".")
        if text:
            counts.add(len(text.partition(".")[2]) if "e" not in text.lower() else -1)
    return counts.pop() if len(counts) == 1 and -1 not in counts else None


def _question_id(key: str) -> str:
    """``gradients.W1[0][1]`` → ``1.gradients.W1[0,1]`` (exercise 1's question)."""
    name, _, rest = key.partition("[")
    return "1." + name + (f"[{rest.rstrip(']').replace('][', ',')}]" if rest else "")


def grade_case(case: Case) -> tuple[bool, list[str], dict[str, Any] | None] | None:
    """The case graded as a one-exercise worksheet, its key asking the case's quantities at
    the sheet's precision; None when a sheet cannot be a worksheet (mixed precision)."""
    decimals = written_decimals(case.answers)
    if decimals is None or decimals > 12:
        return None
    truth = correct_step(case.spec)
    questions = []
    for i, key in enumerate(case.asked):
        name, _, rest = key.partition("[")
        index = tuple(int(j) for j in rest.rstrip("]").split("][")) if rest else ()
        qid = _question_id(key)
        questions.append(Question(id=qid, label=f"q{i}", quantity=qid[2:], symbol=key,
                                  latex=key, prompt=key, prompt_latex=key,
                                  answer=float(truth[name][index])))
    problem_set = ProblemSet(title="bench", level="bench", precision=decimals, seed=0,
                             options={}, exercises=(Exercise(1, network_data()[case.network],
                                                             tuple(questions)),))
    try:
        # a worksheet's answers are to its questions: a sheet in another book's numbering
        # (one-based names) answers the same questions in the same order
        grade = Grader(problem_set).grade({_question_id(k): v for k, v in
                                           zip(case.asked, case.answers.values())})
    except ChainruleError as error:
        return False, [f"refused: {str(error).splitlines()[0]}"], None
    exercise = grade.exercises[0]
    by_id = {_question_id(key): written for key, written in zip(case.asked, case.answers)}
    first = exercise.first_wrong
    report = {"rows": [{"quantity": by_id[j.question.id], "status": j.status}
                       for j in exercise.judgements],
              "diagnoses": list(exercise.diagnoses), "layer": exercise.layer,
              "first_wrong": None if first is None else {"quantity": by_id[first["id"]]}}
    agrees, why = agreement(case, report)
    return agrees, why, report


# --- the measurement ---------------------------------------------------------------------------


def measure(seed: int = 0, grader: bool = True) -> dict[str, Any]:
    """Every case judged (and graded); per-category counts and shares, each case's outcome."""
    outcomes = []
    for case in generate_cases(seed):
        agrees, why, report = judge_case(case)
        outcome = {"category": case.category, "network": case.network, "what": case.what,
                   "teacher": case.verdict.to_dict(),
                   "answers": len(case.answers),
                   "verify": {"agrees": agrees, "why": why,
                              "named": None if report is None else
                              sorted(named_mistakes(report)),
                              "credited_alike": answers_credited_alike(case, report)}}
        graded = grade_case(case) if grader else None
        if graded is not None:
            outcome["grade"] = {"agrees": graded[0], "why": graded[1],
                                "named": None if graded[2] is None else
                                sorted(named_mistakes(graded[2])),
                                "credited_alike": answers_credited_alike(case, graded[2])}
        outcomes.append(outcome)
    judges = ("verify", "grade") if grader else ("verify",)
    categories = {category: _counts([o for o in outcomes if o["category"] == category], judges)
                  for category in CATEGORIES}
    return {"schema": "chainrule.bench.judging/1", "seed": seed, "judges": list(judges),
            "categories": categories, "total": _counts(outcomes, judges), "cases": outcomes}


def _counts(outcomes: list[dict], judges: tuple[str, ...]) -> dict[str, Any]:
    counts = {}
    for judge in judges:
        mine = [o for o in outcomes if judge in o]
        agreed = sum(o[judge]["agrees"] for o in mine)
        answers = sum(o["answers"] for o in mine)
        alike = sum(o[judge]["credited_alike"] for o in mine)
        counts[judge] = {"cases": len(mine), "agree": agreed,
                         "share": agreed / len(mine) if mine else None,
                         "answers": answers, "credited_alike": alike,
                         "credit_share": alike / answers if answers else None}
    return counts


def table(result: dict[str, Any]) -> str:
    judges = result["judges"]
    titles = {"verify": "verify --answers", "grade": "exercise grade"}
    head = f"{'':<22}" + "".join(f" {titles[j]:^29}" for j in judges)
    sub = f"{'category':<22}" + f" {'cases':>6} {'agree':>6} {'share':>7} {'credit':>7}" \
        * len(judges)
    width = len(sub)
    lines = [head, sub, "-" * width]
    rows = [*result["categories"].items(), ("total", result["total"])]
    for name, row in rows:
        if name == "total":
            lines.append("-" * width)
        cells = ""
        for judge in judges:
            r = row[judge]
            share = "—" if r["share"] is None else f"{r['share']:.0%}"
            credit = "—" if r["credit_share"] is None else f"{r['credit_share']:.0%}"
            cells += f" {r['cases']:>6} {r['agree']:>6} {share:>7} {credit:>7}"
        lines.append(f"{name:<22}{cells}")
    lines.append(f"(seed {result['seed']}; agree: cases where the teacher's credit, named "
                 "mistakes and first wrong answer all match;\n credit: answers credited or "
                 "not as the teacher does (a refused sheet: none); exercise grade: only\n "
                 "sheets written at one precision)")
    return "\n".join(lines)


def _few(items: list[str], most: int = 3) -> str:
    return ", ".join(items[:most]) + (f" (+{len(items) - most})" if len(items) > most else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="the cases' seed (default 0)")
    parser.add_argument("--json", action="store_true", help="machine output")
    parser.add_argument("--show", choices=CATEGORIES, metavar="CATEGORY",
                        help="list each case of one category with the disagreement")
    parser.add_argument("--no-grade", action="store_true",
                        help="judge with verify only, not the worksheet grader too")
    args = parser.parse_args(argv)
    result = measure(args.seed, grader=not args.no_grade)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    print(table(result))
    if args.show:
        print()
        for o in result["cases"]:
            if o["category"] != args.show:
                continue
            print(f"{o['network']:<20} {o['what']}")
            for judge in result["judges"]:
                if judge in o:
                    mark = "agree" if o[judge]["agrees"] else \
                        "DISAGREE: " + " | ".join(o[judge]["why"])
                    print(f"    {judge:<6} {mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
