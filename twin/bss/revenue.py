"""Revenue: what the run earned by product, tower and day, and the revenue at risk.

- ``by_product`` and ``by_tower``: invoiced recurring fees and usage, less SLA credits (tax is
  not revenue, and credit carried between invoices is the same credit moved), the tower being
  the subscription's home cell's.
- ``by_day``: usage rated on the day its record's period starts, and the recurring fees accrued
  that day (each billed day of a subscription earns ``monthly fee / days of its cycle``).
- ``at_risk``: SLA credits plus the usage the network lost, priced at the overage rates (an
  upper bound: some of it would have fallen within allowances). The twin sees lost calls only
  as cell PM counters (blocked, failed and dropped per cell): each lost call is counted as one
  mean call of the run (carried seconds over carried calls, network-wide; a dropped call's
  remaining time is a whole mean call again, holding times being exponential), and each
  cell's unserved data is its demand less what it served. A cell's lost minutes and MB are
  split over the products of the subscribers homed on it, rounded to whole units, and priced
  exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np

from twin.bss.catalog import DAY_S, PriceBook, decimal_from_minor
from twin.bss.customers import Customers
from twin.bss.records import InvoiceBatch, RatedUsage
from twin.feed import CellPmBatch

__all__ = ["Revenue"]


class Revenue:
    """Accumulates revenue from invoices and rated usage, and lost traffic from cell PM."""

    def __init__(self, book: PriceBook, customers: Customers):
        self.book = book
        self.customers = customers
        self.start: datetime | None = None
        self._usage_by_day: dict[int, int] = {}  # day index -> nano
        self._recurring_by_day: dict[int, Decimal] = {}  # day index -> currency units
        self._by_tower: dict[str, int] = {}  # minor units
        self._lost_calls = np.zeros(0, dtype=np.int64)
        self._unserved_mb = np.zeros(0)
        self._carried_s = 0.0
        self._carried_calls = 0
        self._towers: tuple[str, ...] = ()
        self._tower_of_cell = np.zeros(1, dtype=np.int64)  # the last entry: no cell known

    def on_rated(self, rated: RatedUsage) -> None:
        day = int(rated.start_s // DAY_S)
        amount = int(rated.voice_nano.sum()) + int(rated.data_nano.sum())
        self._usage_by_day[day] = self._usage_by_day.get(day, 0) + amount

    def on_invoices(self, batch: InvoiceBatch) -> None:
        """Take a cycle's invoices: charges and SLA credits by the subscription's tower."""
        subscriptions = batch.charge_subscription
        amounts = batch.charge_recurring + batch.charge_voice_amount + batch.charge_data_amount
        credits = [x for x in batch.adjustments if x.kind == "sla_credit"]
        if credits:
            subscriptions = np.concatenate(
                [subscriptions, np.array([x.subscription for x in credits], dtype=np.int64)]
            )
            amounts = np.concatenate([amounts, np.array([x.amount for x in credits])])
        cells = self.customers.cell[subscriptions]  # -1 (unknown) picks the last: no tower
        sums = np.zeros(len(self._towers) + 1, dtype=np.int64)
        np.add.at(sums, self._tower_of_cell[cells], amounts)
        for index in np.flatnonzero(sums).tolist():
            tower = self._towers[index] if index < len(self._towers) else ""
            self._by_tower[tower] = self._by_tower.get(tower, 0) + int(sums[index])

    def set_cells(self, cell_tower: tuple[str, ...]) -> None:
        """The towers of the inventory's cells, for revenue by tower."""
        self._towers = tuple(sorted(set(cell_tower)))
        index = {tower: i for i, tower in enumerate(self._towers)}
        self._tower_of_cell = np.array(
            [index[t] for t in cell_tower] + [len(self._towers)], dtype=np.int64
        )

    def accrue(self, first_day: int, days: int, per_day: Decimal) -> None:
        """Recurring fees earning ``per_day`` on each of ``days`` days from ``first_day``."""
        for day in range(first_day, first_day + days):
            self._recurring_by_day[day] = self._recurring_by_day.get(day, Decimal(0)) + per_day

    def on_pm(self, pm: CellPmBatch) -> None:
        lost = pm.voice_blocked + pm.voice_failed + pm.voice_dropped
        if len(self._lost_calls) != len(lost):
            self._lost_calls = np.zeros(len(lost), dtype=np.int64)
            self._unserved_mb = np.zeros(len(lost))
        self._lost_calls += lost.astype(np.int64)
        self._unserved_mb += np.maximum(pm.data_demand_mb - pm.data_served_mb, 0.0)
        self._carried_s += float((pm.carried_erlangs * (pm.end_s - pm.start_s)).sum())
        self._carried_calls += int(pm.voice_carried.sum())

    def summary(self, sla_credits_minor: int, by_product_minor: dict[str, int]) -> dict[str, Any]:
        digits = self.book.digits
        money = _money(digits)
        mean_call_s = self._carried_s / self._carried_calls if self._carried_calls else 0.0
        lost_minutes, lost_mb, voice_nano, data_nano = self._lost(mean_call_s)
        voice_minor = _round_nano(voice_nano, digits)
        data_minor = _round_nano(data_nano, digits)
        start = self.start or datetime(1970, 1, 1)
        days = sorted(set(self._usage_by_day) | set(self._recurring_by_day))
        return {
            "currency": self.book.currency,
            "by_product": {p: money(v) for p, v in sorted(by_product_minor.items())},
            "by_tower": {t or "(unknown)": money(v) for t, v in sorted(self._by_tower.items())},
            "by_day": {
                (start + timedelta(days=d)).strftime("%Y-%m-%d"): {
                    "recurring": str(
                        self._recurring_by_day.get(d, Decimal(0)).quantize(
                            Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP
                        )
                    ),
                    "usage": money(_round_nano(self._usage_by_day.get(d, 0), digits)),
                }
                for d in days
            },
            "at_risk": {
                "total": money(sla_credits_minor + voice_minor + data_minor),
                "sla_credits": money(sla_credits_minor),
                "lost_voice": money(voice_minor),
                "lost_data": money(data_minor),
                "lost_voice_minutes": lost_minutes,
                "lost_data_mb": lost_mb,
                "mean_call_s": round(mean_call_s, 3),
                "priced_at": "overage rates (an upper bound: some lost usage was within "
                "allowances)",
            },
        }

    def _lost(self, mean_call_s: float) -> tuple[int, int, int, int]:
        """Lost minutes and MB, and their prices in nano units, split by the products homed
        on each cell."""
        customers = self.customers
        cells = len(self._lost_calls)
        if not cells:
            return 0, 0, 0, 0
        live = (~customers.removed) & (customers.cell >= 0)
        products = len(self.book.tariffs)
        homed = np.zeros((cells, products))
        np.add.at(homed, (customers.cell[live], customers.product[live]), 1.0)
        total = homed.sum(axis=1, keepdims=True)
        share = np.divide(homed, total, out=np.zeros_like(homed), where=total > 0)
        minutes = np.rint(self._lost_calls[:, None] * mean_call_s / 60.0 * share).astype(np.int64)
        megabytes = np.rint(self._unserved_mb[:, None] * share).astype(np.int64)
        voice_rate = np.array([t.voice_minute_nano for t in self.book.tariffs], dtype=np.int64)
        data_rate = np.array([t.data_mb_nano for t in self.book.tariffs], dtype=np.int64)
        return (
            int(minutes.sum()),
            int(megabytes.sum()),
            int((minutes.sum(axis=0) * voice_rate).sum()),
            int((megabytes.sum(axis=0) * data_rate).sum()),
        )


def _round_nano(nano: int, digits: int) -> int:
    unit = 10 ** (9 - digits)
    return (nano + unit // 2) // unit if nano >= 0 else -((-nano + unit // 2) // unit)


def _money(digits: int) -> Callable[[int], str]:
    def money(minor: int) -> str:
        return str(decimal_from_minor(minor, digits))

    return money
