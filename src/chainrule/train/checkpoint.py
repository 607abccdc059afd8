"""Checkpoints and saved models: one ``.npz`` file that loses nothing and runs no code.

A file holds NumPy arrays only — the parameters (``param.W1``, ``param.b1``, ...), the
optimizer's buffers (``opt.*``), anything array-valued in the scheduler (``sched.*``), the
training loop (``loop.*``) and ``extra`` (``extra.*``, e.g. a standardiser's mean and scale) —
plus ``meta``: a 0-d unicode array holding JSON (format ``chainrule.train.checkpoint``, version 1)
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
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.version import __version__
from chainrule.train.checkpoint_meta import (MAX_EPOCHS, MAX_GLOBAL_STEP,  # noqa: F401
                                       check_parameter_headers, check_standardizer, layer_specs,
                                       read_meta, references)
from chainrule.train.checkpoint_read import (MAX_PARAMETERS, Archive, CheckpointError,  # noqa: F401
                                       parse_meta)
from chainrule.errors import ChainruleError
from chainrule.files import write_atomically
from chainrule.finite import element, first_non_finite
from chainrule.nn import MLP

FORMAT, VERSION = "chainrule.train.checkpoint", 1
# Bit generators a checkpoint may name; anything else is refused rather than looked up.
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


def save_checkpoint(path: str | Path, *, model: MLP, optimizer: Any = None, scheduler: Any = None,
                    epoch: int = 0, global_step: int = 0,
                    rng: np.random.Generator | dict | None = None, history: Any = None,
                    extra: dict | None = None, loop: dict | None = None) -> None:
    """Write everything needed to continue training to ``path``, atomically.

    ``epoch`` counts completed epochs; ``rng`` is the shuffling generator (or its
    ``bit_generator.state``); ``history`` a :class:`chainrule.train.loop.History` or its dict;
    ``extra`` the caller's plain data (arrays allowed); ``loop`` the training loop's own
    state (a partly done epoch, early stopping), written by :func:`chainrule.train.loop.fit`.
    """
    arrays: dict[str, np.ndarray] = {}
    for name, p in model.named_parameters():
        arrays[f"param.{name}"] = p.data
    buffers = dict(model.named_buffers())
    for name, b in buffers.items():
        arrays[f"buffer.{name}"] = np.asarray(b)
    if isinstance(rng, np.random.Generator):
        rng = rng.bit_generator.state
    if history is not None and not isinstance(history, dict):
        history = history.to_dict()
    meta = {
        "format": FORMAT, "version": VERSION, "chainrule": __version__,
        "architecture": architecture(model),
        "parameters": {name: list(p.shape) for name, p in model.named_parameters()},
        **({"buffers": {name: list(np.shape(b)) for name, b in buffers.items()}}
           if buffers else {}),
        **({"generators": {name: g.bit_generator.state for name, g in generators}}
           if (generators := model.named_generators()) else {}),
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
    metadata refers to are read, each after its header (see :mod:`chainrule.train.checkpoint_read`).
    """
    path = Path(path)
    with Archive(path) as archive:
        meta = read_meta(path.name, parse_meta(path.name, archive.meta_text()), FORMAT, VERSION)
        fail = archive.fail
        check_parameter_headers(archive, meta)
        arrays = {f"param.{name}": archive.load(f"param.{name}") for name in meta["parameters"]}
        arrays.update((f"buffer.{name}", archive.load(f"buffer.{name}"))
                      for name in meta.get("buffers") or {})
        for key in references([meta.get(f) for f in _DECODED]):
            if key in archive.headers and key not in arrays:
                arrays[key] = archive.load(key)
    for key, array in arrays.items():
        if not key.startswith(_FLOAT_ONLY):  # extra.*: the caller's data, any values
            continue
        if array.dtype.kind != "f" and not (key.endswith("num_batches_tracked")
                                            and array.dtype.kind in "iu"):
            raise fail(f"array {key!r} has dtype {array.dtype}; optimizer buffers and saved "
                       "weights are floats")
        found = first_non_finite(array)
        if found is not None:
            raise fail(f"array {key!r} holds a non-finite value: {element(key, found[0])} = "
                       f"{found[1]}")
    state: dict[str, Any] = {"path": str(path), "architecture": meta["architecture"]}
    state["params"] = {name: arrays[f"param.{name}"] for name in meta["parameters"]}
    state["buffers"] = {name: arrays[f"buffer.{name}"] for name in meta.get("buffers") or {}}
    state["generators"] = meta.get("generators") or {}
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
    check_standardizer(path.name, state["extra"], meta["architecture"])
    return state


