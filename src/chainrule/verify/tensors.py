"""Someone's intermediate tensors, each against chainrule's: the ``cmp(name, dt, t)`` check of
"becoming a backprop ninja", for every quantity of a network's step at once.

>>> report = check_tensors("seed", {"z1": z1, "dz1": dz1, "dW1": dW1})   # doctest: +SKIP
>>> print(report)                      # a table: exact / close / max |diff| / shape per name
>>> report.first_off                   # the first name, in the step's order, that is off
>>> TensorChecker("seed").cmp("dW1", dW1)   # one line, as the ninja notebook prints it

Names are chainrule's own (``forward.z1``, ``backward.delta2``, ``gradients.W1``,
``updated.b1``, ``forward.loss``, ``loss_after``) or the short ones a notebook uses
(:data:`ALIASES`): ``z1``, ``a1`` or ``h1``, ``dz1`` or ``delta1`` (∂E/∂z¹, the delta),
``dW1``, ``db1``, ``da2`` (∂E/∂a of the output layer), ``W1_new``, ``b1_new``, ``loss``,
``loss_after``. Layers count from 1, as the trace's names do.

Each tensor is judged as ``--impl`` judges a function's numbers (chainrule.verify.marking, to
1e-6 relative): from the tensors given before it, so the first one that is off is where the
error begins and what follows correctly from it is ``carried``; the catalogue mistake that
explains the numbers is named. Beside that verdict each row shows what the ninja's ``cmp``
shows: ``exact`` (every element equal to chainrule's float64 number, bit for bit: expect
"no" from another order of sums), ``close`` (every element within the tolerance of chainrule's
own number, not carried) and the largest |difference|.

A notebook's namespace (``globals()``) may be passed with ``namespace=True``: names that are
not quantities of the step, and values that are not arrays of numbers, are left out. A file is
an ``.npz`` (read without pickles, every array's size checked from its header before it is
read) or a JSON mapping of name to nested lists; :data:`MAX_TENSOR_BYTES` and
:data:`MAX_ELEMENTS` bound it.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from chainrule.errors import SpecError
from chainrule.spec.network import Spec
from chainrule.verify.impl import IMPL_TOLERANCE
from chainrule.verify.judging import (
    CARRIED, CLOSE, CORRECT, ROUNDED, WRONG, AnswerReport, Cell, network_truth,
)
from chainrule.verify.marking import judge
from chainrule.verify.reference import as_spec

MAX_TENSOR_BYTES = 64 * 2 ** 20  # a tensors file larger than this is refused unread
MAX_ELEMENTS = 1_000_000  # numbers in one file (a step's quantities are far fewer)
ALIASES = (  # (pattern, chainrule's name): {l} is a layer number
    (r"z(\d+)", "forward.z{}"), (r"[ah](\d+)", "forward.a{}"),
    (r"(?:dz|delta)(\d+)", "backward.delta{}"), (r"da(\d+)", "backward.dE_da{}"),
    (r"dW(\d+)", "gradients.W{}"), (r"db(\d+)", "gradients.b{}"),
    (r"W(\d+)_new", "updated.W{}"), (r"b(\d+)_new", "updated.b{}"),
    (r"loss", "forward.loss"), (r"loss_after", "loss_after"),
)
SECTIONS = ("forward", "backward", "gradients", "updated")


def quantity_of(name: str, truth: Mapping[str, Any]) -> str | None:
    """chainrule's name for ``name`` (its own, or an alias), if the step has such a quantity;
    ``forward.a0`` (the input) and ``parameters.*`` (given, not worked) are not checked."""
    if name in truth and name.split(".")[0] in (*SECTIONS, "loss_after") \
            and name != "forward.a0":
        return name
    for pattern, template in ALIASES:
        match = re.fullmatch(pattern, name)
        if match:
            key = template.format(*match.groups())
            return key if key in truth and key != "forward.a0" else None
    return None


@dataclass
class TensorRow:
    name: str  # as given
    quantity: str  # chainrule's name
    shape: tuple[int, ...]  # as given
    expected_shape: tuple[int, ...]
    exact: bool
    close: bool
    max_diff: float | None  # None for a wrong shape
    status: str  # the worst of its elements': wrong, carried, correct (or another marking's)
    mistakes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "quantity": self.quantity, "shape": list(self.shape),
                "expected_shape": list(self.expected_shape), "exact": self.exact,
                "close": self.close, "max_diff": self.max_diff, "status": self.status,
                "mistakes": list(self.mistakes)}


@dataclass
class TensorReport:
    network: str
    rows: list[TensorRow]  # in the step's order
    marked: AnswerReport  # the element-by-element marking the rows summarise
    source: str = "tensors"

    @property
    def ok(self) -> bool:
        return self.marked.ok

    @property
    def first_off(self) -> TensorRow | None:
        """The first tensor, in the step's order, that is not right on its own terms."""
        first = self.marked.first_wrong
        if first is None:
            return None
        key = first["quantity"].split("[")[0]
        return next((row for row in self.rows if row.quantity == key), None)

    def __str__(self) -> str:
        header = ("name", "quantity", "shape", "exact", "close", "max |diff|", "result")
        lines = [(r.name, r.quantity, shape_text(r.shape, r.expected_shape), yes(r.exact),
                  yes(r.close), "—" if r.max_diff is None else f"{r.max_diff:.3g}",
                  r.status + (f" ({', '.join(r.mistakes)})" if r.mistakes else ""))
                 for r in self.rows]
        widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
        out = [f"{self.source} on network {self.network} (to "
               f"{IMPL_TOLERANCE.rel:g} relative, from the tensors before each)"]
        out += ["  " + "  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip()
                for line in [header, *lines]]
        first = self.first_off
        out.append("")
        if first is None:
            out.append(f"All {len(self.rows)} tensors agree with chainrule's step.")
        else:
            given = self.marked.first_wrong
            out.append(f"First off: {first.name} ({given['quantity']}: {given['given']} "
                       f"given, {_shown(given['expected'])} expected).")
            out.append(self.marked.verdict)
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any]:
        first = self.first_off
        return {"network": self.network, "source": self.source, "ok": self.ok,
                "tensors": [row.to_dict() for row in self.rows],
                "first_off": None if first is None else first.name,
                "marking": self.marked.to_dict()}


