"""Checkpoints and saved models: one ``.npz`` file that loses nothing and runs no code.

A file holds NumPy arrays only — the parameters (``param.W1``, ``param.b1``, ...), the
optimizer's buffers (``opt.*``), anything array-valued in the scheduler (``sched.*``), the
training loop (``loop.*``) and ``extra`` (``extra.*``, e.g. a standardiser's mean and scale) —
plus ``meta``: a 0-d unicode array holding JSON (format ``chainrule.checkpoint``, version 1)
with the architecture, the optimizer's name and hyperparameters, the scheduler state, the epoch,
the global step, the random generator's state, the history and ``extra``. Where an array sits
inside a nested state, the JSON holds ``{"$array": "opt.buffers.m.0"}`` in its place.

Files are written to a temporary file and renamed over the old one
(:func:`chainrule.files.write_atomically`), so a crash or a signal leaves the previous
checkpoint intact; they are read with ``allow_pickle=False``, so loading one cannot execute
code. Anything wrong with a file is a :class:`CheckpointError` naming the file and the problem.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import __version__
from chainrule.checkpoint_read import (MAX_PARAMETERS, Archive, CheckpointError,  # noqa: F401
                                       parse_meta)
from chainrule.errors import ChainruleError
from chainrule.files import write_atomically
from chainrule.finite import element, first_non_finite
from chainrule.nn import MLP

FORMAT, VERSION = "chainrule.checkpoint", 1
# Bit generators a checkpoint may name; anything else is refused rather than looked up.
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
_REQUIRED = ("architecture", "parameters", "epoch", "global_step")
MAX_EPOCHS = 10_000_000  # completed epochs a checkpoint may claim (chainrule train's limit too)
MAX_GLOBAL_STEP = 2**53  # optimizer steps: beyond, a float64 learning-rate schedule is inexact


def save_checkpoint(path: str | Path, *, model: MLP, optimizer: Any = None, scheduler: Any = None,
                    epoch: int = 0, global_step: int = 0,
                    rng: np.random.Generator | dict | None = None, history: Any = None,
                    extra: dict | None = None, loop: dict | None = None) -> None:
    """Write everything needed to continue training to ``path``, atomically.

    ``epoch`` counts completed epochs; ``rng`` is the shuffling generator (or its
    ``bit_generator.state``); ``history`` a :class:`chainrule.train.History` or its dict;
    ``extra`` the caller's plain data (arrays allowed); ``loop`` the training loop's own
    state (a partly done epoch, early stopping), written by :func:`chainrule.train.fit`.
    """
    arrays: dict[str, np.ndarray] = {}
    for name, p in model.named_parameters():
        arrays[f"param.{name}"] = p.data
    if isinstance(rng, np.random.Generator):
        rng = rng.bit_generator.state
    if history is not None and not isinstance(history, dict):
        history = history.to_dict()
    meta = {
        "format": FORMAT, "version": VERSION, "chainrule": __version__,
        "architecture": architecture(model),
        "parameters": {name: list(p.shape) for name, p in model.named_parameters()},
        "optimizer": None if optimizer is None else _encode(optimizer.state_dict(), "opt", arrays),
        "scheduler": None if scheduler is None else _encode(scheduler.state_dict(), "sched",
                                                            arrays),
        "epoch": int(epoch), "global_step": int(global_step),
        "rng": _encode(rng, "rng", arrays), "history": _encode(history, "history", arrays),
        "extra": _encode(dict(extra or {}), "extra", arrays),
        "loop": _encode(loop, "loop", arrays),
    }
    arrays["meta"] = np.array(json.dumps(meta))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomically(path, buffer.getvalue())


def save_model(path: str | Path, model: MLP, *, history: Any = None,
               extra: dict | None = None) -> None:
    """A trained network on its own (no optimizer), in the checkpoint format."""
    save_checkpoint(path, model=model, history=history, extra=extra)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint or saved model, checking it thoroughly.

    Returns a dict: ``path``, ``architecture`` (``layers``, ``activations``, ``bias``,
    ``dtype``, ``frozen``), ``params`` (name → array), ``optimizer`` and ``scheduler`` (their
    ``state_dict()`` or None), ``epoch``, ``global_step``, ``rng`` (a ``bit_generator.state``
    or None), ``history`` (a dict or None), ``extra`` and ``loop``. Only the arrays the
    metadata refers to are read, each after its header (see :mod:`chainrule.checkpoint_read`).
    """
    path = Path(path)
    with Archive(path) as archive:
        meta = _read_meta(path, parse_meta(path.name, archive.meta_text()))
        fail = archive.fail
        _check_parameter_headers(archive, meta)
        arrays = {f"param.{name}": archive.load(f"param.{name}") for name in meta["parameters"]}
        for key in _references([meta.get(f) for f in _DECODED]):
            if key in archive.headers and key not in arrays:
                arrays[key] = archive.load(key)
    for key, array in arrays.items():
        if not key.startswith(_FLOAT_ONLY):  # extra.*: the caller's data, any values
            continue
        if array.dtype.kind != "f":
            raise fail(f"array {key!r} has dtype {array.dtype}; optimizer buffers and saved "
                       "weights are floats")
        found = first_non_finite(array)
        if found is not None:
            raise fail(f"array {key!r} holds a non-finite value: {element(key, found[0])} = "
                       f"{found[1]}")
    state: dict[str, Any] = {"path": str(path), "architecture": meta["architecture"]}
    state["params"] = {name: arrays[f"param.{name}"] for name in meta["parameters"]}
    try:
        for field in _DECODED:
            state[field] = _decode(meta.get(field), arrays)
    except KeyError as missing:
        raise fail(f"missing array {missing.args[0]!r}") from None
    state["epoch"], state["global_step"] = meta["epoch"], meta["global_step"]
    state["extra"] = state["extra"] or {}
    rng = state["rng"]
    if rng is not None and (not isinstance(rng, dict)
                            or rng.get("bit_generator") not in BIT_GENERATORS):
        raise fail("the random generator state is not one numpy can restore")
    _check_standardizer(path.name, state["extra"], meta["architecture"])
    return state


