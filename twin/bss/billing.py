"""Billing: monthly invoices per account, with SLA credits and the credit carried over.

The rules (docs/bss.md):

- Cycles are monthly from the run's start (:class:`~twin.bss.catalog.Cycles`); the last is cut
  at the run's end and billed then, prorated.
- Each subscription charged in a cycle has a ``recurring`` line: the fee in force at the later
  of the cycle's and the subscription's start (the effective-dating rule,
  :mod:`twin.bss.catalog`), times days billed over the cycle's days (a day begun is a day
  billed). ``voice_overage`` and ``data_overage`` lines sum what rating priced beyond the
  allowances (quantity in minutes or MB at the per-minute or per-MB rate).
- An SLA breach (:class:`~twin.oss.records.SlaBreaches`, from service assurance) gives an
  ``sla_credit`` line: minus ``credit_percent`` of the subscription's recurring charge for the
  breached cycle. A breach that arrives after its cycle's invoice was issued is credited on the
  account's next invoice (never lost, never twice: one credit per subscription and cycle).
- Credit an invoice cannot absorb is carried: a ``credit_carried_forward`` line brings the
  invoice to zero and the account keeps the excess, which the next invoice takes as a
  ``credit_brought_forward`` line.
- ``tax`` is ``catalog.tax_percent`` of the invoice's lines after credits (one line per
  invoice, when the rate is not zero).
- Every line is rounded half-up to the currency's minor unit where it is made; an invoice's
  total is the sum of its lines.

Billing is subscribed on the bus after service assurance, and closes a cycle's invoices when
the first usage of a later cycle arrives, or at the run's end: by then assurance has published
the cycle's breaches (it publishes them at the cycle's end).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np

from twin.bss.catalog import Cycles, PriceBook, prorate_minor, to_minor_array
from twin.bss.contracts import StepKey, StepRefused
from twin.bss.customers import Customers
from twin.bss.records import InvoiceBatch, InvoiceLine, RatedUsage, SlaCredits
from twin.oss.records import SlaBreaches

__all__ = ["LINE_KINDS", "Billing", "BillingTotals"]

# An invoice's line kinds, in the order an invoice shows them for one subscription, then its own.
LINE_KINDS = (
    "recurring",
    "voice_overage",
    "data_overage",
    "sla_credit",
    "credit_brought_forward",
    "credit_carried_forward",
    "tax",
)


@dataclass
class BillingTotals:
    """The run's invoices summed, in minor units."""

    invoices: int = 0
    recurring: int = 0
    usage: int = 0
    credits: int = 0  # credits applied: SLA credits and credit brought forward, less carried
    tax: int = 0
    total: int = 0
    by_product: dict[str, int] = field(default_factory=dict)  # recurring + usage - SLA credits


# SlaCredits' columns as _issue gathers them, a value per credit, and their types
_CREDIT_COLUMNS = (
    ("time_s", float),
    ("subscription", np.int64),
    ("account", np.int64),
    ("product", np.int64),
    ("breached_cycle", np.int64),
    ("cycle_start_s", float),
    ("cycle_end_s", float),
    ("availability", float),
    ("target", float),
    ("amount", np.int64),
    ("on_invoice", bool),
)


@dataclass(slots=True)
class _Line:
    account: int
    subscription: int  # -1 for an invoice-level line
    kind: str
    description: str
    quantity: int
    unit_price: str
    amount: int


