"""Starting the sandboxed runner and reading what comes back, with a deadline on every wait.

The child's stdout and stderr share one pipe, of which only the last ``Limits.output`` bytes
are kept (for the error message); the rest is read and discarded, so 200 MB of prints cost
no memory. The result comes on a second pipe that only the trusted runner is told about
(its fd number and a random per-run nonce arrive on stdin, which the runner reads and closes
before importing the student's file). The parent accepts exactly ``nonce\\n<json>\\n`` on it:
a file without ``step`` that writes a made-up result there, or to stdout, is not believed.
The student's code runs in the runner's process, so a determined one can find the nonce in
memory; all it gains is to hand back numbers, as ``step`` could have returned them: the
verdict is always computed here, by the parent (docs/security.md).
"""

from __future__ import annotations

import ctypes
import functools
import json
import math
import os
import secrets
import selectors
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainrule.verify import runner
from chainrule.verify.sandbox import Layout, Limits, SandboxError, choose, command, environment

POLL = 0.05  # s between checks of whether the child ended
DRAIN = 0.5  # s to read what is left once it ended (a grandchild may hold the pipes open)
KILL_WAIT = 5.0  # s to reap a SIGKILLed child (it cannot ignore SIGKILL)
CHUNK = 1 << 16
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38


@dataclass
class Outcome:
    """What came back from one run."""

    level: str
    returncode: int | None  # None if it could not be reaped (never seen in practice)
    timed_out: bool
    result: Any  # the runner's decoded JSON message, or None
    channel_problem: str  # why the result channel's content was refused ("" if it was not)
    output_tail: bytes  # the last Limits.output bytes of stdout+stderr
    output_bytes: int  # how many bytes it wrote there in all


def run_sandboxed(student: Path, request: dict[str, Any], timeout: float,
                  level: str = "auto", limits: Limits = Limits()) -> Outcome:
    """Copy ``student`` into a fresh directory and run the runner on ``request`` there."""
    level = choose(level)
    try:
        layout = Layout.create(student, Path(runner.__file__), limits)
    except OSError as error:  # a full disk, an unwritable TMPDIR
        raise SandboxError(f"could not prepare a temporary directory: {error}") from None
    try:
        return _run(level, layout, request, timeout, limits)
    finally:
        layout.remove()