_DECODED = ("optimizer", "scheduler", "rng", "history", "extra", "loop")
# The weights and their companions: floats, and finite (a NaN in one would poison a resume).
_FLOAT_ONLY = ("param.", "opt.", "loop.best.weights.")


def _check_parameter_headers(archive: Archive, meta: dict[str, Any]) -> None:
    """Every parameter's member exists with the metadata's shape and a float dtype of the
    network's, and all of them fit MAX_PARAMETERS — read from headers, before any data."""
    dtype = meta["architecture"].get("dtype", "float64")
    total = 0
    for name, shape in meta["parameters"].items():
        key = f"param.{name}"
        if key not in archive.headers:
            raise archive.fail(f"missing array {key!r}")
        found, found_dtype = archive.headers[key]
        if not (isinstance(shape, list) and all(type(n) is int for n in shape)):
            raise archive.fail(f"parameters.{name}: expected a shape (a list of integers), "
                               f"got {shape!r}")
        if list(found) != shape:
            raise archive.fail(f"array {key!r} has shape {found}, the metadata says "
                               f"{tuple(shape)}")
        if found_dtype.kind != "f" or str(found_dtype) != dtype:
            raise archive.fail(f"array {key!r} has dtype {found_dtype}; the network's "
                               f"weights are {dtype}")
        total += math.prod(found)
    if total > MAX_PARAMETERS:
        raise archive.fail(f"{total} parameter elements; a checkpoint may hold at most "
                           f"MAX_PARAMETERS = {MAX_PARAMETERS}")


