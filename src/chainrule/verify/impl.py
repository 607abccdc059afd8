"""Running someone's own training-step function and judging what it returns.

``run_impl(spec, "path/to/file.py:step")`` copies the file into a fresh temporary directory,
imports it in a sandboxed Python process (:mod:`~chainrule.verify.sandbox`: the same
interpreter, isolated, with only NumPy importable besides the standard library — not
chainrule — and resource limits; under bubblewrap, no network and none of the user's files),
calls the function once on the spec's network, and judges its numbers as
:func:`~chainrule.verify.answers.judge_answers` does — at full precision — naming the
catalogue mistake that explains the wrong ones. The verdict is computed here from the
numbers the function returned; nothing the child prints or sends is taken as a verdict
(docs/security.md). Only the file itself is copied: it cannot import its neighbours.

The function's signature::

    def step(params: dict[str, np.ndarray], x: np.ndarray, t: np.ndarray,
             learning_rate: float) -> dict:

* ``params``: ``{"W1": ..., "b1": ..., "W2": ..., "b2": ...}`` (copies, float64), W of shape
  (fan_in, fan_out) so a layer computes z = a·W + b; b of shape (fan_out,), or (1,) for a
  spec with ``"bias": "shared_per_layer"``; no b at all with ``"bias": "none"``;
* ``x``, ``t``: the spec's input and target, 1-D for one example, 2-D (example, unit) for a
  batch; a cross-entropy target may be integer class indices;
* returns a dict with any of ``"gradients": {name: array}``, ``"updated": {name: array}``,
  ``"loss": float`` (the loss before the update) and ``"loss_after": float``, and of the
  intermediates ``"forward": {"z1": ..., "a1": ..., ...}`` and ``"backward": {"delta1": ...,
  "dE_da2": ...}`` (named as in the trace, any depth): the report's ``first_wrong`` is then
  the first quantity, in the step's order, where the function's numbers part from chainrule's.

Numbers are judged to ``|given − true| ≤ 1e-6·|true| + 1e-10`` (:data:`IMPL_TOLERANCE`):
loose enough for any float64 implementation, tight enough that every catalogue mistake is
told apart. A one-element array counts as a number for the losses. The function gets only
the learning rate, so specs with weight decay, Nesterov momentum or frozen parameters are
refused (plain momentum is fine: its first step is plain SGD).

Everything that can go wrong with the user's code — a file or function not found, a syntax
error, an exception (reported by its last line in the user's file), a wrong return type or
key, a hang (stopped after ``timeout`` seconds, start-up included), memory or a file size
beyond :class:`~chainrule.verify.sandbox.Limits`, a forged result — raises
:class:`ImplError` with one line. Wrong shapes and non-finite numbers are rows of the report,
which also names the sandbox level that ran (``report.sandbox``).
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any, Callable

import numpy as np

from chainrule.errors import ChainruleError
from chainrule.explain.numfmt import number
from chainrule.spec.network import Spec
from chainrule.verify.channel import run_sandboxed
from chainrule.verify.judging import AnswerReport, Cell, Tolerance, Truth, network_truth
from chainrule.verify.marking import judge
from chainrule.verify.reference import as_spec, quantity_names
from chainrule.verify.sandbox import DESCRIPTIONS, Limits, SandboxError

IMPL_TOLERANCE = Tolerance(rel=1e-6, abs=1e-10)
PARAMETER_KEYS = ("gradients", "updated")
# intermediates a function may return too: the first that is off is where the error begins
INTERMEDIATE_KEYS = ("forward", "backward")
SCALAR_KEYS = {"loss": "forward.loss", "loss_after": "loss_after"}


class ImplError(ChainruleError):
    """Someone's step function could not be run or returned something unusable."""


