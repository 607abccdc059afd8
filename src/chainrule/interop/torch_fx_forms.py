"""What a function node of a traced forward, an index or a mask means as chainrule layers:
``F.relu`` a ReLU, ``x.view(x.size(0), -1)`` a Flatten, ``out[:, -1]`` the last step, an
upper triangle the causal mask (:mod:`chainrule.interop.torch_fx` reads the graph with it).
"""

from __future__ import annotations

import math
from typing import Any

from chainrule.interop.torch_layers import TorchImportError, pool


def meta_shape(node) -> tuple[int, ...] | None:
    """A node's shape as the one run on zeros found it (batch first)."""
    meta = node.meta.get("tensor_meta")
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None


def functional(kind: str, node, where: str) -> dict[str, Any]:
    """The layer of a function node of kind ``kind`` (a value of :data:`FUNCTIONS`), its
    options read from the call's arguments as PyTorch's signature places them."""
    args, kwargs = list(node.args), dict(node.kwargs)

    def arg(position: int, name: str, default: Any = None) -> Any:
        return kwargs.get(name, args[position] if len(args) > position else default)

    if kind in ("ReLU", "Tanh", "Sigmoid"):
        return {"type": kind}
    if kind == "LeakyReLU":
        return {"type": "LeakyReLU", "negative_slope": arg(1, "negative_slope",
                                                           _torch_default_slope())}
    if kind == "Softmax":
        dim = arg(1, "dim")
        if dim is None or kwargs.get("dtype") is not None:
            raise TorchImportError(f"{where}: give softmax its dim (and no dtype)")
        return {"type": "Softmax", "dim": dim}
    if kind == "Dropout":
        p = arg(1, "p", 0.5)
        return {"type": "Dropout", "p": p}
    if kind == "Flatten":
        start, end = arg(1, "start_dim", 0), arg(2, "end_dim", -1)
        if start == 0:
            raise TorchImportError(f"{where}: flattens the batch axis too (start_dim 0); "
                                   f"torch.flatten(x, 1) keeps one row per example")
        return {"type": "Flatten", "start_dim": start, "end_dim": end}
    if kind == "Reshape":
        before, after = meta_shape(node.args[0]), meta_shape(node)
        if before is None or after != (before[0], math.prod(before[1:])):
            raise TorchImportError(f"{where}: a reshape from {before} to {after}; "
                                   f"chainrule's is a Flatten, (N, ...) to (N, values)")
        return {"type": "Flatten"}
    names = POOL_ARGS[kind.startswith("Avg")]
    options = {name: arg(i + 1, name, default) for i, (name, default) in enumerate(names)}
    return pool(kind, options, where)


POOL_ARGS = {
    False: (("kernel_size", None), ("stride", None), ("padding", 0), ("dilation", 1),
            ("ceil_mode", False), ("return_indices", False)),
    True: (("kernel_size", None), ("stride", None), ("padding", 0), ("ceil_mode", False),
           ("count_include_pad", True), ("divisor_override", None)),
}

# method names (x.relu()) and function names (F.relu, torch.relu, operator.add) → what they
# are
FUNCTIONS = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "leaky_relu": "LeakyReLU",
              "softmax": "Softmax", "dropout": "Dropout", "flatten": "Flatten",
              "view": "Reshape", "reshape": "Reshape", "add": "add", "iadd": "add",
              "max_pool1d": "MaxPool1d", "max_pool2d": "MaxPool2d",
              "avg_pool1d": "AvgPool1d", "avg_pool2d": "AvgPool2d"}


def _torch_default_slope() -> float:
    """F.leaky_relu's own default negative_slope (PyTorch's, read from its signature)."""
    import inspect

    import torch.nn.functional as F

    return float(inspect.signature(F.leaky_relu).parameters["negative_slope"].default)


def last_step(index: Any) -> bool:
    if not isinstance(index, tuple) or len(index) not in (2, 3) or index[1] != -1:
        return False
    whole = slice(None, None, None)
    return index[0] == whole and (len(index) == 2 or index[2] == whole)


def index_text(index: Any) -> str:
    def one(i):
        if isinstance(i, slice):
            return ":" if i == slice(None) else f"{i.start or ''}:{i.stop or ''}"
        return str(i)
    return ", ".join(map(one, index)) if isinstance(index, tuple) else one(index)


def is_causal(mask, length: int) -> bool:
    """Whether ``mask`` is the causal mask of ``length`` positions: True (boolean) or −inf
    (float) exactly above the diagonal."""
    import torch

    if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != (length, length):
        return False
    above = torch.triu(torch.ones(length, length, dtype=torch.bool), 1)
    if mask.dtype == torch.bool:
        return bool(torch.equal(mask.cpu(), above))
    m = mask.detach().cpu()
    return bool(torch.all(torch.isneginf(m[above])) and torch.all(m[~above] == 0))

