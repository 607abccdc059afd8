"""The optimizer base class: parameters, the learning rate, and state that saves and loads
as plain data (see :mod:`chainrule.optim.optimizers` for the update rules built on it)."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from chainrule.autodiff.tensor import Tensor


_RANGES = {
    "> 0": lambda v: 0 < v < float("inf"),
    "≥ 0": lambda v: 0 <= v < float("inf"),
    "in [0, 1)": lambda v: 0 <= v < 1,
    "in [0, 1]": lambda v: 0 <= v <= 1,
}


def _check_number(name: str, value: Any, expected: str) -> float:
    """``value`` as a Python float, or ValueError naming ``name``; ``expected`` is a _RANGES key.

    A Python float (not a NumPy scalar) matters: NumPy keeps ``float32_array * 0.9`` in float32
    but would promote ``float32_array * np.float64(0.9)`` to float64.
    """
    numeric = isinstance(value, (int, float, np.integer, np.floating))
    if not numeric or isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: expected a number {expected}, got {value!r}")
    number = float(value)
    if not _RANGES[expected](number):
        raise ValueError(f"{name}: expected a number {expected}, got {number!r}")
    return number


def _lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> None:
    """``start.lerp_(end, weight)`` with PyTorch's two formulas (exact at weight 0 and 1)."""
    w = start.dtype.type(weight)  # torch rounds the weight to the tensor's dtype first
    difference = end - start
    if abs(w) < 0.5:
        difference *= w
        start += difference
    else:
        difference *= start.dtype.type(1) - w
        np.subtract(end, difference, out=start)


