"""The traffic kernels' inner loops: voice decisions per cell, and the arrivals' sort.

*Voice.* A cell's voice channels are a row of ``slot_end`` (when each channel's call ends;
``inf`` for a channel the cell does not have) and ``slot_sub`` (whose call it is, -1 for none).
An arrival is carried if the earliest-ending channel is free at its time (ends at or before
it), and then takes that channel until ``time + duration``; else it is blocked and cleared.
Ties between channels ending at the same time go to the lowest index, as ``numpy.argmin``
breaks them. Two implementations make the same decisions and leave the same channels:

* :func:`sim.compiled.erlang_loss_per_cell`, compiled by numba: a plain loop over the cells
  and their arrivals, the way the model is stated; about 40 ns per call with 30 channels;
* :func:`erlang_loss_lockstep`, numpy only: every cell's *j*-th arrival in one vectorised
  step, so a Python step per arrival of the busiest cell; about 160 ns per call on a national
  segment, far more on small ones. It was the kernel before numba, and it is the reference the
  compiled one is tested against (``tests/test_kernels.py``).

*Arrivals' sort.* ``_Arrivals.draw`` sorts cell + fraction keys to get the arrivals
cell-major and in time order; :func:`sim.compiled.sort_within_cells` sorts each cell's block
alone, which gives the same array as ``numpy.sort``, so the same draws.
:func:`sim.compiled.pick_subscribers` then picks the callers as ``SubscriberBase.pick`` does
with numpy.

*Voice catch-up.* :func:`sim.compiled.voice_catch_up` makes the loss decisions and, in the
same pass, the per-cell counts, the erlang-seconds per cell and piece and the usage per
subscriber, adding the floats in the order of ``TrafficKernel._voice_reference`` (numpy,
which calls :func:`erlang_loss`), so the same bits.

*Which one runs.* Loading numba costs 0.6 to 0.9 s of a run (docs/kernels.md), more than the
compiled code saves on a small network. :func:`erlang_loss`, :func:`sort_cell_major` and
:func:`compiled_kernel` give the compiled code for a piece of work of at least
:data:`COMPILED_FROM` items, or once it is loaded; numpy below that. The choice changes the
time taken, never a result.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "COMPILED_FROM",
    "compiled_kernel",
    "erlang_loss",
    "erlang_loss_lockstep",
    "sort_cell_major",
]

# Calls (or keys) in one piece from which the compiled code is loaded: a national segment has
# about 140,000 calls, a metro one (scenarios/metro.yaml) at most 2,700.
COMPILED_FROM = 10_000


def _compiled_ready(items: int) -> bool:
    """Whether to use the compiled code for ``items``: big enough, or loaded already."""
    return items >= COMPILED_FROM or "sim.compiled" in sys.modules


def erlang_loss(
    slot_end: np.ndarray,
    slot_sub: np.ndarray,
    n: np.ndarray,
    time: np.ndarray,
    duration: np.ndarray,
    sub: np.ndarray,
) -> np.ndarray:
    """:func:`sim.compiled.erlang_loss_per_cell` (its arguments and result) for a large piece
    or once numba is loaded, else the numpy reference :func:`erlang_loss_lockstep`."""
    loss = compiled_kernel("erlang_loss_per_cell", len(time)) or erlang_loss_lockstep
    return np.asarray(loss(slot_end, slot_sub, n, time, duration, sub))


def compiled_kernel(name: str, items: int) -> Callable[..., Any] | None:
    """The function ``name`` of :mod:`sim.compiled` for a piece of work of ``items`` (calls,
    arrivals) large enough, or once numba is loaded; None below that: the caller's numpy
    reference runs (``TrafficKernel._voice_reference``, ``SubscriberBase.pick``)."""
    if _compiled_ready(items):
        import sim.compiled

        return getattr(sim.compiled, name)
    return None


def sort_cell_major(key: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``numpy.sort(key)`` for keys cell + fraction, ``counts[i]`` of them for the i-th cell
    in increasing order of cells (may sort ``key`` in place)."""
    sort = compiled_kernel("sort_within_cells", len(key))
    return np.sort(key) if sort is None else np.asarray(sort(key, counts))


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
