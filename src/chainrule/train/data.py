"""Data for training: built-in and CSV datasets, splits, standardisation, one-hot targets.

>>> from chainrule.train.data import load_dataset, split, Standardizer
>>> data = load_dataset("moons", n=200, noise=0.1, seed=0)
>>> parts = split(data, validation=0.2, seed=0)
>>> scaler = Standardizer.fit(parts.train.x)
>>> x_train = scaler.transform(parts.train.x)

Everything random takes a ``seed`` and uses its own ``numpy.random.Generator``, so the same
call returns the same bytes on every run. Errors are ``SpecError`` one-liners.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Mapping

import numpy as np

from chainrule.train.datasets import generators, shipped
from chainrule.train.datasets.csvfile import MAX_CLASSES, read_csv
from chainrule.train.datasets.dataset import Dataset, Task
from chainrule.errors import ShapeError, SpecError

__all__ = ["DATASETS", "MAX_CLASSES", "Dataset", "Split", "Standardizer", "load_dataset",
           "one_hot", "split"]

DATASETS: dict[str, str] = {
    "xor": "XOR: the 4 corners of the unit square (or n noisy samples around them), 2 classes",
    "moons": "two interleaving half circles, 2 classes (n=200, noise=0.1)",
    "circles": "a circle inside a circle, radius ratio 0.5, 2 classes (n=200, noise=0.05)",
    "spirals": "interleaved spirals, 2 arms or classes=k (n=200, noise=0.05)",
    "blobs": "Gaussian blobs around 3 centres or classes=k (n=200, noise=1.0 = their std)",
    "digits": "8x8 handwritten digits, 1797 images, 64 pixel counts 0..16, 10 classes (UCI)",
    "iris": "Fisher's iris: 150 flowers, 4 measurements in cm, 3 species",
    "macbeth": "Shakespeare's Macbeth, 95,856 characters of 62 kinds: a character-level "
               "language model's windows (the spec's input_shape [L] sets their length)",
}
GENERATED = ("xor", "moons", "circles", "spirals", "blobs")
DEFAULT_NOISE = {"xor": 0.1, "moons": 0.1, "circles": 0.05, "spirals": 0.05, "blobs": 1.0}
DEFAULT_N = 200


def _check_options(name: str, n: Any, noise: Any, seed: Any, classes: Any) -> None:
    where = f"dataset {name!r}"
    if name not in GENERATED and (n, noise, classes) != (None, None, None):
        raise SpecError(f"{where} is fixed: n, noise and classes apply only to the generated "
                        f"datasets ({', '.join(GENERATED)})")
    if classes is not None and name not in ("spirals", "blobs"):
        raise SpecError(f"{where}: classes applies to spirals (arms) and blobs (centres) only")
    if classes is not None and (not isinstance(classes, Integral) or isinstance(classes, bool)
                                or classes < 2):
        raise SpecError(f"{where}: classes must be an integer >= 2, got {classes!r}")
    least = 2 if classes is None else int(classes)  # so that every class gets an example
    if n is not None and (not isinstance(n, Integral) or isinstance(n, bool) or n < least):
        raise SpecError(f"{where}: n must be an integer >= {least}, got {n!r}")
    if noise is not None and (not isinstance(noise, Real) or isinstance(noise, bool)
                              or not math.isfinite(noise) or noise < 0):
        raise SpecError(f"{where}: noise must be a finite number >= 0, got {noise!r}")
    if not isinstance(seed, Integral) or isinstance(seed, bool) or seed < 0:
        raise SpecError(f"{where}: seed must be an integer >= 0, got {seed!r}")


def load_dataset(name_or_csv: str | os.PathLike[str], *, target: str | None = None,
                 n: int | None = None, noise: float | None = None, seed: int = 0,
                 task: Task | None = None, classes: int | None = None,
                 length: int | None = None) -> Dataset:
    """A built-in dataset by name (see ``DATASETS``) or a CSV file (a path ending in .csv).

    ``n`` (default 200) and ``noise`` (default per dataset, see ``DATASETS``) shape the
    generated datasets; ``classes`` sets the arms of ``spirals`` (2) or centres of ``blobs``
    (3). ``xor`` without ``n`` is the exact 4 points. For a CSV file, ``target`` names the
    column to predict and ``task`` overrides the classification/regression rule described in
    ``chainrule.train.datasets.csvfile``.
    """
    label = os.fspath(name_or_csv)
    if label.lower().endswith(".csv"):
        if (n, noise, classes) != (None, None, None):
            raise SpecError(f"{label}: n, noise and classes apply to generated datasets, "
                            "not to a CSV file")
        return read_csv(label, target, task)
    name = label.strip().lower()
    if name not in DATASETS:
        raise SpecError(f"unknown dataset {label!r}: expected one of {', '.join(DATASETS)}, "
                        "or a path ending in .csv")
    if target is not None:
        raise SpecError(f"dataset {name!r}: target applies to CSV files only")
    if name == "macbeth":
        if (n, noise, classes, task) != (None, None, None, None):
            raise SpecError("dataset 'macbeth' is a text: n, noise, classes and task do not "
                            "apply")
        if not isinstance(length, Integral) or isinstance(length, bool) or length < 1:
            raise SpecError("dataset 'macbeth' is a text for a sequence model: give a spec "
                            "whose input_shape [L] is the window's length (examples/"
                            "char-rnn.yaml)")
        return shipped.macbeth(int(length))
    if task not in (None, "classification"):
        raise SpecError(f"dataset {name!r} is a classification dataset, not {task!r}")
    _check_options(name, n, noise, seed, classes)
    if name == "digits":
        return shipped.digits()
    if name == "iris":
        return shipped.iris()
    if name == "xor":
        return generators.xor(None if n is None else int(n),
                              None if noise is None else float(noise), int(seed))
    size = DEFAULT_N if n is None else int(n)
    spread = DEFAULT_NOISE[name] if noise is None else float(noise)
    if name == "moons":
        return generators.moons(size, spread, int(seed))
    if name == "circles":
        return generators.circles(size, spread, int(seed))
    if name == "spirals":
        return generators.spirals(size, spread, int(seed), arms=classes or 2)
    return generators.blobs(size, spread, int(seed), centres=classes or 3)


@dataclass(eq=False)
class Split:
    """Disjoint parts of one dataset; ``validation``/``test`` are None when not asked for."""

    train: Dataset
    validation: Dataset | None
    test: Dataset | None


def _share(total: int, sizes: np.ndarray) -> np.ndarray:
    """``total`` spread over groups in proportion to ``sizes`` (largest remainder, ties to
    the earlier group), so a stratified split has exactly the asked-for size."""
    if total == 0:
        return np.zeros_like(sizes)
    exact = total * sizes / sizes.sum()
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:total - counts.sum()]] += 1
    return counts


def _fraction(name: str, value: Any) -> float:
    if not isinstance(value, Real) or isinstance(value, bool) or not 0 <= value < 1:
        raise SpecError(f"split: {name} must be a fraction in [0, 1), got {value!r}")
    return float(value)


def split(dataset: Dataset, *, validation: float = 0.2, test: float = 0.0, seed: int = 0,
          stratify: bool = True) -> Split:
    """Shuffle (seeded) and cut into train / validation / test.

    A part gets fraction · n examples rounded half up, at least one if its fraction is above 0;
    with ``stratify`` a classification dataset keeps its class proportions in every part
    (as closely as whole examples allow). Each part is in shuffled order.
    """
    val_fraction, test_fraction = _fraction("validation", validation), _fraction("test", test)
    if not isinstance(seed, Integral) or isinstance(seed, bool) or seed < 0:
        raise SpecError(f"split: seed must be an integer >= 0, got {seed!r}")
    n = len(dataset)
    n_test = max(1, math.floor(test_fraction * n + 0.5)) if test_fraction else 0
    n_val = max(1, math.floor(val_fraction * n + 0.5)) if val_fraction else 0
    if n - n_test - n_val < 1:
        raise SpecError(f"split: validation={validation} and test={test} leave no training "
                        f"data from {n} examples of {dataset.name!r}")
    rng = np.random.default_rng(int(seed))
    if stratify and dataset.task == "classification":
        members = [rng.permutation(np.flatnonzero(dataset.y == k))
                   for k in range(len(dataset.classes))]
        sizes = np.array([len(m) for m in members], dtype=np.int64)
        test_counts = _share(n_test, sizes)
        val_counts = _share(n_val, sizes - test_counts)
        parts = [np.concatenate([m[:t] for m, t in zip(members, test_counts)]),
                 np.concatenate([m[t:t + v] for m, t, v in zip(members, test_counts,
                                                                val_counts)]),
                 np.concatenate([m[t + v:] for m, t, v in zip(members, test_counts,
                                                              val_counts)])]
        test_idx, val_idx, train_idx = (rng.permutation(p) for p in parts)
    else:
        order = rng.permutation(n)
        test_idx, val_idx, train_idx = np.split(order, [n_test, n_test + n_val])
    return Split(train=dataset.take(train_idx),
                 validation=dataset.take(val_idx) if n_val else None,
                 test=dataset.take(test_idx) if n_test else None)


def _matrix(x: Any, what: str) -> np.ndarray:
    array = np.asarray(x, dtype=np.float64)
    if array.ndim != 2:
        raise ShapeError(f"{what}: expected a 2-D array (examples, features), "
                         f"got shape {array.shape}")
    return array


class Standardizer:
    """Per-feature standardisation: (x − mean) / scale, fitted on training data only.

    ``scale`` is the population standard deviation, or 1 for a constant column (which then
    maps to 0 instead of dividing by zero).
    """

    def __init__(self, mean: np.ndarray, scale: np.ndarray) -> None:
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        if self.mean.ndim != 1 or self.mean.shape != self.scale.shape:
            raise ShapeError(f"Standardizer: mean and scale must be 1-D of one length, "
                             f"got {self.mean.shape} and {self.scale.shape}")
        if not (np.all(np.isfinite(self.mean)) and np.all(np.isfinite(self.scale))
                and np.all(self.scale > 0)):
            raise ShapeError("Standardizer: mean must be finite and scale finite and > 0")

    @classmethod
    def fit(cls, x: Any) -> Standardizer:
        data = _matrix(x, "Standardizer.fit")
        if data.shape[0] == 0 or not np.all(np.isfinite(data)):
            raise ShapeError("Standardizer.fit: needs at least one example and finite values")
        constant = np.all(data == data[0], axis=0)
        # A constant column keeps its exact value as the mean, so it maps to exactly 0
        # (the computed mean of n copies of 0.1 is not always exactly 0.1).
        mean = np.where(constant, data[0], data.mean(axis=0))
        scale = np.where(constant, 1.0, data.std(axis=0))
        return cls(mean, np.where(scale > 0, scale, 1.0))

    def _check(self, x: Any, what: str) -> np.ndarray:
        data = _matrix(x, what)
        if data.shape[1] != self.mean.shape[0]:
            raise ShapeError(f"{what}: expected {self.mean.shape[0]} features, "
                             f"got {data.shape[1]}")
        return data

    def transform(self, x: Any) -> np.ndarray:
        return (self._check(x, "Standardizer.transform") - self.mean) / self.scale

    def inverse_transform(self, x: Any) -> np.ndarray:
        return self._check(x, "Standardizer.inverse_transform") * self.scale + self.mean

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean.copy(), "scale": self.scale.copy()}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Standardizer:
        missing = {"mean", "scale"} - set(state)
        if missing:
            raise ShapeError(f"Standardizer.from_state: missing {', '.join(sorted(missing))}")
        return cls(np.array(state["mean"], dtype=np.float64),
                   np.array(state["scale"], dtype=np.float64))


def one_hot(y: Any, classes: int) -> np.ndarray:
    """Class indices (n,) as float64 rows (n, classes) with a single 1."""
    labels = np.asarray(y)
    if labels.ndim != 1 or (labels.size and labels.dtype.kind not in "iu"):
        raise ShapeError(f"one_hot: expected a 1-D array of integer class indices, "
                         f"got {labels.dtype} of shape {labels.shape}")
    if not isinstance(classes, Integral) or isinstance(classes, bool) or classes < 1:
        raise ShapeError(f"one_hot: classes must be an integer >= 1, got {classes!r}")
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ShapeError(f"one_hot: class indices must lie in 0..{classes - 1}, "
                         f"got {labels.min()}..{labels.max()}")
    encoded = np.zeros((labels.shape[0], int(classes)), dtype=np.float64)
    encoded[np.arange(labels.shape[0]), labels.astype(np.int64)] = 1.0
    return encoded
