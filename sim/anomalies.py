"""Injected anomalies that raise no alarm: sleeping cells, degraded capacity, and the surges'
truth.

A ``sleep`` keeps a cell enabled and reporting, but its subscribers' call attempts and data
sessions are lost before the cell counts them, as with a real sleeping cell: its PM shows no
traffic and no outage. A ``degrade`` multiplies a cell's data capacity, or a link's capacity,
by a factor (voice channels are untouched). Neither changes a random draw: a sleeping cell's
attempts are its usual draws, dropped. They go to the ground truth (:class:`AnomalyTruth`, with
the surges), never to the feed: the twin has to notice them in the PM.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from sim.network import Topology
from sim.scenario import DegradeEvent, Event, Problem, SleepEvent, SurgeEvent
from sim.traffic import TrafficKernel
from sim.truth import AnomalyTruth, TruthSink

__all__ = ["Anomalies", "check_anomaly_targets"]


def _tower_cells(topo: Topology) -> dict[str, np.ndarray]:
    tower_of_node = topo.tower_of_node()
    return {
        topo.node_ids[node]: np.flatnonzero(topo.cell_tower == tower_of_node[node])
        for node in topo.tower_node.tolist()
    }


def check_anomaly_targets(topo: Topology, events: list[Event], file: str) -> list[Problem]:
    """One problem per ``sleep`` or ``degrade`` whose target is not something it can act on."""
    towers, cells = set(topo.tower_ids()), set(topo.cell_ids)
    problems = []
    for index, event in enumerate(events):
        where = f"events[{index}].target"
        if isinstance(event, SleepEvent) and event.target not in towers | cells:
            if event.target in topo.link_index:
                message = f"'{event.target}' is a link: only a cell or a tower can sleep"
            else:
                message = f"unknown cell or tower '{event.target}'"
            problems.append(Problem(file, where, message))
        elif isinstance(event, DegradeEvent) and not (
            event.target in towers or event.target in cells or event.target in topo.link_index
        ):
            problems.append(Problem(file, where, f"unknown cell, tower or link '{event.target}'"))
    return problems


@dataclass(frozen=True)
class _Degradation:
    cells: np.ndarray
    links: np.ndarray
    factor: float


class Anomalies:
    """Runs the scenario's sleeps and degradations as SimPy processes on the kernel, and
    publishes every anomaly's truth (surges included) when it ends."""

    def __init__(
        self,
        env: simpy.Environment,
        kernel: TrafficKernel,
        topo: Topology,
        truth: TruthSink,
        duration_s: float,
    ):
        self.env = env
        self.kernel = kernel
        self.topo = topo
        self.truth = truth
        self.duration_s = duration_s
        self._tower_cells = _tower_cells(topo)
        self._cell_index = {cell_id: i for i, cell_id in enumerate(topo.cell_ids)}
        self._sleeps = np.zeros(topo.n_cells, dtype=np.int64)  # overlapping sleeps count
        self._degradations: dict[int, _Degradation] = {}
        self._at_end: list[AnomalyTruth] = []

    def start(self, events: list[Event]) -> None:
        for index, event in enumerate(events):
            if isinstance(event, SleepEvent):
                self.env.process(self._sleep(event))
            elif isinstance(event, DegradeEvent):
                self.env.process(self._degrade(index, event))
            elif isinstance(event, SurgeEvent):
                end = min(event.at + event.duration, self.duration_s)
                records = [
                    AnomalyTruth("surge", target, event.at, end, event.factor)
                    for target in event.targets
                ]
                if end < self.duration_s:
                    self.env.process(self._publish_at(end, records))
                else:
                    self._at_end += records

    def finish(self) -> None:
        """Publish the truth of the surges that lasted to the end of the run."""
        for record in self._at_end:
            self.truth.publish(record)
        self._at_end = []

    def _cells(self, target: str) -> np.ndarray:
        if target in self._tower_cells:
            return self._tower_cells[target]
        return np.array([self._cell_index[target]], dtype=np.int64)

    def _publish_at(
        self, time_s: float, records: list[AnomalyTruth]
    ) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(time_s)
        for record in records:
            self.truth.publish(record)

    def _sleep(self, event: SleepEvent) -> Generator[simpy.Event, Any, None]:
        cells = self._cells(event.target)
        yield self.env.timeout(event.at)
        self.kernel.advance(self.env.now)
        self._sleeps[cells] += 1
        self.kernel.set_asleep(self._sleeps > 0)
        record = AnomalyTruth("sleep", event.target, event.at, event.at + event.duration, 0.0)
        if not self._ends_in_run(record):
            return
        yield self.env.timeout(event.duration)
        self.kernel.advance(self.env.now)
        self._sleeps[cells] -= 1
        self.kernel.set_asleep(self._sleeps > 0)
        self.truth.publish(record)

    def _degrade(self, index: int, event: DegradeEvent) -> Generator[simpy.Event, Any, None]:
        no_cells, no_links = np.zeros(0, np.int64), np.zeros(0, np.int64)
        if event.target in self.topo.link_index:
            degradation = _Degradation(
                no_cells, np.array([self.topo.link_index[event.target]]), event.factor
            )
        else:
            degradation = _Degradation(self._cells(event.target), no_links, event.factor)
        yield self.env.timeout(event.at)
        self._degradations[index] = degradation
        self._apply()
        end = event.at + event.duration
        record = AnomalyTruth("degrade", event.target, event.at, end, event.factor)
        if not self._ends_in_run(record):
            return
        yield self.env.timeout(event.duration)
        del self._degradations[index]
        self._apply()
        self.truth.publish(record)

    def _ends_in_run(self, record: AnomalyTruth) -> bool:
        """False for an anomaly lasting to the end of the run (SimPy never reaches events at
        the end time): its truth is then published by :meth:`finish`."""
        if record.end_s < self.duration_s:
            return True
        self._at_end.append(record)
        return False

    def _apply(self) -> None:
        """Set the kernel's factors from the degradations in force; overlapping ones multiply,
        recomputed from scratch so that no rounding accumulates when one ends."""
        self.kernel.advance(self.env.now)
        data_factor = np.ones(self.topo.n_cells)
        link_factor = np.ones(self.topo.n_links)
        for degradation in self._degradations.values():
            data_factor[degradation.cells] *= degradation.factor
            link_factor[degradation.links] *= degradation.factor
        self.kernel.set_capacity_factors(data_factor, link_factor)
