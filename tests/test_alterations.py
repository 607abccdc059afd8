"""The catalogue's mistakes as alterations of the parts of kinds of node of the step's graph
(chainrule.verify.alterations): every part is used, a typo fails, pairs combine or refuse,
and a mistake altered at a kind acts on every rule of that kind."""

from __future__ import annotations

import json

import numpy as np
import pytest

import chainrule as cr
from chainrule.verify.alterations import CORRECT, RULE_KINDS, Alteration, Alterations
from chainrule.verify.mistakes import CATALOGUE, MISTAKES
from chainrule.verify.reference import reference_step, step_rules
from tests.test_mistakes import FIXED, SITE_SPECS

SPECS = [*FIXED.values(), *SITE_SPECS]


def test_every_part_of_every_kind_is_altered_by_some_mistake():
    """No part is dead: each is a choice some catalogued mistake makes otherwise."""
    altered = {(a.kind, a.part) for m in CATALOGUE for a in m.alterations.items}
    parts = {(kind, part) for kind, k in RULE_KINDS.items() for part in k.parts}
    assert altered == parts


@pytest.mark.parametrize("kind, part", [(k, p) for k, kind in RULE_KINDS.items()
                                        for p in kind.parts])
def test_each_part_altered_alone_changes_only_its_kinds_rules(kind, part):
    """Every value a mistake gives the part, given alone, changes some rule of its kind on
    some network the mistake can be made on, and no rule of another kind (unless that kind
    reads it: Kind.reads)."""
    making = {a.value: [m for m in CATALOGUE if a in m.alterations.items]
              for m in CATALOGUE for a in m.alterations.items if (a.kind, a.part) == (kind, part)}
    for value, mistakes in making.items():
        alone = Alterations.of({f"{kind}.{part}": value})
        acted = set()
        # on the networks where a mistake making it can be made (W as Wᵀ needs it square)
        for spec in [s for s in SPECS if any(m.applies(s) for m in mistakes)]:
            right, wrong = step_rules(spec), step_rules(spec, alone)
            step = reference_step(spec)
            for key, rule in wrong.items():
                mine, theirs = rule(step), right[key](step)
                if np.shape(mine) != np.shape(theirs) or not np.allclose(
                        mine, theirs, rtol=1e-9, atol=1e-12, equal_nan=True):
                    acted.add(rule.kind)
        assert kind in acted, (kind, part, value)
        assert acted <= set(alone.sites), (kind, part, value, acted)


def test_a_typo_or_the_correct_value_fails_at_once():
    with pytest.raises(ValueError, match="backprop.weight: no such kind of node or part"):
        Alterations.of({"backprop.weight": "as_is"})
    with pytest.raises(ValueError, match="no such kind"):
        Alteration("convolution", "weights", "as_is")
    with pytest.raises(ValueError, match="is the correct value"):
        Alterations.of({"update.sign": -1.0})


def test_parts_default_to_the_correct_step():
    assert CORRECT.parts("update") == {"sign": -1.0, "rate_power": 1, "biases": True}
    ascent = MISTAKES["gradient_ascent"].alterations
    assert ascent.parts("update") == {"sign": 1.0, "rate_power": 1, "biases": True}
    assert ascent.parts("backprop") == CORRECT.parts("backprop")
    assert not CORRECT and ascent


def test_two_mistakes_combine_unless_they_give_one_part_two_values():
    ascent, twice = MISTAKES["gradient_ascent"], MISTAKES["learning_rate_twice"]
    both = ascent.alterations.combined(twice.alterations)
    assert both.parts("update") == {"sign": 1.0, "rate_power": 2, "biases": True}
    assert both.sites == ("update",)
    # η² and no η both set the power of η
    assert twice.alterations.combined(MISTAKES["learning_rate_missing"].alterations) is None
    # a derivative taken at z everywhere and left out at the output: the output's two ways
    assert MISTAKES["derivative_of_z"].alterations.combined(
        MISTAKES["missing_output_derivative"].alterations) is None
    # left out at the output and in the hidden layers is left out everywhere
    assert MISTAKES["missing_output_derivative"].alterations.combined(
        MISTAKES["missing_hidden_derivative"].alterations) == \
        MISTAKES["missing_activation_derivative"].alterations
    seed = cr.load_spec("seed")
    made = reference_step(seed, both)
    right = reference_step(seed)
    eta = seed.learning_rate
    np.testing.assert_allclose(made["updated.W1"], right["parameters.W1"]
                               + eta ** 2 * right["gradients.W1"], rtol=1e-14)


def test_sites_are_the_altered_kinds_and_those_reading_them():
    assert MISTAKES["log_base_ten"].sites == ("loss", "loss_after")
    assert MISTAKES["loss_derivative_sign"].sites == ("loss_gradient", "output_delta")
    assert MISTAKES["transposed_weights"].alterations.as_dict() == {"backprop.weights": "as_is"}


def test_a_reports_diagnosis_names_where_on_the_graph_the_mistake_acts(capsys):
    from chainrule.verify.answers import judge_answers

    seed = cr.load_spec("seed")
    step = reference_step(seed, MISTAKES["gradient_ascent"].alterations)
    answers = {k: np.round(v, 8).tolist() for k, v in step.items()
               if k.startswith(("gradients.", "updated."))}
    report = json.loads(json.dumps(judge_answers(seed, answers).to_dict()))
    assert report["diagnosis"]["id"] == "gradient_ascent"
    assert report["diagnosis"]["sites"] == ["update"]
    assert report["diagnosis"]["alters"] == {"update.sign": 1.0}
