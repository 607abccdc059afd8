"""sympy's gradient values for a network, remembered between runs of ``chainrule verify``.

Of a one-second ``verify``, sympy takes about 0.7 s, nearly all of it its import and its first
use (its ``Add`` imports ``sympy.tensor`` and ``sympy.combinatorics``), not the derivation.
The values are a function of what the derivation reads and nothing else: the spec's parameter
values, inputs, targets, activations, loss and bias, leaky relu's slope, the source of
:mod:`chainrule.verify.symbolic` and sympy's release. A file named by a hash of all of them
therefore holds sympy's own answer for that network, and a later run on the same network reads
it instead of importing sympy; change a weight, a formula or sympy, and the name changes. The
report says when values were read back. The command line keeps the files under
``$XDG_CACHE_HOME/chainrule/symbolic`` (``~/.cache/...``; ``--no-cache`` derives afresh);
:func:`chainrule.verify.report.verify` keeps none unless it is given a folder.
"""

from __future__ import annotations

import hashlib
import json
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from chainrule.errors import MissingDependency
from chainrule.spec.network import Spec
from chainrule.tables.activations import LEAKY_RELU_SLOPE
from chainrule.verify import background, symbolic


def symbolic_values(spec: Spec, folder: Path | None) -> tuple[dict[str, float], Path | None]:
    """(values by element key, the file they were read from or None if derived now)."""
    return start_symbolic_values(spec, folder).result()


def start_symbolic_values(spec: Spec, folder: Path | None) -> background.Pending:
    """:func:`symbolic_values` on its way: read back at once, or derived in a child process
    (verify/background.py) while the caller runs the other checks. Without sympy this raises
    :class:`MissingDependency` at once, before any child is started."""
    key = _key(spec) if folder is not None else None
    path = None if key is None else folder / f"{key}.json"
    if path is not None:
        values = _read(path)
        if values is not None:
            return background.done((values, path))
    return background.start(_derive, spec, None if path is None else str(path))


def _derive(spec: Spec, path: str | None) -> tuple[dict[str, float], None]:
    """sympy's values, kept in ``path`` for the next run on this network when there is one."""
    values = symbolic.symbolic_values(spec)
    if path is not None:
        try:
            from chainrule.files import write_atomically

            Path(path).parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, json.dumps({"values": values}))
        except OSError:  # a read-only home: nothing remembered, nothing wrong
            pass
    return values, None


def _key(spec: Spec) -> str | None:
    """The hash of everything the derivation reads; None without sympy (then it says so)."""
    try:
        found = find_spec("sympy")
    except ValueError:  # sys.modules["sympy"] is None: as not installed
        found = None
    if found is None or found.origin is None:
        raise MissingDependency(symbolic.INSTALL_HINT)
    release = Path(found.origin).with_name("release.py")
    material = {
        "symbolic.py": hashlib.sha256(Path(symbolic.__file__).read_bytes()).hexdigest(),
        "sympy": release.read_text(encoding="utf-8") if release.exists() else found.origin,
        "slope": LEAKY_RELU_SLOPE, "layers": [int(n) for n in spec.layers],
        "activations": list(spec.activations), "loss": spec.loss, "bias": spec.bias,
        "batched": bool(spec.batched), "inputs": np.asarray(spec.inputs, float).tolist(),
        "targets": np.asarray(spec.targets).tolist(),
        "parameters": [[name, list(p.data.shape), np.asarray(p.data, float).ravel().tolist()]
                       for name, p in spec.build_model().named_parameters()],
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def _read(path: Path) -> dict[str, float] | None:
    """The remembered values, or None where there are none (or a file that is not ours)."""
    try:
        values = json.loads(path.read_text(encoding="utf-8"))["values"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(values, dict) or not all(
            isinstance(k, str) and isinstance(v, (int, float)) for k, v in values.items()):
        return None
    return {k: float(v) for k, v in values.items()}
