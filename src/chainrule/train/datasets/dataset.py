"""Dataset: features, targets and the names that say what they are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from chainrule.errors import ShapeError

Task = Literal["classification", "regression", "sequence"]


@dataclass(eq=False)  # arrays have no single truth value, so == compares identity
class Dataset:
    """Examples as rows: ``x`` float64 (n, features); ``y`` int64 class indices (n,) for
    classification or float64 (n, outputs) for regression; for a sequence (a text's windows),
    ``x`` the token indices (n, L) as floats and ``y`` the next token at every position,
    int64 (n, L).

    ``classes[k]`` names class index k (``()`` for regression).
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    task: Task
    classes: tuple[str, ...]
    feature_names: tuple[str, ...]
    description: str

    def __post_init__(self) -> None:
        # Checked once here so every consumer (split, fit, the CLI) can trust the shapes.
        where = f"dataset {self.name!r}"
        if self.task not in ("classification", "regression", "sequence"):
            raise ShapeError(f"{where}: task must be 'classification', 'regression' or "
                             f"'sequence', got {self.task!r}")
        # Lossless conversions are made here (ints to float64 features, any integer labels to
        # int64); anything else is a mistake worth a message, not a silent cast.
        self.x, self.y = np.asarray(self.x), np.asarray(self.y)
        self.classes, self.feature_names = tuple(self.classes), tuple(self.feature_names)
        if self.x.dtype.kind in "biuf":
            self.x = self.x.astype(np.float64, copy=False)
        integers = self.task in ("classification", "sequence")
        if self.y.dtype.kind in ("iu" if integers else "iuf"):
            self.y = self.y.astype(np.int64 if integers else np.float64, copy=False)
        if self.x.ndim != 2 or self.x.dtype != np.float64:
            raise ShapeError(f"{where}: x must be a 2-D array of real numbers, "
                             f"got {self.x.ndim}-D {self.x.dtype}")
        n, features = self.x.shape
        if len(self.feature_names) != features:
            raise ShapeError(f"{where}: {len(self.feature_names)} feature names "
                             f"for {features} features")
        if self.task == "sequence":
            if self.y.shape != (n, features) or self.y.dtype != np.int64:
                raise ShapeError(f"{where}: a sequence's y must be the next token at every "
                                 f"position, integers of shape ({n}, {features}), got "
                                 f"{self.y.dtype} {self.y.shape}")
            if n and (self.y.min() < 0 or self.y.max() >= len(self.classes)):
                raise ShapeError(f"{where}: token indices must lie in 0..{len(self.classes) - 1}")
        elif self.task == "classification":
            if self.y.shape != (n,) or self.y.dtype != np.int64:
                raise ShapeError(f"{where}: classification y must be integer class indices "
                                 f"of shape ({n},), got {self.y.dtype} {self.y.shape}")
            if n and (self.y.min() < 0 or self.y.max() >= len(self.classes)):
                raise ShapeError(f"{where}: class indices must lie in 0..{len(self.classes) - 1}")
        else:
            if self.y.ndim != 2 or self.y.shape[0] != n or self.y.dtype != np.float64:
                raise ShapeError(f"{where}: regression y must be real numbers of shape "
                                 f"({n}, outputs), got {self.y.dtype} {self.y.shape}")
            if self.classes:
                raise ShapeError(f"{where}: a regression dataset has no classes")

    @property
    def n_outputs(self) -> int:
        """Output units a network needs: one per class, or one per regression target."""
        return len(self.classes) if self.task != "regression" else int(self.y.shape[1])

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def take(self, indices: np.ndarray) -> Dataset:
        """The examples at ``indices`` (in that order), with the same names and description."""
        return Dataset(self.name, self.x[indices], self.y[indices], self.task, self.classes,
                       self.feature_names, self.description)
