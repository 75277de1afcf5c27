"""Nanoseconds per call of the voice kernels, old and new, on the same arrivals of one run.

    python bench/bench_engine.py kernels [--scenario scenarios/national.yaml] [--set K=V ...]

The scenario is simulated in-process (no twin: a sink that drops the records). Every time the
simulator offers a piece's arrivals to the channels, the numpy lockstep reference
(:func:`sim.kernels.erlang_loss_lockstep`) runs first on a copy of the channels, then the
compiled loop (:func:`sim.compiled.erlang_loss_per_cell`) on the real ones, whatever the
piece's size; both are timed and
their decisions and channel states compared, so the figures are for the same arrivals and the
same state, and the run checks that every call got the same decision. The arrivals' sort is
timed the same way: ``numpy.sort`` on a copy, then :func:`sim.compiled.sort_within_cells`. The
compiled functions are called once before the run, so their one-off loading is not in the
per-call figures (docs/kernels.md gives it separately).
"""

from __future__ import annotations

import time

import numpy as np

import sim.traffic as traffic
from sim.compiled import erlang_loss_per_cell, sort_within_cells
from sim.engine import Simulation
from sim.kernels import erlang_loss_lockstep
from sim.scenario import load_scenario


class _Drop:
    def publish(self, record: object) -> None:
        pass


def bench_kernels(scenario: str, sets: list[str]) -> None:
    seconds = {"lockstep": 0.0, "compiled": 0.0, "np.sort": 0.0, "sort_within_cells": 0.0}
    totals = {"calls": 0, "pieces": 0, "carried": 0, "keys": 0, "sorts": 0}

    def offer(slot_end, slot_sub, n, time_, duration, sub):  # type: ignore[no-untyped-def]
        end_copy, sub_copy = slot_end.copy(), slot_sub.copy()
        started = time.perf_counter()
        reference = erlang_loss_lockstep(end_copy, sub_copy, n, time_, duration, sub)
        middle = time.perf_counter()
        carried = erlang_loss_per_cell(slot_end, slot_sub, n, time_, duration, sub)
        seconds["compiled"] += time.perf_counter() - middle
        seconds["lockstep"] += middle - started
        if not (
            np.array_equal(reference, carried)
            and np.array_equal(end_copy, slot_end)
            and np.array_equal(sub_copy, slot_sub)
        ):
            raise SystemExit("the compiled kernel's decisions differ from the reference's")
        totals["calls"] += len(time_)
        totals["pieces"] += 1
        totals["carried"] += int(carried.sum())
        return carried

    def sort(key, counts):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        expected = np.sort(key)
        middle = time.perf_counter()
        sort_within_cells(key, counts)
        seconds["sort_within_cells"] += time.perf_counter() - middle
        seconds["np.sort"] += middle - started
        if expected.tobytes() != key.tobytes():
            raise SystemExit("the compiled sort differs from numpy's")
        totals["keys"] += len(key)
        totals["sorts"] += 1
        return key

    # load the compiled code before timing anything
    erlang_loss_per_cell(
        np.zeros((1, 1)), np.zeros((1, 1), dtype=np.int64), np.zeros(1, dtype=np.int64),
        np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64),
    )  # fmt: skip
    sort_within_cells(np.zeros(0), np.zeros(0, dtype=np.int64))
    simulation = Simulation(load_scenario(scenario, sets), _Drop())
    erlang_loss, sort_cell_major = traffic.erlang_loss, traffic.sort_cell_major
    traffic.erlang_loss, traffic.sort_cell_major = offer, sort  # type: ignore[assignment]
    try:
        simulation.run()
    finally:
        traffic.erlang_loss, traffic.sort_cell_major = erlang_loss, sort_cell_major
    calls, keys = totals["calls"], totals["keys"]
    print(f"{' '.join([scenario, *sets])}: in-process, the same arrivals offered to both")
    print(
        f"voice: {calls:,} calls in {totals['pieces']:,} pieces, {totals['carried']:,} carried, "
        "identical decisions and channel states"
    )
    for name in ("lockstep", "compiled"):
        print(f"{name:>18}: {seconds[name]:7.3f} s = {seconds[name] / calls * 1e9:6.1f} ns/call")
    print(f"{'ratio':>18}: {seconds['lockstep'] / seconds['compiled']:.1f}x")
    print(f"arrivals' sort: {keys:,} keys (voice and data) in {totals['sorts']:,} draws, identical")
    for name in ("np.sort", "sort_within_cells"):
        print(f"{name:>18}: {seconds[name]:7.3f} s = {seconds[name] / keys * 1e9:6.1f} ns/key")
    print(f"{'ratio':>18}: {seconds['np.sort'] / seconds['sort_within_cells']:.1f}x")
