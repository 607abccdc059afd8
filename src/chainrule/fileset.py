"""Writing a set of files that belong together (a worksheet, its diagrams and its answer key)
so that the folder holds the whole old set or the whole new set, never a mix.

Why not build a new folder and swap it in: the output folder may hold the teacher's own
files, be the current directory, or sit in a parent the teacher may not write to. So the set is
written in place, in three steps:

1. every file is written to a temporary beside its target (:func:`chainrule.files.
   write_temporary`: umask, kept modes, symlinks written through); an interruption here removes
   them and leaves the old set;
2. a journal, ``.chainrule-set.<16 hex>.journal``, is written atomically: from now on the new
   set is decided;
3. each temporary is renamed over its target, files of the old set that the new one has not
   are removed, and the journal is removed.

An interruption in step 3 (Ctrl-C) finishes the renames before it propagates; a killed
process leaves the journal, and the next write of a set into the folder, or reading the key
(:func:`finish_interrupted`), finishes them. Files the set does not name are never touched.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from chainrule.errors import ChainruleError
from chainrule.files import (
    JOURNAL_PATTERN, TEMP_PATTERN, discard, is_special, remove_stale_temporaries, reporting,
    resolve, sync_folder, write_atomically, write_temporary)

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; sets are still written journal first
    fcntl = None  # type: ignore[assignment]

JOURNAL_SCHEMA = "chainrule.fileset/1"


class FileSetError(ChainruleError, OSError):
    """A set of files could not be finished; the message names the folder and what to do."""


def write_set(folder: str | Path, files: dict[str, str | bytes],
              remove: Iterable[str] = ()) -> list[Path]:
    """Write ``files`` (names relative to ``folder``, ``/`` between folders) and remove the
    files named in ``remove``, all as one change; the paths written, in order."""
    folder = Path(folder)
    contents = {_relative(name): data for name, data in files.items()}
    removed = [name for name in map(_relative, remove) if name not in contents]
    with reporting(folder):
        folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder):
        finish_interrupted(folder, locked=True)
        pairs = _write_temporaries(folder, contents)
        try:
            journal = _journal(folder, pairs, removed)
        except BaseException:
            for temporary, _ in pairs:
                discard(temporary)
            raise
        try:
            _commit(folder, journal)
        except BaseException:
            _commit(folder, journal)  # Ctrl-C in a rename: finish, then stop
            raise
    return [folder / name for name in contents]


def _relative(name: str) -> str:
    path = PurePosixPath(name)
    if path.is_absolute() or not path.parts or any(p in ("..", ".") for p in path.parts):
        raise ValueError(f"{name!r}: expected a name inside the folder")
    return str(path)


def _write_temporaries(folder: Path,
                       contents: dict[str, str | bytes]) -> list[tuple[Path, Path]]:
    pairs: list[tuple[Path, Path]] = []
    cleaned: set[Path] = set()
    try:
        for name, data in contents.items():
            user_path = folder / name
            with reporting(user_path):
                user_path.parent.mkdir(parents=True, exist_ok=True)
                if is_special(user_path):  # renaming over a device would replace it
                    raise OSError(errno.EINVAL, "not a regular file", str(user_path))
                target = resolve(user_path)
                if target.parent not in cleaned:
                    remove_stale_temporaries(target.parent)
                    cleaned.add(target.parent)
                pairs.append((write_temporary(target, data), target))
    except BaseException:
        for temporary, _ in pairs:
            discard(temporary)
        raise
    return pairs


def _journal(folder: Path, pairs: list[tuple[Path, Path]], removed: list[str]) -> Path:
    journal = folder / f".chainrule-set.{secrets.token_hex(8)}.journal"
    data = {"schema": JOURNAL_SCHEMA,
            "replace": [[str(temporary), str(target)] for temporary, target in pairs],
            "remove": removed}
    write_atomically(journal, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    return journal


def _commit(folder: Path, journal: Path) -> None:
    """Carry out a journal: rename each temporary over its target, remove the old set's
    files, remove the journal. Safe to repeat: what is done already is skipped."""
    try:
        data = json.loads(journal.read_text(encoding="utf-8"))
        pairs = [(Path(t), Path(f)) for t, f in data["replace"]]
        removed = [_relative(name) for name in data["remove"]]
    except FileNotFoundError:
        return  # finished already
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise FileSetError(f"{journal}: not a journal of chainrule's ({error}); "
                           f"remove it by hand") from None
    folders = set()
    try:
        for temporary, target in pairs:
            if not _ours(temporary, target):
                raise FileSetError(f"{journal}: names {temporary}, not a temporary of "
                                   f"{target.name}; remove the journal by hand")
            if os.path.lexists(temporary):
                os.replace(temporary, target)
                folders.add(target.parent)
        for name in removed:
            try:
                os.unlink(folder / name)
            except FileNotFoundError:
                pass
        for changed in folders:
            sync_folder(changed)
        os.unlink(journal)
        sync_folder(folder)
    except OSError as error:
        if isinstance(error, FileSetError):
            raise
        raise FileSetError(f"{folder}: the new set of files is only partly in place "
                           f"({error.filename or ''}: {error.strerror}); run the command "
                           f"again to finish it") from None


def _ours(temporary: Path, target: Path) -> bool:
    """A journal only ever renames chainrule's temporary of a file over that file."""
    return (temporary.parent == target.parent and TEMP_PATTERN.match(temporary.name) is not None
            and temporary.name.startswith(f".{target.name[:32]}"))


def finish_interrupted(folder: str | Path, locked: bool = False) -> int:
    """Finish every set a killed process left half written in ``folder``; how many."""
    folder = Path(folder)
    try:
        journals = sorted(e.path for e in os.scandir(folder) if JOURNAL_PATTERN.match(e.name))
    except OSError:
        return 0
    if not journals:
        return 0
    if not locked:
        with _locked(folder):
            return finish_interrupted(folder, locked=True)
    for journal in journals:
        _commit(folder, Path(journal))
    return len(journals)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an advisory lock on the folder itself (no lock file left behind), so two writers
    of a set, or a writer and a recovery, take turns."""
    fd = None
    if fcntl is not None:
        try:
            fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # a file system without locks: go on without
            if fd is not None:
                os.close(fd)
            fd = None
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)
