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

__all__ = [
    "compiled",
    "erlang_loss_per_cell",
    "pick_subscribers",
    "sort_within_cells",
    "voice_catch_up",
]


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
def _offer(
    slot_end: np.ndarray, slot_sub: np.ndarray, cell: int, time: float, duration: float, sub: int
) -> bool:  # pragma: no cover - compiled
    """Offer one call to ``cell``'s channels: take the earliest-ending one if it is free at
    ``time``; whether it was carried."""
    # the earliest-ending channel; strict < keeps the lowest index on ties (argmin)
    best = 0
    best_end = slot_end[cell, 0]
    for k in range(1, slot_end.shape[1]):
        if slot_end[cell, k] < best_end:
            best_end = slot_end[cell, k]
            best = k
    if best_end <= time:
        slot_end[cell, best] = time + duration
        slot_sub[cell, best] = sub
        return True
    return False


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
            carried[i] = _offer(slot_end, slot_sub, cell, time[i], duration[i], sub[i])
            i += 1
    return carried


@compiled
def voice_catch_up(
    cells: np.ndarray,
    time: np.ndarray,
    duration: np.ndarray,
    sub: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    done: np.ndarray,
    now: float,
    cuts: np.ndarray,
    asleep: np.ndarray,
    released: np.ndarray,
    any_released: bool,
    in_service: np.ndarray,
    slot_end: np.ndarray,
    slot_sub: np.ndarray,
    offered: np.ndarray,
    failed: np.ndarray,
    carried: np.ndarray,
    blocked: np.ndarray,
    offered_es: np.ndarray,
    carried_es: np.ndarray,
    usage: np.ndarray,
    scratch: np.ndarray,
    pending: np.ndarray,
) -> int:  # pragma: no cover - compiled; tested against TrafficKernel's numpy reference
    """Offer a segment's voice arrivals ``first[r]:last[r]`` (those of cell ``cells[r]``, in
    time order) that fall in ``[done[cell], now)``, leaving out sleeping cells and released
    subscribers (looked up only if ``any_released``); count them and credit the carried calls'
    seconds. Returns the calls offered.

    One pass instead of the numpy reference's (``TrafficKernel._voice_reference``), with
    every float added in the reference's order: per cell, each piece's seconds (between the
    ``cuts``) summed from 0.0 and added to the cell's total piece after piece; per subscriber,
    piece after piece, the piece's carried seconds summed from 0.0 in arrival order, added to
    ``usage`` once. ``scratch`` and ``pending`` are all zero / False on entry and on return.
    """
    total = 0
    for r in range(len(first)):
        total += last[r] - first[r]
    # the carried calls, in arrival order, for the usage (a piece at a time) after the loop
    call_sub = np.empty(total, dtype=np.int64)
    call_piece = np.empty(total, dtype=np.int64)
    call_s = np.empty(total)
    k = 0
    calls = 0
    any_channel = slot_end.shape[1] > 0
    for r in range(len(first)):
        piece = 0
        offered_sum = 0.0  # this piece's seconds so far
        offered_run = False
        carried_sum = 0.0
        carried_run = False
        c = cells[r]
        for i in range(first[r], last[r]):
            t = time[i]
            if t < done[c] or t >= now or asleep[c] or (any_released and released[sub[i]]):
                continue
            while piece < len(cuts) and cuts[piece] <= t:  # searchsorted(cuts, t, "right")
                piece += 1
                if offered_run:
                    offered_es[c] += offered_sum
                    offered_sum, offered_run = 0.0, False
                if carried_run:
                    carried_es[c] += carried_sum
                    carried_sum, carried_run = 0.0, False
            calls += 1
            offered[c] += 1
            offered_sum += duration[i]
            offered_run = True
            if not in_service[c]:
                failed[c] += 1
            elif any_channel and _offer(slot_end, slot_sub, c, t, duration[i], sub[i]):
                carried[c] += 1
                carried_sum += duration[i]
                carried_run = True
                call_sub[k] = sub[i]
                call_piece[k] = piece
                call_s[k] = duration[i]
                k += 1
            else:
                blocked[c] += 1
        if offered_run:
            offered_es[c] += offered_sum
        if carried_run:
            carried_es[c] += carried_sum
    # usage, piece after piece: a stable counting sort of the carried calls by piece
    per_piece = np.zeros(len(cuts) + 2, dtype=np.int64)
    for j in range(k):
        per_piece[call_piece[j] + 1] += 1
    for p in range(len(cuts) + 1):
        per_piece[p + 1] += per_piece[p]
    order = np.empty(k, dtype=np.int64)
    at = per_piece[:-1].copy()
    for j in range(k):
        order[at[call_piece[j]]] = j
        at[call_piece[j]] += 1
    for p in range(len(cuts) + 1):
        for j in order[per_piece[p] : per_piece[p + 1]]:
            scratch[call_sub[j]] += call_s[j]
            pending[call_sub[j]] = True
        for j in order[per_piece[p] : per_piece[p + 1]]:
            s = call_sub[j]
            if pending[s]:
                usage[s] += scratch[s]
                scratch[s] = 0.0
                pending[s] = False
    return calls