def run_impl(spec: Spec | str | Path | dict, target: str, timeout: float = 10.0,
             sandbox: str = "auto", limits: Limits = Limits()) -> AnswerReport:
    """Run ``"file.py:function"`` (``"file.py"`` means ``file.py:step``) on ``spec``'s network
    in a sandboxed subprocess and judge what it returns; see the module docstring.
    ``sandbox`` forces a level (:data:`~chainrule.verify.sandbox.LEVELS`); ``"auto"`` takes
    the strongest this machine runs."""
    spec = as_spec(spec)
    path, function = parse_target(target)
    _refuse_unplain(spec)
    judged = network_truth(spec)
    truth = judged.values
    params = {name: truth[f"parameters.{name}"] for name in quantity_names(truth, "parameters")}
    request = {
        "function": function,
        "params": {name: value.tolist() for name, value in params.items()},
        "x": np.asarray(spec.inputs, dtype=float).tolist(), "t": spec.targets.tolist(),
        "t_integer": spec.targets.dtype.kind in "iu", "learning_rate": spec.learning_rate,
    }
    returned, level = call_sandboxed(request, path, target, timeout, sandbox, limits)
    return judge_returned(judged, lambda: _cells(truth, returned, f"{function}()", list(params)),
                          target, level)


def judge_returned(truth: Truth, cells: Callable[[], list[Cell]], target: str,
                   level: str) -> AnswerReport:
    """Judge the cells of what a function returned at :data:`IMPL_TOLERANCE`, naming the
    sandbox ``level`` that ran it; ``cells()`` reads them from the runner's result."""
    try:
        found = cells()
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
        # only code that forged the runner's message gets here: the runner writes valid ones
        raise ImplError(f"{target}: the result channel held a malformed result") from None
    report = judge(truth, found, IMPL_TOLERANCE, source=str(target),
                   precision=f"to {IMPL_TOLERANCE.rel:g} relative")
    report.sandbox = {"level": level, "description": DESCRIPTIONS[level]}
    return report


def parse_target(target: str | Path) -> tuple[Path, str]:
    """``"dir/impl.py:step"`` → (absolute path, ``"step"``); the file must exist. A bare
    ``"impl.py"`` means its function ``step``, for networks and expressions alike."""
    text = str(target)
    file, colon, function = text.rpartition(":")
    if not colon or not function.isidentifier():  # "impl.py", or a Windows drive "C:\..."
        file, function = text, "step"
    path = Path(file).expanduser()
    if not path.is_file():
        raise ImplError(f"{file}: no such file (expected \"path/to/file.py:function\")")
    return path.resolve(), function


def _refuse_unplain(spec: Spec) -> None:
    opt, extras = spec.optimizer, []
    if opt.weight_decay:
        extras.append(f"weight decay {opt.weight_decay:g}")
    if opt.nesterov:
        extras.append("Nesterov momentum")
    if spec.frozen:
        extras.append(f"frozen parameters ({', '.join(spec.frozen)})")
    if extras:
        raise ImplError(f"impl: a step function gets only the learning rate, but network "
                        f"{spec.name!r} also has {' and '.join(extras)}; use a plain-SGD spec")


def call_sandboxed(request: dict[str, Any], path: Path, target: str, timeout: float,
                   level: str, limits: Limits) -> tuple[dict[str, Any], str]:
    """Run the runner on ``request`` (``{"function", "call", ...}``: see
    :mod:`~chainrule.verify.runner`) in the sandbox; the function's encoded result and the
    level that ran, or ImplError with one line for everything that went wrong."""
    try:
        outcome = run_sandboxed(path, request, timeout, level, limits)
    except SandboxError as error:
        raise ImplError(f"{target}: {error}") from None
    if outcome.timed_out:
        raise ImplError(f"{target}: no result within {timeout:g} s, so it was stopped "
                        f"(an endless loop? give a longer timeout if it is just slow)")
    if outcome.channel_problem:
        raise ImplError(f"{target}: {outcome.channel_problem}, so nothing it returned is "
                        f"judged")
    response = outcome.result
    if response is None:
        tail = _last_line(outcome.output_tail)
        code = outcome.returncode
        if outcome.level != "basic" and code is not None and code > 128:
            code = 128 - code  # bwrap and the shell under unshare report a signal as 128 + n
        raise ImplError(f"{target}: the process ended without a result "
                        f"({_ending(code)})" + (f": {tail}" if tail else ""))
    if not isinstance(response, dict):
        raise ImplError(f"{target}: the result channel held a malformed result")
    if not response.get("ok"):
        raise ImplError(f"{target}: {_one_line(str(response.get('error')))}")
    if not isinstance(response.get("result"), dict):
        raise ImplError(f"{target}: the result channel held a malformed result")
    return response["result"], outcome.level


