"""Reading a checkpoint file safely: bounded memory and time whatever the file holds.

A ``.npz`` is a zip of ``.npy`` members, and both layers can lie: a 4 MB file can hold a
4 GiB member of compressed zeros, a member's header can claim 2⁴⁰ elements, the metadata
JSON can nest a million brackets, and the "file" can be a FIFO or ``/dev/zero``. So, in order,
before any data is read:

1. the path must be a regular file of at most ``MAX_FILE_BYTES`` (``os.stat``, then
   ``os.fstat`` on the opened descriptor, opened non-blocking so a FIFO cannot hang us);
2. the archive may hold at most ``MAX_MEMBERS`` members; every member's ``.npy`` header is
   read (a few hundred bytes, decompressed) — an object, structured or unknown dtype is
   refused there, its data never read;
3. the metadata member must be a unicode scalar of at most ``MAX_META_BYTES``, its JSON
   nested at most ``MAX_META_DEPTH`` deep;
4. only the members the metadata names are loaded (:meth:`Archive.load`), after their headers
   fit ``MAX_ELEMENTS`` in all; an unused member, however large it claims to be, is never read.

Data is read by :func:`numpy.load` with ``allow_pickle=False``: loading cannot run code.
The limits are documented in docs/limits.md.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy.lib import format as npy

from chainrule import inputs
from chainrule.errors import ChainruleError

MAX_FILE_BYTES = 1 << 30  # 1 GiB on disk
MAX_MEMBERS = 10_000  # arrays in one archive (a network has 2 per layer, Adam 2 more each)
MAX_PARAMETERS = 10_000_000  # parameter elements of the network (80 MB in float64)
# Elements over every array loaded: the parameters, up to three optimizer buffers of each,
# the best weights of early stopping, and a little extra.
MAX_ELEMENTS = 5 * MAX_PARAMETERS
MAX_META_BYTES = 64 << 20  # the metadata member, as stored (4 bytes per character)
MAX_META_DEPTH = 32  # nesting of the metadata JSON; chainrule writes at most 6
MAX_HEADER_BYTES = 10_000  # an .npy header (numpy's own default limit)
# dtype kinds an array may have at all: floats, integers, booleans and unicode text. Complex,
# datetime, bytes, structured and object arrays are refused from their header.
ARRAY_KINDS = "fiubU"


class CheckpointError(ChainruleError, ValueError):
    """A checkpoint or saved model cannot be read or does not fit: one line naming the file."""


class Archive:
    """An opened checkpoint: every member's header checked, data read only on :meth:`load`."""

    def __init__(self, path: Path) -> None:
        self.path, self.name = path, path.name
        self.headers: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
        self._loaded = 0  # elements loaded so far, against MAX_ELEMENTS
        self._file = _open_regular(path)
        try:
            self._archive = self._open()
        except BaseException:
            self._file.close()
            raise

    def fail(self, problem: str) -> CheckpointError:
        return CheckpointError(f"{self.name}: {problem}")

    def __enter__(self) -> "Archive":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._archive.close()
        self._file.close()

    def _open(self):
        head = self._file.read(6)
        if not head:
            raise self.fail("empty file (a truncated checkpoint?)")
        if head == b"\x93NUMPY":
            raise self.fail("a single NumPy array (.npy), not a checkpoint (.npz)")
        if not head.startswith(b"PK"):
            raise self.fail("not a checkpoint (not an .npz archive)")
        self._file.seek(0)
        with self._reading(None):
            archive = np.load(self._file, allow_pickle=False, max_header_size=MAX_HEADER_BYTES)
        try:
            infos = archive.zip.infolist()
            if len(infos) > MAX_MEMBERS:
                raise self.fail(f"{len(infos)} arrays in the archive; at most MAX_MEMBERS = "
                                f"{MAX_MEMBERS} are read")
            for info in infos:
                key = info.filename.removesuffix(".npy")
                with self._reading(key):
                    self.headers[key] = self._header(archive.zip, info, key)
        except BaseException:
            archive.close()
            raise
        return archive

    def _header(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo,
                key: str) -> tuple[tuple[int, ...], np.dtype]:
        with archive.open(info) as member:
            try:
                version = npy.read_magic(member)
            except ValueError:
                raise self.fail(f"member {info.filename!r} is not a NumPy array") from None
            if version not in ((1, 0), (2, 0)):
                raise self.fail(f"array {key!r}: .npy format version {version} is not read")
            read = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
            shape, _, dtype = read(member, max_header_size=MAX_HEADER_BYTES)
        if dtype.hasobject:
            raise self.fail(f"array {key!r} holds Python objects; refused, as loading it "
                            "could run code")
        if dtype.kind not in ARRAY_KINDS or dtype.fields is not None:
            raise self.fail(f"array {key!r} has dtype {dtype}; a checkpoint holds only float, "
                            "integer, boolean and text arrays")
        declared = math.prod(shape) * dtype.itemsize
        if declared > info.file_size:
            raise self.fail(f"array {key!r} declares {declared} bytes of data but its member "
                            f"holds {info.file_size} (a truncated or forged file)")
        return tuple(shape), dtype

    def meta_text(self) -> str:
        """The metadata JSON, after its header's size check."""
        header = self.headers.get("meta")
        if header is None or header[0] != () or header[1].kind != "U":
            raise self.fail("not a chainrule checkpoint (no 'meta' entry)")
        if header[1].itemsize > MAX_META_BYTES:
            raise self.fail(f"its metadata is {header[1].itemsize} bytes; at most "
                            f"MAX_META_BYTES = {MAX_META_BYTES} are read")
        return str(self.load("meta")[()])

    def load(self, key: str) -> np.ndarray:
        """One member's array; its declared size counts against ``MAX_ELEMENTS`` first."""
        shape, _ = self.headers[key]
        self._loaded += math.prod(shape)
        if self._loaded > MAX_ELEMENTS:
            raise self.fail(f"its arrays hold more than MAX_ELEMENTS = {MAX_ELEMENTS} elements "
                            f"(at {key!r}); refused")
        with self._reading(key):
            return self._archive[key]

    def _reading(self, key: str | None):
        return _Reading(self, key)


