"""A network too large to list unit by unit is summed up, not dumped: per-layer matrices (or
a line for a matrix too large to read), each parameter's largest gradients and changes with
their chains, --param anywhere, --example N of a batch."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ChainruleError
from chainrule.explain.numfmt import Significant


@pytest.fixture(scope="module")
def digits_step():
    model = cr.nn.MLP([64, 64, 10], ["tanh", "softmax"], seed=5)
    x = np.random.default_rng(0).normal(size=64)
    return cr.explain(model, input=x, target=3, loss="cross_entropy", learning_rate=0.1)


def test_a_64_64_10_step_is_a_page_not_thousands_of_lines(digits_step):
    text = cr.render(digits_step, "text", precision=Significant(4))
    assert len(text.splitlines()) < 200
    assert "W1: 64×64 numbers, from " in text and "(all of them: --format json)" in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_the_largest_gradients_are_shown_with_their_chains(digits_step):
    text = cr.render(digits_step, "text", precision=Significant(6), width=200)
    grad = digits_step.gradients["W1"]
    i, j = np.unravel_index(np.argmax(np.abs(grad)), grad.shape)
    symbol = f"∂E/∂w¹{_sub(i + 1, j + 1)}"
    line = next(line for line in text.splitlines() if line.strip().startswith(symbol + " = δ"))
    assert line.rstrip().endswith(f"= {_six(grad[i, j])}")


def _sub(i: int, j: int) -> str:
    table = str.maketrans("0123456789,", "₀₁₂₃₄₅₆₇₈₉,")
    return (f"{i},{j}" if i > 9 or j > 9 else f"{i}{j}").translate(table)


def _six(value: float) -> str:
    from chainrule.explain.numfmt import number

    return number(value, Significant(6))


def test_param_focuses_anywhere_in_a_large_network(digits_step):
    text = cr.render(digits_step, "text", param="w^2_{30,7}", width=200)
    assert "∂E/∂w²₃₀,₇ (W2[29,6] in NumPy, from 0): the derivation of one gradient" in text
    expected = digits_step.gradients["W2"][29, 6]
    assert f"= {_six(expected)}" in cr.render(digits_step, "text", param="W2[29,6]",
                                               precision=Significant(6), width=200)


BATCH = {"layers": [2, 3, 2], "activations": ["tanh", "sigmoid"], "loss": "mse",
         "learning_rate": 0.1, "seed": 2, "inputs": [[0.1, 0.2], [0.3, -0.4], [1.0, 0.5]],
         "targets": [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]]}


def test_example_n_writes_out_one_example_of_a_batch():
    trace = cr.explain(BATCH)
    every = cr.render(trace, "text")
    assert "z¹⁽¹⁾₁ =" in every and "z¹⁽³⁾₁ =" in every
    second = cr.render(trace, "text", example=2)
    assert "z¹⁽²⁾₁ =" in second and "z¹⁽¹⁾₁ =" not in second and "z¹⁽³⁾₁ =" not in second
    for bad in (0, 4, True):
        with pytest.raises(ChainruleError, match=r"--example: expected 1 to 3"):
            cr.render(trace, "text", example=bad)
    with pytest.raises(ChainruleError, match="one example, not a batch"):
        cr.render(cr.explain("seed"), "text", example=1)
