"""PyTorch's layer modules for convolutional networks, with its constructor signatures,
parameter names and shapes: ``Conv1d``, ``Conv2d``, ``MaxPool1d/2d``, ``AvgPool1d/2d``,
``BatchNorm1d/2d``, ``Dropout``, ``Flatten``, the activations as modules (``ReLU``, ``Tanh``,
``Sigmoid``, ``LeakyReLU``, ``Softmax``), ``Sequential`` and ``Residual``.

Inputs are NCHW (NCL for the 1-d layers). ``Conv2d.weight`` is (out, in/groups, kh, kw) and
``.bias`` (out,), as PyTorch's; chainrule's ``Linear`` keeps the seed's W of shape
(fan_in, fan_out), the transpose of PyTorch's (out, in). Parameters are initialised as
PyTorch's defaults are, U(−1/√fan_in, 1/√fan_in) with fan_in = in/groups · kh · kw, from the
NumPy Generator or seed given (the same seed, the same numbers; not PyTorch's numbers).
``model.train()`` and ``model.eval()`` switch batch norm and dropout, as in PyTorch.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np

from chainrule.autodiff.ops_conv import output_sizes
from chainrule.autodiff.ops_pool import pool_geometry
from chainrule.autodiff.tensor import Tensor
from chainrule.errors import ShapeError
from chainrule.nn import functional as F
from chainrule.nn.init import as_rng
from chainrule.nn.layers import Module, Parameter, as_input
from chainrule.tables.activations import LEAKY_RELU_SLOPE


def _shape(shape: tuple[int, ...]) -> str:
    return "shape (" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _given(values: Any, shape: tuple[int, ...], what: str, dtype) -> np.ndarray:
    array = np.asarray(values, dtype=dtype)
    if array.shape != shape:
        raise ShapeError(f"{what}: expected shape {shape}, got {array.shape}")
    return array.copy()


class _ConvNd(Module):
    d = 2
    name = "Conv2d"

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True, *,
                 weight: Any = None, bias_values: Any = None,
                 generator: np.random.Generator | int | None = None,
                 dtype: Any = np.float64) -> None:
        kernel = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else \
            (kernel_size,) * self.d
        counts = (in_channels, out_channels, groups, *kernel)
        if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1
               for v in counts):
            raise ShapeError(f"{self.name}: channels, groups and kernel_size must be integers "
                             f"≥ 1, got in {in_channels!r}, out {out_channels!r}, groups "
                             f"{groups!r}, kernel_size {kernel_size!r}")
        kernel = tuple(int(k) for k in kernel)
        if len(kernel) != self.d or in_channels % groups or out_channels % groups:
            raise ShapeError(f"{self.name}: kernel_size {kernel_size!r}, groups {groups} for "
                             f"{in_channels} → {out_channels} channels do not fit")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        shape = (out_channels, in_channels // groups) + kernel
        bound = 1.0 / np.sqrt((in_channels // groups) * int(np.prod(kernel)))
        rng = as_rng(generator)
        w = rng.uniform(-bound, bound, shape) if weight is None else \
            _given(weight, shape, f"{self.name}.weight", dtype)
        self.weight = Parameter(w, "weight", dtype=dtype)
        self.bias = None
        if bias:
            b = rng.uniform(-bound, bound, (out_channels,)) if bias_values is None else \
                _given(bias_values, (out_channels,), f"{self.name}.bias", dtype)
            self.bias = Parameter(b, "bias", dtype=dtype)

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [("weight", self.weight)] + ([("bias", self.bias)] if self.bias is not None
                                            else [])

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The output's shape for one example of ``shape`` (C, *spatial); a ShapeError
        saying why when none fits."""
        layout = "(C, L)" if self.d == 1 else "(C, H, W)"
        if len(shape) != self.d + 1:
            raise ShapeError(f"{self.name}: expected an input {layout} per example, got "
                             f"{_shape(shape)}")
        if shape[0] != self.in_channels:
            raise ShapeError(f"{self.name}: expects {self.in_channels} input channels, the "
                             f"input has {shape[0]} ({_shape(shape)})")
        return (self.out_channels,) + output_sizes(shape[1:], self.kernel_size, self.stride,
                                                   self.padding, self.dilation,
                                                   self.name)

    def forward(self, x: Any) -> Tensor:
        conv = F.conv1d if self.d == 1 else F.conv2d
        return conv(as_input(x, self.weight.dtype), self.weight, self.bias, self.stride,
                    self.padding, self.dilation, self.groups)

    def __repr__(self) -> str:
        return (f"{self.name}({self.in_channels}, {self.out_channels}, "
                f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding})")


class Conv1d(_ConvNd):
    d, name = 1, "Conv1d"


class Conv2d(_ConvNd):
    d, name = 2, "Conv2d"


