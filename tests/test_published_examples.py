"""Published worked examples of backpropagation through time and of an LSTM step
(docs/worked-examples.md): recomputed here with scalars and math.tanh, independently of
chainrule, then held to chainrule's engine on the shipped specs — the published digits that
are right, and the ones that are not."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.verify.layered import EngineStep

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def test_the_bptt_walkthrough_recomputed_and_its_errata():
    wx, wh, wy, x, t = 0.5, 0.1, 2.0, [1.0, 2.0], [1.0, 2.0]
    h1 = math.tanh(wx * x[0])
    a2 = wx * x[1] + wh * h1
    h2 = math.tanh(a2)
    y = [wy * h1, wy * h2]
    loss = sum(0.5 * (a - b) ** 2 for a, b in zip(y, t))
    # backward: h2's direct path, h1's direct and recurrent paths
    dh2 = (y[1] - t[1]) * wy
    dz2 = dh2 * (1 - h2 ** 2)
    dh1 = (y[0] - t[0]) * wy + dz2 * wh
    dz1 = dh1 * (1 - h1 ** 2)
    grads = {"wx": dz1 * x[0] + dz2 * x[1], "wh": dz2 * h1,
             "wy": (y[0] - t[0]) * h1 + (y[1] - t[1]) * h2}
    assert round(a2, 6) == 1.046212
    assert round(h2, 5) == 0.78033 and round(h2, 4) != 0.7790  # the post's h2 is off
    assert round(loss, 5) == 0.09938 and round(loss, 4) != 0.1007  # and so is its loss
    assert (round(grads["wx"], 4), round(grads["wh"], 4), round(grads["wy"], 4)) == (
        -0.8335, -0.1588, -0.3778)

    step = EngineStep(cr.load_spec(str(EXAMPLES / "bptt-walkthrough.yaml")))
    v = step.values
    assert float(v["loss"]) == pytest.approx(loss, rel=1e-14)
    np.testing.assert_allclose(v["forward.0"][0, :, 0], [h1, h2], rtol=1e-14)
    np.testing.assert_allclose(v["inside.0.dh"][0, :, 0], [dh1, dh2], rtol=1e-13)
    assert float(v["gradients.0.weight_ih_l0"][0, 0]) == pytest.approx(grads["wx"], rel=1e-13)
    assert float(v["gradients.0.weight_hh_l0"][0, 0]) == pytest.approx(grads["wh"], rel=1e-13)
    assert float(v["gradients.1.weight"][0, 0]) == pytest.approx(grads["wy"], rel=1e-13)


GATES = {"i": [[0.2, 0.1, 0.3, 0.4], [0.3, 0.2, 0.1, 0.5]],
         "f": [[0.5, 0.3, 0.1, 0.2], [0.1, 0.4, 0.2, 0.3]],
         "g": [[0.4, 0.2, 0.1, 0.3], [0.2, 0.5, 0.3, 0.1]],
         "o": [[0.1, 0.3, 0.2, 0.4], [0.4, 0.1, 0.3, 0.2]]}


def test_the_lstm_cell_step_recomputed_and_its_erratum():
    combined = [1.0, 0.5, 0.0, 0.0]
    z = {k: [sum(w * v for w, v in zip(row, combined)) for row in rows]
         for k, rows in GATES.items()}
    i, f, o = ([_sigmoid(v) for v in z[k]] for k in "ifo")
    g = [math.tanh(v) for v in z["g"]]
    c = [a * b for a, b in zip(i, g)]
    tanh_c = [math.tanh(v) for v in c]
    h = [a * b for a, b in zip(o, tanh_c)]
    published = {"f": [0.657, 0.574], "i": [0.562, 0.599], "g": [0.462, 0.422],
                 "o": [0.562, 0.611], "c": [0.260, 0.253], "h": [0.143, 0.151]}
    ours = {"f": f, "i": i, "g": g, "o": o, "c": c, "h": h}
    for name, values in published.items():
        assert [round(v, 3) for v in ours[name]] == values, name
    assert [round(v, 3) for v in tanh_c] == [0.254, 0.247]  # published: [0.254, 0.248]
    assert round(math.tanh(round(c[1], 3)), 3) == 0.248  # the rounded c carried forward

    spec = cr.load_spec(str(EXAMPLES / "lstm-cell-step.yaml"))
    step = EngineStep(spec)
    np.testing.assert_allclose(step.values["forward.0"][0, 0], h, rtol=1e-14)
    np.testing.assert_allclose(step.values["inside.0.c"][0, 0], c, rtol=1e-14)
    # the backward the spec adds, E = ½ Σ h²: ∂E/∂c = h ⊙ o ⊙ (1 − tanh² c)
    dc = [hh * oo * (1 - tc ** 2) for hh, oo, tc in zip(h, o, tanh_c)]
    np.testing.assert_allclose(step.values["inside.0.dc"][0, 0], dc, rtol=1e-13)
    trace = cr.explain(str(EXAMPLES / "lstm-cell-step.yaml"))
    assert all(p.check is not False for layer in trace.steps[0].layers for p in layer.pieces)
