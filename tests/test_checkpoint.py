"""Checkpoints: exact round trips, atomic writes, no code on load, one-line errors, and a run
stopped by a real signal that resumes bit for bit."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import chainrule as cr
from chainrule.optim import optimizers as optim
from chainrule.train.checkpoint import (CheckpointError, check_compatible, load_checkpoint, load_model,
                                  save_checkpoint, save_model)
from chainrule.nn import MLP
from chainrule.train.loop import History, fit

X = np.random.default_rng(0).normal(size=(40, 2))
Y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)


def trained(path=None, epochs=3):
    model = MLP([2, 8, 2], ["tanh", "softmax"], seed=1)
    optimizer = optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.99))
    scheduler = optim.StepLR(optimizer, 2, gamma=0.5)
    history = fit(model, X, Y, loss="cross_entropy", optimizer=optimizer, epochs=epochs,
                  batch_size=8, scheduler=scheduler, checkpoint=path)
    return model, optimizer, scheduler, history


def same(a, b) -> bool:
    """Equal plain data, arrays compared bit for bit and by dtype, tuples kept as tuples."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and a.shape == b.shape and a.tobytes() == b.tobytes())
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and type(a) is type(b):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def test_a_checkpoint_round_trips_exactly(tmp_path):
    model, optimizer, scheduler, history = trained()
    rng = np.random.default_rng(9)
    rng.normal(size=3)
    extra = {"dataset": "xor-ish", "standardizer": {"mean": np.array([0.5, -1.0]),
                                                    "scale": np.array([2.0, 1.0])},
             "shape": (2, 8), "classes": ["a", "b"], "labels": np.array(["no", "yes"]),
             "by_index": {0: "zero", 1: np.arange(3)}}
    path = tmp_path / "run.npz"
    save_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler, epoch=3,
                    global_step=15, rng=rng, history=history, extra=extra)
    state = load_checkpoint(path)
    assert same(state["params"], model.state_dict())
    assert same(state["optimizer"], optimizer.state_dict())
    assert same(state["scheduler"], scheduler.state_dict())
    assert state["rng"] == rng.bit_generator.state
    assert History.from_dict(state["history"]) == history
    assert same(state["extra"], extra)
    assert (state["epoch"], state["global_step"]) == (3, 15)
    assert state["architecture"] == {"layers": [2, 8, 2], "activations": ["tanh", "softmax"],
                                     "bias": "per_unit", "dtype": "float64", "frozen": []}
    with zipfile.ZipFile(path) as archive:  # every entry is a plain .npy array
        names = {name.removesuffix(".npy") for name in archive.namelist()}
    assert {"meta", "param.W1", "param.b2", "extra.standardizer.mean"} <= names
    assert any(name.startswith("opt.buffers.") for name in names)


def test_load_model_rebuilds_the_trained_network(tmp_path):
    model, *_ = trained()
    model.freeze("b1")
    save_model(tmp_path / "model.npz", model, extra={"classes": ["a", "b"]})
    rebuilt, meta = load_model(tmp_path / "model.npz")
    with cr.no_grad():
        assert model(X).data.tobytes() == rebuilt(X).data.tobytes()
    assert rebuilt.activations == model.activations and rebuilt.parameter("b1").frozen
    assert meta["extra"] == {"classes": ["a", "b"]} and meta["optimizer"] is None


def test_no_bias_and_shared_bias_networks_load_too(tmp_path):
    for bias in ("none", "shared_per_layer"):
        model = MLP([3, 2, 1], "sigmoid", bias_mode=bias, seed=4)
        save_model(tmp_path / f"{bias}.npz", model)
        rebuilt, _ = load_model(tmp_path / f"{bias}.npz")
        assert same(rebuilt.state_dict(), model.state_dict())
        assert rebuilt.layers[0].bias_mode == bias


