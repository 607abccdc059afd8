"""Reading answers from JSON, YAML or CSV, keeping every number as the text it was written as.

The text is what tells how precise an answer is (``0.2001`` is 4 decimals, ``0.20010`` is
5), so numbers are never converted to floats here: JSON is parsed with
``parse_float=str, parse_int=str``, YAML with ``yaml.BaseLoader`` (every scalar a string),
CSV cells are strings anyway.

* JSON, YAML: a mapping from quantity to value; nested mappings are joined with dots
  (``{"updated": {"W1": ...}}`` is ``updated.W1``), so a trace's own JSON can be given.
* CSV: two columns, ``quantity,value``, an optional header row, ``#`` comments. A key with a
  comma (``updated.W1[0,1]``) may be left unquoted; a whole array is a JSON list in a cell.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Mapping

from chainrule import inputs
from chainrule.errors import SpecError

# Keys of a trace's JSON (schema chainrule.trace/1) that are not answers.
TRACE_METADATA = ("schema", "network", "deltas", "chain", "chain_omitted", "steps",
                  "forward.example_losses")
HEADER_KEYS = ("quantity", "name", "key")


def load_answers(path: str | Path) -> dict[str, Any]:
    """Answers from a ``.json``, ``.yaml``/``.yml`` or ``.csv`` file, numbers as text."""
    path = Path(path)
    text = inputs.read_text(path, SpecError, "answers file")
    suffix = path.suffix.lower()
    if suffix == ".json":
        data = parse_json(text, path)
    elif suffix in (".yaml", ".yml"):
        data = parse_yaml(text, path)
    elif suffix == ".csv":
        data = _csv(text, path)
    else:
        raise SpecError(f"{path}: unknown answers format {suffix or '(no suffix)'!r}; "
                        f"expected .json, .yaml, .yml or .csv")
    if not isinstance(data, Mapping):
        kind = "a list" if isinstance(data, list) else "nothing" if data is None else \
            type(data).__name__
        raise SpecError(f"{path}: expected a mapping from quantity to value, got {kind}")
    answers = flatten(data)
    if not answers:
        raise SpecError(f"{path}: no answers in the file")
    return answers


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"updated": {"W1": v}}`` → ``{"updated.W1": v}``; a trace's metadata is dropped."""
    is_trace = not prefix and str(data.get("schema", "")).startswith("chainrule.trace/")
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if is_trace and name in TRACE_METADATA:
            continue
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    if is_trace:
        out.pop("forward.example_losses", None)
    return out


def parse_json(text: str, path: Path, error: type[Exception] = SpecError) -> Any:
    """JSON answers with every number kept as the text written; a key given twice, bad JSON
    or data beyond the limits of :mod:`chainrule.inputs` raises ``error`` naming the file."""
    return inputs.parse_json(text, path, error, as_text=True)


def parse_yaml(text: str, path: Path, error: type[Exception] = SpecError) -> Any:
    """YAML answers with every scalar kept as the text written, within the same limits."""
    return inputs.parse_yaml(text, path, error, as_text=True)


def _csv(text: str, path: Path) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    # One reader over the whole text, so a quoted cell may span lines as spreadsheets write it.
    reader = csv.reader(io.StringIO(text), skipinitialspace=True)
    try:
        for fields in reader:
            number = reader.line_num
            if not "".join(fields).strip() or fields[0].lstrip().startswith("#"):
                continue
            key, value = _split(fields)
            if value is None:
                raise SpecError(f"{path}:{number}: expected two columns, quantity,value; "
                                f"got {','.join(fields).strip()[:80]!r}")
            if not answers and key.strip().lower() in HEADER_KEYS:
                continue  # the header row
            if key in answers:
                raise SpecError(f"{path}:{number}: {key[:80]!r} is given twice")
            answers[key] = _cell(value, path, number)
    except csv.Error as error:
        raise SpecError(f"{path}:{reader.line_num}: invalid CSV: {error}") from None
    return answers


def _split(fields: list[str]) -> tuple[str, str | None]:
    """Key and value of a row, rejoining an unquoted key's index (``W1[0``, ``1]``) and a
    value that is an unquoted list."""
    depth, cut = 0, None
    for i, part in enumerate(fields):
        depth += part.count("[") - part.count("]")
        if depth == 0:
            cut = i + 1
            break
    if cut is None or cut >= len(fields):
        return ",".join(fields), None
    return ",".join(fields[:cut]).strip(), ",".join(fields[cut:]).strip()


def _cell(value: str, path: Path, number: int) -> Any:
    if not value.startswith("["):
        return value
    inputs.check_nesting(value, f"{path}:{number}")
    try:
        return json.loads(value, parse_float=str, parse_int=str)
    except json.JSONDecodeError as error:
        raise SpecError(f"{path}:{number}: invalid list {value!r}: {error.msg}") from None