class Billing:
    """Charges subscriptions, takes rated usage and SLA breaches, and issues invoices."""

    def __init__(
        self,
        book: PriceBook,
        customers: Customers,
        cycles: Cycles,
        publish: Callable[[object], None],
    ):
        self.book = book
        self.customers = customers
        self.cycles = cycles
        self.publish = publish
        self.charged_from = np.zeros(0)  # NaN: not charged
        self.open_cycle = 0
        self._voice_over = np.zeros(0, dtype=np.int64)
        self._voice_nano = np.zeros(0, dtype=np.int64)
        self._data_over = np.zeros(0, dtype=np.int64)
        self._data_nano = np.zeros(0, dtype=np.int64)
        self._started: dict[StepKey, int] = {}
        self._stopped: set[StepKey] = set()
        # SLA breaches to credit: (the cycle's breaches, the rows credited, their
        # subscriptions, the cycle)
        self._breaches: list[tuple[SlaBreaches, np.ndarray, np.ndarray, int]] = []
        self._credited: set[tuple[int, int]] = set()  # (subscription, cycle)
        self.balance: dict[int, int] = {}  # account -> credit carried, minor units
        self.totals = BillingTotals()
        self._fees: list[Decimal] = []  # every monthly fee billed, in order first seen
        self._fee_index: dict[Decimal, int] = {}
        self.credits: list[SlaCredits] = []  # one per cycle issued with any
        # told each group of recurring charges as it is billed: (cycle, from, days, per day)
        self.on_accrual: Callable[[int, float, int, Decimal], None] | None = None

    # --- charging ------------------------------------------------------------------------------

    def charge_inventory(self) -> None:
        """Charge every subscription of the start inventory from the run's start."""
        self._grow()
        self.charged_from[: len(self.customers)] = np.where(self.customers.removed, np.nan, 0.0)

    def _grow(self) -> None:
        extra = len(self.customers) - len(self.charged_from)
        if extra <= 0:
            return
        self.charged_from = np.concatenate([self.charged_from, np.full(extra, np.nan)])
        for name in ("_voice_over", "_voice_nano", "_data_over", "_data_nano"):
            setattr(self, name, np.concatenate([getattr(self, name), np.zeros(extra, np.int64)]))

    def start_billing(
        self, key: StepKey, *, subscription: str, product: str, time_s: float
    ) -> None:
        """Start charging a subscription from ``time_s``, once per ``key`` (the saga's
        :class:`~twin.bss.contracts.Charging` contract)."""
        if key in self._started:
            return
        if key in self._stopped:
            raise StepRefused(f"step {key} was compensated; a new attempt needs a new key")
        n = self.customers.ordinal(subscription)
        if n < 0:
            raise StepRefused(f"no subscription '{subscription}'")
        if self.customers.products[self.customers.product[n]] != product:
            raise StepRefused(f"subscription '{subscription}' is not for product '{product}'")
        self._grow()
        if not math.isnan(self.charged_from[n]):
            raise StepRefused(f"subscription '{subscription}' is already charged")
        if time_s >= self.cycles.run_end_s:
            raise StepRefused("billing cannot start at or after the run's end")
        self.charged_from[n] = time_s
        self._started[key] = n

    def stop_billing(self, key: StepKey) -> None:
        """Compensation: undo what :meth:`start_billing` did for ``key``, if anything."""
        self._stopped.add(key)
        n = self._started.pop(key, None)
        if n is None:
            return
        self.charged_from[n] = np.nan
        for counters in (self._voice_over, self._voice_nano, self._data_over, self._data_nano):
            counters[n] = 0

    # --- the bus -------------------------------------------------------------------------------

    def on_rated(self, rated: RatedUsage) -> None:
        self._close_before(rated.cycle)
        self._grow()
        s = rated.subscription
        charged = ~np.isnan(self.charged_from[s])
        s = s[charged]
        np.add.at(self._voice_over, s, rated.voice_overage[charged])
        np.add.at(self._voice_nano, s, rated.voice_nano[charged])
        np.add.at(self._data_over, s, rated.data_overage[charged])
        np.add.at(self._data_nano, s, rated.data_nano[charged])

    def on_breaches(self, breaches: SlaBreaches) -> None:
        """Take a cycle's SLA breaches: each subscription billing charges is credited once per
        cycle, on the next invoice issued (:meth:`_issue`)."""
        subs = self.customers.subscriptions_of(breaches.subscriber)
        self._grow()
        charged = subs >= 0
        charged[charged] = ~np.isnan(self.charged_from[subs[charged]])
        cycle = self.cycles.of(breaches.cycle_start_s)
        rows: list[int] = []
        for row, sub in zip(np.flatnonzero(charged).tolist(), subs[charged].tolist(), strict=True):
            if (sub, cycle) not in self._credited:
                self._credited.add((sub, cycle))
                rows.append(row)
        if rows:
            taken = np.array(rows, dtype=np.int64)
            self._breaches.append((breaches, taken, subs[taken], cycle))

    def close_all(self) -> None:
        """Issue every cycle's invoices still open (the run has ended)."""
        self._close_before(len(self.cycles))

    def _close_before(self, cycle: int) -> None:
        while self.open_cycle < min(cycle, len(self.cycles)):
            self._issue(self.open_cycle)
            self.open_cycle += 1

    # --- invoices ------------------------------------------------------------------------------

    def recurring_minor(
        self, cycle: int, subscriptions: np.ndarray, *, accrue: bool = False
    ) -> tuple[np.ndarray, ...]:
        """Each subscription's recurring charge for ``cycle`` in minor units, its days billed
        and its monthly fee's index into the fees seen (the batch's ``fees``)."""
        since = self.charged_from[subscriptions]
        days = self.cycles.billed_days(cycle, since)
        start, _ = self.cycles.span(cycle)
        effective = np.maximum(since, start)
        product = self.customers.product[subscriptions]
        amount = np.zeros(len(subscriptions), dtype=np.int64)
        fee_index = np.zeros(len(subscriptions), dtype=np.int64)
        whole = int(self.cycles.days[cycle])
        # most subscriptions run from before the cycle: their fee is the one at its start
        later = np.unique(effective[effective > start]).tolist()
        for p in range(len(self.book.tariffs)):
            of_p = product == p
            for t in [start, *later]:
                mask = of_p & (effective == t)
                if not mask.any():
                    continue
                fee = self.book.fee_at(p, float(t))
                amount[mask] = prorate_minor(fee, days[mask], whole, self.book.digits)
                if fee not in self._fee_index:
                    self._fee_index[fee] = len(self._fees)
                    self._fees.append(fee)
                fee_index[mask] = self._fee_index[fee]
                if accrue and self.on_accrual is not None:
                    counts = np.bincount(days[mask])
                    for billed in np.flatnonzero(counts).tolist():
                        self.on_accrual(cycle, float(t), billed, fee * int(counts[billed]) / whole)
        return amount, days, fee_index

    def _issue(self, cycle: int) -> None:
        customers, book, digits = self.customers, self.book, self.book.digits
        start, end = self.cycles.span(cycle)
        self._grow()
        n = len(customers)
        charged = ~np.isnan(self.charged_from[:n]) & ~customers.removed
        charged[charged] = self.charged_from[:n][charged] < end
        subs = np.flatnonzero(charged)  # ordinals ascending; accounts hold runs of them
        recurring, days, fee_index = self.recurring_minor(cycle, subs, accrue=True)
        account = customers.account[subs]
        product = customers.product[subs]
        voice_over, data_over = self._voice_over[subs], self._data_over[subs]
        voice_amount = to_minor_array(self._voice_nano[subs], digits)
        data_amount = to_minor_array(self._data_nano[subs], digits)
        # one invoice per account with a charged subscription, in account order
        accounts = np.flatnonzero(np.bincount(account, minlength=customers.accounts))
        invoice_of_account = np.full(customers.accounts, -1, dtype=np.int64)
        invoice_of_account[accounts] = np.arange(len(accounts))
        # subscriptions of the start inventory fill accounts in order: usually sorted already
        in_order = bool((account[1:] >= account[:-1]).all())
        order = None if in_order else np.argsort(account, kind="stable")

        def arranged(values: np.ndarray) -> np.ndarray:  # in account order: no copy when so
            return values if order is None else values[order]

        net = np.zeros(customers.accounts, dtype=np.int64)
        np.add.at(net, account, recurring + voice_amount + data_amount)
        # the few other lines: SLA credits, credit brought and carried forward, tax
        extra: list[_Line] = []
        credited: dict[str, int] = {}
        # the credits' columns, in the order of _CREDIT_COLUMNS
        columns: tuple[list[Any], ...] = tuple([] for _ in _CREDIT_COLUMNS)
        unit_price = {t.product: f"-{t.credit_percent}%" for t in book.tariffs}
        # each breached subscription's place among those charged this cycle (subs ascending)
        breached_subs = np.concatenate(
            [np.zeros(0, np.int64), *(s for _, _, s, _ in self._breaches)]
        )
        found: list[bool] = [False] * len(breached_subs)
        charged_here: list[int] = [0] * len(breached_subs)
        if len(subs) and len(breached_subs):
            where = np.minimum(np.searchsorted(subs, breached_subs), len(subs) - 1)
            found = (subs[where] == breached_subs).tolist()
            charged_here = recurring[where].tolist()
        breached_rows = (
            (breaches, sub, breached, availability, target)
            for breaches, rows, batch_subs, breached in self._breaches
            for sub, availability, target in zip(
                batch_subs.tolist(),
                breaches.availability[rows].tolist(),
                breaches.target[rows].tolist(),
                strict=True,
            )
        )
        for (breaches, sub, breached, availability, target), is_charged, here in zip(
            breached_rows, found, charged_here, strict=True
        ):
            if breached == cycle and is_charged:
                base = here
            else:
                base = int(self.recurring_minor(breached, np.array([sub]))[0][0])
            tariff = book.tariffs[int(customers.product[sub])]
            credit = int(
                (Decimal(base) * tariff.credit_percent / 100).quantize(
                    Decimal(1), rounding=ROUND_HALF_UP
                )
            )
            acc = int(customers.account[sub])
            late = "" if breached == cycle else f" (cycle {breached + 1}, late)"
            description = f"SLA credit: availability {availability:.4%} below {target:.2%}{late}"
            credited[tariff.product] = credited.get(tariff.product, 0) + credit
            if invoice_of_account[acc] < 0:  # no invoice this cycle: the credit waits
                self.balance[acc] = self.balance.get(acc, 0) + credit
            else:
                extra.append(
                    _Line(
                        acc,
                        sub,
                        "sla_credit",
                        description,
                        1,
                        unit_price[tariff.product],
                        -credit,
                    )
                )
                net[acc] -= credit
            values = (
                breaches.time_s,
                sub,
                acc,
                int(customers.product[sub]),
                breached,
                breaches.cycle_start_s,
                breaches.cycle_end_s,
                availability,
                target,
                credit,
                bool(invoice_of_account[acc] >= 0),
            )
            for column, value in zip(columns, values, strict=True):
                column.append(value)
        self._breaches = []
        for acc, carried in sorted(self.balance.items()):
            if invoice_of_account[acc] >= 0 and carried:
                extra.append(
                    _Line(
                        acc,
                        -1,
                        "credit_brought_forward",
                        "credit from earlier invoices",
                        1,
                        "",
                        -carried,
                    )
                )
                net[acc] -= carried
                self.balance[acc] = 0
        for acc in accounts[net[accounts] < 0].tolist():
            excess = int(-net[acc])
            extra.append(
                _Line(
                    acc,
                    -1,
                    "credit_carried_forward",
                    "credit carried to the next invoice",
                    1,
                    "",
                    excess,
                )
            )
            self.balance[acc] = self.balance.get(acc, 0) + excess
            net[acc] = 0
        tax = np.zeros(customers.accounts, dtype=np.int64)
        if book.tax_percent:
            rate = f"{book.tax_percent}%"
            for acc in accounts.tolist():
                tax[acc] = book.tax_minor(int(net[acc]))
                extra.append(_Line(acc, -1, "tax", f"tax {rate}", 1, rate, int(tax[acc])))
        extra.sort(key=lambda x: (x.account, x.subscription < 0, x.subscription))
        total = (net + tax)[accounts]
        tariffs = book.tariffs
        batch = InvoiceBatch(
            cycle=cycle,
            period_start_s=start,
            period_end_s=end,
            cycle_days=int(self.cycles.days[cycle]),
            currency=book.currency,
            digits=digits,
            account_labels=customers.account_labels(),
            invoice_account=accounts,
            invoice_total=total,
            charge_invoice=invoice_of_account[arranged(account)],
            charge_subscription=arranged(subs),
            charge_product=arranged(product),
            charge_days=arranged(days),
            charge_fee=arranged(fee_index),
            charge_recurring=arranged(recurring),
            charge_voice_overage=arranged(voice_over),
            charge_voice_amount=arranged(voice_amount),
            charge_data_overage=arranged(data_over),
            charge_data_amount=arranged(data_amount),
            product_ids=tuple(t.product for t in tariffs),
            product_names=tuple(t.name for t in tariffs),
            fees=tuple(str(fee) for fee in self._fees),
            voice_minute_price=tuple(str(t.voice_minute_price) for t in tariffs),
            data_mb_price=tuple(str(t.data_mb_price.normalize()) for t in tariffs),
            adjustments=tuple(
                InvoiceLine(
                    int(invoice_of_account[x.account]),
                    x.subscription,
                    x.kind,
                    x.description,
                    x.quantity,
                    x.unit_price,
                    x.amount,
                )
                for x in extra
            ),
        )
        new_credits = None
        if columns[0]:
            new_credits = SlaCredits(
                cycle=cycle,
                digits=digits,
                account_labels=customers.account_labels(),
                product_ids=tuple(t.product for t in tariffs),
                credit_percent=tuple(str(t.credit_percent) for t in tariffs),
                **{
                    name: np.array(values, dtype=kind)
                    for (name, kind), values in zip(_CREDIT_COLUMNS, columns, strict=True)
                },
            )
            self.credits.append(new_credits)
        # the totals; by product: recurring and usage less SLA credits
        t = self.totals
        t.invoices += len(accounts)
        t.recurring += int(recurring.sum())
        t.usage += int(voice_amount.sum() + data_amount.sum())
        t.credits -= sum(x.amount for x in extra if x.kind != "tax")
        t.tax += int(tax.sum())
        t.total += int(total.sum())
        for p, tariff in enumerate(tariffs):
            of_p = product == p
            value = int(recurring[of_p].sum() + voice_amount[of_p].sum() + data_amount[of_p].sum())
            value -= credited.get(tariff.product, 0)
            t.by_product[tariff.product] = t.by_product.get(tariff.product, 0) + value
        self._voice_over[:] = 0
        self._voice_nano[:] = 0
        self._data_over[:] = 0
        self._data_nano[:] = 0
        self.publish(batch)
        if new_credits is not None:
            self.publish(new_credits)
