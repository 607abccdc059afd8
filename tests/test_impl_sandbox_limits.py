"""Hostile students, continued: the environment, files, limits and network (item e), honest
mistakes at every level, and the CLI's view of the sandbox."""

from __future__ import annotations

import json
import os
import socket
import tempfile
from pathlib import Path


import chainrule
from chainrule.verify import sandbox
from chainrule.verify.channel import run_sandboxed
from chainrule.verify.impl import run_impl
from chainrule.verify.sandbox import Limits
from tests.test_impl import one_line_impl_error
from tests.sandbox_students import (  # noqa: F401 (level, namespaced: fixtures)
    LOSS, TRUTH, forged_response, level, level_or_skip, namespaced, student,
)


# --- (e) environment, files, limits ----------------------------------------------------------


def test_the_environment_and_folder_are_not_the_callers(tmp_path, level, monkeypatch):
    monkeypatch.setenv("CHAINRULE_TEST_SECRET", "hunter2")
    monkeypatch.setenv("PYTHONPATH", str(Path(chainrule.__file__).parents[1]))
    path = student(tmp_path, f"""
        leaked = [k for k in os.environ if k.startswith("PYTHON") or "SECRET" in k]
        here = os.path.dirname(os.path.abspath(__file__))
        assert not leaked, leaked
        assert here == os.getcwd() != {str(tmp_path)!r}, here
        assert os.environ["OPENBLAS_NUM_THREADS"] == "1"

        def step(params, x, t, learning_rate):
            with open("beside.txt", "w") as file:  # lands in the temporary copy's folder
                file.write("x")
            return {{"loss": {LOSS}}}
    """)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    report = run_impl("seed", path, sandbox=level)
    assert report.ok, str(report)
    assert report.sandbox == {"level": level, "description": sandbox.DESCRIPTIONS[level]}
    assert f"sandbox: {sandbox.DESCRIPTIONS[level]}" in str(report)
    assert report.to_dict()["sandbox"]["level"] == level
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scratch", "student.py"]
    assert list(scratch.iterdir()) == []  # the temporary directory was removed


def test_the_teachers_files_are_invisible_under_bubblewrap(tmp_path):
    key = tmp_path / "key.json"
    key.write_text('{"loss": 0.0004}')
    path = student(tmp_path, f"""
        def step(params, x, t, learning_rate):
            with open({str(key)!r}) as file:
                return {{"loss": float(file.read())}}
    """)
    message = one_line_impl_error("seed", path, sandbox=level_or_skip("bubblewrap"))
    assert "FileNotFoundError" in message


def test_writing_outside_the_sandbox_fails_under_bubblewrap(tmp_path):
    path = student(tmp_path, f"""
        for folder in ({str(tmp_path)!r}, "/usr", "/"):
            try:
                open(os.path.join(folder, "escaped.txt"), "w").close()
                raise SystemError("wrote to " + folder)
            except OSError:
                pass
        def step(params, x, t, learning_rate):
            return {{"loss": {LOSS}}}
    """)
    assert run_impl("seed", path, sandbox=level_or_skip("bubblewrap")).ok
    assert not (tmp_path / "escaped.txt").exists()


def test_allocating_4_gib_is_a_one_line_memory_error(tmp_path, level):
    path = student(tmp_path, """
        def step(params, x, t, learning_rate):
            return {"loss": np.ones(1 << 29).sum()}
    """)
    message = one_line_impl_error("seed", path, sandbox=level)
    assert "MemoryError: Unable to allocate 4.00 GiB" in message  # NumPy's subclass of it


def test_a_file_larger_than_the_limit_cannot_be_written(tmp_path, level):
    path = student(tmp_path, """
        def step(params, x, t, learning_rate):
            with open("big.bin", "wb") as file:
                file.write(bytes(32 << 20))
    """)
    message = one_line_impl_error("seed", path, sandbox=level)
    assert "step() raised OSError: [Errno 27] File too large" in message


def test_200_mb_of_output_is_read_but_only_its_tail_kept(tmp_path, level):
    path = student(tmp_path, f"""
        def step(params, x, t, learning_rate):
            chunk = b"x" * (1 << 20)
            for _ in range(200):
                os.write(2, chunk)
            os.write(2, b"\\nthe last line\\n")
            return {{"loss": {LOSS}}}
    """)
    request = {"function": "step", "params": {k[11:]: v.tolist() for k, v in TRUTH.items()
                                              if k.startswith("parameters.")},
               "x": [0.5, 0.3], "t": [0.7], "t_integer": False, "learning_rate": 0.1}
    outcome = run_sandboxed(Path(path), request, timeout=30, level=level)
    assert outcome.result["ok"], outcome
    assert outcome.output_bytes == (200 << 20) + len("\nthe last line\n")
    assert len(outcome.output_tail) == Limits().output
    assert outcome.output_tail.endswith(b"the last line\n")


