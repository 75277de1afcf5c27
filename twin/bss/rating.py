"""Rating: usage records (TMF635) priced per subscription, allowances first, then overage.

A usage record is one subscriber's usage over one usage period (a row of a
:class:`~twin.feed.UsageBatch`); it carries voice seconds and data megabytes. The rules
(docs/bss.md):

- **Units.** The feed gives a subscriber's voice seconds per usage period, not per call, so
  voice is rated in whole minutes per record, rounded up (61 s is 2 minutes); data in whole
  megabytes per record, rounded up. Both are integers from here on.
- **Allowances first.** Each subscription has, per billing cycle, its product's included
  minutes and megabytes, prorated like the fee (days billed over the cycle's days, rounded up
  in the customer's favour). Records consume them in the order they arrive; what goes beyond is
  overage, priced at the product's overage rate, in 10**-9 of the currency unit: exact.
- **Exactly once.** A record is keyed by (subscription, period start). Records arrive in time
  order, so a subscription keeps the start of the last period rated for it: a record whose
  period is not later was rated before, and is skipped (counted as a duplicate). Feeding the
  same batches twice changes nothing.
- A record of a subscriber with no subscription (a product the catalog does not sell, or a
  profile removed by a failed order) is rejected (TMF635 ``rejected``) and counted.
- A record belongs to the billing cycle its period starts in.

Everything is numpy over the batch: no Python loop per record.
"""

from __future__ import annotations

import numpy as np

from twin.bss.catalog import Cycles, PriceBook
from twin.bss.customers import Customers
from twin.bss.records import RatedUsage
from twin.feed import UsageBatch

__all__ = ["Rating", "minutes_and_megabytes"]


def minutes_and_megabytes(
    voice_seconds: np.ndarray, data_mb: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Billable whole minutes and whole megabytes of usage records, each rounded up."""
    minutes = np.ceil(np.asarray(voice_seconds, dtype=float) / 60.0).astype(np.int64)
    megabytes = np.ceil(np.asarray(data_mb, dtype=float)).astype(np.int64)
    return minutes, megabytes


class Rating:
    """Rates usage batches for the subscriptions of :class:`Customers`."""

    def __init__(self, book: PriceBook, customers: Customers, cycles: Cycles):
        self.book = book
        self.customers = customers
        self.cycles = cycles
        self._voice_allowance = np.array([t.voice_minutes for t in book.tariffs], dtype=np.int64)
        self._data_allowance = np.array([t.data_mb for t in book.tariffs], dtype=np.int64)
        self._voice_rate = np.array([t.voice_minute_nano for t in book.tariffs], dtype=np.int64)
        self._data_rate = np.array([t.data_mb_nano for t in book.tariffs], dtype=np.int64)
        size = 0
        self.last_start = np.full(size, -np.inf)
        self.counter_cycle = np.full(size, -1, dtype=np.int64)
        self.used_minutes = np.zeros(size, dtype=np.int64)
        self.used_mb = np.zeros(size, dtype=np.int64)
        self.allowed_minutes = np.zeros(size, dtype=np.int64)
        self.allowed_mb = np.zeros(size, dtype=np.int64)
        self.records = 0
        self.rejected = 0
        self.duplicates = 0

    def _grow(self) -> None:
        n = len(self.customers)
        extra = n - len(self.last_start)
        if extra <= 0:
            return
        self.last_start = np.concatenate([self.last_start, np.full(extra, -np.inf)])
        self.counter_cycle = np.concatenate([self.counter_cycle, np.full(extra, -1, np.int64)])
        for name in ("used_minutes", "used_mb", "allowed_minutes", "allowed_mb"):
            setattr(self, name, np.concatenate([getattr(self, name), np.zeros(extra, np.int64)]))

    def rate(self, batch: UsageBatch) -> RatedUsage:
        """Rate one usage batch; return what was rated (the records not rated before)."""
        self._grow()
        cycle = self.cycles.of(batch.start_s)
        subscription = self.customers.subscriptions_of(np.asarray(batch.subscriber, np.int64))
        known = subscription >= 0
        fresh = known.copy()
        fresh[known] = self.last_start[subscription[known]] < batch.start_s
        rejected = int((~known).sum())
        duplicates = int((known & ~fresh).sum())
        s = subscription[fresh]
        self.last_start[s] = batch.start_s
        self._open_cycle(s, cycle)
        minutes, megabytes = minutes_and_megabytes(
            np.asarray(batch.voice_seconds)[fresh], np.asarray(batch.data_mb)[fresh]
        )
        voice_over = _overage(self.used_minutes, self.allowed_minutes, s, minutes)
        data_over = _overage(self.used_mb, self.allowed_mb, s, megabytes)
        product = self.customers.product[s]
        self.records += len(s)
        self.rejected += rejected
        self.duplicates += duplicates
        return RatedUsage(
            start_s=batch.start_s,
            end_s=batch.end_s,
            cycle=cycle,
            subscription=s,
            subscriber=np.asarray(batch.subscriber, np.int64)[fresh],
            voice_minutes=minutes,
            voice_overage=voice_over,
            voice_nano=voice_over * self._voice_rate[product],
            data_mb=megabytes,
            data_overage=data_over,
            data_nano=data_over * self._data_rate[product],
            rejected=rejected,
            duplicates=duplicates,
        )

    def _open_cycle(self, s: np.ndarray, cycle: int) -> None:
        """Reset the counters of subscriptions entering ``cycle``, with its allowances."""
        entering = s[self.counter_cycle[s] != cycle]
        if not len(entering):
            return
        days = self.cycles.billed_days(cycle, self.customers.start_s[entering])
        whole = int(self.cycles.days[cycle])
        product = self.customers.product[entering]
        # rounded up: the customer's favour (ceil of a / b as -(-a // b))
        self.allowed_minutes[entering] = -(-self._voice_allowance[product] * days // whole)
        self.allowed_mb[entering] = -(-self._data_allowance[product] * days // whole)
        self.used_minutes[entering] = 0
        self.used_mb[entering] = 0
        self.counter_cycle[entering] = cycle


def _overage(
    used: np.ndarray, allowed: np.ndarray, s: np.ndarray, quantity: np.ndarray
) -> np.ndarray:
    """Add ``quantity`` to each subscription's use and return the part beyond its allowance
    (subscriptions are distinct within a batch)."""
    before = used[s]
    after = before + quantity
    used[s] = after
    limit = allowed[s]
    return np.maximum(after - limit, 0) - np.maximum(before - limit, 0)
