"""Gradient checking for plain NumPy functions with a gradient the user derived.

``gradcheck(f, x, grad=analytic)`` is CS231n's ``eval_numerical_gradient`` turned into the
same report chainrule gives for its own engine: ``f(x) -> float``, and ``analytic`` the
gradient at ``x`` (an array) or a function computing it (``x -> array``). Several inputs go in
a dict of arrays; ``f`` and a callable ``grad`` are then called with them as keywords, and an
array ``grad`` is a dict with the same keys.

What the check guarantees:

* ``f`` never sees the caller's arrays, nor the array being perturbed: every call gets a fresh
  float64 copy of the current point, so an ``f`` that writes into its argument (``x -= m``)
  harms neither the check nor the caller, whose arrays stay bit-for-bit unchanged;
* a gradient is compared with the input element by element, so its shape must be the input's
  exactly: a (3, 2) gradient for a (2, 3) input is refused naming both shapes, never
  reshaped (a reshape would turn a transposed gradient into a silent pass or a puzzle);
* ``f`` must return a scalar (a loss). A vector-valued f is refused: its gradient is a
  Jacobian, and the message says how to check one — as the scalar ``np.sum(v * f(x))`` for a
  fixed v, whose gradient is vᵀJ.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ShapeError
from chainrule.verify.gradcheck_numeric import check_element, warn
from chainrule.verify.gradcheck_report import GradcheckReport


def check_function(f: Callable[..., Any], inputs: Any, grad: Any, *, eps: float, atol: float,
                   rtol: float) -> GradcheckReport:
    """The report for a NumPy ``f`` at ``inputs`` (an array, named ``x``, or a dict of arrays)
    against the analytic gradient ``grad``; see the module's docstring."""
    if not eps > 0:
        raise ValueError(f"gradcheck: eps must be positive, got {eps!r}")
    keyed = isinstance(inputs, Mapping)
    notes: list[str] = []
    points = [(name, _point(name, value, eps, notes))
              for name, value in (inputs.items() if keyed else [("x", inputs)])]

    def call(function: Callable[..., Any]) -> Any:
        # A fresh copy per call: what f does to its argument stays inside that call.
        copies = {name: data.copy() for name, data in points}
        return function(**copies) if keyed else function(copies["x"])

    # A callable gradient is evaluated once, at the unperturbed point.
    analytic = _analytic(call(grad) if callable(grad) else grad, points, keyed)
    with np.errstate(all="ignore"):
        out = _scalar(call(f))
    if out.dtype != np.float64:
        notes.append(warn(f"f returned {out.dtype} from float64 inputs: something inside f "
                          "computes in lower precision, so the check is unreliable", 4))

    def value() -> float:
        # A probe may step out of f's domain (log of x − ε < 0): that is the checker's doing,
        # so NumPy stays quiet and the NaN shows up in the row as a failure instead.
        with np.errstate(all="ignore"):
            return float(_scalar(call(f)).reshape(-1)[0])

    base = float(out.reshape(-1)[0])
    rows = [check_element(value, base, name, data, index, float(analytic[name][index]), eps,
                          atol, rtol)
            for name, data in points for index in np.ndindex(data.shape)]
    return GradcheckReport(rows, eps, atol, rtol, notes, [], tuple(out.shape), 0,
                           analytic_source="grad")


def _point(name: str, value: Any, eps: float, notes: list[str]) -> np.ndarray:
    """A float64 copy of one input: the array the check perturbs, never the caller's."""
    if isinstance(value, Tensor):
        raise TypeError(f"gradcheck: input {name!r} is a chainrule.Tensor; grad= is for NumPy "
                        "functions of arrays (leave grad out and the engine's gradient is "
                        "checked)")
    if isinstance(value, (list, tuple)) and any(isinstance(v, np.ndarray) for v in value):
        raise TypeError("gradcheck: several NumPy inputs go in a dict of arrays, e.g. "
                        "{'W': W, 'b': b}, not a list (a list is read as one array)")
    array = np.asarray(value)
    if array.dtype.kind not in "fiu":
        raise TypeError(f"gradcheck: input {name!r}: expected an array of real numbers, got "
                        f"{_what(value, array)}")
    if array.dtype != np.float64:
        why = (f"in {array.dtype} rounding swamps central differences with eps={eps:g}"
               if array.dtype.kind == "f" else "central differences need real numbers")
        notes.append(warn(f"input {name!r} is {array.dtype}: the check runs in float64 on a "
                          f"copy, because {why}", 5))
    return np.array(array, dtype=np.float64)


def _analytic(given: Any, points: list[tuple[str, np.ndarray]],
              keyed: bool) -> dict[str, np.ndarray]:
    """The user's gradient as float64 arrays by input name, each of its input's exact shape."""
    if keyed:
        if not isinstance(given, Mapping):
            raise TypeError(f"gradcheck: grad: expected a dict of arrays with the inputs' keys "
                            f"({', '.join(repr(n) for n, _ in points)}), got "
                            f"{type(given).__name__}")
        names = [name for name, _ in points]
        missing = [n for n in names if n not in given]
        extra = [k for k in given if k not in names]
        if missing or extra:
            raise ValueError(f"gradcheck: grad's keys ({', '.join(map(repr, given))}) are not "
                             f"the inputs' ({', '.join(map(repr, names))})")
    elif isinstance(given, Mapping):
        raise TypeError("gradcheck: grad is a dict but the input is one array; give the "
                        "gradient as an array (or pass the inputs as a dict too)")
    gradients = {}
    for name, point in points:
        value = given[name] if keyed else given
        # A Tensor is not an array here: its gradient would come from the engine, not the user.
        array = np.asarray(None if isinstance(value, Tensor) else value)
        if array.dtype.kind not in "fiu":
            raise TypeError(f"gradcheck: the analytic gradient of {name!r}: expected an array "
                            f"of real numbers, got {_what(value, array)}")
        if array.shape != point.shape:
            raise ShapeError(f"gradcheck: the analytic gradient of {name!r} has shape "
                             f"{array.shape}, the input has shape {point.shape}; they must "
                             "match exactly (compared element by element, never reshaped)")
        gradients[name] = np.array(array, dtype=np.float64)
    return gradients


def _scalar(out: Any) -> np.ndarray:
    """f's value as a 0-d or one-element array; anything else is refused in one line."""
    if isinstance(out, Tensor):
        raise TypeError("gradcheck: f returned a chainrule.Tensor; with grad=, f is a NumPy "
                        "function and returns a number (use .item())")
    array = np.asarray(out)
    if array.dtype.kind not in "fiu":
        raise TypeError(f"gradcheck: f must return a number (the loss), got "
                        f"{_what(out, array)}")
    if array.size != 1:
        raise ShapeError(f"gradcheck: f returned an array of shape {array.shape}; with grad=, "
                         "f must return a scalar (a loss). To check a vector-valued f, check "
                         "L(x) = np.sum(v * f(x)) for a fixed array v, whose gradient is vᵀJ")
    return array


def _what(value: Any, array: np.ndarray) -> str:
    """How to name a value that is not an array of real numbers: its dtype if an array."""
    if isinstance(value, np.ndarray) or (array.dtype.kind != "O" and not
                                         isinstance(value, (str, bytes))):
        return f"dtype {array.dtype}"
    return type(value).__name__
