"""One SGD training step, three ways: chainrule's public API, PyTorch eager, hand-written NumPy.

Each implementation starts from the same weights and data and exposes the step as three
phases — ``forward`` (through the loss), ``backward`` and ``update`` (clearing the gradients
and the optimizer step) — so the suite can time the whole step and each phase alike.
"""

from __future__ import annotations

import numpy as np

import chainrule as cr
from bench.networks import LEARNING_RATE, Network


class ChainruleStep:
    """What a user writes (and what ``chainrule.train.loop`` runs): MLP, output_loss, SGD."""

    label = "chainrule"

    def __init__(self, net: Network, dtype: str) -> None:
        ws, bs = net.weights(dtype)
        self.x, self.t = net.data(dtype)
        self.net = net
        self.model = cr.nn.MLP(net.sizes, list(net.activations), weights=ws, biases=bs,
                               dtype=dtype)
        self.optimizer = cr.optim.SGD(self.model.parameters(), lr=LEARNING_RATE)
        self.loss: cr.Tensor | None = None

    def forward(self) -> None:
        last = self.model.forward_steps(self.x, fused=True)[-1]
        self.loss = cr.nn.output_loss(self.net.loss, last.z, last.a, self.net.activations[-1],
                                      self.t)

    def backward(self) -> None:
        self.loss.backward()
        self.loss = None  # the graph goes with it, as it would at the end of a loop body

    def update(self) -> None:
        self.optimizer.step()
        self.optimizer.zero_grad()

    def step(self) -> None:
        self.optimizer.zero_grad()
        last = self.model.forward_steps(self.x, fused=True)[-1]
        loss = cr.nn.output_loss(self.net.loss, last.z, last.a, self.net.activations[-1], self.t)
        loss.backward()
        self.optimizer.step()

    def loss_value(self) -> float:
        last = self.model.forward_steps(self.x, fused=True)[-1]
        return float(cr.nn.output_loss(self.net.loss, last.z, last.a, self.net.activations[-1],
                                       self.t).data)


class TorchStep:
    """The idiomatic PyTorch loop: nn.Sequential, CrossEntropyLoss on logits, optim.SGD."""

    label = "pytorch"

    def __init__(self, net: Network, dtype: str) -> None:
        import torch

        self.torch = torch
        torch_dtype = getattr(torch, dtype)
        ws, bs = net.weights(dtype)
        modules: list = []
        for (n_in, n_out), w, b, activation in zip(net.pairs, ws, bs, net.activations):
            linear = torch.nn.Linear(n_in, n_out, dtype=torch_dtype)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(w.T.copy()))  # torch keeps (out, in)
                linear.bias.copy_(torch.from_numpy(b))
            modules.append(linear)
            if activation != "softmax":  # CrossEntropyLoss takes the logits
                modules.append({"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid,
                                "tanh": torch.nn.Tanh}[activation]())
        self.model = torch.nn.Sequential(*modules)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=LEARNING_RATE)
        x, t = net.data(dtype)
        self.x = torch.from_numpy(x)
        if net.loss == "cross_entropy":
            self.t = torch.from_numpy(t.argmax(axis=1))
            self.loss_fn = torch.nn.CrossEntropyLoss()
        else:
            self.t = torch.from_numpy(t)
            self.loss_fn = lambda y, t: ((y - t) ** 2).sum(dim=-1).mean()
        self.loss = None

    def forward(self) -> None:
        self.loss = self.loss_fn(self.model(self.x), self.t)

    def backward(self) -> None:
        self.loss.backward()
        self.loss = None

    def update(self) -> None:
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def step(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(self.x), self.t)
        loss.backward()
        self.optimizer.step()

    def loss_value(self) -> float:
        with self.torch.no_grad():
            return float(self.loss_fn(self.model(self.x), self.t))


class NumpyStep:
    """The textbook backward pass written out by hand: no graph, no generality."""

    label = "numpy"

    def __init__(self, net: Network, dtype: str) -> None:
        self.net = net
        self.ws, self.bs = net.weights(dtype)
        self.x, self.t = net.data(dtype)
        self.outputs: list[np.ndarray] = []
        self.grads: list[tuple[np.ndarray, np.ndarray]] = []
        self.loss = 0.0

    def forward(self) -> None:
        a = self.x
        self.outputs = [a]
        for w, b, activation in zip(self.ws, self.bs, self.net.activations):
            z = a @ w
            z += b
            if activation == "relu":
                a = np.maximum(z, 0)
            elif activation == "sigmoid":
                a = 1 / (1 + np.exp(-z))
            elif activation == "tanh":
                a = np.tanh(z)
            else:  # softmax: keep the logits; the loss works from them
                a = z
            self.outputs.append(a)
        y, batch = self.outputs[-1], self.x.shape[0]
        if self.net.loss == "cross_entropy":
            shifted = y - y.max(axis=1, keepdims=True)
            exps = np.exp(shifted)
            sums = exps.sum(axis=1, keepdims=True)
            self.loss = -(self.t * (shifted - np.log(sums))).sum() / batch
            self.dy = (exps / sums - self.t) / batch  # softmax − t: the delta of the logits
        else:
            error = y - self.t
            self.loss = (error * error).sum() / batch
            self.dy = error * (2 / batch)

    def backward(self) -> None:
        grads = []
        delta = self.dy
        for layer in range(len(self.ws) - 1, -1, -1):
            activation, a = self.net.activations[layer], self.outputs[layer + 1]
            if activation == "sigmoid":
                delta = delta * a * (1 - a)
            elif activation == "tanh":
                delta = delta * (1 - a * a)
            elif activation == "relu":
                delta = delta * (a > 0)
            grads.append((self.outputs[layer].T @ delta, delta.sum(axis=0)))
            if layer > 0:
                delta = delta @ self.ws[layer].T
        self.grads = grads[::-1]

    def update(self) -> None:
        for (w, b), (grad_w, grad_b) in zip(zip(self.ws, self.bs), self.grads):
            w -= LEARNING_RATE * grad_w
            b -= LEARNING_RATE * grad_b
        self.grads = []

    def step(self) -> None:
        self.forward()
        self.backward()
        self.update()

    def loss_value(self) -> float:
        self.forward()
        return float(self.loss)


IMPLEMENTATIONS = {cls.label: cls for cls in (ChainruleStep, TorchStep, NumpyStep)}
