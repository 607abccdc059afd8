"""Running untrusted Python (a student's step function) as contained as this machine allows.

Three levels, the strongest available chosen at run time (docs/security.md says what each
contains and what it does not):

* ``bubblewrap``: ``bwrap`` with every namespace unshared (no network, own PIDs, IPC, host
  name), a read-only view of only the system directories, the interpreter and NumPy, a
  size-capped private /tmp and working directory, and ``--die-with-parent``;
* ``unshare``: util-linux ``unshare`` gives no network and an own PID namespace (so no
  process outlives the run), but the file system is the user's;
* ``basic``: resource limits, a scrubbed environment, a temporary working directory and an
  isolated interpreter, nothing more.

At every level the child gets ``rlimit``s (address space, CPU, file size, open files, no core
dumps; no forking at all for a non-root user at ``basic``), its own session, and
``PR_SET_PDEATHSIG`` so it dies with the caller; its output is read only up to a cap, and
every wait has a deadline. :mod:`chainrule.verify.channel` is the part that starts the
process and reads it; this module decides *what* to start.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy

from chainrule.frozen import Frozen
from chainrule.errors import ChainruleError

LEVELS = ("bubblewrap", "unshare", "basic")
DESCRIPTIONS = {
    "bubblewrap": "bubblewrap (no network, read-only system, private /tmp)",
    "unshare": "unshare (no network, own process namespace; files readable as the user)",
    "basic": "basic (resource limits only; install bubblewrap to hide files and the network)",
}
# Where things appear inside the bubblewrap sandbox (outside it, they stay in the temp dir).
INSIDE = Path("/sandbox")
PROBE_TIMEOUT = 15.0


class SandboxError(ChainruleError):
    """The sandbox cannot be set up as asked (a level not available here, a file too big)."""


@dataclass(unsafe_hash=True)
class Limits(Frozen):
    """What the untrusted code may use. ``memory`` is the address space (RLIMIT_AS): NumPy
    with a single-threaded OpenBLAS starts in well under 200 MiB, so 1 GiB leaves room for
    any step on a teaching network while a runaway allocation fails with MemoryError."""

    memory: int = 1 << 30
    file_size: int = 16 << 20  # any one file it writes
    open_files: int = 64
    disk: int = 64 << 20  # its tmpfs working directory and /tmp (bubblewrap only)
    output: int = 64 << 10  # of its stdout+stderr kept (the tail); the rest is discarded
    result: int = 8 << 20  # bytes of result accepted on the result channel
    source: int = 4 << 20  # the largest student file copied in


@dataclass
class Layout:
    """The run's temporary directory: ``lib`` (our runner and NumPy's links, read-only in
    bubblewrap) and ``work`` (the student's copied file, the working directory)."""

    root: Path
    lib: Path
    work: Path
    file_name: str

    @classmethod
    def create(cls, student: Path, runner: Path, limits: Limits) -> Layout:
        root = Path(tempfile.mkdtemp(prefix="chainrule-impl-"))
        layout = cls(root, root / "lib", root / "work", student.name)
        try:
            layout.lib.mkdir()
            layout.work.mkdir()
            shutil.copyfile(runner, layout.lib / "runner.py")
            _copy_capped(student, layout.work / student.name, limits.source)
            site = layout.lib / "site"
            site.mkdir()
            for source in numpy_dirs():
                (site / source.name).symlink_to(source)
        except BaseException:
            layout.remove()
            raise
        return layout

    def remove(self) -> None:
        """Delete the tree, even where the code made a directory unreadable or read-only."""
        shutil.rmtree(self.root, onerror=_unlock)

    def paths(self, level: str) -> dict[str, str]:
        """The runner's, the student file's, the working dir's and NumPy's site dir's paths as
        the child sees them."""
        base = INSIDE if level == "bubblewrap" else self.root
        return {"runner": str(base / "lib" / "runner.py"),
                "file": str(base / "work" / self.file_name), "work": str(base / "work"),
                "site": str(base / "lib" / "site")}


def _unlock(function: object, path: str, _: object) -> None:
    """rmtree could not list or delete ``path``: give it and its folder back their owner's
    permissions and try again. Never through a symlink (the code may have swapped one in):
    the directories are opened with O_NOFOLLOW and changed through /proc/self/fd."""
    for folder in (os.path.dirname(path), path):
        _own(folder)
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _own(folder: str) -> None:
    flags = getattr(os, "O_PATH", 0) | os.O_NOFOLLOW | os.O_DIRECTORY
    try:
        fd = os.open(folder, flags)
    except OSError:  # a symlink or not a directory: leave it alone
        return
    try:
        os.chmod(f"/proc/self/fd/{fd}", 0o700)
    except OSError:
        pass
    finally:
        os.close(fd)


def _copy_capped(source: Path, target: Path, cap: int) -> None:
    try:
        with open(source, "rb") as file:
            data = file.read(cap + 1)
    except OSError as error:
        raise SandboxError(f"{source}: cannot be read ({error.strerror})") from None
    if len(data) > cap:
        raise SandboxError(f"{source}: larger than {cap >> 20} MiB, not a step function file")
    target.write_bytes(data)


@functools.cache
def numpy_dirs() -> tuple[Path, ...]:
    """NumPy's package directory and, for a wheel, its bundled libraries (``numpy.libs``,
    found by the extension modules as ``$ORIGIN/../../numpy.libs``): all the child may
    import beyond the standard library."""
    package = Path(numpy.__file__).resolve().parent
    libs = package.parent / "numpy.libs"
    return (package, libs) if libs.is_dir() else (package,)


def interpreter() -> str:
    """The real interpreter behind ``sys.executable``: a venv's ``bin/python`` is a symlink,
    and run from its real path Python finds the base standard library and no venv
    site-packages (where chainrule is installed)."""
    return os.path.realpath(sys.executable)


def environment(level: str, work: str) -> dict[str, str]:
    """Nothing of the caller's environment (keys, tokens, PYTHON* settings) passes."""
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": work,
            "TMPDIR": "/tmp" if level == "bubblewrap" else work,
            # one BLAS thread: no thread pool to fit under the memory limit, nothing to fork
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def command(level: str, layout: Layout, python_args: list[str], limits: Limits) -> list[str]:
    """The argv that runs ``python -I -S <python_args>`` at ``level``."""
    python = [interpreter(), "-I", "-S", "-B", *python_args]
    if level == "basic":
        return python
    if level == "unshare":
        user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
        # a shell as the namespace's PID 1, so Python is an ordinary process: signals it
        # sends itself work, as they do at the other levels (PID 1 ignores them)
        return [_tool("unshare"), *user, "--pid", "--fork", "--kill-child", "--net", "--",
                "/bin/sh", "-c", '"$@"; exit $?', "sh", *python]
    return [_tool("bwrap"), *_bwrap_mounts(layout, limits), "--unshare-all", "--die-with-parent",
            "--new-session", "--cap-drop", "ALL", "--chdir", str(INSIDE / "work"), "--",
            *python]


def _tool(name: str) -> str:
    """By absolute path from the caller's PATH: the child's scrubbed PATH may not have it."""
    return shutil.which(name) or name


def _bwrap_mounts(layout: Layout, limits: Limits) -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):  # merged /usr: keep the symlink
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    # the loader's cache and Debian's alternatives (its NumPy finds BLAS through them)
    for extra in ("/etc/ld.so.cache", "/etc/alternatives"):
        if os.path.exists(extra):
            args += ["--ro-bind", extra, extra]
    prefixes = {os.path.realpath(p) for p in (sys.base_prefix, sys.base_exec_prefix)}
    for prefix in sorted(prefixes):
        if not prefix.startswith("/usr/"):
            args += ["--ro-bind", prefix, prefix]
    lib, work = INSIDE / "lib", INSIDE / "work"
    args += ["--ro-bind", str(layout.lib / "runner.py"), str(lib / "runner.py")]
    for source in numpy_dirs():
        args += ["--ro-bind", str(source), str(lib / "site" / source.name)]
    args += ["--size", str(limits.disk), "--tmpfs", str(work),
             "--ro-bind", str(layout.work / layout.file_name), str(work / layout.file_name),
             "--size", str(limits.disk), "--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev"]
    # chainrule itself must stay invisible even where it is installed inside a bound tree
    # (pip-installed into /usr or into the interpreter's prefix)
    bound = [Path(p) for p in ("/usr", *prefixes)]
    for package in _chainrule_copies():
        if any(package.is_relative_to(b) for b in bound):
            args += ["--tmpfs", str(package)]
    # bubblewrap's root is an unbounded tmpfs: read-only, so writes go to the capped ones
    return [*args, "--remount-ro", "/"]


