"""The convolutional and sequence operations on Tensors, named and called as
``torch.nn.functional``'s: ``conv1d``, ``conv2d`` (with the bias), ``max_pool1d``/``2d``,
``avg_pool1d``/``2d``, ``batch_norm``, ``dropout``, ``embedding`` and ``layer_norm``. Each is
one node of the primitive table (:mod:`chainrule.autodiff.ops_conv`, ``ops_pool``,
``ops_norm``, ``ops_sequence``), plus a bias's broadcast and addition, so an explanation
shows the layer's backward pass as its own rule.

>>> import numpy as np, chainrule as cr
>>> from chainrule.nn import functional as F
>>> x = cr.Tensor(np.arange(16.0).reshape(1, 1, 4, 4))
>>> F.max_pool2d(x, 2).numpy()[0, 0]
array([[ 5.,  7.],
       [13., 15.]])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autodiff.ops import PRIMITIVES
from chainrule.autodiff.tensor import Tensor, apply
from chainrule.errors import ShapeError

_CONV, _MAX, _AVG = PRIMITIVES["conv"], PRIMITIVES["max_pool"], PRIMITIVES["avg_pool"]
_NORM, _DROP = PRIMITIVES["batch_norm"], PRIMITIVES["dropout"]
_EMBED, _LAYER_NORM = PRIMITIVES["embedding"], PRIMITIVES["layer_norm"]


def _tensor(x: Any, like: Tensor | None = None) -> Tensor:
    if isinstance(x, Tensor):
        return x
    return Tensor(np.asarray(x, dtype=like.dtype if like is not None else None))


def _spatial(x: Tensor, d: int, op: str) -> None:
    if x.ndim != d + 2:
        layout = "(N, C, L)" if d == 1 else "(N, C, H, W)"
        raise ShapeError(f"{op}: expected an input {layout}, got shape {x.shape}")


def _with_bias(out: Tensor, bias: Any) -> Tensor:
    if bias is None:
        return out
    bias = _tensor(bias, out)
    if bias.shape != (out.shape[1],):
        raise ShapeError(f"conv: expected a bias of shape ({out.shape[1]},) for "
                         f"{out.shape[1]} output channels, got {bias.shape}")
    return out + bias.reshape((1, -1) + (1,) * (out.ndim - 2))


def _conv(d: int, op: str):
    def conv(x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
             dilation: Any = 1, groups: int = 1) -> Tensor:
        x = _tensor(x)
        _spatial(x, d, op)
        out = apply(_CONV, x, _tensor(weight, x), stride=stride, padding=padding,
                    dilation=dilation, groups=groups)
        return _with_bias(out, bias)
    conv.__name__ = op
    conv.__doc__ = f"``torch.nn.functional.{op}``: the convolution node, then the bias added."
    return conv


conv1d, conv2d = _conv(1, "conv1d"), _conv(2, "conv2d")


def _pool(primitive, d: int, op: str):
    def pool(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
        x = _tensor(x)
        _spatial(x, d, op)
        return apply(primitive, x, kernel_size=kernel_size, stride=stride, padding=padding)
    pool.__name__ = op
    pool.__doc__ = f"``torch.nn.functional.{op}`` (stride = kernel_size by default)."
    return pool


max_pool1d, max_pool2d = _pool(_MAX, 1, "max_pool1d"), _pool(_MAX, 2, "max_pool2d")
avg_pool1d, avg_pool2d = _pool(_AVG, 1, "avg_pool1d"), _pool(_AVG, 2, "avg_pool2d")


def batch_norm(x: Any, running_mean: Any, running_var: Any, weight: Any = None,
               bias: Any = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """``torch.nn.functional.batch_norm``. In training mode each channel is normalised with
    the batch's mean and biased variance (one node, its three-term gradient), and the running
    statistics given (NumPy arrays) are updated in place with the *unbiased* variance, as
    PyTorch does; otherwise they normalise, and the gradient is an affine map's."""
    x = _tensor(x)
    if x.ndim < 2:
        raise ShapeError(f"batch_norm: expected an input (N, C, ...), got shape {x.shape}")
    channels = x.shape[1]
    weight = _tensor(np.ones(channels) if weight is None else weight, x)
    bias = _tensor(np.zeros(channels) if bias is None else bias, x)
    for name, value in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                        ("running_var", running_var)):
        if value is None:
            continue
        if name.startswith("running") and not (isinstance(value, np.ndarray)
                                                and value.dtype.kind == "f"):
            raise ShapeError(f"batch_norm: {name} must be a float NumPy array (it is updated "
                             f"in place), got {type(value).__name__}")
        if np.shape(value) != (channels,):
            raise ShapeError(f"batch_norm: expected {name} of shape ({channels},) for "
                             f"{channels} channels, got {np.shape(value)}")
    shape = (1, channels) + (1,) * (x.ndim - 2)
    if training:
        axes = (0,) + tuple(range(2, x.ndim))
        m = int(np.prod([x.shape[a] for a in axes]))
        if m < 2:  # a variance of one value is 0, its unbiased one 0/0: PyTorch refuses too
            raise ShapeError(f"batch_norm: training mode needs more than 1 value per channel, "
                             f"got input shape {x.shape}")
        out = apply(_NORM, x, weight, bias, eps=eps)
        if running_mean is not None:
            running_mean *= 1.0 - momentum
            running_mean += momentum * x.data.mean(axis=axes)
        if running_var is not None:
            running_var *= 1.0 - momentum
            running_var += momentum * x.data.var(axis=axes) * m / (m - 1)
        return out
    if running_mean is None or running_var is None:
        raise ShapeError("batch_norm: evaluation mode needs the running mean and variance")
    mean = Tensor(np.asarray(running_mean, dtype=x.dtype).reshape(shape))
    scale = Tensor((1.0 / np.sqrt(np.asarray(running_var, dtype=x.dtype) + eps)).reshape(shape))
    return (x - mean) * scale * weight.reshape(shape) + bias.reshape(shape)


