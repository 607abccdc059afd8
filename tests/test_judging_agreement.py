"""The instrument that measures judging (issue 14): the student model, the cases, the floor.

The student model (tests/student_model.py) must be right before its answers can measure
anything: with no knobs it is chainrule's correct step, with one catalogue mistake it is
chainrule's mistaken step (two independent computations agreeing), and its knobs do what they
say. The last test is a floor: today's agreement with a careful teacher, per category, which a
regression must not lower. Raise the floor as judging improves (bench/judging.py prints the
figures).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from bench.judging import CREDITED, agreement, answers_credited_alike, measure
from chainrule.verify.mistakes import MISTAKES, correct_step, mistaken_step
from tests import student_model as sm
from tests import student_sheet
from tests.judging_cases import CATEGORIES, Case, generate_cases, networks
from tests.student_model import Student

NETWORKS = networks()


def _same(model: dict, chainrule_step: dict) -> list[str]:
    """The quantities where the model and chainrule differ by more than 1e-12."""
    return [k for k, v in model.items() if not k.startswith("working.")
            and not np.allclose(v, chainrule_step[k], rtol=1e-12, atol=1e-12)]


@pytest.mark.parametrize("name", list(NETWORKS))
def test_model_without_knobs_is_the_correct_step(name):
    spec = NETWORKS[name]
    model = sm.work(spec)
    assert {k for k in model if not k.startswith("working.")} <= set(correct_step(spec))
    assert not _same(model, correct_step(spec))


MADE = [(name, m) for name in NETWORKS for m in sm.CATALOGUED
        if MISTAKES[m].applies(NETWORKS[name])]


@pytest.mark.parametrize("name, mistake", MADE)
def test_each_catalogue_mistake_is_chainrules_mistaken_step(name, mistake):
    spec = NETWORKS[name]
    assert not _same(sm.work(spec, Student(mistakes=(mistake,))), mistaken_step(spec, mistake))


CONFINED = [(name, m, layer) for name, m in MADE
            for layer in range(1, len(NETWORKS[name].layers))]


@pytest.mark.parametrize("name, mistake, layer", CONFINED)
def test_a_mistake_made_in_one_layer_is_chainrules_confined_step(name, mistake, layer):
    """The model's mistake made in one layer only (its delta, gradients and updates) is
    chainrule's mistake confined to that layer's rules (Mistake.confined)."""
    from chainrule.verify.reference import reference_step

    spec = NETWORKS[name]
    confined = MISTAKES[mistake].confined(layer)
    assert not _same(sm.work(spec, Student(mistakes=(mistake,), layer=layer)),
                     reference_step(spec, confined.alterations))


def test_every_modelled_catalogue_mistake_is_checked_on_some_network():
    assert set(sm.CATALOGUED) <= set(MISTAKES)
    assert {m for _, m in MADE} == set(sm.CATALOGUED)
    assert not set(sm.UNCATALOGUED) & set(MISTAKES)  # else it is no longer "not yet"


@pytest.mark.parametrize("name", list(NETWORKS))
def test_a_mistake_changes_the_model_exactly_where_chainrule_says_it_applies(name):
    spec, correct = NETWORKS[name], sm.work(NETWORKS[name])
    for mistake in sm.CATALOGUED:
        try:
            values = sm.work(spec, Student(mistakes=(mistake,)))
        except ValueError:  # W instead of Wᵀ on a non-square matrix does not run
            changed = False
        else:
            changed = bool(_same(values, correct))
        if changed and not MISTAKES[mistake].applies(spec):
            # not made here as its own: it is another mistake's step exactly (left out at the
            # hidden layers of a network whose output has no slope is left out everywhere)
            assert any(not _same(values, sm.work(spec, Student(mistakes=(other,))))
                       for other in sm.CATALOGUED if other != mistake
                       and MISTAKES[other].applies(spec)), mistake
            continue
        assert changed == MISTAKES[mistake].applies(spec), mistake


def test_the_model_does_not_use_chainrule():
    source = Path(sm.__file__).read_text()
    assert "chainrule" not in "".join(line for line in source.splitlines()
                                      if line.startswith(("import", "from")))


# --- the knobs -------------------------------------------------------------------------------


@pytest.mark.parametrize("truncate", [False, True])
@pytest.mark.parametrize("decimals", [3, 4])
def test_rounding_rounds_every_number_as_it_is_written(decimals, truncate):
    spec = NETWORKS["seed"]
    values = sm.work(spec, Student(round_to=decimals, truncate=truncate))
    unit = 10.0 ** -decimals
    for key, value in values.items():  # every intermediate a whole number of units
        np.testing.assert_allclose(np.asarray(value) / unit, np.round(np.asarray(value) / unit),
                                   atol=1e-6, err_msg=key)
    keys = student_sheet.sheet_keys(values, "full")
    sheet = student_sheet.answer_sheet(values, keys, decimals, truncate)
    assert all(len(text.partition(".")[2]) == decimals for text in sheet.values())
    # worked from the rounded numbers: a¹ is σ of the rounded z¹, then rounded itself
    z = values["forward.z1"]
    expected = sm.rounded(1 / (1 + np.exp(-z)), decimals, truncate)
    np.testing.assert_array_equal(values["forward.a1"], expected)
    exact = correct_step(spec)
    if truncate:  # chopped: never larger in magnitude than the exact value's first number
        assert abs(values["forward.a1"][0]) <= abs(exact["forward.a1"][0])
    assert any(not np.allclose(values[k], exact[k], atol=0.5 * unit) for k in values
               if not k.startswith("working."))  # the drift is real


def test_rounding_is_half_away_from_zero_and_chopping_is_toward_zero():
    assert sm.rounded(np.array([0.285, -0.285, 0.2849]), 2).tolist() == [0.29, -0.29, 0.28]
    assert sm.rounded(np.array([0.289, -0.289]), 2, truncate=True).tolist() == [0.28, -0.28]
    assert student_sheet.written(-0.00004, 4) == "0.0000" and student_sheet.written(-0.0004, 4) == "-0.0004"


def test_a_slip_is_carried_forward():
    spec = NETWORKS["seed"]
    correct = sm.work(spec)
    slip = student_sheet.leading_digit_slip(1)
    values = sm.work(spec, Student(slip=("forward.z1", (0,), slip)))
    z1 = values["forward.z1"]
    assert z1[0] == pytest.approx(slip(correct["forward.z1"][0])) == pytest.approx(0.33)
    assert z1[1] == correct["forward.z1"][1]
    a1 = 1 / (1 + np.exp(-z1))  # everything after it worked from the slipped value
    np.testing.assert_allclose(values["forward.a1"], a1, rtol=1e-15)
    W2, b2 = np.array(spec.weights[1]), np.array(spec.biases[1])
    np.testing.assert_allclose(values["forward.z2"], a1 @ W2 + b2, rtol=1e-15)
    np.testing.assert_allclose(values["gradients.W2"], np.outer(a1, values["backward.delta2"]),
                               rtol=1e-15)
    assert not np.allclose(values["updated.W1"], correct["updated.W1"])


def test_a_slip_in_a_delta_reaches_the_gradients_and_updates_from_it():
    spec = NETWORKS["softmax_ce_232"]
    values = sm.work(spec, Student(slip=("backward.delta2", (1,), 0.5)))
    assert values["backward.delta2"][1] == 0.5
    np.testing.assert_allclose(values["gradients.W2"],
                               np.outer(values["forward.a1"], values["backward.delta2"]))
    np.testing.assert_allclose(values["updated.W2"],
                               np.array(spec.weights[1]) - 0.5 * values["gradients.W2"])


def test_conventions_change_only_what_the_book_writes_differently():
    spec = NETWORKS["batched_mse_221"]
    correct = sm.work(spec)
    han = sm.work(spec, Student(conventions=("err_sign",)))
    per = sm.work(spec, Student(conventions=("per_example_deltas",)))
    for key in correct:
        if key.startswith("backward.delta"):
            np.testing.assert_allclose(han[key], -correct[key])
            np.testing.assert_allclose(per[key], 3 * correct[key])  # a batch of 3
        elif key.startswith(("gradients", "updated", "loss_after")):
            np.testing.assert_allclose(han[key], correct[key], rtol=1e-12)
            np.testing.assert_allclose(per[key], correct[key], rtol=1e-12)
    keys = student_sheet.sheet_keys(correct, "updates")
    assert "updated.W1[2][2]" in student_sheet.answer_sheet(correct, keys, 4, one_based=True)


def test_sheet_noise():
    rng = np.random.default_rng(0)
    sheet = {"gradients.b1[0]": "-0.0011", "updated.b1[0]": "0.1001"}
    assert student_sheet.blank(sheet, "updated.b1[0]")["updated.b1[0]"] == ""
    assert student_sheet.decimal_commas(sheet)["updated.b1[0]"] == "0,1001"
    assert student_sheet.typographic_minus(sheet)["gradients.b1[0]"] == "−0.0011"
    typo = student_sheet.digit_typo(sheet, "updated.b1[0]", rng)["updated.b1[0]"]
    assert typo != "0.1001" and len(typo) == 6 and abs(float(typo) - 0.1001) > 0.00015


# --- the cases -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return generate_cases(0)


def test_the_generator_is_deterministic(cases):
    assert [c.key() for c in generate_cases(0)] == [c.key() for c in cases]
    assert [c.key() for c in generate_cases(1)] != [c.key() for c in cases]


def test_every_category_on_several_networks(cases):
    assert len({c.network for c in cases}) >= 7
    for category in CATEGORIES:
        mine = [c for c in cases if c.category == category]
        assert len({c.network for c in mine}) >= 7, category
    assert {m for c in cases if c.category == "single_mistake" for m in c.verdict.mistakes} \
        == set(sm.CATALOGUED)
    seed_pair = {"gradient_ascent", "bias_summed_over_units"}
    assert any(c.network == "seed" and c.verdict.mistakes == seed_pair for c in cases)


def test_answers_are_text_and_verdicts_name_answered_keys(cases):
    for case in cases:
        assert all(isinstance(v, str) for v in case.answers.values())
        assert case.verdict.credited <= set(case.answers)
        if case.verdict.first_wrong is not None:
            assert case.verdict.first_wrong in case.answers
            assert case.verdict.credited == set(case.answers) - {case.verdict.first_wrong}
        if case.category in ("correct", "rounding", "truncation", "convention"):
            assert case.verdict.credited == set(case.answers) and not case.verdict.mistakes
        if case.category == "pair":
            assert len(case.verdict.mistakes) == 2


def _perfect_report(case: Case) -> dict:
    """What a judge agreeing with the teacher in every respect would report."""
    verdict = case.verdict
    mistakes = sorted(verdict.mistakes)
    return {"rows": [{"quantity": k, "status": "carried" if verdict.first_wrong and
                      k in verdict.credited else "correct" if k in verdict.credited
                      else "wrong"} for k in case.answers],
            "diagnosis": {"id": mistakes[0]} if mistakes else None, "diagnoses": mistakes,
            "first_wrong": verdict.first_wrong}


def test_agreement_can_be_reached_and_can_fail(cases):
    for case in cases:  # a perfect judge agrees everywhere: 100 % is reachable
        assert agreement(case, _perfect_report(case)) == (True, [])
        assert answers_credited_alike(case, _perfect_report(case)) == len(case.answers)
    assert "carried" in CREDITED and "close" in CREDITED
    for case in cases[:40]:  # and each of the three conditions can fail on its own
        report = _perfect_report(case)
        report["rows"][0]["status"] = "wrong" if report["rows"][0]["status"] != "wrong" \
            else "correct"
        assert not agreement(case, report)[0]
        report = {**_perfect_report(case), "diagnoses": ["no_such_mistake"]}
        assert not agreement(case, report)[0]
    carried = next(c for c in cases if c.verdict.first_wrong)
    assert not agreement(carried, {**_perfect_report(carried), "first_wrong": None})[0]
    assert agreement(carried, {**_perfect_report(carried),
                               "first_wrong": carried.verdict.first_wrong.split("[")[0]})[0]


# --- the floor -------------------------------------------------------------------------------

# (agreeing, cases) per judge and category, as bench/judging.py measures them (seed 0) after
# verify's marking learnt error carried forward, rounding, pairs and conventions (issue 14),
# the worksheet grader came to judge with it, and the catalogue grew by seven mistakes (the
# cases drawn changed with it: 355 sheets).
# A FLOOR, not a goal: raise it whenever the judging improves; a change that lowers a share
# is a regression of judging (or a change of the cases, which must then be argued).
FLOOR = {  # seed 0, with the teacher marking error carried forward (tests/judging_cases.py)
    "verify": {"correct": (20, 20), "rounding": (20, 20), "truncation": (19, 20),
               "carried_forward": (20, 20), "single_mistake": (140, 145),
               "rounded_mistake": (15, 20), "uncatalogued_mistake": (19, 19), "pair": (26, 30),
               "confined_mistake": (19, 20), "convention": (22, 22), "noise": (39, 39)},
    "grade": {"correct": (14, 14), "rounding": (20, 20), "truncation": (19, 20),
              "carried_forward": (20, 20), "single_mistake": (140, 145),
              "rounded_mistake": (15, 20), "uncatalogued_mistake": (19, 19), "pair": (26, 30),
              "confined_mistake": (19, 20), "convention": (22, 22), "noise": (39, 39)},
}


def test_agreement_per_category_is_at_least_the_floor():
    result = measure(0)
    low = []
    for judge, floors in FLOOR.items():
        for category, (agree, total) in floors.items():
            got = result["categories"][category][judge]
            if got["agree"] / got["cases"] < agree / total - 1e-12:
                low.append(f"{judge} {category}: {got['agree']}/{got['cases']} "
                           f"< floor {agree}/{total}")
    assert not low, "; ".join(low)
    assert math.isclose(sum(c["verify"]["cases"] for c in result["categories"].values()),
                        result["total"]["verify"]["cases"])
