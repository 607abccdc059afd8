"""Character-level language models' training step, chainrule against PyTorch eager, one thread
(issue 16, item 5).

The two shipped specs that ``chainrule train --data macbeth`` trains: ``char-lstm``
(examples/char-rnn.yaml: Embedding 62 → 32, LSTM 128 over 64 steps, Linear 62 at every
position) and ``char-transformer`` (examples/char-transformer.yaml: Embedding 62 → 64,
sinusoidal positions, one pre-norm block of causal self-attention with 4 heads and a 256-wide
feed-forward layer, Linear 62). A batch of 32 windows of Macbeth, cross-entropy over every
position, plain SGD. PyTorch's side is built of its own modules (``nn.LSTM``,
``nn.MultiheadAttention``, ``nn.LayerNorm``...) holding chainrule's starting weights, so both
start from the same loss. The implementations take turns block by block (bench/measure.py's
``time_interleaved``) and each figure is the median over blocks; ``×torch`` is chainrule's
median over PyTorch's, measured side by side in one run.

    .venv/bin/python bench/sequence.py [--repeats 11] [--batch 32] [--json]

chainrule unrolls a recurrent layer into one node per operation and step (what makes its
backward pass backpropagation through time, and explainable); PyTorch's ``nn.LSTM`` is one
fused kernel over the sequence, so the recurrent row measures that difference.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

import chainrule as cr  # noqa: E402
from bench.cnn import SpecStep  # noqa: E402
from bench.measure import side_by_side_cli, time_interleaved  # noqa: E402

LEARNING_RATE = 0.05
SPECS = {"char-lstm": ROOT / "examples" / "char-rnn.yaml",
         "char-transformer": ROOT / "examples" / "char-transformer.yaml"}


def batch_of(length: int, batch: int, seed: int = 1):
    from chainrule.train.data import load_dataset

    data = load_dataset("macbeth", length=length)
    rows = np.random.default_rng(seed).choice(len(data.x), size=batch, replace=False)
    return data.x[rows], data.y[rows]


class ChainruleStep(SpecStep):
    """A shipped spec built as ``chainrule train`` builds it, in training mode; its loss,
    step and plain SGD are bench/cnn.py's ``SpecStep``'s (cross-entropy on the logits, here
    at every position)."""

    def __init__(self, network: str, dtype: str, batch: int) -> None:  # (its own spec, data)
        self.spec = cr.load_spec(str(SPECS[network]))
        self.model = self.spec.build_model(dtype=dtype)
        self.model.train()
        x, self.t = batch_of(self.spec.input_shape[0], batch)
        self.x = x.astype(dtype)
        self.optimizer = cr.optim.SGD(self.model.parameters(), lr=LEARNING_RATE)


class TorchStep:
    label = "pytorch"

    def __init__(self, network: str, dtype: str, batch: int) -> None:
        import torch

        self.torch = torch
        mine = ChainruleStep(network, dtype, batch)
        state = {k: np.asarray(v) for k, v in mine.model.state_dict().items()}
        torch.set_default_dtype(getattr(torch, dtype))  # the modules made in the run's dtype
        try:
            self.model = (_Lstm if network == "char-lstm" else _Transformer)(torch, state)
        finally:
            torch.set_default_dtype(torch.float32)
        self.model.train()
        self.x = torch.tensor(mine.x).long()
        self.t = torch.tensor(mine.t)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=LEARNING_RATE)

    def _loss(self):
        logits = self.model(self.x)
        return self.torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                      self.t.reshape(-1))

    def step(self) -> None:
        self.optimizer.zero_grad()
        self._loss().backward()
        self.optimizer.step()

    def loss_value(self) -> float:
        with self.torch.no_grad():
            return float(self._loss())


def _copy(torch, parameter, value, transpose=False):
    with torch.no_grad():
        parameter.copy_(torch.as_tensor(value.T.copy() if transpose else value,
                                        dtype=parameter.dtype))


def _Lstm(torch, state):
    nn = torch.nn

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(*state["0.weight"].shape)
            self.lstm = nn.LSTM(state["0.weight"].shape[1], state["1.weight_hh_l0"].shape[1],
                                batch_first=True)
            self.linear = nn.Linear(*state["2.weight"].shape)
            _copy(torch, self.embedding.weight, state["0.weight"])
            for name, p in self.lstm.named_parameters():
                _copy(torch, p, state[f"1.{name}"])
            _copy(torch, self.linear.weight, state["2.weight"], True)
            _copy(torch, self.linear.bias, state["2.bias"])

        def forward(self, x):
            return self.linear(self.lstm(self.embedding(x))[0])

    return Model()


def _Transformer(torch, state):
    nn = torch.nn
    e = state["0.weight"].shape[1]
    heads = 4

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(*state["0.weight"].shape)
            self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(e) for _ in range(3))
            self.attention = nn.MultiheadAttention(e, heads, batch_first=True)
            self.up = nn.Linear(*state["3.block.1.weight"].shape)
            self.down = nn.Linear(*state["3.block.3.weight"].shape)
            self.out = nn.Linear(*state["5.weight"].shape)
            _copy(torch, self.embedding.weight, state["0.weight"])
            for norm, key in ((self.norm1, "2.block.0"), (self.norm2, "3.block.0"),
                              (self.norm3, "4")):
                _copy(torch, norm.weight, state[f"{key}.weight"])
                _copy(torch, norm.bias, state[f"{key}.bias"])
            for name, p in self.attention.named_parameters():
                _copy(torch, p, state[f"2.block.1.{name}"])
            for linear, key in ((self.up, "3.block.1"), (self.down, "3.block.3"),
                                (self.out, "5")):
                _copy(torch, linear.weight, state[f"{key}.weight"], True)
                _copy(torch, linear.bias, state[f"{key}.bias"])

        def forward(self, x):
            length = x.shape[1]
            h = self.embedding(x)
            position = torch.arange(length, dtype=h.dtype)[:, None]
            rates = 10000.0 ** (-torch.arange(0, e, 2, dtype=h.dtype) / e)
            table = torch.zeros(length, e, dtype=h.dtype)
            table[:, 0::2], table[:, 1::2] = torch.sin(position * rates), \
                torch.cos(position * rates)
            h = h + table
            mask = torch.triu(torch.ones(length, length, dtype=torch.bool), 1)
            a = self.norm1(h)
            h = h + self.attention(a, a, a, attn_mask=mask, need_weights=False)[0]
            h = h + self.down(torch.relu(self.up(self.norm2(h))))
            return self.out(self.norm3(h))

    return Model()


def measure(repeats: int = 11, batch: int = 32, block_seconds: float = 0.3) -> dict:
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    rows = []
    with threadpool_limits(1):
        for network in SPECS:
            for dtype in ("float64", "float32"):
                mine, theirs = ChainruleStep(network, dtype, batch), TorchStep(network, dtype,
                                                                               batch)
                same = abs(mine.loss_value() - theirs.loss_value())
                samples = time_interleaved([mine, theirs], repeats, block_seconds, 2)
                ours, torchs = (statistics.median(samples[k]) for k in ("chainrule", "pytorch"))
                ratios = [a / b for a, b in zip(samples["chainrule"], samples["pytorch"])]
                rows.append({"network": network, "dtype": dtype, "batch": batch,
                             "chainrule_ms": ours * 1e3, "pytorch_ms": torchs * 1e3,
                             "x_torch": ours / torchs,
                             "x_torch_blocks_median": statistics.median(ratios),
                             "loss_difference": same})
    return {"schema": "chainrule.bench.sequence/1", "repeats": repeats, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    return side_by_side_cli(__doc__, measure, argv, 11, 32, (
        ("network", "network", "<17"), ("dtype", "dtype", "<8"), ("batch", "batch", ">5"),
        ("chainrule ms", "chainrule_ms", ">13,.1f"), ("PyTorch ms", "pytorch_ms", ">11,.1f"),
        ("×torch", "x_torch", ">7.2f"), ("Δloss", "loss_difference", ">8.1e")))


if __name__ == "__main__":
    raise SystemExit(main())
