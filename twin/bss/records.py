"""Records the BSS functions publish on the bus, for the store, the summary and the CLI.

Money in them is integers: rated amounts in 10**-9 of the currency unit
(:data:`twin.bss.catalog.NANO`), invoice amounts in the currency's minor unit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CustomerBase",
    "InvoiceBatch",
    "InvoiceLine",
    "RatedUsage",
    "SlaCredits",
    "describe_overage",
    "describe_recurring",
    "format_minor",
    "invoice_id",
]


@dataclass(frozen=True, eq=False)
class RatedUsage:
    """One usage batch rated (TMF635 status ``rated``), one element per usage record that
    belonged to a subscription: whole minutes and megabytes (each rounded up per record),
    the part beyond the allowance, and its amount. ``rejected`` counts the records of
    subscribers with no subscription; ``duplicates`` those rated before (not rated again)."""

    start_s: float
    end_s: float
    cycle: int
    subscription: np.ndarray  # ordinal: the subscription SUB-<ordinal + 1>
    subscriber: np.ndarray
    voice_minutes: np.ndarray
    voice_overage: np.ndarray
    voice_nano: np.ndarray
    data_mb: np.ndarray
    data_overage: np.ndarray
    data_nano: np.ndarray
    rejected: int
    duplicates: int


@dataclass(frozen=True, slots=True)  # hundreds of thousands in a national month
class InvoiceLine:
    """One of an invoice's few lines beside its subscriptions' charges: an SLA credit, credit
    brought or carried forward, tax. ``subscription`` is an ordinal, -1 for the invoice's own."""

    invoice: int  # index into the batch's invoices
    subscription: int
    kind: str
    description: str
    quantity: int
    unit_price: str
    amount: int  # minor units


@dataclass(frozen=True, eq=False)
class InvoiceBatch:
    """The invoices of one billing cycle (TMF678 customer bills), columnar.

    One invoice per account with a charged subscription (``invoice_*``, by account ordinal).
    Each charged subscription has one *charge* row (``charge_*``): its recurring fee (days
    billed of ``cycle_days`` at its monthly fee) and its voice and data beyond the allowances
    with their amounts; an invoice's other lines are ``adjustments``. Amounts are minor units.
    Invariant: each invoice's total is the sum of its lines (:meth:`lines`), never negative.
    """

    cycle: int
    period_start_s: float
    period_end_s: float
    cycle_days: int
    currency: str
    digits: int
    account_labels: Mapping[int, str]  # accounts the saga named; the others are ACC-<n+1>
    invoice_account: np.ndarray  # account ordinals (ids: account_id)
    invoice_total: np.ndarray
    charge_invoice: np.ndarray
    charge_subscription: np.ndarray
    charge_product: np.ndarray  # index into product_ids
    charge_days: np.ndarray
    charge_fee: np.ndarray  # index into fees
    charge_recurring: np.ndarray
    charge_voice_overage: np.ndarray  # minutes
    charge_voice_amount: np.ndarray
    charge_data_overage: np.ndarray  # MB
    charge_data_amount: np.ndarray
    product_ids: tuple[str, ...]
    product_names: tuple[str, ...]
    fees: tuple[str, ...]  # monthly fees, decimal strings
    voice_minute_price: tuple[str, ...]  # per product
    data_mb_price: tuple[str, ...]  # per product
    adjustments: tuple[InvoiceLine, ...]

    def account_id(self, ordinal: int) -> str:
        return account_id(ordinal, self.account_labels)

    def invoice_id(self, index: int) -> str:
        return invoice_id(self.cycle, self.account_id(int(self.invoice_account[index])))

    def lines(self) -> Iterator[tuple[int, int, str, str, int, str, int]]:
        """Every line, invoice by invoice: (invoice index, subscription ordinal or -1, kind,
        description, quantity, unit price, amount in minor units). Each invoice has its
        subscriptions' charges (recurring, voice_overage, data_overage, the overages only when
        not zero) by subscription, then its adjustments."""
        adjustments: dict[int, list[InvoiceLine]] = {}
        for line in self.adjustments:
            adjustments.setdefault(line.invoice, []).append(line)
        columns = zip(
            self.charge_invoice.tolist(),
            self.charge_subscription.tolist(),
            self.charge_product.tolist(),
            self.charge_days.tolist(),
            self.charge_fee.tolist(),
            self.charge_recurring.tolist(),
            self.charge_voice_overage.tolist(),
            self.charge_voice_amount.tolist(),
            self.charge_data_overage.tolist(),
            self.charge_data_amount.tolist(),
            strict=True,
        )
        current = -1
        for invoice, sub, product, days, fee, recurring, minutes, voice, mb, data in columns:
            if invoice != current:
                for line in adjustments.pop(current, []):
                    yield _line(line)
                current = invoice
            name = self.product_names[product]
            yield (invoice, sub, "recurring", describe_recurring(name, days, self.cycle_days),
                   days, self.fees[fee], recurring)  # fmt: skip
            if minutes:
                yield (invoice, sub, "voice_overage", describe_overage(name, "voice"), minutes,
                       self.voice_minute_price[product], voice)  # fmt: skip
            if mb:
                yield (invoice, sub, "data_overage", describe_overage(name, "data"), mb,
                       self.data_mb_price[product], data)  # fmt: skip
        for invoice in sorted(adjustments):
            for line in adjustments[invoice]:
                yield _line(line)


