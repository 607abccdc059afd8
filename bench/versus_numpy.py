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

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from bench.impls import ChainruleStep, NumpyStep  # noqa: E402
from bench.measure import time_interleaved  # noqa: E402
from bench.networks import NETWORKS  # noqa: E402

NAMES = [net.name for net in NETWORKS]


def compare(name: str, dtype: str, rounds: int) -> tuple[float, float]:
    """Median µs/step of chainrule and of NumPy, blocks of ~20 ms taking turns."""
    net = {n.name: n for n in NETWORKS}[name]
    samples = time_interleaved([ChainruleStep(net, dtype), NumpyStep(net, dtype)], rounds,
                               block_seconds=0.02, warmup_steps=20)
    return (statistics.median(samples["chainrule"]) * 1e6,
            statistics.median(samples["numpy"]) * 1e6)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("networks", nargs="*", default=["2-2-1", "2-16-1", "64-128-10"],
                        choices=NAMES, metavar="NETWORK")
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