def _references(value: Any) -> list[str]:
    """Every ``{"$array": key}`` in the metadata, in order, without recursion."""
    keys, stack = [], [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if set(item) == {"$array"} and isinstance(item["$array"], str):
                keys.append(item["$array"])
            else:
                stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return keys


def _check_standardizer(name: str, extra: dict[str, Any], arch: dict[str, Any]) -> None:
    """A saved standardiser must map the network's inputs: finite means, scales finite and
    > 0 (a scale of 0 would divide a user's --input by zero and be blamed on it)."""
    scaler = extra.get("standardizer") if isinstance(extra, dict) else None
    if scaler is None:
        return
    inputs = arch["layers"][0] if arch.get("layers") else None
    for field in ("mean", "scale"):
        values = scaler.get(field) if isinstance(scaler, dict) else None
        array = np.asarray(values) if isinstance(values, (np.ndarray, list)) else None
        where = f"{name}: extra.standardizer.{field}"
        if array is None or array.ndim != 1 or array.dtype.kind not in "fiu" or (
                inputs is not None and len(array) != inputs):
            raise CheckpointError(f"{where}: expected {inputs} numbers, one per input, got "
                                  f"{_short(values)}")
        bad = ~np.isfinite(array) | ((array <= 0) if field == "scale" else False)
        if bad.any():
            i = int(np.argmax(bad))
            expected = "a finite number > 0" if field == "scale" else "a finite number"
            raise CheckpointError(f"{where}[{i}]: expected {expected}, got {array[i]}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def load_model(path: str | Path) -> tuple[MLP, dict[str, Any]]:
    """Rebuild the network saved in a checkpoint or model file; also return its contents."""
    state = load_checkpoint(path)
    arch = state["architecture"]
    try:
        depth = len(arch["layers"]) - 1
        params = state["params"]
        model = MLP(arch["layers"], arch["activations"],
                    weights=[params[f"W{i}"] for i in range(1, depth + 1)],
                    biases=None if arch["bias"] == "none" else
                    [params[f"b{i}"] for i in range(1, depth + 1)],
                    bias_mode=arch["bias"], dtype=arch.get("dtype"))
        model.freeze(*arch.get("frozen", ()))
    except (ChainruleError, KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{Path(path).name}: cannot rebuild the network "
                              f"({error})") from None
    return model, state


def architecture(model: MLP) -> dict[str, Any]:
    """What a network is, as plain data: enough to rebuild it or to refuse a mismatch."""
    return {
        "layers": list(model.sizes), "activations": list(model.activations),
        "bias": model.layers[0].bias_mode, "dtype": str(model.dtype),
        "frozen": [name for name, p in model.named_parameters() if p.frozen],
    }


def check_compatible(state: dict[str, Any], model: MLP) -> None:
    """Refuse a checkpoint made for another network: name both architectures."""
    saved, ours = state["architecture"], architecture(model)
    name = Path(state.get("path", "checkpoint")).name
    if (saved.get("layers"), saved.get("activations")) != (ours["layers"], ours["activations"]):
        raise CheckpointError(f"{name}: saved for layers {_describe(saved)}, "
                              f"this network is {_describe(ours)}")
    if saved.get("bias") != ours["bias"]:
        raise CheckpointError(f"{name}: saved with bias {saved.get('bias')!r}, "
                              f"this network uses {ours['bias']!r}")


def _describe(arch: dict[str, Any]) -> str:
    activations = list(arch.get("activations") or [])
    shown = activations[:1] if len(set(activations)) == 1 else activations
    return f"{list(arch.get('layers') or [])} ({', '.join(shown)})"


def _read_meta(path: Path, meta: Any) -> dict[str, Any]:
    name = path.name
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise CheckpointError(f"{name}: not a chainrule checkpoint (format {found!r}, "
                              f"expected {FORMAT!r})")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{name}: format version {meta.get('version')!r} is not "
                              f"supported (this chainrule reads version {VERSION})")
    for field in _REQUIRED:
        if field not in meta:
            raise CheckpointError(f"{name}: its metadata lacks {field!r}")
    if not isinstance(meta["parameters"], dict):
        raise CheckpointError(f"{name}: its metadata has malformed parameters")
    for field, limit in (("epoch", MAX_EPOCHS), ("global_step", MAX_GLOBAL_STEP)):
        value = meta[field]
        if type(value) is not int or not 0 <= value <= limit:  # bool is an int: refused too
            raise CheckpointError(f"{name}: {field}: expected an integer from 0 to {limit}, "
                                  f"got {_short(value)}")
    arch = meta["architecture"]
    if not isinstance(arch, dict) or not {"layers", "activations", "bias"} <= arch.keys():
        raise CheckpointError(f"{name}: its architecture lacks layers, activations or bias")
    return meta


def _encode(value: Any, name: str, arrays: dict[str, np.ndarray]) -> Any:
    """Plain data as JSON, each array moved to ``arrays`` and replaced by a reference.

    Tuples and dicts with non-string keys get markers, so a state comes back exactly as given.
    """
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise TypeError(f"{name}: an object array cannot be checkpointed (plain data only)")
        key, n = name, 1
        while key in arrays:  # two paths may join to the same name ("a.b" and a → b)
            key, n = f"{name}~{n}", n + 1
        arrays[key] = value
        return {"$array": key}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: _encode(v, f"{name}.{k}", arrays) for k, v in value.items()}
        return {"$items": [[_encode(k, f"{name}.key", arrays), _encode(v, f"{name}.{k}", arrays)]
                           for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v, f"{name}.{i}", arrays) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{name}.{i}", arrays) for i, v in enumerate(value)]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(f"{name}: cannot checkpoint a {type(value).__name__} (plain data only)")


def _decode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"$array"}:
        return arrays[value["$array"]]
    if set(value) == {"$tuple"}:
        return tuple(_decode(v, arrays) for v in value["$tuple"])
    if set(value) == {"$items"}:
        return {_decode(k, arrays): _decode(v, arrays) for k, v in value["$items"]}
    return {k: _decode(v, arrays) for k, v in value.items()}
