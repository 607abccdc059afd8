"""PyTorch interop, timed side by side: what reading a model, building it back and one
training step of it cost, each beside PyTorch's own step on the same model, in one process.

    .venv/bin/python bench/interop.py               # 21 rounds
    .venv/bin/python bench/interop.py --rounds 5

Each round times every operation once, in an order that rotates from round to round, so a
drift of the shared machine hits them alike; a figure is the median over rounds, and each
ratio divides by PyTorch's training step (forward, MSE against a fixed target, backward) of
the same model in the same round. One thread for BLAS and PyTorch, float64. The models are
PyTorch's "Training a classifier" network at 1×16×16 (traced with torch.fx), and a 2-layer
LSTM classifier over 20 steps (read as a Sequential of chainrule's torch parts).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import torch
from threadpoolctl import threadpool_limits

import chainrule as cr
from chainrule.nn import torch_parts

F = torch.nn.functional


class Tutorial(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = torch.nn.Conv2d(1, 6, 3), torch.nn.Conv2d(6, 8, 3)
        self.fc1, self.fc2 = torch.nn.Linear(8 * 2 * 2, 32), torch.nn.Linear(32, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


def models():
    torch.manual_seed(0)
    yield "tutorial-cnn", Tutorial().double(), (1, 16, 16)
    yield "lstm", torch.nn.Sequential(torch_parts.LSTMLayer(4, 16, 2, output="last"),
                                      torch.nn.Linear(16, 10)).double(), (20, 4)


def operations(model, shape):
    x = torch.randn(8, *shape, dtype=torch.float64)
    target = torch.randn(8, 10, dtype=torch.float64)
    network = cr.nn.from_torch(model, shape)
    xs, ts = x.numpy(), target.numpy()

    def torch_step():
        model.zero_grad()
        F.mse_loss(model(x), target).backward()

    def chainrule_step():
        network.zero_grad()
        out = network(xs)
        ((out - cr.Tensor(ts)) ** 2).mean().backward()

    return {"pytorch step": torch_step, "chainrule step": chainrule_step,
            "from_torch": lambda: cr.nn.from_torch(model, shape),
            "to_torch": network.to_torch}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    with threadpool_limits(1):
        for name, model, shape in models():
            ops = operations(model, shape)
            for op in ops.values():  # warm: imports, tracing caches, allocator
                op()
            times = {key: [] for key in ops}
            keys = list(ops)
            for r in range(args.rounds):
                for key in keys[r % len(keys):] + keys[:r % len(keys)]:
                    start = time.perf_counter()
                    ops[key]()
                    times[key].append(time.perf_counter() - start)
            base = statistics.median(times["pytorch step"])
            print(f"{name} {shape} (medians of {args.rounds} rounds)")
            for key, values in times.items():
                median = statistics.median(values)
                print(f"  {key:15s} {median * 1e3:9.2f} ms  {median / base:7.1f} × PyTorch's step")


if __name__ == "__main__":
    main()
