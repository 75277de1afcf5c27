"""The run summary: totals, per-cell and per-link figures from the feed, outages from the truth.

It is what ``summary.json`` holds. The figures are derived from feed records, so a summary of a
real network's exports would be computed the same way. ``outages`` lists the faults as they
really happened: the summary is the scoring and report layer, so it may read the simulator's
truth (:mod:`sim.truth`, handed to :meth:`SummaryBuilder.on_truth`); the twin's functions may not.

- ``offered_erlangs`` and ``carried_erlangs`` are means over the run.
- ``busy_hour_start`` and ``busy_hour_erlangs``: the cell's time-consistent busy hour (ITU-T
  E.500), the hour-long window on the PM grid (starting at any PM boundary of the day, so every
  quarter-hour with 15-minute PM) whose offered traffic, averaged over the run's days, is
  highest; its start as a time of day (``"18:30"``, UTC) and its mean offered erlangs.
  ``busy_hour`` is the hour that window starts in. A window may wrap past midnight. Windows
  the run saw in full are preferred; a run shorter than an hour takes what it saw.
- ``utilization_p95`` is the 95th percentile of the PM intervals' data utilisation by nearest
  rank (numpy's ``inverted_cdf``): the smallest observed value with at least 95% of intervals
  at or below it, so it is always a value some interval had, never an interpolation.
  Exact while the run's values fit :data:`twin.running.EXACT_VALUES` (a national day, a regional
  week); past that, within 0.0005 (docs/memory.md).
- ``availability`` is the share of the run the resource was in service; a link is out of
  service while it or either of its end nodes is down.
- an outage still open at the end of the run has ``end_s`` null.
- ``service`` counts subscribers whose home cell was out of service, and for how long.
"""

from __future__ import annotations

from array import array
from typing import Any

import numpy as np

from twin.bus import Bus
from twin.feed import (
    CELL_EVENT_COUNTERS,
    CellPmBatch,
    Inventory,
    LinkPmBatch,
    ResourceStateChange,
    RunEnded,
    RunStarted,
    SubscriptionAdmitted,
)
from twin.running import EXACT_VALUES, NearestRankPercentile

__all__ = ["SummaryBuilder", "busy_hours", "busy_hours_from_slots"]

NODE_KINDS = ("core", "aggregation", "tower", "link")
DAY_S = 86400


def _round(value: float, digits: int = 6) -> float:
    return float(round(float(value), digits))


