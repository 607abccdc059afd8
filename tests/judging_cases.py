"""Cases for measuring chainrule's judging: a student's answers and a careful teacher's verdict.

:func:`generate_cases` (seeded, deterministic) works small networks with the independent
student model (tests/student_model.py) and writes answer sheets as ``judge_answers`` reads them:
one key per element (``"gradients.W1[0][1]"``), values as text so the written precision counts.
Which sections a sheet asks for varies (a full sheet, deltas to updates, gradients and updates,
updates and loss_after). Each case carries the verdict a careful teacher gives, as data
(:class:`Verdict`): the answers credited, the first wrong answer when an error was carried
forward, the catalogue mistakes to name, and whether the sheet leaves the mistake ambiguous.

How a careful teacher marks each category:

* ``correct``: exact working, written with 4–6 decimals or every digit. Everything credited,
  no mistake named.
* ``rounding``: a correct method with every intermediate rounded to 3 or 4 decimals as it is
  written (calculator working), answers written with those decimals. Everything credited
  (the method is right, the drift is the calculator's), no mistake named.
* ``truncation``: the same with every number chopped instead of rounded. Everything credited,
  no mistake named.
* ``carried_forward``: one arithmetic slip at one early element (z¹ⱼ, a¹ⱼ or δᴸⱼ; its leading
  digit off by one or two) and everything after it worked correctly from the slipped value.
  Only the slipped answer loses credit; ``first_wrong`` is it; no conceptual mistake named.
* ``single_mistake``: one catalogue mistake, exact working. Credited: the answers whose numbers
  are the correct ones at the precision written. Named: that mistake. When another catalogue
  mistake gives the very same sheet (the sheet cannot tell them apart, e.g. updates only:
  gradient_ascent = loss_derivative_sign), the case is ``ambiguous`` and naming any of them
  agrees.
* ``rounded_mistake``: one catalogue mistake made by a student who rounds every number to 3
  or 4 decimals as it is written. Credited: the answers a correct student rounding the same
  way writes. Named: that mistake (ambiguous when another mistake, rounded alike, gives the
  same sheet).
* ``uncatalogued_mistake``: one mistake the catalogue does not have
  (student_model.UNCATALOGUED). Credited as above; named: nothing, "no known mistake" is the
  right answer (a catalogue id would mislead the student).
* ``pair``: two catalogue mistakes at once (one in the backward pass, one in the update, as in
  the seed notebook's gradient_ascent + bias_summed_over_units). Credited as above; named: both.
  A sheet on which one of the two leaves no trace (one alone gives the same numbers) is not
  generated; one that other mistakes reproduce (a single, or another pair: on updates only,
  loss_derivative_sign + X = gradient_ascent + X) is ambiguous, and naming those agrees.
* ``confined_mistake``: one catalogue mistake made in one layer only (its delta, its gradients
  and its parameters' updates), the other layers worked right, where that is neither the
  correct step nor the mistake made throughout. Credited as above; named: the mistake and
  its layer (``derivative_of_z@layer1``); another mistake, whole or in one layer, giving the
  same sheet is an alternative.
* ``convention``: another book's convention, worked correctly: per-example deltas without the
  1/N with averaged gradients; Han, Kamber & Pei's Err = −δ on the deltas; indices from 1
  (``W1[1][2]`` for w¹₁₂). Everything credited, no mistake named.
* ``noise``: answer-sheet noise on correct working: a blank answer (not credited, the rest
  is), decimal commas and typographic minus signs (all credited), one digit mistyped in one
  answer (that one not credited, no mistake named, no first_wrong: nothing was carried).

A teacher compares *values*: "credited" is computed from the student model's own correct
step at the precision written, never from chainrule (the teacher: tests/judging_teacher.py;
the ten networks: tests/judging_networks.py; this module draws the cases).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

import chainrule
from tests import student_model as sm
from tests import student_sheet
from tests.judging_networks import network_data, networks  # noqa: F401 (public here too)
from tests.judging_teacher import Teacher, differs, right, step_or_none
from tests.student_model import Student

CATEGORIES = ("correct", "rounding", "truncation", "carried_forward", "single_mistake",
              "rounded_mistake", "uncatalogued_mistake", "pair", "confined_mistake",
              "convention", "noise")
LATER_CATEGORIES = ("confined_mistake",)  # added after the first measurements (see below)
# The backward-pass and the update-stage mistakes pairs are drawn from.
BACKWARD = ("loss_derivative_sign", "derivative_of_z", "derivative_of_activation_value",
            "missing_activation_derivative", "softmax_diagonal_jacobian", "dropped_factor_two",
            "doubled_factor_two", "sum_over_batch", "transposed_weights",
            "bias_summed_over_units", "bias_not_summed")
UPDATE = ("gradient_ascent", "learning_rate_twice", "learning_rate_missing",
          "biases_not_updated")


@dataclass(frozen=True)
class Verdict:
    """What a careful teacher says about a sheet."""

    credited: frozenset[str]  # answer keys (as written) given credit
    mistakes: frozenset[str] = frozenset()  # catalogue ids to name (empty: name none)
    first_wrong: str | None = None  # the first wrong answer when an error was carried forward
    ambiguous: bool = False
    alternatives: tuple[frozenset[str], ...] = ()  # other sets of ids equally right to name
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"credited": sorted(self.credited), "mistakes": sorted(self.mistakes),
                "first_wrong": self.first_wrong, "ambiguous": self.ambiguous,
                "alternatives": [sorted(a) for a in self.alternatives], "reason": self.reason}


@dataclass(frozen=True)
class Case:
    category: str
    network: str
    what: str  # the knobs, in words: "round_to=3, layout full"
    spec: chainrule.Spec = field(repr=False)
    answers: dict[str, str] = field(repr=False)
    verdict: Verdict = field(repr=False)
    keys: tuple[str, ...] | None = None  # the quantities asked, when not the answers' own keys

    @property
    def asked(self) -> list[str]:
        """The quantities the sheet asks for, as chainrule names them (indices from 0)."""
        return list(self.keys) if self.keys is not None else list(self.answers)

    def key(self) -> tuple:
        """Everything that identifies the case, for comparing two generations."""
        return (self.category, self.network, self.what, tuple(sorted(self.answers.items())),
                repr(self.verdict.to_dict()))


def generate_cases(seed: int = 0, per_network: int = 2) -> list[Case]:
    """Every case, in a fixed order; the same ``seed`` gives the same cases."""
    rng = np.random.default_rng(seed)
    # a category added later draws from its own stream, so the earlier categories' cases
    # stay the very same sheets (and their figures comparable before and after)
    later = {category: np.random.default_rng([seed, i])
             for i, category in enumerate(LATER_CATEGORIES, 1)}
    cases: list[Case] = []
    for name, spec in networks().items():
        teacher = Teacher(spec)
        for category in CATEGORIES:
            cases += MAKERS[category](name, spec, teacher, later.get(category, rng), per_network)
    return cases


def _layout(rng, choices=("full", "backward", "gradients", "updates")) -> str:
    return str(rng.choice(choices))


def _decimals(rng, choices=(4, 5, 6, None)):
    return choices[int(rng.integers(len(choices)))]


def _correct(name, spec, teacher, rng, count):
    out = []
    for _ in range(count):
        layout, decimals = _layout(rng), _decimals(rng)
        keys = student_sheet.sheet_keys(teacher.correct, layout)
        out.append(Case("correct", name, f"layout {layout}, decimals {decimals}", spec,
                        student_sheet.answer_sheet(teacher.correct, keys, decimals),
                        Verdict(frozenset(keys), reason="correct working")))
    return out


def _rounded(category, truncate):
    def make(name, spec, teacher, rng, count):
        out = []
        for d in [3, 4] * max(1, count // 2):
            layout = _layout(rng, ("full", "backward", "gradients", "updates"))
            values = sm.work(spec, Student(round_to=d, truncate=truncate))
            keys = student_sheet.sheet_keys(values, layout)
            word = "chopped" if truncate else "rounded"
            out.append(Case(category, name, f"every intermediate {word} to {d}, layout {layout}",
                            spec, student_sheet.answer_sheet(values, keys, d, truncate),
                            Verdict(frozenset(keys), reason=f"correct method, {word} working")))
        return out
    return make


SLIP_PLACES = ("forward.z1", "forward.a1", "backward.delta{L}")


def _carried(name, spec, teacher, rng, count):
    out = []
    depth = len(spec.layers) - 1
    for i in range(count):
        quantity = SLIP_PLACES[int(rng.integers(len(SLIP_PLACES)))].format(L=depth)
        shape = np.shape(teacher.correct[quantity])
        index = tuple(int(rng.integers(n)) for n in shape)
        step = int(rng.choice([1, 2, -1]))
        if quantity.startswith("forward.a") and spec.activations[0] in ("sigmoid", "softmax"):
            step = -1  # keep a probability below 1
        student = Student(slip=(quantity, index, student_sheet.leading_digit_slip(step)))
        values = step_or_none(spec, student)
        if values is None:
            continue
        layout = "full" if quantity.startswith("forward") else _layout(rng, ("full", "backward"))
        decimals = _decimals(rng, (4, 5, 6))
        keys = student_sheet.sheet_keys(values, layout)
        slipped = quantity + "".join(f"[{j}]" for j in index)
        if right(values, teacher.correct, slipped, decimals):
            continue  # the slip is below the digits written: nothing to see
        out.append(Case("carried_forward", name,
                        f"slip at {slipped} (leading digit {step:+d}), layout {layout}, "
                        f"decimals {decimals}", spec, student_sheet.answer_sheet(values, keys, decimals),
                        Verdict(frozenset(keys) - {slipped}, first_wrong=slipped,
                                reason="one slip, worked correctly from it")))
    return out


def _mistaken(name, spec, teacher, student, rng, category, named, what):
    """A case for a mistaken student, or None when the sheet shows nothing of the mistake."""
    values = step_or_none(spec, student)
    if values is None or not differs(values, teacher.correct):
        return None
    for _ in range(6):  # a layout on which the mistake (each of a pair) shows
        layout, decimals = _layout(rng), _decimals(rng, (4, 5, 6))
        keys = student_sheet.sheet_keys(values, layout)
        credited = teacher.credited(values, keys, decimals)
        same = [s for s in teacher.same_sheet(values, keys, decimals, category == "pair",
                                              category == "confined_mistake")
                if s != frozenset(named)]
        if len(credited) < len(keys) and not any(s < frozenset(named) for s in same):
            break
    else:
        return None
    if category == "uncatalogued_mistake" and same:
        return None  # on this network it *is* a catalogued mistake
    alternatives = tuple(same)
    reason = what if not same else (f"the sheet cannot tell {' + '.join(sorted(named))} from "
                                    + ", ".join(" + ".join(sorted(s)) for s in same))
    return Case(category, name, f"{what}, layout {layout}, decimals {decimals}", spec,
                student_sheet.answer_sheet(values, keys, decimals),
                Verdict(credited, frozenset(named), ambiguous=bool(same),
                        alternatives=alternatives, reason=reason))


def _single(name, spec, teacher, rng, count):
    out = []
    for mistake in teacher.singles:
        case = _mistaken(name, spec, teacher, Student(mistakes=(mistake,)), rng,
                         "single_mistake", {mistake}, mistake)
        if case is not None:
            out.append(case)
    return out


def _rounded_mistake(name, spec, teacher, rng, count):
    """A catalogue mistake made by a student who rounds every number to 3 or 4 decimals."""
    out, names = [], list(teacher.singles)
    for i in rng.permutation(len(names)):
        if len(out) >= count:
            break
        mistake, decimals = names[i], int(rng.choice([3, 4]))
        values = step_or_none(spec, Student(mistakes=(mistake,), round_to=decimals))
        if values is None:
            continue
        layout = _layout(rng)
        keys = student_sheet.sheet_keys(values, layout)
        sheet = student_sheet.answer_sheet(values, keys, decimals)
        # credited: what follows from the sheet's numbers, and what the mistake left as the
        # same student without it writes (worked from rounded numbers the sheet does not show)
        without = step_or_none(spec, Student(round_to=decimals))
        plain = {} if without is None else student_sheet.answer_sheet(without, keys, decimals)
        credited = teacher.credited(values, keys, decimals) | frozenset(
            k for k in keys if plain.get(k) == sheet[k])
        if credited == set(keys):
            continue  # rounded away: nothing of the mistake is left on this sheet
        same = []
        for other in names:
            alike = step_or_none(spec, Student(mistakes=(other,), round_to=decimals))
            if other != mistake and alike is not None and \
                    student_sheet.answer_sheet(alike, keys, decimals) == sheet:
                same.append(frozenset({other}))
        reason = f"{mistake}, rounded working" if not same else \
            f"the sheet cannot tell {mistake} from " + ", ".join(next(iter(s)) for s in same)
        out.append(Case("rounded_mistake", name, f"{mistake}, every intermediate rounded to "
                        f"{decimals}, layout {layout}", spec, sheet,
                        Verdict(credited, frozenset({mistake}), ambiguous=bool(same),
                                alternatives=tuple(same), reason=reason)))
    return out


def _uncatalogued(name, spec, teacher, rng, count):
    out = []
    for mistake in sm.UNCATALOGUED:
        case = _mistaken(name, spec, teacher, Student(mistakes=(mistake,)), rng,
                         "uncatalogued_mistake", set(), f"{mistake} (not in the catalogue yet)")
        if case is not None:
            out.append(case)
    return out


def _pairs(name, spec, teacher, rng, count):
    pairs = [(a, b) for a in BACKWARD for b in UPDATE
             if a in teacher.singles and b in teacher.singles]
    pairs = [pairs[i] for i in rng.permutation(len(pairs))]
    if name == "seed":  # the seed notebook's own pair first
        pairs.remove(("bias_summed_over_units", "gradient_ascent"))
        pairs.insert(0, ("bias_summed_over_units", "gradient_ascent"))
    out = []
    for a, b in pairs:
        if len(out) >= count + 1:
            break
        student = Student(mistakes=(a, b))
        values = step_or_none(spec, student)
        if values is None:
            continue
        case = _mistaken(name, spec, teacher, student, rng, "pair", {a, b}, f"{a} + {b}")
        if case is not None:
            out.append(case)
    return out


def _confined(name, spec, teacher, rng, count):
    """A catalogue mistake made in one layer only, the other layers worked right."""
    made, out = list(teacher.confined), []
    for i in rng.permutation(len(made)):
        if len(out) >= count:
            break
        mistake, _, layer = made[i].partition("@layer")
        case = _mistaken(name, spec, teacher, Student(mistakes=(mistake,), layer=int(layer)),
                         rng, "confined_mistake", {made[i]}, f"{mistake} in layer {layer} only")
        if case is not None:
            out.append(case)
    return out


def _conventions(name, spec, teacher, rng, count):
    out = []
    for convention in sm.CONVENTIONS:
        if convention == "per_example_deltas" and not spec.batched:
            continue
        values = sm.work(spec, Student(conventions=(convention,)))
        layout = _layout(rng) if convention == "one_based_names" else \
            _layout(rng, ("full", "backward"))
        decimals = _decimals(rng, (4, 5, 6))
        keys = student_sheet.sheet_keys(values, layout)
        sheet = student_sheet.answer_sheet(values, keys, decimals,
                                one_based=convention == "one_based_names")
        out.append(Case("convention", name, f"{convention}, layout {layout}, decimals "
                        f"{decimals}", spec, sheet, Verdict(frozenset(sheet),
                                                            reason=sm.CONVENTIONS[convention]),
                        keys=tuple(keys)))
    return out


def _noise(name, spec, teacher, rng, count):
    out = []
    for noise in ("blank", "decimal_commas", "typographic_minus", "digit_typo"):
        layout, decimals = _layout(rng), _decimals(rng, (4, 5, 6))
        keys = student_sheet.sheet_keys(teacher.correct, layout)
        sheet = student_sheet.answer_sheet(teacher.correct, keys, decimals)
        target = keys[int(rng.integers(len(keys)))]
        credited = frozenset(keys)
        if noise == "blank":
            sheet, credited = student_sheet.blank(sheet, target), credited - {target}
        elif noise == "decimal_commas":
            sheet = student_sheet.decimal_commas(sheet)
        elif noise == "typographic_minus":
            if not any(v.startswith("-") for v in sheet.values()):
                continue
            sheet = student_sheet.typographic_minus(sheet)
        else:
            sheet, credited = student_sheet.digit_typo(sheet, target, rng), credited - {target}
        where = f" at {target}" if noise in ("blank", "digit_typo") else ""
        out.append(Case("noise", name, f"{noise}{where}, layout {layout}, decimals {decimals}",
                        spec, sheet, Verdict(credited, reason=f"correct working, {noise}")))
    return out


MAKERS = {"correct": _correct, "rounding": _rounded("rounding", False),
          "truncation": _rounded("truncation", True), "carried_forward": _carried,
          "single_mistake": _single, "rounded_mistake": _rounded_mistake,
          "uncatalogued_mistake": _uncatalogued, "pair": _pairs, "confined_mistake": _confined,
          "convention": _conventions, "noise": _noise}
