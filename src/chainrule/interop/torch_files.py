"""A saved PyTorch model as a spec: ``chainrule explain --torch WEIGHTS --arch ARCH``.

The weights are a ``state_dict``: a ``torch.save`` file (``.pt``, ``.pth``, ``.bin``) read
with ``torch.load(weights_only=True)``, which unpickles tensors and plain containers only,
never arbitrary objects; or a ``.safetensors`` file. A training checkpoint that holds the
state_dict under ``state_dict``, ``model_state_dict`` or ``model`` is read there.
A ``torch.export`` archive (``.pt2``) gives its weights too, read from its raw tensor files
and JSON index (:func:`pt2_weights`), never with ``torch.export.load``, which unpickles and
which PyTorch itself warns never to use on a file from an untrusted source; its graph is not
read, so the architecture is still ``--arch``.

The architecture is a spec file (its ``layers`` and ``input_shape``; any weights in it are
replaced) or ``FILE.py:FUNCTION``, a function of no arguments that returns the module. That
file runs as Python, as ``python FILE.py`` would: it is for your own model code, never for a
file someone sent you (give a spec instead; a spec is data, and nothing in it runs).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import ChainruleError, MissingDependency
from chainrule.interop.torch_layers import TorchImportError
from chainrule.nn.torch_export import INSTALL_HINT

MAX_WEIGHTS_BYTES = 256 << 20  # a state_dict file read at most (docs/limits.md)
_NESTED = ("state_dict", "model_state_dict", "model")


def load_state(path: str | Path) -> dict[str, Any]:
    """The tensors of a state_dict file, by name; one line for anything else."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ChainruleError(f"--torch: {path}: no such file") from None
    if not path.is_file():  # a FIFO or a device would block or never end
        raise ChainruleError(f"--torch: {path}: not a regular file")
    if size > MAX_WEIGHTS_BYTES:
        raise ChainruleError(f"--torch: {path}: {size:,} bytes; a weights file may have at "
                             f"most {MAX_WEIGHTS_BYTES:,}")
    suffix = path.suffix.lower()
    try:
        import torch
    except ImportError:
        raise MissingDependency(INSTALL_HINT) from None
    if suffix == ".pt2":
        return _checked(path, {k: torch.from_numpy(v) for k, v in pt2_weights(path).items()})
    try:
        if suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path))
        else:
            import warnings

            with warnings.catch_warnings():  # its advice is to unpickle: not taken
                warnings.simplefilter("ignore")
                state = torch.load(str(path), map_location="cpu", weights_only=True)
    except ImportError:
        raise MissingDependency("safetensors is not installed: pip install safetensors") \
            from None
    except Exception as error:  # pickle's, zipfile's, safetensors' many errors: one line
        first = (str(error).strip().splitlines() or [""])[0][:200]
        raise ChainruleError(f"--torch: {path}: not a state_dict PyTorch can load with "
                             f"weights_only=True ({type(error).__name__}: {first})") from None
    return _checked(path, state)


def _checked(path: Path, state: Any) -> dict[str, Any]:
    import torch

    if isinstance(state, dict):
        for key in _NESTED:
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not state:
        raise ChainruleError(f"--torch: {path}: expected a state_dict (names → tensors), got "
                             f"{type(state).__name__}")
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ChainruleError(f"--torch: {path}: {str(key)[:60]!r} is a "
                                 f"{type(value).__name__}, not a tensor")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ChainruleError(f"--torch: {path}: {key} holds NaN or infinity")
    return state


# torch.export's serialised dtypes (torch._export.serde.schema.ScalarType) read here
_PT2_DTYPES = {4: "<i4", 5: "<i8", 6: "<f2", 7: "<f4", 8: "<f8", 13: "bfloat16"}
MAX_PT2_ENTRIES = 10_000


def pt2_weights(path: Path) -> dict[str, np.ndarray]:
    """The parameters and buffers of a ``torch.export`` archive (``torch.export.save``),
    read from its raw tensor files and its JSON index, never through pickle: an entry the
    archive pickled, a dtype or a layout not plain, or a size beyond the file is refused.
    The graph itself is not read (the architecture comes from --arch)."""
    import json
    import zipfile

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise ChainruleError(f"--torch: {path}: not a torch.export archive ({error})") from None
    with archive:
        infos = archive.infolist()
        total = sum(info.file_size for info in infos)
        if total > MAX_WEIGHTS_BYTES or len(infos) > MAX_PT2_ENTRIES:
            raise ChainruleError(f"--torch: {path}: {total:,} bytes in {len(infos):,} files "
                                 f"unpacked; at most {MAX_WEIGHTS_BYTES:,}")
        names = {info.filename: info for info in infos}
        index = next((n for n in names if n.endswith("data/weights/model_weights_config.json")),
                     None)
        if index is None:
            raise ChainruleError(f"--torch: {path}: no data/weights/model_weights_config.json "
                                 f"(not a torch.export archive of PyTorch 2.6 or later)")
        folder = index[:-len("model_weights_config.json")]
        order = archive.read(index.replace("data/weights/model_weights_config.json",
                                           "byteorder")) if index.replace(
            "data/weights/model_weights_config.json", "byteorder") in names else b"little"
        if order.strip() != b"little":
            raise ChainruleError(f"--torch: {path}: byte order {order!r}; expected little")
        try:
            config = json.loads(archive.read(index))["config"]
        except (ValueError, KeyError, TypeError):
            raise ChainruleError(f"--torch: {path}: {index} is not the weights' index") \
                from None
        out = {}
        for key, entry in config.items():
            out[str(key)] = _pt2_tensor(archive, names, folder, str(key), entry, path)
        return out


