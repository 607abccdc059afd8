"""Big arrays kept for reuse: a training step makes the same ones every step.

Why: a step of a large network allocates the same arrays each time — every layer's ``z``
and ``a``, every delta, every weight gradient. When such a block is freed, glibc's malloc
often gives it back to the kernel, and the next step's block is then faulted in again,
4 KiB page by page, zero-filled. On the 784-1024-1024-10 benchmark that was about a third of
the step (bench/README.md). NumPy's own cache keeps only small blocks.

How: :func:`empty` hands out an array from the pool that nothing else references any more
— its reference count says only the pool holds it — or makes a new one and keeps it. An
array somebody still holds (a tensor of a graph that is alive, a ``.grad``, a view of it,
a list a user appended it to) is never handed out again. Arrays under :data:`MIN_SIZE` elements
are left to malloc, which recycles small blocks well; the pool holds at most :data:`MAX_BYTES`
and :func:`clear` empties it. Rules use it only for the output they would allocate anyway,
so what they compute is unchanged.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

# Elements: 128 KiB of float64, glibc's first threshold for mmap; malloc recycles less well.
MIN_SIZE = 1 << 14
MAX_BYTES = 1 << 30  # the pool keeps at most 1 GiB of arrays (in use or spare)

_pool: dict[tuple[tuple[int, ...], np.dtype], list[np.ndarray]] = {}
_held_bytes = 0


def _references_when_free() -> int:
    """The reference count an array has when only a pool list holds it, seen from a loop
    written exactly as :func:`empty`'s, so the figure fits whatever interpreter runs."""
    arrays = [np.empty(0)]
    for array in arrays:
        return sys.getrefcount(array)
    raise AssertionError("unreachable")


_FREE = _references_when_free()


def output(shape: tuple[int, ...], dtype: Any) -> np.ndarray | None:
    """For a rule's ``out=``: a reused array when ``shape`` is big, else None (NumPy then
    allocates, as it would without ``out=``; the pool's bookkeeping would cost more)."""
    return None if math.prod(shape) < MIN_SIZE else empty(shape, dtype)


def empty(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialised C-contiguous array of ``shape`` and ``dtype``, reused when possible."""
    global _held_bytes
    dtype = np.dtype(dtype)
    count = math.prod(shape)
    if count < MIN_SIZE:
        return np.empty(shape, dtype)
    size = count * dtype.itemsize
    key = (shape, dtype)
    arrays = _pool.get(key)
    if arrays is None:
        arrays = _pool[key] = []
    for array in arrays:
        if sys.getrefcount(array) <= _FREE:
            return array
    array = np.empty(shape, dtype)
    if _held_bytes + size > MAX_BYTES:
        _drop_spare()
    if _held_bytes + size <= MAX_BYTES:
        arrays.append(array)
        _held_bytes += size
    return array


def _drop_spare() -> None:
    """Let go of every array nobody uses (the pool is full, perhaps of old shapes)."""
    global _held_bytes
    for key, arrays in list(_pool.items()):
        kept = []
        for array in arrays:
            if sys.getrefcount(array) <= _FREE:
                _held_bytes -= array.nbytes
            else:
                kept.append(array)
        _pool[key] = kept


def held_bytes() -> int:
    """Bytes of the arrays the pool keeps (in use or spare)."""
    return _held_bytes


def clear() -> None:
    """Forget every kept array (arrays still in use stay valid: they just aren't reused)."""
    global _held_bytes
    _pool.clear()
    _held_bytes = 0
