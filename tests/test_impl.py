"""Running someone's own backprop function: every way it can break gets a one-line report."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ChainruleError
from chainrule.verify.impl import ImplError, run_impl
from tests.test_answers import row


# --- running an implementation: failure modes ------------------------------------------------


def impl(tmp_path, body: str, name: str = "impl.py") -> str:
    path = tmp_path / name
    path.write_text("import numpy as np\n\n" + textwrap.dedent(body))
    return str(path)


def one_line_impl_error(spec, target, **options) -> str:
    with pytest.raises(ImplError) as error:
        run_impl(spec, target, **options)
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message, message
    assert isinstance(error.value, ChainruleError)
    return message


def test_impl_exception_reports_the_users_line(tmp_path):
    path = impl(tmp_path, """
        def step(params, x, t, learning_rate):
            scale = 0
            return {"loss": helper(scale)}

        def helper(scale):
            return 1 / scale
    """)
    message = one_line_impl_error("seed", f"{path}:step")
    assert message == (f"{path}:step: step() raised ZeroDivisionError: division by zero "
                       f"(impl.py:9 in helper: return 1 / scale)")


def test_impl_exception_inside_numpy_points_at_the_users_call(tmp_path):
    path = impl(tmp_path, """
        def step(params, x, t, learning_rate):
            return {"loss": float(np.dot(params["W1"], np.ones(3)))}
    """)
    message = one_line_impl_error("seed", f"{path}:step")
    assert "ValueError: shapes (2,2) and (3,) not aligned" in message
    assert message.endswith("(impl.py:5 in step: return {\"loss\": float(np.dot(params[\"W1\"], "
                            "np.ones(3)))})")


def test_impl_timeout(tmp_path):
    path = impl(tmp_path, """
        import time

        def step(params, x, t, learning_rate):
            time.sleep(60)
    """)
    message = one_line_impl_error("seed", f"{path}:step", timeout=1.0)
    assert "no result within 1 s, so it was stopped" in message


def test_impl_file_and_function_not_found(tmp_path):
    assert "no such file" in one_line_impl_error("seed", f"{tmp_path}/nope.py:step")
    path = impl(tmp_path, "def stepp(params, x, t, learning_rate):\n    return {}\n")
    message = one_line_impl_error("seed", f"{path}:step")
    assert message.endswith("no function 'step' in impl.py (functions defined there: stepp)")


def test_impl_syntax_error_and_import_error(tmp_path):
    path = impl(tmp_path, "def step(params, x, t, learning_rate)\n    return {}\n")
    assert "syntax error at impl.py:3: expected ':'" in one_line_impl_error("seed", path)
    path = impl(tmp_path, "import not_a_module_anywhere\n", name="broken.py")
    message = one_line_impl_error("seed", path)
    assert "importing broken.py raised ModuleNotFoundError: No module named " \
           "'not_a_module_anywhere' (broken.py:3 in <module>" in message


@pytest.mark.parametrize("returned, message", [
    ("[1, 2]", "step() returned list, expected a dict with \"gradients\", \"updated\""),
    ("{}", "step() returned an empty dict"),
    ("{'update': {}}", "step() returned unknown key \"update\" (expected \"forward\", "
                       "\"backward\", \"gradients\", \"updated\", \"loss\", \"loss_after\")"),
    ("{'updated': {'W3': params['W1']}}", "step()[\"updated\"][\"W3\"]: no parameter W3 "
                                          "(this network has W1, b1, W2, b2)"),
    ("{'gradients': params['W1']}", "step()[\"gradients\"] is an array, expected a dict"),
    ("{'loss': 'high'}", "step()['loss'] is 'high': not a number or an array of numbers"),
    ("{'loss': None}", "step()['loss'] is None: not a number"),
])
def test_impl_bad_return_values(tmp_path, returned, message):
    path = impl(tmp_path, f"def step(params, x, t, learning_rate):\n    return {returned}\n")
    assert message in one_line_impl_error("seed", path)


def test_impl_wrong_shape_and_non_finite_numbers_are_rows(tmp_path):
    path = impl(tmp_path, """
        def step(params, x, t, learning_rate):
            return {"updated": {"b1": params["b1"].reshape(1, 2), "W2": params["W2"].T},
                    "gradients": {"b2": np.array([np.nan])}, "loss": np.array([0.0004273090])}
    """)
    report = run_impl("seed", path)
    assert row(report, "updated.b1").note.startswith("shape (1, 2), expected (2,)")
    assert row(report, "updated.W2").note.startswith("shape (1, 2), expected (2, 1)")
    assert row(report, "gradients.b2[0]").note == "not a finite number"
    assert row(report, "gradients.b2[0]").given == "nan"
    assert row(report, "forward.loss").status == "correct"  # a one-element array is a number
    json.dumps(report.to_dict())


def test_impl_cannot_change_our_parameters_and_prints_do_not_matter(tmp_path):
    path = impl(tmp_path, """
        def step(params, x, t, learning_rate):
            print("hello from the student")
            params["W1"][...] = 99.0
            return {"loss": 0.000427309}
    """)
    spec = cr.load_spec("seed")
    before = spec.weights[0].copy()
    assert run_impl(spec, path).ok  # "impl.py" alone means impl.py:step
    np.testing.assert_array_equal(spec.weights[0], before)


def test_impl_refuses_specs_it_cannot_express(tmp_path):
    path = impl(tmp_path, "def step(params, x, t, learning_rate):\n    return {}\n")
    data = dict(EXTRA_SEED, optimizer={"weight_decay": 0.1}, frozen=["b1"])
    message = one_line_impl_error(data, path)
    assert "gets only the learning rate" in message and "weight decay 0.1" in message
    assert "frozen parameters (b1)" in message


EXTRA_SEED = {"layers": [2, 2, 1], "activations": "sigmoid", "loss": "sse",
              "weights": [[[0.2, 0.4], [0.1, 0.3]], [[0.5], [0.6]]], "biases": [[0.1, 0.2], [0.1]],
              "input": [0.5, 0.3], "target": [0.7], "learning_rate": 0.1}


# --- a step of any depth, returning its intermediates ----------------------------------------

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEEP_STEP = '''
import numpy as np

ACTIVATIONS = ("relu", "tanh", "sigmoid")
SLIP = {slip!r}  # the layer whose tanh' is left out, or None


def f(name, z):
    return {{"relu": lambda: np.maximum(z, 0), "tanh": lambda: np.tanh(z),
            "sigmoid": lambda: 1 / (1 + np.exp(-z))}}[name]()


def slope(name, z, a):
    return {{"relu": lambda: (z > 0) * 1.0, "tanh": lambda: 1 - a ** 2,
            "sigmoid": lambda: a * (1 - a)}}[name]()


def step(params, x, t, learning_rate):
    depth = len(ACTIVATIONS)
    a, forward = x, {{}}
    for l in range(1, depth + 1):
        z = a @ params[f"W{{l}}"] + params[f"b{{l}}"]
        a = f(ACTIVATIONS[l - 1], z)
        forward[f"z{{l}}"], forward[f"a{{l}}"] = z, a
    delta = a - t  # sigmoid + bce from the logits
    backward, grads = {{}}, {{}}
    for l in range(depth, 0, -1):
        backward[f"delta{{l}}"] = delta
        before = x if l == 1 else forward[f"a{{l - 1}}"]
        grads[f"W{{l}}"], grads[f"b{{l}}"] = np.outer(before, delta), delta
        if l > 1:
            up = delta @ params[f"W{{l}}"].T
            name = ACTIVATIONS[l - 2]
            z, a = forward[f"z{{l - 1}}"], forward[f"a{{l - 1}}"]
            delta = up if l - 1 == SLIP else up * slope(name, z, a)
    return {{"forward": forward, "backward": backward, "gradients": grads,
            "updated": {{k: params[k] - learning_rate * g for k, g in grads.items()}}}}
'''


def test_a_deep_step_returning_intermediates_is_judged_to_the_first_that_parts(tmp_path):
    path = tmp_path / "deep.py"
    path.write_text(DEEP_STEP.format(slip=None))
    assert run_impl(cr.load_spec(EXAMPLES / "deep.json"), f"{path}:step").ok
    path.write_text(DEEP_STEP.format(slip=2))  # tanh' left out at layer 2 only
    report = run_impl(cr.load_spec(EXAMPLES / "deep.json"), f"{path}:step")
    assert not report.ok
    # the forward pass and the output's delta are right; the error begins at δ²
    assert report.first_wrong["quantity"].startswith("backward.delta2")
    statuses = {row.quantity: row.status for row in report.rows}
    assert all(s == "correct" for q, s in statuses.items() if q.startswith("forward."))
    assert all(s == "correct" for q, s in statuses.items() if q.startswith("backward.delta3"))
    # what follows from the wrong δ² is worked right: carried, not blamed again
    assert statuses["gradients.W2[0][0]"] == "carried"
    # the slope left out in layer 2 only: made throughout it would have changed δ¹ too
    # (missing_hidden_derivative needs a slope at the output, which bce from the logits has not)
    assert report.diagnosis.id == "missing_activation_derivative"
    assert report.diagnosis.layer == 2
    assert report.candidates == ("missing_activation_derivative@layer2",)


def test_an_intermediate_the_network_has_not_is_one_line(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text("def step(params, x, t, learning_rate):\n"
                    "    return {'forward': {'z9': 1.0}}\n")
    with pytest.raises(ImplError, match=r'step\(\)\["forward"\]\["z9"\]: no forward quantity '
                                        r"z9 \(this network has z1, a1, z2, a2, loss\)"):
        run_impl(cr.load_spec("seed"), f"{path}:step")