def test_another_architecture_is_refused_naming_both(tmp_path):
    save_model(tmp_path / "model.npz", MLP([2, 8, 1], "tanh"))
    state = load_checkpoint(tmp_path / "model.npz")
    with pytest.raises(CheckpointError) as caught:
        check_compatible(state, MLP([2, 4, 1], "tanh"))
    assert str(caught.value) == (
        "model.npz: saved for layers [2, 8, 1] (tanh), this network is [2, 4, 1] (tanh)")
    with pytest.raises(CheckpointError, match=r"\(tanh\), this network is \[2, 8, 1\] "
                                              r"\(tanh, sigmoid\)"):
        check_compatible(state, MLP([2, 8, 1], ["tanh", "sigmoid"]))
    with pytest.raises(CheckpointError, match="saved with bias 'per_unit', this network uses "
                                              "'none'"):
        check_compatible(state, MLP([2, 8, 1], "tanh", bias_mode="none"))
    model = MLP([2, 4, 1], "tanh")
    with pytest.raises(CheckpointError, match=r"saved for layers \[2, 8, 1\]"):
        fit(model, X, Y, loss="mse", optimizer=optim.SGD(model.parameters(), lr=0.1), epochs=1,
            resume=state)


def test_resuming_with_another_optimizer_is_refused(tmp_path):
    trained(tmp_path / "adam.npz")
    model = MLP([2, 8, 2], ["tanh", "softmax"], seed=1)
    with pytest.raises(CheckpointError, match="adam.npz: saved with optimizer 'adam', "
                                              "resuming with 'sgd'"):
        fit(model, X, Y, loss="cross_entropy", optimizer=optim.SGD(model.parameters(), lr=0.1),
            epochs=5, resume=load_checkpoint(tmp_path / "adam.npz"))


def rewrite(path, change) -> None:
    """Load a checkpoint's raw arrays, let ``change`` edit them, write them back."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    change(arrays)
    np.savez(path, **arrays)


def set_meta(**fields):
    def change(arrays):
        meta = json.loads(str(arrays["meta"][()]))
        meta.update(fields)
        arrays["meta"] = np.array(json.dumps(meta))
    return change


def flip_bytes_of_w1(path):
    data = bytearray(path.read_bytes())
    start = data.index(b"param.W1.npy") + 200  # inside W1's values (stored uncompressed)
    data[start:start + 8] = bytes(b ^ 0xFF for b in data[start:start + 8])
    path.write_bytes(bytes(data))


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def object_array(arrays):
    arrays["extra.note"] = np.array([{"run": "code"}], dtype=object)


CORRUPTIONS = {
    "missing": (lambda p: p.unlink(), "no such checkpoint file"),
    "empty": (lambda p: p.write_bytes(b""), "empty file (a truncated checkpoint?)"),
    "text": (lambda p: p.write_text("layers: 2-8-1\n"), "not a checkpoint (not an .npz archive)"),
    "npy": (lambda p: p.write_bytes(npy_bytes(np.zeros(3))), "a single NumPy array (.npy)"),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
                  "truncated or corrupt archive"),
    "flipped": (flip_bytes_of_w1, "truncated or corrupt archive (Bad CRC-32"),
    "no-meta": (lambda p: rewrite(p, lambda a: a.pop("meta")),
                "not a chainrule checkpoint (no 'meta' entry)"),
    "bad-json": (lambda p: rewrite(p, lambda a: a.update(meta=np.array("{oops"))),
                 "its metadata is not valid JSON"),
    "format": (lambda p: rewrite(p, set_meta(format="keras")),
               "not a chainrule checkpoint (format 'keras', expected 'chainrule.train.checkpoint')"),
    "version": (lambda p: rewrite(p, set_meta(version=2)),
                "format version 2 is not supported (this chainrule reads version 1)"),
    "no-epoch": (lambda p: rewrite(p, lambda a: a.update(meta=np.array(json.dumps(
        {k: v for k, v in json.loads(str(a["meta"][()])).items() if k != "epoch"})))),
                 "its metadata lacks 'epoch'"),
    "no-W2": (lambda p: rewrite(p, lambda a: a.pop("param.W2")), "missing array 'param.W2'"),
    "no-buffer": (lambda p: rewrite(p, lambda a: a.pop(next(k for k in a if k.startswith(
        "opt.buffers")))), "missing array 'opt.buffers."),
    "object": (lambda p: rewrite(p, object_array),
               "array 'extra.note' holds Python objects; refused, as loading it could run code"),
}


@pytest.mark.parametrize("damage", CORRUPTIONS)
def test_a_damaged_file_gets_one_line_naming_the_file_and_the_problem(tmp_path, damage):
    path = tmp_path / "run.npz"
    trained(path, epochs=1)
    corrupt, problem = CORRUPTIONS[damage]
    corrupt(path)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert message.startswith(f"run.npz: {problem}") and "\n" not in message
    assert isinstance(caught.value, cr.ChainruleError)


def test_np_load_is_always_called_without_pickle(tmp_path, monkeypatch):
    path = tmp_path / "run.npz"
    trained(path, epochs=1)
    calls = []
    real_load = np.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("allow_pickle"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(np, "load", spy)
    load_checkpoint(path)
    load_model(path)
    assert calls == [False, False]


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "run.npz"
    model, optimizer, *_ = trained(path, epochs=1)
    before = path.read_bytes()
    with pytest.raises(TypeError, match=r"extra.tags: cannot checkpoint a set"):
        save_checkpoint(path, model=model, optimizer=optimizer, extra={"tags": {"a"}})

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, model=model, optimizer=optimizer, epoch=9)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.npz"]


def test_the_saved_bytes_are_a_plain_npz_any_numpy_reads(tmp_path):
    path = tmp_path / "run.npz"
    trained(path, epochs=1)
    with np.load(io.BytesIO(path.read_bytes()), allow_pickle=False) as archive:
        meta = json.loads(str(archive["meta"][()]))
    assert (meta["format"], meta["version"], meta["epoch"]) == ("chainrule.train.checkpoint", 1, 1)
    assert meta["optimizer"]["name"] == "adam" and meta["optimizer"]["lr"] == 0.01


# A training run as the CLI runs it: the signal handler only sets a flag, a callback turns the
# flag into state.stop, and fit saves the checkpoint and returns.
SCRIPT = """
import signal, sys
import numpy as np
from chainrule.train.checkpoint import load_checkpoint
from chainrule.nn import MLP
from chainrule.optim.optimizers import SGD
from chainrule.train.loop import Callback, fit

