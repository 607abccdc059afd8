"""The terminal's width: the text follows it, formulas break at their operators, and a file
keeps the 100 columns it always had."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chainrule.explain.render.wrap import wrap_formula

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _explain(*args: str, columns: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns:
        env["COLUMNS"] = columns
    done = subprocess.run([sys.executable, "-m", "chainrule", "explain", *args],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("columns", [60, 80])
def test_text_follows_the_terminal_width(columns):
    out = _explain(str(EXAMPLES / "batch.json"), columns=str(columns))
    assert max(len(line) for line in out.splitlines()) <= columns
    assert "────" in out  # the rules are drawn, to the width


def test_a_pipe_keeps_100_columns():
    out = _explain(columns=None)
    assert max(len(line) for line in out.splitlines()) <= 100
    assert any(len(line) > 80 for line in out.splitlines())


def test_formulas_break_before_operators_and_never_inside_a_number():
    text = " + ".join(f"({i}.2500)(-0.{i}125)" for i in range(1, 9))
    lines = wrap_formula(text, 40, 6)
    assert all(len(line) <= 40 for line in lines)
    assert all(line.startswith("      + ") for line in lines[1:])
    assert " ".join(" ".join(lines).split()) == text  # nothing lost, nothing added
    assert wrap_formula("short", 40, 6) == ["short"]
    assert wrap_formula("x" * 50, 40, 6) == ["x" * 50]  # an unbreakable piece stays whole
