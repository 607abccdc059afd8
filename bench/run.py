"""The benchmark suite: a full SGD training step of chainrule vs PyTorch eager vs NumPy.

    .venv/bin/python bench/run.py            # everything (a few minutes), or: make bench
    .venv/bin/python bench/run.py --quick    # a smoke run: few repeats, short blocks

Prints a table and writes bench/results/<UTC time>.json and bench/results/latest.json.
BLAS is pinned to one thread (threadpoolctl) and PyTorch to one thread; see bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from bench import measure, startup
from bench.goals import check_goals
from bench.impls import IMPLEMENTATIONS
from bench.measure import buffers
from bench.networks import BY_NAME, NETWORKS, Network

RESULTS = Path(__file__).resolve().parent / "results"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 3 repeats of short blocks, no CLI repeats")
    parser.add_argument("--networks", nargs="+", choices=list(BY_NAME), metavar="NAME",
                        help=f"a subset of: {', '.join(BY_NAME)}")
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"],
                        choices=["float64", "float32"])
    parser.add_argument("--impls", nargs="+", default=list(IMPLEMENTATIONS),
                        choices=list(IMPLEMENTATIONS))
    parser.add_argument("--repeats", type=int, help="timed blocks per implementation")
    parser.add_argument("--threads", type=int, default=1, help="BLAS and PyTorch threads")
    parser.add_argument("--skip-cli", action="store_true",
                        help="don't time the command line's start-up (bench/startup.py)")
    parser.add_argument("--output", type=Path, help="the JSON file (default: bench/results/)")
    return parser.parse_args(argv)


def machine(threads: int) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    versions = {"python": platform.python_version(), "numpy": np.__version__}
    try:
        import torch

        versions["torch"] = torch.__version__
    except ImportError:
        pass
    blas = [{k: info.get(k) for k in ("internal_api", "version", "num_threads")}
            for info in threadpool_info()]
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "platform": platform.platform(),
            "threads": threads, "versions": versions, "threadpools": blas}


def bench_network(net: Network, dtype: str, args: argparse.Namespace,
                  peak_flops: float) -> dict[str, Any]:
    impls = [IMPLEMENTATIONS[label](net, dtype) for label in args.impls]
    block = 0.004 if args.quick else 0.1
    repeats = args.repeats or (3 if args.quick else 21)
    samples = measure.time_interleaved(impls, repeats, block, warmup_steps=2 if args.quick else 5)
    phase_steps = 3 if args.quick else max(5, min(200, int(0.5 / min(
        statistics.median(s) for s in samples.values()))))
    itemsize = np.dtype(dtype).itemsize
    out: dict[str, Any] = {
        "network": net.name, "dtype": dtype, "batch": net.batch,
        "step_flops": net.step_flops(),
        "ideal_backward_forward": net.backward_flops() / net.forward_flops(),
        "memory_floor_bytes": net.memory_floor(itemsize), "impls": {},
    }
    for impl in impls:
        seconds = statistics.median(samples[impl.label])
        phases = measure.time_phases(impl, phase_steps)
        memory = (measure.peak_memory_torch(impl) if impl.label == "pytorch"
                  else measure.peak_memory_tracemalloc(impl))
        extra = ({"buffer_pool_bytes": buffers.held_bytes()}
                 if impl.label == "chainrule" and buffers is not None else {})
        out["impls"][impl.label] = {
            "us_per_step": seconds * 1e6,
            "samples": [s * 1e6 for s in samples[impl.label]],
            "samples_per_s": net.batch / seconds,
            "fraction_of_matmul_peak": net.step_flops() / seconds / peak_flops,
            "phases_us": {name: t * 1e6 for name, t in phases.items()},
            "backward_forward": phases["backward"] / phases["forward"],
            "peak_memory_bytes": memory,
            "loss": impl.loss_value(),
            **extra,  # chainrule: the arrays its buffer pool keeps between steps
        }
    if "pytorch" in out["impls"]:
        torch_us = out["impls"]["pytorch"]["us_per_step"]
        for result in out["impls"].values():
            result["ratio_vs_pytorch"] = result["us_per_step"] / torch_us
    return out


def peak_shapes(networks: list[Network], quick: bool) -> list[tuple[int, int, int]]:
    """Square products, and every product a step of the biggest network makes (forward,
    ∂E/∂W, ∂E/∂a): the peak is the best of them, so a fraction of it is never flattering."""
    if quick:
        return [(256, 256, 256), (512, 512, 512)]
    shapes = [(n, n, n) for n in (512, 1024, 2048)]
    biggest = max(networks, key=Network.step_flops)
    for n_in, n_out in biggest.pairs:
        shapes += [(biggest.batch, n_in, n_out), (n_in, biggest.batch, n_out),
                   (biggest.batch, n_out, n_in)]
    return shapes


def table(results: list[dict[str, Any]]) -> str:
    head = (f"{'network':<17} {'dtype':<7} {'impl':<9} {'µs/step':>10} {'samples/s':>10} "
            f"{'×torch':>7} {'peak%':>6} {'fwd µs':>9} {'bwd µs':>9} {'bwd/fwd':>8} "
            f"{'ideal':>6} {'mem MB':>8} {'floor':>7}")
    lines = [head, "-" * len(head)]
    for row in results:
        for label, r in row["impls"].items():
            ratio = r.get("ratio_vs_pytorch")
            lines.append(
                f"{row['network']:<17} {row['dtype']:<7} {label:<9} {r['us_per_step']:>10.1f} "
                f"{r['samples_per_s']:>10.0f} {'' if ratio is None else f'{ratio:.3f}':>7} "
                f"{100 * r['fraction_of_matmul_peak']:>6.1f} {r['phases_us']['forward']:>9.1f} "
                f"{r['phases_us']['backward']:>9.1f} {r['backward_forward']:>8.2f} "
                f"{row['ideal_backward_forward']:>6.2f} {r['peak_memory_bytes'] / 1e6:>8.3f} "
                f"{row['memory_floor_bytes'] / 1e6:>7.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    networks = [BY_NAME[name] for name in args.networks] if args.networks else NETWORKS
    if "pytorch" in args.impls:
        import torch

        torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads):
        peaks = {dtype: measure.matmul_peak(dtype, peak_shapes(networks, args.quick),
                                            3 if args.quick else 7)
                 for dtype in args.dtypes}
        results = [bench_network(net, dtype, args, peaks[dtype])
                   for net in networks for dtype in args.dtypes]
        machine_info = machine(args.threads)  # inside the limits: the thread counts in force
    # whole processes beside `python -c "import numpy"`, round by round (bench/startup.py)
    started = None if args.skip_cli else startup.measure(2 if args.quick else 11)
    cli = {} if started is None else {name: started["commands"][name]["seconds"]
                                      for name in ("explain", "verify")}
    report = {
        "schema": "chainrule.bench/1", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join([Path(sys.executable).name, "bench/run.py", *(argv or sys.argv[1:])]),
        "quick": args.quick, "machine": machine_info,
        "matmul_peak_flops": peaks, "results": results,
        "cli_seconds": {name: {"median": statistics.median(t), "samples": t}
                        for name, t in cli.items()},
        **({} if started is None else {"startup": started}),
    }
    report["goals"] = check_goals(report)
    _write(report, args.output)
    _print(report)
    return 0


def _write(report: dict[str, Any], output: Path | None) -> None:
    text = json.dumps(report, indent=2)
    if output is None:
        RESULTS.mkdir(exist_ok=True)
        output = RESULTS / f"{report['when'].replace(':', '')}.json"
        (RESULTS / "latest.json").write_text(text)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    report["written_to"] = str(output)


def _print(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(f"{m['cpu']}, {m['logical_cpus']} logical CPUs, {m['threads']} thread(s); "
          + ", ".join(f"{k} {v}" for k, v in m["versions"].items()))
    print("matmul peak (1 thread): " + ", ".join(
        f"{dtype} {flops / 1e9:.1f} GFLOP/s"
        for dtype, flops in report["matmul_peak_flops"].items()))
    print()
    print(table(report["results"]))
    if "startup" in report:
        print()
        print(startup.table(report["startup"]))
    print()
    for goal in report["goals"]:
        mark = {True: "met", False: "NOT met", None: "n/a"}[goal["met"]]
        print(f"  [{mark:>7}] {goal['goal']}: {goal['measured']}")
    print(f"\nwrote {report['written_to']}")


if __name__ == "__main__":
    sys.exit(main())
