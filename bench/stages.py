"""Where one run's time goes: each stage's share, measured in-process.

    python bench/bench_engine.py stages [--scenario FILE] [--set KEY=VALUE ...]

The run is wired as ``telcotwin run`` wires it (:func:`twin.run._wire`), and every handler on
the bus and every truth listener is wrapped in a timer keyed by the object that owns it (the
summary builder, fault management, the store ...). Time is exclusive: a handler that publishes
(performance management's KPI batches, fault management's alarm changes) is charged without
the handlers its records reach. The simulation is the rest of the run: the kernels, the SimPy
events and building the feed records. The store runs inline here (:class:`twin.store.Store` on
the simulating thread) so that its time is counted; ``telcotwin run`` runs it on a thread of
its own (:class:`twin.store.BackgroundStore`), where it overlaps little on a loaded machine.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sim.scenario import load_scenario
from twin.bulk import ParquetSeries
from twin.run import _attach_store, _wire
from twin.store import Store, open_engine

_NAMES = {
    "SummaryBuilder": "summary",
    "Store": "store",
    "PerformanceManagement": "performance management (KPIs)",
    "ThresholdMonitor": "thresholds",
    "FaultManagement": "fault management",
    "AlarmScorer": "alarm scoring",
    "AnomalyDetection": "anomaly detection",
    "AnomalyScorer": "anomaly scoring",
    "ServiceAssurance": "service assurance (SLA)",
}


def _stage_of(handler: Callable[..., Any]) -> str:
    owner = getattr(handler, "__self__", None)
    if owner is not None:
        name = type(owner).__name__
        return _NAMES.get(name, name)
    qualname = getattr(handler, "__qualname__", repr(handler))
    if "_attach_store" in qualname:
        return "store"
    return f"{handler.__module__}.{qualname}"


class StageTimer:
    """Exclusive time per stage: nested handler time is charged to the nested stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._children: list[float] = []  # per open handler: time spent in nested handlers

    def wrap(self, stage: str, handler: Callable[[Any], None]) -> Callable[[Any], None]:
        def timed(record: Any) -> None:
            self._children.append(0.0)
            started = time.perf_counter()
            try:
                handler(record)
            finally:
                spent = time.perf_counter() - started
                nested = self._children.pop()
                self.seconds[stage] += spent - nested
                self.calls[stage] += 1
                if self._children:
                    self._children[-1] += spent

        return timed

    def timed_call(self, stage: str, call: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = call()
        self.seconds[stage] += time.perf_counter() - started
        return result


def run_stages(path: str, sets: list[str], scratch_dir: str) -> tuple[dict[str, float], float]:
    """Run the scenario once; return seconds per stage and the whole run's seconds."""
    timer = StageTimer()
    started = time.perf_counter()
    scenario = timer.timed_call("load and validate", lambda: load_scenario(path, sets))
    wiring = timer.timed_call(
        "build (network, routes, wiring)",
        lambda: _wire(scenario, Path(path).parent, None, Path(path).name, None),
    )
    # as `telcotwin run` stores a run directory: the state in twin.sqlite, the bulk time series
    # in Parquet files (twin.bulk)
    engine = open_engine(f"sqlite:///{scratch_dir}/twin.sqlite", scratch=True, series=False)
    with engine.connect() as connection:
        transaction = connection.begin()
        series = ParquetSeries(Path(scratch_dir))
        store = Store(connection, "0" * 32, directory=scratch_dir, label="bench", series=series)
        _attach_store(store, wiring.bus, wiring.truth)
        handlers = wiring.bus._handlers  # the bench's own look inside: wrap every handler
        for kind, listed in handlers.items():
            handlers[kind] = [timer.wrap(_stage_of(h), h) for h in listed]
        wiring.truth.listeners[:] = [timer.wrap(_stage_of(h), h) for h in wiring.truth.listeners]
        before = sum(timer.seconds.values())
        simulated = time.perf_counter()
        wiring.simulation.run()
        in_handlers = sum(timer.seconds.values()) - before
        timer.seconds["simulation (kernels, events, feed records)"] += (
            time.perf_counter() - simulated - in_handlers
        )
        timer.timed_call("summary.json and scoring at the end", wiring.summary)
        finish = "store (finish and commit)"
        timer.timed_call(finish, lambda: (store.finish(), series.close(), transaction.commit()))
    engine.dispose()
    return dict(timer.seconds), time.perf_counter() - started


def print_stages(path: str, sets: list[str], scratch_dir: str) -> None:
    seconds, total = run_stages(path, sets, scratch_dir)
    print(f"{' '.join([path, *sets])}: one run in-process, store inline, {total:.2f} s")
    print(f"{'stage':>46} {'s':>8} {'share':>7}")
    for stage, spent in sorted(seconds.items(), key=lambda item: -item[1]):
        print(f"{stage:>46} {spent:>8.2f} {spent / total:>7.1%}")
    rest = total - sum(seconds.values())
    print(f"{'unaccounted (temporary files, engine)':>46} {rest:>8.2f} {rest / total:>7.1%}")
