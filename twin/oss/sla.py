"""Service assurance: each subscription's availability per billing cycle, and its SLA breaches.

A subscription has service while its home cell does. The twin measures a cell's lost time
as an operator can:

- its unavailable time from PM (``RRU.CellUnavailableTime``: the interval less
  ``seconds_in_service``),
- plus the time anomaly detection found it asleep (``AnomalyFlags.asleep_s``: a sleeping cell
  reports itself in service),
- less planned maintenance: an interval's unavailable time is not counted for a cell behind
  (:func:`twin.oss.inventory.impact`) the object of an alarm that carries ``planned_outage``
  and was active at some time in that interval. Fault management's alarms are what the twin
  knows of maintenance; with it off, nothing is excluded.

Cycles are calendar months from the run's start (the 31st's next cycle starts on the last day
of a shorter month); the last is partial, over the time simulated. A subscription admitted
during a cycle is measured from its admission. Availability = 1 - lost / time in the cycle; a
breach when it is below its product's ``sla.availability``. A cycle's breaches are published
together (:class:`~twin.oss.records.SlaBreaches`, columnar) when the cycle is known complete:
at its end (with the PM interval holding it settled, one interval later) or at the run's end.

The work per interval is array arithmetic over cells (cumulative lost seconds per cell); a
cycle's availabilities are one gather of those over the subscribers (a million in the national
scenario). Each interval is settled one interval late, so that the anomaly flags, themselves one
interval late, and a maintenance alarm delivered just after the interval's end are in.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from twin.bus import Bus
from twin.feed import (
    CellPmBatch,
    Inventory,
    LinkPmBatch,
    RunEnded,
    RunStarted,
    SubscriptionAdmitted,
)
from twin.oss.inventory import InventoryMirror, impact
from twin.oss.records import AlarmChange, AnomalyFlags, SlaBreaches

__all__ = ["ServiceAssurance", "billing_cycles"]


def _add_months(start: datetime, months: int) -> datetime:
    month = start.month - 1 + months
    year, month = start.year + month // 12, month % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def billing_cycles(start: datetime, duration_s: float) -> list[tuple[float, float]]:
    """The run's billing cycles, in seconds from its start: calendar months from ``start``,
    the last one cut at ``duration_s``.

    >>> billing_cycles(datetime(2027, 1, 31), 70 * 86400.0)[:2]
    [(0.0, 2419200.0), (2419200.0, 5097600.0)]
    """
    cycles: list[tuple[float, float]] = []
    begin = 0.0
    k = 1
    while begin < duration_s:
        end = (_add_months(start, k) - start) / timedelta(seconds=1)
        cycles.append((begin, min(end, duration_s)))
        begin, k = end, k + 1
    return cycles


@dataclass(frozen=True)
class _Window:
    cells: np.ndarray
    start_s: float
    end_s: float  # inf while the alarm is active


class ServiceAssurance:
    """Measures availability per subscription and cycle from the feed and the twin's own
    records (anomaly flags, alarms), and publishes :class:`SlaBreaches` records.

    ``targets`` maps a product name to its ``sla.availability``; products without one are
    never in breach.
    """

    def __init__(self, bus: Bus, targets: Mapping[str, float]) -> None:
        self.bus = bus
        self.targets = dict(targets)
        self.cycles: list[tuple[float, float]] = []
        self.cell_ids: tuple[str, ...] = ()
        self.cell_tower: tuple[str, ...] = ()
        self.product_names: list[str] = []
        self._mirror: InventoryMirror | None = None
        self._cell_index: dict[str, int] = {}
        self._product_index: dict[str, int] = {}
        self._product_target = np.zeros(0)
        n = 0
        self.sub_cell = np.zeros(n, dtype=np.int64)
        self.sub_product = np.zeros(n, dtype=np.int64)
        self.sub_since = np.zeros(n)
        self._sub_base = np.zeros(n)  # lost seconds of the home cell when the cycle began
        self._count = 0
        self.lost = np.zeros(0)  # cumulative lost seconds per cell: unplanned PM + asleep
        self.unavailable = np.zeros(0)  # of which PM unavailability (unplanned)
        self.asleep = np.zeros(0)  # of which found asleep
        self._cycle = 0
        self._pending: list[CellPmBatch] = []  # intervals not yet settled, in order
        self._asleep_by_start: dict[float, np.ndarray] = {}
        self._windows: dict[tuple[int, float], _Window] = {}
        self._impact_cache: dict[str, np.ndarray] = {}
        self.breaches: list[SlaBreaches] = []  # one per cycle with a breach
        self.ended = False
        bus.subscribe(RunStarted, self._on_start)
        bus.subscribe(Inventory, self._on_inventory)
        bus.subscribe(SubscriptionAdmitted, self._on_admitted)
        bus.subscribe(AlarmChange, self._on_alarm)
        bus.subscribe(AnomalyFlags, self._on_flags)
        bus.subscribe(LinkPmBatch, self._on_link_pm)  # after the interval's anomaly flags
        bus.subscribe(CellPmBatch, self._on_cell_pm)
        bus.subscribe(RunEnded, self._on_end)

    # --- what the twin knows --------------------------------------------------------------------

    def _on_start(self, record: RunStarted) -> None:
        self.cycles = billing_cycles(record.start, record.duration_s)

    def _on_inventory(self, inv: Inventory) -> None:
        n_cells = len(inv.cell_ids)
        self.cell_ids, self.cell_tower = inv.cell_ids, inv.cell_tower
        self._cell_index = {c: i for i, c in enumerate(inv.cell_ids)}
        self._mirror = InventoryMirror.from_inventory(inv)
        self.product_names = list(inv.product_names)
        self._product_index = {p: i for i, p in enumerate(self.product_names)}
        self._product_target = np.array([self._target(p) for p in self.product_names])
        self.sub_cell = np.asarray(inv.subscriber_cell, dtype=np.int64).copy()
        self.sub_product = np.asarray(inv.subscriber_product, dtype=np.int64).copy()
        self._count = len(self.sub_cell)
        self.sub_since = np.zeros(self._count)
        self._sub_base = np.zeros(self._count)
        self.lost = np.zeros(n_cells)
        self.unavailable = np.zeros(n_cells)
        self.asleep = np.zeros(n_cells)

    def _target(self, product: str) -> float:
        target = self.targets.get(product)
        return np.nan if target is None else float(target)  # NaN: no SLA, never below it

    def _on_admitted(self, record: SubscriptionAdmitted) -> None:
        if record.product not in self._product_index:
            self._product_index[record.product] = len(self.product_names)
            self.product_names.append(record.product)
            self._product_target = np.append(self._product_target, self._target(record.product))
        index = record.subscriber
        if index >= len(self.sub_cell):
            grow = max(16, index + 1 - len(self.sub_cell), len(self.sub_cell) // 2)
            self.sub_cell = np.concatenate([self.sub_cell, np.zeros(grow, np.int64)])
            self.sub_product = np.concatenate([self.sub_product, np.zeros(grow, np.int64)])
            self.sub_since = np.concatenate([self.sub_since, np.zeros(grow)])
            self._sub_base = np.concatenate([self._sub_base, np.zeros(grow)])
        cell = self._cell_index[record.cell]
        self.sub_cell[index] = cell
        self.sub_product[index] = self._product_index[record.product]
        self.sub_since[index] = record.time_s
        self._sub_base[index] = self.lost[cell]  # measured from its admission
        self._count = max(self._count, index + 1)

    def _on_alarm(self, change: AlarmChange) -> None:
        if not change.planned_outage:
            return
        key = (change.alarm_id, change.raised_time_s)
        end = np.inf if change.cleared_time_s is None else change.cleared_time_s
        self._windows[key] = _Window(
            self._cells_behind(change.alarmed_object), change.raised_time_s, end
        )

    def _cells_behind(self, resource: str) -> np.ndarray:
        cells = self._impact_cache.get(resource)
        if cells is None:
            mirror = self._mirror
            if mirror is None or mirror.kind(resource) is None:
                cells = np.zeros(0, dtype=np.int64)
            else:
                affected = impact(mirror, resource).cells
                cells = np.array([self._cell_index[c] for c in affected], dtype=np.int64)
            self._impact_cache[resource] = cells
        return cells

    def _on_flags(self, flags: AnomalyFlags) -> None:
        self._asleep_by_start[flags.start_s] = flags.asleep_s

    def _on_cell_pm(self, batch: CellPmBatch) -> None:
        self._pending.append(batch)  # settled when the next interval's links come, or at the end

    def _on_link_pm(self, batch: LinkPmBatch) -> None:
        self._settle(before=batch.start_s)

    def _on_end(self, record: RunEnded) -> None:
        self._settle(before=np.inf)
        while self._cycle < len(self.cycles):
            self._close_cycle(self.lost, record.time_s)
        self.ended = True

    # --- accounting -----------------------------------------------------------------------------

    def _settle(self, before: float) -> None:
        """Add the lost time per cell of the pending intervals that began before ``before``."""
        while self._pending and self._pending[0].start_s < before:
            self._settle_one(self._pending.pop(0))

    def _settle_one(self, batch: CellPmBatch) -> None:
        span = batch.end_s - batch.start_s
        unavailable = np.clip(span - batch.seconds_in_service, 0.0, span)
        planned = np.zeros(len(unavailable), dtype=bool)
        for key, window in list(self._windows.items()):
            if window.start_s < batch.end_s and window.end_s >= batch.start_s:
                planned[window.cells] = True
            elif window.end_s < batch.start_s:
                del self._windows[key]  # over: no later interval can need it
        unavailable[planned] = 0.0
        asleep = self._asleep_by_start.pop(batch.start_s, None)
        delta_asleep = np.zeros(len(unavailable)) if asleep is None else asleep
        delta = unavailable + delta_asleep
        # a cycle ending inside this interval takes its share of the interval
        while self._cycle < len(self.cycles) and self.cycles[self._cycle][1] <= batch.end_s:
            cycle_end = self.cycles[self._cycle][1]
            if cycle_end >= self.cycles[-1][1]:
                break  # the last cycle closes at the run's end
            share = (cycle_end - batch.start_s) / span
            self._close_cycle(self.lost + share * delta, cycle_end)
        self.lost += delta
        self.unavailable += unavailable
        self.asleep += delta_asleep

    def _close_cycle(self, lost_at_end: np.ndarray, known_s: float) -> None:
        start, end = self.cycles[self._cycle]
        n = self._count
        cell = self.sub_cell[:n]
        availability = self.availability(lost_at_end[cell] - self._sub_base[:n], start, end)
        target = self._product_target[self.sub_product[:n]]
        with np.errstate(invalid="ignore"):
            breached = np.flatnonzero(availability < target)
        if len(breached):
            breaches = SlaBreaches(
                time_s=known_s,
                cycle_start_s=start,
                cycle_end_s=end,
                subscriber=breached.astype(np.int64),
                product=self.sub_product[breached],
                product_names=tuple(self.product_names),
                availability=availability[breached],
                target=target[breached],
            )
            self.breaches.append(breaches)
            self.bus.publish(breaches)
        self._sub_base[:n] = lost_at_end[cell]
        self._cycle += 1

    @property
    def subscriptions(self) -> int:
        """How many subscriptions the twin knows of: the inventory's and those admitted."""
        return self._count

    def availability(self, lost_s: np.ndarray, start_s: float, end_s: float) -> np.ndarray:
        """Each subscription's availability in the cycle [start_s, end_s) given its home
        cell's lost seconds in it: 1 - lost / the time it was subscribed in the cycle."""
        n = len(lost_s)
        period = end_s - np.maximum(start_s, self.sub_since[:n])
        share = np.divide(lost_s, period, out=np.zeros(n), where=period > 0)
        return np.clip(1.0 - share, 0.0, 1.0)

    def summary(self) -> dict[str, Any]:
        """The twin's side of summary.json's ``sla``: breaches, by product, worst towers."""
        if not self.ended:
            raise RuntimeError("the run did not complete: no SLA summary")
        by_tower: dict[str, list[float]] = {}
        by_product: dict[str, int] = {}
        for b in self.breaches:
            cells = self.sub_cell[b.subscriber].tolist()
            for cell, availability in zip(cells, b.availability.tolist(), strict=True):
                by_tower.setdefault(self.cell_tower[cell], []).append(availability)
            counts = np.bincount(b.product, minlength=len(b.product_names)).tolist()
            for product, count in zip(b.product_names, counts, strict=True):
                if count:
                    by_product[product] = by_product.get(product, 0) + count
        worst = sorted(by_tower.items(), key=lambda item: (-len(item[1]), min(item[1]), item[0]))
        return {
            "cycles": [{"start_s": s, "end_s": e} for s, e in self.cycles],
            "targets": {p: self.targets[p] for p in sorted(self.targets)},
            "breaches": sum(len(b) for b in self.breaches),
            "breached_subscriptions": len(
                set().union(*(b.subscriber.tolist() for b in self.breaches))
            ),
            "breaches_by_product": dict(sorted(by_product.items())),
            "worst_towers": [
                {
                    "tower": tower,
                    "breaches": len(values),
                    "lowest_availability": round(min(values), 6),
                }
                for tower, values in worst[:5]
            ],
        }
