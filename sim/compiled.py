"""The compiled kernels (numba), loaded by :mod:`sim.kernels` only when a run is big enough.

Importing this module imports numba and loading its first function sets numba up: 0.4 s
in-process, 0.6 to 0.9 s of a whole run, with the compiled code cached (docs/kernels.md), so
:mod:`sim.kernels` imports it only for the first piece of work large enough to pay for it.
The code is cached on disk (``cache=True``: in ``__pycache__`` beside this file, or, where
that is not writable, numba's per-user cache directory or ``NUMBA_CACHE_DIR``), so only the
first run after an install or a change compiles it (2 to 3 s more).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit

__all__ = ["compiled", "erlang_loss_per_cell", "sort_within_cells"]


def compiled(function: Callable[..., Any]) -> Any:
    """``function`` compiled by numba, cached on disk where numba finds a writable directory.

    With neither ``__pycache__`` beside this file nor numba's user cache (``~/.cache/numba``,
    or ``NUMBA_CACHE_DIR``) writable, ``cache=True`` raises at import time; the kernel is then
    compiled on each run's first call instead (2 to 3 s), rather than failing.
    """
    try:
        return njit(cache=True, nogil=True)(function)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return njit(nogil=True)(function)


@compiled
def erlang_loss_per_cell(
    slot_end: np.ndarray,
    slot_sub: np.ndarray,
    n: np.ndarray,
    time: np.ndarray,
    duration: np.ndarray,
    sub: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled; its decisions are tested against the reference
    """Offer arrivals to every cell's channels; return which were carried.

    ``time``, ``duration`` and ``sub`` are cell-major and time-ordered within each cell, ``n``
    the number of arrivals per cell. ``slot_end`` and ``slot_sub`` are updated in place.
    """
    carried = np.zeros(len(time), dtype=np.bool_)
    channels = slot_end.shape[1]
    if channels == 0:
        return carried
    i = 0
    for cell in range(len(n)):
        for _ in range(n[cell]):
            # the earliest-ending channel; strict < keeps the lowest index on ties (argmin)
            best = 0
            best_end = slot_end[cell, 0]
            for k in range(1, channels):
                if slot_end[cell, k] < best_end:
                    best_end = slot_end[cell, k]
                    best = k
            if best_end <= time[i]:
                slot_end[cell, best] = time[i] + duration[i]
                slot_sub[cell, best] = sub[i]
                carried[i] = True
            i += 1
    return carried


# Blocks up to this long are sorted by insertion (a handful of arrivals per cell and segment is
# the common case at national scale); longer ones by numpy's sort, compiled.
_INSERTION_MAX = 48


@compiled
def sort_within_cells(key: np.ndarray, counts: np.ndarray) -> np.ndarray:  # pragma: no cover
    """``key`` sorted in place, ``counts[i]`` values at a time; returns ``key``.

    For the arrivals' keys, cell + fraction with the cells in increasing order, every block
    lies within [cell, cell + 1] and above the blocks before it, so sorting each block gives
    exactly ``numpy.sort(key)``: the same values in the same order, so the same draws.
    """
    start = 0
    for block in range(len(counts)):
        end = start + counts[block]
        if end - start > _INSERTION_MAX:
            key[start:end].sort()
        else:
            for i in range(start + 1, end):
                value = key[i]
                j = i - 1
                while j >= start and key[j] > value:
                    key[j + 1] = key[j]
                    j -= 1
                key[j + 1] = value
        start = end
    return key
