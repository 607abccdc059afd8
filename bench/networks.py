"""The five networks of issue 6, their seeded data, and what a step costs in matmul FLOPs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Network:
    """One benchmarked network: sizes, one activation per layer, loss, batch size."""

    name: str
    sizes: tuple[int, ...]
    activations: tuple[str, ...]
    loss: str  # "sse" or "cross_entropy" (from logits, after a softmax output layer)
    batch: int

    @property
    def pairs(self) -> list[tuple[int, int]]:
        return list(zip(self.sizes, self.sizes[1:]))

    def data(self, dtype: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """A batch of inputs and targets (one-hot rows for cross-entropy), from ``seed``."""
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(self.batch, self.sizes[0])).astype(dtype)
        classes = self.sizes[-1]
        if self.loss == "cross_entropy":
            t = np.eye(classes, dtype=dtype)[rng.integers(0, classes, self.batch)]
        else:
            t = rng.uniform(0.1, 0.9, size=(self.batch, classes)).astype(dtype)
        return x, t

    def weights(self, dtype: str, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Shared starting weights (W of shape (fan_in, fan_out)) and biases, from ``seed``."""
        rng = np.random.default_rng(seed + 1)
        ws = [rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_out)).astype(dtype)
              for n_in, n_out in self.pairs]
        bs = [rng.normal(0.0, 0.1, size=n_out).astype(dtype) for _, n_out in self.pairs]
        return ws, bs

    def forward_flops(self) -> int:
        """2·B·Σ fan_in·fan_out: the matrix products of the forward pass."""
        return sum(2 * self.batch * n_in * n_out for n_in, n_out in self.pairs)

    def backward_flops(self) -> int:
        """Every layer's ∂E/∂W, and ∂E/∂a for every layer but the first (inputs need none)."""
        weight_grads = self.forward_flops()
        input_grads = sum(2 * self.batch * n_in * n_out for n_in, n_out in self.pairs[1:])
        return weight_grads + input_grads

    def step_flops(self) -> int:
        return self.forward_flops() + self.backward_flops()

    def memory_floor(self, itemsize: int) -> int:
        """Bytes a step cannot do without, above the parameters themselves.

        The parameters' gradients, one saved activation per layer (the backward of relu,
        sigmoid and tanh needs only the layer's output; the softmax layer its probabilities),
        and two deltas alive at once (the one being consumed and the one being made).
        """
        grads = sum(n_in * n_out + n_out for n_in, n_out in self.pairs)
        saved = sum(self.batch * n_out for _, n_out in self.pairs)
        deltas = 2 * max(self.batch * n for n in self.sizes[1:])
        return itemsize * (grads + saved + deltas)


NETWORKS = [
    Network("2-2-1", (2, 2, 1), ("sigmoid", "sigmoid"), "sse", 1),
    Network("2-16-1", (2, 16, 1), ("tanh", "sigmoid"), "sse", 4),
    Network("64-128-10", (64, 128, 10), ("relu", "softmax"), "cross_entropy", 64),
    Network("784-256-128-10", (784, 256, 128, 10), ("relu", "relu", "softmax"),
            "cross_entropy", 128),
    Network("784-1024-1024-10", (784, 1024, 1024, 10), ("relu", "relu", "softmax"),
            "cross_entropy", 512),
]

BY_NAME = {network.name: network for network in NETWORKS}

LEARNING_RATE = 0.01
