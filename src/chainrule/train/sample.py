"""Text from a trained character-level model: one character at a time, each drawn from the
softmax of the logits at the last position read, at a temperature, by a seeded generator.

The model reads windows of its input length L. A prompt shorter than L is placed at the
start of the window (the rest filled with the prompt's last token) and the prediction is read
at the prompt's last position: a causal model (a recurrent layer, or attention with
``is_causal``) never looks at positions after the one it predicts, so the filling changes
nothing. A model with attention that is not causal would read the filling, so it is refused.
Once the text is L characters long, the window is its last L characters.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from chainrule.errors import ChainruleError

MAX_SAMPLE = 10_000  # characters generated at most


def check_causal(spec) -> None:
    from chainrule.spec.layered import flat_layers

    for layer in flat_layers(spec.layers):
        if layer.type == "MultiheadAttention" and not layer.options["is_causal"]:
            raise ChainruleError(f"--sample: {layer.path} attends to later positions "
                                 f"(is_causal is false), so a window's filling would change "
                                 f"what it predicts; make it causal to sample text")


def check_options(vocabulary: Sequence[str], prompt: str, count: int,
                  temperature: float) -> None:
    """The sampling options, checked before any training: each bad one is one line."""
    if not 0 <= count <= MAX_SAMPLE:
        raise ChainruleError(f"--sample: expected 0 to {MAX_SAMPLE:,} characters, got {count}")
    if not temperature > 0 or not np.isfinite(temperature):
        raise ChainruleError(f"--temperature: expected a number > 0, got {temperature}")
    unknown = sorted(set(prompt) - set(vocabulary))
    if not prompt or unknown:
        raise ChainruleError(f"--prompt: expected characters of the text, got {prompt!r}"
                             + (f" ({', '.join(map(repr, unknown))} not in it)" if unknown
                                else ""))


def sample(model, vocabulary: Sequence[str], prompt: str, count: int, *,
           temperature: float = 0.8, seed: int = 0) -> str:
    """``count`` characters after ``prompt`` (whose characters must be in ``vocabulary``)."""
    from chainrule.autodiff.engine import no_grad

    check_options(vocabulary, prompt, count, temperature)
    index = {c: i for i, c in enumerate(vocabulary)}
    length = int(model.input_shape[0])
    tokens = [index[c] for c in prompt]
    rng = np.random.default_rng(seed)
    training = model.training
    model.eval()
    try:
        with no_grad():
            for _ in range(count):
                window = tokens[-length:]
                last = len(window) - 1
                window = window + [window[-1]] * (length - len(window))
                z, _, _ = model.head(np.array([window], dtype=float))
                logits = np.asarray(z.data[0, last], dtype=float)
                # shifted first: ≤ 0 before the division, so a tiny temperature only
                # sends the others to −∞ (probability 0), never to NaN
                with np.errstate(over="ignore", divide="ignore"):
                    p = np.exp((logits - logits.max()) / temperature)
                tokens.append(int(rng.choice(len(p), p=p / p.sum())))
    finally:
        model.train(training)
    return "".join(vocabulary[t] for t in tokens[len(prompt):])
