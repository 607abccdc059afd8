"""What the sandbox tests share: the levels as fixtures, and how to write a student and
watch its processes."""

from __future__ import annotations

import os
import signal
import textwrap
import time
from pathlib import Path

import pytest

from chainrule.verify import sandbox
from chainrule.verify.mistakes import correct_step


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
