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
import zipfile
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from chainrule import __version__
from chainrule.errors import ChainruleError
from chainrule.files import write_atomically
from chainrule.nn import MLP

FORMAT, VERSION = "chainrule.checkpoint", 1
# Bit generators a checkpoint may name; anything else is refused rather than looked up.
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
_REQUIRED = ("architecture", "parameters", "epoch", "global_step")


class CheckpointError(ChainruleError, ValueError):
    """A checkpoint or saved model cannot be read or does not fit: one line naming the file."""


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
    or None), ``history`` (a dict or None), ``extra`` and ``loop``.
    """
    path = Path(path)
    arrays = _read_arrays(path)
    meta = _read_meta(path, arrays)

    def fail(problem: str) -> CheckpointError:
        return CheckpointError(f"{path.name}: {problem}")

    state: dict[str, Any] = {"path": str(path), "architecture": meta["architecture"]}
    state["params"] = {}
    for name, shape in meta["parameters"].items():
        key = f"param.{name}"
        if key not in arrays:
            raise fail(f"missing array {key!r}")
        if list(arrays[key].shape) != list(shape):
            raise fail(f"array {key!r} has shape {arrays[key].shape}, "
                       f"the metadata says {tuple(shape)}")
        state["params"][name] = arrays[key]
    try:
        for field in ("optimizer", "scheduler", "rng", "history", "extra", "loop"):
            state[field] = _decode(meta.get(field), arrays)
    except KeyError as missing:
        raise fail(f"missing array {missing.args[0]!r}") from None
    state["epoch"], state["global_step"] = meta["epoch"], meta["global_step"]
    state["extra"] = state["extra"] or {}
    rng = state["rng"]
    if rng is not None and (not isinstance(rng, dict)
                            or rng.get("bit_generator") not in BIT_GENERATORS):
        raise fail("the random generator state is not one numpy can restore")
    return state


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


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    name = path.name
    try:
        # Our own handle, closed here: np.load leaks the file it opened when a zip is corrupt.
        with open(path, "rb") as file:
            return _arrays_from(file, name)
    except FileNotFoundError:
        raise CheckpointError(f"{name}: no such file") from None
    except CheckpointError:
        raise
    except OSError as error:
        raise CheckpointError(f"{name}: cannot read ({error.strerror or error})") from None


def _arrays_from(file: BinaryIO, name: str) -> dict[str, np.ndarray]:
    head = file.read(6)
    if not head:
        raise CheckpointError(f"{name}: empty file (a truncated checkpoint?)")
    if head == b"\x93NUMPY":
        raise CheckpointError(f"{name}: a single NumPy array (.npy), not a checkpoint (.npz)")
    if not head.startswith(b"PK"):
        raise CheckpointError(f"{name}: not a checkpoint (not an .npz archive)")
    file.seek(0)
    arrays: dict[str, np.ndarray] = {}
    key = None
    try:
        with np.load(file, allow_pickle=False) as archive:
            for key in archive.files:
                arrays[key] = archive[key]
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise CheckpointError(f"{name}: array {key!r} holds Python objects; refused, as "
                                  "loading it could run code") from None
        raise CheckpointError(f"{name}: truncated or corrupt ({error})") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
        raise CheckpointError(f"{name}: truncated or corrupt archive ({error})") from None
    return arrays


def _read_meta(path: Path, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    name = path.name
    text = arrays.get("meta")
    if text is None or text.ndim != 0 or text.dtype.kind != "U":
        raise CheckpointError(f"{name}: not a chainrule checkpoint (no 'meta' entry)")
    try:
        meta = json.loads(str(text[()]))
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{name}: its metadata is not valid JSON ({error})") from None
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
    if not isinstance(meta["parameters"], dict) or not all(
            isinstance(meta[field], int) for field in ("epoch", "global_step")):
        raise CheckpointError(f"{name}: its metadata has malformed parameters, epoch or step")
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
