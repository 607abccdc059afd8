"""Learning-rate schedules with ``torch.optim.lr_scheduler``'s semantics and values.

A schedule changes ``optimizer.lr`` when ``.step()`` is called, once per epoch after that
epoch's optimizer steps. Like PyTorch, each new learning rate is computed from the current one
(the "chainable" form), so the values agree with PyTorch's bit for bit rather than with the
closed-form formula, which differs in the last digits.
"""

from __future__ import annotations

import math
from typing import Any


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a whole number ≥ 1, got {value!r}")
    return value


def _real(name: str, value: Any, *, positive: bool) -> float:
    expected = "> 0" if positive else "≥ 0"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name}: expected a number {expected}, got {value!r}")
    number = float(value)
    if not (0 < number if positive else 0 <= number) or not math.isfinite(number):
        raise ValueError(f"{name}: expected a number {expected}, got {number!r}")
    return number


class LRScheduler:
    """Base class: holds the optimizer, its initial ``lr`` and the epoch count."""

    name = "scheduler"

    def __init__(self, optimizer: Any) -> None:
        if not isinstance(getattr(optimizer, "lr", None), float):
            raise TypeError(f"optimizer: expected an optimizer with a float .lr, "
                            f"got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr: float = optimizer.lr
        self.last_epoch = 0  # PyTorch's constructor takes its first step: epoch 0, lr unchanged
        self._last_lr = optimizer.lr

    def step(self) -> None:
        """Advance one epoch and set the optimizer's learning rate for the next one."""
        self.last_epoch += 1
        self.optimizer.lr = self._next_lr(self.optimizer.lr)
        self._last_lr = self.optimizer.lr

    def get_last_lr(self) -> list[float]:
        """The learning rate set by the last step, as a one-element list (as PyTorch does)."""
        return [self._last_lr]

    def _next_lr(self, lr: float) -> float:
        raise NotImplementedError

    def _configure(self, **hyperparameters: Any) -> None:
        raise NotImplementedError

    def hyperparameters(self) -> dict[str, Any]:
        """The constructor's keyword arguments other than ``optimizer``."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Plain data. Like PyTorch, the optimizer's own ``lr`` is in the optimizer's state."""
        return {"name": self.name, "hyperparameters": self.hyperparameters(),
                "base_lr": self.base_lr, "last_epoch": self.last_epoch,
                "last_lr": self._last_lr}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()``'s output; ValueError naming the first mismatch."""
        if state.get("name") != self.name:
            raise ValueError(f"scheduler state is for {state.get('name')!r}, not {self.name!r}")
        missing = [key for key in ("hyperparameters", "base_lr", "last_epoch", "last_lr")
                   if key not in state]
        if missing:
            raise ValueError(f"scheduler state: missing {', '.join(missing)}")
        last_epoch = state["last_epoch"]
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, int) or last_epoch < 0:
            raise ValueError(f"scheduler state: last_epoch must be a count, got {last_epoch!r}")
        base_lr = _real("scheduler state: base_lr", state["base_lr"], positive=False)
        last_lr = _real("scheduler state: last_lr", state["last_lr"], positive=False)
        before = self.hyperparameters()
        try:
            self._configure(**state["hyperparameters"])
        except TypeError as error:
            self._configure(**before)
            raise ValueError(f"scheduler state: hyperparameters {state['hyperparameters']!r} "
                             f"don't fit {self.name}: {error}") from None
        self.base_lr, self.last_epoch, self._last_lr = base_lr, last_epoch, last_lr


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs."""

    name = "step"

    def __init__(self, optimizer: Any, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(optimizer)
        self._configure(step_size=step_size, gamma=gamma)

    def _configure(self, *, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = _count("step_size", step_size)
        self.gamma = _real("gamma", gamma, positive=True)

    def hyperparameters(self) -> dict[str, Any]:
        return {"step_size": self.step_size, "gamma": self.gamma}

    def _next_lr(self, lr: float) -> float:
        return lr * self.gamma if self.last_epoch % self.step_size == 0 else lr


class CosineAnnealingLR(LRScheduler):
    """Anneal from the initial lr to ``eta_min`` over ``T_max`` epochs along half a cosine.

    ηₜ = η_min + ½(η₀ − η_min)(1 + cos(πt/T_max)); after T_max epochs it climbs back up,
    period 2·T_max, as PyTorch's does. Computed from the previous value like PyTorch.
    """

    name = "cosine"

    def __init__(self, optimizer: Any, T_max: int, eta_min: float = 0.0) -> None:
        super().__init__(optimizer)
        self._configure(T_max=T_max, eta_min=eta_min)

    def _configure(self, *, T_max: int, eta_min: float = 0.0) -> None:
        self.T_max = _count("T_max", T_max)
        self.eta_min = _real("eta_min", eta_min, positive=False)

    def hyperparameters(self) -> dict[str, Any]:
        return {"T_max": self.T_max, "eta_min": self.eta_min}

    def _next_lr(self, lr: float) -> float:
        # PyTorch's expressions, term for term: the same roundings give the same floats.
        epoch, period = self.last_epoch, self.T_max
        if (epoch - 1 - period) % (2 * period) == 0:  # leaving the trough: the ratio is 0/0
            return lr + (self.base_lr - self.eta_min) * (1 - math.cos(math.pi / period)) / 2
        return ((1 + math.cos(math.pi * epoch / period))
                / (1 + math.cos(math.pi * (epoch - 1) / period))
                * (lr - self.eta_min) + self.eta_min)


SCHEDULERS: dict[str, type[LRScheduler]] = {"step": StepLR, "cosine": CosineAnnealingLR}


def scheduler_from_state(optimizer: Any, state: dict[str, Any]) -> LRScheduler:
    """A fresh schedule of the saved kind on ``optimizer``, with ``state`` loaded."""
    name = state.get("name")
    if name not in SCHEDULERS:
        raise ValueError(f"scheduler state: unknown scheduler {name!r}; "
                         f"known: {', '.join(SCHEDULERS)}")
    try:
        scheduler = SCHEDULERS[name](optimizer, **state.get("hyperparameters", {}))
    except TypeError as error:
        raise ValueError(f"scheduler state: hyperparameters don't fit {name}: {error}") from None
    scheduler.load_state_dict(state)
    return scheduler
