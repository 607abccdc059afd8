"""Issue 6's goals, checked against one run's figures (chainrule time / PyTorch time, etc.)."""

from __future__ import annotations

from typing import Any

RATIO_GOALS = {"2-2-1": 0.12, "2-16-1": 0.12, "64-128-10": 0.35, "784-256-128-10": 0.85,
               "784-1024-1024-10": 1.0}
LARGEST = "784-1024-1024-10"
EXPLAIN_SECONDS = 0.3


def _goal(goal: str, measured: str, met: bool | None) -> dict[str, Any]:
    return {"goal": goal, "measured": measured, "met": met}


def check_goals(report: dict[str, Any]) -> list[dict[str, Any]]:
    goals = []
    for row in report["results"]:
        impls = row["impls"]
        ours = impls.get("chainrule")
        if ours is None:
            continue
        where = f"{row['network']} {row['dtype']}"
        limit = RATIO_GOALS.get(row["network"])
        if limit is not None and "ratio_vs_pytorch" in ours:
            ratio = ours["ratio_vs_pytorch"]
            goals.append(_goal(f"{where}: ≤ {limit}× PyTorch", f"{ratio:.3f}×", ratio <= limit))
        if row["network"] == "784-256-128-10" and "numpy" in impls:
            vs_numpy = ours["us_per_step"] / impls["numpy"]["us_per_step"]
            goals.append(_goal(f"{where}: within 10% of hand-written NumPy",
                               f"{vs_numpy:.3f}× NumPy", vs_numpy <= 1.10))
        if row["network"] != LARGEST:
            continue
        peak = ours["fraction_of_matmul_peak"]
        goals.append(_goal(f"{where}: ≥ 85% of the matmul peak", f"{100 * peak:.1f}%",
                           peak >= 0.85))
        ideal = row["ideal_backward_forward"]
        ratio = ours["backward_forward"]
        goals.append(_goal(f"{where}: backward/forward ≤ 1.1 × ideal ({ideal:.2f})",
                           f"{ratio:.2f} ({ratio / ideal:.2f} × ideal)", ratio <= 1.1 * ideal))
        memory, floor = ours["peak_memory_bytes"], row["memory_floor_bytes"]
        goals.append(_goal(f"{where}: peak memory ≤ 1.5 × floor ({floor / 1e6:.1f} MB)",
                           f"{memory / 1e6:.1f} MB ({memory / floor:.2f} × floor)",
                           memory <= 1.5 * floor))
        if "pytorch" in impls:
            theirs = impls["pytorch"]["peak_memory_bytes"]
            goals.append(_goal(f"{where}: peak memory below PyTorch's",
                               f"{memory / 1e6:.1f} MB vs {theirs / 1e6:.1f} MB",
                               memory < theirs))
    for name, row in report.get("startup", {}).get("commands", {}).items():
        if "goal_ratio" in row:
            goals.append(_goal(f"{row['shows']} ≤ {row['goal_ratio']}× `python -c \"import "
                               f"numpy\"` (whole processes, round by round)",
                               f"{row['median_ratio']:.2f}×",
                               row["median_ratio"] <= row["goal_ratio"]))
    explain = report["cli_seconds"].get("explain")
    if explain is not None:
        seconds = explain["median"]
        goals.append(_goal(f"chainrule explain (seed, whole process) ≤ {EXPLAIN_SECONDS} s",
                           f"{seconds:.3f} s", seconds <= EXPLAIN_SECONDS))
    return goals
