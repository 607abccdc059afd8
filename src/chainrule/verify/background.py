"""A slow independent check run in a child process while the caller does the others.

``chainrule verify`` checks three ways; sympy's way takes most of its time, nearly all of it
importing sympy and its first use, and that work needs nothing the other checks produce. So
:func:`start` forks a child that computes it, and the parent runs finite differences and the
reference step meanwhile, on the machine's other core, and :meth:`Pending.result` collects
the child's answer. The child inherits everything already imported (NumPy, the spec), so it
starts at once; its answer comes back as JSON through a pipe, and a :class:`ChainruleError`
it raised is raised again in the parent with its own message and class.

Fork is used only where it is the platform's own way to start a process (Linux), with one
core to spare, and where the ``CHAINRULE_NO_FORK`` environment variable is not set; anywhere
else the function simply runs in the caller, when its result is asked for. A child that dies
without an answer (a signal, running out of memory) is not trusted for anything: the parent
computes the result itself.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import warnings
from typing import Any, Callable

from chainrule import errors

# The classes a child's refusal may come back as (an unknown name comes back as the base).
_ERRORS = {name: getattr(errors, name) for name in dir(errors)
           if isinstance(getattr(errors, name), type)
           and issubclass(getattr(errors, name), errors.ChainruleError)}
_CHUNK = 1 << 16


def forking_allowed() -> bool:
    return (sys.platform.startswith("linux") and hasattr(os, "fork")
            and (os.cpu_count() or 1) > 1 and not os.environ.get("CHAINRULE_NO_FORK"))


class Pending:
    """A result on its way: :meth:`result` waits for it (or computes it here); :meth:`cancel`
    stops a child whose answer is no longer wanted."""

    def __init__(self, function: Callable[..., Any], arguments: tuple,
                 pid: int | None = None, pipe: int | None = None) -> None:
        self._function, self._arguments = function, arguments
        self._pid, self._pipe = pid, pipe

    @property
    def in_child(self) -> bool:
        return self._pid is not None

    def result(self) -> Any:
        if self._pid is None:
            return self._function(*self._arguments)
        data = self._read_all()
        _, status = os.waitpid(self._pid, 0)
        self._pid = None
        try:
            answer = json.loads(data) if status == 0 else None
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not ("value" in answer or "error" in answer):
            return self._function(*self._arguments)  # no answer: not trusted, computed here
        if "error" in answer:
            kind = _ERRORS.get(answer.get("kind"), errors.ChainruleError)
            raise kind(str(answer["error"]))
        return answer["value"]

    def cancel(self) -> None:
        if self._pid is None:
            return
        try:
            os.kill(self._pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self._pid, 0)
        os.close(self._pipe)
        self._pid = None

    def _read_all(self) -> bytes:
        chunks = []
        try:
            while chunk := os.read(self._pipe, _CHUNK):
                chunks.append(chunk)
        finally:
            os.close(self._pipe)
        return b"".join(chunks)

    def __enter__(self) -> Pending:
        return self

    def __exit__(self, *exception: object) -> None:
        self.cancel()


def done(value: Any) -> Pending:
    """A result already at hand, as a :class:`Pending`."""
    return Pending(lambda: value, ())


def start(function: Callable[..., Any], *arguments: Any) -> Pending:
    """``function(*arguments)`` started in a forked child where :func:`forking_allowed`; its
    result must be JSON (numbers, strings, lists, dicts)."""
    if not forking_allowed():
        return Pending(function, arguments)
    read, write = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns of fork in a process with threads (OpenBLAS keeps a pool): the
        # child runs pure Python and calls no BLAS routine, so no lock the pool holds matters.
        warnings.simplefilter("ignore", DeprecationWarning)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
    if pid == 0:  # the child: compute, answer, and leave without running the parent's exits
        os.close(read)
        code = 0
        try:
            try:
                answer: dict[str, Any] = {"value": function(*arguments)}
            except errors.ChainruleError as refused:
                answer = {"error": str(refused), "kind": type(refused).__name__}
            payload = json.dumps(answer).encode()
            view = memoryview(payload)
            while view:
                view = view[os.write(write, view):]
        except BaseException:  # anything else: no answer; the parent works it out itself
            code = 1
        finally:
            os._exit(code)
    os.close(write)
    return Pending(function, arguments, pid, read)