_DECODED = ("optimizer", "scheduler", "rng", "history", "extra", "loop")
# The weights and their companions: floats, and finite (a NaN in one would poison a resume).
_FLOAT_ONLY = ("param.", "buffer.", "opt.", "loop.best.weights.")


def load_model(path: str | Path) -> tuple[MLP, dict[str, Any]]:
    """Rebuild the network saved in a checkpoint or model file; also return its contents."""
    state = load_checkpoint(path)
    arch = state["architecture"]
    if arch.get("kind") == "layers":
        return _load_network(path, state), state
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


def _load_network(path: str | Path, state: dict[str, Any]):
    from chainrule.spec.layered_build import build_network

    arch = state["architecture"]
    model = build_network(layer_specs(Path(path).name, arch), tuple(arch["input_shape"]),
                          dtype=arch.get("dtype"))
    try:
        model.load_state_dict({**state["params"], **state["buffers"]})
        model.freeze(*arch.get("frozen", ()))
        restore_generators(model, state["generators"])
    except (ChainruleError, KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{Path(path).name}: cannot rebuild the network "
                              f"({error})") from None
    return model


def restore_generators(model, states: dict[str, Any]) -> None:
    """Put each dropout mask's generator back where a run left it (a resume draws the
    masks the run left alone would have drawn)."""
    for name, generator in model.named_generators():
        if name in states:
            generator.bit_generator.state = states[name]


def standardized_input(state: dict[str, Any], x: np.ndarray,
                       option: str = "--input") -> np.ndarray:
    """``x`` standardised as in training, (x − mean) / scale with the checkpoint's standardiser
    (``x`` itself without one); one line naming the value if that overflows float64."""
    scaler = (state.get("extra") or {}).get("standardizer")
    if scaler is None:
        return x
    mean, scale = np.asarray(scaler["mean"], dtype=float), np.asarray(scaler["scale"], dtype=float)
    with np.errstate(all="ignore"):  # checked just below, named
        out = (x - mean) / scale
    found = first_non_finite(out)
    if found is not None:
        (i,) = found[0]
        raise ChainruleError(f"{option}: value {i + 1}, {x[i]:g}, overflows float64 once "
                             f"standardised with the mean {mean[i]:g} and scale {scale[i]:g} "
                             f"saved in {Path(state['path']).name}")
    return out


def architecture(model: MLP) -> dict[str, Any]:
    """What a network is, as plain data: enough to rebuild it or to refuse a mismatch."""
    if not isinstance(model, MLP):  # a Network of typed layers (chainrule.nn.network)
        return {"kind": "layers", "input_shape": list(model.input_shape),
                "layers": model.description, "dtype": str(model.dtype),
                "frozen": [name for name, p in model.named_parameters() if p.frozen]}
    return {
        "layers": list(model.sizes), "activations": list(model.activations),
        "bias": model.layers[0].bias_mode, "dtype": str(model.dtype),
        "frozen": [name for name, p in model.named_parameters() if p.frozen],
    }


def check_compatible(state: dict[str, Any], model: MLP) -> None:
    """Refuse a checkpoint made for another network: name both architectures."""
    saved, ours = state["architecture"], architecture(model)
    name = Path(state.get("path", "checkpoint")).name
    if saved.get("kind") == "layers" or ours.get("kind") == "layers":
        if (saved.get("input_shape"), saved.get("layers")) != (ours.get("input_shape"),
                                                                ours.get("layers")):
            raise CheckpointError(f"{name}: saved for {_describe(saved)}, this network is "
                                  f"{_describe(ours)}")
        return
    if (saved.get("layers"), saved.get("activations")) != (ours["layers"], ours["activations"]):
        raise CheckpointError(f"{name}: saved for layers {_describe(saved)}, "
                              f"this network is {_describe(ours)}")
    if saved.get("bias") != ours["bias"]:
        raise CheckpointError(f"{name}: saved with bias {saved.get('bias')!r}, "
                              f"this network uses {ours['bias']!r}")


def _describe(arch: dict[str, Any]) -> str:
    if arch.get("kind") == "layers":
        types = [layer.get("type") for layer in arch.get("layers") or []
                 if isinstance(layer, dict)]
        return f"the layers {' → '.join(map(str, types))} on input {arch.get('input_shape')}"
    activations = list(arch.get("activations") or [])
    shown = activations[:1] if len(set(activations)) == 1 else activations
    return f"{list(arch.get('layers') or [])} ({', '.join(shown)})"


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