def _chainrule_copies() -> set[Path]:
    """This chainrule and any other copy on our import path (another version installed)."""
    copies = {Path(__file__).resolve().parents[1]}
    for entry in sys.path:
        candidate = Path(entry or ".") / "chainrule"
        if (candidate / "__init__.py").is_file():
            copies.add(candidate.resolve())
    return copies


@functools.cache
def unavailable(level: str) -> str:
    """Why ``level`` cannot run here ("" when it can), found by running it once: NumPy must
    import inside, and the namespaces must be allowed (containers often forbid them)."""
    if level == "basic":
        return "" if os.name == "posix" else "needs a POSIX system"
    tool = "bwrap" if level == "bubblewrap" else "unshare"
    if shutil.which(tool) is None:
        return f"{tool} is not installed"
    try:
        layout = Layout.create(Path(__file__), Path(__file__), Limits())
    except OSError as error:
        raise SandboxError(f"could not prepare a temporary directory: {error}") from None
    try:
        paths = layout.paths(level)
        code = f"import sys; sys.path.insert(0, {paths['site']!r}); import numpy"
        result = subprocess.run(command(level, layout, ["-c", code], Limits()),
                                stdin=subprocess.DEVNULL, capture_output=True,
                                env=environment(level, paths["work"]), cwd=layout.work,
                                timeout=PROBE_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{tool} could not run: {error}"
    finally:
        layout.remove()
    if result.returncode:
        lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
        return f"{tool} failed here" + (f": {lines[-1][:200]}" if lines else "")
    return ""


def choose(level: str = "auto") -> str:
    """``"auto"``: the strongest level that runs here; a named level, or SandboxError."""
    if level == "auto":
        found = next((name for name in LEVELS if not unavailable(name)), None)
        if found is None:
            raise SandboxError(f"no sandbox runs here: {unavailable('basic')}")
        return found
    if level not in LEVELS:
        raise SandboxError(f"sandbox level {level!r}: expected auto, {', '.join(LEVELS)}")
    reason = unavailable(level)
    if reason:
        raise SandboxError(f"sandbox level {level!r} is not available here: {reason}")
    return level