class _Pool(Module):
    pool = staticmethod(F.max_pool2d)
    name = "MaxPool2d"

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return []

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        d = int(self.name[-2])
        if len(shape) != d + 1:
            raise ShapeError(f"{self.name}: expected an input {'(C, L)' if d == 1 else '(C, H, W)'}"
                             f" per example, got {_shape(shape)}")
        return shape[:1] + pool_geometry(shape[1:], self.kernel_size, self.stride, self.padding,
                                         self.name)[3]

    def forward(self, x: Any) -> Tensor:
        return self.pool(x, self.kernel_size, self.stride, self.padding)

    def __repr__(self) -> str:
        return f"{self.name}(kernel_size={self.kernel_size}, stride={self.stride})"


class MaxPool1d(_Pool):
    pool, name = staticmethod(F.max_pool1d), "MaxPool1d"


class MaxPool2d(_Pool):
    pool, name = staticmethod(F.max_pool2d), "MaxPool2d"


class AvgPool1d(_Pool):
    pool, name = staticmethod(F.avg_pool1d), "AvgPool1d"


class AvgPool2d(_Pool):
    pool, name = staticmethod(F.avg_pool2d), "AvgPool2d"


class _BatchNorm(Module):
    dims = (4,)
    name = "BatchNorm2d"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = True, *, dtype: Any = np.float64) -> None:
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = Parameter(np.ones(num_features), "weight", dtype=dtype) if affine else None
        self.bias = Parameter(np.zeros(num_features), "bias", dtype=dtype) if affine else None
        self.running_mean = np.zeros(num_features, dtype=dtype)
        self.running_var = np.ones(num_features, dtype=dtype)
        self.num_batches_tracked = np.zeros((), dtype=np.int64)
        self.dtype = np.dtype(dtype)

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [] if self.weight is None else [("weight", self.weight), ("bias", self.bias)]

    def named_buffers(self) -> list[tuple[str, np.ndarray]]:
        # as PyTorch's state_dict holds them beside the parameters
        return [("running_mean", self.running_mean), ("running_var", self.running_var),
                ("num_batches_tracked", self.num_batches_tracked)]

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) + 1 not in self.dims or shape[0] != self.num_features:
            wanted = " or ".join(f"{n - 1}" for n in self.dims)
            raise ShapeError(f"{self.name}({self.num_features}): expected {wanted} dimension(s) "
                             f"per example with {self.num_features} channels first, got "
                             f"{_shape(shape)}")
        return tuple(shape)

    def forward(self, x: Any) -> Tensor:
        x = as_input(x, self.dtype)
        if x.ndim not in self.dims or x.shape[1] != self.num_features:
            raise ShapeError(f"{self.name}({self.num_features}): expected an input of "
                             f"{' or '.join(map(str, self.dims))} dimensions with "
                             f"{self.num_features} channels, got shape {x.shape}")
        momentum = self.momentum
        if self.training and momentum is None:  # PyTorch's cumulative average
            momentum = 1.0 / float(self.num_batches_tracked + 1)
        out = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                           self.training, momentum, self.eps)
        if self.training:
            self.num_batches_tracked += 1
        return out

    def __repr__(self) -> str:
        return f"{self.name}({self.num_features}, eps={self.eps}, momentum={self.momentum})"


class BatchNorm1d(_BatchNorm):
    dims, name = (2, 3), "BatchNorm1d"


class BatchNorm2d(_BatchNorm):
    dims, name = (4,), "BatchNorm2d"


class Dropout(Module):
    """Inverted dropout; its mask drawn from ``generator`` (a seed or a NumPy Generator) and
    kept as ``.mask`` for an explanation to show."""

    def __init__(self, p: float = 0.5, *,
                 generator: np.random.Generator | int | None = None) -> None:
        if not 0.0 <= p <= 1.0:
            raise ShapeError(f"Dropout: p must be between 0 and 1, got {p}")
        self.p, self.rng, self.mask = p, as_rng(generator), None

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return []

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(shape)

    def named_generators(self) -> list[tuple[str, np.random.Generator]]:
        return [("generator", self.rng)]

    def forward(self, x: Any) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        if not self.training or self.p == 0.0:
            self.mask = None
            return x
        self.mask = self.rng.random(x.shape) >= self.p
        return F.dropout(x, self.p, True, mask=self.mask)

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"


class Flatten(Module):
    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        self.start_dim, self.end_dim = start_dim, end_dim

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return []

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        full = (1,) + tuple(shape)  # the batch axis is axis 0, as start_dim counts
        start, end = (d % len(full) for d in (self.start_dim, self.end_dim))
        if start > end:
            raise ShapeError(f"Flatten: start_dim {self.start_dim} comes after end_dim "
                             f"{self.end_dim} for {_shape(shape)}")
        merged = full[:start] + (int(np.prod(full[start:end + 1])),) + full[end + 1:]
        return merged[1:]

    def forward(self, x: Any) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        return x.flatten(self.start_dim, self.end_dim)

    def __repr__(self) -> str:
        return f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim})"


class _Activation(Module):
    table_name = ""  # the activation's entry in ACTIVATION_TABLE

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return []

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(shape)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ReLU(_Activation):
    table_name = "relu"

    def forward(self, x: Any) -> Tensor:
        return (x if isinstance(x, Tensor) else Tensor(x)).relu()


