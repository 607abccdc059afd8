"""The command line as a user runs it: output, JSON, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=60)


def test_explain_seed_shows_four_significant_digits_by_default():
    """0.2000 and 0.0007123 alike: a small gradient keeps its digits, and the header says the
    numbers are rounded for display."""
    result = run("explain")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "numbers computed in float64, shown to 4 significant digits" in " ".join(out.split())
    for expected in ("a¹₁ = σ(z¹₁) = σ(0.2300) = 0.5572", "E = (0.6793 − 0.7000)² = 0.0004273",
                     "∂E/∂W1  [[-0.0005555, -0.0006365]",
                     "w¹₁₁ ← w¹₁₁ − η·∂E/∂w¹₁₁ = 0.2000 − 0.1·(-0.0005555) = 0.2001",
                     "The loss is lower by 1.401e-05: 0.0004273 → 0.0004133."):
        assert expected in out, expected
    six = run("explain", "--sig", "6").stdout
    assert "σ(0.230000) = 0.557248" in six
    assert "shown to 6 significant digits" in " ".join(six.split())
    both = run("explain", "--sig", "3", "--precision", "2")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


def test_explain_seed_prints_labelled_values():
    result = run("explain", "--precision", "10")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in ("a¹₁ = σ(z¹₁) = σ(0.2300000000) = 0.5572478546", "a²₁ = σ(z²₁)",
                     "0.6793285460", "E = (0.6793285460 − 0.7000000000)² = 0.0004273090",
                     "∂E/∂W1  [[-0.0005555079, -0.0006364886]",
                     "w¹₁₁ ← w¹₁₁ − η·∂E/∂w¹₁₁ = 0.2000000000 − 0.1·(-0.0005555079) = "
                     "0.2000555508", "b2 (new)  [0.1009006192]",
                     "E after the update = 0.0004132980",
                     "The loss is lower by 0.0000140110: 0.0004273090 → 0.0004132980.",
                     "shown to 10 decimals"):
        assert expected in out or expected in " ".join(out.split()), expected
    assert "\x1b[" not in out  # no terminal styling when the output is a pipe


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("chainrule")
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("chainrule ")


def test_explain_json_follows_the_trace_schema():
    result = run("explain", "--format", "json")
    assert result.returncode == 0, result.stderr
    trace = json.loads(result.stdout)
    assert trace["schema"] == "chainrule.trace/1"
    assert list(trace["forward"]) == ["a0", "z1", "a1", "z2", "a2", "loss"]
    assert trace["forward"]["a0"] == [0.5, 0.3]  # one example: 1-D lists
    assert trace["forward"]["loss"] == pytest.approx(0.0004273090, abs=1e-10)
    assert set(trace["gradients"]) == set(trace["updated"]) == {"W1", "b1", "W2", "b2"}
    assert trace["updated"]["b1"] == pytest.approx([0.1001111016, 0.2001272977], abs=1e-10)
    assert trace["loss_after"] == pytest.approx(0.0004132980, abs=1e-10)


def test_explain_a_batch_spec_file():
    result = run("explain", str(EXAMPLES / "batch.json"), "--format", "json")
    assert result.returncode == 0, result.stderr
    trace = json.loads(result.stdout)
    assert len(trace["forward"]["a1"]) == 4 and len(trace["forward"]["a1"][0]) == 3
    losses = trace["forward"]["example_losses"]
    assert trace["forward"]["loss"] == pytest.approx(sum(losses) / 4, rel=1e-14)
    assert trace["loss_after"] < trace["forward"]["loss"]


def test_seed_example_file_matches_the_built_in_network():
    from_file = json.loads(run("explain", str(EXAMPLES / "seed.json"), "--format", "json").stdout)
    built_in = json.loads(run("explain", "seed", "--format", "json").stdout)
    assert from_file["updated"] == built_in["updated"]


BAD_SPECS = [
    ({"weights": [[[0.2, 0.4], [0.1, 0.3]], [[0.5, 0.6]]]},
     "weights[1]: expected shape (2, 1) for layer 2 (2 → 1 units), got (1, 2)"),
    ({"activations": "sigmod"},
     "activations: unknown activation 'sigmod' (did you mean 'sigmoid'?)"),
    ({"loss": "hinge"}, "loss: unknown loss 'hinge'"),
    ({"learning_rat": 0.1}, "learning_rat: unknown field (did you mean 'learning_rate'?)"),
    ({"target": [0.7, 0.1]}, "target: expected shape (1,)"),
    ({"input": [0.5]}, "input: expected 2 values (layer sizes [2, 2, 1]), got shape (1,)"),
    ({"biases": [[0.1, "x"], [0.1]]}, "biases[0][1]: expected a number, got a string 'x'"),
    ({"learning_rate": -1}, "learning_rate: expected a positive number"),
    ({"frozen": ["b3"]}, "frozen[0]: no parameter 'b3'"),
]


@pytest.mark.parametrize("change, message", BAD_SPECS, ids=[m.split(":")[0] for _, m in BAD_SPECS])
def test_bad_spec_gives_one_line_and_exit_code_2(tmp_path, change, message):
    spec = json.loads((EXAMPLES / "seed.json").read_text())
    if "learning_rat" in change:
        del spec["learning_rate"]
    spec.update(change)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(spec))
    result = run("explain", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert message in result.stderr


@pytest.mark.parametrize("text, message", [
    ('{"layers": [2, 1],', "bad.json:1:19: invalid JSON: Expecting property name"),
    ('{"layers": [2, 2, 1], "loss": "sse", "weights": [[[NaN, 0.4], [0.1, 0.3]], [[0.5], [0.6]]]}',
     "weights[0][0][0]: expected a finite number, got nan"),
    ('[1, 2]', "spec: expected an object with fields, got a list"),
    ('{"activations": "tanh"}', "layers: required field is missing"),
])
def test_malformed_files(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    result = run("explain", str(path))
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_missing_file_and_bad_option():
    result = run("explain", "no-such.json")
    assert result.returncode == 2
    assert "no-such.json: no such spec file (built-in networks: seed)" in result.stderr
    assert run("explain", "--format", "pdf").returncode == 2
    assert run("explain", "--precision", "40").returncode == 2


def test_the_pages_show_four_significant_digits_by_default():
    """The network page and the graph page take --sig like the text (their scripts write
    significant digits as numfmt does: tests/test_html.py)."""
    import re

    for argv in (["explain", "-f", "html"],
                 ["explain", "--expr", "f = x * y", "--at", "x=2,y=3", "-f", "html"]):
        page = run(*argv).stdout
        assert re.search(r'data-precision="4s"', page), argv
    assert 'data-precision="6s"' in run("explain", "-f", "html", "--sig", "6").stdout
    assert 'data-precision="3"' in run("explain", "-f", "html", "--precision", "3").stdout