def _ending(returncode: int | None) -> str:
    if returncode is None:
        return "it could not be stopped"
    if returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() \
            else str(-returncode)
        hint = {"SIGXCPU": ", its CPU time limit", "SIGKILL": ""}.get(name, "")
        return f"killed by {name}{hint}"
    return f"exit code {returncode}"


def _last_line(output: bytes) -> str:
    lines = output.decode("utf-8", "replace").splitlines()
    return _one_line(next((line for line in reversed(lines) if line.strip()), ""))


def _one_line(text: str, width: int = 500) -> str:
    """Untrusted text made safe for one line of a terminal: no control characters, capped."""
    text = "".join(c if c.isprintable() else " " for c in text).strip()
    return text if len(text) <= width else text[:width - 3] + "..."


def _cells(truth: dict[str, np.ndarray], returned: dict[str, Any], who: str,
           parameters: list[str]) -> list[Cell]:
    keys = (*INTERMEDIATE_KEYS, *PARAMETER_KEYS, *SCALAR_KEYS)
    expected_keys = ", ".join(f'"{k}"' for k in keys)
    unknown = [key for key in returned if key not in keys]
    if unknown:
        raise ImplError(f"{who} returned unknown key \"{unknown[0]}\" (expected "
                        f"{expected_keys})")
    if not returned:
        raise ImplError(f"{who} returned an empty dict (expected {expected_keys})")
    cells: list[Cell] = []
    for key, item in returned.items():
        if key in SCALAR_KEYS:
            if "array" not in item:
                raise ImplError(f"{who}[\"{key}\"] is a dict, expected a number")
            cells += array_cells(truth, SCALAR_KEYS[key], item["array"])
            continue
        names = parameters if key in PARAMETER_KEYS else [
            n for n in quantity_names(truth, key) if n != "a0"]  # a0 is the input, given
        if "mapping" not in item:
            raise ImplError(f"{who}[\"{key}\"] is an array, expected a dict "
                            f"{{name: array}} with names {', '.join(names)}")
        for name, value in item["mapping"].items():
            if name not in names:
                what = "parameter" if key in PARAMETER_KEYS else f"{key} quantity"
                raise ImplError(f"{who}[\"{key}\"][\"{name}\"]: no {what} {name} (this "
                                f"network has {', '.join(names)})")
            cells += array_cells(truth, f"{key}.{name}", value)
    return cells


def array_cells(truth: dict[str, np.ndarray], quantity: str,
                encoded: dict[str, Any]) -> list[Cell]:
    """The cells of one returned array (``{"shape", "values"}``) for ``quantity``: one per
    element, or one for the whole array when its shape is wrong."""
    values = np.array(encoded["values"], dtype=float).reshape(encoded["shape"])
    expected = np.asarray(truth[quantity])
    if expected.ndim == 0 and values.size == 1:  # a loss as a one-element array
        values = values.reshape(())
    zero = np.zeros(values.shape)
    if values.shape != expected.shape:
        note = f"shape {values.shape}, expected {expected.shape}"
        shown = np.array2string(values, separator=", ", formatter={"float_kind": number})
        return [Cell(quantity, quantity, (), shown, values, zero, note)]
    cells = []
    for index in np.ndindex(expected.shape):
        value = values[index]
        note = "" if np.isfinite(value) else "not a finite number"
        cells.append(Cell(quantity + "".join(f"[{i}]" for i in index), quantity, index,
                          number(value), values[index], zero[index], note))
    return cells
