"""Optimizers, with PyTorch's update rules so results can be compared number for number.

An optimizer updates parameters *in place* (``p.data`` keeps its identity and its dtype) and
skips frozen parameters and parameters without a gradient. Each update is written in the order
of operations of ``torch.optim``'s single-tensor (CPU) code path: the same roundings in the
same order, in the parameter's own dtype (tests/test_optim.py checks this bit for bit). Two
differences are PyTorch's, not ours: its CPU kernels for ``add(alpha=)``, ``lerp`` and
``addcmul`` use a fused multiply-add (one rounding where NumPy, which has none, takes two), and
its ``sqrt`` is not always correctly rounded; so an element can differ from PyTorch's in the
last bit or two (about 1e-16 relative in float64).

``state_dict()`` is plain data (numbers, strings, bools, lists of ints and NumPy arrays under
``"buffers"``), so a checkpoint can store it without pickling; loading it into a fresh optimizer
over the same parameters continues bit for bit. Learning-rate schedules live in
:mod:`chainrule.optim.schedules` and are re-exported here.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from chainrule.autodiff import buffers
from chainrule.optim.schedules import (SCHEDULERS, CosineAnnealingLR, LRScheduler, StepLR,
                                 scheduler_from_state)
from chainrule.optim.base import Optimizer, _check_number, _lerp_
from chainrule.autodiff.tensor import Tensor

__all__ = ["OPTIMIZERS", "SCHEDULERS", "Adam", "AdamW", "CosineAnnealingLR", "LRScheduler",
           "Optimizer", "RMSprop", "SGD", "StepLR", "optimizer_from_state",
           "scheduler_from_state"]

_BLOCK = 1 << 15  # elements: 256 KiB of float64, a block of lr · g stays in the cache


def _subtract_scaled(param: np.ndarray, factor: float, grad: np.ndarray) -> None:
    """``param -= factor * grad`` with the same two roundings per element; a big parameter
    goes a block at a time, so the product never needs a parameter-sized temporary."""
    if param.size <= _BLOCK or not (param.flags.c_contiguous and grad.flags.c_contiguous):
        param -= factor * grad
        return
    flat_param, flat_grad = param.reshape(-1), grad.reshape(-1)
    block = buffers.empty((_BLOCK,), np.result_type(grad, factor))
    for start in range(0, flat_param.size, _BLOCK):
        part = flat_grad[start:start + _BLOCK]
        flat_param[start:start + _BLOCK] -= np.multiply(part, factor, out=block[:part.size])


class SGD(Optimizer):
    """Stochastic gradient descent: p ← p − lr · g.

    With ``weight_decay`` λ, g ← g + λp. With ``momentum`` μ, a velocity
    v ← μv + (1 − dampening)g (v = g on the first step) replaces g, or with ``nesterov``
    g ← g + μv — exactly ``torch.optim.SGD``.
    """

    name = "sgd"

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0,
                 dampening: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        self._configure(momentum=momentum, dampening=dampening, nesterov=nesterov,
                        weight_decay=weight_decay)

    def _configure(self, *, momentum: float = 0.0, dampening: float = 0.0,
                   nesterov: bool = False, weight_decay: float = 0.0) -> None:
        self.momentum = _check_number("momentum", momentum, "in [0, 1)")
        self.dampening = _check_number("dampening", dampening, "in [0, 1]")
        self.weight_decay = _check_number("weight_decay", weight_decay, "≥ 0")
        if not isinstance(nesterov, (bool, np.bool_)):
            raise ValueError(f"nesterov: expected True or False, got {nesterov!r}")
        if nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("nesterov: needs momentum > 0 and dampening = 0")
        self.nesterov = bool(nesterov)

    def hyperparameters(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "dampening": self.dampening,
                "nesterov": self.nesterov, "weight_decay": self.weight_decay}

    def _buffer_kinds(self) -> tuple[str, ...]:
        return ("momentum_buffer",) if self.momentum else ()

    def _update(self, i: int, param: np.ndarray, grad: np.ndarray) -> None:
        if self.weight_decay:
            grad = grad + self.weight_decay * param  # a new array: p.grad stays as it was
        if self.momentum:
            velocity = self.state.get(i, {}).get("momentum_buffer")
            if velocity is None:  # the first step: v = g
                velocity = grad.copy()
                self.state[i] = {"momentum_buffer": velocity}
            else:
                velocity *= self.momentum
                velocity += (1.0 - self.dampening) * grad
            grad = grad + self.momentum * velocity if self.nesterov else velocity
        _subtract_scaled(param, self.lr, grad)


class Adam(Optimizer):
    """Adam, exactly ``torch.optim.Adam`` (L2 ``weight_decay`` is added to the gradient).

    m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g², and with t the parameter's step count,
    p ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + eps); ``amsgrad`` uses the running maximum of v.
    """

    name = "adam"
    decoupled = False  # AdamW: decay the parameter itself instead of adding λp to g

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3,
                 betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        super().__init__(params, lr)
        self._configure(betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)

    def _configure(self, *, betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8,
                   weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        if isinstance(betas, (str, bytes)) or not isinstance(betas, Sequence) \
                or len(betas) != 2:
            raise ValueError(f"betas: expected two numbers (beta1, beta2), got {betas!r}")
        self.beta1 = _check_number("betas[0]", betas[0], "in [0, 1)")
        self.beta2 = _check_number("betas[1]", betas[1], "in [0, 1)")
        self.eps = _check_number("eps", eps, "> 0")
        self.weight_decay = _check_number("weight_decay", weight_decay, "≥ 0")
        if not isinstance(amsgrad, (bool, np.bool_)):
            raise ValueError(f"amsgrad: expected True or False, got {amsgrad!r}")
        self.amsgrad = bool(amsgrad)

    def hyperparameters(self) -> dict[str, Any]:
        return {"betas": [self.beta1, self.beta2], "eps": self.eps,
                "weight_decay": self.weight_decay, "amsgrad": self.amsgrad}

    def _buffer_kinds(self) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if self.amsgrad else ())

    def _update(self, i: int, param: np.ndarray, grad: np.ndarray) -> None:
        if self.weight_decay:
            if self.decoupled:
                param *= 1 - self.lr * self.weight_decay
            else:
                grad = grad + self.weight_decay * param
        exp_avg = self._buffer(i, "exp_avg", param)
        exp_avg_sq = self._buffer(i, "exp_avg_sq", param)
        _lerp_(exp_avg, grad, 1 - self.beta1)
        exp_avg_sq *= self.beta2
        exp_avg_sq += (1 - self.beta2) * grad * grad  # addcmul: ((value · g) · g)

        step = self.param_steps[i]
        step_size = self.lr / (1 - self.beta1 ** step)  # Python floats, as torch computes them
        bias_correction2_sqrt = (1 - self.beta2 ** step) ** 0.5
        if self.amsgrad:
            max_exp_avg_sq = self._buffer(i, "max_exp_avg_sq", param)
            np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
            exp_avg_sq = max_exp_avg_sq
        denom = np.sqrt(exp_avg_sq)
        denom /= bias_correction2_sqrt
        denom += self.eps
        update = -step_size * exp_avg  # addcdiv: p + (value · m) / denom
        update /= denom
        param += update


class AdamW(Adam):
    """Adam with decoupled weight decay, exactly ``torch.optim.AdamW``: p ← p(1 − lr·λ) first."""

    name = "adamw"
    decoupled = True

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3,
                 betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


class RMSprop(Optimizer):
    """RMSprop, exactly ``torch.optim.RMSprop``.

    v ← αv + (1 − α)g²; with ``centered``, ḡ ← αḡ + (1 − α)g and v − ḡ² replaces v;
    then p ← p − lr · g / (√v + eps), or with ``momentum`` μ a buffer b ← μb + g / (√v + eps)
    and p ← p − lr · b.
    """

    name = "rmsprop"

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False) -> None:
        super().__init__(params, lr)
        self._configure(alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered)

    def _configure(self, *, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                   momentum: float = 0.0, centered: bool = False) -> None:
        self.alpha = _check_number("alpha", alpha, "in [0, 1)")
        self.eps = _check_number("eps", eps, "> 0")
        self.weight_decay = _check_number("weight_decay", weight_decay, "≥ 0")
        self.momentum = _check_number("momentum", momentum, "in [0, 1)")
        if not isinstance(centered, (bool, np.bool_)):
            raise ValueError(f"centered: expected True or False, got {centered!r}")
        self.centered = bool(centered)

    def hyperparameters(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "eps": self.eps, "weight_decay": self.weight_decay,
                "momentum": self.momentum, "centered": self.centered}

    def _buffer_kinds(self) -> tuple[str, ...]:
        return (("square_avg",) + (("momentum_buffer",) if self.momentum else ())
                + (("grad_avg",) if self.centered else ()))

    def _update(self, i: int, param: np.ndarray, grad: np.ndarray) -> None:
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        square_avg = self._buffer(i, "square_avg", param)
        square_avg *= self.alpha
        square_avg += (1 - self.alpha) * grad * grad
        if self.centered:
            grad_avg = self._buffer(i, "grad_avg", param)
            _lerp_(grad_avg, grad, 1 - self.alpha)
            avg = square_avg - grad_avg * grad_avg  # addcmul(value=-1), exact as a subtraction
            np.sqrt(avg, out=avg)
        else:
            avg = np.sqrt(square_avg)
        avg += self.eps
        if self.momentum:
            buffer = self._buffer(i, "momentum_buffer", param)
            buffer *= self.momentum
            buffer += grad / avg
            param -= self.lr * buffer
        else:
            update = -self.lr * grad
            update /= avg
            param += update


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop,
                                          "adamw": AdamW}


def optimizer_from_state(params: Iterable[Tensor], state: dict[str, Any]) -> Optimizer:
    """A fresh optimizer of the saved kind over ``params``, with ``state`` loaded."""
    name = state.get("name")
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer state: unknown optimizer {name!r}; "
                         f"known: {', '.join(OPTIMIZERS)}")
    try:  # lr=1.0 is a placeholder: load_state_dict restores the saved one, which may be 0
        optimizer = OPTIMIZERS[name](params, lr=1.0, **state.get("hyperparameters", {}))
    except TypeError as error:
        raise ValueError(f"optimizer state: hyperparameters don't fit {name}: {error}") from None
    optimizer.load_state_dict(state)
    return optimizer