def _run(level: str, layout: Layout, request: dict[str, Any], timeout: float,
         limits: Limits) -> Outcome:
    paths = layout.paths(level)
    nonce = secrets.token_hex(16)
    result_read, result_write = os.pipe()
    message = dict(request, file=paths["file"], site=paths["site"], work=paths["work"],
                   channel=result_write, nonce=nonce)
    try:
        process = subprocess.Popen(
            command(level, layout, [paths["runner"]], limits), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=(result_write,),
            cwd=layout.work, env=environment(level, paths["work"]), start_new_session=True,
            preexec_fn=_child_setup(level, timeout, limits))
    except OSError as error:
        os.close(result_read)
        raise SandboxError(f"could not start the {level} sandbox: {error}") from None
    finally:
        os.close(result_write)  # the child's copy is the only one: EOF when it is gone
    try:
        return _collect(process, level, result_read, json.dumps(message).encode(), nonce,
                        timeout, limits)
    finally:
        _kill_group(process)
        try:
            process.wait(timeout=KILL_WAIT)
        except subprocess.TimeoutExpired:
            pass
        for pipe in (process.stdin, process.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()
        os.close(result_read)


def _collect(process: subprocess.Popen, level: str, result_fd: int, message: bytes,
             nonce: str, timeout: float, limits: Limits) -> Outcome:
    assert process.stdin is not None and process.stdout is not None
    selector = selectors.DefaultSelector()
    os.set_blocking(process.stdin.fileno(), False)
    selector.register(process.stdin.fileno(), selectors.EVENT_WRITE, "input")
    selector.register(process.stdout.fileno(), selectors.EVENT_READ, "output")
    selector.register(result_fd, selectors.EVENT_READ, "result")
    pending, tail, total = memoryview(message), bytearray(), 0
    result, overflow = bytearray(), False
    deadline, ended_at, timed_out = time.monotonic() + timeout, None, False
    try:
        while True:
            now = time.monotonic()
            if ended_at is None and _ended(process):
                ended_at = now
                _kill_group(process)  # what it left in its group (basic level)
            if ended_at is not None and (not selector.get_map() or now - ended_at > DRAIN):
                break
            if now >= deadline:
                timed_out = ended_at is None
                break
            wait = min(deadline - now, POLL)
            if not selector.get_map():  # it closed every pipe but still runs
                time.sleep(wait)
                continue
            for key, _ in selector.select(wait):
                if key.data == "input":
                    try:
                        pending = pending[os.write(key.fd, pending[:CHUNK]):]
                    except BrokenPipeError:  # it ended without reading: its exit says why
                        pending = pending[:0]
                    if not pending:
                        selector.unregister(key.fd)
                        process.stdin.close()
                    continue
                chunk = os.read(key.fd, CHUNK)
                if not chunk:
                    selector.unregister(key.fd)
                elif key.data == "output":
                    total += len(chunk)
                    tail += chunk
                    del tail[:-limits.output]
                elif len(result) + len(chunk) > limits.result:
                    overflow = True  # keep reading so it is not blocked, but keep nothing
                elif not overflow:
                    result += chunk
    finally:
        selector.close()
    if timed_out:
        _kill_group(process)
    decoded, problem = _decode(bytes(result), nonce, overflow, limits)
    returncode = process.returncode if process.returncode is not None else _reap(process)
    return Outcome(level, returncode, timed_out, decoded, problem, bytes(tail), total)


def _decode(data: bytes, nonce: str, overflow: bool, limits: Limits) -> tuple[Any, str]:
    if overflow:
        return None, f"more than {limits.result >> 20} MiB on the result channel"
    if not data:
        return None, ""
    head, newline, body = data.partition(b"\n")
    if head != nonce.encode() or not body.endswith(b"\n") or body.count(b"\n") != 1:
        return None, "the result channel holds something the runner did not write"
    try:
        return json.loads(body), ""
    except (ValueError, RecursionError):
        return None, "the result channel holds something the runner did not write"


def _ended(process: subprocess.Popen) -> bool:
    """Whether the child exited, *without* reaping it: its process group id stays valid for
    the kill that follows."""
    if process.returncode is not None:
        return True
    try:
        return os.waitid(os.P_PID, process.pid,
                         os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _reap(process: subprocess.Popen) -> int | None:
    try:
        return process.wait(timeout=KILL_WAIT)
    except subprocess.TimeoutExpired:
        return None


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the child's process group (its own session). In a PID namespace (bubblewrap,
    unshare) its death also kills everything inside, grandchildren that left the group too."""
    if process.returncode is not None:
        return  # reaped: the id may already belong to someone else
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _child_setup(level: str, timeout: float, limits: Limits) -> Callable[[], None]:
    """The function run in the child between fork and exec: die with the caller, and the
    resource limits. Everything is computed here, before the fork."""
    import resource  # POSIX only; choose() has refused other systems before this

    cpu = math.ceil(timeout) + 1  # CPU seconds: the wall-clock timeout normally comes first
    wanted = {resource.RLIMIT_AS: (limits.memory, limits.memory),
              resource.RLIMIT_CPU: (cpu, cpu + 1),  # SIGXCPU first, SIGKILL a second later
              resource.RLIMIT_FSIZE: (limits.file_size, limits.file_size),
              resource.RLIMIT_NOFILE: (limits.open_files, limits.open_files),
              resource.RLIMIT_CORE: (0, 0)}
    if level == "basic" and os.geteuid() != 0:
        # no fork at all (root is exempt from RLIMIT_NPROC, and bubblewrap and unshare must
        # fork; their PID namespace contains the processes instead)
        wanted[resource.RLIMIT_NPROC] = (0, 0)
    settings = []
    for which, (soft, hard) in wanted.items():
        _, current = resource.getrlimit(which)
        if current != resource.RLIM_INFINITY:  # never ask to raise a hard limit
            soft, hard = min(soft, current), min(hard, current)
        settings.append((which, (soft, hard)))
    prctl = _prctl()
    parent = os.getpid()
    # no setuid program can raise its privileges; not for bubblewrap, which may itself be
    # installed setuid (and sets no_new_privs inside on its own)
    no_new_privs = level != "bubblewrap"

    def setup() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if no_new_privs:
                prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        if os.getppid() != parent:  # the caller died before prctl took effect
            os._exit(1)
        for which, values in settings:
            resource.setrlimit(which, values)

    return setup


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """libc's prctl, looked up before the fork (loading a library in the child is not safe);
    the interpreter's own symbols include libc's, so nothing is searched for on disk."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux: no parent-death signal
        return None
