"""chainrule.files: atomic writes that keep the umask, modes and symlinks, name the user's path
in errors, and clean only their own stale temporaries."""

from __future__ import annotations

import errno
import os
import stat
import sys
import time

import pytest

from chainrule import files
from chainrule.cli.main import main
from chainrule.files import TEMP_PATTERN, remove_stale_temporaries, write_atomically

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask():
    previous = os.umask(0o022)
    yield lambda value: os.umask(value)
    os.umask(previous)


@posix_only
@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_gets_the_umasks_permissions(tmp_path, umask, mask, expected):
    umask(mask)
    write_atomically(tmp_path / "step.md", "x")
    assert mode(tmp_path / "step.md") == expected


@posix_only
@pytest.mark.parametrize("existing", [0o644, 0o640, 0o600, 0o664])
def test_a_replaced_file_keeps_its_mode_and_group(tmp_path, umask, existing):
    umask(0o077)
    path = tmp_path / "sheet.md"
    path.write_text("old")
    os.chmod(path, existing)
    group = os.stat(path).st_gid
    write_atomically(path, "new")
    assert path.read_text() == "new"
    assert mode(path) == existing and os.stat(path).st_gid == group


@posix_only
def test_a_symlink_is_written_through_to_its_target_in_another_folder(tmp_path):
    (tmp_path / "shared").mkdir()
    target = tmp_path / "shared" / "real.md"
    target.write_text("old")
    os.chmod(target, 0o644)
    link = tmp_path / "link.md"
    link.symlink_to(target)
    write_atomically(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == "new" and mode(target) == 0o644
    assert sorted(p.name for p in (tmp_path / "shared").iterdir()) == ["real.md"]


@posix_only
def test_a_dangling_symlink_creates_its_target(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    link = tmp_path / "out.md"
    link.symlink_to(tmp_path / "elsewhere" / "new.md")
    write_atomically(link, "made")
    assert link.is_symlink() and (tmp_path / "elsewhere" / "new.md").read_text() == "made"


@posix_only
def test_a_symlink_loop_is_an_error_naming_the_link(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(OSError) as caught:
        write_atomically(tmp_path / "a", "x")
    assert caught.value.filename == str(tmp_path / "a")


def test_bytes_and_text_and_an_interrupted_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "plot.png"
    write_atomically(path, b"\x89PNG")
    assert path.read_bytes() == b"\x89PNG"

    def interrupted(fd, data):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomically(path, "ünïcode")
    assert path.read_bytes() == b"\x89PNG" and os.listdir(tmp_path) == ["plot.png"]


# --- errors name the user's path -----------------------------------------------------------------


def test_a_missing_folder_names_the_path_asked_for(tmp_path):
    path = tmp_path / "nowhere" / "step.txt"
    with pytest.raises(FileNotFoundError) as caught:
        write_atomically(path, "x")
    assert caught.value.filename == str(path)
    assert caught.value.strerror == os.strerror(errno.ENOENT)


@posix_only
@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_folder_names_the_path_and_leaves_the_file(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "step.txt").write_text("old")
    os.chmod(folder, 0o555)
    try:
        with pytest.raises(PermissionError) as caught:
            write_atomically(folder / "step.txt", "new")
    finally:
        os.chmod(folder, 0o755)
    assert caught.value.filename == str(folder / "step.txt")
    assert (folder / "step.txt").read_text() == "old"


def test_a_refused_temporary_names_the_users_path(tmp_path, monkeypatch):
    """As a read-only folder refuses the temporary (simulated: the tests may run as root)."""
    real_open = os.open

    def refuse(path, *args, **kwargs):
        if str(path).endswith(files.TEMP_SUFFIX):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(PermissionError) as caught:
        write_atomically(tmp_path / "step.txt", "x")
    assert caught.value.filename == str(tmp_path / "step.txt")
    assert caught.value.strerror == "Permission denied"


@pytest.mark.parametrize("broken", ["write", "fsync"])
def test_a_full_disk_names_the_path_and_leaves_no_temporary(tmp_path, monkeypatch, broken):
    path = tmp_path / "step.txt"
    path.write_text("old")

    def full(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # no file name, as the OS does

    monkeypatch.setattr(os, broken, full)
    with pytest.raises(OSError) as caught:
        write_atomically(path, "new")
    assert (caught.value.errno, caught.value.filename) == (errno.ENOSPC, str(path))
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["step.txt"]


def test_the_cli_prints_the_users_path_on_a_full_disk(tmp_path, monkeypatch, capsys):
    def full(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    path = tmp_path / "step.md"
    assert main(["explain", "--format", "markdown", "-o", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"chainrule: error: {path}: No space left on device\n"


def test_the_cli_prints_the_users_path_for_a_missing_folder(tmp_path, capsys):
    path = tmp_path / "x" / "step.txt"
    assert main(["explain", "-o", str(path)]) == 2
    assert capsys.readouterr().err == f"chainrule: error: {path}: No such file or directory\n"


# --- stale temporaries ---------------------------------------------------------------------------


def _age(path, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old), follow_symlinks=False)


def test_temporaries_have_a_recognisable_name(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(source, target):
        seen.append(os.path.basename(source))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", spy)
    write_atomically(tmp_path / ("n" * 250), "long names fit too")
    write_atomically(tmp_path / "step.md", "x")
    assert all(TEMP_PATTERN.match(name) for name in seen) and len(seen) == 2
    assert all(len(name.encode()) <= 255 for name in seen)
    assert seen[1].startswith(".step.md.") and seen[1].endswith(".chainrule-tmp")


def test_only_chainrules_own_stale_temporaries_are_removed(tmp_path):
    stale = tmp_path / ".step.md.0123456789abcdef.chainrule-tmp"
    fresh = tmp_path / ".step.md.fedcba9876543210.chainrule-tmp"
    others = [tmp_path / ".step.md.cdpmqwg8.tmp",  # mkstemp's: maybe not ours
              tmp_path / "notes.chainrule-tmp", tmp_path / "notes.md",
              tmp_path / ".x.0123456789abcdeg.chainrule-tmp"]
    for path in [stale, fresh, *others]:
        path.write_text("x")
        _age(path, 3600)
    _age(fresh, 10)
    folder = tmp_path / ".d.0123456789abcdef.chainrule-tmp"  # a folder: never removed
    folder.mkdir()
    _age(folder, 3600)
    write_atomically(tmp_path / "other.md", "y")
    left = set(os.listdir(tmp_path))
    assert stale.name not in left
    assert {fresh.name, folder.name, "other.md", *(p.name for p in others)} <= left


@posix_only
def test_a_stale_looking_symlink_is_not_followed_nor_removed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    link = tmp_path / ".a.0123456789abcdef.chainrule-tmp"
    link.symlink_to(victim)
    _age(link, 3600)
    assert remove_stale_temporaries(tmp_path) == []
    assert link.is_symlink() and victim.read_text() == "keep"


def test_a_folder_with_an_unfinished_set_keeps_its_temporaries(tmp_path):
    temporary = tmp_path / ".key.json.0123456789abcdef.chainrule-tmp"
    temporary.write_text("{}")
    _age(temporary, 3600)
    (tmp_path / ".chainrule-set.0123456789abcdef.journal").write_text("{}")
    assert remove_stale_temporaries(tmp_path) == [] and temporary.exists()
    assert files.STALE_SECONDS >= 60


@posix_only
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_root_replacing_a_users_file_leaves_it_theirs(tmp_path):
    path = tmp_path / "grades.csv"
    path.write_text("old")
    os.chown(path, 4321, 4321)
    write_atomically(path, "new")
    info = os.stat(path)
    assert (info.st_uid, info.st_gid, path.read_text()) == (4321, 4321, "new")


@posix_only
def test_a_fifo_is_written_into_not_replaced(tmp_path):
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_atomically(fifo, "through the pipe")
    reader.join(timeout=10)
    assert received == [b"through the pipe"] and stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert os.listdir(tmp_path) == ["pipe"]