def _line(line: InvoiceLine) -> tuple[int, int, str, str, int, str, int]:
    return (
        line.invoice,
        line.subscription,
        line.kind,
        line.description,
        line.quantity,
        line.unit_price,
        line.amount,
    )


def invoice_id(cycle: int, account: str) -> str:
    """An invoice's id: ``INV-<cycle number>-<account>``."""
    return f"INV-{cycle + 1}-{account}"


def describe_recurring(product_name: str, days: int, cycle_days: int) -> str:
    return f"{product_name} monthly fee, {days} of {cycle_days} days"


def describe_overage(product_name: str, kind: str) -> str:
    unit = "min" if kind == "voice" else "MB"
    return f"{product_name} {kind} beyond allowance ({unit})"


def format_minor(minor: int, digits: int) -> str:
    """An amount in minor units as a decimal string: 1500 -> '15.00', -57 -> '-0.57'."""
    if not digits:
        return str(minor)
    sign = "-" if minor < 0 else ""
    whole, part = divmod(abs(minor), 10**digits)
    return f"{sign}{whole}.{part:0{digits}d}"


@dataclass(frozen=True, eq=False)
class SlaCredits:
    """The SLA breaches credited when one cycle's invoices were issued: on which invoice, for
    how much (minor units, positive). Columnar, ids by ordinal (a national month's end has
    300,000): subscription ``n`` is ``SUB-<n+1>``, accounts as :func:`account_id` names them.

    ``breached_cycle`` is the cycle the breach was in: ``cycle``, or an earlier one for a breach
    known late. ``on_invoice`` is False where the account had no invoice this cycle: the credit
    waits in its balance, and its invoice id is empty.
    """

    cycle: int
    digits: int  # of the currency's minor unit
    account_labels: Mapping[int, str]
    product_ids: tuple[str, ...]
    credit_percent: tuple[str, ...]  # per product, a decimal string
    time_s: np.ndarray
    subscription: np.ndarray
    account: np.ndarray
    product: np.ndarray  # index into product_ids
    breached_cycle: np.ndarray
    cycle_start_s: np.ndarray
    cycle_end_s: np.ndarray
    availability: np.ndarray
    target: np.ndarray
    amount: np.ndarray  # minor units
    on_invoice: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.subscription)

    def invoice_ids(self, first: int = 0, last: int | None = None) -> list[str]:
        """Each credit's invoice id (``""`` for one waiting), of the rows ``first:last``."""
        rows = slice(first, last)
        return [
            invoice_id(self.cycle, account_id(a, self.account_labels)) if on else ""
            for a, on in zip(
                self.account[rows].tolist(), self.on_invoice[rows].tolist(), strict=True
            )
        ]


@dataclass(frozen=True, eq=False)
class CustomerBase:
    """Accounts and subscriptions, columnar and by number: those of the start inventory at the
    start, those the saga added and kept (removed ones left out) at the end of the run.

    Subscription ``n`` is ``SUB-<n+1>`` and account ``n`` is ``ACC-<n+1>`` unless the saga
    named it (``account_labels``): the texts are made only where they are written, since a
    million of them held for the run cost about 100 MB (docs/national-month.md).
    """

    time_s: float
    account: np.ndarray  # account ordinals, of the accounts that hold a subscription here
    account_labels: Mapping[int, str]  # accounts the saga named; the others are ACC-<n+1>
    subscription: np.ndarray  # subscription ordinals
    subscription_account: np.ndarray  # account ordinal of each subscription
    subscriber: np.ndarray
    product: np.ndarray  # product id of each subscription
    cell: np.ndarray  # home cell id ('' when the network never said)
    start_s: np.ndarray

    def account_id(self, ordinal: int) -> str:
        return account_id(ordinal, self.account_labels)

    def subscription_ids(self) -> list[str]:
        return [subscription_id(n) for n in self.subscription.tolist()]

    def account_ids(self) -> list[str]:
        return [self.account_id(n) for n in self.account.tolist()]


def subscription_id(ordinal: int) -> str:
    """A subscription's id: ``SUB-<n+1>`` for ordinal ``n``."""
    return f"SUB-{ordinal + 1}"


def account_id(ordinal: int, labels: Mapping[int, str]) -> str:
    """An account's id: the name the saga opened it with, else ``ACC-<n+1>``."""
    return labels.get(ordinal) or f"ACC-{ordinal + 1}"