def dropout(x: Any, p: float = 0.5, training: bool = True,
            generator: np.random.Generator | int | None = None,
            mask: Any = None) -> Tensor:
    """Inverted dropout: each element kept with probability 1 − p and scaled by 1/(1 − p).
    The mask is drawn from ``generator`` (a NumPy Generator or a seed: the same seed, the
    same mask), or given; it is a constant input of the node, so the backward pass reuses
    it. Not training: x itself."""
    x = _tensor(x)
    if not 0.0 <= p <= 1.0:
        raise ShapeError(f"dropout: p must be between 0 and 1, got {p}")
    if not training or p == 0.0:
        return x
    if mask is None:
        rng = generator if isinstance(generator, np.random.Generator) else \
            np.random.default_rng(generator)
        mask = rng.random(x.shape) >= p
    return apply(_DROP, x, Tensor(np.asarray(mask, dtype=x.dtype)), p=p)


def embedding(input: Any, weight: Any, padding_idx: int | None = None) -> Tensor:
    """``torch.nn.functional.embedding``: row ``input[...]`` of ``weight`` (num_embeddings,
    embedding_dim) for every index; the gradient of a repeated index adds up, and the row
    ``padding_idx`` gets none."""
    index = input.data if isinstance(input, Tensor) else np.asarray(input)
    return apply(_EMBED, _tensor(weight), index=np.asarray(index), padding_idx=padding_idx)


def layer_norm(input: Any, normalized_shape: Any, weight: Any = None, bias: Any = None,
               eps: float = 1e-5) -> Tensor:
    """``torch.nn.functional.layer_norm``: each sample normalised over its last
    ``len(normalized_shape)`` axes (their mean and biased variance), scaled by ``weight``
    and shifted by ``bias`` (ones and zeros when not given)."""
    x = _tensor(input)
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else \
        tuple(normalized_shape)
    if tuple(x.shape[x.ndim - len(shape):]) != shape or len(shape) > x.ndim:
        raise ShapeError(f"layer_norm: normalized_shape {list(shape)} is not the last axes of "
                         f"an input of shape {x.shape}")
    weight = _tensor(np.ones(shape) if weight is None else weight, x)
    bias = _tensor(np.zeros(shape) if bias is None else bias, x)
    return apply(_LAYER_NORM, x, weight, bias, ndim=len(shape), eps=eps)
