"""Hostile or wrong checkpoints: bounded memory, one line naming the file and the field.

Each test here builds a file that today's loader either spent gigabytes on, hung on, crashed
on or accepted silently (complex weights, a negative epoch, a standardiser scale of 0, a
resume with another seed), and pins the refusal.
"""

from __future__ import annotations

import json
import os
import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from numpy.lib import format as npy

import chainrule.train.checkpoint as checkpoint
import chainrule.train.checkpoint_meta as checkpoint_meta
import chainrule.train.checkpoint_read as checkpoint_read
from chainrule.optim import optimizers as optim
from chainrule.train.checkpoint import (CheckpointError, load_checkpoint, load_model, save_model,
                                  standardized_input)
from chainrule.cli.main import main
from chainrule.errors import ChainruleError
from chainrule.nn import MLP
from chainrule.train.loop import ResumeMismatch, fit
from tests.test_checkpoint import rewrite, set_meta

X = np.random.default_rng(0).normal(size=(40, 2))
Y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)


def saved_run(path: Path, *, seed: int = 0, batch_size: int = 8, epochs: int = 2) -> MLP:
    model = MLP([2, 4, 2], ["tanh", "softmax"], seed=1)
    fit(model, X, Y, loss="cross_entropy", optimizer=optim.Adam(model.parameters(), lr=0.01),
        epochs=epochs, batch_size=batch_size, seed=seed, checkpoint=path)
    return model




def add_member(path: Path, name: str, header: dict, data_bytes: int) -> None:
    """A member whose .npy header says ``header`` and whose data are ``data_bytes`` zeros,
    deflated (zeros compress about a thousandfold)."""
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open(name, "w", force_zip64=True) as member:
            npy.write_array_header_1_0(member, header)
            chunk = bytes(1 << 24)
            for _ in range(data_bytes // len(chunk)):
                member.write(chunk)
            member.write(bytes(data_bytes % len(chunk)))


def refusal(path: Path) -> str:
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path.name}: ")
    return message.removeprefix(f"{path.name}: ")


# --- bounded memory and time -------------------------------------------------------------------