def test_a_crash_after_huge_output_reports_its_last_line(tmp_path, level):
    path = student(tmp_path, """
        sys.stderr.write("y" * (10 << 20) + "\\nfinal words\\n")
        sys.stderr.flush()
        os._exit(3)
    """)
    message = one_line_impl_error("seed", path, sandbox=level)
    assert message.endswith("the process ended without a result (exit code 3): final words")


def test_no_network_in_a_namespace(tmp_path, namespaced):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        path = student(tmp_path, f"""
            import socket

            def step(params, x, t, learning_rate):
                socket.create_connection(("127.0.0.1", {server.getsockname()[1]}), timeout=2)
                return {{"loss": {LOSS}}}
        """)
        message = one_line_impl_error("seed", path, sandbox=namespaced)
    assert "step() raised ConnectionRefusedError" in message or "OSError" in message


# --- honest mistakes read the same at every level --------------------------------------------


def test_an_exception_is_reported_by_the_users_line_at_every_level(tmp_path, level):
    path = student(tmp_path, """
        def step(params, x, t, learning_rate):
            return {"loss": 1 / 0}
    """)
    message = one_line_impl_error("seed", f"{path}:step", sandbox=level)
    assert message == (f"{path}:step: step() raised ZeroDivisionError: division by zero "
                       f"(student.py:6 in step: return {{\"loss\": 1 / 0}})")


def test_an_unknown_sandbox_level_is_one_line(tmp_path):
    path = student(tmp_path, "")
    message = one_line_impl_error("seed", path, sandbox="docker")
    assert "sandbox level 'docker': expected auto, bubblewrap, unshare, basic" in message


def test_the_temporary_directory_goes_even_when_locked_and_never_through_a_symlink(tmp_path):
    outside = tmp_path / "outside"
    (outside / "keep").mkdir(parents=True)
    layout = sandbox.Layout.create(Path(student(tmp_path, "")), Path(__file__), Limits())
    locked = layout.work / "locked"
    (locked / "inner").mkdir(parents=True)
    (locked / "inner" / "file").write_text("x")
    (layout.work / "link").symlink_to(outside)
    os.chmod(locked / "inner", 0)
    os.chmod(locked, 0o500)
    layout.remove()
    assert not layout.root.exists()
    assert (outside / "keep").is_dir() and oct(outside.stat().st_mode & 0o777) != "0o700"


# --- through the CLI -------------------------------------------------------------------------


def test_the_cli_names_the_sandbox_and_turns_a_forgery_into_one_line(tmp_path, capsys):
    from chainrule.cli.main import main

    honest = student(tmp_path, f"def step(params, x, t, learning_rate):\n"
                               f"    return {{'loss': {LOSS}}}\n", name="honest.py")
    assert main(["verify", "seed", "--impl", honest, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and data["sandbox"]["level"] in sandbox.LEVELS
    assert main(["verify", "seed", "--impl", honest]) == 0
    level = sandbox.choose()
    assert f"\nsandbox: {sandbox.DESCRIPTIONS[level]}\n" in capsys.readouterr().out

    forger = student(tmp_path, f"""
        os.write(1, b"@@chainrule-result@@ " + {json.dumps(json.dumps(forged_response()))}.encode())
        os._exit(0)
    """, name="forger.py")
    assert main(["verify", "seed", "--impl", forger]) == 2
    captured = capsys.readouterr()
    assert "correct" not in captured.out and captured.err.count("\n") == 1, captured
    assert "the process ended without a result (exit code 0)" in captured.err


def test_an_unreadable_or_huge_file_is_one_line(tmp_path, monkeypatch):
    huge = tmp_path / "huge.py"
    huge.write_bytes(b"#" * ((4 << 20) + 1))
    assert "larger than 4 MiB, not a step function file" in one_line_impl_error("seed", huge)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    message = one_line_impl_error("seed", student(tmp_path, ""))
    assert "could not prepare a temporary directory: [Errno 2] No such file" in message


def test_a_student_killing_itself_is_named_by_its_signal(tmp_path, level):
    path = student(tmp_path, "import signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    message = one_line_impl_error("seed", path, sandbox=level)
    assert "the process ended without a result (killed by SIGKILL)" in message


def test_the_cli_offers_every_sandbox_level(tmp_path, capsys):
    from chainrule.cli import main as cli
    from chainrule.verify import sandbox

    assert cli.SANDBOX_LEVELS == ("auto", *sandbox.LEVELS)
    impl = tmp_path / "impl.py"
    impl.write_text("def step(params, x, t, lr):\n    return {'loss': 0.0}\n")
    code = cli.main(["verify", "seed", "--impl", f"{impl}:step", "--sandbox", "basic"])
    out = capsys.readouterr().out
    assert code == 1 and "sandbox: basic" in out
