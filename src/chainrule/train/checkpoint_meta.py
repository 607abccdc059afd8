"""A checkpoint's metadata and headers, checked before a network is built from them.

Everything here reads plain data (the decoded JSON, the members' headers) and either returns
or raises a :class:`CheckpointError` naming the file and the field: ``epoch: expected an
integer from 0 to 10000000, got -1``. The limits are documented in docs/limits.md.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.train.checkpoint_read import MAX_PARAMETERS, Archive, CheckpointError

MAX_EPOCHS = 10_000_000  # completed epochs a checkpoint may claim (chainrule train's limit too)
MAX_GLOBAL_STEP = 2**53  # optimizer steps: beyond, a float64 learning-rate schedule is inexact
_REQUIRED = ("architecture", "parameters", "epoch", "global_step")


def check_parameter_headers(archive: Archive, meta: dict[str, Any]) -> None:
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
    for name, shape in (meta.get("buffers") or {}).items():  # batch norm's statistics
        key = f"buffer.{name}"
        if key not in archive.headers:
            raise archive.fail(f"missing array {key!r}")
        if not (isinstance(shape, list) and all(type(n) is int for n in shape)) or \
                list(archive.headers[key][0]) != shape:
            raise archive.fail(f"array {key!r} has shape {archive.headers[key][0]}, the "
                               f"metadata says {shape!r}")
        total += math.prod(shape)
    if total > MAX_PARAMETERS:
        raise archive.fail(f"{total} parameter elements; a checkpoint may hold at most "
                           f"MAX_PARAMETERS = {MAX_PARAMETERS}")


def references(value: Any) -> list[str]:
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


def check_standardizer(name: str, extra: dict[str, Any], arch: dict[str, Any]) -> None:
    """A saved standardiser must map the network's inputs: finite means, scales finite and
    > 0 (a scale of 0 would divide a user's --input by zero and be blamed on it)."""
    scaler = extra.get("standardizer") if isinstance(extra, dict) else None
    if scaler is None:
        return
    # checked by read_meta: a list of positive integers
    inputs = math.prod(arch["input_shape"]) if arch.get("kind") == "layers" else arch["layers"][0]
    for field in ("mean", "scale"):
        values = scaler.get(field) if isinstance(scaler, dict) else None
        plain = isinstance(values, list) and all(type(v) in (int, float) for v in values)
        array = values if isinstance(values, np.ndarray) else (
            np.asarray(values, dtype=float) if plain else None)
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


def read_meta(name: str, meta: Any, fmt: str, version: int) -> dict[str, Any]:
    """The decoded metadata, checked field by field: format, version, epoch, step, shapes."""
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise CheckpointError(f"{name}: not a chainrule checkpoint (format {found!r}, "
                              f"expected {fmt!r})")
    if meta.get("version") != version:
        raise CheckpointError(f"{name}: format version {meta.get('version')!r} is not "
                              f"supported (this chainrule reads version {version})")
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
    for field in ("optimizer", "scheduler", "rng", "history", "extra", "loop", "buffers",
                  "generators"):
        if meta.get(field) is not None and not isinstance(meta[field], dict):
            raise CheckpointError(f"{name}: {field}: expected an object or null, got "
                                  f"{_short(meta[field])}")
    _check_loop(name, meta.get("loop") or {})
    arch = meta["architecture"]
    if isinstance(arch, dict) and arch.get("kind") == "layers":
        layer_specs(name, arch)
        return meta
    if not isinstance(arch, dict) or not {"layers", "activations", "bias"} <= arch.keys():
        raise CheckpointError(f"{name}: its architecture lacks layers, activations or bias")
    _check_architecture(name, arch, meta["parameters"])
    return meta


def _check_architecture(name: str, arch: dict[str, Any], parameters: dict[str, Any]) -> None:
    """Plain types, and layer sizes that agree with the weights' shapes: the sizes are then
    bounded by MAX_PARAMETERS too, before a network is built from them."""
    layers, activations = arch["layers"], arch["activations"]
    if not (isinstance(layers, list) and len(layers) >= 2
            and all(type(n) is int and n >= 1 for n in layers)):
        raise CheckpointError(f"{name}: architecture.layers: expected a list of at least two "
                              f"positive integers, got {_short(layers)}")
    if not (isinstance(activations, list) and len(activations) == len(layers) - 1
            and all(isinstance(a, str) for a in activations)):
        raise CheckpointError(f"{name}: architecture.activations: expected {len(layers) - 1} "
                              f"names, one per layer, got {_short(activations)}")
    for field, kinds in (("bias", str), ("dtype", str), ("frozen", list)):
        if field in arch and not isinstance(arch[field], kinds):
            raise CheckpointError(f"{name}: architecture.{field}: expected a "
                                  f"{kinds.__name__}, got {_short(arch[field])}")
    if arch.get("dtype", "float64") not in ("float64", "float32"):
        raise CheckpointError(f"{name}: architecture.dtype: expected 'float64' or 'float32', "
                              f"got {_short(arch['dtype'])}")
    for layer in range(1, len(layers)):
        shape = [layers[layer - 1], layers[layer]]
        if parameters.get(f"W{layer}") != shape:
            raise CheckpointError(f"{name}: parameters.W{layer}: expected shape {shape} for "
                                  f"architecture.layers {layers}, got "
                                  f"{_short(parameters.get(f'W{layer}'))}")


def layer_specs(name: str, arch: dict[str, Any]):
    """A network of typed layers' architecture, validated as a spec's layers are (the same
    limits, one line naming the field); its LayerSpecs."""
    from chainrule.errors import SpecError
    from chainrule.spec.layered import parse_layers
    from chainrule.spec.layered_spec import check_input_shape
    from chainrule.spec.common import MAX_LAYERS

    if arch.get("dtype", "float64") not in ("float64", "float32") or not isinstance(
            arch.get("frozen", []), list):
        raise CheckpointError(f"{name}: architecture: expected dtype 'float64' or 'float32' "
                              f"and a list of frozen names, got {_short(arch)}")
    try:
        return parse_layers(arch.get("layers"), check_input_shape(arch.get("input_shape")),
                            max_layers=MAX_LAYERS, max_parameters=MAX_PARAMETERS,
                            path="architecture.layers")
    except SpecError as error:
        raise CheckpointError(f"{name}: {error}") from None


def _check_loop(name: str, loop: dict[str, Any]) -> None:
    """The training loop's own state (see chainrule.train.loop): how far an epoch had got, and
    early stopping's best so far; a forged one would fail in the middle of a resumed run."""
    partial = loop.get("partial")
    if partial is not None:
        counts = ("batch", "seen")
        # correct: a count, or for a sequence a sum of per-example fractions of positions
        if not (isinstance(partial, dict) and all(type(partial.get(k)) is int
                                                  and partial[k] >= 0 for k in counts)
                and type(partial.get("correct")) in (int, float) and partial["correct"] >= 0
                and type(partial.get("loss_sum")) in (int, float)):
            raise CheckpointError(f"{name}: loop.partial: expected batch, correct and seen "
                                  f"counts and a loss_sum, got {_short(partial)}")
    best = loop.get("best")
    if best is not None and not (isinstance(best, dict)
                                 and {"loss", "epoch", "wait", "weights"} <= best.keys()
                                 and type(best["wait"]) is int
                                 and (best["weights"] is None
                                      or isinstance(best["weights"], dict))):
        raise CheckpointError(f"{name}: loop.best: expected loss, epoch, wait and weights of "
                              f"early stopping, got {_short(best)}")
