"""Hostile students: code that tries to cheat, escape or exhaust ``verify --impl``.

Each student is a small file written into tmp_path. Most run at every sandbox level this
machine has (the level is forced); what only bubblewrap contains (files, network) is tested
there, and docs/security.md says what the weaker levels leave open.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import pytest

import chainrule
from chainrule.verify import sandbox
from chainrule.verify.channel import run_sandboxed
from chainrule.verify.impl import ImplError, run_impl
from chainrule.verify.mistakes import correct_step
from chainrule.verify.sandbox import Limits
from tests.test_impl import one_line_impl_error

TRUTH = correct_step("seed")
LOSS = repr(float(TRUTH["forward.loss"]))
ROOT = os.geteuid() == 0


def level_or_skip(level: str) -> str:
    reason = sandbox.unavailable(level)
    if reason:  # CI installs bubblewrap and fails when its tests are skipped
        pytest.skip(f"{level} level unavailable: {reason}")
    return level


@pytest.fixture(params=sandbox.LEVELS)
def level(request) -> str:
    return level_or_skip(request.param)


@pytest.fixture(params=["bubblewrap", "unshare"])
def namespaced(request) -> str:
    """The levels with a PID namespace (and no network)."""
    return level_or_skip(request.param)


def student(tmp_path: Path, body: str, name: str = "student.py") -> str:
    path = tmp_path / name
    path.write_text("import os, sys, time\nimport numpy as np\n\n" + textwrap.dedent(body))
    return str(path)


def forged_response() -> dict:
    """What the runner would send for a perfect step: the right numbers, encoded."""
    def encoded(value):
        array = TRUTH[value]
        return {"shape": list(array.shape), "values": array.ravel().tolist()}

    names = ("W1", "b1", "W2", "b2")
    return {"ok": True, "result": {
        "gradients": {"mapping": {n: encoded(f"gradients.{n}") for n in names}},
        "updated": {"mapping": {n: encoded(f"updated.{n}") for n in names}},
        "loss": {"array": encoded("forward.loss")}}}


def processes_with(token: str) -> list[int]:
    """Host pids whose command line holds ``token`` (seen through any PID namespace)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and token.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.append(int(entry))
        except OSError:
            continue
    return found


