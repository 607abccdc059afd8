"""Hostile students: code that tries to cheat, escape or exhaust ``verify --impl``.

Each student is a small file written into tmp_path. Most run at every sandbox level this
machine has (the level is forced); what only bubblewrap contains (files, network) is tested
there, and docs/security.md says what the weaker levels leave open.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import chainrule
from chainrule.verify import sandbox
from chainrule.verify.impl import ImplError, run_impl
from tests.test_impl import one_line_impl_error
from tests.sandbox_students import (  # noqa: F401 (level, namespaced: fixtures)
    LOSS, ROOT, forged_response, gone_within, level, level_or_skip, namespaced,
    processes_with, sleeper, student,
)


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
