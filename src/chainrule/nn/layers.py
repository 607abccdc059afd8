"""Layers: Parameter, Module, Linear and the multi-layer perceptron.

The seed's convention throughout: a layer computes z = a @ W + b with W of shape
(fan_in, fan_out), so a row of inputs meets a column of weights per unit, and a batch is
simply more rows. Layers are numbered from 1; ``a0`` is the input.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np

from chainrule.tables.activations import ACTIVATION_TABLE
from chainrule.errors import ShapeError, SpecError
from chainrule.autodiff.fused import DENSE_ACTIVATIONS, dense_activation, linear
from chainrule.nn.activations import get_activation
from chainrule.nn.init import as_rng, init_weight, resolve_init
from chainrule.autodiff.ops import PRIMITIVES
from chainrule.autodiff.tensor import Tensor, apply, record

BIAS_MODES = ("per_unit", "shared_per_layer", "none")
_LINEAR, _DENSE = PRIMITIVES["linear"], PRIMITIVES["dense"]


class Parameter(Tensor):
    """A trainable tensor. A *frozen* one still gets its gradient; optimizers skip it."""

    __slots__ = ("frozen",)

    def __init__(self, data: Any, name: str | None = None, *, dtype: Any = None,
                 frozen: bool = False) -> None:
        super().__init__(data, name, requires_grad=True, dtype=dtype)
        self.frozen = frozen


class Module:
    """Something with named parameters that maps tensors to tensors. ``training`` (True
    until :meth:`eval`) switches batch norm and dropout, as in PyTorch."""

    training = True

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        raise NotImplementedError

    def local_parameters(self) -> list[tuple[str, Parameter]]:
        """The parameters named as PyTorch names them inside a container (``weight``,
        ``bias``): a Sequential prefixes these with the module's index."""
        return self.named_parameters()

    def children(self) -> list["Module"]:
        """The modules this one is made of (a Sequential's, a residual block's)."""
        return []

    def train(self, mode: bool = True) -> "Module":
        """Training mode (batch statistics, dropout on) for this module and its children."""
        self.training = bool(mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> "Module":
        """Evaluation mode: running statistics, no dropout."""
        return self.train(False)

    def to_torch(self, dtype: Any = None) -> Any:
        """This model as a ``torch.nn.Module`` with copies of its weights, names and mode
        (:mod:`chainrule.nn.torch_export`); an MLP's W1 is ``0.weight``, transposed."""
        from chainrule.nn.torch_export import to_torch

        return to_torch(self, dtype)

    def forward(self, x: Any) -> Tensor:
        raise NotImplementedError

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The output's shape for one example of ``shape`` (without the batch axis)."""
        raise NotImplementedError(f"{type(self).__name__}.out_shape")

    def __call__(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        """``forward``, as PyTorch's modules call it (an RNN takes a state too)."""
        return self.forward(x, *args, **kwargs)

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def parameter(self, name: str) -> Parameter:
        for key, p in self.named_parameters():
            if key == name:
                return p
        names = ", ".join(key for key, _ in self.named_parameters())
        raise SpecError(f"no parameter named {name!r}; this network has: {names}")

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def freeze(self, *names: str) -> None:
        """Keep these parameters fixed: gradients are computed and reported, never applied."""
        for name in names:
            self.parameter(name).frozen = True

    def named_buffers(self) -> list[tuple[str, np.ndarray]]:
        """State that is not trained but belongs to the model (batch norm's running
        statistics), by name, as PyTorch's ``named_buffers``: saved and loaded with it."""
        return []

    def named_generators(self) -> list[tuple[str, np.random.Generator]]:
        """The random generators the model draws from as it runs (a dropout mask's), by
        name: a checkpoint saves their state, so that a resumed run draws the same masks."""
        return []

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter's values and every buffer's, by name."""
        out = {name: p.data.copy() for name, p in self.named_parameters()}
        out.update((name, np.array(b, copy=True)) for name, b in self.named_buffers())
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Every parameter and buffer from ``state``; one line naming the first that is
        missing or of another shape (nothing is loaded then)."""
        pairs = [(name, p.data) for name, p in self.named_parameters()] + self.named_buffers()
        loaded = []
        for name, target in pairs:
            if name not in state:
                raise SpecError(f"state: no {name!r} (this model has "
                                f"{', '.join(n for n, _ in pairs)})")
            values = np.asarray(state[name], dtype=target.dtype)
            if values.shape != target.shape:
                raise ShapeError(f"{name}: expected shape {target.shape}, got {values.shape}")
            loaded.append((target, values))
        for target, values in loaded:
            target[...] = values


class Linear(Module):
    """z = a @ W + b, W of shape (fan_in, fan_out).

    ``bias_mode``: ``per_unit`` (b of shape (fan_out,)), ``shared_per_layer`` (one number for the whole
    layer, shape (1,), as some textbook examples use; its gradient is the sum over the units)
    or ``none``.
    """

    def __init__(self, fan_in: int, fan_out: int, *, weight: Any = None, bias: Any = None,
                 bias_mode: str = "per_unit", init: str = "auto", activation: str = "identity",
                 seed: int | np.random.Generator | None = 0, dtype: Any = None,
                 index: int = 1) -> None:
        if bias_mode not in BIAS_MODES:
            raise SpecError(f"bias: expected one of {', '.join(BIAS_MODES)}, got {bias_mode!r}")
        self.fan_in, self.fan_out, self.bias_mode, self.index = fan_in, fan_out, bias_mode, index
        units = f"for layer {index} ({fan_in} → {fan_out} units)"
        if weight is None:
            weight = init_weight(init, activation, fan_in, fan_out, as_rng(seed))
        weight = _checked(weight, (fan_in, fan_out), f"weights[{index - 1}]", units)
        self.weight = Parameter(weight, f"W{index}", dtype=dtype)
        self.bias: Parameter | None = None
        if bias_mode != "none":
            shape = (fan_out,) if bias_mode == "per_unit" else (1,)
            values = np.zeros(shape) if bias is None else bias
            values = _checked(values, shape, f"biases[{index - 1}]", units)
            self.bias = Parameter(values, f"b{index}", dtype=dtype)
        self.init = resolve_init(init, activation)

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        params = [(self.weight.name, self.weight)]
        if self.bias is not None:
            params.append((self.bias.name, self.bias))
        return params

    def local_parameters(self) -> list[tuple[str, Parameter]]:
        # in a Sequential, "0.weight" as in PyTorch (W stays (fan_in, fan_out), its transpose)
        return [("weight", self.weight)] + ([("bias", self.bias)] if self.bias is not None
                                            else [])

    def forward(self, a: Any) -> Tensor:
        a = as_input(a, self.weight.dtype)
        if self.bias is None:
            return a @ self.weight
        # One node for a @ W + b (see chainrule.autodiff.fused): the same numbers, less bookkeeping.
        return apply(_LINEAR, a, self.weight, self.bias)

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """(fan_out,) for one example of (fan_in,), a flat input (a Flatten before it); or
        (L, fan_out) for a sequence (L, fan_in), mapped position by position as in PyTorch."""
        if len(shape) not in (1, 2) or shape[-1] != self.fan_in:
            flat = " (put a Flatten before it)" if len(shape) > 1 and \
                int(np.prod(shape)) == self.fan_in else ""
            raise ShapeError(f"Linear({self.fan_in}, {self.fan_out}): expects {self.fan_in} "
                             f"values per example, got shape {tuple(shape)}{flat}")
        return (*shape[:-1], self.fan_out)

    def dense(self, a: Tensor, activation: str) -> tuple[Tensor, Tensor]:
        """z = a @ W + b and f(z), with f(z) recorded as one ``dense`` node of a, W and b.

        For training: backward then passes one node per layer, with the gradients of the
        separate nodes bit for bit, but never through z, so ``z.grad`` stays unset. z is
        still a tensor of the graph (a ``linear`` node) for whoever computes with it.
        ``activation`` is one of ``chainrule.autodiff.fused.DENSE_ACTIVATIONS``; needs a bias.
        """
        inputs = (a, self.weight, self.bias)
        z = record(_LINEAR, inputs, linear(a.data, self.weight.data, self.bias.data))
        prim, params = dense_activation(activation, **ACTIVATION_TABLE[activation].params)
        return z, record(_DENSE, inputs, prim.forward(z.data, **params), activation=activation,
                         **params)

    def __repr__(self) -> str:
        return f"Linear({self.fan_in}, {self.fan_out}, bias_mode={self.bias_mode!r})"


def _checked(values: Any, shape: tuple[int, ...], path: str, units: str) -> np.ndarray:
    array = values.data if isinstance(values, Tensor) else np.asarray(values, dtype=float)
    if array.shape != shape:
        raise ShapeError(f"{path}: expected shape {shape} {units}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise SpecError(f"{path}: every value must be a finite number")
    return array


def as_input(x: Any, dtype: np.dtype) -> Tensor:
    """Data fed to a layer: a Tensor as given, anything else a constant of the layer's dtype.

    An array already of that dtype is not copied (a batch may be large and is fed every
    step): the constant holds a read-only view of it, so nothing here can write into it.
    """
    if isinstance(x, Tensor):
        return x
    if type(x) is np.ndarray and x.dtype == dtype:
        view = x.view()
        view.flags.writeable = False
        return Tensor._wrap(view)
    return Tensor(x, requires_grad=False, dtype=dtype)


class LayerValues:
    """One layer's forward values: the net input ``z`` and the activation ``a``."""

    __slots__ = ("z", "a")

    def __init__(self, z: Tensor, a: Tensor) -> None:
        self.z, self.a = z, a

    def __iter__(self) -> Iterator[Tensor]:
        return iter((self.z, self.a))


class MLP(Module):
    """A multi-layer perceptron: ``MLP(layers=[2, 2, 1], activations="sigmoid", seed=0)``.

    ``activations`` is one name for every layer or one per layer. Weights are given
    (``weights=[W1, W2, ...]`` with Wₗ of shape (fan_in, fan_out), ``biases=[b1, ...]``) or
    drawn by ``init`` from a generator seeded by ``seed`` (an int or a ``Generator``), layer
    by layer, so the same seed gives the same network bit for bit.
    """

    def __init__(self, layers: Sequence[int], activations: str | Sequence[str] = "sigmoid", *,
                 weights: Sequence[Any] | None = None, biases: Sequence[Any] | None = None,
                 init: str = "auto", seed: int | np.random.Generator | None = 0,
                 bias_mode: str = "per_unit", dtype: Any = None) -> None:
        self.sizes = tuple(int(n) for n in layers)
        if len(self.sizes) < 2 or any(n < 1 for n in self.sizes):
            raise SpecError(f"layers: expected at least two positive sizes, got {list(layers)}")
        depth = len(self.sizes) - 1
        if isinstance(activations, str):
            activations = [activations] * depth
        if len(activations) != depth:
            raise SpecError(f"activations: expected 1 or {depth} names (one per layer), "
                            f"got {len(activations)}")
        self.activations = tuple(activations)
        self._names = [(f"z{i}", f"a{i}") for i in range(1, depth + 1)]
        self._activation_fns = [get_activation(name) for name in self.activations]
        for field, given in (("weights", weights), ("biases", biases)):
            if given is not None and len(given) != depth:
                raise ShapeError(f"{field}: expected {depth} entries (one per layer), "
                                 f"got {len(given)}")
        # a generator only if a layer draws its weights: numpy.random is a tenth of the start-up
        # of `chainrule explain`, whose networks give theirs (the draws are the same either way)
        drawn = weights is None or any(weight is None for weight in weights)
        rng = as_rng(seed) if drawn else seed
        self.layers = [
            Linear(n_in, n_out, weight=None if weights is None else weights[i],
                   bias=None if biases is None else biases[i], bias_mode=bias_mode, init=init,
                   activation=self.activations[i], seed=rng, dtype=dtype, index=i + 1)
            for i, (n_in, n_out) in enumerate(zip(self.sizes, self.sizes[1:]))
        ]

    @property
    def dtype(self) -> np.dtype:
        return self.layers[0].weight.dtype

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [item for layer in self.layers for item in layer.named_parameters()]

    def forward_steps(self, x: Any, *, fused: bool = False) -> list[LayerValues]:
        """Every layer's z and a, named ``z1, a1, z2, ...``; the input is named ``a0``.

        ``fused=True`` (what training uses) records each layer with a bias and a sigmoid,
        tanh, relu or leaky relu activation as one ``dense`` node (:meth:`Linear.dense`): the
        same values and parameter gradients, bit for bit, in less time, but backward then
        leaves ``z.grad`` unset (``retain_grad`` on z gets nothing). Explanations use the
        default, where z and a are separate steps.
        """
        a = as_input(x, self.dtype)
        if a.ndim not in (1, 2) or a.shape[-1] != self.sizes[0]:
            raise ShapeError(f"input: expected {self.sizes[0]} values per example "
                             f"(shape ({self.sizes[0]},) or (batch, {self.sizes[0]})), "
                             f"got shape {a.shape}")
        if a.name is None:
            a.name = "a0"
        steps = []
        for layer, activation, fn, (z_name, a_name) in zip(
                self.layers, self.activations, self._activation_fns, self._names):
            if fused and activation in DENSE_ACTIVATIONS and layer.bias is not None:
                z, a = layer.dense(a, activation)
            else:
                z = layer(a)
                a = fn(z)
            z.name = z_name
            if a is not z:  # identity returns z itself, which keeps its name
                a.name = a_name
            steps.append(LayerValues(z, a))
        return steps

    def forward(self, x: Any) -> Tensor:
        return self.forward_steps(x, fused=True)[-1].a

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.sizes[0],)

    @property
    def output_size(self) -> int:
        return self.sizes[-1]

    def head(self, x: Any, *, fused: bool = False) -> tuple[Tensor, Tensor, str]:
        """(z, a, activation) of the output layer, what a loss reads (as
        :meth:`chainrule.nn.network.Network.head`)."""
        last = self.forward_steps(x, fused=fused)[-1]
        return last.z, last.a, self.activations[-1]

    def __repr__(self) -> str:
        sizes = "-".join(map(str, self.sizes))
        return f"MLP({sizes}, activations={list(self.activations)})"
