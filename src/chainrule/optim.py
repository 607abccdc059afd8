"""Optimizers, with PyTorch's update rules so results can be compared number for number.

An optimizer updates parameters *in place* (``p.data`` keeps its identity) and skips frozen
parameters and parameters without a gradient.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from chainrule.tensor import Tensor


class Optimizer:
    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        if not lr > 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        self.lr = float(lr)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def trainable(self) -> Iterable[tuple[int, Tensor]]:
        for i, p in enumerate(self.params):
            if p.grad is not None and not getattr(p, "frozen", False):
                yield i, p

    def step(self) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent: p ← p − lr · g.

    With ``weight_decay`` λ, g ← g + λp. With ``momentum`` μ, a velocity
    v ← μv + (1 − dampening)g (v = g on the first step) replaces g, or with ``nesterov``
    g ← g + μv — exactly ``torch.optim.SGD``.
    """

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0,
                 dampening: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov momentum needs momentum > 0 and dampening = 0")
        self.momentum, self.dampening = float(momentum), float(dampening)
        self.nesterov, self.weight_decay = nesterov, float(weight_decay)
        self.velocity: dict[int, np.ndarray] = {}

    def step(self) -> None:
        for i, p in self.trainable():
            grad = p.grad
            if self.weight_decay:
                grad = grad + self.weight_decay * p.data
            if self.momentum:
                previous = self.velocity.get(i)
                if previous is None:
                    velocity = grad.copy()
                else:
                    velocity = self.momentum * previous + (1.0 - self.dampening) * grad
                self.velocity[i] = velocity
                grad = grad + self.momentum * velocity if self.nesterov else velocity
            p.data -= self.lr * grad
