"""The product catalog: fees, allowances, overage rates and SLAs, with effective-dated prices.

Money here is exact. A fee is a :class:`~decimal.Decimal`; the rates usage is rated at are
integers of :data:`NANO` (10**-9 of the currency unit), so that a minute at ``"0.09"`` is
90,000,000 and a megabyte at ``"5.00"`` a GB is 5,000,000: every rated record is a whole number
of them (prices have at most six decimals, which the scenario checks). Amounts become the
currency's minor unit, rounded half-up, only where an invoice line is made (:func:`to_minor`).

The effective-dating rule (docs/bss.md): a price change takes effect at its time for
subscriptions that start at or after it; a subscription already running pays the fee in force
when its billing cycle began, so it sees a change from its next cycle on. The fee of a
subscription for a cycle is therefore the fee in force at the later of the cycle's start and
the subscription's start (:meth:`PriceBook.fee_at`), a change at exactly that time included.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import numpy as np

from sim.scenario import Catalog

__all__ = [
    "DAY_S",
    "MB_PER_GB",
    "NANO",
    "Cycles",
    "PriceBook",
    "Tariff",
    "decimal_from_minor",
    "decimal_from_nano",
    "minor_digits",
    "prorate_allowance",
    "prorate_minor",
    "to_minor",
    "to_minor_array",
]

NANO = 10**9  # rated amounts are integers of 10**-9 of the currency unit
DAY_S = 86400.0
MB_PER_GB = 1000  # decimal gigabytes, as operators bill them

# ISO 4217 currencies whose minor unit is not the cent (the others have two decimals).
_MINOR_DIGITS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "CLF": 4, "UYW": 4,
}  # fmt: skip


def minor_digits(currency: str) -> int:
    """The decimals of ``currency``'s minor unit (ISO 4217): 2 for EUR, 0 for JPY, 3 for KWD."""
    return _MINOR_DIGITS.get(currency, 2)


