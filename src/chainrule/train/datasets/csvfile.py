"""Read a CSV file into a Dataset, with one-line errors that name the file, line and column.

The rules, so nothing is guessed silently:

* The first non-blank line is the header: one unique, non-empty name per column.
* Comma-separated, UTF-8 (a byte-order mark is allowed), quotes as in RFC 4180.
  Blank lines are skipped; every other row has exactly one value per header column.
* Every column except the target is a feature and must hold a finite number in every row.
  An empty cell, or "nan"/"inf" in any column, is an error (chainrule does not invent values
  for missing data).
* The target decides the task unless ``task`` is given: **classification** if any target
  value is not a number, or if all are whole numbers with at most ``MAX_CLASSES`` (20)
  distinct values; otherwise **regression** (y of shape (n, 1)).
* Class names are the target's text sorted by name, or for numeric targets the values sorted
  numerically ("0", "1", "2"...); a class index is the position of its name.

Line numbers are the file's own (1-based, the header is line 1 in a file without leading
blank lines), so an editor's "go to line" lands on the problem.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

import numpy as np

from chainrule import inputs
from chainrule.train.datasets.dataset import Dataset, Task
from chainrule.errors import SpecError

MAX_CLASSES = 20
# A training CSV is read whole; 64 MiB is about a million rows of a few numbers.
MAX_CSV_BYTES = 64 * 2**20


def _number(cell: str) -> float | None:
    """The cell's value, or None if it is not written as a plain number."""
    text = cell.strip()
    if "_" in text:  # float() accepts "1_000"; a data file with that is more likely a typo
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _read_rows(path: str | os.PathLike[str], label: str) -> list[tuple[int, list[str]]]:
    """Non-blank rows of the file with their line numbers. The file is read as untrusted
    (:mod:`chainrule.inputs`): a regular file of at most ``MAX_CSV_BYTES``, UTF-8."""
    def error(message: str) -> SpecError:  # named as the user wrote it, not as resolved
        return SpecError(message.replace(f"{path}", label, 1))

    text = inputs.read_text(path, error, "CSV file", MAX_CSV_BYTES)
    rows: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for cells in reader:
            if cells and not (len(cells) == 1 and not cells[0].strip()):
                rows.append((reader.line_num, cells))
    except csv.Error as problem:
        raise SpecError(f"{label}:{reader.line_num}: {problem}") from None
    return rows


def _header(rows: list[tuple[int, list[str]]], label: str,
            target: str | None) -> tuple[list[str], str]:
    """The column names and the target's name, checked."""
    if not rows:
        raise SpecError(f"{label}: the file is empty; expected a header row, then data rows")
    line, cells = rows[0]
    names = [cell.strip() for cell in cells]
    for column, name in enumerate(names, start=1):
        if not name:
            raise SpecError(f"{label}:{line}: column {column} of the header has no name")
        if name in names[:column - 1]:
            raise SpecError(f"{label}:{line}: column name {name!r} appears twice in the header")
    listing = ", ".join(names)
    if target is None:
        raise SpecError(f"{label}: no target column given; columns are: {listing}")
    if target not in names:
        raise SpecError(f"{label}: no column {target!r}; columns are: {listing}")
    if len(names) == 1:
        raise SpecError(f"{label}: no feature columns besides the target {target!r}")
    if len(rows) == 1:
        raise SpecError(f"{label}: a header row but no data rows")
    return names, target


def _targets(values: list[str], lines: list[int], label: str, target: str,
             task: Task | None) -> tuple[Task, np.ndarray, tuple[str, ...]]:
    """The task, y and class names from the target column's text."""
    parsed = [_number(value) for value in values]
    for value, number, line in zip(values, parsed, lines):
        if number is not None and not math.isfinite(number):  # "nan" marks missing data
            raise SpecError(f"{label}:{line}: column {target!r}: {value!r} is not a finite "
                            "number")
    numeric = all(v is not None and math.isfinite(v) for v in parsed)
    numbers = [v if v is not None else math.nan for v in parsed]
    if task is None:
        whole = numeric and all(v.is_integer() for v in numbers)
        few = len(set(numbers)) <= MAX_CLASSES
        task = "classification" if not numeric or (whole and few) else "regression"
    if task == "regression":
        for value, number, line in zip(values, numbers, lines):
            if not math.isfinite(number):
                raise SpecError(f"{label}:{line}: column {target!r}: {value!r} is not a "
                                "number (a regression target must be numeric)")
        return task, np.array(numbers, dtype=np.float64).reshape(-1, 1), ()
    if numeric:  # numeric labels: numeric order, so class "10" comes after class "9"
        distinct = sorted(set(numbers))
        names = tuple(str(int(v)) if v.is_integer() else repr(v) for v in distinct)
        index = {v: k for k, v in enumerate(distinct)}
        y = np.array([index[v] for v in numbers], dtype=np.int64)
    else:
        names = tuple(sorted(set(values)))
        position = {name: k for k, name in enumerate(names)}
        y = np.array([position[v] for v in values], dtype=np.int64)
    return task, y, names


def read_csv(path: str | os.PathLike[str], target: str | None,
             task: Task | None = None) -> Dataset:
    """A Dataset from the CSV file at ``path``; ``target`` names the column to predict."""
    if task not in (None, "classification", "regression"):
        raise SpecError(f"task must be 'classification' or 'regression', got {task!r}")
    label = os.fspath(path)  # as the user wrote it, so the message matches their command
    rows = _read_rows(path, label)
    names, target = _header(rows, label, target)
    target_column = names.index(target)
    features = [k for k in range(len(names)) if k != target_column]
    feature_position = {column: k for k, column in enumerate(features)}
    x = np.empty((len(rows) - 1, len(features)), dtype=np.float64)
    target_values: list[str] = []
    lines: list[int] = []
    for row, (line, cells) in enumerate(rows[1:]):
        if len(cells) != len(names):
            raise SpecError(f"{label}:{line}: expected {len(names)} values (one per column "
                            f"of the header), got {len(cells)}")
        for column, cell in enumerate(cells):
            text = cell.strip()
            if not text:
                raise SpecError(f"{label}:{line}: column {names[column]!r}: empty cell "
                                "(missing values are not filled in; fill or drop the row)")
            if column == target_column:
                target_values.append(text)
                continue
            value = _number(text)
            if value is None:
                raise SpecError(f"{label}:{line}: column {names[column]!r}: {text!r} is not "
                                "a number")
            if not math.isfinite(value):
                raise SpecError(f"{label}:{line}: column {names[column]!r}: {text!r} is not "
                                "a finite number")
            x[row, feature_position[column]] = value
        lines.append(line)
    task, y, classes = _targets(target_values, lines, label, target, task)
    kind = f"{len(classes)} classes" if classes else "regression"
    return Dataset(Path(label).name, x, y, task, classes, tuple(names[k] for k in features),
                   f"{label}: {len(y)} rows, {len(features)} features, target {target!r} "
                   f"({kind})")
