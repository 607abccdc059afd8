"""Judging: the share of chainrule's verdicts a careful teacher agrees with, per category.

    .venv/bin/python bench/judging.py              # the table
    .venv/bin/python bench/judging.py --json       # machine output, one entry per case too
    .venv/bin/python bench/judging.py --show pair  # each case of a category, and why not

The cases come from tests/judging_cases.py (seeded: ``--seed``), their answers from the
independent student model (tests/student_model.py). Each runs through
``chainrule.verify.answers.judge_answers`` and is compared with the teacher's verdict through
the public report only (``report.to_dict()``), so a later chainrule is measured the same way.

A verdict **agrees** with the teacher when all three hold:

1. *credit*: the answers whose row ``status`` is credited (``correct`` today; ``carried`` and
   ``close``, which a later version may add, count as credited too) are exactly the answers
   the teacher credits;
2. *mistakes*: the mistakes named (the report's ``diagnoses`` list when it has one, else
   ``{diagnosis.id}``, or none when ``diagnosis`` is null) are the teacher's set, or, on a sheet
   the teacher calls ambiguous, one of the equally right alternatives;
3. *first wrong*: when the teacher names the first wrong answer (an error carried forward),
   the report's ``first_wrong`` is it (the element, ``forward.z1[0]``, or its quantity,
   ``forward.z1``). Today's report has no such key, so such a case cannot agree yet.

Answers chainrule refuses (a SpecError, e.g. for a blank or a decimal comma) are a
disagreement for that case, not a crash.
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
from chainrule.verify.answers import judge_answers
from tests.judging_cases import CATEGORIES, Case, generate_cases

CREDITED = ("correct", "carried", "close")  # row statuses that give credit


def named_mistakes(report: dict[str, Any]) -> frozenset[str]:
    if "diagnoses" in report:
        return frozenset(report["diagnoses"])
    diagnosis = report.get("diagnosis")
    return frozenset() if diagnosis is None else frozenset({diagnosis["id"]})


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
        if given not in (verdict.first_wrong, verdict.first_wrong.split("[")[0]):
            why.append(f"first_wrong {given!r}, teacher {verdict.first_wrong}")
    return not why, why


def judge_case(case: Case) -> tuple[bool, list[str], dict[str, Any] | None]:
    try:
        report = judge_answers(case.spec, case.answers).to_dict()
    except ChainruleError as error:  # refused answers: a disagreement, not a crash
        return False, [f"refused: {str(error).splitlines()[0]}"], None
    agrees, why = agreement(case, report)
    return agrees, why, report


def measure(seed: int = 0) -> dict[str, Any]:
    """Every case judged; per-category counts and shares, and each case's outcome."""
    outcomes = []
    for case in generate_cases(seed):
        agrees, why, report = judge_case(case)
        outcomes.append({"category": case.category, "network": case.network,
                         "what": case.what, "agrees": agrees, "why": why,
                         "teacher": case.verdict.to_dict(),
                         "diagnosis": None if report is None else report["diagnosis"] and
                         report["diagnosis"]["id"]})
    categories = {}
    for category in CATEGORIES:
        mine = [o for o in outcomes if o["category"] == category]
        agreed = sum(o["agrees"] for o in mine)
        categories[category] = {"cases": len(mine), "agree": agreed,
                                "share": agreed / len(mine) if mine else None}
    agreed = sum(o["agrees"] for o in outcomes)
    return {"schema": "chainrule.bench.judging/1", "seed": seed, "categories": categories,
            "total": {"cases": len(outcomes), "agree": agreed,
                      "share": agreed / len(outcomes) if outcomes else None},
            "cases": outcomes}


def table(result: dict[str, Any]) -> str:
    lines = [f"{'category':<22} {'cases':>5} {'agree':>5} {'share':>6}", "-" * 41]
    rows = [*result["categories"].items(), ("total", result["total"])]
    for name, row in rows:
        if name == "total":
            lines.append("-" * 41)
        share = "—" if row["share"] is None else f"{row['share']:.0%}"
        lines.append(f"{name:<22} {row['cases']:>5} {row['agree']:>5} {share:>6}")
    lines.append(f"(seed {result['seed']}; agree: the careful teacher's credit, named "
                 "mistakes and first wrong answer all match)")
    return "\n".join(lines)


def _few(items: list[str], most: int = 3) -> str:
    return ", ".join(items[:most]) + (f" (+{len(items) - most})" if len(items) > most else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="the cases' seed (default 0)")
    parser.add_argument("--json", action="store_true", help="machine output")
    parser.add_argument("--show", choices=CATEGORIES, metavar="CATEGORY",
                        help="list each case of one category with the disagreement")
    args = parser.parse_args(argv)
    result = measure(args.seed)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    print(table(result))
    if args.show:
        print()
        for o in result["cases"]:
            if o["category"] == args.show:
                mark = "agree" if o["agrees"] else "DISAGREE: " + " | ".join(o["why"])
                print(f"{o['network']:<20} {o['what']}\n    {mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
