"""Service assurance scored against the truth: the availability subscribers really had.

Kept apart from ``twin.oss.sla``, which never sees the truth. From the simulator's truth, a
cell really lost the time it was out of service (``OutageAttribution``) or asleep (``sleep``
``AnomalyTruth``), the union of the two, less its outages caused by planned maintenance
(``FaultTruth.planned``), which the SLA excludes. Each subscription's true availability per
cycle follows with the same formula as the twin's (:meth:`ServiceAssurance.availability`), and
the two sets of breaches are compared:

- ``missed_breaches``: true breaches the twin did not publish (a sleeping cell nobody found);
- ``false_breaches``: breaches the twin published that the truth does not bear out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sim.truth import AnomalyTruth, FaultTruth, OutageAttribution
from twin.oss.sla import ServiceAssurance

__all__ = ["score_sla", "true_lost_seconds"]


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _clipped(intervals: list[tuple[float, float]], start: float, end: float) -> float:
    return sum(max(0.0, min(e, end) - max(s, start)) for s, e in intervals)


def true_lost_seconds(
    cell_ids: Sequence[str],
    cell_tower: Sequence[str],
    outages: Sequence[OutageAttribution],
    faults: Sequence[FaultTruth],
    anomalies: Sequence[AnomalyTruth],
    duration_s: float,
) -> dict[int, list[tuple[float, float]]]:
    """Per cell index, the merged intervals in which it really gave no service (unplanned)."""
    index = {c: i for i, c in enumerate(cell_ids)}
    towers: dict[str, list[int]] = {}
    for i, tower in enumerate(cell_tower):
        towers.setdefault(tower, []).append(i)
    planned = {f.fault_id for f in faults if f.planned}
    lost: dict[int, list[tuple[float, float]]] = {}
    for outage in outages:
        if outage.kind == "cell" and outage.fault_id not in planned:
            end = duration_s if outage.end_s is None else outage.end_s
            lost.setdefault(index[outage.resource], []).append((outage.start_s, end))
    for anomaly in anomalies:
        if anomaly.kind == "sleep":
            cells = towers.get(anomaly.resource) or [index[anomaly.resource]]
            for c in cells:
                lost.setdefault(c, []).append((anomaly.start_s, anomaly.end_s))
    return {c: _merge(spans) for c, spans in lost.items()}


def score_sla(
    sla: ServiceAssurance,
    outages: Sequence[OutageAttribution],
    faults: Sequence[FaultTruth],
    anomalies: Sequence[AnomalyTruth],
    duration_s: float,
) -> dict[str, Any]:
    """``missed_breaches`` and ``false_breaches`` of the twin's SLA breaches, per the truth."""
    lost = true_lost_seconds(sla.cell_ids, sla.cell_tower, outages, faults, anomalies, duration_s)
    n = sla.subscriptions
    cells = sla.sub_cell[:n]
    target = np.array([sla.targets.get(p, np.nan) for p in sla.product_names])[sla.sub_product[:n]]
    published: dict[float, set[int]] = {}
    for b in sla.breaches:
        published.setdefault(b.cycle_start_s, set()).update(b.subscriber.tolist())
    missed = false = true_total = 0
    for start, end in sla.cycles:
        per_cell = np.zeros(len(sla.cell_ids))
        for c, spans in lost.items():
            per_cell[c] = _clipped(spans, start, end)
        lost_sub = per_cell[cells]
        # a subscription admitted in the cycle: its cell's lost time since then only
        late = np.flatnonzero(sla.sub_since[:n] > start)
        for s in late.tolist():
            lost_sub[s] = _clipped(lost.get(int(cells[s]), []), sla.sub_since[s], end)
        availability = sla.availability(lost_sub, start, end)
        with np.errstate(invalid="ignore"):
            true_breach = set(np.flatnonzero(availability < target).tolist())
        twin = published.get(start, set())
        true_total += len(true_breach)
        missed += len(true_breach - twin)
        false += len(twin - true_breach)
    return {"true_breaches": true_total, "missed_breaches": missed, "false_breaches": false}
