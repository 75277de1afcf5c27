"""Performance management: KPIs per PM interval for every cell, tower, link and the network.

Each KPI is defined once, in :data:`KPIS`: its name (3GPP TS 32.425 / 28.552 where one exists,
see docs/kpis.md for which), its unit, its formula over the counters as written in the docs,
and the function that computes it. The same function serves every scope: counters are summed
from cells to towers and to the network first (a sparse matrix product per interval), and the
KPI is then computed from the sums, so a tower's blocking is its blocked calls over its
attempts, not a mean of its cells' rates.

A rate whose denominator is zero in an interval (no attempts) is NaN: there was nothing to
measure, which is not the same as a rate of 0.

:class:`PerformanceManagement` listens to the bus, publishes one :class:`KpiBatch` per
interval for the functions that come after it (thresholds, anomalies), and keeps only running
aggregates: the traffic per PM slot of the day for the busy hours (ITU-T E.500), so its memory
does not grow with the length of the run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse

from twin.bus import Bus
from twin.feed import CellPmBatch, Inventory, LinkPmBatch, RunEnded, RunStarted
from twin.oss.records import KpiBatch
from twin.summary import busy_hours

__all__ = [
    "KPIS",
    "LINK_COUNTERS",
    "RADIO_COUNTERS",
    "Kpi",
    "PerformanceManagement",
    "kpi",
    "link_counters",
    "radio_counters",
]

Counters = Mapping[str, np.ndarray]
DAY_S = 86400

# The counters the radio KPIs are formulas over: a cell's from its PM batch, a tower's or the
# network's the sums over its cells.
RADIO_COUNTERS = (
    "voice_offered",
    "voice_carried",
    "voice_blocked",
    "voice_failed",
    "voice_dropped",
    "offered_erlangs",
    "carried_erlangs",
    "data_served_mb",
    "data_capacity_mb",  # data_mbps x interval / 8: the nominal capacity the inventory knows
    "seconds_in_service",
    "cell_seconds",  # cells x interval: what seconds_in_service would be with no outage
)
LINK_COUNTERS = ("carried_mb", "capacity_mb", "seconds_in_service", "interval_s")


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, NaN where the denominator is 0 (nothing to measure)."""
    return np.divide(
        numerator,
        denominator,
        out=np.full(np.shape(numerator), np.nan),
        where=np.asarray(denominator) > 0,
    )


# The kernel's served data is a float sum of many pieces, so a saturated cell or link can read
# capacity x (1 + 1e-16) (tests/test_shipped_scenarios.py allows 1e-9). Such a share is 1; a
# larger excess is a real error and is left for the invariants to catch.
ROUNDING = 1e-9


