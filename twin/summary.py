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
- ``availability`` is the share of the run the resource was in service; a link is out of
  service while it or either of its end nodes is down.
- an outage still open at the end of the run has ``end_s`` null.
- ``service`` counts subscribers whose home cell was out of service, and for how long.
"""

from __future__ import annotations

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

__all__ = ["SummaryBuilder", "busy_hours"]

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
    per_hour = round(3600 / pm_interval_s)
    slot = ((start_of_day_s % DAY_S) // pm_interval_s).astype(np.int64)
    slot_es = np.zeros((slots, erlangs.shape[1]))
    slot_s = np.zeros(slots)
    np.add.at(slot_es, slot, erlangs * span_s[:, None])
    np.add.at(slot_s, slot, span_s)
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
    return best * float(pm_interval_s), window_erlangs[best, np.arange(erlangs.shape[1])]


class SummaryBuilder:
    """Accumulates feed records; :meth:`summary` returns the JSON-ready dictionary."""

    def __init__(self) -> None:
        self.started: RunStarted | None = None
        self.inventory: Inventory | None = None
        self.ended_s: float | None = None
        self._cell_pm: list[CellPmBatch] = []
        self._link_pm: list[LinkPmBatch] = []
        self._open: dict[int, dict[str, Any]] = {}
        self.outages: list[dict[str, Any]] = []
        self._admitted: list[SubscriptionAdmitted] = []

    def attach(self, bus: Bus) -> None:
        bus.subscribe(RunStarted, self._on_start)
        bus.subscribe(Inventory, self._on_inventory)
        bus.subscribe(CellPmBatch, self._cell_pm.append)
        bus.subscribe(LinkPmBatch, self._link_pm.append)
        bus.subscribe(RunEnded, self._on_end)
        bus.subscribe(SubscriptionAdmitted, self._admitted.append)

    def _on_start(self, record: RunStarted) -> None:
        self.started = record

    def _on_inventory(self, record: Inventory) -> None:
        self.inventory = record

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
        pm = self._cell_pm
        stack = {
            name: np.stack([getattr(b, name) for b in pm])
            for name in (
                "voice_offered",
                "voice_carried",
                "voice_blocked",
                "voice_failed",
                "voice_dropped",
                "offered_erlangs",
                "carried_erlangs",
                "data_sessions",
                "data_demand_mb",
                "data_served_mb",
                "utilization",
                "seconds_in_service",
            )
        }
        span = np.array([b.end_s - b.start_s for b in pm])
        duration = started.duration_s
        offered_es = (stack["offered_erlangs"] * span[:, None]).sum(axis=0)
        carried_es = (stack["carried_erlangs"] * span[:, None]).sum(axis=0)
        start_of_day = started.start.hour * 3600 + started.start.minute * 60 + started.start.second
        busy_start, busy_erlangs = busy_hours(
            np.array([b.start_s for b in pm]) + start_of_day,
            span,
            stack["offered_erlangs"],
            started.pm_interval_s,
        )
        util_p95 = np.percentile(stack["utilization"], 95, axis=0, method="inverted_cdf")
        availability = stack["seconds_in_service"].sum(axis=0) / duration
        service = self._subscriber_outage(stack["seconds_in_service"], span, pm)
        totals = {k: int(stack[k].sum()) for k in CELL_EVENT_COUNTERS}
        cells: dict[str, Any] = {}
        for i, cell_id in enumerate(inv.cell_ids):
            cells[cell_id] = {
                "tower": inv.cell_tower[i],
                "voice_channels": int(inv.cell_voice_channels[i]),
                "voice_offered": int(stack["voice_offered"][:, i].sum()),
                "voice_carried": int(stack["voice_carried"][:, i].sum()),
                "voice_blocked": int(stack["voice_blocked"][:, i].sum()),
                "voice_failed": int(stack["voice_failed"][:, i].sum()),
                "voice_dropped": int(stack["voice_dropped"][:, i].sum()),
                "offered_erlangs": _round(offered_es[i] / duration),
                "carried_erlangs": _round(carried_es[i] / duration),
                "busy_hour": int(busy_start[i] // 3600),
                "busy_hour_start": _time_of_day(busy_start[i]),
                "busy_hour_erlangs": _round(busy_erlangs[i]),
                "utilization_p95": _round(util_p95[i]),
                "availability": _round(availability[i]),
            }
        links: dict[str, Any] = {}
        if self._link_pm and inv.link_ids:
            link_util = np.stack([b.utilization for b in self._link_pm])
            link_in = np.stack([b.seconds_in_service for b in self._link_pm]).sum(axis=0)
            link_p95 = np.percentile(link_util, 95, axis=0, method="inverted_cdf")
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
                "demand_mb": _round(stack["data_demand_mb"].sum(), 3),
                "served_mb": _round(stack["data_served_mb"].sum(), 3),
            },
            "service": service,
            "cells": cells,
            "links": links,
            "outages": self.outages,
        }

    def _subscriber_outage(
        self, in_service: np.ndarray, span: np.ndarray, pm: list[CellPmBatch]
    ) -> dict[str, Any]:
        """Out-of-service time per subscriber: the time its home cell was out of service,
        counted from the PM interval it was admitted in for subscribers added during the run."""
        inv = self.inventory
        assert inv is not None
        out = span[:, None] - in_service  # seconds out of service, per interval and cell
        since_end = np.cumsum(out[::-1], axis=0)[::-1]  # from each interval to the end
        per_sub = since_end[0][inv.subscriber_cell]
        if self._admitted:
            cell_index = {cell_id: i for i, cell_id in enumerate(inv.cell_ids)}
            starts = np.array([b.start_s for b in pm])
            extra = []
            for record in self._admitted:
                first = int(np.searchsorted(starts, record.time_s, side="right")) - 1
                extra.append(since_end[max(first, 0)][cell_index[record.cell]])
            per_sub = np.concatenate([per_sub, extra])
        return {
            "subscribers": len(per_sub),
            "subscribers_affected": int((per_sub > 0).sum()),
            "subscriber_hours_out_of_service": _round(per_sub.sum() / 3600.0, 3),
        }
