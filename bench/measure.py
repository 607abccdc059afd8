"""How the suite measures: interleaved step timings, phase timings, peak memory, matmul peak.
Every figure is a median over repeats; whole CLI processes are timed by bench/startup.py."""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from typing import Any, Sequence

import numpy as np

try:
    from chainrule.autodiff import buffers
except ImportError:  # a chainrule from before the buffer pool: the suite compares versions too
    buffers = None


def calibrate(impl: Any, block_seconds: float, warmup_steps: int) -> int:
    """Warm ``impl`` up, then pick how many steps one timed block holds (at least one)."""
    for _ in range(warmup_steps):
        impl.step()
    started = time.perf_counter()
    impl.step()
    one = time.perf_counter() - started
    return max(1, int(block_seconds / max(one, 1e-7)))


def time_interleaved(impls: Sequence[Any], repeats: int, block_seconds: float,
                     warmup_steps: int) -> dict[str, list[float]]:
    """Seconds per step, one sample per block; the implementations take turns block by block
    (the order rotating each repeat), so a slow drift of the machine hits them all alike."""
    inner = {impl.label: calibrate(impl, block_seconds, warmup_steps) for impl in impls}
    samples: dict[str, list[float]] = {impl.label: [] for impl in impls}
    for repeat in range(repeats):
        turn = repeat % len(impls)
        for impl in [*impls[turn:], *impls[:turn]]:
            count = inner[impl.label]
            step = impl.step
            started = time.perf_counter()
            for _ in range(count):
                step()
            samples[impl.label].append((time.perf_counter() - started) / count)
    return samples


def time_phases(impl: Any, steps: int) -> dict[str, float]:
    """Median seconds of the forward (through the loss), backward and update phases."""
    phases: dict[str, list[float]] = {"forward": [], "backward": [], "update": []}
    clock = time.perf_counter
    for _ in range(steps):
        t0 = clock()
        impl.forward()
        t1 = clock()
        impl.backward()
        t2 = clock()
        impl.update()
        t3 = clock()
        phases["forward"].append(t1 - t0)
        phases["backward"].append(t2 - t1)
        phases["update"].append(t3 - t2)
    return {name: statistics.median(values) for name, values in phases.items()}


def _one_step_in_phases(impl: Any) -> None:
    impl.forward()
    impl.backward()
    impl.update()


def peak_memory_tracemalloc(impl: Any) -> int:
    """Bytes allocated at the peak of one step above what was live before it.

    NumPy reports its array buffers to tracemalloc, so this counts arrays and Python objects
    (tensors, graph nodes) alike. The step starts with the gradients cleared, and with
    chainrule's pool of reusable arrays emptied: every array the step needs is then a new
    allocation, counted here, rather than one kept from the step before.
    """
    _one_step_in_phases(impl)
    if buffers is not None:
        buffers.clear()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        _one_step_in_phases(impl)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - before


def peak_memory_torch(impl: Any) -> int:
    """The same figure for PyTorch, whose CPU allocator tracemalloc cannot see: the profiler's
    allocation events (``profile_memory=True``), summed in time order, peak above the start."""
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    _one_step_in_phases(impl)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        _one_step_in_phases(impl)
    events: list[tuple[int, int]] = []

    def walk(nodes) -> None:
        for node in nodes:
            if node.tag == _EventType.Allocation:
                events.append((node.start_time_ns, node.extra_fields.alloc_size))
            walk(node.children)

    walk(prof.profiler.kineto_results.experimental_event_tree())
    live = peak = 0
    for _, size in sorted(events):
        live += size
        peak = max(peak, live)
    return peak


def matmul_peak(dtype: str, shapes: Sequence[tuple[int, int, int]], repeats: int) -> float:
    """The machine's matrix-product peak, FLOP/s: the best of ``repeats`` products (m, k) @
    (k, n) for each shape, the fastest shape counting (one BLAS thread)."""
    rng = np.random.default_rng(0)
    best_rate = 0.0
    for m, k, n in shapes:
        a = rng.normal(size=(m, k)).astype(dtype)
        b = rng.normal(size=(k, n)).astype(dtype)
        out = np.empty((m, n), dtype=dtype)
        np.matmul(a, b, out=out)  # warm-up
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            np.matmul(a, b, out=out)
            best = min(best, time.perf_counter() - started)
        best_rate = max(best_rate, 2 * m * k * n / best)
    return best_rate


def side_by_side_cli(doc: str, measure, argv, repeats: int, batch: int,
                     columns: Sequence[tuple[str, str, str]]) -> int:
    """The command line of a side-by-side script (bench/cnn.py, bench/sequence.py):
    ``--repeats``, ``--batch`` and ``--json``, then a table of ``measure``'s rows, each column
    (header, the row's key, its format: ``>13,.1f``)."""
    import argparse
    import json
    import re

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--batch", type=int, default=batch)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure(max(1, args.repeats), max(1, args.batch))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    widths = [int(re.match(r"[<>]?(\d+)", fmt).group(1)) for _, _, fmt in columns]
    print(" ".join(f"{header:>{w}}" if fmt.startswith(">") else f"{header:<{w}}"
                   for (header, _, fmt), w in zip(columns, widths)))
    for row in result["rows"]:
        print(" ".join(format(row[key], fmt) for _, key, fmt in columns))
    return 0