def _time_of_day(seconds: float) -> str:
    minutes = int(seconds) // 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def busy_hours(
    start_of_day_s: np.ndarray, span_s: np.ndarray, erlangs: np.ndarray, pm_interval_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return each column's time-consistent busy hour: its start in seconds past midnight and
    its mean erlangs (ITU-T E.500).

    ``start_of_day_s`` gives each PM interval's start in seconds past the run's first midnight,
    ``span_s`` its length and ``erlangs`` (intervals x resources) its mean traffic. Every
    interval lies inside one PM slot of the day (PM intervals sit on the clock); each slot's
    traffic is averaged over the days that saw it, weighted by the time seen, and the hour-long
    windows of consecutive slots, wrapping past midnight, are compared: those the run saw in
    full, or in a run too short for one, those it saw most of, at their time-weighted mean.

    >>> start, erlangs = busy_hours(
    ...     np.arange(8) * 900.0, np.full(8, 900.0), np.array([[1, 1, 5, 5, 5, 5, 1, 1.0]]).T, 900
    ... )
    >>> start.tolist(), erlangs.tolist()
    ([1800.0], [5.0])
    """
    slots = round(DAY_S / pm_interval_s)
    slot = ((start_of_day_s % DAY_S) // pm_interval_s).astype(np.int64)
    slot_es = np.zeros((slots, erlangs.shape[1]))
    slot_s = np.zeros(slots)
    np.add.at(slot_es, slot, erlangs * span_s[:, None])
    np.add.at(slot_s, slot, span_s)
    return busy_hours_from_slots(slot_es, slot_s, pm_interval_s)


def busy_hours_from_slots(
    slot_es: np.ndarray, slot_s: np.ndarray, pm_interval_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`busy_hours` from running sums per PM slot of the day: ``slot_es`` (slots x
    resources) the traffic times the time seen, ``slot_s`` the time seen, each added up in
    time order; the same floats as :func:`busy_hours` over the intervals themselves."""
    slots = len(slot_s)
    per_hour = round(3600 / pm_interval_s)
    window = (np.arange(slots)[:, None] + np.arange(per_hour)[None, :]) % slots  # slots x hour
    seen = slot_s[:, None] > 0
    mean = np.divide(slot_es, slot_s[:, None], out=np.zeros_like(slot_es), where=seen)
    # Each slot weighs what the run saw of it, up to one whole slot: a slot seen in full (on
    # some day) counts fully, the few minutes of a run starting off the grid count as minutes.
    weight = np.minimum(slot_s / pm_interval_s, 1.0)
    window_weight = weight[window].sum(axis=1)
    window_erlangs = (
        np.einsum("wk,wkr->wr", weight[window], mean[window])
        / np.maximum(window_weight, 1e-300)[:, None]
    )
    # Windows the run saw whole; in a run shorter than that, those starting at a slot it saw
    # with the most of their hour seen, at their time-weighted mean.
    whole = (weight[window] >= 1.0 - 1e-9).all(axis=1)
    if whole.any():
        candidates = whole
    else:
        starts_seen = weight[window[:, 0]] > 0
        candidates = starts_seen & (window_weight >= window_weight[starts_seen].max() - 1e-9)
    window_erlangs[~candidates] = -np.inf
    best = np.argmax(window_erlangs, axis=0)
    return best * float(pm_interval_s), window_erlangs[best, np.arange(slot_es.shape[1])]


