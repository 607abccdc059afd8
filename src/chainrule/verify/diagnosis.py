"""Naming the mistake behind someone's wrong answers, consistently (chainrule.verify.marking).

A catalogue mistake explains a wrong answer when its own rules, applied to the numbers given
before it, give that answer (the marker's readings). It is named only if it contradicts no
credited answer (under the mistake that answer would have come out otherwise); where no
single mistake explains every wrong answer, each mistake made in one layer only is tried
(its alterations confined to that layer's rules), then pairs; where none is consistent, the
report says why no diagnosis is certain, or that the numbers read as two computations.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.verify.judging import CREDITED, WRONG
from chainrule.verify.readings import LargerSpread, Reading, picker
from chainrule.verify.mistakes import confined_key
from chainrule.verify.reference import step_rules

# How many mistakes explaining an answer are combined in pairs (the pairs grow as its square).
MAX_PAIRED = 12
# Beyond this many wrong answers no mistake in one layer or pair of mistakes is tried (nor, in
# answers.py, another book's convention or a chopped reading): such a sheet is not one slip or
# two, and the search would cost minutes (a 21,606-answer sheet of noise: 442 s before this
# bound, 10 s after).
MAX_PAIRED_WRONG = 2_000


class Diagnoser:
    """The diagnosis of one marked sheet; ``marker`` has the cells, the truth, each mistake's
    reading (``variants``) and the vectorised tests (``fits_many``, ``touched``)."""

    def __init__(self, marker) -> None:
        self.marker = marker

    def diagnose(self, statuses: list[str], fits: list[tuple[str, ...]]):
        """(mistakes named, candidates, answers explained, why uncertain, the answers a named
        pair explains together)."""
        marker = self.marker
        wrong = [i for i, s in enumerate(statuses) if s == WRONG]
        if not wrong:
            return [], (), 0, "", set()
        credited = [i for i, s in enumerate(statuses) if s in CREDITED]
        singles = {}
        for mid in marker.variants:
            explains = sum(1 for i in wrong if mid in fits[i])
            if explains:
                singles[mid] = (explains, self._contradicts(marker.variants[mid], credited))
        consistent = {mid: e for mid, (e, against) in singles.items() if not against}
        best = max(consistent.values(), default=0)
        named: list[str] = [mid for mid, e in consistent.items() if e == best]
        together: set[int] = set()
        if best < len(wrong) <= MAX_PAIRED_WRONG:  # a mistake made in one layer only
            confined, confined_best, explained = self._confined(wrong, credited, best)
            if confined_best > best:
                named, best, together = confined, confined_best, explained
        if best < len(wrong) <= MAX_PAIRED_WRONG:
            pairs, pair_best, explained = self._pairs(singles, wrong, credited)
            if pair_best > best:
                named, best, together = [" + ".join(p) for p in pairs], pair_best, explained
        if not named:
            return [], (), 0, self._uncertain(singles), set()
        mistakes = [marker.variant(mid)[0] for mid in named[0].split(" + ")]
        return mistakes, tuple(named), best, "", together

    def _contradicts(self, reading: Reading, credited: list[int]) -> list[int]:
        marker = self.marker
        fitting = set(marker.fits_many(credited, reading))
        return [i for i in credited if i not in fitting]

    def _confined(self, wrong: list[int], credited: list[int], beat: int):
        """The mistakes made in one layer's rules only (the others worked right) explaining
        the most wrong answers, more than ``beat``, without contradicting a credited one, and
        how many they explain: tried for every mistake (made throughout, one may explain no
        answer: an error of layer 1 only reaches the updates otherwise than made in every
        layer)."""
        marker = self.marker
        spec = marker.truth.spec
        found: dict[str, list[int]] = {}
        for mid in marker.variants:
            for layer in range(1, len(spec.layers)):
                key = confined_key(mid, layer)
                # the same as made throughout, or as none; or it changes too few wrong answers
                # to explain more than ``beat`` of them
                if marker.variant(key) is None or marker.touched_count(wrong, (key,)) <= beat:
                    continue
                # (its rules not altered take the correct reading's spread: Reading.base)
                reading = marker.reading(step_rules(spec, marker.variant(key)[0].alterations))
                explains = marker.fits_many(wrong, reading, (key,))
                # (the credited answers are checked only for a reading that could be named)
                if len(explains) > beat and not self._contradicts(reading, credited):
                    found[key], beat = explains, len(explains) - 1  # ties are kept
        best = max((len(e) for e in found.values()), default=0)
        named = [key for key, e in found.items() if len(e) == best]
        return named, best, set(found[named[0]]) if named else set()

    def _pairs(self, singles: dict, wrong: list[int], credited: list[int]):
        """The pairs of mistakes explaining the most wrong answers without contradicting a
        credited one, and how many they explain."""
        marker = self.marker
        spec = marker.truth.spec
        ranked = sorted(singles, key=lambda mid: -singles[mid][0])[:MAX_PAIRED]
        # one of the two explains some wrong answer; the other may explain none alone (an
        # ascent that undoes a flipped sign leaves the right updates)
        found: dict[tuple[str, str], list[int]] = {}
        # a pair altering what a single mistake alters is that mistake, already tried
        singles_made = {variant[0].alterations for variant in marker.truth.variants.values()}
        pairs = {tuple(sorted((a, b), key=list(marker.variants).index))
                 for a in ranked for b in marker.variants if a != b}
        for first, second in sorted(pairs, key=lambda p: [list(marker.variants).index(mid)
                                                          for mid in p]):
            one, two = (marker.truth.variants[mid][0].alterations for mid in (first, second))
            both = one.combined(two)
            if both is None or both in singles_made:  # one part two ways; or one mistake
                continue
            reading = marker.reading(step_rules(spec, both), LargerSpread(
                marker.variants[first], marker.variants[second]))
            explains = marker.fits_many(wrong, reading, (first, second))
            if explains and not self._contradicts(reading, credited):
                found[(first, second)] = explains
        best = max((len(e) for e in found.values()), default=0)
        pairs = [pair for pair, e in found.items() if len(e) == best]
        return pairs, best, set(found[pairs[0]]) if pairs else set()

    def two_computations(self, statuses: list[str], fits: list[tuple[str, ...]]
                          ) -> dict[str, Any] | None:
        """Wrong answers that no mistake gives from the numbers before them, but one gives
        worked from the start: the sheet's numbers come from two computations (Mazur's loss
        after the step is the step's with updated weights in the backward pass, while his
        updated weights are the correct step's). The mistake matching the most such answers,
        and which they are; None if there are none."""
        marker = self.marker
        lone = [i for i, s in enumerate(statuses) if s == WRONG and not fits[i]
                and not marker.cells[i].note]
        groups: dict[str, list[int]] = {}
        for i in lone:
            groups.setdefault(marker.cells[i].key, []).append(i)
        found: dict[str, list[str]] = {}
        for mid, (_, values) in marker.truth.variants.items():
            for key, members in groups.items():  # a quantity's elements at once
                cells = [marker.cells[i] for i in members]
                pick = picker(cells, np.ndim(marker.truth.values[key]))
                given = np.array([float(c.value) for c in cells])
                target = pick(np.asarray(values[key], dtype=float))
                allowed = marker.tolerance.allowed(np.array([float(c.half_unit) for c in cells]),
                                                 target)
                with np.errstate(invalid="ignore"):
                    ok = np.isfinite(target) & (np.abs(given - target) <= allowed) & \
                        pick(marker.touched(key, (mid,))).astype(bool)
                found.setdefault(mid, []).extend(c.quantity for c, flag in zip(cells, ok) if flag)
        found = {mid: answers for mid, answers in found.items() if answers}
        if not found:
            return None
        mid = max(found, key=lambda m: len(found[m]))  # ties: catalogue order
        return {"mistake": mid, "answers": found[mid]}

    def _uncertain(self, singles: dict) -> str:
        marker = self.marker
        if not singles:
            return ""
        mid = max(singles, key=lambda m: singles[m][0])
        explains, against = singles[mid]
        shown = ", ".join(marker.cells[i].quantity for i in against[:3])
        return (f"{mid} would explain {explains} of them, but would also have changed "
                f"{len(against)} answer{'s' if len(against) != 1 else ''} that "
                f"{'are' if len(against) != 1 else 'is'} right ({shown}"
                f"{', …' if len(against) > 3 else ''}): no diagnosis is certain.")


def two_computations_text(mistake: Any, answers: list[str]) -> str:
    one = len(answers) == 1
    return (f"{', '.join(answers)} {'is' if one else 'are'} what {mistake.id} "
            f"({mistake.title.lower()}) gives worked from the start, but not what follows "
            f"from the numbers given before {'it' if one else 'them'}: the numbers read as two "
            f"computations, {'this one' if one else 'these'} from a step with that mistake and "
            f"the rest from another.")

