"""How the suite measures: interleaved step timings, phase timings, peak memory, matmul peak,
and the wall time of a whole CLI process. Every figure is a median over repeats."""

from __future__ import annotations

import atexit
import gc
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
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


def cli_wall(args: list[str], repeats: int) -> list[float]:
    """Wall seconds of ``chainrule ARGS`` as a fresh process (imports included), one BLAS
    thread as in the rest of the run, after one untimed run.

    As an installed package would, the processes use compiled bytecode: the untimed run
    writes it (under a temporary PYTHONPYCACHEPREFIX, so the source tree stays clean) even
    where PYTHONDONTWRITEBYTECODE is set, which would otherwise recompile every module."""
    script = Path(sys.executable).with_name("chainrule")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "chainrule"]
    env = {key: value for key, value in os.environ.items()
           if key != "PYTHONDONTWRITEBYTECODE"}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPYCACHEPREFIX=_pycache_dir())
    times = []
    for run in range(repeats + 1):
        started = time.perf_counter()
        done = subprocess.run([*command, *args], capture_output=True, env=env)
        if run > 0:
            times.append(time.perf_counter() - started)
        if done.returncode not in (0, 1):  # verify exits 1 when a method disagrees
            raise RuntimeError(f"chainrule {' '.join(args)} failed: {done.stderr.decode()}")
    return times


def _pycache_dir() -> str:
    global _PYCACHE
    if _PYCACHE is None:
        _PYCACHE = tempfile.mkdtemp(prefix="chainrule-bench-pycache-")
        atexit.register(shutil.rmtree, _PYCACHE, ignore_errors=True)
    return _PYCACHE


_PYCACHE: str | None = None