def _pt2_tensor(archive, names, folder: str, key: str, entry: Any, path: Path) -> np.ndarray:
    where = f"--torch: {path}: {key[:60]}"
    try:
        meta = entry["tensor_meta"]
        pickled, file = bool(entry["use_pickle"]), folder + str(entry["path_name"])
        dtype, layout = meta["dtype"], meta["layout"]
        sizes = [int(d["as_int"]) for d in meta["sizes"]]
        strides = [int(d["as_int"]) for d in meta["strides"]]
        offset = int(meta["storage_offset"]["as_int"])
    except (KeyError, TypeError, ValueError):
        raise ChainruleError(f"{where}: an index entry not as torch.export writes it") from None
    if pickled:
        raise ChainruleError(f"{where}: stored pickled; chainrule never unpickles")
    if dtype not in _PT2_DTYPES or layout != 7 or file not in names:  # 7: strided
        raise ChainruleError(f"{where}: dtype {dtype} or layout {layout} not plain, or no "
                             f"data file")
    raw = archive.read(file)
    kind = _PT2_DTYPES[dtype]
    item = 2 if kind == "bfloat16" else np.dtype(kind).itemsize
    if any(n < 0 for n in sizes + strides) or offset < 0 or len(sizes) != len(strides):
        raise ChainruleError(f"{where}: negative sizes or strides")
    if min(sizes, default=1) > 0:  # a 0-d tensor too: one value at the offset
        last = offset + sum((n - 1) * st for n, st in zip(sizes, strides))
        if (last + 1) * item > len(raw):
            raise ChainruleError(f"{where}: shape {tuple(sizes)} reaches past its "
                                 f"{len(raw):,} bytes")
    flat = np.frombuffer(raw, dtype="<u2" if kind == "bfloat16" else kind)
    if kind == "bfloat16":  # the top half of a float32
        flat = (flat.astype(np.uint32) << 16).view(np.float32)
    if min(sizes, default=1) == 0:
        return np.zeros(sizes, dtype=flat.dtype)
    view = np.lib.stride_tricks.as_strided(flat[offset:], shape=sizes,
                                           strides=[st * flat.itemsize for st in strides])
    return np.array(view, copy=True)


def arch_module(arch: str) -> tuple[Any, tuple[int, ...] | None, dict[str, Any]]:
    """(the torch module of ``arch``, the spec's input shape or None, the spec's step
    fields: loss, learning_rate, input, target where it gives them)."""
    path, _, function = arch.rpartition(":") if ".py:" in arch else (arch, "", "")
    if function:
        return _from_python(Path(path), function), None, {}
    from chainrule.spec.network import parse_spec, read_spec_file

    file = Path(arch)
    if not file.exists():
        raise ChainruleError(f"--arch: {arch}: no such file (a spec file, or FILE.py:FUNCTION)")
    data = read_spec_file(file)
    if not isinstance(data, dict):
        raise ChainruleError(f"--arch: {arch}: expected a spec (an object with layers)")
    step = {key: data[key] for key in ("loss", "learning_rate", "input", "target", "inputs",
                                       "targets", "name") if key in data}
    layers = data.get("layers")
    if isinstance(layers, list) and layers and all(isinstance(x, dict) for x in layers):
        # typed layers: only the architecture is needed, the step comes from the options
        from chainrule.spec.common import MAX_LAYERS, MAX_PARAMETERS
        from chainrule.spec.layered import parse_layers
        from chainrule.spec.layered_build import build_network
        from chainrule.spec.layered_spec import check_input_shape

        shape = check_input_shape(data.get("input_shape"))
        model = build_network(parse_layers(layers, shape, max_layers=MAX_LAYERS,
                                           max_parameters=MAX_PARAMETERS), shape)
    else:
        model = parse_spec(data, default_name=file.stem).build_model()
    return model.to_torch(), tuple(model.input_shape), step


