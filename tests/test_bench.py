"""The benchmark suite runs (quick mode, smallest network) and writes valid JSON.

Only that it runs: what it measures is for bench/README.md, never asserted in a test.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_quick_bench_on_the_smallest_network_writes_json(tmp_path):
    pytest.importorskip("threadpoolctl")
    pytest.importorskip("torch")
    output = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--networks", "2-2-1",
         "--skip-cli", "--output", str(output)],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(output.read_text())
    assert report["schema"] == "chainrule.bench/1" and report["quick"] is True
    assert [(r["network"], r["dtype"]) for r in report["results"]] == [
        ("2-2-1", "float64"), ("2-2-1", "float32")]
    for row in report["results"]:
        assert set(row["impls"]) == {"chainrule", "pytorch", "numpy"}
        for result in row["impls"].values():
            assert result["us_per_step"] > 0 and result["peak_memory_bytes"] >= 0
            assert set(result["phases_us"]) == {"forward", "backward", "update"}
        assert row["impls"]["pytorch"]["ratio_vs_pytorch"] == 1.0
    assert report["machine"]["threads"] == 1
    assert all(goal["met"] in (True, False) for goal in report["goals"])
    assert "2-2-1" in done.stdout  # the table was printed


def test_the_numpy_a_b_script_runs_and_names_both_times():
    pytest.importorskip("threadpoolctl")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "versus_numpy.py"), "2-2-1", "--rounds", "1",
         "--dtype", "float32"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("2-2-1 float32: chainrule ")
    assert " µs, numpy " in done.stdout and ", ratio " in done.stdout


def test_the_start_up_script_runs_every_command_beside_numpy():
    """One round only: that it runs and names each command, never how fast."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "startup.py"), "--rounds", "1"],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    for shown in ('python -c "import numpy"', "chainrule --version",
                  "chainrule explain > /dev/null", "chainrule verify seed",
                  "chainrule verify seed --no-cache"):
        assert shown in done.stdout
    assert "≤ 1.5×" in done.stdout and "≤ 6.0×" in done.stdout


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_the_start_up_script_counts_instructions_exactly():
    """Under callgrind with a fixed hash seed the count is the same on every run: that is
    what makes it worth having beside the timed rounds."""
    from bench import startup

    first = startup.instructions(["version"])["commands"]
    second = startup.instructions(["version"])["commands"]
    assert set(first) == {"numpy", "version"}
    for name in first:
        assert first[name]["instructions"] > 10_000_000
        assert abs(first[name]["instructions"] / second[name]["instructions"] - 1) < 0.01
    assert first["numpy"]["ratio"] == 1.0
    # `--version` imports neither NumPy nor the engine
    assert first["version"]["ratio"] < 0.6
    assert "× numpy" in startup.instructions_table({"commands": first})


def test_the_marking_script_times_every_case_once():
    import bench.marking as marking

    result = marking.measure(repeats=1)
    assert result["schema"] == "chainrule.bench.marking/1"
    assert set(result["cases"]) == {"grade_right", "grade_mistake", "sheet_8-8-8-4_mistake",
                                    "sheet_8-8-8-4_noise", "sheet_2-100-100-1_mistake",
                                    "sheet_2-100-100-1_noise"}
    assert result["cases"]["sheet_2-100-100-1_noise"]["answers"] == 21606
    assert all(row["seconds"] > 0 for row in result["cases"].values())


def test_the_cnn_script_starts_both_steps_from_the_same_loss():
    pytest.importorskip("torch")
    pytest.importorskip("threadpoolctl")
    import bench.cnn as cnn

    result = cnn.measure(repeats=1, batch=4, block_seconds=0.01)
    assert result["schema"] == "chainrule.bench.cnn/1"
    assert [(row["network"], row["dtype"]) for row in result["rows"]] == [
        ("small", "float64"), ("small", "float32"), ("digits-cnn", "float64"),
        ("digits-cnn", "float32")]
    # the same weights and data in both: the same loss before the step
    for row in result["rows"]:
        assert row["loss_difference"] < (1e-12 if row["dtype"] == "float64" else 1e-5), row
    assert all(row["chainrule_us"] > 0 and row["pytorch_us"] > 0 for row in result["rows"])


def test_the_sequence_script_starts_both_steps_from_the_same_loss():
    pytest.importorskip("torch")
    pytest.importorskip("threadpoolctl")
    import bench.sequence as sequence

    result = sequence.measure(repeats=1, batch=2, block_seconds=0.01)
    assert result["schema"] == "chainrule.bench.sequence/1"
    assert [(row["network"], row["dtype"]) for row in result["rows"]] == [
        ("char-lstm", "float64"), ("char-lstm", "float32"), ("char-transformer", "float64"),
        ("char-transformer", "float32")]
    # PyTorch's own nn.LSTM and nn.MultiheadAttention with chainrule's weights: the same loss
    for row in result["rows"]:
        assert row["loss_difference"] < (1e-12 if row["dtype"] == "float64" else 1e-5), row
    assert all(row["chainrule_ms"] > 0 and row["pytorch_ms"] > 0 for row in result["rows"])
