"""Reading files that chainrule did not write, as if they were hostile.

Spec files, answers files, students' submissions and keys come from users and students. A
file of that kind is read here: bounded in size before a byte is read, a regular file only (a
FIFO would block, ``/dev/zero`` never ends), decoded strictly, and parsed with limits on
nesting depth, on what YAML aliases expand to, on the digits of an integer and on the length
of a string. Every problem is one error naming the file (and line where the parser knows it),
of the caller's error class, so the CLI prints one line and exits with code 2.

The limits are documented in docs/limits.md; tests/test_inputs.py pins each of them.
"""

from __future__ import annotations

import os
import re
import stat
from typing import TYPE_CHECKING, Any, BinaryIO, Callable

from chainrule.errors import SpecError

if TYPE_CHECKING:  # pathlib and json are imported where a file is read, not at start-up
    from pathlib import Path

# A spec, an answers file or a submission is a few kilobytes; a class's CSV a few hundred.
MAX_FILE_BYTES = 8 * 2**20
# A spec nests four levels (weights → layer → row → number); an answers file a few more.
MAX_DEPTH = 32
# What a YAML document may expand to, aliases counted each time they are used: the
# "billion laughs" bomb is a few hundred bytes that expand to billions of nodes.
MAX_YAML_NODES = 1_000_000
# Python refuses to convert integers of more than 4,300 digits; no field needs more than 20.
MAX_INTEGER_DIGITS = 100
# Names, descriptions and answers: no field needs a megabyte.
MAX_STRING = 100_000

Error = Callable[[str], Exception]