def _from_python(path: Path, function: str):
    import torch

    if not path.is_file():
        raise ChainruleError(f"--arch: {path}: no such file")
    name = f"_chainrule_arch_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ChainruleError(f"--arch: {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
        build = getattr(module, function, None)
        if not callable(build):
            raise ChainruleError(f"--arch: {path} has no function {function!r}")
        made = build()
    except ChainruleError:
        raise
    except Exception as error:  # the user's code: its error in one line, with the place
        first = (str(error).strip().splitlines() or [""])[0][:200]
        raise ChainruleError(f"--arch: {path}:{function}() failed: {type(error).__name__}: "
                             f"{first}") from None
    finally:
        sys.modules.pop(name, None)
    if not isinstance(made, torch.nn.Module):
        raise ChainruleError(f"--arch: {path}:{function}() returned a "
                             f"{type(made).__name__}, not a torch.nn.Module")
    return made


def load_weights(module, state: dict[str, Any], where: str) -> None:
    """``module.load_state_dict(state)``, strict, every name and shape checked first and the
    first mismatch named in one line."""
    import torch

    own = module.state_dict()
    missing = [key for key in own if key not in state]
    extra = [key for key in state if key not in own]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"no {', '.join(missing[:3])}{' …' if len(missing) > 3 else ''}")
        if extra:
            parts.append(f"{', '.join(extra[:3])}{' …' if len(extra) > 3 else ''} not in "
                         f"the architecture")
        hint = ""
        if all(key.split(".")[0].isdigit() for key in own) and \
                not any(key.split(".")[0].isdigit() for key in state):
            hint = (" (a spec's layers are named by position, 0.weight; for your module's "
                    "own names give --arch FILE.py:FUNCTION)")
        raise TorchImportError(f"{where}: the weights do not fit the architecture: "
                               f"{'; '.join(parts)}{hint}")
    for key, value in own.items():
        if tuple(state[key].shape) != tuple(value.shape):
            raise TorchImportError(f"{where}: {key}: the architecture has shape "
                                   f"{tuple(value.shape)}, the weights {tuple(state[key].shape)}")
    with torch.no_grad():
        module.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


def _torch_layer_names(names: dict[str, str]) -> str:
    """"From PyTorch; its layers as the module names them: 0 is conv1, 4 is fc1", where they
    are named otherwise than by position (a traced module): what the explanation says above
    its layers."""
    pairs: dict[str, str] = {}
    for ours, theirs in names.items():
        layer, rest = ours.rsplit(".", 1)[0], theirs.rsplit(".", 1)[0]
        if layer != rest:
            pairs.setdefault(layer, rest)
    if not pairs:
        return ""
    shown = ", ".join(f"{layer} is {name}" for layer, name in list(pairs.items())[:20])
    more = " …" if len(pairs) > 20 else ""
    return f"From PyTorch; its layers as the module names them: {shown}{more}."


def torch_step_spec(weights: str, arch: str, *, input_shape=None, loss: str | None = None,
                    learning_rate: float | None = None, input: Any = None,
                    target: Any = None) -> dict[str, Any]:
    """The spec of one step of the saved model: the architecture with the weights, and the
    example (``input``, ``target``: numbers, reshaped to the input's shape, a single whole
    number or one per example a class index for a loss of classes; or the spec's)."""
    from chainrule.interop.torch_in import spec_and_names

    module, spec_shape, step = arch_module(arch)
    load_weights(module, load_state(weights), f"--torch {Path(weights).name}")
    shape = tuple(input_shape) if input_shape is not None else spec_shape
    spec, names = spec_and_names(module.double(), shape, loss=loss or step.get("loss"),
                                 learning_rate=learning_rate or step.get("learning_rate", 0.1),
                                 name=str(step.get("name") or Path(weights).stem))
    described = _torch_layer_names(names)
    if described:
        spec["description"] = described
    _example(spec, step, input, target)
    return spec


def _example(spec: dict[str, Any], step: dict[str, Any], input: Any, target: Any) -> None:
    """The spec's example: the numbers given, shaped, or the architecture spec's own."""
    from chainrule.tables.losses import LOSS_TABLE

    shape = tuple(spec["input_shape"])
    size = int(np.prod(shape))
    if input is not None:
        values = np.asarray(input, dtype=float)
        if values.size == size:
            values = values.reshape(shape)
        elif values.size % size == 0:
            values = values.reshape(-1, *shape)
        else:
            raise ChainruleError(f"--input: {values.size} numbers, but one example of shape "
                                 f"{shape} has {size}")
        spec["inputs" if values.ndim > len(shape) else "input"] = values.tolist()
    else:
        spec.update({k: step[k] for k in ("input", "inputs") if k in step})
    if target is not None:
        target = np.ravel(np.asarray(target, dtype=float)).tolist()  # one number or many
        loss = spec.get("loss")
        classes = loss is None or (loss in LOSS_TABLE and LOSS_TABLE[loss].target == "classes")
        n = len(spec["inputs"]) if "inputs" in spec else 1
        if classes and len(target) == n and all(float(v).is_integer() for v in target):
            target = [int(v) for v in target]  # a class index per example
            spec["loss"] = loss or "cross_entropy"
            target = target if "inputs" in spec else target[0]
        elif "inputs" in spec and len(target) % n == 0:  # one row of values per example
            target = np.reshape(target, (n, -1)).tolist()
        spec["targets" if "inputs" in spec else "target"] = target
    else:
        spec.update({k: step[k] for k in ("target", "targets") if k in step})
    if spec.get("loss") is None:
        spec["loss"] = "mse"
    for need in ("input", "target"):
        if need not in spec and f"{need}s" not in spec:
            raise ChainruleError(f"--torch: give --{need} (the example whose step is "
                                 f"explained)")
