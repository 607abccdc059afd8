"""``chainrule train`` without friction: a missing matplotlib fails first, checkpoints only
where asked, ``--resume FILE`` alone continues a run, a partial ``--save`` says so, and the
summary table stays aligned for any loss.

A Ctrl-C is simulated in-process (the signal callback asked to stop at a chosen batch), so
where the run stops is exact; tests/test_cli_train.py sends a real SIGINT.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chainrule.cli import train_output
from chainrule.cli.main import main
from chainrule.cli.train_output import summary_table
from chainrule.train.checkpoint import load_checkpoint
from tests.test_checkpoint import rewrite

# 60 moons: 48 training examples, so 2 batches of 32 per epoch.
TRAIN = ["train", "--data", "moons", "--samples", "60", "--arch", "2-4-1", "--epochs", "4",
         "--quiet"]


def stop_at(monkeypatch, global_step: int) -> None:
    """Ctrl-C arrives during optimizer step ``global_step`` (counted from 1 over the run)."""
    original = train_output.StopOnSignal.on_batch_end

    def on_batch_end(self, epoch, step, loss, state):
        if state.global_step == global_step:
            self.stopper.requested = "SIGINT"
        original(self, epoch, step, loss, state)

    monkeypatch.setattr(train_output.StopOnSignal, "on_batch_end", on_batch_end)


def params(path: Path) -> dict[str, bytes]:
    return {k: np.asarray(v).tobytes() for k, v in load_checkpoint(path)["params"].items()}


def test_a_missing_matplotlib_is_one_line_before_any_training(tmp_path):
    script = ("import sys; sys.modules['matplotlib'] = None\n"
              "from chainrule.cli.main import main\n"
              f"sys.exit(main({[*TRAIN, '--checkpoint', 'run.npz', '--plot', 'run.png']!r}))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert result.stderr == ("chainrule: error: matplotlib is not installed: "
                             "pip install 'chainrule[plot]'\n")
    assert result.stdout == "" and list(tmp_path.iterdir()) == []  # not one epoch ran


def test_no_checkpoint_is_written_unless_asked(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(TRAIN) == 0
    assert list(tmp_path.iterdir()) == []
    assert "checkpoint" not in capsys.readouterr().out
    (tmp_path / "runs").mkdir()
    assert main([*TRAIN, "--checkpoint", "runs/run.npz"]) == 0
    assert [p.name for p in tmp_path.rglob("*.npz")] == ["run.npz"]
    assert capsys.readouterr().out.endswith("checkpoint: runs/run.npz\n")


def test_ctrl_c_without_a_checkpoint_says_there_is_nothing_to_resume(tmp_path, monkeypatch,
                                                                     capsys):
    monkeypatch.chdir(tmp_path)
    stop_at(monkeypatch, 3)
    assert main(TRAIN) == 130
    out = capsys.readouterr().out
    assert "epochs 1 (interrupted; no checkpoint to resume from: --checkpoint FILE.npz writes " \
           "one)" in out
    assert list(tmp_path.iterdir()) == []


def test_resume_needs_only_the_file_and_ends_bit_for_bit_as_the_run_left_alone(
        tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    options = ["--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.05", "--seed", "3"]
    assert main([*TRAIN, *options, "--checkpoint", "straight.npz"]) == 0
    with monkeypatch.context() as patch:
        stop_at(patch, 3)  # epoch 2, step 1 of 2
        assert main([*TRAIN, *options, "--checkpoint", "cut.npz", "--save", "model.npz"]) == 130
    out = capsys.readouterr().out
    assert "epochs 1 (interrupted; resume with --resume cut.npz)" in out
    assert out.endswith("saved model.npz is partial: training was interrupted at epoch 2, step "
                        "1 of 2; 4 epochs were asked for\n")
    stored = load_checkpoint(tmp_path / "cut.npz")["extra"]["options"]
    assert (stored["seed"], stored["lr"], stored["optimizer"], stored["save"]) == (
        3, 0.05, "sgd", "model.npz")
    assert "resume" not in stored and "command" not in stored

    assert main(["train", "--resume", "cut.npz"]) == 0  # nothing else typed
    out = capsys.readouterr().out
    assert "epochs 4 (completed)" in out and "partial" not in out
    assert params(tmp_path / "cut.npz") == params(tmp_path / "straight.npz")
    assert params(tmp_path / "model.npz") == params(tmp_path / "straight.npz")  # its --save


def test_a_resume_may_run_further_and_change_its_outputs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([*TRAIN, "--checkpoint", "run.npz"]) == 0
    assert main(["train", "--resume", "run.npz", "--epochs", "6", "--checkpoint", "more.npz",
                 "--save", "six.npz", "--seed", "0"]) == 0  # the stored seed typed again: fine
    assert load_checkpoint(tmp_path / "more.npz")["epoch"] == 6
    assert load_checkpoint(tmp_path / "run.npz")["epoch"] == 4  # left as it was
    assert (tmp_path / "six.npz").exists()


@pytest.mark.parametrize("typed, expected", [
    (["--lr", "0.5"], "trained without --lr, this run has --lr 0.5"),
    (["--nesterov"], "trained without --nesterov, this run has --nesterov"),
    (["--optimizer", "sgd"], "trained without --optimizer, this run has --optimizer sgd"),
    (["--activation", "relu"], "trained with --activation tanh, this run has --activation relu"),
    (["--validation", "0.3"], "trained with --validation 0.2, this run has --validation 0.3"),
])
def test_a_resume_refuses_options_that_would_change_the_run(tmp_path, monkeypatch, capsys,
                                                            typed, expected):
    monkeypatch.chdir(tmp_path)
    assert main([*TRAIN, "--checkpoint", "run.npz"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", "run.npz", "--checkpoint", "next.npz", *typed]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"chainrule: error: --resume run.npz: the checkpoint was {expected}; "
                          "a resumed run keeps the options that shape it (only --epochs, ")
    assert err.count("\n") == 1 and not (tmp_path / "next.npz").exists()


def forge_options(**changes):
    def change(arrays):
        meta = json.loads(str(arrays["meta"][()]))
        meta["extra"]["options"].update(changes)
        arrays["meta"] = np.array(json.dumps(meta))
    return change


@pytest.mark.parametrize("changes, expected", [
    ({"epochs": "many"}, "run.npz: extra.options.epochs: expected an integer, got 'many'"),
    ({"lr": True}, "run.npz: extra.options.lr: expected a finite number, got 'True'"),
    ({"optimizer": "lbfgs"},
     "run.npz: extra.options.optimizer: expected one of sgd, adam, rmsprop, got 'lbfgs'"),
    ({"quiet": 1}, "run.npz: extra.options.quiet: expected true or false, got '1'"),
    ({"dropout": 0.5}, "run.npz: extra.options.dropout: not an option of this chainrule's "
                       "train"),
])
def test_forged_stored_options_are_one_line_naming_the_field(tmp_path, monkeypatch, capsys,
                                                             changes, expected):
    monkeypatch.chdir(tmp_path)
    assert main([*TRAIN, "--checkpoint", "run.npz"]) == 0
    rewrite(tmp_path / "run.npz", forge_options(**changes))
    capsys.readouterr()
    assert main(["train", "--resume", "run.npz"]) == 2
    assert capsys.readouterr().err == f"chainrule: error: {expected}\n"


# --- the summary table -------------------------------------------------------------------


@pytest.mark.parametrize("losses, cells", [
    ((0.25, 0.5), ("0.250000", "0.500000")),
    ((12345.678, 0.5), ("12345.678000", "0.500000")),
    ((1e10, 12345.678), ("1.000000e+10", "12345.678000")),
    ((1e300, float("inf")), ("1.000000e+300", "inf")),
])
def test_the_summary_table_columns_are_wide_enough_for_any_loss(losses, cells):
    lines = summary_table([("train", 1400, losses[0], 0.875),
                           ("validation", 397, losses[1], 1.0)])
    assert lines[0].split() == ["split", "examples", "loss", "accuracy"]
    assert [line.split() for line in lines[1:]] == [["train", "1400", cells[0], "87.50%"],
                                                    ["validation", "397", cells[1], "100.00%"]]
    assert len({len(line) for line in lines}) == 1  # right-aligned columns end together
    loss_end = lines[1].index(cells[0]) + len(cells[0])
    assert all(line[loss_end - 1] != " " and line[loss_end:loss_end + 2] == "  "
               for line in lines)  # the loss column ends in one place, two spaces after it


def test_a_regression_loss_of_1e10_keeps_the_table_aligned(tmp_path):
    x = np.linspace(0, 1, 30)
    rows = "\n".join(f"{a:.4f},{1e5 + a:.4f}" for a in x)
    (tmp_path / "big.csv").write_text("x,y\n" + rows + "\n")
    result = subprocess.run([sys.executable, "-m", "chainrule", "train", "--data", "big.csv",
                             "--target", "y", "--task", "regression", "--arch", "1-2-1",
                             "--epochs", "1", "--quiet"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    table = result.stdout.strip().split("\n\n")[0].splitlines()
    assert table[0].split() == ["split", "examples", "loss"]
    assert all(len(line.split()) == 3 and len(line) == len(table[0]) for line in table)
    assert "e+09" in table[1] or "e+10" in table[1], table


def test_a_stop_at_an_epochs_last_batch_says_after_that_epoch(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    stop_at(monkeypatch, 4)  # epoch 2, step 2 of 2: the epoch completes, then the run stops
    assert main([*TRAIN, "--save", "model.npz"]) == 130
    out = capsys.readouterr().out
    assert "epochs 2 (interrupted; no checkpoint to resume from" in out
    assert out.endswith("saved model.npz is partial: training was interrupted after epoch 2; "
                        "4 epochs were asked for\n")
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]
