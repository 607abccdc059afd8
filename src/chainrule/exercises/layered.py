"""Typed-layer exercises (levels ``conv``, ``pool``, ``batchnorm``, ``cnn`` and the sequence
levels ``rnn``, ``lstm``, ``attention``, ``layernorm``, ``embedding``; their table is
:mod:`chainrule.exercises.layered_levels`): a small network of typed layers, worked forward
and backward by hand.

Each exercise is a spec of typed layers (docs/spec.md, "Typed layers") with every number
given, drawn with one decimal (or two), and every answer is the engine's own number
(:class:`chainrule.verify.layered.EngineStep`), so the key is what ``chainrule explain`` and
``chainrule verify`` say about the same file.

A draw is kept only if its answers are worth asking (:mod:`chainrule.exercises.checks`: none
near zero but the exact zeros the lesson is about, no rounding ties) and every layer mistake
of :data:`chainrule.verify.layer_mistakes.LAYER_MISTAKES` that changes this network's numbers
changes some asked answer clearly, so grading can name it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.exercises import checks
from chainrule.exercises.levels import label
from chainrule.exercises.layered_levels import (  # noqa: F401 (the table, named here too)
    LAYERED_LEVELS, LayeredLevel, Tensor, _gate, _pixel, _position, _step,
)
from chainrule.exercises.model import Exercise, Question

MAX_VALUE = 20.0  # every answer at most this in size
KINK_MARGIN = 0.05  # relu inputs at least this far from 0 (5 units of the second decimal)
POOL_GAP = 0.05  # a window's maximum at least this far above its second largest value


def is_layered(spec: Any) -> bool:
    """A typed-layer exercise's spec (``layers`` of dicts, an ``input_shape``)."""
    return isinstance(spec, dict) and "input_shape" in spec


def judge(spec_data: dict[str, Any], level: LayeredLevel,
          precision: int) -> dict[str, float] | str:
    """The asked answers by question key, or why the drawn network is not worth asking."""
    from chainrule.spec.network import parse_spec
    from chainrule.verify.layer_mistakes import candidates
    from chainrule.verify.layered import EngineStep
    from chainrule.verify.reference_layers import layered_step

    from chainrule.finite import NonFiniteError

    spec = parse_spec(dict(spec_data, name="exercise"))
    try:
        step = EngineStep(spec)
    except NonFiniteError as error:
        return str(error)
    reason = _degenerate(spec, step)
    if reason:
        return reason
    values = _asked(level, step.values)
    routed = {k for k, v in values.items() if v == 0.0 and k.startswith("gradients.")}
    if any(abs(v) > MAX_VALUE for v in values.values()):
        return "an answer is too large"
    repeats = set(level.repeats)
    reason = checks.answers({(k.replace("[", "(") if k.partition("[")[0] in repeats else k): v
                             for k, v in values.items() if k not in routed}, precision)
    if reason:
        return reason
    if len(routed) > len(values) // 2 and level.name == "cnn":
        return "most gradients are zero (relu and pooling block them)"
    for mistake in candidates(spec):
        mistaken = _asked(level, layered_step(spec, step.before, step.buffers, step.masks,
                                              mistake.alterations))
        if all(abs(mistaken[k] - v) <= checks.UNTOUCHED * (1 + abs(v))
               for k, v in values.items()):
            continue  # not a mistake on this network (no padding, no tie)
        reason = checks.mistake(mistake.id, values, mistaken, precision)
        if reason:
            return reason
    return values


def _asked(level: LayeredLevel, values: dict[str, np.ndarray]) -> dict[str, float]:
    out = {}
    for tensor in level.asked:
        array = np.asarray(values[tensor.quantity], dtype=float)
        if not array.shape:
            out[tensor.quantity] = float(array)
            continue
        for index in np.ndindex(array.shape):
            out[f"{tensor.quantity}[{','.join(map(str, index))}]"] = float(array[index]) + 0.0
    return out


def _degenerate(spec, step) -> str | None:
    """A relu input near its kink, a max-pool window whose maximum is nearly tied, a
    saturated softmax."""
    from chainrule.spec.layered import module_path

    for layer, module_input in _inputs(spec, step):
        if layer.type == "ReLU" and np.min(np.abs(module_input)) < KINK_MARGIN:
            return "a relu input sits near 0"
        if layer.type.startswith("MaxPool"):
            k = layer.options["kernel_size"]
            s = layer.options["stride"] or k
            x = module_input
            for i in range(0, x.shape[-2] - k + 1, s):
                for j in range(0, x.shape[-1] - k + 1, s):
                    window = np.sort(x[..., i:i + k, j:j + k].reshape(*x.shape[:-2], -1))
                    if np.min(window[..., -1] - window[..., -2]) < POOL_GAP:
                        return "a max-pool window's maximum is nearly tied"
        if layer.type in ("Softmax", "MultiheadAttention"):
            p = step.values[f"forward.{module_path(layer.path)}" if layer.type == "Softmax"
                            else f"inside.{module_path(layer.path)}.weights"]
            if p.min() < checks.SOFTMAX_RANGE[0] or p.max() > checks.SOFTMAX_RANGE[1]:
                return "a softmax probability is near 0 or 1"
    return None


