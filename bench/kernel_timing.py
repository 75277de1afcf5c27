"""Nanoseconds per call of the voice kernels, old and new, on the same arrivals of one run.

    python bench/bench_engine.py kernels [--scenario scenarios/national.yaml] [--set K=V ...]

The scenario is simulated in-process (no twin: a sink that drops the records). Every time the
simulator catches a set of cells' voice up, three ways are run on the same state, each from a
copy of it:

* the numpy reference (``TrafficKernel._voice_reference``: numpy passes over the arrivals for
  the counters, the erlang-seconds and the usage), with the loss decisions made by the numpy
  lockstep (:func:`sim.kernels.erlang_loss_lockstep`) and by the compiled loop
  (:func:`sim.compiled.erlang_loss_per_cell`), both timed, their decisions and channels
  compared;
* the same reference with the compiled loop alone, timed whole: the voice step before the
  fused pass;
* the fused pass (:func:`sim.compiled.voice_catch_up`, through
  ``TrafficKernel._voice_compiled``), timed; every counter, channel and usage array it leaves
  must be the same bytes as the reference's, or the run stops.

The arrivals' sort is timed the same way: ``numpy.sort`` on a copy, then
:func:`sim.compiled.sort_within_cells`. The compiled functions are called once before the run,
so their one-off loading is not in the per-call figures (docs/kernels.md gives it separately).
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
    seconds = dict.fromkeys(
        ("lockstep", "compiled", "reference", "fused", "np.sort", "sort_within_cells"), 0.0
    )
    totals = {"calls": 0, "pieces": 0, "carried": 0, "keys": 0, "sorts": 0, "offered": 0}

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

    fused_pass = traffic.TrafficKernel._voice_compiled

    def catch_up(self, cells, first, last):  # type: ignore[no-untyped-def]
        before = _voice_state(self)
        offered = int(self.counters.voice_offered.sum())
        traffic.erlang_loss = offer  # lockstep and loop, compared
        self._voice_reference(first, last)
        traffic.erlang_loss = loss
        totals["offered"] += int(self.counters.voice_offered.sum()) - offered
        _restore(self, before)
        started = time.perf_counter()
        self._voice_reference(first, last)
        seconds["reference"] += time.perf_counter() - started
        reference = _voice_state(self)
        _restore(self, before)
        started = time.perf_counter()
        fused_pass(self, cells, first, last)
        seconds["fused"] += time.perf_counter() - started
        for name, value in _voice_state(self).items():
            if value.tobytes() != reference[name].tobytes():
                raise SystemExit(f"the fused pass's {name} differs from the reference's")
        return True

    # load the compiled code before timing anything
    erlang_loss_per_cell(
        np.zeros((1, 1)), np.zeros((1, 1), dtype=np.int64), np.zeros(1, dtype=np.int64),
        np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64),
    )  # fmt: skip
    sort_within_cells(np.zeros(0), np.zeros(0, dtype=np.int64))
    simulation = Simulation(load_scenario(scenario, sets), _Drop())
    loss, sort_cell_major = traffic.erlang_loss, traffic.sort_cell_major
    traffic.sort_cell_major = sort  # type: ignore[assignment]
    traffic.TrafficKernel._voice_compiled = catch_up  # type: ignore[method-assign]
    try:
        simulation.run()
    finally:
        traffic.erlang_loss, traffic.sort_cell_major = loss, sort_cell_major
        traffic.TrafficKernel._voice_compiled = fused_pass  # type: ignore[method-assign]
    calls, keys = totals["calls"], totals["keys"]
    print(f"{' '.join([scenario, *sets])}: in-process, the same arrivals offered to both")
    print(
        f"voice: {calls:,} calls in {totals['pieces']:,} pieces, {totals['carried']:,} carried, "
        "identical decisions and channel states"
    )
    for name in ("lockstep", "compiled"):
        print(f"{name:>18}: {seconds[name]:7.3f} s = {seconds[name] / calls * 1e9:6.1f} ns/call")
    print(f"{'ratio':>18}: {seconds['lockstep'] / seconds['compiled']:.1f}x")
    offered = totals["offered"]
    print(
        f"voice catch-ups: {offered:,} calls offered (counted, failed included), the same bytes "
        "in every counter, channel and usage array"
    )
    for name, label in (("reference", "numpy passes + loop"), ("fused", "one compiled pass")):
        print(f"{label:>22}: {seconds[name]:7.3f} s = {seconds[name] / offered * 1e9:6.1f} ns/call")
    print(f"{'ratio':>22}: {seconds['reference'] / seconds['fused']:.1f}x")
    print(f"arrivals' sort: {keys:,} keys (voice and data) in {totals['sorts']:,} draws, identical")
    for name in ("np.sort", "sort_within_cells"):
        print(f"{name:>18}: {seconds[name]:7.3f} s = {seconds[name] / keys * 1e9:6.1f} ns/key")
    print(f"{'ratio':>18}: {seconds['np.sort'] / seconds['sort_within_cells']:.1f}x")


def _voice_state(kernel: traffic.TrafficKernel) -> dict[str, np.ndarray]:
    """Copies of everything a voice catch-up writes."""
    c = kernel.counters
    names = ("voice_offered", "voice_carried", "voice_blocked", "voice_failed")
    state = {name: getattr(c, name).copy() for name in (*names, "offered_es", "carried_es")}
    for name in ("slot_end", "slot_sub", "usage_voice_s", "_scratch", "_pending"):
        state[name] = getattr(kernel, name).copy()
    return state


def _restore(kernel: traffic.TrafficKernel, state: dict[str, np.ndarray]) -> None:
    for name, value in state.items():
        owner = kernel if hasattr(kernel, name) else kernel.counters
        getattr(owner, name)[...] = value