mode, checkpoint, out, epochs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
requested = []
for sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(sig, lambda signum, frame: requested.append(signum))

class StopOnSignal(Callback):
    def on_batch_end(self, epoch, step, loss, state):
        if requested:
            state.stop = True

    def on_epoch_end(self, epoch, logs, state):
        if epoch == 2 and mode == "interrupt":
            print("ready", flush=True)

rng = np.random.default_rng(0)
x = rng.normal(size=(200, 2))
y = (x[:, 0] * x[:, 1] > 0).astype(float)
model = MLP([2, 8, 1], ["tanh", "sigmoid"], seed=0)
optimizer = SGD(model.parameters(), lr=0.05, momentum=0.9)
history = fit(model, x, y, loss="bce", optimizer=optimizer, epochs=epochs, batch_size=5,
              seed=3, checkpoint=None if mode == "straight" else checkpoint,
              resume=load_checkpoint(checkpoint) if mode == "resume" else None,
              callbacks=[StopOnSignal()])
np.savez(out, **model.state_dict())
print(history.stop_reason, flush=True)
"""


def python(*args: str, **options) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SCRIPT, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **options)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_real_signal_stops_the_run_and_resuming_gives_the_same_weights(tmp_path, signum):
    checkpoint = tmp_path / "checkpoint.npz"
    child = python("interrupt", str(checkpoint), str(tmp_path / "stopped.npz"), "100000")
    assert child.stdout.readline() == "ready\n"
    child.send_signal(signum)
    out, err = child.communicate(timeout=60)
    assert (child.returncode, out, err) == (0, "interrupted\n", "")
    state = load_checkpoint(checkpoint)
    with np.load(tmp_path / "stopped.npz") as stopped:
        assert same(dict(stopped), state["params"])  # the checkpoint holds the final weights
    epochs = str(state["epoch"] + 3)  # a few more epochs than were completed before the signal
    runs = {"resume": python("resume", str(checkpoint), str(tmp_path / "resumed.npz"), epochs),
            "straight": python("straight", "-", str(tmp_path / "straight.npz"), epochs)}
    for name, run in runs.items():
        out, err = run.communicate(timeout=60)
        assert (run.returncode, out, err) == (0, "completed\n", ""), name
    with np.load(tmp_path / "resumed.npz") as resumed, np.load(tmp_path / "straight.npz") as ref:
        assert same(dict(resumed), dict(ref))