# Blocks up to this long are sorted by insertion alone (a handful of arrivals per cell and
# segment is the common case at national scale); longer ones are first spread into buckets.
_INSERTION_MAX = 16


@compiled
def sort_within_cells(key: np.ndarray, counts: np.ndarray) -> np.ndarray:  # pragma: no cover
    """``key`` sorted in place, ``counts[i]`` values at a time; returns ``key``.

    For the arrivals' keys, cell + fraction with the cells in increasing order, every block
    lies within [cell, cell + 1] and above the blocks before it, so sorting each block gives
    exactly ``numpy.sort(key)``: the same values in the same order, so the same draws.

    A block of *m* keys longer than :data:`_INSERTION_MAX` is first spread into *m* equal
    buckets between its least and greatest key (a counting sort on the bucket), which leaves
    the uniform fractions nearly in order; an insertion sort then finishes every block, so
    the result is sorted whatever the buckets did. About 10 ns per key for blocks of 150 keys,
    against 35 for numba's quicksort (docs/kernels.md).
    """
    start = 0
    spread = np.empty(0)
    bucket_end = np.empty(0, dtype=np.int64)
    for block in range(len(counts)):
        m = counts[block]
        end = start + m
        if m > _INSERTION_MAX:
            if len(spread) < m:
                spread = np.empty(2 * m)
                bucket_end = np.empty(2 * m + 1, dtype=np.int64)
            lo = key[start]
            hi = key[start]
            for i in range(start + 1, end):
                lo = min(lo, key[i])
                hi = max(hi, key[i])
            scale = m / (hi - lo) if hi > lo else np.inf
            if scale < np.inf:  # else all equal, or too close to spread (a subnormal width)
                bucket_end[: m + 1] = 0
                for i in range(start, end):
                    bucket_end[min(int((key[i] - lo) * scale), m - 1) + 1] += 1
                for b in range(m):
                    bucket_end[b + 1] += bucket_end[b]
                for i in range(start, end):
                    b = min(int((key[i] - lo) * scale), m - 1)
                    spread[bucket_end[b]] = key[i]
                    bucket_end[b] += 1
                key[start:end] = spread[:m]
        for i in range(start + 1, end):
            value = key[i]
            j = i - 1
            while j >= start and key[j] > value:
                key[j + 1] = key[j]
                j -= 1
            key[j + 1] = value
        start = end
    return key


@compiled
def pick_subscribers(
    by_cell: np.ndarray,
    cell_first: np.ndarray,
    cell_count: np.ndarray,
    cell: np.ndarray,
    uniform: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled; tested against SubscriberBase.pick's numpy
    """For each arrival, the subscriber ``uniform`` picks among those homed on its cell:
    ``SubscriberBase.pick``'s numpy, one arrival at a time."""
    sub = np.empty(len(cell), dtype=np.int64)
    for i in range(len(cell)):
        c = cell[i]
        sub[i] = by_cell[cell_first[c] + np.int64(uniform[i] * cell_count[c])]
    return sub
