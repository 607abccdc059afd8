"""The seed exercise (shared/seed/backprop-exercise.md), computed correctly.

Reference numbers were worked by hand from the exercise's network and checked to 1e-9. The
exercise's own notebook is wrong in three places, which these tests pin as *not* reproduced:
its training loop adds the gradient (ascends); its printed updates do not follow from its
printed gradients; its b1 update broadcasts to shape (1, 2).
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

TOL = dict(rtol=0, atol=1e-9)

EXPECTED = {
    ("forward", "a1"): [0.5572478546, 0.6201064323],
    ("forward", "a2"): [0.6793285460],
    ("forward", "loss"): 0.0004273090,
    ("gradients", "W2"): [[-0.0050186810], [-0.0055847974]],
    ("gradients", "b2"): [-0.0090061917],
    ("gradients", "W1"): [[-0.0005555079, -0.0006364886], [-0.0003333048, -0.0003818931]],
    ("gradients", "b1"): [-0.0011110159, -0.0012729772],
    ("updated", "W1"): [[0.2000555508, 0.4000636489], [0.1000333305, 0.3000381893]],
    ("updated", "W2"): [[0.5005018681], [0.6005584797]],
    ("updated", "b1"): [0.1001111016, 0.2001272977],
    ("updated", "b2"): [0.1009006192],
}


@pytest.fixture(scope="module")
def trace() -> cr.Trace:
    return cr.explain("seed")


@pytest.mark.parametrize("where, name", list(EXPECTED), ids=lambda k: str(k))
def test_seed_numbers(trace, where, name):
    values = getattr(trace, where)[name]
    expected = np.array(EXPECTED[where, name])
    assert np.shape(values) == expected.shape  # b1 stays (2,), not the notebook's (1, 2)
    np.testing.assert_allclose(values, expected, **TOL)


def test_seed_loss_goes_down(trace):
    assert trace.loss_after == pytest.approx(0.0004132980, abs=1e-9)
    assert trace.loss_after < trace.loss


def test_update_descends_along_the_gradient(trace):
    for name, before in trace.parameters.items():
        np.testing.assert_allclose(trace.updated[name],
                                   before - 0.1 * trace.gradients[name], rtol=0, atol=1e-15)


def test_notebook_updates_are_not_reproduced(trace):
    # The notebook prints W1 = [[0.20005613, 0.40006431], ...] and b2 = 0.10090993 after
    # its "manual" update; those do not follow from its own gradients.
    assert abs(trace.updated["W1"][0, 0] - 0.20005613) > 1e-7
    assert abs(trace.updated["b2"][0] - 0.10090993) > 1e-7
    # Ascending (the notebook's training loop) would raise W1[0, 0] below 0.2 here.
    assert trace.updated["W1"][0, 0] > 0.2


def test_seed_through_the_python_api():
    """The same step written as a PyTorch user would, without spec or trace."""
    model = cr.nn.MLP([2, 2, 1], "sigmoid", weights=[[[0.2, 0.4], [0.1, 0.3]], [[0.5], [0.6]]],
                      biases=[[0.1, 0.2], [0.1]])
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1)
    loss = cr.nn.sse(model([0.5, 0.3]), [0.7])
    loss.backward()
    optimizer.step()
    np.testing.assert_allclose(loss.item(), 0.0004273090, **TOL)
    np.testing.assert_allclose(model.parameter("W1").data,
                               EXPECTED["updated", "W1"], **TOL)
    np.testing.assert_allclose(model.parameter("b2").data, EXPECTED["updated", "b2"], **TOL)


def test_seed_backward_quantities(trace):
    # ∂E/∂y = 2(y − t); δ2 = ∂E/∂y · y(1 − y); δ1 = σ'(z1) ⊙ (W2 δ2)
    y = trace.forward["a2"]
    np.testing.assert_allclose(trace.backward["dE_da2"], 2 * (y - 0.7), rtol=1e-15)
    np.testing.assert_allclose(trace.backward["delta2"], 2 * (y - 0.7) * y * (1 - y),
                               rtol=1e-14)
    h = trace.forward["a1"]
    np.testing.assert_allclose(trace.backward["delta1"],
                               h * (1 - h) * (trace.parameters["W2"] @ trace.backward["delta2"]),
                               rtol=1e-14)