def _share(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """A utilisation: :func:`_ratio`, with float rounding past 1 read as 1."""
    ratio = _ratio(numerator, denominator)
    return np.where((ratio > 1.0) & (ratio <= 1.0 + ROUNDING), 1.0, ratio)


@dataclass(frozen=True)
class Kpi:
    """One KPI: ``name`` (a 3GPP measurement name where one exists), whether it is a radio KPI
    (cells, towers, network) or a link one, its unit, its formula as docs/kpis.md gives it,
    and ``compute``, the same formula over the counters of any scope."""

    name: str
    over: Literal["radio", "link"]
    unit: str
    formula: str
    compute: Callable[[Counters], np.ndarray]
    is_rate: bool = False  # a share in [0, 1] (or NaN): the invariants check these


KPIS: tuple[Kpi, ...] = (
    Kpi(
        "ERAB.EstabInitAttNbr.QCI1",
        "radio",
        "attempts",
        "voice_offered",
        lambda c: c["voice_offered"],
    ),
    Kpi(
        "ERAB.EstabInitSuccNbr.QCI1",
        "radio",
        "calls",
        "voice_carried",
        lambda c: c["voice_carried"],
    ),
    Kpi(
        "VoiceBlockingRate",
        "radio",
        "ratio",
        "voice_blocked / (voice_offered - voice_failed)",
        lambda c: _ratio(c["voice_blocked"], c["voice_offered"] - c["voice_failed"]),
        is_rate=True,
    ),
    Kpi(
        "VoiceFailureRate",
        "radio",
        "ratio",
        "voice_failed / voice_offered",
        lambda c: _ratio(c["voice_failed"], c["voice_offered"]),
        is_rate=True,
    ),
    Kpi(
        "VoiceDropRate",
        "radio",
        "ratio",
        "voice_dropped / (voice_carried + voice_dropped)",
        lambda c: _ratio(c["voice_dropped"], c["voice_carried"] + c["voice_dropped"]),
        is_rate=True,
    ),
    Kpi(
        "VoiceCarriedErlangs",
        "radio",
        "E",
        "carried_erlangs",
        lambda c: c["carried_erlangs"],
    ),
    Kpi(
        "DRB.PdcpSduVolumeDL",
        "radio",
        "Mbit",
        "8 x data_served_mb",
        lambda c: 8.0 * c["data_served_mb"],
    ),
    Kpi(
        "DataThroughput",
        "radio",
        "Mbit/s",
        "8 x data_served_mb / interval_s",
        lambda c: 8.0 * c["data_served_mb"] / c["interval_s"],
    ),
    Kpi(
        "DataUtilization",
        "radio",
        "ratio",
        "data_served_mb / data_capacity_mb",
        lambda c: _share(c["data_served_mb"], c["data_capacity_mb"]),
        is_rate=True,
    ),
    Kpi(
        "RRU.CellUnavailableTime",
        "radio",
        "s",
        "cell_seconds - seconds_in_service",
        lambda c: c["cell_seconds"] - c["seconds_in_service"],
    ),
    Kpi(
        "CellAvailability",
        "radio",
        "ratio",
        "seconds_in_service / cell_seconds",
        lambda c: _ratio(c["seconds_in_service"], c["cell_seconds"]),
        is_rate=True,
    ),
    Kpi(
        "LinkVolume",
        "link",
        "Mbit",
        "8 x carried_mb",
        lambda c: 8.0 * c["carried_mb"],
    ),
    Kpi(
        "LinkThroughput",
        "link",
        "Mbit/s",
        "8 x carried_mb / interval_s",
        lambda c: 8.0 * c["carried_mb"] / c["interval_s"],
    ),
    Kpi(
        "LinkUtilization",
        "link",
        "ratio",
        "carried_mb / capacity_mb",
        lambda c: _share(c["carried_mb"], c["capacity_mb"]),
        is_rate=True,
    ),
    Kpi(
        "LinkUnavailableTime",
        "link",
        "s",
        "interval_s - seconds_in_service",
        lambda c: c["interval_s"] - c["seconds_in_service"],
    ),
    Kpi(
        "LinkAvailability",
        "link",
        "ratio",
        "seconds_in_service / interval_s",
        lambda c: _ratio(c["seconds_in_service"], c["interval_s"]),
        is_rate=True,
    ),
)
_BY_NAME = {k.name: k for k in KPIS}


def kpi(name: str) -> Kpi:
    """The KPI of that name; KeyError naming the known ones if there is none."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown KPI '{name}'; known: {', '.join(_BY_NAME)}") from None


def radio_counters(batch: CellPmBatch, cell_data_mbps: np.ndarray) -> dict[str, np.ndarray]:
    """One cell PM batch as the radio counters, one value per cell."""
    interval_s = batch.end_s - batch.start_s
    return {
        "voice_offered": batch.voice_offered.astype(float),
        "voice_carried": batch.voice_carried.astype(float),
        "voice_blocked": batch.voice_blocked.astype(float),
        "voice_failed": batch.voice_failed.astype(float),
        "voice_dropped": batch.voice_dropped.astype(float),
        "offered_erlangs": batch.offered_erlangs,
        "carried_erlangs": batch.carried_erlangs,
        "data_served_mb": batch.data_served_mb,
        "data_capacity_mb": cell_data_mbps * interval_s / 8.0,
        "seconds_in_service": batch.seconds_in_service,
        "cell_seconds": np.full(len(batch.voice_offered), interval_s),
    }


def link_counters(batch: LinkPmBatch, link_capacity_mbps: np.ndarray) -> dict[str, np.ndarray]:
    """One link PM batch as the link counters, one value per link."""
    interval_s = batch.end_s - batch.start_s
    return {
        "carried_mb": batch.carried_mb,
        "capacity_mb": link_capacity_mbps * interval_s / 8.0,
        "seconds_in_service": batch.seconds_in_service,
        "interval_s": np.full(len(batch.carried_mb), interval_s),
    }


def _compute(kind: Literal["radio", "link"], counters: dict[str, np.ndarray]) -> dict[str, Any]:
    return {k.name: _read_only(k.compute(counters)) for k in KPIS if k.over == kind}


def _read_only(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array, dtype=float)
    array.setflags(write=False)
    return array


class PerformanceManagement:
    """Turns each interval's PM batches into a :class:`KpiBatch` on the bus, and keeps the
    busy hours' running aggregates (per PM slot of the day, not per interval)."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.inventory: Inventory | None = None
        self.pm_interval_s = 900.0
        self.start_of_day_s = 0.0
        self.tower_ids: tuple[str, ...] = ()
        self._to_towers: scipy.sparse.csr_matrix | None = None
        self._cells: dict[str, np.ndarray] | None = None  # the interval's, until its links come
        self._slot_seen_s = np.zeros(0)
        self._slot_cell_es = np.zeros((0, 0))  # offered erlang-seconds per slot and cell
        self._slot_link_mbit = np.zeros((0, 0))  # carried Mbit per slot and link
        self.intervals = 0
        self.ended = False
        bus.subscribe(RunStarted, self._on_start)
        bus.subscribe(Inventory, self._on_inventory)
        bus.subscribe(CellPmBatch, self._on_cell_pm)
        bus.subscribe(LinkPmBatch, self._on_link_pm)
        bus.subscribe(RunEnded, self._on_end)

    def _on_start(self, record: RunStarted) -> None:
        self.pm_interval_s = record.pm_interval_s
        start = record.start
        self.start_of_day_s = float(start.hour * 3600 + start.minute * 60 + start.second)

    def _on_inventory(self, record: Inventory) -> None:
        self.inventory = record
        # towers in the order their first cell comes in the inventory
        self.tower_ids = tuple(dict.fromkeys(record.cell_tower))
        tower_index = {tower: i for i, tower in enumerate(self.tower_ids)}
        rows = np.array([tower_index[t] for t in record.cell_tower], dtype=np.int64)
        n_cells = len(record.cell_ids)
        self._to_towers = scipy.sparse.csr_matrix(
            (np.ones(n_cells), (rows, np.arange(n_cells))), shape=(len(self.tower_ids), n_cells)
        )
        slots = round(DAY_S / self.pm_interval_s)
        self._slot_seen_s = np.zeros(slots)
        self._slot_cell_es = np.zeros((slots, n_cells))
        self._slot_link_mbit = np.zeros((slots, len(record.link_ids)))

    def _on_cell_pm(self, batch: CellPmBatch) -> None:
        inv = self.inventory
        assert inv is not None and self._to_towers is not None
        self._cells = radio_counters(batch, inv.cell_data_mbps)
        slot = self._slot(batch.start_s)
        span = batch.end_s - batch.start_s
        self._slot_seen_s[slot] += span
        self._slot_cell_es[slot] += batch.offered_erlangs * span

    def _on_link_pm(self, batch: LinkPmBatch) -> None:
        inv, cells = self.inventory, self._cells
        assert inv is not None and cells is not None and self._to_towers is not None
        self._cells = None
        span = batch.end_s - batch.start_s
        self._slot_link_mbit[self._slot(batch.start_s)] += 8.0 * batch.carried_mb
        names = list(cells)
        stacked = np.stack([cells[n] for n in names])  # counters x cells
        towers = self._to_towers @ stacked.T  # towers x counters
        network = stacked.sum(axis=1)
        tower_counters = {n: towers[:, i] for i, n in enumerate(names)}
        network_counters = {n: network[i : i + 1] for i, n in enumerate(names)}
        for scope in (cells, tower_counters, network_counters):
            scope["interval_s"] = np.full(len(scope["cell_seconds"]), span)
        links = link_counters(batch, inv.link_capacity_mbps)
        self.intervals += 1
        self.bus.publish(
            KpiBatch(
                start_s=batch.start_s,
                end_s=batch.end_s,
                cell_ids=inv.cell_ids,
                tower_ids=self.tower_ids,
                link_ids=inv.link_ids,
                cell=_compute("radio", cells),
                tower=_compute("radio", tower_counters),
                network={k: float(v[0]) for k, v in _compute("radio", network_counters).items()},
                link=_compute("link", links),
            )
        )

    def _on_end(self, record: RunEnded) -> None:
        self.ended = True

    def _slot(self, start_s: float) -> int:
        return int(((self.start_of_day_s + start_s) % DAY_S) // self.pm_interval_s)

    def _busy_hours(self, per_slot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """E.500 busy hours from per-slot sums: each slot seen is one row, its mean over the
        time seen, which is what :func:`twin.summary.busy_hours` averages per slot anyway."""
        seen = np.flatnonzero(self._slot_seen_s > 0)
        span = self._slot_seen_s[seen]
        return busy_hours(
            seen * self.pm_interval_s,
            span,
            per_slot[seen] / span[:, None],
            self.pm_interval_s,
        )

    def cell_busy_hours(self) -> tuple[np.ndarray, np.ndarray]:
        """Each cell's busy hour: start (seconds past midnight, UTC) and mean offered erlangs."""
        return self._busy_hours(self._slot_cell_es)

    def network_busy_hour(self) -> tuple[float, float]:
        """The network's busy hour: start and the mean offered erlangs of all cells in it."""
        start, erlangs = self._busy_hours(self._slot_cell_es.sum(axis=1, keepdims=True))
        return float(start[0]), float(erlangs[0])

    def link_busy_hours(self) -> tuple[np.ndarray, np.ndarray]:
        """Each link's busy hour by carried traffic: start and mean throughput (Mbit/s).

        Carried traffic, not utilisation: the same hour for a link (its capacity is fixed in
        the inventory), and a value in traffic units like the cells' erlangs.
        """
        return self._busy_hours(self._slot_link_mbit)

    def summary(self) -> dict[str, Any]:
        """summary.json's ``kpis``: the network's busy hour and each link's."""
        inv = self.inventory
        if inv is None or not self.intervals or not self.ended:
            raise RuntimeError("the run did not complete: no KPI summary")
        start, erlangs = self.network_busy_hour()
        link_start, link_mbps = self.link_busy_hours()
        return {
            "intervals": self.intervals,
            "network_busy_hour": {
                "start": _time_of_day(start),
                "offered_erlangs": round(erlangs, 6),
            },
            "link_busy_hours": {
                link_id: {
                    "start": _time_of_day(float(link_start[i])),
                    "throughput_mbps": round(float(link_mbps[i]), 6),
                }
                for i, link_id in enumerate(inv.link_ids)
            },
        }


def _time_of_day(seconds: float) -> str:
    minutes = int(seconds) // 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
