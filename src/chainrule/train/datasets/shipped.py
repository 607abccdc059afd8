"""The real datasets shipped with chainrule (no network needed): digits, iris and the text of
Macbeth.

digits and iris are scikit-learn's copies, kept byte for byte; Macbeth is Shakespeare's,
laid out as tiny-shakespeare lays a play out (README.md here gives sources and licences).
All are small, so they are parsed on every call and each caller gets fresh arrays.
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


MACBETH = "macbeth.txt.gz"


def macbeth_text() -> str:
    """Shakespeare's Macbeth (1606, public domain), 95,856 characters of 62 kinds: each speech
    as ``SPEAKER:`` on its own line, its lines, a blank line (no headings or stage
    directions)."""
    return gzip.decompress(_read_bytes(MACBETH)).decode("utf-8")


def text_windows(name: str, text: str, length: int, description: str) -> Dataset:
    """A text as a character-level language model's examples: its vocabulary (the distinct
    characters, sorted; a character's index is its token), and the text cut into windows of
    ``length`` characters one after the other, each predicting the next character at every
    position (y = x shifted by one)."""
    vocabulary = tuple(sorted(set(text)))
    index = {c: i for i, c in enumerate(vocabulary)}
    tokens = np.fromiter((index[c] for c in text), dtype=np.int64, count=len(text))
    windows = (len(tokens) - 1) // length
    if windows < 1:
        raise ValueError(f"{name}: {len(text)} characters make no window of {length}")
    x = tokens[:windows * length].reshape(windows, length)
    y = tokens[1:windows * length + 1].reshape(windows, length)
    return Dataset(name, x.astype(np.float64), y, "sequence", vocabulary,
                   tuple(f"c{i + 1}" for i in range(length)), description)


def macbeth(length: int) -> Dataset:
    return text_windows("macbeth", macbeth_text(), length,
                        f"Shakespeare's Macbeth, character by character: windows of {length} "
                        f"characters, each predicting the next at every position")