def check_tensors(spec: Spec | str | Path | dict, tensors: Mapping[str, Any],
                  namespace: bool = False, source: str = "tensors") -> TensorReport:
    """Judge each named tensor against chainrule's step of ``spec`` (see the module
    docstring); a SpecError names an unknown name (unless ``namespace``) or an unreadable
    value."""
    spec = as_spec(spec)
    truth = network_truth(spec)
    picked: dict[str, tuple[str, np.ndarray]] = {}
    for name, value in tensors.items():
        key = quantity_of(str(name), truth.values)
        array = _numbers(value)
        if key is None or array is None:
            if namespace:
                continue
            what = "not an array of numbers" if key is not None else \
                "not a quantity of this network's step"
            raise SpecError(f"{source}: {str(name)!r}: {what} (names: {_known(truth.values)})")
        if key in (k for k, _ in picked.values()):
            raise SpecError(f"{source}: {str(name)!r}: {key} is given twice")
        picked[str(name)] = (key, array)
    if not picked:
        raise SpecError(f"{source}: no tensor of this network's step (names: "
                        f"{_known(truth.values)})")
    order = {key: i for i, key in enumerate(truth.values)}
    names = sorted(picked, key=lambda n: order[picked[n][0]])
    cells, spans = [], {}
    for name in names:
        key, array = picked[name]
        start = len(cells)
        cells += _cells(key, array, np.asarray(truth.values[key]))
        spans[name] = (start, len(cells))
    marked = judge(truth, cells, IMPL_TOLERANCE, source, f"to {IMPL_TOLERANCE.rel:g} relative")
    rows = [_row(name, *picked[name], np.asarray(truth.values[picked[name][0]]),
                 marked.rows[slice(*spans[name])]) for name in names]
    return TensorReport(spec.name, rows, marked, source)


class TensorChecker:
    """``cmp(name, value)``: one tensor at a time, printed as one line (the ninja's style)."""

    def __init__(self, spec: Spec | str | Path | dict) -> None:
        self.spec = as_spec(spec)

    def cmp(self, name: str, value: Any) -> bool:
        """Print ``name (quantity) | exact: … | close: … | max |diff|: …`` and return
        whether it is close; judged on its own, against chainrule's number."""
        row = check_tensors(self.spec, {name: value}).rows[0]
        diff = "—" if row.max_diff is None else f"{row.max_diff:.3g}"
        print(f"{row.name:<10} ({row.quantity}) | exact: {row.exact} | close: {row.close} | "
              f"max |diff|: {diff}" + ("" if row.shape == row.expected_shape else
                                       f" | shape {row.shape}, expected {row.expected_shape}"))
        return row.close


def load_tensors(path: str | Path) -> dict[str, np.ndarray]:
    """The tensors of an ``.npz`` or ``.json`` file, by name; one SpecError for a bad file.
    Read as every file given to chainrule is (:mod:`chainrule.inputs`: a regular file, its
    size checked first; JSON at most 32 levels deep, no key twice)."""
    from chainrule import inputs

    suffix = Path(path).suffix.lower()
    if suffix == ".npz":
        return _load_npz(str(path), inputs.read_bytes(path, what="tensors file",
                                                      limit=MAX_TENSOR_BYTES))
    if suffix != ".json":
        raise SpecError(f"{path}: expected an .npz (numpy.savez) or a .json file of tensors")
    data = inputs.parse_json(inputs.read_text(path, what="tensors file"), path)
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping from name to numbers, got "
                        f"{type(data).__name__}")
    out = {}
    for name, value in data.items():
        array = _numbers(value)
        if array is None:
            raise SpecError(f"{path}: {name!r}: not a number or a (nested) list of numbers")
        out[name] = array
    _check_total(str(path), sum(a.size for a in out.values()))
    return out


