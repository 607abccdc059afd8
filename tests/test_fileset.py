"""A worksheet set is one change: interrupted at any write or rename, or killed, the folder
holds the whole old set or the whole new one, and the teacher's own files stay."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from chainrule.exercises import generate, load_key
from chainrule.exercises.writers import SET_NAMES, write_worksheets
from chainrule.fileset import FileSetError, finish_interrupted, write_set

NOTES = "my notes: hand out on Monday\n"


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """The old set (4 exercises, Markdown) and the new (3 exercises), as written whole."""
    old, new = generate("full", seed=1, count=4), generate("full", seed=2, count=3)
    folders = {}
    for name, problem_set in (("old", old), ("new", new)):
        folder = tmp_path_factory.mktemp(name)
        write_worksheets(problem_set, folder)
        folders[name] = contents(folder)
    return old, new, folders


def contents(folder: Path) -> dict[str, bytes]:
    """The set's files in ``folder``, by name."""
    found = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file()}
    return {name: path.read_bytes() for name, path in found.items() if SET_NAMES.fullmatch(name)}


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if ".chainrule-" in p.name]


def prepared(tmp_path: Path, old) -> Path:
    folder = tmp_path / "sheet"
    write_worksheets(old, folder)
    (folder / "notes.txt").write_text(NOTES)
    (folder / "diagrams" / "my-drawing.svg").write_text("<svg/>")
    return folder


def test_a_new_set_replaces_the_old_one_whole_and_keeps_the_teachers_files(tmp_path, sets):
    old, new, expected = sets
    folder = prepared(tmp_path, old)
    write_worksheets(new, folder, force=True)
    assert contents(folder) == expected["new"]  # exercise-04.svg of the old set is gone
    assert (folder / "notes.txt").read_text() == NOTES
    assert (folder / "diagrams" / "my-drawing.svg").exists() and leftovers(folder) == []


@pytest.mark.parametrize("call", ["write", "replace"])
def test_interrupted_at_every_step_the_folder_holds_one_whole_set(tmp_path, sets, monkeypatch,
                                                                   call):
    old, new, expected = sets
    real = getattr(os, call)
    outcomes = set()
    for n in range(1, 40):
        folder = prepared(tmp_path / f"{call}-{n}", old)
        calls = [0]

        def interrupt(*args, _n=n, **kwargs):
            calls[0] += 1
            if calls[0] == _n:
                raise KeyboardInterrupt
            return real(*args, **kwargs)

        monkeypatch.setattr(os, call, interrupt)
        try:
            write_worksheets(new, folder, force=True)
            finished = True
        except KeyboardInterrupt:
            finished = False
        finally:
            monkeypatch.setattr(os, call, real)
        found = contents(folder)
        assert found in (expected["old"], expected["new"]), f"interrupted at {call} {n}"
        assert leftovers(folder) == [] and (folder / "notes.txt").read_text() == NOTES
        assert load_key(folder).to_json() == found["key.json"].decode()
        outcomes.add("new" if found == expected["new"] else "old")
        if finished:
            break
    assert outcomes == {"old", "new"}  # both sides of the commit point were reached


KILLER = """
import os, signal, sys
from chainrule.exercises import generate
from chainrule.exercises.writers import write_worksheets
n, calls, real = int(sys.argv[2]), [0], os.replace
def replace(*args):
    calls[0] += 1
    if calls[0] == n:
        os.kill(os.getpid(), signal.SIGKILL)
    real(*args)
os.replace = replace
write_worksheets(generate("full", seed=2, count=3), sys.argv[1], force=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
@pytest.mark.parametrize("n", [1, 2, 3, 6, 8])
def test_killed_in_the_middle_the_next_reader_finishes_the_set(tmp_path, sets, n):
    old, new, expected = sets
    folder = prepared(tmp_path, old)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", KILLER, str(folder), str(n)], env=env)
    assert result.returncode == -signal.SIGKILL
    key = load_key(folder)  # finishes a set the journal decided; else the old one is whole
    found = contents(folder)
    assert found in (expected["old"], expected["new"])
    assert key.to_json() == found["key.json"].decode()
    assert [p for p in leftovers(folder) if p.endswith(".journal")] == []
    assert (folder / "notes.txt").read_text() == NOTES
    write_worksheets(new, folder, force=True)
    assert contents(folder) == expected["new"]


def test_the_same_key_keeps_the_other_formats_files(tmp_path, sets):
    old, _, _ = sets
    folder = tmp_path / "sheet"
    write_worksheets(old, folder, "latex")
    write_worksheets(old, folder, "markdown")  # same exercises: worksheet.tex still fits
    assert (folder / "worksheet.tex").exists() and (folder / "worksheet.md").exists()


def test_write_set_refuses_names_outside_the_folder(tmp_path):
    for name in ("../x", "/etc/x", "a/../../x", ""):
        with pytest.raises(ValueError, match="expected a name inside the folder"):
            write_set(tmp_path, {name: "x"})
    assert os.listdir(tmp_path) == []


def test_a_journal_never_renames_anything_but_its_own_temporaries(tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("keep")
    journal = tmp_path / ".chainrule-set.0123456789abcdef.journal"
    journal.write_text(json.dumps({"schema": "chainrule.fileset/1",
                                   "replace": [[str(victim), str(tmp_path / "key.json")]],
                                   "remove": []}))
    with pytest.raises(FileSetError, match="not a temporary of key.json"):
        finish_interrupted(tmp_path)
    assert victim.read_text() == "keep" and not (tmp_path / "key.json").exists()
    journal.write_text(json.dumps({"schema": "chainrule.fileset/1", "replace": [],
                                   "remove": ["../outside.txt"]}))
    with pytest.raises(FileSetError, match="not a journal of chainrule's"):
        finish_interrupted(tmp_path)


@pytest.mark.skipif(sys.platform == "win32", reason="FIFO")
def test_a_set_never_renames_over_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "key.json")
    with pytest.raises(OSError, match="not a regular file") as caught:
        write_set(tmp_path, {"worksheet.md": "w", "key.json": "k"})
    assert caught.value.filename == str(tmp_path / "key.json")
    assert sorted(os.listdir(tmp_path)) == ["key.json"]


def test_write_set_takes_names_as_written(tmp_path):
    (tmp_path / "old.txt").write_text("old set")
    written = write_set(tmp_path, {"a//b.txt": "b", "./c.txt": "c"}, remove=["old.txt"])
    assert written == [tmp_path / "a" / "b.txt", tmp_path / "c.txt"]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == \
        ["a", "a/b.txt", "c.txt"]
