"""Compiled voice kernel: the Erlang loss decisions of every cell, one arrival at a time.

A cell's voice channels are a row of ``slot_end`` (when each channel's call ends; ``inf`` for
a channel the cell does not have) and ``slot_sub`` (whose call it is, -1 for none). An arrival
is carried if the earliest-ending channel is free at its time (ends at or before it), and then
takes that channel until ``time + duration``; else it is blocked and cleared. Ties between
channels ending at the same time go to the lowest index, as ``numpy.argmin`` breaks them.

Two implementations with the same decisions:

* :func:`erlang_loss_per_cell`, compiled by numba: a plain loop over the cells and their
  arrivals, the way the model is stated. About 30 ns per call with 30 channels.
* :func:`erlang_loss_lockstep`, numpy only: every cell's *j*-th arrival in one vectorised step,
  so a Python step per arrival of the busiest cell. About 160 ns per call. It was the kernel
  before numba; it stays as the reference the compiled one is tested against
  (``tests/test_kernels.py``).

The compiled code is cached on disk (``cache=True``: in ``__pycache__`` beside this file, or,
where that is not writable, numba's per-user cache directory, or ``NUMBA_CACHE_DIR``), so only
the first run after an install or a change pays the compile time; docs/kernels.md has the
figures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit

__all__ = ["erlang_loss_lockstep", "erlang_loss_per_cell", "sort_within_cells"]


def compiled(function: Callable[..., Any]) -> Any:
    """``function`` compiled by numba, cached on disk where numba finds a writable directory.

    With neither ``__pycache__`` beside this file nor numba's user cache (``~/.cache/numba``,
    or ``NUMBA_CACHE_DIR``) writable, ``cache=True`` raises at import time; the kernel is then
    compiled on each run's first call instead (about a second), rather than failing.
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


def erlang_loss_lockstep(
    slot_end: np.ndarray,
    slot_sub: np.ndarray,
    n: np.ndarray,
    time: np.ndarray,
    duration: np.ndarray,
    sub: np.ndarray,
) -> np.ndarray:
    """Offer arrivals to every cell's channels; return which were carried (numpy reference).

    Same arguments and decisions as :func:`erlang_loss_per_cell`. Step *j* handles the *j*-th
    arrival of every cell that has one, with the cells ordered by arrival count so that the
    active ones are always a leading slice of the arrays.
    """
    carried = np.zeros(len(time), dtype=bool)
    busy = np.flatnonzero(n)
    if len(busy) == 0:
        return carried
    first = np.concatenate([[0], np.cumsum(n)[:-1]])
    order = busy[np.argsort(-n[busy], kind="stable")]
    counts = n[order]
    steps, width = int(counts[0]), len(order)
    # Arrival j of the r-th busiest cell sits at [j, r]: each step reads one contiguous row.
    rank = np.empty(len(n), dtype=np.int64)
    rank[order] = np.arange(width)
    call_cell = np.repeat(np.arange(len(n)), n)
    call_row = rank[call_cell]
    call_step = np.arange(len(time)) - first[call_cell]
    arrival = np.full((steps, width), np.inf)
    arrival[call_step, call_row] = time
    leaves = np.full((steps, width), np.inf)
    leaves[call_step, call_row] = time + duration
    caller = np.full((steps, width), -1, dtype=np.int64)
    caller[call_step, call_row] = sub
    admitted = np.zeros((steps, width), dtype=bool)
    end = slot_end[order]
    owner = slot_sub[order]
    channels = end.shape[1]
    flat_end, flat_owner = end.reshape(-1), owner.reshape(-1)
    # active[j]: how many of the ordered cells have a j-th arrival (a leading slice)
    active = np.searchsorted(-counts, -np.arange(steps), side="left")
    row_base = np.arange(width) * channels
    for j in range(steps):
        k = int(active[j])
        slot = row_base[:k] + end[:k].argmin(axis=1)
        free = flat_end[slot] <= arrival[j, :k]
        if not free.all():
            admitted[j, :k] = free
            chosen = slot[free]
            flat_end[chosen] = leaves[j, :k][free]
            flat_owner[chosen] = caller[j, :k][free]
        else:
            admitted[j, :k] = True
            flat_end[slot] = leaves[j, :k]
            flat_owner[slot] = caller[j, :k]
    carried[:] = admitted[call_step, call_row]
    slot_end[order] = end
    slot_sub[order] = owner
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
