"""``chainrule train`` as a user runs it: it learns, it plots, it saves, it stops cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from chainrule.train.checkpoint import load_checkpoint, load_model


def run(tmp_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chainrule", "train", *args],
                          capture_output=True, text=True, cwd=tmp_path, timeout=timeout)


def accuracy(out: str, split: str) -> float:
    line = next(line for line in out.splitlines() if line.startswith(split))
    return float(line.split()[-1].rstrip("%")) / 100


def test_xor_reaches_full_accuracy_and_saves(tmp_path):
    result = run(tmp_path, "--data", "xor", "--arch", "2-4-1", "--epochs", "300", "--lr", "0.05",
                 "--save", "xor.npz", "--plot", "xor.png")
    assert result.returncode == 0, result.stderr
    assert accuracy(result.stdout, "train") == 1.0
    assert (tmp_path / "xor.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model, meta = load_model(tmp_path / "xor.npz")
    assert model.sizes == (2, 4, 1) and meta["extra"]["loss"] == "bce"
    explained = subprocess.run([sys.executable, "-m", "chainrule", "explain", "--model",
                                str(tmp_path / "xor.npz"), "--input", "1,0", "--target", "1",
                                "--format", "json"], capture_output=True, text=True)
    assert explained.returncode == 0, explained.stderr
    assert '"a2"' in explained.stdout


def test_moons_generalises(tmp_path):
    result = run(tmp_path, "--data", "moons", "--samples", "500", "--arch", "2-8-1", "--epochs",
                 "60", "--quiet")
    assert result.returncode == 0, result.stderr
    assert accuracy(result.stdout, "validation") >= 0.95
    assert result.stderr == ""  # --quiet


def test_progress_lines_when_not_a_terminal(tmp_path):
    result = run(tmp_path, "--data", "blobs", "--arch", "2-6-3", "--epochs", "20")
    lines = result.stderr.splitlines()
    assert len(lines) == 10 and lines[-1].startswith("epoch 20/20  loss ")
    assert "samples/s" in lines[-1]


@pytest.mark.parametrize("args, message", [
    (["--data", "moons", "--arch", "3-8-1"], "--arch: the input layer has 3 units but moons has 2"),
    (["--data", "digits", "--arch", "64-8-3"], "has 10 classes"),
    (["--data", "nope"], "unknown"),
    (["--data", "moons", "--schedule", "linear"], "--schedule: expected step:EVERY:GAMMA"),
    (["--data", "moons", "--epochs", "0"], "--epochs: expected a positive number"),
])
def test_bad_arguments_are_one_line(tmp_path, args, message):
    result = run(tmp_path, *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_csv_errors_name_the_line(tmp_path):
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,x\n3,oops,y\n")
    result = run(tmp_path, "--data", "d.csv", "--target", "label")
    assert result.returncode == 2
    assert "d.csv:3: column 'b': 'oops' is not a number" in result.stderr


def test_sigint_saves_and_resume_is_bit_identical(tmp_path):
    args = ["--data", "digits", "--arch", "64-32-10", "--epochs", "40", "--optimizer", "sgd",
            "--momentum", "0.9", "--lr", "0.05", "--quiet"]
    straight = run(tmp_path, *args, "--checkpoint", "straight.npz")
    assert straight.returncode == 0, straight.stderr

    process = subprocess.Popen([sys.executable, "-m", "chainrule", "train", *args,
                                "--checkpoint", "cut.npz"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "cut.npz").exists() and time.monotonic() < deadline:
        time.sleep(0.02)  # wait for the first epoch's checkpoint: training is under way
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted; resume with --resume cut.npz" in out and "Traceback" not in err
    stopped_at = load_checkpoint(tmp_path / "cut.npz")["epoch"]
    assert stopped_at < 40

    resumed = run(tmp_path, *args, "--checkpoint", "cut.npz", "--resume", "cut.npz")
    assert resumed.returncode == 0, resumed.stderr
    final_straight = load_checkpoint(tmp_path / "straight.npz")["params"]
    final_resumed = load_checkpoint(tmp_path / "cut.npz")["params"]
    for name, values in final_straight.items():
        assert np.asarray(values).tobytes() == np.asarray(final_resumed[name]).tobytes(), name


def test_digits_reach_95_percent_on_the_test_split(tmp_path):
    result = run(tmp_path, "--data", "digits", "--arch", "64-64-10", "--activation", "relu",
                 "--epochs", "30", "--test", "0.2", "--quiet")
    assert result.returncode == 0, result.stderr
    assert accuracy(result.stdout, "test") >= 0.95


def test_same_seed_same_bits(tmp_path):
    for name in ("a", "b"):
        assert run(tmp_path, "--data", "circles", "--arch", "2-6-1", "--epochs", "5", "--quiet",
                   "--save", f"{name}.npz").returncode == 0
    first, second = (load_checkpoint(tmp_path / f"{n}.npz")["params"] for n in "ab")
    assert all(np.asarray(first[k]).tobytes() == np.asarray(second[k]).tobytes() for k in first)


EXAMPLES = Path(__file__).parents[1] / "examples"


def test_the_digits_cnn_spec_reaches_98_5_percent_on_the_test_split(tmp_path):
    """The issue's floor, with the split and seed README's "Training" states (seed 1 here:
    98.61 %, 99.44 % and 98.89 % for seeds 0, 1 and 2 on one machine; 354 of 359 is the floor)."""
    result = run(tmp_path, str(EXAMPLES / "digits-cnn.yaml"), "--data", "digits", "--test", "0.2",
                 "--validation", "0.1", "--optimizer", "adam", "--lr", "0.003", "--schedule",
                 "cosine", "--epochs", "40", "--no-standardize", "--seed", "1", "--save",
                 "cnn.npz", "--quiet", timeout=600)
    assert result.returncode == 0, result.stderr
    assert accuracy(result.stdout, "test") >= 0.985
    model, meta = load_model(tmp_path / "cnn.npz")
    assert meta["architecture"]["kind"] == "layers"
    assert {name for name, _ in model.named_buffers()} >= {"1.running_mean", "5.running_var"}
    assert float(model.named_buffers()[2][1]) > 0  # num_batches_tracked counted the steps


def test_a_network_of_layers_that_does_not_fit_the_data_is_one_line(tmp_path):
    result = run(tmp_path, str(EXAMPLES / "digits-cnn.yaml"), "--data", "iris", "--epochs", "1")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "takes inputs of shape [1, 8, 8] but iris has 4 features" in result.stderr