def test_an_unused_huge_member_is_never_read(tmp_path):
    path = tmp_path / "run.npz"
    saved_run(path)
    elements = 2**26  # 512 MiB of float64, a few hundred KB deflated
    add_member(path, "junk.npy", {"descr": "<f8", "fortran_order": False,
                                  "shape": (elements,)}, elements * 8)
    assert path.stat().st_size < 4 << 20
    tracemalloc.start()
    try:
        model, state = load_model(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert list(model.sizes) == [2, 4, 2] and state["epoch"] == 2
    assert peak < 16 << 20, f"loading took {peak} bytes"  # was the whole 512 MiB


def test_a_header_claiming_2_to_the_40_elements_is_refused_before_reading(tmp_path):
    path = tmp_path / "run.npz"
    saved_run(path)
    add_member(path, "param.W9.npy", {"descr": "<f8", "fortran_order": False,
                                      "shape": (2**20, 2**20)}, 64)
    assert refusal(path) == (f"array 'param.W9' declares {2**43} bytes of data but its member "
                             "holds 192 (a truncated or forged file)")


def test_parameter_and_element_limits(tmp_path, monkeypatch):
    path = tmp_path / "run.npz"
    saved_run(path)  # 2·4 + 4 + 4·2 + 2 = 22 parameter elements
    monkeypatch.setattr(checkpoint_meta, "MAX_PARAMETERS", 21)
    assert refusal(path) == "22 parameter elements; a checkpoint may hold at most " \
                            "MAX_PARAMETERS = 21"
    monkeypatch.setattr(checkpoint_meta, "MAX_PARAMETERS", 22)
    monkeypatch.setattr(checkpoint_read, "MAX_ELEMENTS", 30)  # 22 + Adam's 44: too many
    assert refusal(path).startswith("its arrays hold more than MAX_ELEMENTS = 30 elements")


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_only_regular_files_are_read(tmp_path, kind):
    if kind == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs here")
        path = tmp_path / "pipe.npz"
        os.mkfifo(path)  # opening it for reading would block until a writer came
    elif kind == "device":
        path = Path("/dev/zero")
        if not path.exists():
            pytest.skip("no /dev/zero here")
    else:
        path = tmp_path / "dir.npz"
        path.mkdir()
    expected = ("is a folder, not a checkpoint file" if kind == "directory" else
                "not a regular file (a device, pipe or socket); expected a checkpoint file")
    assert refusal(path) == expected


def test_the_file_size_limit(tmp_path, monkeypatch):
    path = tmp_path / "run.npz"
    saved_run(path)
    monkeypatch.setattr(checkpoint_read, "MAX_FILE_BYTES", 1000)
    size = path.stat().st_size
    assert refusal(path) == f"{size:,} bytes; a checkpoint file may have at most 1,000 bytes"


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deeply_nested_metadata_is_one_line(tmp_path, depth):
    path = tmp_path / "run.npz"
    saved_run(path)

    def nest(arrays):
        text = str(arrays["meta"][()])
        deep = "[" * depth + "]" * depth  # json.dumps of it would itself recurse too deep
        arrays["meta"] = np.array(text[:-1] + f', "deep": {deep}}}')
    rewrite(path, nest)
    assert refusal(path) == "its metadata is nested more than MAX_META_DEPTH = 32 levels deep"


def test_metadata_size_limit(tmp_path, monkeypatch):
    path = tmp_path / "run.npz"
    saved_run(path)
    monkeypatch.setattr(checkpoint_read, "MAX_META_BYTES", 100)
    assert refusal(path).startswith("its metadata is ")
    assert refusal(path).endswith("bytes; at most MAX_META_BYTES = 100 are read")


# --- values that were silently accepted --------------------------------------------------------

WRONG_WEIGHTS = {
    "complex": (lambda w: w.astype(np.complex128),
                "array 'param.W1' has dtype complex128; a checkpoint holds only float, integer, "
                "boolean and text arrays"),
    "datetime": (lambda w: np.zeros(w.shape, dtype="datetime64[s]"),
                 "array 'param.W1' has dtype datetime64[s]; a checkpoint holds only float, "
                 "integer, boolean and text arrays"),
    "bool": (lambda w: w > 0, "array 'param.W1' has dtype bool; the network's weights are "
                              "float64"),
    "int": (lambda w: np.round(w).astype(np.int64),
            "array 'param.W1' has dtype int64; the network's weights are float64"),
    "float32": (lambda w: w.astype(np.float32),
                "array 'param.W1' has dtype float32; the network's weights are float64"),
    "object": (lambda w: np.array([[1.0]], dtype=object),
               "array 'param.W1' holds Python objects; refused, as loading it could run code"),
    "nan": (lambda w: np.where(np.arange(w.size).reshape(w.shape) == 1, np.nan, w),
            "array 'param.W1' holds a non-finite value: param.W1[0,1] = nan"),
}


@pytest.mark.parametrize("case", WRONG_WEIGHTS)
def test_weights_of_a_wrong_dtype_or_not_finite_are_refused(tmp_path, case):
    path = tmp_path / "run.npz"
    saved_run(path)
    change, expected = WRONG_WEIGHTS[case]
    rewrite(path, lambda arrays: arrays.update({"param.W1": change(arrays["param.W1"])}))
    assert refusal(path) == expected


def test_a_non_finite_optimizer_buffer_is_refused(tmp_path):
    path = tmp_path / "run.npz"
    saved_run(path)
    key = "opt.buffers.exp_avg.0"
    rewrite(path, lambda arrays: arrays.update({key: arrays[key] * np.inf}))
    assert refusal(path).startswith(f"array {key!r} holds a non-finite value: {key}[0,")


@pytest.mark.parametrize("field, value", [("epoch", -1), ("epoch", 10**30), ("epoch", True),
                                          ("global_step", -5), ("epoch", 2.5)])
def test_an_epoch_or_step_out_of_range_is_refused(tmp_path, field, value):
    path = tmp_path / "run.npz"
    saved_run(path)
    rewrite(path, set_meta(**{field: value}))
    limit = {"epoch": checkpoint.MAX_EPOCHS, "global_step": checkpoint.MAX_GLOBAL_STEP}[field]
    assert refusal(path) == f"{field}: expected an integer from 0 to {limit}, got {value!r}"


@pytest.mark.parametrize("scale, expected", [
    ([1.0, 0.0], "extra.standardizer.scale[1]: expected a finite number > 0, got 0.0"),
    ([np.inf, 1.0], "extra.standardizer.scale[0]: expected a finite number > 0, got inf"),
    ([1.0], "extra.standardizer.scale: expected 2 numbers, one per input, got"),
    ([1.0, []], "extra.standardizer.scale: expected 2 numbers, one per input, got [1.0, []]"),
])
def test_a_broken_standardizer_is_blamed_on_the_checkpoint(tmp_path, capsys, scale, expected):
    path = tmp_path / "m.npz"
    model = MLP([2, 3, 1], "sigmoid", seed=0)
    save_model(path, model, extra={"loss": "mse", "standardizer": {
        "mean": np.zeros(2), "scale": scale if [] in scale else np.array(scale)}})
    assert main(["explain", "--model", str(path), "--input", "1,2", "--target", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"chainrule: error: m.npz: {expected}") and err.count("\n") == 1


# --- resuming another run ----------------------------------------------------------------------


@pytest.mark.parametrize("change, expected", [
    ({"seed": 1}, "run.npz: the checkpoint was trained with seed 0, this run has seed 1"),
    ({"batch_size": 16},
     "run.npz: the checkpoint was trained with batch size 8, this run has batch size 16"),
    ({"x": X[::-1]}, "run.npz: the checkpoint was trained on other data"),
])
def test_resuming_with_another_seed_batch_size_or_data_is_refused(tmp_path, change, expected):
    path = tmp_path / "run.npz"
    saved_run(path, epochs=1)
    model = MLP([2, 4, 2], ["tanh", "softmax"], seed=1)
    options = {"seed": 0, "batch_size": 8, "x": X, **change}
    with pytest.raises(ResumeMismatch, match=f"^{expected}"):
        fit(model, options["x"], Y, loss="cross_entropy",
            optimizer=optim.Adam(model.parameters(), lr=0.01), epochs=3,
            batch_size=options["batch_size"], seed=options["seed"],
            resume=load_checkpoint(path))


TRAIN = ["train", "--data", "moons", "--samples", "60", "--arch", "2-4-1", "--epochs", "2",
         "--quiet"]


@pytest.mark.parametrize("extra, expected", [
    (["--seed", "1"], "the checkpoint was trained with --seed 0, this run has --seed 1"),
    (["--batch-size", "8"],
     "the checkpoint was trained with --batch-size 32, this run has --batch-size 8"),
    (["--samples", "80"], "the checkpoint was trained with --samples 60, this run has "
                          "--samples 80"),
])
def test_cli_resume_names_the_option_that_differs(tmp_path, capsys, monkeypatch, extra,
                                                  expected):
    monkeypatch.chdir(tmp_path)
    assert main([*TRAIN, "--checkpoint", "run.npz"]) == 0
    capsys.readouterr()
    args = [*TRAIN, "--epochs", "4", "--checkpoint", "next.npz", "--resume", "run.npz", *extra]
    if "--samples" in extra:
        args.remove("60")
        args.remove("--samples")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"chainrule: error: --resume run.npz: {expected}")
    assert err.count("\n") == 1
    assert not (tmp_path / "next.npz").exists()  # refused before any training


def drop_stored_options(arrays):
    """A checkpoint as chainrule wrote it before runs stored their options."""
    meta = json.loads(str(arrays["meta"][()]))
    del meta["extra"]["options"]
    arrays["meta"] = np.array(json.dumps(meta))


def test_cli_resume_of_an_older_checkpoint_still_checks_the_data(tmp_path, capsys,
                                                                  monkeypatch):
    # Without stored options every option is typed again, and other data are still found by
    # the training loop's fingerprint of the examples.
    monkeypatch.chdir(tmp_path)
    assert main([*TRAIN, "--checkpoint", "run.npz"]) == 0
    rewrite(tmp_path / "run.npz", drop_stored_options)
    assert "options" not in load_checkpoint(tmp_path / "run.npz")["extra"]
    capsys.readouterr()
    args = [*TRAIN, "--epochs", "4", "--checkpoint", "next.npz", "--resume", "run.npz"]
    args[args.index("60")] = "80"
    assert main(args) == 2
    assert capsys.readouterr().err == (
        "chainrule: error: --resume run.npz: the checkpoint was trained on other data "
        "(--samples, --noise, --classes, --validation, --test, --no-standardize or the CSV "
        "file differ)\n")
    assert not (tmp_path / "next.npz").exists()
    args[args.index("80")] = "60"  # the same options typed again: it resumes
    assert main(args) == 0 and load_checkpoint(tmp_path / "next.npz")["epoch"] == 4


def test_cli_resume_with_another_dataset(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([*TRAIN, "--checkpoint", "run.npz"]) == 0
    capsys.readouterr()
    args = [*TRAIN, "--resume", "run.npz", "--checkpoint", "next.npz"]
    args[2] = "circles"
    assert main(args) == 2
    assert capsys.readouterr().err == (
        "chainrule: error: --resume run.npz: the checkpoint was trained with --data moons, "
        "this run has --data circles; a resumed run keeps the options that shape it (only "
        "--epochs, --early-stopping, --plot, --save, --checkpoint, --quiet, --sample, "
        "--temperature, --prompt may change)\n")


# --- training options checked before the run ---------------------------------------------------


@pytest.mark.parametrize("plot, expected", [
    ("curves.txt", "--plot curves.txt: expected a file ending in .png, .pdf, .svg, got .txt"),
    ("curves", "--plot curves: expected a file ending in .png, .pdf, .svg, got no suffix"),
])
def test_a_bad_plot_path_fails_before_training(tmp_path, capsys, monkeypatch, plot, expected):
    monkeypatch.chdir(tmp_path)
    assert main([*TRAIN, "--checkpoint", "run.npz", "--plot", plot]) == 2
    assert capsys.readouterr().err == f"chainrule: error: {expected}\n"
    assert not (tmp_path / "run.npz").exists()  # no epoch ran


def test_a_missing_matplotlib_fails_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib → ImportError
    assert main([*TRAIN, "--checkpoint", "run.npz", "--plot", "run.png"]) == 2
    assert "matplotlib is not installed" in capsys.readouterr().err
    assert not (tmp_path / "run.npz").exists()


def test_too_many_epochs_are_refused(capsys):
    assert main([*TRAIN, "--epochs", str(checkpoint.MAX_EPOCHS + 1)]) == 2
    assert capsys.readouterr().err == (f"chainrule: error: --epochs: expected at most "
                                       f"{checkpoint.MAX_EPOCHS}, got "
                                       f"{checkpoint.MAX_EPOCHS + 1}\n")


# --- metadata the fuzzer found ---------------------------------------------------------------


@pytest.mark.parametrize("field, value, expected", [
    ("layers", float("inf"), "architecture.layers: expected a list of at least two positive "
                             "integers, got inf"),
    ("layers", [2, 5, 1], "parameters.W1: expected shape [2, 5] for architecture.layers "
                          "[2, 5, 1], got [2, 4]"),
    ("activations", "tanh", "architecture.activations: expected 2 names, one per layer, got "
                            "'tanh'"),
    ("dtype", "complex128", "architecture.dtype: expected 'float64' or 'float32', got "
                            "'complex128'"),
])
def test_a_malformed_architecture_is_refused(tmp_path, field, value, expected):
    path = tmp_path / "run.npz"
    saved_run(path)

    def change(arrays):
        meta = json.loads(str(arrays["meta"][()]))
        meta["architecture"][field] = value
        arrays["meta"] = np.array(json.dumps(meta))
    rewrite(path, change)
    assert refusal(path) == expected


def test_an_integer_of_5000_digits_in_the_metadata(tmp_path):
    path = tmp_path / "run.npz"
    saved_run(path)
    rewrite(path, lambda arrays: arrays.update(
        meta=np.array(str(arrays["meta"][()])[:-1] + ', "n": ' + "9" * 5000 + "}")))
    assert refusal(path).startswith("its metadata cannot be read (Exceeds the limit (4300 "
                                    "digits) for integer string conversion")


def test_standardizing_an_input_that_overflows_is_one_line(tmp_path):
    path = tmp_path / "m.npz"
    save_model(path, MLP([2, 3, 1], "sigmoid", seed=0), extra={"standardizer": {
        "mean": np.array([0.1, -1e308]), "scale": np.array([1.0, 2.0])}})
    state = load_checkpoint(path)
    np.testing.assert_array_equal(standardized_input(state, np.array([1.1, 0.0])),
                                  [1.0, 0.5e308])
    with pytest.raises(ChainruleError, match=r"^--input: value 2, 1e\+308, overflows float64 "
                                             r"once standardised with the mean -1e\+308 and "
                                             r"scale 2 saved in m.npz$"):
        standardized_input(state, np.array([0.5, 1e308]))


@pytest.mark.parametrize("field, value, expected", [
    ("extra", 1e200, "extra: expected an object or null, got 1e+200"),
    ("optimizer", [1], "optimizer: expected an object or null, got [1]"),
    ("loop", {"partial": {"batch": "x"}}, "loop.partial: expected batch, correct and seen"),
    ("loop", {"best": 3}, "loop.best: expected loss, epoch, wait and weights"),
])
def test_a_malformed_section_is_refused(tmp_path, field, value, expected):
    path = tmp_path / "run.npz"
    saved_run(path)
    rewrite(path, set_meta(**{field: value}))
    assert refusal(path).startswith(expected)
