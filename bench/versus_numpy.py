"""chainrule's step against the hand-written NumPy step, interleaved in one process.

A quick A/B for engine work: run it once with the engine you have and once with another
(``PYTHONPATH=<other checkout>/src``), back to back, and compare the ratios — the hand-written
step, which does not change, absorbs the machine's drift between the two runs.

    .venv/bin/python bench/versus_numpy.py [NETWORK ...] [--dtype float32] [--rounds 25]
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from bench.impls import ChainruleStep, NumpyStep  # noqa: E402
from bench.networks import NETWORKS  # noqa: E402

# Steps per timed block: about 10-50 ms of work each, so a block is many steps but short.
STEPS_PER_BLOCK = {"2-2-1": 400, "2-16-1": 400, "64-128-10": 150, "784-256-128-10": 15,
                   "784-1024-1024-10": 2}


def compare(name: str, dtype: str, rounds: int) -> tuple[float, float]:
    """Median µs/step of chainrule and of NumPy, blocks alternating in order each round."""
    net = {n.name: n for n in NETWORKS}[name]
    impls = [ChainruleStep(net, dtype), NumpyStep(net, dtype)]
    steps = STEPS_PER_BLOCK[name]
    times: dict[str, list[float]] = {impl.label: [] for impl in impls}
    for impl in impls:  # warm-up
        for _ in range(steps):
            impl.step()
    for round_ in range(rounds):
        for impl in impls if round_ % 2 else impls[::-1]:
            start = time.perf_counter()
            for _ in range(steps):
                impl.step()
            times[impl.label].append((time.perf_counter() - start) / steps * 1e6)
    return statistics.median(times["chainrule"]), statistics.median(times["numpy"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("networks", nargs="*", default=["2-2-1", "2-16-1", "64-128-10"],
                        choices=list(STEPS_PER_BLOCK), metavar="NETWORK")
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        for name in args.networks:
            ours, numpy = compare(name, args.dtype, args.rounds)
            print(f"{name} {args.dtype}: chainrule {ours:.1f} µs, numpy {numpy:.1f} µs, "
                  f"ratio {ours / numpy:.2f}")


if __name__ == "__main__":
    main()