def _inputs(spec, step):
    """(layer, its input for the batch) of each top-level layer."""
    x = np.asarray(spec.inputs if spec.batched else spec.inputs[None], dtype=float)
    for i, layer in enumerate(spec.layers):
        yield layer, x
        x = step.values[f"forward.{i}"]


def question(number: int, position: int, key: str, value: float,
             level: LayeredLevel) -> Question:
    name, _, rest = key.partition("[")
    tensor = next(t for t in level.asked if t.quantity == name)
    index = tuple(int(i) for i in rest.rstrip("]").split(",")) if rest else ()
    shown = tensor.index(index)
    if any(isinstance(d, str) for d in shown):  # a gate's letter
        sub = "_" + "".join(map(str, shown))
    else:
        sub = "".join(chr(0x2080 + d) if d < 10 else str(d) for d in shown) \
            if len(shown) < 3 else ""
    symbol = f"{tensor.letter}{sub}"
    latex_sub = ",".join(map(str, shown))
    if tensor.latex.startswith(r"\frac"):
        inner = tensor.latex[len(r"\frac{\partial E}{\partial "):-1]
        latex = rf"\frac{{\partial E}}{{\partial {inner}" + (f"_{{{latex_sub}}}" if shown
                                                             else "") + "}"
    else:
        latex = tensor.latex + (f"_{{{latex_sub}}}" if shown else "")
    where = _where(level, tensor, shown)
    prompt = f"{tensor.words} {symbol}{where}"
    prompt_latex = f"{tensor.words} ${latex}${where}"
    return Question(id=f"{number}.{key}", label=label(number, position), quantity=key,
                    symbol=symbol, latex=latex, prompt=prompt, prompt_latex=prompt_latex,
                    answer=value)


def _where(level: LayeredLevel, tensor: Tensor, shown: tuple[int, ...]) -> str:
    if level.name in ("batchnorm", "layernorm") and len(shown) == 2:
        return f" (example {shown[0]}, feature {shown[1]})"
    if tensor.index is _step:
        return f" (step {shown[0]})" if level.name != "embedding" else \
            f" (position {shown[0]})"
    if tensor.index is _gate:
        return f" (gate {shown[0]})"
    if tensor.index is _position:
        if tensor.quantity.endswith(("weights", "dscores")):
            return f" (query {shown[0]}, key {shown[1]})"
        return f" (position {shown[0]}, feature {shown[1]})"
    if level.name == "embedding" and len(shown) == 2:
        return f" (row {shown[0]}, column {shown[1]})"
    if tensor.index is _pixel:
        return f" (row {shown[0]}, column {shown[1]})"
    return ""


def exercise(number: int, spec: dict[str, Any], values: dict[str, float],
             level: LayeredLevel) -> Exercise:
    questions = tuple(question(number, i, key, value, level)
                      for i, (key, value) in enumerate(values.items()))
    return Exercise(number, spec, questions)


def generate_exercise(number: int, seed: int, level: LayeredLevel, decimals: int,
                      precision: int, attempts: int, student: str | None = None
                      ) -> Exercise | str:
    """Exercise ``number`` drawn from ``default_rng([seed, number])`` (a student's variant:
    :func:`~chainrule.exercises.roster.entropy`), or the most common reason no draw passed."""
    from chainrule.exercises.roster import entropy

    rng = np.random.default_rng(entropy(seed, number, student))
    reasons: dict[str, int] = {}
    for _ in range(attempts):
        spec = {"name": f"exercise-{number}", **level.draw(rng, decimals)}
        found = judge(spec, level, precision)
        if isinstance(found, str):
            reasons[found] = reasons.get(found, 0) + 1
            continue
        return exercise(number, spec, found, level)
    return max(reasons, key=reasons.__getitem__)


def level_of(spec: dict[str, Any]) -> LayeredLevel:
    """The level an exercise's spec was drawn for, read off its layers."""
    types = [layer["type"] for layer in spec["layers"]]
    first = {"RNN": "rnn", "LSTM": "lstm", "MultiheadAttention": "attention",
             "LayerNorm": "layernorm", "Embedding": "embedding"}.get(types[0])
    if first:
        return LAYERED_LEVELS[first]
    if "Linear" in types:
        return LAYERED_LEVELS["cnn"]
    if types[0] == "Conv2d":
        return LAYERED_LEVELS["conv"]
    if types[0] == "MaxPool2d":
        return LAYERED_LEVELS["pool"]
    return LAYERED_LEVELS["batchnorm"]


def truth(spec_data: dict[str, Any]):
    """What a worksheet's answers are judged against: the engine's step, and each layer
    mistake's step that differs from it (:class:`chainrule.verify.judging.Truth`, without
    rules: each answer on its own)."""
    from chainrule.spec.network import parse_spec
    from chainrule.verify.judging import Truth
    from chainrule.verify.layer_mistakes import candidates
    from chainrule.verify.layered import EngineStep
    from chainrule.verify.reference_layers import layered_step

    spec = parse_spec(spec_data)
    step = EngineStep(spec)
    variants = {m.id: (m, layered_step(spec, step.before, step.buffers, step.masks,
                                       m.alterations)) for m in candidates(spec)}
    return Truth("network", spec.name, step.values, variants)