def open_regular(path: str | Path, error: Error = SpecError, what: str = "file",
                 limit: int = MAX_FILE_BYTES) -> BinaryIO:
    """``path`` opened for reading in binary, if it is a regular file of at most ``limit``
    bytes; anything else is ``error``.

    The file is opened without blocking (a FIFO opens at once rather than waiting for a
    writer) and checked with ``fstat`` on the open descriptor, so what is checked is what is
    read, even if the path is swapped meanwhile.
    """
    path = os.fspath(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a {what}") from None
    except OSError as problem:
        raise error(f"{path}: cannot be read ({problem.strerror})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise error(f"{path}: is a folder, not a {what}")
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{path}: not a regular file (a device, pipe or socket); "
                        f"expected a {what}")
        if info.st_size > limit:
            raise error(f"{path}: {info.st_size:,} bytes; a {what} may have at most "
                        f"{limit:,} bytes")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: str | Path, error: Error = SpecError, what: str = "file",
               limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (:func:`open_regular`); at most
    ``limit + 1`` bytes are read, in case the file grew after it was checked."""
    with open_regular(path, error, what, limit) as file:
        try:
            data = file.read(limit + 1)
        except OSError as problem:
            raise error(f"{path}: cannot be read ({problem.strerror})") from None
    if len(data) > limit:
        raise error(f"{path}: more than {limit:,} bytes; a {what} may have at most {limit:,}")
    return data


def read_text(path: str | Path, error: Error = SpecError, what: str = "file",
              limit: int = MAX_FILE_BYTES) -> str:
    """A regular file's text, UTF-8 (a leading byte-order mark is dropped, as spreadsheets
    write one); bytes that are not UTF-8 are named by line and column."""
    data = read_bytes(path, error, what, limit)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as problem:
        line = data.count(b"\n", 0, problem.start) + 1
        column = problem.start - (data.rfind(b"\n", 0, problem.start) + 1) + 1
        raise error(f"{path}:{line}:{column}: not UTF-8 text (byte "
                    f"0x{data[problem.start]:02x} cannot be decoded)") from None
    return text[1:] if text.startswith("\ufeff") else text


# --- parsing ---------------------------------------------------------------------------------

# A run of digits that is not part of a decimal fraction or an exponent: an integer.
# compiled (by re, which keeps it) when a file is first parsed, not at start-up
_DIGITS = r"(?<![0-9.eE])[0-9]{%d,}(?![0-9.eE])" % (MAX_INTEGER_DIGITS + 1)


def _integer(text: str) -> int:
    if len(text) > MAX_INTEGER_DIGITS + 1:
        raise _TooLong(f"an integer of {len(text.lstrip('-')):,} digits (at most "
                       f"{MAX_INTEGER_DIGITS})")
    return int(text)


class _TooLong(ValueError):
    """A value beyond the limits, raised inside a parser and reworded with the file."""


def parse_json(text: str, path: str | Path, error: Error = SpecError,
               as_text: bool = False) -> Any:
    """JSON with no key given twice, at most :data:`MAX_DEPTH` deep; ``as_text`` keeps
    every number as the text written (answers: the digits tell the precision)."""
    import json

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                raise _TooLong(f"{key[:80]!r} is given twice")
            seen[key] = value
        return seen

    check_nesting(text, path, error)
    numbers: dict[str, Any] = {"parse_float": str, "parse_int": str, "parse_constant": str} \
        if as_text else {"parse_int": _integer}
    try:
        data = json.loads(text, object_pairs_hook=no_duplicates, **numbers)
    except json.JSONDecodeError as problem:
        raise error(f"{path}:{problem.lineno}:{problem.colno}: invalid JSON: {problem.msg}") \
            from None
    except _TooLong as problem:
        raise error(f"{path}: {problem}") from None
    except (ValueError, RecursionError) as problem:
        raise error(f"{path}: invalid JSON: {_first_line(problem)}") from None
    return check_value(data, path, error)


def parse_toml(text: str, path: str | Path, error: Error = SpecError) -> Any:
    """TOML (which refuses a key given twice itself), within the same limits as JSON."""
    import tomllib

    check_nesting(text, path, error)
    if re.search(_DIGITS, text):
        raise error(f"{path}: an integer of more than {MAX_INTEGER_DIGITS} digits")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as problem:
        raise error(f"{path}: invalid TOML: {problem}") from None
    except (ValueError, RecursionError) as problem:
        raise error(f"{path}: invalid TOML: {_first_line(problem)}") from None
    return check_value(data, path, error)


def parse_yaml(text: str, path: str | Path, error: Error = SpecError,
               as_text: bool = False) -> Any:
    """YAML's safe subset (``as_text``: every scalar a string) with no key given twice, at
    most :data:`MAX_DEPTH` deep, and aliases that expand to at most :data:`MAX_YAML_NODES`."""
    import yaml

    check_nesting(text, path, error)  # flow style: [[[…]]] before the parser recurses
    loader = _yaml_loader(as_text)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if "&" in text:  # an anchor, so maybe aliases: count what they expand to
            _check_yaml_node(node)
        data = loader.construct_document(node)
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        what = getattr(problem, "problem", None) or str(problem).splitlines()[0]
        raise error(f"{path}{where}: invalid YAML: {what}") from None
    except _TooLong as problem:
        raise error(f"{path}: {problem}") from None
    except RecursionError:
        raise error(f"{path}: nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as problem:
        raise error(f"{path}: invalid YAML: {_first_line(problem)}") from None
    finally:
        loader.dispose()
    return check_value(data, path, error)


_LOADERS: dict[bool, type] = {}


def _yaml_loader(as_text: bool) -> type:
    """A SafeLoader (or BaseLoader) whose mappings refuse a key given twice and whose integers
    are bounded; made once per kind."""
    if as_text in _LOADERS:
        return _LOADERS[as_text]
    import yaml

    # libyaml's parser where PyYAML was built with it: the pure-Python one takes seconds for
    # a few hundred kilobytes. Both build the same nodes, checked below before construction.
    if getattr(yaml, "__with_libyaml__", False):
        base = yaml.CBaseLoader if as_text else yaml.CSafeLoader
    else:
        base = yaml.BaseLoader if as_text else yaml.SafeLoader

    class Loader(base):  # type: ignore[valid-type, misc]
        def construct_mapping(self, node, deep=False):
            keys = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in keys
                except TypeError:  # an unhashable key: the base class says so in its words
                    break
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"{str(key)[:80]!r} is given twice", key_node.start_mark)
                keys.add(key)
            return super().construct_mapping(node, deep=deep)

        def construct_yaml_int(self, node):
            if len(str(node.value)) > MAX_INTEGER_DIGITS + 1:
                raise _TooLong(f"line {node.start_mark.line + 1}: an integer of "
                               f"{len(node.value):,} digits (at most {MAX_INTEGER_DIGITS})")
            return super().construct_yaml_int(node)

    if not as_text:
        Loader.add_constructor("tag:yaml.org,2002:int", Loader.construct_yaml_int)
    _LOADERS[as_text] = Loader
    return Loader


def _check_yaml_node(root: Any) -> None:
    """Count what the composed document expands to, aliases each time they are used, and how
    deep it goes, without expanding anything: each distinct node is sized once."""
    import yaml

    sizes: dict[int, int] = {}
    depth: dict[int, int] = {}
    # Iterative post-order over distinct nodes; an alias is the same node object again.
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        if not done:
            if key in depth and depth[key] < 0:  # on the stack already: a recursive alias
                raise _TooLong("a recursive alias (a node that contains itself)")
            depth[key] = -1
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        sizes[key] = 1 + sum(sizes[id(child)] for child in children)
        depth[key] = 1 + max((depth[id(child)] for child in children), default=0)
        if sizes[key] > MAX_YAML_NODES:
            raise _TooLong(f"expands to more than {MAX_YAML_NODES:,} values (aliases counted "
                           f"each time they are used)")
        if depth[key] > MAX_DEPTH:
            raise _TooLong(f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, yaml.ScalarNode) and len(node.value) > MAX_STRING:
            raise _TooLong(f"line {node.start_mark.line + 1}: a value of "
                           f"{len(node.value):,} characters (at most {MAX_STRING:,})")


def check_nesting(text: str, path: str | Path, error: Error = SpecError) -> None:
    """Refuse JSON or TOML nested deeper than :data:`MAX_DEPTH` before the parser recurses.

    Brackets inside strings count too, which can only over-count: a string full of brackets
    in a spec is as suspect as deep nesting, and the message says what the limit is.
    """
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    level = deepest = 0
    for match in re.finditer(r"[\[\]{}]", text):
        level += 1 if match.group() in "[{" else -1
        if level > deepest:
            deepest = level
            if deepest > MAX_DEPTH:
                line = text.count("\n", 0, match.start()) + 1
                raise error(f"{path}:{line}: nested more than {MAX_DEPTH} levels deep")


def check_value(data: Any, path: str | Path, error: Error = SpecError) -> Any:
    """Refuse decoded data nested deeper than :data:`MAX_DEPTH` or holding a string longer
    than :data:`MAX_STRING` (iteratively: deep data must not exhaust Python's stack)."""
    stack = [(data, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, (dict, list)):
            if level > MAX_DEPTH:
                raise error(f"{path}: nested more than {MAX_DEPTH} levels deep")
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, level + 1) for item in items)
            if isinstance(value, dict):
                stack.extend((key, level + 1) for key in value)
        elif isinstance(value, str) and len(value) > MAX_STRING:
            raise error(f"{path}: a value of {len(value):,} characters (at most "
                        f"{MAX_STRING:,}): {value[:40]!r}…")
    return data


def _first_line(problem: BaseException) -> str:
    text = str(problem).strip().splitlines()
    return text[0] if text else type(problem).__name__


# --- numbers typed on the command line -------------------------------------------------------

_PLAIN_NUMBER = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"


def plain_number(text: str) -> float | None:
    """``text`` as a float if it is written as a plain decimal number in ASCII digits, else
    None: Python's ``float`` also takes ``1_0``, Arabic-Indic digits, ``inf`` and ``nan``."""
    text = text.strip()
    return float(text) if re.fullmatch(_PLAIN_NUMBER, text) else None
