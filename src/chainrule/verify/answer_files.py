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

from chainrule.errors import SpecError

# Keys of a trace's JSON (schema chainrule.trace/1) that are not answers.
TRACE_METADATA = ("schema", "network", "deltas", "chain", "chain_omitted", "steps",
                  "forward.example_losses")
HEADER_KEYS = ("quantity", "name", "key")


def load_answers(path: str | Path) -> dict[str, Any]:
    """Answers from a ``.json``, ``.yaml``/``.yml`` or ``.csv`` file, numbers as text."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: no such answers file")
    text = path.read_text(encoding="utf-8")
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
    is_trace = not prefix and str(data.get("schema", "")).startswith("chainrule.trace")
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
    """JSON answers with every number kept as the text written; a key given twice, or bad
    JSON, raises ``error`` naming the file (and line and column)."""
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                raise error(f"{path}: {key!r} is given twice")
            seen[key] = value
        return seen

    try:
        return json.loads(text, parse_float=str, parse_int=str, parse_constant=str,
                          object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as problem:
        raise error(f"{path}:{problem.lineno}:{problem.colno}: invalid JSON: {problem.msg}") \
            from None


def parse_yaml(text: str, path: Path, error: type[Exception] = SpecError) -> Any:
    """YAML answers with every scalar kept as the text written; bad YAML raises ``error``."""
    import yaml

    try:
        return yaml.load(text, Loader=yaml.BaseLoader)
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        what = getattr(problem, "problem", None) or str(problem).splitlines()[0]
        raise error(f"{path}{where}: invalid YAML: {what}") from None


def _csv(text: str, path: Path) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            fields = next(csv.reader(io.StringIO(line), skipinitialspace=True))
        except csv.Error as error:
            raise SpecError(f"{path}:{number}: invalid CSV: {error}") from None
        key, value = _split(fields)
        if value is None:
            raise SpecError(f"{path}:{number}: expected two columns, quantity,value; "
                            f"got {line.strip()!r}")
        if not answers and key.strip().lower() in HEADER_KEYS:
            continue  # the header row
        if key in answers:
            raise SpecError(f"{path}:{number}: {key!r} is given twice")
        answers[key] = _cell(value, path, number)
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
    try:
        return json.loads(value, parse_float=str, parse_int=str)
    except json.JSONDecodeError as error:
        raise SpecError(f"{path}:{number}: invalid list {value!r}: {error.msg}") from None
