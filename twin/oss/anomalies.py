"""Anomaly detection: surges, sleeping cells and degraded cells, found in the PM counters.

A sleeping cell, a degraded one or a crowd raises no alarm: the twin sees them only as traffic
far from what it should be. The baseline needs no history the run does not have:

- **Attempts** (voice calls offered plus data sessions, what a cell counts of the people who
  try it) are expected in proportion to the subscribers homed on the cell, which the inventory
  gives (and each admitted subscription updates). The rate per subscriber is taken afresh in
  every interval from the whole network, robustly: the subscriber-weighted median of the cells'
  rates, then the rate of the cells near it, so that a surge or a sleep does not move it. A
  cell's count is then tested as Poisson around ``rate x subscribers``: flagged a surge when it
  is at least ``surge_ratio`` times that and as unlikely as ``significance`` or less, low when
  at most ``low_ratio`` times and as unlikely, asleep when low with nothing counted at all.
- **Data served**: a cell serves ``min(demand, capacity)`` unless something holds it back, so
  one that serves less than ``degrade_share`` of that, with its nominal capacity from the
  inventory, is degraded. A congested backhaul holds back every cell of the towers behind it
  by the same fraction; when some link carried less than its demand in the interval, a cell is
  compared with the best cell of its own tower instead (a whole tower degraded behind a
  congested link then goes unseen).

Only cells in service for the whole interval are tested (``seconds_in_service`` from the PM, so
an outage is never an anomaly), and only cells with subscribers. Everything is numpy over all
cells at once, once per interval.

:class:`AnomalyDetection` publishes an :class:`~twin.oss.records.AnomalyFlags` per interval, one
interval late: a sleep usually starts inside an interval, and that first interval, low but not
empty, is counted as partly asleep (``1 - observed/expected`` of it) only when the next one is
empty. It keeps the findings: runs of consecutive flagged intervals of a cell in one direction
(up: a surge; down: asleep, degraded or low). docs/anomalies.md gives the method, the
thresholds and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.special  # Poisson tails (scipy.stats would slow every run's start)

from sim.scenario import AnomalySettings
from twin.bus import Bus
from twin.feed import CellPmBatch, Inventory, LinkPmBatch, RunEnded, SubscriptionAdmitted
from twin.oss.records import AnomalyFlags

__all__ = ["CODES", "AnomalyDetection", "Finding", "expected_rate"]

UNTESTED, NORMAL, SURGE, LOW, ASLEEP, DEGRADED = -1, 0, 1, 2, 3, 4
CODES = {
    "untested": UNTESTED,
    "normal": NORMAL,
    "surge": SURGE,
    "low": LOW,
    "asleep": ASLEEP,
    "degraded": DEGRADED,
}
FindingKind = Literal["surge", "sleep", "degrade", "low"]


@dataclass(frozen=True)
class Finding:
    """A run of consecutive flagged intervals of one cell, from ``start_s`` to ``end_s``.

    ``kind``: ``surge`` (attempts far above expectation), ``sleep`` (some interval counted
    nothing), ``degrade`` (data held back at the cell), else ``low`` (attempts far below).
    ``peak_ratio`` is the largest (surge) or smallest (otherwise) observed/expected attempts.
    """

    cell: str
    kind: FindingKind
    start_s: float
    end_s: float
    intervals: int
    peak_ratio: float

    def to_json(self) -> dict[str, Any]:
        return {
            "cell": self.cell,
            "kind": self.kind,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "intervals": self.intervals,
            "peak_ratio": round(self.peak_ratio, 4),
        }


def expected_rate(
    observed: np.ndarray, subscribers: np.ndarray, eligible: np.ndarray, band: tuple[float, float]
) -> float:
    """The attempts per subscriber in this interval, robust to the anomalous cells.

    The subscriber-weighted median of the eligible cells' rates, then the pooled rate of the
    cells within ``band`` (low_ratio, surge_ratio) of it: outliers out, the rest's noise
    averaged. NaN when no cell is eligible.
    """
    subs = subscribers[eligible]
    if not len(subs) or subs.sum() <= 0:
        return float("nan")
    rate = observed[eligible] / subs
    order = np.argsort(rate, kind="stable")
    cumulative = np.cumsum(subs[order])
    median = float(rate[order][np.searchsorted(cumulative, cumulative[-1] / 2.0)])
    near = (rate >= median * band[0]) & (rate <= median * band[1])
    if median <= 0 or not near.any():
        return median
    return float(observed[eligible][near].sum() / subs[near].sum())


class AnomalyDetection:
    """Flags every cell in every PM interval, publishes :class:`AnomalyFlags` and keeps the
    :class:`Finding` list. Works on the feed only (inventory, admissions, PM batches)."""

    def __init__(self, bus: Bus, settings: AnomalySettings | None = None) -> None:
        self.bus = bus
        self.settings = settings or AnomalySettings()
        self.cell_ids: tuple[str, ...] = ()
        self.subscribers = np.zeros(0)
        self._cell_index: dict[str, int] = {}
        self._tower = np.zeros(0, dtype=np.int64)
        self._n_towers = 0
        self._data_mbps = np.zeros(0)
        self._cells: CellPmBatch | None = None
        self._pending: _Interval | None = None  # flagged, not yet published
        self._before: np.ndarray | None = None  # the codes of the interval before it
        self._run_start = np.zeros(0)
        self._run_direction = np.zeros(0, dtype=np.int8)  # 0 none, 1 up, -1 down
        self._run_kinds = np.zeros(0, dtype=np.int8)  # bits: 1 asleep, 2 degraded
        self._run_intervals = np.zeros(0, dtype=np.int64)
        self._run_peak = np.zeros(0)
        self._run_end = np.zeros(0)
        self.findings: list[Finding] = []
        self.intervals = 0
        bus.subscribe(Inventory, self._on_inventory)
        bus.subscribe(SubscriptionAdmitted, self._on_admitted)
        bus.subscribe(CellPmBatch, self._on_cell_pm)
        bus.subscribe(LinkPmBatch, self._on_link_pm)
        bus.subscribe(RunEnded, self._on_end)

    def _on_inventory(self, inv: Inventory) -> None:
        n = len(inv.cell_ids)
        self.cell_ids = inv.cell_ids
        self._cell_index = {c: i for i, c in enumerate(inv.cell_ids)}
        self.subscribers = np.bincount(inv.subscriber_cell, minlength=n).astype(float)
        towers = {t: i for i, t in enumerate(dict.fromkeys(inv.cell_tower))}
        self._tower = np.array([towers[t] for t in inv.cell_tower], dtype=np.int64)
        self._n_towers = len(towers)
        self._data_mbps = np.asarray(inv.cell_data_mbps, dtype=float)
        self._run_start = np.full(n, np.nan)
        self._run_direction = np.zeros(n, dtype=np.int8)
        self._run_kinds = np.zeros(n, dtype=np.int8)
        self._run_intervals = np.zeros(n, dtype=np.int64)
        self._run_peak = np.zeros(n)
        self._run_end = np.zeros(n)

    def _on_admitted(self, record: SubscriptionAdmitted) -> None:
        self.subscribers[self._cell_index[record.cell]] += 1.0

    def _on_cell_pm(self, batch: CellPmBatch) -> None:
        self._cells = batch

    def _on_link_pm(self, links: LinkPmBatch) -> None:
        cells, self._cells = self._cells, None
        assert cells is not None
        current = self._flag(cells, links)
        self.intervals += 1
        self._publish_pending(current.code)
        self._pending = current

    def _on_end(self, _record: RunEnded) -> None:
        self._publish_pending(None)
        self._close_runs(np.flatnonzero(self._run_direction != 0))

    # --- one interval ---------------------------------------------------------------------------

    def _flag(self, cells: CellPmBatch, links: LinkPmBatch) -> _Interval:
        s = self.settings
        span = cells.end_s - cells.start_s
        observed = (cells.voice_offered + cells.data_sessions).astype(float)
        eligible = (cells.seconds_in_service >= span * (1.0 - 1e-9)) & (self.subscribers > 0)
        rate = expected_rate(observed, self.subscribers, eligible, (s.low_ratio, s.surge_ratio))
        expected = self.subscribers * (rate if np.isfinite(rate) else 0.0)
        code = np.where(eligible, NORMAL, UNTESTED).astype(np.int8)

        # Poisson tails only where the ratio already qualifies: a few cells, not all of them.
        high = np.flatnonzero(eligible & (observed >= s.surge_ratio * expected) & (expected > 0))
        if len(high):
            # P(X >= observed) = pdtrc(observed - 1), as scipy.stats.poisson.sf computes it;
            # observed >= 1 here, since it is at least surge_ratio x expected > 0
            p = scipy.special.pdtrc(observed[high] - 1.0, expected[high])
            code[high[p <= s.significance]] = SURGE
        low = np.flatnonzero(eligible & (observed <= s.low_ratio * expected) & (expected > 0))
        if len(low):
            p = scipy.special.pdtr(observed[low], expected[low])  # P(X <= observed)
            flagged = low[p <= s.significance]
            code[flagged] = np.where(observed[flagged] == 0, ASLEEP, LOW)

        # Data held back at the cell: served below what demand and nominal capacity allow.
        allowed = np.minimum(cells.data_demand_mb, self._data_mbps * span / 8.0)
        served_share = np.divide(
            cells.data_served_mb, allowed, out=np.ones(len(allowed)), where=allowed > 0
        )
        reference = np.ones(len(allowed))
        if np.any(links.carried_mb < links.demand_mb * (1.0 - 1e-9)):
            best = np.zeros(self._n_towers)
            np.maximum.at(best, self._tower, np.where(eligible, served_share, 0.0))
            reference = best[self._tower]
        degraded = (code == NORMAL) & (served_share < s.degrade_share * reference)
        code[degraded] = DEGRADED
        return _Interval(cells.start_s, cells.end_s, code, expected, observed)

    def _publish_pending(self, following: np.ndarray | None) -> None:
        """Publish the interval held back, now that the one after it is known (or the run
        ended), and extend or close the findings with it."""
        pending = self._pending
        if pending is None:
            return
        span = pending.end_s - pending.start_s
        code = pending.code
        low = code == LOW
        beside_sleep = np.zeros(len(code), dtype=bool)
        if following is not None:
            beside_sleep |= following == ASLEEP
        if self._before is not None:
            beside_sleep |= self._before == ASLEEP
        share_missing = 1.0 - np.divide(
            pending.observed,
            pending.expected,
            out=np.ones(len(code)),
            where=pending.expected > 0,
        )
        asleep_s = np.where(code == ASLEEP, span, 0.0)
        edge = low & beside_sleep
        asleep_s[edge] = span * np.clip(share_missing[edge], 0.0, 1.0)
        self._track(pending, edge)
        self._before = code
        self._pending = None
        for array in (code, asleep_s, pending.expected, pending.observed):
            array.setflags(write=False)
        self.bus.publish(
            AnomalyFlags(
                start_s=pending.start_s,
                end_s=pending.end_s,
                cell_ids=self.cell_ids,
                code=code,
                asleep_s=asleep_s,
                expected=pending.expected,
                observed=pending.observed,
            )
        )

    # --- findings -------------------------------------------------------------------------------

    def _track(self, interval: _Interval, sleep_edge: np.ndarray) -> None:
        code = interval.code
        direction = np.where(code == SURGE, 1, np.where(code >= LOW, -1, 0)).astype(np.int8)
        changed = (self._run_direction != 0) & (self._run_direction != direction)
        self._close_runs(np.flatnonzero(changed))
        ratio = np.divide(
            interval.observed,
            interval.expected,
            out=np.ones(len(code)),
            where=interval.expected > 0,
        )
        starting = (direction != 0) & (self._run_direction == 0)
        self._run_start[starting] = interval.start_s
        self._run_direction[starting] = direction[starting]
        self._run_peak[starting] = ratio[starting]
        self._run_kinds[starting] = 0
        self._run_intervals[starting] = 0
        on = direction != 0
        self._run_intervals[on] += 1
        self._run_end[on] = interval.end_s
        up = direction == 1
        self._run_peak[up] = np.maximum(self._run_peak[up], ratio[up])
        down = direction == -1
        self._run_peak[down] = np.minimum(self._run_peak[down], ratio[down])
        self._run_kinds[(code == ASLEEP) | sleep_edge] |= 1
        self._run_kinds[code == DEGRADED] |= 2

    def _close_runs(self, cells: np.ndarray) -> None:
        for c in cells.tolist():
            kinds = int(self._run_kinds[c])
            kind: FindingKind
            if self._run_direction[c] == 1:
                kind = "surge"
            elif kinds & 1:
                kind = "sleep"
            elif kinds & 2:
                kind = "degrade"
            else:
                kind = "low"
            self.findings.append(
                Finding(
                    self.cell_ids[c],
                    kind,
                    float(self._run_start[c]),
                    float(self._run_end[c]),
                    int(self._run_intervals[c]),
                    float(self._run_peak[c]),
                )
            )
        self._run_direction[cells] = 0
        self._run_start[cells] = np.nan


@dataclass(frozen=True, eq=False)
class _Interval:
    start_s: float
    end_s: float
    code: np.ndarray
    expected: np.ndarray
    observed: np.ndarray