def gone_within(token: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not processes_with(token):
            return True
        time.sleep(0.1)
    for pid in processes_with(token):  # leave nothing behind even when the test fails
        os.kill(pid, signal.SIGKILL)
    return False


def sleeper(token: str, seconds: int = 60) -> str:
    """Python source that replaces the current process by a sleeper marked with token."""
    return (f"os.execv(sys.executable, [sys.executable, '-c', "
            f"'import time; time.sleep({seconds})', {token!r}])")


# --- (a) a made-up result is not believed ----------------------------------------------------


@pytest.mark.parametrize("then, expected", [
    ("", "no function 'step' in student.py (it defines no functions)"),
    ("os._exit(0)", "the process ended without a result (exit code 0)")])
def test_a_file_without_step_printing_the_old_marker_is_an_error(tmp_path, level, then,
                                                                  expected):
    path = student(tmp_path, f"""
        line = "@@chainrule-result@@ " + {json.dumps(json.dumps(forged_response()))} + "\\n"
        os.write(1, line.encode())  # the real stdout, past any redirection of sys.stdout
        {then}
    """)
    assert expected in one_line_impl_error("seed", path, sandbox=level)


@pytest.mark.parametrize("then", ["", "os._exit(0)"])
def test_a_fake_result_written_to_every_fd_is_an_error(tmp_path, level, then):
    path = student(tmp_path, f"""
        fake = {json.dumps(json.dumps(forged_response()))}.encode() + b"\\n"
        for fd in range(1, 64):
            try:
                os.write(fd, fake)
            except OSError:
                pass
        {then}
    """)
    message = one_line_impl_error("seed", path, sandbox=level)
    assert "the result channel holds something the runner did not write" in message


# --- (b) chainrule's own answers are out of reach --------------------------------------------


def test_importing_chainrule_fails(tmp_path, level):
    path = student(tmp_path, """
        import chainrule

        def step(params, x, t, learning_rate):
            return {"loss": chainrule.verify.mistakes.correct_step("seed")["forward.loss"]}
    """)
    message = one_line_impl_error("seed", path, sandbox=level)
    assert "ModuleNotFoundError: No module named 'chainrule'" in message


def test_chainrule_sources_are_not_even_visible_under_bubblewrap(tmp_path):
    source = str(Path(chainrule.__file__).resolve().parents[1])
    path = student(tmp_path, f"""
        sys.path.insert(0, {source!r})
        import chainrule
    """)
    message = one_line_impl_error("seed", path, sandbox=level_or_skip("bubblewrap"))
    assert "No module named 'chainrule'" in message


# --- (c) pipes held open by a grandchild -----------------------------------------------------


def test_a_grandchild_holding_the_pipes_does_not_delay_the_result(tmp_path, level):
    path = student(tmp_path, f"""
        def step(params, x, t, learning_rate):
            if os.fork() == 0:
                time.sleep(30)
                os._exit(0)
            return {{"loss": {LOSS}}}
    """)
    start = time.monotonic()
    try:
        report = run_impl("seed", path, timeout=3, sandbox=level)
        assert report.ok, str(report)
    except ImplError as error:  # basic level as a normal user: no fork allowed at all
        assert not ROOT and level == "basic" and "BlockingIOError" in str(error), error
    assert time.monotonic() - start < 10


def test_a_timeout_is_kept_when_a_grandchild_holds_the_pipes(tmp_path, level):
    path = student(tmp_path, """
        def step(params, x, t, learning_rate):
            try:
                os.fork()  # parent and grandchild both sleep, holding stdout and stderr
            except OSError:
                pass
            time.sleep(60)
    """)
    start = time.monotonic()
    message = one_line_impl_error("seed", path, timeout=3, sandbox=level)
    assert "no result within 3 s, so it was stopped" in message
    assert time.monotonic() - start < 10


# --- (d) nothing outlives the run ------------------------------------------------------------


def test_a_double_forked_setsid_sleeper_dies_with_the_run(tmp_path, namespaced):
    token = uuid.uuid4().hex
    path = student(tmp_path, f"""
        def step(params, x, t, learning_rate):
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    {sleeper(token)}
                os._exit(0)
            time.sleep(0.5)  # the sleeper is running before the result is sent
            return {{"loss": {LOSS}}}
    """)
    assert run_impl("seed", path, sandbox=namespaced).ok
    assert gone_within(token, 5)


# SIGTERM and SIGHUP end the teacher's Python as SIGKILL does; once per level is enough for them
@pytest.mark.parametrize("level, sig", [
    *((level, signal.SIGKILL) for level in sandbox.LEVELS),
    ("bubblewrap", signal.SIGTERM), ("bubblewrap", signal.SIGHUP)])
def test_the_student_dies_when_the_teachers_chainrule_is_killed(tmp_path, level, sig):
    level_or_skip(level)
    token = uuid.uuid4().hex
    path = student(tmp_path, sleeper(token, 120) + "\n")
    code = (f"from chainrule.verify.impl import run_impl; "
            f"run_impl('seed', {path!r}, timeout=120, sandbox={level!r})")
    env = dict(os.environ, PYTHONPATH=str(Path(chainrule.__file__).parents[1]))
    teacher = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        deadline = time.monotonic() + 30
        while not processes_with(token) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert processes_with(token), "the student never started"
    finally:
        teacher.send_signal(sig)
        teacher.wait(timeout=10)
    assert gone_within(token, 5)


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
    from chainrule.cli import main

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
    from chainrule import cli
    from chainrule.verify import sandbox

    assert cli.SANDBOX_LEVELS == ("auto", *sandbox.LEVELS)
    impl = tmp_path / "impl.py"
    impl.write_text("def step(params, x, t, lr):\n    return {'loss': 0.0}\n")
    code = cli.main(["verify", "seed", "--impl", f"{impl}:step", "--sandbox", "basic"])
    out = capsys.readouterr().out
    assert code == 1 and "sandbox: basic" in out
