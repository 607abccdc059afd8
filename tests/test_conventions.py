"""What the worked example says of its own conventions: the 1/N a batch mean puts in every δ,
the softmax/cross-entropy and sigmoid/bce shortcut δ = a − t beside the product it simplifies,
the softmax forward pass with its numbers, and where the weights came from."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.explain.numfmt import Significant

BATCH = {"layers": [2, 3], "activations": "softmax", "loss": "cross_entropy",
         "learning_rate": 0.5, "inputs": [[0.5, -1.0], [2.0, 0.25]], "targets": [2, 0],
         "seed": 3}


def _text(spec, digits=Significant(6)):
    return cr.render(cr.explain(spec), "text", precision=digits, width=200)


def test_a_batch_says_each_delta_includes_the_mean():
    assert "so each example's δ already includes the 1/2 of that mean" in _text(BATCH)
    assert "already includes" not in _text("seed")


@pytest.mark.parametrize("spec, words, scale", [
    (BATCH, "softmax with cross-entropy", 2),
    ({"layers": [2, 2], "activations": "sigmoid", "loss": "bce", "learning_rate": 0.1,
      "input": [0.5, -0.3], "target": [1.0, 0.0], "seed": 1}, "sigmoid with binary", 2),
])
def test_the_shortcut_is_shown_with_the_deltas_numbers(spec, words, scale):
    trace = cr.explain(spec)
    text = _text(spec)
    assert f"For {words}" in text and f"(a¹ⱼ − tⱼ)/{scale}" in text
    a = np.atleast_2d(trace.forward["a1"])
    t = np.atleast_2d(np.eye(3)[spec["targets"]] if "targets" in spec else spec["target"])
    deltas = np.atleast_2d(trace.backward["delta1"])
    np.testing.assert_allclose((a - t) / scale, deltas, rtol=1e-12)
    for value in ((a - t) / scale).ravel():  # each shortcut line ends in the delta's value
        assert f"/{scale} = {_six(value)}" in text


def _six(value: float) -> str:
    from chainrule.explain.numfmt import number

    return number(value, Significant(6))


def test_no_shortcut_where_the_product_does_not_simplify():
    assert "the product simplifies" not in _text("seed")


def test_the_softmax_forward_pass_has_its_numbers():
    text = _text(BATCH)
    z = np.atleast_2d(cr.explain(BATCH).forward["z1"])[0]
    exps = " + ".join(f"e^({_six(v)})" if v < 0 else f"e^{_six(v)}" for v in z)
    assert f"/ ({exps}) = {_six(math.exp(z[2]) / np.exp(z).sum())}" in text


def test_drawn_weights_are_said_with_their_seed():
    text = _text({"layers": [2, 3, 1], "activations": ["relu", "sigmoid"], "loss": "mse",
                  "learning_rate": 0.5, "input": [1, 2], "target": [0.5], "seed": 7})
    assert ("The spec gives no weights: they were drawn at random by he_normal and "
            "xavier_uniform (the default for these activations), seed 7") in " ".join(text.split())
    assert "drawn at random" not in _text("seed")  # the seed network gives its weights