class Optimizer:
    """Shared bookkeeping: parameters, learning rate, per-parameter buffers and step counts."""

    name = "optimizer"

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("params: the optimizer got an empty parameter list")
        self.lr = _check_number("lr", lr, "> 0")
        self.step_count = 0  # calls to step()
        self.param_steps = [0] * len(self.params)  # updates applied to each parameter
        self.state: dict[int, dict[str, np.ndarray]] = {}  # parameter index -> named buffers

    # --- the update ---------------------------------------------------------------------------
    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        # An exploding run overflows to inf/nan here, silently as in PyTorch: the training loop
        # detects non-finite values and names them; a NumPy warning would only get in its way.
        steps, update = self.param_steps, self._update
        with np.errstate(all="ignore"):
            for i, p in enumerate(self.params):
                grad, data = p.grad, p.data
                if grad is None or getattr(p, "frozen", False):
                    continue
                if not (type(grad) is np.ndarray and grad.dtype == data.dtype
                        and grad.shape == data.shape):  # not what backward() leaves
                    grad = self._gradient(i, p)
                steps[i] += 1
                update(i, data, grad)
        self.step_count += 1

    def _gradient(self, i: int, p: Tensor) -> np.ndarray:
        """A gradient set by hand: checked against the parameter's shape, in its dtype."""
        grad, data = np.asarray(p.grad), p.data
        if grad.shape != data.shape:
            raise ValueError(f"params[{i}]{_label(p)}: gradient of shape {grad.shape} "
                             f"for a parameter of shape {data.shape}")
        return grad if grad.dtype == data.dtype else grad.astype(data.dtype)

    def _update(self, i: int, param: np.ndarray, grad: np.ndarray) -> None:
        raise NotImplementedError

    # --- hyperparameters and state ------------------------------------------------------------
    def _configure(self, **hyperparameters: Any) -> None:
        """Validate and store the hyperparameters other than ``lr``."""
        raise NotImplementedError

    def hyperparameters(self) -> dict[str, Any]:
        """The constructor's keyword arguments other than ``params`` and ``lr``."""
        raise NotImplementedError

    def _buffer_kinds(self) -> tuple[str, ...]:
        """Names of the buffers every updated parameter has, with these hyperparameters."""
        raise NotImplementedError

    def _buffer(self, i: int, kind: str, like: np.ndarray) -> np.ndarray:
        """Parameter i's buffer ``kind``, zeros of the parameter's shape and dtype at first."""
        buffers = self.state.setdefault(i, {})
        if kind not in buffers:
            buffers[kind] = np.zeros_like(like)
        return buffers[kind]

    def state_dict(self) -> dict[str, Any]:
        """Plain data: copies of the buffers, so later steps don't change what was saved."""
        buffers = {f"{kind}.{i}": array.copy()
                   for i, named in sorted(self.state.items()) for kind, array in named.items()}
        return {"name": self.name, "lr": self.lr, "hyperparameters": self.hyperparameters(),
                "step": self.step_count, "param_steps": list(self.param_steps),
                "buffers": buffers}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()``'s output; ValueError naming the first mismatch."""
        if state.get("name") != self.name:
            raise ValueError(f"optimizer state is for {state.get('name')!r}, not {self.name!r}")
        missing = [key for key in ("lr", "hyperparameters", "step", "param_steps", "buffers")
                   if key not in state]
        if missing:
            raise ValueError(f"optimizer state: missing {', '.join(missing)}")
        step, param_steps = state["step"], state["param_steps"]
        if not isinstance(param_steps, (list, tuple, np.ndarray)) or not all(
                isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0
                for n in [step, *param_steps]):
            raise ValueError(f"optimizer state: step and param_steps must be counts, "
                             f"got {step!r} and {param_steps!r}")
        if len(param_steps) != len(self.params):
            raise ValueError(f"optimizer state: saved for {len(param_steps)} parameters, "
                             f"this optimizer has {len(self.params)}")
        before = self.hyperparameters()
        try:  # all or nothing: a state that doesn't fit leaves this optimizer as it was
            self._configure(**state["hyperparameters"])
            buffers = self._load_buffers(state["buffers"], [int(n) for n in param_steps])
            # A schedule may have taken lr to exactly 0 (cosine with eta_min=0), so 0 loads.
            lr = _check_number("lr", state["lr"], "≥ 0")
        except TypeError as error:  # an unknown or missing hyperparameter
            self._configure(**before)
            raise ValueError(f"optimizer state: hyperparameters {state['hyperparameters']!r} "
                             f"don't fit {self.name}: {error}") from None
        except ValueError:
            self._configure(**before)
            raise
        self.lr, self.step_count = lr, int(step)
        self.param_steps, self.state = [int(n) for n in param_steps], buffers

    def _load_buffers(self, saved: dict[str, Any],
                      param_steps: list[int]) -> dict[int, dict[str, np.ndarray]]:
        buffers: dict[int, dict[str, np.ndarray]] = {}
        for key, value in saved.items():
            kind, _, index = key.rpartition(".")
            if kind not in self._buffer_kinds() or not index.isdigit():
                raise ValueError(f"optimizer state: unexpected buffer {key!r} for {self.name} "
                                 f"with {self.hyperparameters()}")
            i = int(index)
            if i >= len(self.params):
                raise ValueError(f"optimizer state: buffer {key!r} for parameter {i}, "
                                 f"but there are only {len(self.params)}")
            param = self.params[i].data
            array = np.array(value, copy=True)  # ours to update in place from now on
            if array.shape != param.shape or array.dtype != param.dtype:
                raise ValueError(f"optimizer state: buffer {key!r} is {array.dtype} "
                                 f"{array.shape}, parameter {i} is {param.dtype} {param.shape}")
            buffers.setdefault(i, {})[kind] = array
        for i, steps in enumerate(param_steps):
            have = set(buffers.get(i, {}))
            need = set(self._buffer_kinds()) if steps > 0 else set()
            if have != need:
                raise ValueError(f"optimizer state: parameter {i} (updated {steps} times) has "
                                 f"buffers {sorted(have)}, expected {sorted(need)}")
        return buffers


def _label(p: Tensor) -> str:
    return f" ({p.name})" if getattr(p, "name", None) else ""
