"""verify's slow check in a child process: the same answer as in the caller, refusals with
their own class and message, a dead child never trusted, and no child left behind."""

from __future__ import annotations

import os
import signal
import time

import pytest

import chainrule as cr
from chainrule.errors import ChainruleError, SpecError
from chainrule.verify import background
from chainrule.verify.report import verify

needs_fork = pytest.mark.skipif(not background.forking_allowed(),
                                reason="fork is used only on Linux with a core to spare")


def _pid_and_square(x: float) -> list:
    return [os.getpid(), x * x]


def _refuse(message: str) -> None:
    raise SpecError(message)


def _die(how: str) -> list:
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "exit":
        os._exit(3)
    if how == "bug":
        raise ZeroDivisionError("a bug in the child")
    return [os.getpid(), "computed here"]


@needs_fork
def test_the_function_runs_in_a_child_and_its_answer_comes_back():
    pending = background.start(_pid_and_square, 1.5)
    assert pending.in_child
    pid, square = pending.result()
    assert pid != os.getpid() and square == 2.25


def test_without_fork_the_function_runs_in_the_caller_when_asked(monkeypatch):
    monkeypatch.setenv("CHAINRULE_NO_FORK", "1")
    pending = background.start(_pid_and_square, 3.0)
    assert not pending.in_child
    assert pending.result() == _pid_and_square(3.0)


@needs_fork
def test_a_refusal_comes_back_with_its_class_and_message():
    with pytest.raises(SpecError, match="^layers: expected 2 numbers, got 3$"):
        background.start(_refuse, "layers: expected 2 numbers, got 3").result()


@needs_fork
@pytest.mark.parametrize("how", ["kill", "exit", "bug"])
def test_a_child_that_dies_without_an_answer_is_not_trusted(how):
    # the parent computes the result itself: here the function dies in the parent too for
    # "kill" and "exit", so those are checked by the pid that answered
    pending = background.start(_die, how)
    if how == "bug":
        with pytest.raises(ZeroDivisionError, match="a bug in the child"):
            pending.result()  # the same error as without a child, raised here
        return
    calls = []
    pending._function = lambda how: calls.append(how) or [os.getpid(), "computed here"]
    assert pending.result() == [os.getpid(), "computed here"] and calls == [how]


@needs_fork
def test_cancel_stops_the_child_and_reaps_it():
    pending = background.start(time.sleep, 30)
    pid = pending._pid
    started = time.monotonic()
    pending.cancel()
    assert time.monotonic() - started < 5
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped: no zombie left
    pending.cancel()  # twice is harmless


@needs_fork
def test_an_error_in_the_parent_leaves_no_child(monkeypatch):
    started = []
    real_start = background.start

    def recording_start(*arguments):
        pending = real_start(*arguments)
        started.append(pending._pid)
        return pending

    monkeypatch.setattr(background, "start", recording_start)
    import chainrule.verify.report as report

    def broken(*arguments, **options):
        raise RuntimeError("the reference step broke")

    monkeypatch.setattr(report, "_reference", broken)
    with pytest.raises(RuntimeError, match="the reference step broke"):
        verify(cr.load_spec("seed"))
    assert len(started) == 1 and started[0] is not None
    with pytest.raises(ChildProcessError):
        os.waitpid(started[0], os.WNOHANG)


def test_verify_gives_the_same_report_with_and_without_the_child(monkeypatch):
    spec = cr.parse_spec({"layers": [2, 3, 1], "activations": ["tanh", "sigmoid"],
                          "loss": "bce", "input": [0.4, -0.7], "target": [1.0],
                          "learning_rate": 0.5, "seed": 3})
    forked = verify(spec)
    monkeypatch.setenv("CHAINRULE_NO_FORK", "1")
    here = verify(spec)
    assert forked.methods == here.methods
    assert forked.methods["symbolic"] == "ran (sympy)"
    assert [(r.key, r.values) for r in forked.rows] == [(r.key, r.values) for r in here.rows]


def test_a_network_too_large_for_sympy_is_refused_the_same_way_from_the_child(monkeypatch):
    spec = cr.parse_spec({"layers": [8, 8, 2], "activations": "sigmoid", "loss": "sse",
                          "input": [0.1] * 8, "target": [0.0, 1.0], "learning_rate": 0.1,
                          "seed": 0})
    forked = verify(spec).methods["symbolic"]
    monkeypatch.setenv("CHAINRULE_NO_FORK", "1")
    assert forked == verify(spec).methods["symbolic"]
    assert forked.startswith("not run:") and "parameter" in forked
