"""Recurrent layers with PyTorch's constructors, parameter names, shapes, gate order and
return values: ``RNN``, ``LSTM`` and ``GRU`` (issue 16).

Each is unrolled in time as Tensor operations of the table (matrix products, additions, tanh,
sigmoid, stacking), so the engine records one node per operation and time step and the
backward pass *is* backpropagation through time: ∂E/∂W_hh collects a share from every step,
each through the recurrent path h_{t−1} → h_t as well as the direct one. Layouts:

* input (L, N, H_in), or (N, L, H_in) with ``batch_first=True``, or (L, H_in) unbatched;
* ``h_0`` (and ``c_0``) (num_layers, N, H), zeros when not given;
* ``weight_ih_l{k}`` (G·H, H_in or H), ``weight_hh_l{k}`` (G·H, H), ``bias_ih_l{k}`` and
  ``bias_hh_l{k}`` (G·H,), G = 1 for RNN, 4 for LSTM (its rows the gates in PyTorch's
  order: input i, forget f, cell g, output o) and 3 for GRU (reset r, update z, new n);
  all drawn from U(−1/√H, 1/√H) as PyTorch's;
* ``RNN``: h_t = tanh(x_t·W_ihᵀ + b_ih + h_{t−1}·W_hhᵀ + b_hh) (or relu), returning
  ``(output, h_n)``; ``LSTM``: c_t = f ⊙ c_{t−1} + i ⊙ g, h_t = o ⊙ tanh(c_t), returning
  ``(output, (h_n, c_n))``; ``output`` holds the last layer's h_t for every t.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff.tensor import Tensor
from chainrule.autodiff.tensor_ops import stack
from chainrule.errors import ShapeError
from chainrule.nn.init import as_rng
from chainrule.nn.layers import Module, Parameter, as_input


def _size(value: Any, what: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ShapeError(f"{name}: {what} must be an integer ≥ 1, got {value!r}")
    return int(value)


class _Recurrent(Module):
    gates = 1
    name = "RNN"
    # Set to a dict, the next forward pass keeps its tensors in it, per layer k and time step
    # t: "x"[k][t] (the step's input), "h_prev", "ih" (x_t·W_ihᵀ), "hh" (h_{t−1}·W_hhᵀ), "h",
    # and the cell's own ("z" for RNN; "i", "f", "g", "o", "c_prev", "c", "tanh_c" for LSTM;
    # "r", "z", "n" for GRU): what the explanation of backpropagation through time reads
    # (chainrule.explain.lens.recurrent), the engine's gradients found by the tensors' ids.
    record: dict | None = None
    # Truncated backpropagation through time (chainrule's addition): with k, the state is
    # detached before every k-th step, as PyTorch code detaches h between chunks of k steps,
    # so a gradient travels back at most to the start of its chunk.
    truncate: int | None = None

    def _cut(self, t: int, states: list[Tensor]) -> list[Tensor]:
        if self.truncate and t and t % self.truncate == 0:
            return [state.detach() for state in states]
        return states

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, *,
                 generator: np.random.Generator | int | None = None,
                 dtype: Any = np.float64) -> None:
        self.input_size = _size(input_size, "input_size", self.name)
        self.hidden_size = h = _size(hidden_size, "hidden_size", self.name)
        self.num_layers = _size(num_layers, "num_layers", self.name)
        if dropout:
            raise ShapeError(f"{self.name}: dropout between layers is not supported; give "
                             f"dropout=0 (add a Dropout module between single-layer ones)")
        self.bias, self.batch_first, self.dtype = bool(bias), bool(batch_first), np.dtype(dtype)
        rng, bound = as_rng(generator), 1.0 / np.sqrt(h)
        self._names: list[str] = []
        for k in range(self.num_layers):
            fan_in = self.input_size if k == 0 else h
            shapes = [(f"weight_ih_l{k}", (self.gates * h, fan_in)),
                      (f"weight_hh_l{k}", (self.gates * h, h))]
            if self.bias:
                shapes += [(f"bias_ih_l{k}", (self.gates * h,)),
                           (f"bias_hh_l{k}", (self.gates * h,))]
            for name, shape in shapes:
                setattr(self, name, Parameter(rng.uniform(-bound, bound, shape), name,
                                              dtype=dtype))
                self._names.append(name)

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [(name, getattr(self, name)) for name in self._names]

    def _sequence(self, x: Any) -> tuple[Tensor, bool]:
        """The input as (L, N, H_in), and whether it came unbatched."""
        x = as_input(x, self.dtype)
        if x.ndim == 2:
            return x.reshape(x.shape[0], 1, x.shape[1]), True
        if x.ndim != 3 or x.shape[2] != self.input_size:
            layout = "(N, L, H_in)" if self.batch_first else "(L, N, H_in)"
            raise ShapeError(f"{self.name}: expected an input {layout} with H_in = "
                             f"{self.input_size} (or (L, H_in) unbatched), got shape {x.shape}")
        return (x.transpose(1, 0, 2) if self.batch_first else x), False

    def _state(self, given: Any, batch: int, unbatched: bool, what: str) -> list[Tensor]:
        shape = (self.num_layers, batch, self.hidden_size)
        if given is None:
            return [Tensor(np.zeros(shape[1:]), requires_grad=False, dtype=self.dtype)
                    for _ in range(self.num_layers)]
        state = as_input(given, self.dtype)
        if unbatched and state.ndim == 2:
            state = state.reshape(self.num_layers, 1, self.hidden_size)
        if tuple(state.shape) != shape:
            raise ShapeError(f"{self.name}: expected {what} of shape {shape}, got "
                             f"{tuple(state.shape)}")
        return [state[k] for k in range(self.num_layers)]

    def _keep(self, k: int, **tensors: Tensor) -> None:
        if self.record is None:
            return
        for name, tensor in tensors.items():
            layers = self.record.setdefault(name, [[] for _ in range(self.num_layers)])
            layers[k].append(tensor)

    def _products(self, k: int, x_t: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """x_t·W_ihᵀ (+ b_ih) and h·W_hhᵀ (+ b_hh) of layer k, each kept as recorded."""
        ih = x_t @ getattr(self, f"weight_ih_l{k}").T
        hh = h @ getattr(self, f"weight_hh_l{k}").T
        self._keep(k, x=x_t, h_prev=h, ih=ih, hh=hh)
        if self.bias:
            ih = ih + getattr(self, f"bias_ih_l{k}")
            hh = hh + getattr(self, f"bias_hh_l{k}")
        return ih, hh

    def _pre(self, k: int, x_t: Tensor, h: Tensor) -> Tensor:
        """x_t·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh of layer k."""
        ih, hh = self._products(k, x_t, h)
        return ih + hh

    def _out(self, outputs: list[Tensor], unbatched: bool) -> Tensor:
        out = stack(outputs, 0)  # (L, N, H)
        if unbatched:
            return out.reshape(out.shape[0], out.shape[2])
        return out.transpose(1, 0, 2) if self.batch_first else out

    def _final(self, states: list[Tensor], unbatched: bool) -> Tensor:
        out = stack(states, 0)  # (num_layers, N, H)
        return out.reshape(out.shape[0], out.shape[2]) if unbatched else out

    def __repr__(self) -> str:
        extra = "" if self.num_layers == 1 else f", num_layers={self.num_layers}"
        extra += "" if not self.batch_first else ", batch_first=True"
        return f"{self.name}({self.input_size}, {self.hidden_size}{extra})"


class RNN(_Recurrent):
    """``nn.RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False)``; called as ``rnn(x, h_0=None) -> (output, h_n)``."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, **options: Any) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ShapeError(f"RNN: nonlinearity must be 'tanh' or 'relu', got "
                             f"{nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         **options)

    def forward(self, x: Any, h_0: Any = None) -> tuple[Tensor, Tensor]:
        seq, unbatched = self._sequence(x)
        hidden = self._state(h_0, seq.shape[1], unbatched, "h_0")
        outputs = []
        for t in range(seq.shape[0]):
            inp, hidden = seq[t], self._cut(t, hidden)
            for k in range(self.num_layers):
                z = self._pre(k, inp, hidden[k])
                hidden[k] = z.tanh() if self.nonlinearity == "tanh" else z.relu()
                self._keep(k, z=z, h=hidden[k])
                inp = hidden[k]
            outputs.append(inp)
        return self._out(outputs, unbatched), self._final(hidden, unbatched)


