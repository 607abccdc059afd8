"""A seeded fuzzer over specs, answers files, submissions and checkpoints (tests/fuzz_driver.py).

Every mutant must get what any bad input gets: exit code 2 and one line naming the problem,
or a normal run (exit 0, or 1 where a verdict says something disagrees). Never a traceback,
an internal error, a raw NumPy warning, a NaN or infinity printed with exit 0, a case that
runs for more than 20 s, or an allocation beyond the memory cap the driver runs under.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DRIVER = Path(__file__).with_name("fuzz_driver.py")
CASES = int(os.environ.get("CHAINRULE_FUZZ_CASES", "500"))
MEMORY_CAP = 3 * 2**30  # bytes of address space; torch and OpenBLAS need about 1.5 GiB


def _cap_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def problems(record: dict) -> list[str]:
    found = []
    code, err = record["code"], record["stderr"]
    lines = err.strip().splitlines()
    if code not in (0, 1, 2):
        found.append(f"exit {code}")
    elif code == 2 and not (len(lines) == 1 and lines[0].startswith("chainrule: error: ")):
        found.append(f"not one line: {err[-300:]!r}")
    if "Traceback" in err or "internal error" in err:
        found.append(f"traceback: {err[-300:]!r}")
    if any(word in err for word in ("out of memory", "nested too deeply")):
        found.append(f"a limit missed: {lines[-1]!r}")
    if record["warnings"]:
        found.append(f"warnings: {record['warnings'][:2]}")
    if record["non_finite_out"]:
        found.append("NaN or infinity printed with exit 0")
    return found


@pytest.mark.skipif(sys.platform != "linux", reason="the memory cap uses RLIMIT_AS")
def test_fuzzed_inputs_get_one_line_and_exit_2(tmp_path):
    result = subprocess.run(
        [sys.executable, str(DRIVER), "20261201", str(CASES), str(tmp_path)],
        capture_output=True, text=True, timeout=600, preexec_fn=_cap_memory,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(records) >= CASES * 0.95, f"{len(records)} of {CASES} cases ran"
    failures = [(r["argv"], p) for r in records for p in problems(r)]
    assert not failures, f"{len(failures)} of {len(records)} cases: {failures[:5]}"
    codes = {code: sum(r["code"] == code for r in records) for code in (0, 1, 2)}
    assert codes[2] > len(records) // 3, codes  # the mutants are mostly bad, and refused