class Tanh(_Activation):
    table_name = "tanh"

    def forward(self, x: Any) -> Tensor:
        return (x if isinstance(x, Tensor) else Tensor(x)).tanh()


class Sigmoid(_Activation):
    table_name = "sigmoid"

    def forward(self, x: Any) -> Tensor:
        return (x if isinstance(x, Tensor) else Tensor(x)).sigmoid()


class LeakyReLU(_Activation):
    table_name = "leaky_relu"

    def __init__(self, negative_slope: float = LEAKY_RELU_SLOPE) -> None:
        self.negative_slope = negative_slope

    def forward(self, x: Any) -> Tensor:
        return (x if isinstance(x, Tensor) else Tensor(x)).leaky_relu(self.negative_slope)

    def __repr__(self) -> str:
        return f"LeakyReLU(negative_slope={self.negative_slope})"


class Softmax(_Activation):
    """``nn.Softmax(dim)``; ``dim`` defaults to the last axis (PyTorch's implicit choice is
    deprecated there, and warns)."""

    table_name = "softmax"

    def __init__(self, dim: int = -1) -> None:
        self.dim = dim

    def forward(self, x: Any) -> Tensor:
        return (x if isinstance(x, Tensor) else Tensor(x)).softmax(self.dim)

    def __repr__(self) -> str:
        return f"Softmax(dim={self.dim})"


class Sequential(Module):
    """Modules applied in turn; indexable, and its parameters named ``"0.weight"``, ``"2.bias"``
    as PyTorch names them."""

    def __init__(self, *modules: Module) -> None:
        for i, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: module {i} is a {type(module).__name__}, "
                                "not a Module")
        self.modules = list(modules)

    def children(self) -> list[Module]:
        return list(self.modules)

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [(f"{i}.{name}", p) for i, m in enumerate(self.modules)
                for name, p in m.local_parameters()]

    def named_buffers(self) -> list[tuple[str, np.ndarray]]:
        return [(f"{i}.{name}", b) for i, m in enumerate(self.modules)
                for name, b in m.named_buffers()]

    def named_generators(self) -> list[tuple[str, np.random.Generator]]:
        return [(f"{i}.{name}", g) for i, m in enumerate(self.modules)
                for name, g in m.named_generators()]

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        for module in self.modules:
            shape = module.out_shape(shape)
        return shape

    def forward(self, x: Any) -> Tensor:
        for module in self.modules:
            x = module(x)
        return x

    def __getitem__(self, index: int | slice) -> Module:
        if isinstance(index, slice):
            return Sequential(*self.modules[index])
        return self.modules[index]

    def __len__(self) -> int:
        return len(self.modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.modules)

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}): {m!r}" for i, m in enumerate(self.modules))
        return f"Sequential({inner}\n)"


class Residual(Module):
    """A residual (skip) block: ``block(x) + shortcut(x)``, the shortcut x itself unless given
    (a 1 × 1 convolution where the channels change). Its gradient is the sum of the two
    paths' gradients, which the graph records as an ``add``."""

    def __init__(self, block: Module, shortcut: Module | None = None) -> None:
        self.block, self.shortcut = block, shortcut

    def children(self) -> list[Module]:
        return [self.block] + ([self.shortcut] if self.shortcut is not None else [])

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        out = [(f"block.{n}", p) for n, p in self.block.local_parameters()]
        if self.shortcut is not None:
            out += [(f"shortcut.{n}", p) for n, p in self.shortcut.local_parameters()]
        return out

    def named_buffers(self) -> list[tuple[str, np.ndarray]]:
        out = [(f"block.{n}", b) for n, b in self.block.named_buffers()]
        if self.shortcut is not None:
            out += [(f"shortcut.{n}", b) for n, b in self.shortcut.named_buffers()]
        return out

    def named_generators(self) -> list[tuple[str, np.random.Generator]]:
        out = [(f"block.{n}", g) for n, g in self.block.named_generators()]
        if self.shortcut is not None:
            out += [(f"shortcut.{n}", g) for n, g in self.shortcut.named_generators()]
        return out

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        main = self.block.out_shape(shape)
        side = tuple(shape) if self.shortcut is None else self.shortcut.out_shape(shape)
        if main != side:
            raise ShapeError(f"Residual: the block gives {_shape(main)} and the shortcut "
                             f"{_shape(side)}; they must match to be added")
        return main

    def forward(self, x: Any) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        main = self.block(x)
        side = x if self.shortcut is None else self.shortcut(x)
        if main.shape != side.shape:
            raise ShapeError(f"Residual: the block gives shape {main.shape} and the shortcut "
                             f"{side.shape}; give a shortcut that matches")
        return main + side

    def __repr__(self) -> str:
        return f"Residual({self.block!r}, shortcut={self.shortcut!r})"


def modules_of(model: Module) -> Sequence[Module]:
    """Every module of ``model``, itself first, depth first."""
    out = [model]
    for child in model.children():
        out += modules_of(child)
    return out
