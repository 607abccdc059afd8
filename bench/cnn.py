"""A small CNN's training step, chainrule against PyTorch eager, one thread (issue 15, item 7).

Two networks on 1 × 8 × 8 images, a batch of 64, cross-entropy on the logits, plain SGD:
``small``, conv 3 × 3 (8 channels, padding 1) → relu → max pool 2 → conv 3 × 3 (16, padding
1) → relu → max pool 2 → flatten → linear 64 → 10; and ``digits-cnn``, the shipped
examples/digits-cnn.yaml that ``chainrule train --data digits`` trains to 98.6–99.4 %
(32 and 64 channels, each convolution followed by batch norm in training mode). Both start from the
same weights and data. The implementations take turns block by block (bench/measure.py's
``time_interleaved``), and each figure is the median over blocks; ``×torch`` is chainrule's
median over PyTorch's, measured side by side in one run. ``peak%`` is the step's convolution
and matrix-product FLOPs over its time, as a fraction of the single-thread matmul peak measured
in the same run (NumPy's BLAS).

    .venv/bin/python bench/cnn.py [--repeats 21] [--batch 64] [--json]

Goal (issue 15): at most 1.5 × PyTorch's time.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import chainrule as cr  # noqa: E402
from bench.impls import TorchStep as MlpTorchStep  # noqa: E402
from bench.measure import matmul_peak, side_by_side_cli, time_interleaved  # noqa: E402

LEARNING_RATE = 0.05
LAYERS = ((1, 8, 8, 8), (8, 16, 4, 4))  # (in, out, height, width) of each 3 × 3 convolution


def weights(dtype: str, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for i, (c_in, c_out, _, _) in enumerate(LAYERS):
        bound = 1 / np.sqrt(c_in * 9)
        out[f"conv{i}.weight"] = rng.uniform(-bound, bound, (c_out, c_in, 3, 3)).astype(dtype)
        out[f"conv{i}.bias"] = rng.uniform(-bound, bound, c_out).astype(dtype)
    out["linear.weight"] = rng.uniform(-0.125, 0.125, (64, 10)).astype(dtype)  # (in, out)
    out["linear.bias"] = rng.uniform(-0.125, 0.125, 10).astype(dtype)
    return out


def data(dtype: str, batch: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, 1, 8, 8)).astype(dtype), rng.integers(0, 10, batch)


def flops(batch: int) -> float:
    """Forward 2·B·(out positions · C_out · C_in · 9) per conv, plus the linear layer; the
    backward twice that (input and weight gradients; the first conv's input gradient too)."""
    forward = sum(2 * batch * h * w * c_out * c_in * 9 for c_in, c_out, h, w in LAYERS)
    forward += 2 * batch * 64 * 10
    return 3 * forward


class ChainruleStep:
    label = "chainrule"

    def __init__(self, dtype: str, batch: int) -> None:
        w = weights(dtype)
        nn = cr.nn
        self.model = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1, weight=w["conv0.weight"], bias_values=w["conv0.bias"],
                      dtype=dtype),
            nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1, weight=w["conv1.weight"],
                      bias_values=w["conv1.bias"], dtype=dtype),
            nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(64, 10, weight=w["linear.weight"], bias=w["linear.bias"], dtype=dtype))
        # the batch as training feeds it (chainrule.train.loop): an array, a constant of the
        # graph, as PyTorch's x (no requires_grad): ∂E/∂x is computed by neither
        self.x, self.t = data(dtype, batch)
        self.optimizer = cr.optim.SGD(self.model.parameters(), lr=LEARNING_RATE)

    def step(self) -> None:
        self.optimizer.zero_grad()
        loss = cr.nn.cross_entropy(self.model(self.x), self.t)
        loss.backward()
        self.optimizer.step()

    def loss_value(self) -> float:
        return float(cr.nn.cross_entropy(self.model(self.x), self.t).data)


