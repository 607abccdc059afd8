"""What each level asks, and how a question is named for people and for machines.

A level is data: the sections of a training step it asks about. A question is one element of
one quantity of the trace (``forward.z1[0]``, ``gradients.W1[1,0]``, ``updated.b2[0]``),
written for people with the notation of the worked example (z¹₁, ∂E/∂w¹₂₁, the updated b²₁).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from chainrule.frozen import Frozen
from chainrule.explain.notation import Symbol, element_symbol, parameter_symbol, quantity

# The sections a level can ask, in the order the questions appear.
SECTIONS = ("forward", "outputs", "loss", "deltas", "output_deltas", "gradients",
            "output_gradients", "updated")


@dataclass(unsafe_hash=True)
class Level(Frozen):
    name: str
    summary: str  # one line, for --help and the docs
    sections: tuple[str, ...]
    default_arch: tuple[int, ...]
    batch: bool = False  # two or more examples, the loss averaged over them
    softmax: bool = False  # a softmax output with cross-entropy
    depth: int | None = None  # the number of weight layers required
    circuit: bool = False  # a random expression, not a network (chainrule.exercises.circuit)
    layered: bool = False  # a network of typed layers (chainrule.exercises.layered)


LEVELS: dict[str, Level] = {level.name: level for level in (
    Level("forward", "the forward pass: every z and a, and the loss", ("forward", "loss"),
          (2, 2, 1)),
    Level("output", "the output layer: its deltas and its gradients",
          ("output_deltas", "output_gradients"), (2, 2, 1)),
    Level("full", "a whole step: every gradient and every updated parameter",
          ("gradients", "updated"), (2, 2, 1)),
    Level("batch", "a step on a batch of two or more examples, averaged: the loss, every "
          "gradient and every updated parameter", ("loss", "gradients", "updated"), (2, 2, 1),
          batch=True),
    Level("softmax", "a softmax output with cross-entropy: the probabilities, the loss, the "
          "output deltas and the output layer's gradients",
          ("outputs", "loss", "output_deltas", "output_gradients"), (2, 2, 3), softmax=True),
    Level("deep", "three layers: every delta and every gradient", ("deltas", "gradients"),
          (2, 2, 2, 1), depth=3),
    Level("circuit", "a small random expression: every node's value and gradient ∂f/∂node",
          ("forward", "gradients"), (), circuit=True),
    Level("conv", "a 2 × 2 convolution of a 4 × 4 image: the output, ∂E/∂kernel, ∂E/∂bias and "
          "∂E/∂input", (), (), layered=True),
    Level("pool", "2 × 2 max pooling of a 4 × 4 map: the output and where the gradient goes",
          (), (), layered=True),
    Level("batchnorm", "batch norm of a batch of four: the output, ∂E/∂γ, ∂E/∂β and the "
          "three-term ∂E/∂x", (), (), layered=True),
    Level("cnn", "conv → relu → max pool → linear → softmax: the maps, the probabilities, the "
          "loss and every gradient", (), (), layered=True),
    Level("rnn", "a recurrent unit over three steps, backpropagated through time: the states, "
          "the predictions, ∂E/∂h_t (direct and recurrent) and every gradient", (), (),
          layered=True),
    Level("lstm", "an LSTM cell over two steps: the cell, ∂E/∂c_t and every gate's gradient",
          (), (), layered=True),
    Level("attention", "one head of self-attention over three positions: the weights, the "
          "output, ∂E/∂V, ∂E/∂S (the softmax's Jacobian) and ∂E/∂x", (), (), layered=True),
    Level("layernorm", "layer norm of two examples: the output, ∂E/∂γ, ∂E/∂β and the "
          "three-term ∂E/∂x over each example's features", (), (), layered=True),
    Level("embedding", "an embedding table: the predictions and the rows' gradients (a "
          "repeated token's summed)", (), (), layered=True),
)}


# What --ask names (a teacher's words) → the sections asked, in SECTIONS' order.
ASKABLE = {"forward": "forward", "outputs": "outputs", "loss": "loss", "deltas": "deltas",
           "output-deltas": "output_deltas", "gradients": "gradients",
           "output-gradients": "output_gradients", "updates": "updated"}


def ask_level(level: Level, ask) -> Level:
    """``level`` asking the quantities ``ask`` names (``"forward,deltas"`` or a list)."""
    from chainrule.exercises.model import ExerciseError

    names = [n.strip().replace("_", "-") for n in (ask.split(",") if isinstance(ask, str)
                                                    else ask)]
    names = [n for n in names if n]
    if level.circuit or level.layered:
        raise ExerciseError(f"ask: level {level.name} asks its own quantities; --ask is for "
                            f"the network levels ({', '.join(n for n, l in LEVELS.items() if not (l.circuit or l.layered))})")
    unknown = [n for n in names if n not in ASKABLE]
    if unknown or not names:
        raise ExerciseError(f"ask: expected some of {', '.join(ASKABLE)} (comma-separated), "
                            f"got {','.join(unknown) or 'nothing'}")
    chosen = {ASKABLE[n] for n in names}
    return dataclasses.replace(level, sections=tuple(s for s in SECTIONS if s in chosen))


def question_keys(level: Level, truth: dict[str, np.ndarray], depth: int) -> list[str]:
    """The quantities asked, element by element: ``["gradients.W1[0,0]", ...]``."""
    keys: list[str] = []
    for section in level.sections:
        for name in _section_names(section, truth, depth):
            keys += _elements(name, truth[name])
    return keys


def _section_names(section: str, truth: dict[str, np.ndarray], depth: int) -> list[str]:
    parameters = [k.split(".", 1)[1] for k in truth if k.startswith("gradients.")]
    if section == "forward":
        return [f"forward.{kind}{l}" for l in range(1, depth + 1) for kind in ("z", "a")]
    if section == "outputs":
        return [f"forward.a{depth}"]
    if section == "loss":
        return ["forward.loss"]
    if section == "deltas":
        return [f"backward.delta{l}" for l in range(depth, 0, -1)]
    if section == "output_deltas":
        return [f"backward.delta{depth}"]
    if section == "output_gradients":
        return [f"gradients.{p}" for p in parameters if int(p[1:]) == depth]
    return [f"{section}.{p}" for p in parameters]  # gradients, updated


def _elements(name: str, values: np.ndarray) -> list[str]:
    shape = np.shape(values)
    if not shape:
        return [name]
    return [f"{name}[{','.join(map(str, index))}]" for index in np.ndindex(shape)]


def split_key(key: str) -> tuple[str, tuple[int, ...]]:
    """``"gradients.W1[1,0]"`` → ``("gradients.W1", (1, 0))``."""
    name, _, rest = key.partition("[")
    return name, tuple(int(i) for i in rest.rstrip("]").split(",")) if rest else ()


def describe(key: str, batched: bool, shared_bias: bool,
             softmax_layer: int | None = None) -> tuple[Symbol, str, str]:
    """(symbol, prompt, prompt in LaTeX) of one question, units and examples from 1."""
    name, index = split_key(key)
    section, _, what = name.partition(".")
    symbol = element_symbol(name, index, batched, shared_bias)
    if name == "forward.loss":
        tail = " (the mean over the batch)" if batched else ""
        return symbol, f"the loss E{tail}", f"the loss $E${tail}"
    if section in ("forward", "backward"):
        letter = "delta" if what.startswith("delta") else what[0]
        layer = int(what[len(letter):] if letter == "delta" else what[1:])
        example, unit = (index[0], index[1]) if batched else (None, index[0])
        of = f" of example {example + 1}" if example is not None else ""
        words = {"z": "the net input", "a": "the activation", "delta": "the delta"}[letter]
        if letter == "a" and layer == softmax_layer:
            words = "the probability"
        z = quantity("z", layer, unit, example=example)
        extra = f" = ∂E/∂{z.text}" if letter == "delta" else ""
        extra_latex = rf" = \partial E / \partial {z.latex}" if letter == "delta" else ""
        return (symbol, f"{words} {symbol.text}{extra}{of}",
                f"{words} ${symbol.latex}{extra_latex}${of}")
    theta = parameter_symbol(what, index, shared_bias and what.startswith("b"))
    if section == "gradients":
        return symbol, f"the gradient {symbol.text}", f"the gradient ${symbol.latex}$"
    return (symbol, f"the updated {theta.text}, after one step of gradient descent",
            f"the updated ${theta.latex}$, after one step of gradient descent")


def label(number: int, position: int) -> str:
    """The printed label of a question: 1a, 1b, …, 1z, 1aa, 1ab, …"""
    letters = ""
    position += 1
    while position:
        position, rest = divmod(position - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return f"{number}{letters}"
