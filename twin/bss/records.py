"""Records the BSS functions publish on the bus, for the store, the summary and the CLI.

Money in them is integers: rated amounts in 10**-9 of the currency unit
(:data:`twin.bss.catalog.NANO`), invoice amounts in the currency's minor unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CustomerBase", "InvoiceBatch", "RatedUsage", "SlaCredit"]


@dataclass(frozen=True, eq=False)
class RatedUsage:
    """One usage batch rated (TMF635 status ``rated``), one element per usage record that
    belonged to a subscription: whole minutes and megabytes (each rounded up per record),
    the part beyond the allowance, and its amount. ``rejected`` counts the records of
    subscribers with no subscription; ``duplicates`` those rated before (not rated again)."""

    start_s: float
    end_s: float
    cycle: int
    subscription: np.ndarray  # ordinal
    subscriber: np.ndarray
    voice_minutes: np.ndarray
    voice_overage: np.ndarray
    voice_nano: np.ndarray
    data_mb: np.ndarray
    data_overage: np.ndarray
    data_nano: np.ndarray
    rejected: int
    duplicates: int


@dataclass(frozen=True, eq=False)
class InvoiceBatch:
    """The invoices of one billing cycle (TMF678 customer bills), columnar.

    ``invoice_*`` arrays have one element per invoice, ``line_*`` one per line; ``line_invoice``
    indexes the invoice. Amounts are minor units. Invariant: each invoice's total is the sum
    of its lines, and never negative.
    """

    cycle: int
    period_start_s: float
    period_end_s: float
    currency: str
    digits: int
    invoice_ids: tuple[str, ...]
    invoice_account: tuple[str, ...]
    invoice_total: np.ndarray
    line_invoice: np.ndarray
    line_subscription: tuple[str, ...]
    line_subscription_index: np.ndarray  # ordinal, -1 for an invoice-level line
    line_kind: tuple[str, ...]  # recurring, voice_overage, data_overage, sla_credit, ...
    line_description: tuple[str, ...]
    line_quantity: np.ndarray  # days, minutes, MB, or 1
    line_unit_price: tuple[str, ...]  # decimal strings
    line_amount: np.ndarray


@dataclass(frozen=True)
class SlaCredit:
    """An SLA breach credited: on which invoice, for how much (minor units, positive)."""

    time_s: float
    subscription: str
    account: str
    product: str
    cycle: int
    cycle_start_s: float
    cycle_end_s: float
    availability: float
    target: float
    credit_percent: str
    amount: int  # minor units
    digits: int  # of the currency's minor unit
    invoice_id: str


@dataclass(frozen=True, eq=False)
class CustomerBase:
    """The accounts and subscriptions at the end of the run (removed ones left out)."""

    time_s: float
    account_ids: tuple[str, ...]
    subscription_ids: tuple[str, ...]
    subscription_account: tuple[str, ...]
    subscriber: np.ndarray
    product: tuple[str, ...]
    cell: tuple[str, ...]
    start_s: np.ndarray
