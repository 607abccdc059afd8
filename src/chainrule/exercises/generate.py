"""Generating a problem set: networks drawn with nice numbers until every check passes.

Exercise n of seed s is drawn from ``numpy.random.default_rng([s, n])`` alone, so it is the
same whatever the count, and the same seed gives the same set, byte for byte. A drawn network
that fails a check (:mod:`chainrule.exercises.checks`) is replaced by the next draw of the same
generator, up to :data:`MAX_ATTEMPTS` times.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from typing import Sequence

import numpy as np

from chainrule.exercises import checks
from chainrule.exercises.draw import draw_spec
from chainrule.exercises.levels import (
    LEVELS, Level, ask_level, describe, label, question_keys, split_key)
from chainrule.exercises.model import Exercise, ExerciseError, ProblemSet, Question, Variant
from chainrule.exercises.roster import Student, entropy
from chainrule.nn.activations import ACTIVATIONS, unknown_name_message
from chainrule.nn.losses import LOSSES
from chainrule.spec.network import Spec, parse_spec
from chainrule.verify.mistakes import applicable_mistakes, correct_step

MAX_ATTEMPTS = 3000
MAX_UNITS, MAX_DEPTH, MAX_COUNT, MAX_BATCH = 8, 4, 1000, 8
PRECISIONS = range(2, 9)


def generate(level: str = "full", *, arch: str | Sequence[int] | None = None,
             activation: str | Sequence[str] = "sigmoid", loss: str | None = None,
             seed: int = 0, count: int = 10, precision: int = 4, decimals: int = 1,
             learning_rate: float | None = None, batch_size: int | None = None,
             title: str | None = None, ask: str | Sequence[str] | None = None,
             student: str | None = None, notation: str | None = None) -> ProblemSet:
    """``count`` exercises of ``level`` (see :data:`~chainrule.exercises.levels.LEVELS`) with
    answers rounded to ``precision`` decimals; an :class:`ExerciseError` names a bad option.
    ``ask`` chooses the quantities asked (:data:`~chainrule.exercises.levels.ASKABLE`);
    ``student`` draws that student's variant (:mod:`chainrule.exercises.roster`);
    ``notation`` writes the questions' symbols in a textbook's notation
    (:mod:`chainrule.explain.profiles`)."""
    from chainrule.explain.profiles import profile, using

    if notation is not None:
        try:
            profile(notation)
        except ValueError as error:
            raise ExerciseError(str(error)) from None
        if _level(level).circuit or _level(level).layered:
            raise ExerciseError(f"notation: level {level} writes its own symbols; --notation "
                                f"is for the network levels")
    with using(notation):
        made = _generate(level, arch=arch, activation=activation, loss=loss, seed=seed,
                         count=count, precision=precision, decimals=decimals,
                         learning_rate=learning_rate, batch_size=batch_size, title=title,
                         ask=ask, student=student)
    if notation is not None and notation != "chainrule":
        made = dataclasses.replace(made, options={**made.options, "notation": notation})
    return made


def _generate(level: str, *, arch, activation, loss, seed, count, precision, decimals,
              learning_rate, batch_size, title, ask, student) -> ProblemSet:
    chosen = _level(level)
    if ask is not None:
        chosen = ask_level(chosen, ask)
    if chosen.layered:
        return _layered(chosen, arch=arch, activation=activation, loss=loss, seed=seed,
                        count=count, precision=precision, decimals=decimals,
                        learning_rate=learning_rate, batch_size=batch_size, title=title,
                        student=student)
    if chosen.circuit:
        return _circuits(chosen, arch=arch, activation=activation, loss=loss, seed=seed,
                         count=count, precision=precision, decimals=decimals,
                         learning_rate=learning_rate, batch_size=batch_size, title=title,
                         student=student)
    layers = _arch(arch, chosen)
    activations = _activations(activation, chosen, len(layers) - 1)
    loss = _loss(loss, chosen, activations)
    batch_size = _batch_size(batch_size, chosen)
    _check_numbers(seed, count, precision, decimals, learning_rate)
    from chainrule.version import __version__

    options = {"arch": "-".join(map(str, layers)), "activations": list(activations),
               "loss": loss, "count": count, "decimals": decimals,
               "learning_rate": learning_rate, "batch_size": batch_size}
    if ask is not None:
        options["ask"] = list(chosen.sections)
    exercises = tuple(
        _exercise(number, seed, chosen, layers, activations, loss, batch_size, learning_rate,
                  decimals, precision, student) for number in range(1, count + 1))
    return ProblemSet(title=title or f"Backpropagation exercises — {chosen.summary}",
                      level=chosen.name, precision=precision, seed=seed, options=options,
                      exercises=exercises, generator=f"chainrule {__version__}")


def generate_class(students: Sequence[Student], level: str = "full", **options) -> ProblemSet:
    """A set for a class: the set ``generate`` draws (the teacher's copy) and every student's
    own variant of it, drawn from the seed and their id."""
    base = generate(level, **options)
    variants = tuple(Variant(s.id, s.name, generate(level, **options, student=s.id).exercises)
                     for s in students)
    return dataclasses.replace(base, variants=variants)


def _circuits(level: Level, *, arch, activation, loss, seed: int, count: int, precision: int,
              decimals: int, learning_rate, batch_size, title: str | None,
              student: str | None) -> ProblemSet:
    """A set of circuits (:mod:`chainrule.exercises.circuit`): no network options."""
    from chainrule.exercises import circuit

    return _drawn_set(level, lambda number: circuit.generate_exercise(
        number, seed, decimals, precision, MAX_ATTEMPTS, student), "draws an expression",
        "circuits", arch=arch, activation=activation, loss=loss, seed=seed, count=count,
        precision=precision, decimals=decimals, learning_rate=learning_rate,
        batch_size=batch_size, title=title)


def _layered(level: Level, student: str | None, **options) -> ProblemSet:
    """A set of typed-layer networks (:mod:`chainrule.exercises.layered`): their layers are
    the level's, so no network options."""
    from chainrule.exercises import layered

    chosen = layered.LAYERED_LEVELS[level.name]
    return _drawn_set(level, lambda number: layered.generate_exercise(
        number, options["seed"], chosen, options["decimals"], options["precision"],
        MAX_ATTEMPTS, student), "has its own layers", "networks", **options)


def _drawn_set(level: Level, make, what: str, things: str, *, arch, activation, loss,
               seed: int, count: int, precision: int, decimals: int, learning_rate,
               batch_size, title: str | None) -> ProblemSet:
    """A set drawn by ``make(number)`` (an Exercise, or the most common reason none
    passed), refusing the MLP's options."""
    from chainrule.version import __version__

    given = {"arch": arch, "loss": loss, "learning_rate": learning_rate,
             "batch_size": batch_size}
    given["activation"] = None if activation in ("sigmoid", None) else activation
    for option, value in given.items():
        if value is not None:
            raise ExerciseError(f"{option}: level {level.name} {what}, not a network of your "
                                f"choosing; leave {option} out" if things == "networks" else
                                f"{option}: level {level.name} {what}, not a network; leave "
                                f"{option} out")
    _check_numbers(seed, count, precision, decimals, None)
    exercises = []
    for number in range(1, count + 1):
        made = make(number)
        if isinstance(made, str):
            raise ExerciseError(f"exercise {number}: none of {MAX_ATTEMPTS} {things} drawn "
                                f"passed the checks (most often: {made}); ask for more "
                                f"decimals (precision)")
        exercises.append(made)
    return ProblemSet(title=title or f"Backpropagation exercises — {level.summary}",
                      level=level.name, precision=precision, seed=seed,
                      options={"count": count, "decimals": decimals},
                      exercises=tuple(exercises), generator=f"chainrule {__version__}")


def _exercise(number: int, seed: int, level: Level, layers: tuple[int, ...],
              activations: tuple[str, ...], loss: str, batch_size: int | None,
              learning_rate: float | None, decimals: int, precision: int,
              student: str | None = None) -> Exercise:
    rng = np.random.default_rng(entropy(seed, number, student))
    reasons: Counter[str] = Counter()
    examples: dict[str, str] = {}  # a reason with its numbers, for each kind of reason
    for _ in range(MAX_ATTEMPTS):
        data = draw_spec(rng, name=f"exercise-{number}", layers=layers, activations=activations,
                         loss=loss, batch_size=batch_size, learning_rate=learning_rate,
                         decimals=decimals)
        spec = parse_spec(data)
        found = _judge(spec, level, precision)
        if isinstance(found, str):
            kind = re.sub(r"\d", "#", found)
            reasons[kind] += 1
            examples.setdefault(kind, found)
            continue
        questions = tuple(_question(number, i, key, value, spec)
                          for i, (key, value) in enumerate(found.items()))
        return Exercise(number, data, questions)
    raise ExerciseError(
        f"exercise {number}: none of {MAX_ATTEMPTS} networks drawn passed the checks (most "
        f"often like: {examples[reasons.most_common(1)[0][0]]}); ask for more decimals "
        f"(precision), a larger learning rate or a smaller network")


def _judge(spec: Spec, level: Level, precision: int) -> dict[str, float] | str:
    """The asked answers by quantity, or why the network is not good enough."""
    reason = checks.given_ties(spec) or checks.saturation(spec)
    if reason:
        return reason
    truth = correct_step(spec)
    keys = question_keys(level, truth, len(spec.layers) - 1)
    values = _pick(truth, keys)
    reason = checks.answers(values, precision)
    if reason:
        return reason
    for mistake in sorted(applicable_mistakes(spec), key=_often_failing):
        reason = checks.mistake(mistake.id, values, _pick(mistake.compute(spec), keys),
                                precision)
        if reason:
            return reason
    return values


# Mistakes whose effect is often below the last digit go first: a bad draw is dropped sooner.
FIRST = ("updated_weights_in_backward", "derivative_of_activation_value", "derivative_of_z")


def _often_failing(mistake) -> int:
    return FIRST.index(mistake.id) if mistake.id in FIRST else len(FIRST)


def _pick(values: dict[str, np.ndarray], keys: list[str]) -> dict[str, float]:
    picked = {}
    for key in keys:
        name, index = split_key(key)
        picked[key] = float(np.asarray(values[name])[index])
    return picked


def _question(number: int, position: int, key: str, value: float, spec: Spec) -> Question:
    depth = len(spec.layers) - 1
    softmax = depth if spec.activations[-1] == "softmax" else None
    symbol, prompt, prompt_latex = describe(key, spec.batched, spec.bias == "shared_per_layer",
                                            softmax)
    return Question(id=f"{number}.{key}", label=label(number, position), quantity=key,
                    symbol=symbol.text, latex=symbol.latex, prompt=prompt,
                    prompt_latex=prompt_latex, answer=value)


# --- options -----------------------------------------------------------------------------------


def _level(name: str) -> Level:
    if name not in LEVELS:
        raise ExerciseError("level: " + unknown_name_message("level", name, LEVELS))
    return LEVELS[name]


def _arch(arch: str | Sequence[int] | None, level: Level) -> tuple[int, ...]:
    if arch is None:
        return level.default_arch
    try:
        parts = arch.split("-") if isinstance(arch, str) else list(arch)
        layers = tuple(int(p) for p in parts)
    except (TypeError, ValueError):
        layers = ()
    if len(layers) < 2 or any(not 1 <= n <= MAX_UNITS for n in layers):
        raise ExerciseError(f"arch: expected units per layer, input first, like 2-2-1 "
                            f"(1 to {MAX_UNITS} units each), got {arch!r}")
    depth = len(layers) - 1
    if depth > MAX_DEPTH:
        raise ExerciseError(f"arch: at most {MAX_DEPTH} weight layers by hand, got {depth}")
    if level.depth is not None and depth != level.depth:
        raise ExerciseError(f"arch: level {level.name} needs {level.depth} weight layers "
                            f"(like {'-'.join(map(str, level.default_arch))}), got {arch}")
    if level.softmax and layers[-1] < 2:
        raise ExerciseError(f"arch: level softmax needs two or more output units, got {arch}")
    return layers


def _activations(activation: str | Sequence[str], level: Level, depth: int) -> tuple[str, ...]:
    names = activation.split(",") if isinstance(activation, str) else list(activation)
    names = [n.strip() for n in names]
    for name in names:
        if name not in ACTIVATIONS:
            raise ExerciseError("activation: " + unknown_name_message("activation", name,
                                                                      ACTIVATIONS))
    if len(names) == 1:
        names = names * depth
        if level.softmax:
            names[-1] = "softmax"
    if len(names) != depth:
        raise ExerciseError(f"activation: expected one name, or one per layer ({depth}), "
                            f"got {len(names)}: {','.join(names)}")
    if level.softmax and names[-1] != "softmax":
        raise ExerciseError(f"activation: level softmax has a softmax output, got "
                            f"{names[-1]!r} for the last layer")
    return tuple(names)


def _loss(loss: str | None, level: Level, activations: tuple[str, ...]) -> str:
    if loss is None:
        return "cross_entropy" if level.softmax else "half_sse"
    if loss not in LOSSES:
        raise ExerciseError("loss: " + unknown_name_message("loss", loss, LOSSES))
    if level.softmax and loss != "cross_entropy":
        raise ExerciseError(f"loss: level softmax uses cross_entropy, got {loss!r}")
    if loss == "bce" and activations[-1] != "sigmoid":
        raise ExerciseError(f"loss: bce needs a sigmoid output, got {activations[-1]!r}")
    return loss


def _batch_size(batch_size: int | None, level: Level) -> int | None:
    if not level.batch:
        if batch_size is not None:
            raise ExerciseError(f"batch_size: only for level batch, not {level.name}")
        return None
    if batch_size is None:
        return 2
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) \
            or not 2 <= batch_size <= MAX_BATCH:
        raise ExerciseError(f"batch_size: expected 2 to {MAX_BATCH} examples, got {batch_size!r}")
    return batch_size


def _check_numbers(seed: int, count: int, precision: int, decimals: int,
                   learning_rate: float | None) -> None:
    def whole(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if not whole(seed) or seed < 0:
        raise ExerciseError(f"seed: expected a whole number ≥ 0, got {seed!r}")
    if not whole(count) or not 1 <= count <= MAX_COUNT:
        raise ExerciseError(f"count: expected 1 to {MAX_COUNT} exercises, got {count!r}")
    if not whole(precision) or precision not in PRECISIONS:
        raise ExerciseError(f"precision: expected {PRECISIONS[0]} to {PRECISIONS[-1]} decimals, "
                            f"got {precision!r}")
    if decimals not in (1, 2) or isinstance(decimals, bool):
        raise ExerciseError(f"decimals: expected 1 or 2 (the given numbers' decimals), "
                            f"got {decimals!r}")
    if learning_rate is not None and not (isinstance(learning_rate, (int, float))
                                          and 0 < learning_rate <= 10):
        raise ExerciseError(f"learning_rate: expected a number in (0, 10], "
                            f"got {learning_rate!r}")
