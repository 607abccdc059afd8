"""What fit() does with the data: inputs and targets as arrays, a fingerprint that ties a
checkpoint to them, and how a prediction is counted as correct."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from chainrule.autodiff.engine import no_grad
from chainrule.errors import ShapeError
from chainrule.tables.losses import LOSS_TABLE
from chainrule.nn import MLP, output_loss


def fingerprint(x: np.ndarray, y: np.ndarray) -> str:
    """A SHA-256 of the training examples and targets, with their shapes and dtypes."""
    digest = hashlib.sha256()
    for array in (x, y):
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def arrays(model: MLP, x: Any, y: Any, loss: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Inputs as floats of shape (examples, *model.input_shape); targets as class indices or
    rows of the output's shape. Rows of flat features (a CSV's, the digits' 64 pixels) for a
    network of images are laid out in its input shape, row-major, as ``x.view(n, 1, 8, 8)``."""
    x = shaped(model, np.asarray(x, dtype=model.dtype))
    y = np.asarray(y)
    shape = tuple(model.input_shape)
    if x.shape[1:] != shape or not len(x):
        wanted = ", ".join(map(str, shape))
        flat = f" (or (examples, {int(np.prod(shape))}) of flat features)" if len(shape) > 1 \
            else ""
        raise ShapeError(f"{what}x: expected shape (examples, {wanted}){flat} with at least "
                         f"one example, got {x.shape}")
    if len(y) != len(x):
        raise ShapeError(f"{what}y: expected {len(x)} targets (one per example), got {len(y)}")
    takes_classes = loss in LOSS_TABLE and LOSS_TABLE[loss].target == "classes"
    positions = tuple(model.shapes[-1][:-1]) if hasattr(model, "shapes") else ()
    indices = takes_classes and y.shape == (len(x), *positions) and y.dtype.kind in "iu"
    if indices:  # a class index per example, or per position of a sequence
        return x, y.astype(np.int64)
    if y.ndim == 1 and model.output_size == 1:
        y = y[:, None]
    return x, y.astype(model.dtype)


def shaped(model: MLP, x: np.ndarray) -> np.ndarray:
    """Rows of flat features laid out in the model's input shape (a view), else ``x``."""
    shape = tuple(model.input_shape)
    if x.ndim == 2 and len(shape) > 1 and x.shape[1] == int(np.prod(shape)):
        return x.reshape((len(x),) + shape)
    return x


def accuracy_kind(y: np.ndarray, outputs: int) -> str | None:
    """How to count a correct prediction, from the training targets; None for regression.

    Class indices or one-hot rows: the largest output. One output with 0/1 targets: above 0.5;
    with −1/+1 targets: its sign. Any other targets are a regression: no accuracy.
    """
    if y.ndim == 1 or y.dtype.kind in "iu":  # class indices (per position of a sequence)
        return "index"
    values = np.unique(y)
    if outputs > 1 and set(values) <= {0.0, 1.0} and np.all(y.sum(axis=1) == 1):
        return "argmax"
    if outputs == 1 and set(values) <= {0.0, 1.0}:
        return "half"
    if outputs == 1 and set(values) <= {-1.0, 1.0}:
        return "sign"
    return None


def correct(kind: str | None, output: np.ndarray, y: np.ndarray) -> float:
    """The examples predicted right; for a sequence, each example counts the fraction of its
    positions predicted right (so the mean over examples is the positions' accuracy)."""
    if kind is None:
        return 0
    if kind == "index" and y.ndim == 2:  # (examples, L) next tokens
        return float(np.sum(output.argmax(axis=-1) == y) / y.shape[1])
    if kind in ("index", "argmax"):
        guess, truth = output.argmax(axis=1), (y if kind == "index" else y.argmax(axis=1))
    else:  # one output unit, cut at 0.5 for 0/1 targets or at 0 for −1/+1
        cut = 0.5 if kind == "half" else 0.0
        guess, truth = output[:, 0] > cut, y[:, 0] > cut
    return int(np.sum(guess == truth))


def evaluate(model: MLP, loss: str, x: np.ndarray, y: np.ndarray,
              kind: str | None) -> tuple[float, float | None]:
    training = model.training  # evaluated as a model is used: running statistics, no dropout
    model.eval()
    try:
        with no_grad(), np.errstate(all="ignore"):
            z, a, activation = model.head(x)
            value = output_loss(loss, z, a, activation, y)
    finally:
        model.train(training)
    accuracy = None if kind is None else correct(kind, a.data, y) / len(x)
    return float(value.data), accuracy