def to_minor(nano: int, digits: int) -> int:
    """An amount in :data:`NANO` units rounded half-up (away from zero) to minor units."""
    unit = 10 ** (9 - digits)
    sign = -1 if nano < 0 else 1
    return sign * ((abs(nano) + unit // 2) // unit)


def to_minor_array(nano: np.ndarray, digits: int) -> np.ndarray:
    """:func:`to_minor` of each element."""
    unit = 10 ** (9 - digits)
    sign = np.where(nano < 0, -1, 1)
    return sign * ((np.abs(nano) + unit // 2) // unit)


def decimal_from_minor(minor: int, digits: int) -> Decimal:
    """An amount in minor units as a Decimal of the currency, e.g. 1500 -> Decimal('15.00')."""
    return Decimal(int(minor)).scaleb(-digits)


def decimal_from_nano(nano: int) -> Decimal:
    """An amount in :data:`NANO` units as an exact Decimal, trailing zeros dropped."""
    value = Decimal(int(nano)).scaleb(-9)
    return value.normalize() if value else Decimal(0)


def _nano(price: Decimal) -> int:
    scaled = price * NANO
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{price} has more than 9 decimals")
    return int(scaled)


@dataclass(frozen=True)
class Tariff:
    """One product as billing uses it: allowances in whole minutes and megabytes, rates in
    :data:`NANO` units per minute and per megabyte."""

    product: str
    name: str
    monthly_fee: Decimal  # as in the catalog; the price book holds its changes
    voice_minutes: int
    data_mb: int
    voice_minute_nano: int
    data_mb_nano: int
    voice_minute_price: Decimal
    data_mb_price: Decimal
    sla_availability: float | None
    credit_percent: Decimal


class PriceBook:
    """The catalog and its price changes: what a product costs, and when."""

    def __init__(self, catalog: Catalog):
        self.currency = catalog.currency
        self.digits = minor_digits(catalog.currency)
        self.tax_percent = Decimal(repr(catalog.tax_percent))
        self.tariffs: tuple[Tariff, ...] = tuple(
            Tariff(
                product=p.id,
                name=p.name,
                monthly_fee=p.monthly_fee,
                voice_minutes=p.includes.voice_minutes,
                # 2 GB is 2,000 MB; a fraction of a megabyte of allowance is given whole
                data_mb=math.ceil(Decimal(repr(p.includes.data_gb)) * MB_PER_GB),
                voice_minute_nano=_nano(p.overage.voice_minute),
                data_mb_nano=_nano(p.overage.data_gb) // MB_PER_GB,
                voice_minute_price=p.overage.voice_minute,
                data_mb_price=p.overage.data_gb / MB_PER_GB,
                sla_availability=None if p.sla is None else p.sla.availability,
                credit_percent=Decimal(0) if p.sla is None else Decimal(repr(p.sla.credit_percent)),
            )
            for p in catalog.products
        )
        self.index = {t.product: i for i, t in enumerate(self.tariffs)}
        # per product: the times of its changes and the fee from each on (the catalog's at -inf)
        self._times: list[list[float]] = [[-math.inf] for _ in self.tariffs]
        self._fees: list[list[Decimal]] = [[t.monthly_fee] for t in self.tariffs]

    def __contains__(self, product: str) -> bool:
        return product in self.index

    def change_price(self, product: str, time_s: float, monthly_fee: Decimal) -> None:
        """Record a price change (events arrive in time order; the scenario checked the
        product is in the catalog)."""
        i = self.index[product]
        self._times[i].append(time_s)
        self._fees[i].append(monthly_fee)

    def fee_at(self, product: int, time_s: float) -> Decimal:
        """The monthly fee of product index ``product`` in force at ``time_s`` (a change at
        exactly ``time_s`` included)."""
        k = bisect.bisect_right(self._times[product], time_s) - 1
        return self._fees[product][k]

    def tax_minor(self, base_minor: int) -> int:
        """Tax on a non-negative base in minor units, rounded half-up."""
        tax = Decimal(base_minor) * self.tax_percent / 100
        return int(tax.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def prorate_minor(fee: Decimal, days: np.ndarray, cycle_days: int, digits: int) -> np.ndarray:
    """``fee * days / cycle_days`` in minor units, rounded half-up, for each element of
    ``days``: exact integer arithmetic (fees have at most six decimals)."""
    micro = int(fee * 10**6)
    numerator = micro * days.astype(np.int64) * 10**digits
    denominator = cycle_days * 10**6
    return (2 * numerator + denominator) // (2 * denominator)


def prorate_allowance(allowance: int, days: int, cycle_days: int) -> int:
    """A monthly allowance for ``days`` of a ``cycle_days`` cycle, rounded up (the customer's
    favour): 100 minutes for 2 days of 31 is 7 minutes."""
    return math.ceil(Fraction(allowance * days, cycle_days))


def _add_months(start: datetime, months: int) -> datetime:
    """``start`` plus whole months, the day clamped to the month's last (31 Jan + 1 = 28 Feb)."""
    month0 = start.month - 1 + months
    year, month = start.year + month0 // 12, month0 % 12 + 1
    return start.replace(year=year, month=month, day=min(start.day, _month_days(year, month)))


def _month_days(year: int, month: int) -> int:
    following = datetime(year + month // 12, month % 12 + 1, 1)
    return (following - datetime(year, month, 1)).days


@dataclass(frozen=True, eq=False)
class Cycles:
    """The run's billing cycles: monthly from its start, the last cut at the run's end.

    ``bounds`` holds each cycle's start in seconds since the run's start and, last, the end of
    the last full month; ``days`` the calendar days of each whole cycle (the proration base).
    """

    bounds: np.ndarray
    days: np.ndarray
    run_end_s: float

    @classmethod
    def of_run(cls, start: datetime, duration_s: float) -> Cycles:
        naive = start.replace(tzinfo=None)
        bounds = [0.0]
        months = 0
        while bounds[-1] < duration_s:
            months += 1
            bounds.append((_add_months(naive, months) - naive).total_seconds())
        edges = np.array(bounds)
        return cls(edges, np.round(np.diff(edges) / DAY_S).astype(np.int64), duration_s)

    def __len__(self) -> int:
        return len(self.days)

    def of(self, time_s: float) -> int:
        """The cycle that ``time_s`` falls in (a cycle's start belongs to it)."""
        k = int(np.searchsorted(self.bounds, time_s, side="right")) - 1
        return min(max(k, 0), len(self) - 1)

    def span(self, k: int) -> tuple[float, float]:
        """Cycle ``k``'s start and end as billed: the last ends with the run."""
        return float(self.bounds[k]), float(min(self.bounds[k + 1], self.run_end_s))

    def billed_days(self, k: int, since_s: np.ndarray) -> np.ndarray:
        """Days billed in cycle ``k`` for service from ``since_s`` on: a day begun is a day
        billed, counted in 24-hour steps from the later of the cycle's and the service's start
        (0 where the service starts after the cycle)."""
        start, end = self.span(k)
        begin = np.maximum(since_s, start)
        seconds = np.maximum(end - begin, 0.0)
        return np.ceil(seconds / DAY_S - 1e-9).astype(np.int64)
