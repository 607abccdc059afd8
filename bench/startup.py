"""Start-up: whole fresh processes of the command line, each beside ``python -c "import numpy"``.

    .venv/bin/python bench/startup.py                # 11 rounds
    .venv/bin/python bench/startup.py --rounds 21

A command's wall time is mostly imports, and the machine's speed drifts from minute to
minute (a shared host), so seconds alone compare badly between runs. Each round runs every
command once, back to back, in an order that rotates from round to round; a command's ratio
is its time over NumPy's *in the same round*, and the figures are medians over rounds. The
source is byte-compiled first (``compileall``), as an installed package has it, and each
command runs once untimed, so no timed run compiles or warms the disk cache for the first
time. The package measured is this checkout's (``src/`` first on PYTHONPATH). verify keeps
sympy's values for a network between runs (verify/symbolic_cache.py), here in a temporary
folder: ``verify seed`` reads them back from the untimed run, ``verify seed --no-cache``
derives them afresh, as on a network verify has not seen.

``--instructions`` counts instead of timing: each command once under valgrind's callgrind
(``apt-get install valgrind``), with PYTHONHASHSEED=0 so that dicts and sets are laid out
alike from run to run. The count of instructions a process executes hardly moves with the
machine's load, so it shows a change of a few per cent that the timed medians cannot; the
goals are still ratios of time, which the instructions only approximate (a cache miss costs
more than an add). verify's child process (verify/background.py) is not followed: the
``verify_fresh`` row counts the parent alone, so it is left out.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
BASELINE = "numpy"
# name → (arguments to python, what it shows); the goals of issue 13 are ratios to BASELINE
COMMANDS = {
    "numpy": (["-c", "import numpy"], 'python -c "import numpy"'),
    "version": (["-m", "chainrule", "--version"], "chainrule --version"),
    "explain": (["-m", "chainrule", "explain"], "chainrule explain > /dev/null"),
    "verify": (["-m", "chainrule", "verify", "seed"], "chainrule verify seed"),
    # sympy derived afresh, as on a network verify has not seen (the line above reads sympy's
    # values back from the untimed run: verify/symbolic_cache.py)
    "verify_fresh": (["-m", "chainrule", "verify", "seed", "--no-cache"],
                     "chainrule verify seed --no-cache"),
}
GOALS = {"explain": 1.5, "verify": 6.0, "verify_fresh": 6.0}  # at most × BASELINE's time


def _environment(cache: str) -> dict[str, str]:
    """This checkout first on the path; compiled bytecode read (not a private prefix, not
    disabled); one BLAS thread, as in the rest of bench/; verify's cache in ``cache``."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    env["XDG_CACHE_HOME"] = cache
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [env.get("PYTHONPATH")])])
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def _run(name: str, env: dict[str, str]) -> float:
    arguments = COMMANDS[name][0]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *arguments], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=env)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):  # verify exits 1 when a method disagrees
        raise RuntimeError(f"{COMMANDS[name][1]} failed: {done.stderr.decode()[-2000:]}")
    return seconds


def measure(rounds: int = 11, names: list[str] | None = None) -> dict[str, Any]:
    """Seconds per round of every command, and medians of time and of ratio to BASELINE."""
    names = list(names or COMMANDS)
    if BASELINE not in names:
        names.insert(0, BASELINE)
    compileall.compile_dir(str(SRC), quiet=1)
    with tempfile.TemporaryDirectory(prefix="chainrule-bench-cache-") as cache:
        return _measure(rounds, names, _environment(cache))


def _measure(rounds: int, names: list[str], env: dict[str, str]) -> dict[str, Any]:
    for name in names:  # untimed: bytecode written, files in the page cache
        _run(name, env)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    ratios: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        order = names[round_ % len(names):] + names[:round_ % len(names)]
        times = {name: _run(name, env) for name in order}
        for name in names:
            seconds[name].append(times[name])
            ratios[name].append(times[name] / times[BASELINE])
    return {"rounds": rounds, "baseline": BASELINE, "commands": {
        name: {"shows": COMMANDS[name][1], "median_s": statistics.median(seconds[name]),
               "median_ratio": statistics.median(ratios[name]), "seconds": seconds[name],
               "ratios": ratios[name], **({"goal_ratio": GOALS[name]} if name in GOALS else {})}
        for name in names}}


def instructions(names: list[str] | None = None) -> dict[str, Any]:
    """Instructions executed by one run of each command (callgrind), and their ratio to
    BASELINE's; the figures are exact counts, so one run each suffices."""
    import shutil

    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind: apt-get install -y valgrind")
    names = [n for n in (names or COMMANDS) if n != "verify_fresh"]
    if BASELINE not in names:
        names.insert(0, BASELINE)
    compileall.compile_dir(str(SRC), quiet=1)
    with tempfile.TemporaryDirectory(prefix="chainrule-bench-cache-") as cache:
        env = {**_environment(cache), "PYTHONHASHSEED": "0"}
        for name in names:
            _run(name, env)  # as in the timed rounds: verify's cache filled first
        counts = {name: _count(name, env, Path(cache)) for name in names}
    return {"baseline": BASELINE, "commands": {
        name: {"shows": COMMANDS[name][1], "instructions": count,
               "ratio": count / counts[BASELINE],
               **({"goal_ratio": GOALS[name]} if name in GOALS else {})}
        for name, count in counts.items()}}


def _count(name: str, env: dict[str, str], folder: Path) -> int:
    out = folder / f"callgrind-{name}.out"
    done = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                           sys.executable, *COMMANDS[name][0]], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=env, text=True)
    for line in out.read_text().splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise RuntimeError(f"callgrind gave no count for {COMMANDS[name][1]}: "
                       f"{done.stderr[-2000:]}")


def instructions_table(result: dict[str, Any]) -> str:
    lines = [f"{'command':<34} {'instructions':>14} {'× numpy':>8}", "-" * 58]
    for row in result["commands"].values():
        lines.append(f"{row['shows']:<34} {row['instructions']:>14,} {row['ratio']:>8.2f}")
    lines.append("(one run each under callgrind, PYTHONHASHSEED=0; the goals are ratios of "
                 "time)")
    return "\n".join(lines)


def table(result: dict[str, Any]) -> str:
    lines = [f"{'command':<34} {'median s':>9} {'× numpy':>8}  goal",
             "-" * 62]
    for row in result["commands"].values():
        goal = row.get("goal_ratio")
        mark = "" if goal is None else (f"≤ {goal}×: " + ("met" if row["median_ratio"] <= goal
                                                         else "NOT met"))
        lines.append(f"{row['shows']:<34} {row['median_s']:>9.3f} "
                     f"{row['median_ratio']:>8.2f}  {mark}")
    lines.append(f"(medians over {result['rounds']} rounds; × numpy: the median of each "
                 "round's ratio)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=11, help="timed rounds (default 11)")
    parser.add_argument("--commands", nargs="+", choices=list(COMMANDS), metavar="NAME",
                        help=f"a subset of: {', '.join(COMMANDS)} (numpy always runs)")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions under callgrind instead of timing rounds")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds: expected at least 1")
    if args.instructions:
        print(instructions_table(instructions(args.commands)))
        return 0
    print(table(measure(args.rounds, args.commands)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
