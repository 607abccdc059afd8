"""Loss functions with exact, documented formulas: the engine's computation of each entry of
:data:`chainrule.tables.losses.LOSS_TABLE`, which holds what each loss is (per example, its
derivative, its target, its from-logits pairs).

Over a batch (a 2-D output, one row per example) the loss is the mean over examples;
``reduction="none"`` gives the per-example losses, ``"sum"`` their sum.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from chainrule.errors import ShapeError, SpecError
from chainrule.tables.losses import FROM_LOGITS, LOSS_TABLE, REDUCTIONS, from_logits  # noqa: F401
from chainrule.nn.activations import unknown_name_message
from chainrule.autodiff.ops import PRIMITIVES
from chainrule.autodiff.tensor import Tensor, apply


def _target(target: Any, output: Tensor) -> Tensor:
    """The target as a constant of the output's dtype, refusing any silent broadcast."""
    values = target.data if isinstance(target, Tensor) else np.asarray(target)
    if values.shape != output.shape:
        raise ShapeError(
            f"target: expected shape {output.shape} to match the network output, "
            f"got {values.shape}"
        )
    return Tensor._wrap(values.astype(output.dtype, copy=False))


def _reduce(per_example: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return per_example.mean()
    if reduction == "sum":
        return per_example.sum()
    if reduction == "none":
        return per_example
    raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _checked_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def _squared_error(y: Tensor, target: Any, kind: str, reduction: str) -> Tensor:
    # One node (see chainrule.autodiff.fused): the same numbers as the composed expression
    # ((y - t) ** 2).sum(axis=-1) and its reduction, in a fraction of the time.
    return apply(PRIMITIVES["squared_error"], y, _target(target, y), kind=kind,
                 reduction=_checked_reduction(reduction))


def sse(y: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Sum of squared errors over the output units: Σₖ (yₖ − tₖ)²."""
    return _squared_error(y, target, "sse", reduction)


def half_sse(y: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Half the sum of squared errors, ½ Σₖ (yₖ − tₖ)²: its derivative is y − t."""
    return _squared_error(y, target, "half_sse", reduction)


def mse(y: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error over the output units: meanₖ (yₖ − tₖ)²."""
    return _squared_error(y, target, "mse", reduction)


def bce(y: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities y: meanₖ −[tₖ ln yₖ + (1 − tₖ) ln(1 − yₖ)]."""
    t = _target(target, y)
    return _reduce(-(t * y.log() + (1.0 - t) * (1.0 - y).log()).mean(axis=-1), reduction)


def bce_with_logits(z: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """``bce(sigmoid(z), t)`` computed from the logits: ln σ(z) = −softplus(−z), never −∞."""
    t = _target(target, z)
    per_unit = t * (-z).softplus() + (1.0 - t) * z.softplus()
    return _reduce(per_unit.mean(axis=-1), reduction)


def bce_with_softmax_logits(z: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """``bce(softmax(z), t)`` computed from the logits, as one node: finite for any finite z,
    where ln(1 − softmaxₖ) would be ln 0 once a unit saturates (see chainrule.autodiff.fused)."""
    return apply(PRIMITIVES["softmax_bce"], z, _target(target, z),
                 reduction=_checked_reduction(reduction))


def cross_entropy(logits: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """−Σₖ tₖ ln softmax(z)ₖ from logits, via the stable log-softmax.

    ``target`` is one-hot (same shape as the logits) or class indices (one integer per example).
    """
    # log_softmax, then one node for -(t * log_probs).sum(axis=-1) and its reduction
    # (see chainrule.autodiff.fused): the same numbers as the composed expression.
    return apply(PRIMITIVES["nll"], logits.log_softmax(), one_hot_target(target, logits),
                 reduction=_checked_reduction(reduction))


def one_hot_target(target: Any, logits: Tensor) -> Tensor:
    values = target.data if isinstance(target, Tensor) else np.asarray(target)
    is_index = values.dtype.kind in "iu" and values.shape == logits.shape[:-1]
    if not is_index:
        return _target(values, logits)
    classes = logits.shape[-1]
    if values.size and (values.min() < 0 or values.max() >= classes):
        raise ShapeError(
            f"target: class indices must lie in 0..{classes - 1} for {classes} outputs, "
            f"got {values.min()}..{values.max()}"
        )
    return Tensor._wrap(np.eye(classes, dtype=logits.dtype)[values])


Loss = Callable[..., Tensor]

# Each table entry's function, by its name; the from-logits forms by the table's names for them.
LOSSES: dict[str, Loss] = {name: globals()[name] for name in LOSS_TABLE}
_FROM_LOGITS_FUNCTIONS: dict[str, Loss] = {
    "log_softmax": cross_entropy, "bce_with_logits": bce_with_logits,
    "softmax_bce": bce_with_softmax_logits,
}


def get_loss(name: str) -> Loss:
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise SpecError(unknown_name_message("loss", name, LOSSES)) from None


def output_loss(
    name: str, z: Tensor, a: Tensor, activation: str, target: Any, reduction: str = "mean"
) -> Tensor:
    """A network's loss given its last layer's pre-activation ``z`` and output ``a``.

    Where the output activation allows, the loss is taken from the logits — the same value,
    without overflow or ln 0: ``cross_entropy`` after ``softmax`` uses z (after any other
    activation, the output itself is treated as the logits, as PyTorch's CrossEntropyLoss
    would), ``bce`` after ``sigmoid`` uses :func:`bce_with_logits` and after ``softmax``
    :func:`bce_with_softmax_logits` (the table's ``from_logits`` pairs).
    """
    loss = get_loss(name)
    logits_form = LOSS_TABLE[name].from_logits.get(activation)
    if logits_form is not None:
        return _FROM_LOGITS_FUNCTIONS[logits_form](z, target, reduction)
    return loss(a, target, reduction)