def _load_npz(where: str, data: bytes) -> dict[str, np.ndarray]:
    total, out = 0, {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                name = member[:-4] if member.endswith(".npy") else member
                with archive.open(member) as f:
                    version = np.lib.format.read_magic(f)
                    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                        np.lib.format.read_array_header_2_0
                    shape, _, dtype = read(f)
                if dtype.kind not in "biuf" or dtype.hasobject:
                    raise SpecError(f"{where}: {name!r}: dtype {dtype}, expected numbers")
                total += int(np.prod(shape, dtype=np.int64))
                _check_total(where, total)
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            for name in arrays.files:
                out[name] = np.asarray(arrays[name], dtype=float)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise SpecError(f"{where}: not a readable .npz ({error})") from None
    return out


def _check_total(where: str, total: int) -> None:
    if total > MAX_ELEMENTS:
        raise SpecError(f"{where}: more than {MAX_ELEMENTS} numbers; a step's tensors are far "
                        f"fewer")


def _numbers(value: Any) -> np.ndarray | None:
    """``value`` as a float array, or None if it is not numbers (a PyTorch tensor is read)."""
    for method in ("detach", "cpu", "numpy"):
        if callable(getattr(value, method, None)) and not isinstance(value, np.ndarray):
            try:
                value = getattr(value, method)()
            except Exception:  # noqa: BLE001 (someone's object: not a tensor after all)
                return None
    if isinstance(value, (bool, np.bool_, str, bytes)) or value is None:
        return None
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError, OverflowError):
        return None
    return array if array.size <= MAX_ELEMENTS else None


def _cells(key: str, array: np.ndarray, expected: np.ndarray) -> list[Cell]:
    if expected.ndim == 0 and array.size == 1:
        array = array.reshape(())
    zero = np.zeros(array.shape)
    if array.shape != expected.shape:
        return [Cell(key, key, (), f"shape {array.shape}", array, zero,
                     f"shape {array.shape}, expected {expected.shape}")]
    return [Cell(key + "".join(f"[{i}]" for i in index), key, index, f"{array[index]:.10g}",
                 array[index], zero[index],
                 "" if np.isfinite(array[index]) else "not a finite number")
            for index in np.ndindex(expected.shape)]


def compared(got: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, bool, bool,
                                                              float | None]:
    """(``got``, a one-element array read as a number where ``expected`` is one; exact: equal
    bit for bit; close: every element finite and within :data:`IMPL_TOLERANCE` of
    ``expected``'s; the largest |difference|, None for another shape). A shape is never
    reshaped into the one expected: another shape is neither exact nor close."""
    if expected.ndim == 0 and got.size == 1:
        got = got.reshape(())
    if got.shape != expected.shape:
        return got, False, False, None
    with np.errstate(invalid="ignore"):
        close = bool(np.all(np.isfinite(got)) and np.all(
            np.abs(got - expected) <= IMPL_TOLERANCE.allowed(0.0, expected)))
        diff = float(np.max(np.abs(got - expected))) if got.size else None
    return got, bool(np.array_equal(got, expected)), close, diff


def _row(name: str, key: str, array: np.ndarray, expected: np.ndarray, rows) -> TensorRow:
    array, exact, close, diff = compared(array, expected)
    statuses = {row.status for row in rows}
    status = next((s for s in (WRONG, CLOSE, CARRIED, ROUNDED) if s in statuses), CORRECT)
    mistakes = tuple(dict.fromkeys(m for row in rows for m in row.mistakes))
    return TensorRow(name, key, tuple(np.shape(array)), tuple(expected.shape), exact, close,
                     diff, status, mistakes)


def _known(truth: Mapping[str, Any]) -> str:
    keys = [k for k in truth if quantity_of(k, truth) is not None]
    return ", ".join(keys[:6]) + (", …; or z1, a1, dz1, dW1, db1, loss" if len(keys) > 6 else "")


def shape_text(shape: tuple, expected: tuple) -> str:
    """``2×3``, or ``1×2 ≠ 2×1`` when it is not the shape expected."""
    text = "×".join(map(str, shape)) or "()"
    return text if shape == expected else f"{text} ≠ {'×'.join(map(str, expected)) or '()'}"


def yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _shown(value: Any) -> str:
    if value is None:
        return "no number"
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return f"{value:.10g}"