class SummaryBuilder:
    """Accumulates feed records; :meth:`summary` returns the JSON-ready dictionary.

    It keeps running aggregates, not the PM batches (docs/memory.md): sums per cell and link,
    the busy hours' traffic per PM slot of the day, the utilisation percentiles
    (:class:`~twin.running.NearestRankPercentile`, exact within ``exact_values``), and each
    cell's cumulative time out of service, so its memory does not grow with the run's length.
    """

    def __init__(self, *, exact_values: int = EXACT_VALUES) -> None:
        self.started: RunStarted | None = None
        self.inventory: Inventory | None = None
        self.ended_s: float | None = None
        self.exact_values = exact_values
        self._open: dict[int, dict[str, Any]] = {}
        self.outages: list[dict[str, Any]] = []
        self._cells: _CellTotals | None = None
        self._links: _LinkTotals | None = None
        self._cell_index: dict[str, int] = {}
        # subscribers admitted during the run: home cell, and its out-of-service seconds then
        self._admitted_cell = array("q")
        self._admitted_base = array("d")
        self._admitted_s = array("d")

    def attach(self, bus: Bus) -> None:
        bus.subscribe(RunStarted, self._on_start)
        bus.subscribe(Inventory, self._on_inventory)
        bus.subscribe(CellPmBatch, self._on_cell_pm)
        bus.subscribe(LinkPmBatch, self._on_link_pm)
        bus.subscribe(RunEnded, self._on_end)
        bus.subscribe(SubscriptionAdmitted, self._on_admitted)

    def _on_start(self, record: RunStarted) -> None:
        self.started = record

    def _on_inventory(self, record: Inventory) -> None:
        self.inventory = record
        started = self.started
        assert started is not None, "the inventory before the run's start"
        self._cells = _CellTotals(
            len(record.cell_ids),
            started.pm_interval_s,
            _seconds_of_day(started),
            self.exact_values,
        )
        self._links = _LinkTotals(len(record.link_ids), self.exact_values)
        self._cell_index = {cell_id: i for i, cell_id in enumerate(record.cell_ids)}

    def _on_cell_pm(self, batch: CellPmBatch) -> None:
        assert self._cells is not None, "PM before the inventory"
        self._cells.add(batch)

    def _on_link_pm(self, batch: LinkPmBatch) -> None:
        assert self._links is not None, "PM before the inventory"
        self._links.add(batch)

    def _on_admitted(self, record: SubscriptionAdmitted) -> None:
        assert self._cells is not None, "an admission before the inventory"
        cell = self._cell_index[record.cell]
        self._admitted_cell.append(cell)
        self._admitted_base.append(float(self._cells.out_of_service_s[cell]))
        self._admitted_s.append(record.time_s)

    def _on_end(self, record: RunEnded) -> None:
        self.ended_s = record.time_s

    def on_truth(self, record: object) -> None:
        """Take one truth record; the outages are built from the state changes."""
        if isinstance(record, ResourceStateChange):
            self._on_state(record)

    def _on_state(self, r: ResourceStateChange) -> None:
        if r.kind not in NODE_KINDS:
            return
        if r.operational_state == "disabled":
            entry = {
                "resource": r.resource,
                "kind": r.kind,
                "start_s": _round(r.time_s, 3),
                "end_s": None,
                "cause": r.cause,
            }
            self._open[r.fault_id] = entry
            self.outages.append(entry)
        else:
            self._open.pop(r.fault_id)["end_s"] = _round(r.time_s, 3)

    def summary(self) -> dict[str, Any]:
        started, inv = self.started, self.inventory
        if started is None or inv is None or self.ended_s is None:
            raise RuntimeError("the run did not complete: no summary")
        totals_of = self._cells
        if totals_of is None or not totals_of.intervals:
            raise RuntimeError("the run did not complete: no summary")
        duration = started.duration_s
        offered_es, carried_es = totals_of.offered_es, totals_of.carried_es
        busy_start, busy_erlangs = busy_hours_from_slots(
            totals_of.slot_es, totals_of.slot_s, started.pm_interval_s
        )
        util_p95 = totals_of.utilization.value()
        availability = totals_of.seconds_in_service / duration
        service = self._subscriber_outage()
        counters = totals_of.counters
        totals = {k: int(counters[k].sum()) for k in CELL_EVENT_COUNTERS}
        cells: dict[str, Any] = {}
        for i, cell_id in enumerate(inv.cell_ids):
            cells[cell_id] = {
                "tower": inv.cell_tower[i],
                "voice_channels": int(inv.cell_voice_channels[i]),
                "voice_offered": int(counters["voice_offered"][i]),
                "voice_carried": int(counters["voice_carried"][i]),
                "voice_blocked": int(counters["voice_blocked"][i]),
                "voice_failed": int(counters["voice_failed"][i]),
                "voice_dropped": int(counters["voice_dropped"][i]),
                "offered_erlangs": _round(offered_es[i] / duration),
                "carried_erlangs": _round(carried_es[i] / duration),
                "busy_hour": int(busy_start[i] // 3600),
                "busy_hour_start": _time_of_day(busy_start[i]),
                "busy_hour_erlangs": _round(busy_erlangs[i]),
                "utilization_p95": _round(util_p95[i]),
                "availability": _round(availability[i]),
            }
        links: dict[str, Any] = {}
        link_totals = self._links
        if link_totals is not None and link_totals.intervals and inv.link_ids:
            link_p95 = link_totals.utilization.value()
            link_in = link_totals.seconds_in_service
            for i, link_id in enumerate(inv.link_ids):
                links[link_id] = {
                    "utilization_p95": _round(link_p95[i]),
                    "availability": _round(link_in[i] / duration),
                }
        attempts = totals["voice_offered"] - totals["voice_failed"]
        return {
            "scenario": started.scenario,
            "seed": started.seed,
            "start": started.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "duration_s": _round(duration, 3),
            "subscribers": inv.subscribers,
            "voice": {
                "offered": totals["voice_offered"],
                "carried": totals["voice_carried"],
                "blocked": totals["voice_blocked"],
                "failed": totals["voice_failed"],
                "dropped": totals["voice_dropped"],
                "minutes": _round(carried_es.sum() / 60.0, 3),
                "blocking": _round(totals["voice_blocked"] / attempts if attempts else 0.0),
            },
            "data": {
                "sessions": totals["data_sessions"],
                "demand_mb": _round(totals_of.data_demand_mb.sum(), 3),
                "served_mb": _round(totals_of.data_served_mb.sum(), 3),
            },
            "service": service,
            "cells": cells,
            "links": links,
            "outages": self.outages,
        }

    def _subscriber_outage(self) -> dict[str, Any]:
        """Out-of-service time per subscriber: the time its home cell was out of service,
        counted from the PM interval it was admitted in for subscribers added during the run."""
        inv, totals = self.inventory, self._cells
        assert inv is not None and totals is not None
        out = totals.out_of_service_s  # per cell, over the whole run
        per_sub = out[inv.subscriber_cell]
        if self._admitted_s:
            cell = np.array(self._admitted_cell, dtype=np.int64)
            extra = out[cell] - np.array(self._admitted_base)
            # admitted at the run's very end: its last interval counts, as for any admission
            at_end = np.array(self._admitted_s) >= totals.last_end_s
            extra[at_end] = totals.last_out_s[cell[at_end]]
            per_sub = np.concatenate([per_sub, extra])
        return {
            "subscribers": len(per_sub),
            "subscribers_affected": int((per_sub > 0).sum()),
            "subscriber_hours_out_of_service": _round(per_sub.sum() / 3600.0, 3),
        }


def _seconds_of_day(started: RunStarted) -> int:
    return started.start.hour * 3600 + started.start.minute * 60 + started.start.second


class _CellTotals:
    """The cells' running aggregates: each added up in time order, as summing the stacked
    batches over the intervals (``axis=0``) adds them, so the figures are the same floats."""

    def __init__(
        self, cells: int, pm_interval_s: float, start_of_day_s: int, exact_values: int
    ) -> None:
        self.intervals = 0
        self.pm_interval_s = pm_interval_s
        self.start_of_day_s = start_of_day_s
        self.counters = {k: np.zeros(cells, dtype=np.int64) for k in CELL_EVENT_COUNTERS}
        self.offered_es = np.zeros(cells)  # erlang-seconds
        self.carried_es = np.zeros(cells)
        self.data_demand_mb = np.zeros(cells)
        self.data_served_mb = np.zeros(cells)
        self.seconds_in_service = np.zeros(cells)
        self.out_of_service_s = np.zeros(cells)  # interval length less time in service
        self.last_out_s = np.zeros(cells)
        self.last_end_s = -np.inf
        slots = round(DAY_S / pm_interval_s)
        self.slot_es = np.zeros((slots, cells))  # offered erlang-seconds per PM slot of the day
        self.slot_s = np.zeros(slots)
        self.utilization = NearestRankPercentile(cells, exact_values=exact_values)

    def add(self, b: CellPmBatch) -> None:
        self.intervals += 1
        span = b.end_s - b.start_s
        for k in CELL_EVENT_COUNTERS:
            self.counters[k] += getattr(b, k)
        self.offered_es += b.offered_erlangs * span
        self.carried_es += b.carried_erlangs * span
        self.data_demand_mb += b.data_demand_mb
        self.data_served_mb += b.data_served_mb
        self.seconds_in_service += b.seconds_in_service
        self.last_out_s = span - b.seconds_in_service
        self.out_of_service_s += self.last_out_s
        self.last_end_s = b.end_s
        slot = int(((b.start_s + self.start_of_day_s) % DAY_S) // self.pm_interval_s)
        self.slot_es[slot] += b.offered_erlangs * span
        self.slot_s[slot] += span
        self.utilization.add(b.utilization)


class _LinkTotals:
    """The links' running aggregates: time in service and the utilisation percentile."""

    def __init__(self, links: int, exact_values: int) -> None:
        self.intervals = 0
        self.seconds_in_service = np.zeros(links)
        self.utilization = NearestRankPercentile(links, exact_values=exact_values)

    def add(self, b: LinkPmBatch) -> None:
        self.intervals += 1
        self.seconds_in_service += b.seconds_in_service
        self.utilization.add(b.utilization)