class TorchStep(MlpTorchStep):
    """The idiomatic PyTorch loop of bench/impls.py (its step and loss), on this CNN."""

    def __init__(self, dtype: str, batch: int) -> None:  # (not the MLP's: a CNN)
        import torch

        self.torch = torch
        tdtype = getattr(torch, dtype)
        w = weights(dtype)
        tnn = torch.nn
        self.model = tnn.Sequential(
            tnn.Conv2d(1, 8, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
            tnn.Conv2d(8, 16, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
            tnn.Linear(64, 10)).to(tdtype)
        with torch.no_grad():
            for layer, key in ((self.model[0], "conv0"), (self.model[3], "conv1")):
                layer.weight.copy_(torch.tensor(w[f"{key}.weight"]))
                layer.bias.copy_(torch.tensor(w[f"{key}.bias"]))
            self.model[7].weight.copy_(torch.tensor(w["linear.weight"].T.copy()))
            self.model[7].bias.copy_(torch.tensor(w["linear.bias"]))
        x, t = data(dtype, batch)
        self.x, self.t = torch.tensor(x), torch.tensor(t)
        self.loss_fn = tnn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=LEARNING_RATE)


SPEC = Path(__file__).resolve().parent.parent / "examples" / "digits-cnn.yaml"


class SpecStep:
    """The shipped network of examples/digits-cnn.yaml (conv 3 × 3 to 32 → batch norm → relu →
    max pool 2 → conv 3 × 3 to 64 → batch norm → relu → max pool 2 → linear 256 → 10), built
    from its spec as chainrule train builds it, in training mode; cross-entropy on the logits
    (Network.head, as the training loop reads it), plain SGD."""

    label = "chainrule"

    def __init__(self, dtype: str, batch: int) -> None:
        self.spec = cr.load_spec(str(SPEC))
        self.model = self.spec.build_model(dtype=dtype)
        self.model.train()
        self.x, self.t = data(dtype, batch)
        self.optimizer = cr.optim.SGD(self.model.parameters(), lr=LEARNING_RATE)

    def _loss(self):
        z, _, _ = self.model.head(self.x, fused=True)
        return cr.nn.cross_entropy(z, self.t)

    def step(self) -> None:
        self.optimizer.zero_grad()
        self._loss().backward()
        self.optimizer.step()

    def loss_value(self) -> float:
        return float(self._loss().data)


class SpecTorchStep(MlpTorchStep):
    """The same network of torch.nn layers, chainrule's starting values copied in."""

    def __init__(self, dtype: str, batch: int) -> None:
        import torch

        self.torch = torch
        tnn = torch.nn
        self.model = tnn.Sequential(
            tnn.Conv2d(1, 32, 3, padding=1), tnn.BatchNorm2d(32), tnn.ReLU(), tnn.MaxPool2d(2),
            tnn.Conv2d(32, 64, 3, padding=1), tnn.BatchNorm2d(64), tnn.ReLU(),
            tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(256, 10)).to(getattr(torch, dtype))
        state = SpecStep(dtype, batch).model.state_dict()
        with torch.no_grad():
            for name, tensor in self.model.state_dict().items():
                value = state[name]
                tensor.copy_(torch.tensor(value.T.copy() if name == "9.weight" else value))
        self.model.train()
        x, t = data(dtype, batch)
        self.x, self.t = torch.tensor(x), torch.tensor(t)
        self.loss_fn = tnn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=LEARNING_RATE)


def spec_flops(batch: int) -> float:
    forward = 2 * batch * (64 * 32 * 1 * 9 + 16 * 64 * 32 * 9 + 256 * 10)
    return 3 * forward


NETWORKS = {"small": (lambda: ChainruleStep, lambda: TorchStep, flops),
            "digits-cnn": (lambda: SpecStep, lambda: SpecTorchStep, spec_flops)}


def measure(repeats: int = 21, batch: int = 64, block_seconds: float = 0.1,
            networks: tuple[str, ...] = tuple(NETWORKS)) -> dict:
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    rows = []
    with threadpool_limits(1):
        for network, dtype in [(n, d) for n in networks for d in ("float64", "float32")]:
            ours_class, theirs_class, count = (part() if i < 2 else part
                                               for i, part in enumerate(NETWORKS[network]))
            mine, theirs = ours_class(dtype, batch), theirs_class(dtype, batch)
            # the same weights and data: the same loss before any step
            same = abs(mine.loss_value() - theirs.loss_value())
            samples = time_interleaved([mine, theirs], repeats, block_seconds, 3)
            ours, torchs = (statistics.median(samples[k]) for k in ("chainrule", "pytorch"))
            ratios = [a / b for a, b in zip(samples["chainrule"], samples["pytorch"])]
            peak = matmul_peak(dtype, [(512, 512, 512), (1024, 1024, 1024)], 3)
            rows.append({"network": network, "dtype": dtype, "batch": batch,
                         "chainrule_us": ours * 1e6,
                         "pytorch_us": torchs * 1e6, "x_torch": ours / torchs,
                         "x_torch_blocks_median": statistics.median(ratios),
                         "peak_fraction": count(batch) / ours / peak,
                         "matmul_peak_gflops": peak / 1e9, "loss_difference": same})
    return {"schema": "chainrule.bench.cnn/1", "repeats": repeats, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    return side_by_side_cli(__doc__, measure, argv, 21, 64, (
        ("network", "network", "<11"), ("dtype", "dtype", "<8"), ("batch", "batch", ">5"),
        ("chainrule µs", "chainrule_us", ">13,.0f"), ("PyTorch µs", "pytorch_us", ">11,.0f"),
        ("×torch", "x_torch", ">7.2f"), ("peak", "peak_fraction", ">6.1%")))


if __name__ == "__main__":
    raise SystemExit(main())