class _Reading:
    """Turns what a damaged archive raises while reading into one CheckpointError line."""

    def __init__(self, archive: Archive, key: str | None) -> None:
        self.archive, self.key = archive, key

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, tb) -> bool:
        if error is None or isinstance(error, CheckpointError):
            return False
        if isinstance(error, ValueError) and "allow_pickle" in str(error):
            raise self.archive.fail(f"array {self.key!r} holds Python objects; refused, as "
                                    "loading it could run code") from None
        if isinstance(error, (zipfile.BadZipFile, zlib.error, EOFError, OSError,
                              NotImplementedError)):
            raise self.archive.fail(f"truncated or corrupt archive ({error})") from None
        if isinstance(error, (ValueError, TypeError, SyntaxError)):  # a malformed header
            raise self.archive.fail(f"truncated or corrupt ({error})") from None
        return False


def _open_regular(path: Path) -> BinaryIO:
    """The file opened for reading, if it is a regular file within ``MAX_FILE_BYTES``: never a
    FIFO, a device or a folder (:func:`chainrule.inputs.open_regular`)."""
    def error(message: str) -> CheckpointError:  # named by the file's name, as below
        return CheckpointError(message.replace(f"{path}: ", f"{path.name}: ", 1))

    return inputs.open_regular(path, error, "checkpoint file", MAX_FILE_BYTES)


def parse_meta(name: str, text: str) -> Any:
    """The metadata JSON, nested at most ``MAX_META_DEPTH`` deep (else one line, no
    RecursionError)."""
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{name}: its metadata is not valid JSON ({error})") from None
    except ValueError as error:  # an integer of more than 4,300 digits, Python's own limit
        raise CheckpointError(f"{name}: its metadata cannot be read "
                              f"({str(error).split(';')[0]})") from None
    except RecursionError:
        meta = None  # deeper than Python's own recursion limit: certainly too deep
    depth = _depth(meta) if meta is not None else MAX_META_DEPTH + 1
    if depth > MAX_META_DEPTH:
        raise CheckpointError(f"{name}: its metadata is nested more than MAX_META_DEPTH = "
                              f"{MAX_META_DEPTH} levels deep")
    return meta


def _depth(value: Any) -> int:
    """How deep lists and dicts nest, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            if depth > MAX_META_DEPTH:
                return depth
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest
