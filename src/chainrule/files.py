"""Writing files so that nothing a user saved is lost: a temporary file beside the target, then
a rename over it.

- Readers see the old file or the new one, never half of either; an interrupted or failed write
  leaves the old file as it was and removes its temporary.
- A new file gets the permissions the umask gives (``0666 & ~umask``), as ``open()`` would; a
  replaced file keeps its mode and, where the owner may set it, its group. (``mkstemp`` made
  every file ``0600``: a worksheet written into a shared course folder became unreadable.)
- A symlink is written through: its target is replaced, the link stays a link. A device or a
  FIFO (``-o /dev/stdout``) is written into, never replaced.
- Errors name the user's path, never the temporary: an ``OSError`` whose ``filename`` is the
  path asked for (what the CLI prints), with the system's reason.
- Temporaries are named ``.NAME.<16 hex>.chainrule-tmp``. One left by a killed process is
  removed by a later write into the same folder once it is :data:`STALE_SECONDS` old; nothing
  else is ever removed.

Sets of files that must change together (a worksheet and its key) are in
:mod:`chainrule.fileset`.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEMP_SUFFIX = ".chainrule-tmp"
# Only names of exactly this shape are ever cleaned up: chainrule's own, nobody else's.
TEMP_PATTERN = re.compile(r"^\..+\.[0-9a-f]{16}" + re.escape(TEMP_SUFFIX) + r"$", re.S)
# A set of files being committed (chainrule.fileset); its temporaries are not stale.
JOURNAL_PATTERN = re.compile(r"^\.chainrule-set\.[0-9a-f]{16}\.journal$")
STALE_SECONDS = 15 * 60  # older than any write in progress: a killed process left it
# Room for the dot, the random part and the suffix within a file system's 255-byte names.
_NAME_BYTES = 200


def write_atomically(path: str | Path, data: str | bytes) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8) in one step."""
    user_path = Path(path)
    with reporting(user_path):
        if is_special(user_path):
            # /dev/null, a FIFO, a terminal: written into; a rename would replace the device.
            with open(user_path, "wb") as file:
                file.write(data.encode("utf-8") if isinstance(data, str) else data)
            return
        target = resolve(user_path)
        remove_stale_temporaries(target.parent)
        temporary = write_temporary(target, data)
        try:
            os.replace(temporary, target)
        except BaseException:
            discard(temporary)
            raise
        sync_folder(target.parent)


def is_special(path: Path) -> bool:
    try:
        info = os.stat(path)
    except OSError:
        return False
    return not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode)


def resolve(path: Path) -> Path:
    """The file a write to ``path`` must replace: a symlink's final target (which need not exist
    yet), so the rename replaces the target and the link stays."""
    target = Path(os.path.realpath(path))
    if target.is_symlink():  # realpath stops at a loop and returns a link
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path))
    if target.is_dir():
        raise OSError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    return target


@contextmanager
def reporting(path: Path) -> Iterator[None]:
    """Re-raise an ``OSError`` about a temporary (or about no file at all, as ``ENOSPC`` from
    ``write`` is) as the same error about the user's ``path``."""
    try:
        yield
    except OSError as error:
        if error.filename == str(path) and error.strerror:
            raise
        reason = error.strerror or (os.strerror(error.errno) if error.errno else str(error))
        raise OSError(error.errno, reason, str(path)) from None


def temporary_name(target: Path) -> Path:
    """``.NAME.<16 hex>.chainrule-tmp`` beside ``target``; a long name is shortened so the
    temporary's name stays within the file system's limit."""
    name = target.name.encode("utf-8", "surrogateescape")[:_NAME_BYTES]
    stem = name.decode("utf-8", "ignore")  # a cut through a character drops that character
    return target.parent / f".{stem}.{secrets.token_hex(8)}{TEMP_SUFFIX}"


def write_temporary(target: Path, data: str | bytes) -> Path:
    """Write ``data`` to a new temporary beside ``target``, flushed to the disk, with the
    permissions ``target`` has (or a new file would get); its path."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    try:
        existing: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        existing = None
    while True:
        temporary = temporary_name(target)
        try:
            # 0o666: the kernel applies the umask (and a folder's default ACL) as for any file.
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _CLOEXEC, 0o666)
            break
        except FileExistsError:  # 64 random bits taken: try another name
            continue
    try:
        try:
            if existing is not None:
                _keep_owner_and_mode(fd, existing)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        discard(temporary)
        raise
    return temporary


_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _keep_owner_and_mode(fd: int, existing: os.stat_result) -> None:
    if hasattr(os, "fchown"):
        # Only root may give a file away; anyone may keep a group they belong to. The group
        # first: changing it may clear set-group-id bits, which fchmod then restores.
        owner = existing.st_uid if os.geteuid() == 0 else -1
        try:
            os.fchown(fd, owner, existing.st_gid)
        except OSError:  # not a member of the group: the file gets the user's group
            pass
    if hasattr(os, "fchmod"):  # Windows before Python 3.13 has none; it has no modes either
        os.fchmod(fd, stat.S_IMODE(existing.st_mode))


def discard(temporary: Path) -> None:
    try:
        os.unlink(temporary)
    except OSError:
        pass


def sync_folder(folder: Path) -> None:
    """Make a rename durable; some file systems cannot sync a folder, which is no error."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def is_stale(path: Path, now: float | None = None) -> bool:
    """Whether ``path`` has not been modified for :data:`STALE_SECONDS` (a live writer
    touches its temporary within moments of creating it)."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return (now if now is not None else time.time()) - info.st_mtime > STALE_SECONDS


def _entries(folder: Path) -> list[os.DirEntry]:
    try:
        return list(os.scandir(folder))
    except OSError:
        return []


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove chainrule's own temporaries in ``folder`` that a killed process left: regular
    files (not links) named by :data:`TEMP_PATTERN`, untouched for :data:`STALE_SECONDS`.
    Anything else, and any failure to look or remove, is left alone; the paths removed.
    A folder with an unfinished set's journal, in it or above it, is left as it is: the
    journal still needs its temporaries."""
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    if any(JOURNAL_PATTERN.match(e.name) for e in entries + _entries(folder.parent)):
        return removed
    for entry in entries:
        if not TEMP_PATTERN.match(entry.name):
            continue
        try:
            if not entry.is_file(follow_symlinks=False) or not is_stale(Path(entry.path), now):
                continue
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            continue
    return removed