class LSTM(_Recurrent):
    """``nn.LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False)``;
    called as ``lstm(x, (h_0, c_0)=None) -> (output, (h_n, c_n))``. Gates i, f, g, o in
    PyTorch's order along the weights' rows."""

    gates = 4
    name = "LSTM"

    def forward(self, x: Any, state: tuple[Any, Any] | None = None
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        seq, unbatched = self._sequence(x)
        h_0, c_0 = (None, None) if state is None else state
        hidden = self._state(h_0, seq.shape[1], unbatched, "h_0")
        cells = self._state(c_0, seq.shape[1], unbatched, "c_0")
        h = self.hidden_size
        outputs = []
        for t in range(seq.shape[0]):
            inp, hidden, cells = seq[t], self._cut(t, hidden), self._cut(t, cells)
            for k in range(self.num_layers):
                z = self._pre(k, inp, hidden[k])
                i, f = z[:, 0:h].sigmoid(), z[:, h:2 * h].sigmoid()
                g, o = z[:, 2 * h:3 * h].tanh(), z[:, 3 * h:4 * h].sigmoid()
                c_prev = cells[k]
                cells[k] = f * c_prev + i * g
                tanh_c = cells[k].tanh()
                hidden[k] = o * tanh_c
                self._keep(k, z=z, i=i, f=f, g=g, o=o, c_prev=c_prev, c=cells[k],
                           tanh_c=tanh_c, h=hidden[k])
                inp = hidden[k]
            outputs.append(inp)
        return (self._out(outputs, unbatched),
                (self._final(hidden, unbatched), self._final(cells, unbatched)))


class GRU(_Recurrent):
    """``nn.GRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=False)``; called
    as ``gru(x, h_0=None) -> (output, h_n)``. Gates r, z, n in PyTorch's order along the
    weights' rows: r = σ(x·W_irᵀ + b_ir + h·W_hrᵀ + b_hr), z likewise,
    n = tanh(x·W_inᵀ + b_in + r ⊙ (h·W_hnᵀ + b_hn)), h' = (1 − z) ⊙ n + z ⊙ h."""

    gates = 3
    name = "GRU"

    def forward(self, x: Any, h_0: Any = None) -> tuple[Tensor, Tensor]:
        seq, unbatched = self._sequence(x)
        hidden = self._state(h_0, seq.shape[1], unbatched, "h_0")
        h = self.hidden_size
        outputs = []
        for t in range(seq.shape[0]):
            inp, hidden = seq[t], self._cut(t, hidden)
            for k in range(self.num_layers):
                a, b = self._products(k, inp, hidden[k])
                r = (a[:, 0:h] + b[:, 0:h]).sigmoid()
                z = (a[:, h:2 * h] + b[:, h:2 * h]).sigmoid()
                n = (a[:, 2 * h:] + r * b[:, 2 * h:]).tanh()
                hidden[k] = (1.0 - z) * n + z * hidden[k]
                self._keep(k, r=r, z=z, n=n, h=hidden[k])
                inp = hidden[k]
            outputs.append(inp)
        return self._out(outputs, unbatched), self._final(hidden, unbatched)


class Recurrence(Module):
    """A recurrent module as one layer of a network (a spec's ``{"type": "RNN", ...}``): it
    takes a batch (N, L, H_in), starts from zeros, and gives ``output`` (N, L, H), every step's
    state of the last layer, or with ``output="last"`` only the last step's (N, H), PyTorch's
    ``h_n[-1]``. The parameters are the module's own, named as PyTorch names them."""

    def __init__(self, module: _Recurrent, output: str = "sequence",
                 truncate: int | None = None) -> None:
        if output not in ("sequence", "last"):
            raise ShapeError(f"{module.name}: output must be 'sequence' or 'last', got "
                             f"{output!r}")
        self.module, self.output = module, output
        module.truncate = None if truncate is None else _size(truncate, "truncate",
                                                               module.name)

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return self.module.named_parameters()

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) != 2 or shape[1] != self.module.input_size:
            raise ShapeError(f"{self.module.name} takes (L, H_in) per example with H_in = "
                             f"{self.module.input_size}, got {tuple(shape)}")
        size = self.module.hidden_size
        return (shape[0], size) if self.output == "sequence" else (size,)

    def forward(self, x: Any) -> Tensor:
        output = self.module(x)[0]  # batch_first: (N, L, H)
        return output if self.output == "sequence" else output[:, -1]

    def __repr__(self) -> str:
        return repr(self.module) + ("" if self.output == "sequence" else " (last step)")
