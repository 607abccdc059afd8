"""The real datasets shipped with chainrule (no network needed): digits and iris.

The files are scikit-learn's copies, kept byte for byte (README.md here gives sources and
licences). Both are small, so they are parsed on every call and each caller gets fresh arrays.
"""

from __future__ import annotations

import gzip
import io
from importlib import resources

import numpy as np

from chainrule.train.datasets.dataset import Dataset

IRIS_FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def _read_bytes(filename: str) -> bytes:
    return resources.files("chainrule.train.datasets").joinpath(filename).read_bytes()


def digits() -> Dataset:
    """UCI optical recognition of handwritten digits (test set): 1,797 images of 8×8 pixels,
    each the count (0..16) of ink pixels in a 4×4 block of the 32×32 original."""
    text = gzip.decompress(_read_bytes("digits.csv.gz")).decode("ascii")
    # One row per image: 64 pixel counts row by row, then the digit (no header row).
    table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float64, ndmin=2)
    features = tuple(f"pixel_{row}_{col}" for row in range(8) for col in range(8))
    return Dataset("digits", table[:, :64].copy(), table[:, 64].astype(np.int64),
                   "classification", tuple(str(d) for d in range(10)), features,
                   "8x8 handwritten digits (UCI, Alpaydin & Kaynak 1998): 1797 images, "
                   "64 pixel counts 0..16, 10 classes")


def iris() -> Dataset:
    """Fisher's iris (1936): 150 flowers, 4 measurements in cm, 3 species of 50."""
    lines = _read_bytes("iris.csv").decode("ascii").splitlines()
    # scikit-learn's header row is "150,4,setosa,versicolor,virginica": counts, class names.
    header = lines[0].split(",")
    rows, columns, classes = int(header[0]), int(header[1]), tuple(header[2:])
    table = np.loadtxt(io.StringIO("\n".join(lines[1:])), delimiter=",", dtype=np.float64,
                       ndmin=2)
    if table.shape != (rows, columns + 1):  # the shipped file is fixed, so this is a bug
        raise RuntimeError(f"datasets/iris.csv: expected {rows}x{columns + 1} values, "
                           f"got {table.shape}")
    return Dataset("iris", table[:, :columns].copy(), table[:, columns].astype(np.int64),
                   "classification", classes, IRIS_FEATURES,
                   "Fisher's iris (1936): 150 flowers, 4 measurements in cm, 3 species")
