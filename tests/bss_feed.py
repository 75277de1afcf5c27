"""A small hand-made feed for the BSS tests: a catalog, a few subscribers, usage batches.

The catalog is the reference scenario's two products (mobile-s at 15.00 with 100 minutes and
2 GB, mobile-l at 35.00 with 1000 minutes and 30 GB), which makes the hand calculations in the
tests easy to follow. The run starts on 2027-03-01 (a 31-day March).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from sim.scenario import Catalog, Customers
from twin.bss.business import BusinessSupport
from twin.bss.records import InvoiceBatch
from twin.bus import Bus
from twin.feed import Inventory, RunEnded, RunStarted, UsageBatch

DAY = 86400.0
START = datetime(2027, 3, 1, tzinfo=UTC)


def catalog(**changes: Any) -> Catalog:
    raw: dict[str, Any] = {
        "currency": "EUR",
        "products": [
            {
                "id": "mobile-s",
                "name": "Mobile S",
                "monthly_fee": "15.00",
                "includes": {"voice_minutes": 100, "data_gb": 2},
                "overage": {"voice_minute": "0.09", "data_gb": "5.00"},
                "sla": {"availability": 0.995, "credit_percent": 10},
            },
            {
                "id": "mobile-l",
                "name": "Mobile L",
                "monthly_fee": "35.00",
                "includes": {"voice_minutes": 1000, "data_gb": 30},
                "overage": {"voice_minute": "0.05", "data_gb": "3.00"},
                "sla": {"availability": 0.999, "credit_percent": 25},
            },
        ],
    }
    raw.update(changes)
    return Catalog.model_validate(raw, strict=False)


def inventory(products: list[str], cells: list[int] | None = None) -> Inventory:
    """Subscribers with the given products, homed on cells t1/1 and t2/1 (default: t1/1)."""
    names = ("mobile-s", "mobile-l")
    n = len(products)
    return Inventory(
        node_ids=("core", "t1", "t2"),
        node_roles=("core", "tower", "tower"),
        node_lat=np.array([52.5, 52.6, 52.7]),
        node_lon=np.array([13.4, 13.4, 13.4]),
        link_ids=("l1", "l2"),
        link_a=("t1", "t2"),
        link_b=("core", "core"),
        link_capacity_mbps=np.array([1000.0, 1000.0]),
        link_latency_ms=np.array([0.5, 0.5]),
        cell_ids=("t1/1", "t2/1"),
        cell_tower=("t1", "t2"),
        cell_voice_channels=np.array([30, 30]),
        cell_data_mbps=np.array([150.0, 150.0]),
        subscriber_cell=np.array(cells if cells is not None else [0] * n, dtype=np.int64),
        product_names=names,
        subscriber_product=np.array([names.index(p) for p in products], dtype=np.int64),
    )


def usage(start_s: float, end_s: float, rows: dict[int, tuple[float, float]]) -> UsageBatch:
    """A usage batch: subscriber -> (voice seconds, data MB)."""
    subscribers = sorted(rows)
    return UsageBatch(
        start_s,
        end_s,
        np.array(subscribers, dtype=np.int64),
        np.array([rows[s][0] for s in subscribers], dtype=float),
        np.array([rows[s][1] for s in subscribers], dtype=float),
    )


class Fixture:
    """A bus with the BSS on it, started: publish usage, breaches and the end to it."""

    def __init__(
        self,
        products: list[str],
        *,
        duration_s: float = 2 * DAY,
        catalog_changes: dict[str, Any] | None = None,
        account_sizes: dict[int, float] | None = None,
        cells: list[int] | None = None,
    ):
        self.bus = Bus()
        customers = Customers(account_sizes=account_sizes or {1: 1.0})
        self.bss = BusinessSupport(self.bus, catalog(**(catalog_changes or {})), customers)
        self.invoices: list[InvoiceBatch] = []
        self.bus.subscribe(InvoiceBatch, self.invoices.append)
        self.duration_s = duration_s
        self.bus.publish(RunStarted("test", 7, START, duration_s, 900.0, DAY, "EUR"))
        self.bus.publish(inventory(products, cells))

    def publish(self, record: object) -> None:
        self.bus.publish(record)

    def end(self) -> dict[str, Any]:
        self.bus.publish(RunEnded(self.duration_s))
        return self.bss.summary()

    def lines(self, subscription: str | None = None) -> list[tuple[str, str, int, int]]:
        """(invoice, kind, quantity, amount in cents) of every line, or one subscription's."""
        out = []
        for batch in self.invoices:
            for invoice, sub, kind, _, quantity, _, amount in batch.lines():
                if subscription is None or f"SUB-{sub + 1}" == subscription:
                    out.append((batch.invoice_id(invoice), kind, quantity, amount))
        return out
