"""The capacity plan of a finished run: busy hours, forecast, exhaustion dates and upgrades.

Everything here is computed from what the run's store holds, the PM counters per interval and
the inventory, as an operator's planning tool would compute it from its OSS exports; the
simulator's truth is never read. The rules (docs/planning.md):

- **Busy hour** per cell and link: ITU-T E.500's time-consistent busy hour, by the same
  function the run summary uses (:func:`twin.summary.busy_hours`): voice by offered erlangs,
  a cell's data by its offered demand (Mbit/s), a link by its carried and offered throughput.
- **Forecast**: traffic grows as ``A(t) = A_bh (1 + g)^((t - t_ref) / year)``, ``t_ref`` the
  middle of the run (the busy hour is a mean over the run's days), ``g`` the scenario's
  ``traffic.growth_per_year`` or fitted per cell from its daily busy-hour traffic
  (least squares on the logarithm) when the run has at least :data:`MIN_FIT_DAYS` days.
- **Exhaustion**: the date a cell's Erlang B blocking at its busy hour passes the GoS
  (``twin.gos_target``): when ``A(t)`` reaches the traffic its channels carry at the GoS; and
  the date its busy-hour data utilisation (demand over capacity) passes
  ``twin.thresholds.cell_utilization``. Already past at the end of the run: that date.
- **Upgrade** for a horizon: the fewest channels for the GoS at the horizon's traffic (Erlang
  B inverse), more cells when that is above ``planning.max_voice_channels_per_cell``, and the
  data capacity that brings the horizon's demand to the threshold; a link's capacity for its
  horizon demand at ``twin.thresholds.link_utilization``, under N-1 as well. Priced with the
  ``planning.costs`` given, exactly (:class:`~decimal.Decimal`).
- **Links and N-1**: what a link's loss isolates (:func:`twin.oss.inventory.n_minus_1`) and
  which links it overloads when the towers' busy-hour demand reroutes over the shortest
  working paths by latency, as the network routes it.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import networkx as nx
import numpy as np
from sqlalchemy import select

from twin.feed import Inventory
from twin.oss.inventory import InventoryMirror, n_minus_1
from twin.planning.erlang import erlang_b, erlang_b_channels, erlang_b_traffic
from twin.readback import StoredRun
from twin.store import runs
from twin.summary import busy_hours
from twin.timeseries import read_columns, resource_ids

__all__ = [
    "MIN_FIT_DAYS",
    "CapacityPlan",
    "CellPlan",
    "LinkPlan",
    "PlanSettings",
    "PmHistory",
    "capacity_plan",
    "fit_growth",
    "read_pm_history",
    "settings_from_scenario",
]

DAY_S = 86_400.0
YEAR_S = 365.25 * DAY_S  # as sim.traffic grows traffic
MIN_FIT_DAYS = 7  # fewer whole days tell day-to-day noise, not a year's growth
# auto uses a fit only when its 95 % margin on the yearly log growth is this or less: a week
# of a busy cell's daily noise (a few %) leaves a margin of several hundred % a year
MAX_FIT_MARGIN = 0.10
FAR_YEARS = 100.0  # an exhaustion further out than this is reported as none


# --- the input: PM history and settings ---------------------------------------------------------


@dataclass(frozen=True)
class PmHistory:
    """A run's PM counters as arrays, intervals in time order (rows) by cell or link (columns)."""

    start: datetime  # the run's start (UTC)
    duration_s: float
    pm_interval_s: float
    interval_start_s: np.ndarray  # seconds into the run
    interval_span_s: np.ndarray
    cell_ids: tuple[str, ...]
    offered_erlangs: np.ndarray
    voice_attempts: np.ndarray  # offered - failed: the calls that met a cell in service
    voice_blocked: np.ndarray
    data_demand_mbps: np.ndarray
    link_ids: tuple[str, ...]
    link_carried_mbps: np.ndarray
    link_demand_mbps: np.ndarray

    @property
    def start_of_day_s(self) -> float:
        s = self.start
        return float(s.hour * 3600 + s.minute * 60 + s.second)

    @property
    def clock_s(self) -> np.ndarray:
        """Each interval's start in seconds past the run's first midnight."""
        return self.interval_start_s + self.start_of_day_s

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.duration_s)


def _pivot(
    rows: dict[str, np.ndarray],
    key: str,
    resource_ids: np.ndarray,
    ids: tuple[str, ...],
    starts: np.ndarray,
    columns: tuple[str, ...],
) -> dict[str, np.ndarray]:
    """Rows of a PM series as (interval x resource) arrays, resources in the order of ``ids``;
    the rows name theirs by index (``key``), ``resource_ids`` giving each index's id."""
    index = {x: i for i, x in enumerate(ids)}
    column_of = np.array([index[x] for x in resource_ids.tolist()], dtype=np.int64)
    row = np.searchsorted(starts, rows["start_s"])
    column = column_of[rows[key]] if len(resource_ids) else rows[key]
    out = {c: np.zeros((len(starts), len(ids))) for c in columns}
    for c in columns:
        out[c][row, column] = rows[c]
    return out


def read_pm_history(run: StoredRun, inventory: Inventory) -> PmHistory:
    """Read the run's cell and link PM counters from its store into arrays."""
    with run.engine.connect() as connection:
        run_row = connection.execute(select(runs).where(runs.c.run_id == run.run_id)).one()
    cell_rows = read_columns(
        run,
        "cell_pm",
        [
            "start_s",
            "cell_index",
            "end_s",
            "offered_erlangs",
            "voice_offered",
            "voice_failed",
            "voice_blocked",
            "data_demand_mb",
        ],
    )
    cell_rows["attempts"] = cell_rows["voice_offered"] - cell_rows["voice_failed"]
    cell_rows["blocked"] = cell_rows["voice_blocked"]
    cell_rows["demand_mb"] = cell_rows["data_demand_mb"]
    link_rows = read_columns(run, "link_pm", ["start_s", "link_index", "carried_mb", "demand_mb"])
    starts = np.unique(cell_rows["start_s"]).astype(float)
    cells = _pivot(
        cell_rows,
        "cell_index",
        resource_ids(run, "cell_pm"),
        inventory.cell_ids,
        starts,
        ("end_s", "offered_erlangs", "attempts", "blocked", "demand_mb"),
    )
    span = cells["end_s"].max(axis=1) - starts if len(starts) else np.zeros(0)
    links = _pivot(
        link_rows,
        "link_index",
        resource_ids(run, "link_pm"),
        inventory.link_ids,
        starts,
        ("carried_mb", "demand_mb"),
    )
    to_mbps = 8.0 / np.maximum(span, 1e-300)[:, None]
    return PmHistory(
        start=datetime.fromisoformat(run.start.replace("Z", "+00:00")),
        duration_s=run.duration_s,
        pm_interval_s=float(run_row.pm_interval_s),
        interval_start_s=starts,
        interval_span_s=span,
        cell_ids=inventory.cell_ids,
        offered_erlangs=cells["offered_erlangs"],
        voice_attempts=cells["attempts"],
        voice_blocked=cells["blocked"],
        data_demand_mbps=cells["demand_mb"] * to_mbps,
        link_ids=inventory.link_ids,
        link_carried_mbps=links["carried_mb"] * to_mbps,
        link_demand_mbps=links["demand_mb"] * to_mbps,
    )


@dataclass(frozen=True)
class PlanSettings:
    """What the plan is measured against: the GoS, thresholds, growth and unit costs."""

    gos_target: float = 0.02
    cell_utilization_threshold: float = 0.85
    link_utilization_threshold: float = 0.80
    growth_per_year: float = 0.0
    growth: str = "auto"  # auto, scenario or fitted
    max_voice_channels_per_cell: int = 1000
    currency: str | None = None
    cost_voice_channel: Decimal | None = None
    cost_cell: Decimal | None = None
    cost_data_mbps: Decimal | None = None
    cost_link_mbps: Decimal | None = None

    @property
    def priced(self) -> bool:
        costs = (self.cost_voice_channel, self.cost_cell, self.cost_data_mbps, self.cost_link_mbps)
        return any(c is not None for c in costs)


def settings_from_scenario(scenario: dict[str, Any]) -> PlanSettings:
    """Plan settings from a scenario as run (``scenario.json``, every default spelled out)."""
    twin = scenario.get("twin") or {}
    thresholds = twin.get("thresholds") or {}
    planning = scenario.get("planning") or {}
    costs = planning.get("costs") or {}
    catalog = scenario.get("catalog") or {}

    def money(key: str) -> Decimal | None:
        value = costs.get(key)
        return None if value is None else Decimal(str(value))

    return PlanSettings(
        gos_target=float(twin.get("gos_target", 0.02)),
        cell_utilization_threshold=float(thresholds.get("cell_utilization", 0.85)),
        link_utilization_threshold=float(thresholds.get("link_utilization", 0.80)),
        growth_per_year=float((scenario.get("traffic") or {}).get("growth_per_year", 0.0)),
        growth=str(planning.get("growth", "auto")),
        max_voice_channels_per_cell=int(planning.get("max_voice_channels_per_cell", 1000)),
        currency=planning.get("currency") or catalog.get("currency"),
        cost_voice_channel=money("voice_channel"),
        cost_cell=money("cell"),
        cost_data_mbps=money("data_mbps"),
        cost_link_mbps=money("link_mbps"),
    )


def read_settings(run: StoredRun) -> PlanSettings:
    """The settings of the scenario as the run ran it (its ``scenario.json``)."""
    scenario = json.loads((run.directory / "scenario.json").read_text(encoding="utf-8"))
    return settings_from_scenario(scenario)


# --- the models ---------------------------------------------------------------------------------


def _window_mask(clock_s: np.ndarray, window_start_s: np.ndarray) -> np.ndarray:
    """(intervals, columns): True where an interval starts inside the column's busy hour."""
    return ((clock_s[:, None] - window_start_s[None, :]) % DAY_S) < 3600.0


def fit_growth(
    clock_s: np.ndarray, span_s: np.ndarray, values: np.ndarray, window_start_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return each column's growth per year fitted from its daily busy-hour traffic, the
    number of whole days it was fitted on, and the fit's 95 % margin on the yearly log growth.

    Each day's busy hour (the column's window, counted from the day it starts) is its
    time-weighted mean; over the days the run saw whole and with traffic, ``log A_d = a + b d``
    by least squares, and the growth is ``exp(365.25 b) - 1``. The margin is 1.96 standard
    errors of ``365.25 b`` (infinite with fewer than three days). NaN with fewer than two days.

    >>> clock = np.arange(10 * 24) * 3600.0
    >>> erlangs = (20.0 * 1.5 ** (clock / (365.25 * 86400)))[:, None]
    >>> growth, days, margin = fit_growth(clock, np.full(240, 3600.0), erlangs, np.array([64800.0]))
    >>> round(float(growth[0]), 9), int(days[0]), round(float(margin[0]), 9)
    (0.5, 10, 0.0)
    """
    n = values.shape[1]
    day = np.floor((clock_s[:, None] - window_start_s[None, :]) / DAY_S).astype(np.int64)
    inside = _window_mask(clock_s, window_start_s)
    growth, fitted_days = np.full(n, np.nan), np.zeros(n, dtype=np.int64)
    margin = np.full(n, np.inf)
    for c in range(n):
        rows = np.flatnonzero(inside[:, c])
        if rows.size == 0:
            continue
        days = day[rows, c]
        first = days.min()
        seen = np.bincount(days - first, weights=span_s[rows])
        traffic = np.bincount(days - first, weights=values[rows, c] * span_s[rows])
        whole = np.flatnonzero((seen >= 3600.0 - 1e-6) & (traffic > 0))
        fitted_days[c] = whole.size
        if whole.size < 2:
            continue
        x, y = whole.astype(float), np.log(traffic[whole] / seen[whole])
        slope, intercept = np.polyfit(x, y, 1)
        growth[c] = math.expm1(float(slope) * 365.25)
        if whole.size > 2:
            residual = y - (slope * x + intercept)
            spread = ((x - x.mean()) ** 2).sum()
            se = math.sqrt(float((residual**2).sum()) / (whole.size - 2) / spread)
            margin[c] = 1.96 * 365.25 * se
    return growth, fitted_days, margin


def _window_mean(
    clock_s: np.ndarray, span_s: np.ndarray, values: np.ndarray, window_start_s: np.ndarray
) -> np.ndarray:
    """Each column's time-weighted mean of ``values`` inside its window."""
    weights = _window_mask(clock_s, window_start_s) * span_s[:, None]
    return (values * weights).sum(axis=0) / np.maximum(weights.sum(axis=0), 1e-300)


def _years_to_reach(now: float, target: float, growth: float) -> float | None:
    """Years until ``now`` grown at ``growth`` a year reaches ``target``: negative when it
    already has, None when it never will (within :data:`FAR_YEARS`)."""
    if now >= target:
        return -math.inf if now > 0 else None
    if now <= 0 or growth <= 0:
        return None
    years = math.log(target / now) / math.log1p(growth)
    return years if years <= FAR_YEARS else None


@dataclass(frozen=True)
class CellPlan:
    """One cell's plan: its busy hour now, when it runs out, and what it needs by the horizon."""

    cell: str
    tower: str
    voice_channels: int
    data_mbps: float
    busy_hour_start: str  # "18:45", UTC
    busy_hour_erlangs: float  # offered, mean over the run's days
    blocking: float  # Erlang B at the busy hour's traffic with today's channels
    measured_blocking: float | None  # blocked over attempts in the busy hour (None: no calls)
    growth_per_year: float
    growth_source: str  # "scenario" or "fitted over N days"
    voice_exhaustion: date | None  # the day busy-hour blocking passes the GoS
    data_busy_hour_start: str
    data_busy_hour_mbps: float  # offered demand in the data busy hour
    data_utilization: float  # that demand over the cell's capacity (may exceed 1)
    data_exhaustion: date | None  # the day it passes the threshold
    channels_needed: int  # for the GoS at today's busy hour
    horizon_erlangs: float
    horizon_channels_needed: int  # for the GoS at the horizon (in this cell, or split)
    cells_to_add: int
    channels_to_add: int
    data_mbps_needed: float
    data_mbps_to_add: int
    cost: Decimal | None
    above_gos: bool  # busy-hour blocking above the GoS already

    @property
    def exhaustion_date(self) -> date | None:
        dates = [d for d in (self.voice_exhaustion, self.data_exhaustion) if d is not None]
        return min(dates) if dates else None

    @property
    def upgrade(self) -> str:
        parts = []
        if self.cells_to_add:
            parts.append(f"+{self.cells_to_add} cell{'s' if self.cells_to_add > 1 else ''}")
        if self.channels_to_add:
            parts.append(f"+{self.channels_to_add} voice channels")
        if self.data_mbps_to_add:
            parts.append(f"+{self.data_mbps_to_add} Mbps data")
        return "; ".join(parts) or "none"


@dataclass(frozen=True)
class LinkPlan:
    """One link's plan: busy-hour utilisation, the capacity it needs, and its N-1 standing."""

    link: str
    a: str
    b: str
    capacity_mbps: float
    busy_hour_start: str
    busy_hour_mbps: float  # carried, mean over the run's days
    utilization: float  # busy_hour_mbps / capacity
    demand_mbps: float  # offered in its busy hour
    horizon_mbps: float  # that demand at the horizon
    capacity_needed_mbps: float  # for the horizon demand at the threshold
    isolates_towers: tuple[str, ...]  # its loss alone cuts these off (N-1)
    isolates_subscribers: int
    overloads: tuple[str, ...]  # links its loss pushes over the threshold (rerouted demand)
    n1_load_mbps: float  # the most modelled load it carries when any one other link fails
    n1_capacity_needed_mbps: float  # for that load grown to the horizon, at the threshold
    capacity_to_add_mbps: int
    cost: Decimal | None


@dataclass(frozen=True)
class CapacityPlan:
    """The whole plan: cells and links, when, what to add, and what it costs."""

    run_start: datetime
    run_end: datetime
    horizon_months: int
    horizon_date: date
    settings: PlanSettings
    cells: tuple[CellPlan, ...]
    links: tuple[LinkPlan, ...]
    n1_note: str  # how the N-1 reroute was modelled, or why it was not
    hour_profile: np.ndarray  # (cells, 24): mean offered erlangs per hour of the day (UTC)
    network_busy_hour_start: str

    @property
    def total_cost(self) -> Decimal | None:
        costs = [c.cost for c in self.cells if c.cost is not None]
        costs += [k.cost for k in self.links if k.cost is not None]
        return sum(costs, _zero(self.settings)) if self.settings.priced else None


def _time_of_day(seconds: float) -> str:
    minutes = int(seconds) // 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _date_after(reference: datetime, years: float | None, today: date) -> date | None:
    if years is None:
        return None
    if years == -math.inf:
        return today
    return max(today, (reference + timedelta(seconds=years * YEAR_S)).date())


def _price(quantity: int, unit: Decimal | None) -> Decimal:
    return Decimal(quantity) * unit if (quantity and unit is not None) else Decimal(0)


def _zero(settings: PlanSettings) -> Decimal:
    """Nothing, at the costs' decimals: 180.00 x 0 = 0.00, so every cost reads alike."""
    units = (
        settings.cost_voice_channel,
        settings.cost_cell,
        settings.cost_data_mbps,
        settings.cost_link_mbps,
    )
    return min(
        (u * 0 for u in units if u is not None),
        key=lambda z: z.as_tuple().exponent,
        default=Decimal(0),
    )


def capacity_plan(
    history: PmHistory,
    inventory: Inventory,
    settings: PlanSettings,
    horizon_months: int = 24,
) -> CapacityPlan:
    """Return the capacity plan for ``horizon_months`` after the end of the run."""
    clock, span, pm = history.clock_s, history.interval_span_s, history.pm_interval_s
    reference = history.start + timedelta(seconds=history.duration_s / 2)
    today = history.end.date()
    horizon_s = horizon_months * YEAR_S / 12.0
    horizon_date = (history.end + timedelta(seconds=horizon_s)).date()
    years_to_horizon = (history.end - reference).total_seconds() / YEAR_S + horizon_s / YEAR_S

    # voice and data busy hours per cell (E.500), and the measured blocking in the voice one
    bh_start, bh_erlangs = busy_hours(clock, span, history.offered_erlangs, pm)
    data_start, data_mbps_bh = busy_hours(clock, span, history.data_demand_mbps, pm)
    in_bh = _window_mask(clock, bh_start)
    attempts = (history.voice_attempts * in_bh).sum(axis=0)
    blocked = (history.voice_blocked * in_bh).sum(axis=0)

    # growth: the scenario's, or fitted from the daily busy hours of a long enough run
    fitted, fitted_days, margin = fit_growth(clock, span, history.offered_erlangs, bh_start)
    use_fit = settings.growth == "fitted" or (
        settings.growth == "auto" and history.duration_s >= MIN_FIT_DAYS * DAY_S
    )

    cell_plans: list[CellPlan] = []
    gos = settings.gos_target
    for i, cell_id in enumerate(inventory.cell_ids):
        channels = int(inventory.cell_voice_channels[i])
        capacity = float(inventory.cell_data_mbps[i])
        erlangs = float(bh_erlangs[i])
        precise = settings.growth == "fitted" or margin[i] <= MAX_FIT_MARGIN
        if use_fit and np.isfinite(fitted[i]) and precise:
            growth = float(np.clip(fitted[i], -0.99, 100.0))
            source = f"fitted over {int(fitted_days[i])} days"
        else:
            growth, source = settings.growth_per_year, "scenario"
        grow_to_horizon = (1.0 + growth) ** years_to_horizon
        voice_years = _years_to_reach(erlangs, erlang_b_traffic(channels, gos), growth)
        utilization = float(data_mbps_bh[i]) / capacity
        data_years = _years_to_reach(utilization, settings.cell_utilization_threshold, growth)
        horizon_erlangs = erlangs * grow_to_horizon
        needed = erlang_b_channels(horizon_erlangs, gos)
        cells_to_add, channels_to_add = 0, max(0, needed - channels)
        limit = settings.max_voice_channels_per_cell
        if needed > limit:
            # split the traffic evenly over 1 + k cells of the largest size, k the fewest
            cells_to_add = 1
            while erlang_b(limit, horizon_erlangs / (1 + cells_to_add)) > gos:
                cells_to_add += 1
            channels_to_add = limit - channels
        data_needed = float(data_mbps_bh[i]) * grow_to_horizon / settings.cell_utilization_threshold
        data_to_add = max(0, math.ceil(data_needed - capacity - 1e-9))
        cost = None
        if settings.priced:
            cost = (
                _zero(settings)
                + _price(channels_to_add, settings.cost_voice_channel)
                + _price(cells_to_add, settings.cost_cell)
                + _price(data_to_add, settings.cost_data_mbps)
            )
        cell_plans.append(
            CellPlan(
                cell=cell_id,
                tower=inventory.cell_tower[i],
                voice_channels=channels,
                data_mbps=capacity,
                busy_hour_start=_time_of_day(float(bh_start[i])),
                busy_hour_erlangs=erlangs,
                blocking=erlang_b(channels, erlangs),
                measured_blocking=float(blocked[i] / attempts[i]) if attempts[i] else None,
                growth_per_year=growth,
                growth_source=source,
                voice_exhaustion=_date_after(reference, voice_years, today),
                data_busy_hour_start=_time_of_day(float(data_start[i])),
                data_busy_hour_mbps=float(data_mbps_bh[i]),
                data_utilization=utilization,
                data_exhaustion=_date_after(reference, data_years, today),
                channels_needed=erlang_b_channels(erlangs, gos),
                horizon_erlangs=horizon_erlangs,
                horizon_channels_needed=needed,
                cells_to_add=cells_to_add,
                channels_to_add=channels_to_add,
                data_mbps_needed=data_needed,
                data_mbps_to_add=data_to_add,
                cost=cost,
                above_gos=erlang_b(channels, erlangs) > gos,
            )
        )

    # links: growth is the busy-hour-traffic-weighted mean of the cells' growth
    weights = np.maximum(bh_erlangs, 1e-12)
    link_growth = float(np.average([c.growth_per_year for c in cell_plans], weights=weights))
    link_grow = (1.0 + link_growth) ** years_to_horizon
    link_start, link_mbps = busy_hours(clock, span, history.link_carried_mbps, pm)
    _, link_demand = busy_hours(clock, span, history.link_demand_mbps, pm)
    reroute = _n1_reroute(history, inventory, settings.link_utilization_threshold)
    mirror = InventoryMirror.from_inventory(inventory)
    points = {p.resource: p for p in n_minus_1(mirror) if p.kind == "link"}
    threshold = settings.link_utilization_threshold
    link_plans = []
    for j, link_id in enumerate(inventory.link_ids):
        capacity = float(inventory.link_capacity_mbps[j])
        needed = float(link_demand[j]) * link_grow / threshold
        n1_load = reroute.worst_load.get(link_id, 0.0)
        n1_needed = n1_load * link_grow / threshold
        to_add = max(0, math.ceil(max(needed, n1_needed) - capacity - 1e-9))
        point = points.get(link_id)
        link_plans.append(
            LinkPlan(
                link=link_id,
                a=inventory.link_a[j],
                b=inventory.link_b[j],
                capacity_mbps=capacity,
                busy_hour_start=_time_of_day(float(link_start[j])),
                busy_hour_mbps=float(link_mbps[j]),
                utilization=float(link_mbps[j]) / capacity,
                demand_mbps=float(link_demand[j]),
                horizon_mbps=float(link_demand[j]) * link_grow,
                capacity_needed_mbps=needed,
                isolates_towers=point.towers if point else (),
                isolates_subscribers=point.subscribers if point else 0,
                overloads=reroute.overloads.get(link_id, ()),
                n1_load_mbps=n1_load,
                n1_capacity_needed_mbps=n1_needed,
                capacity_to_add_mbps=to_add,
                cost=_zero(settings) + _price(to_add, settings.cost_link_mbps)
                if settings.priced
                else None,
            )
        )

    # the heat map's rows: each cell's mean offered erlangs per hour of the day
    hour = ((clock % DAY_S) // 3600).astype(np.int64)
    profile = np.zeros((24, len(inventory.cell_ids)))
    seen = np.zeros(24)
    np.add.at(profile, hour, history.offered_erlangs * span[:, None])
    np.add.at(seen, hour, span)
    profile = np.divide(
        profile, seen[:, None], out=np.full_like(profile, np.nan), where=seen[:, None] > 0
    )
    network_start, _ = busy_hours(
        clock, span, history.offered_erlangs.sum(axis=1, keepdims=True), pm
    )
    return CapacityPlan(
        run_start=history.start,
        run_end=history.end,
        horizon_months=horizon_months,
        horizon_date=horizon_date,
        settings=settings,
        cells=tuple(cell_plans),
        links=tuple(link_plans),
        n1_note=reroute.note,
        hour_profile=profile.T,
        network_busy_hour_start=_time_of_day(float(network_start[0])),
    )


# --- N-1: what a link's loss overloads ------------------------------------------------------------

MAX_N1_LINKS = 2000  # one shortest-path tree per link: beyond this the reroute is not modelled


@dataclass(frozen=True)
class _Reroute:
    overloads: dict[str, tuple[str, ...]]
    worst_load: dict[str, float]  # per link, the most it carries with any one other link down
    note: str


def _route_loads(
    graph: nx.Graph, cores: list[str], demand: dict[str, float], edge_link: dict[Any, str]
) -> dict[str, float]:
    """Each link's load when every tower sends its demand over its shortest path (latency) to
    the nearest core; towers with no path send nothing."""
    if not cores:
        return {}
    _, paths = nx.multi_source_dijkstra(graph, cores, weight="latency")
    loads: dict[str, float] = {}
    for tower, mbps in demand.items():
        path = paths.get(tower)
        if not path or mbps <= 0:
            continue
        for u, v in itertools.pairwise(path):
            link = edge_link[frozenset((u, v))]
            loads[link] = loads.get(link, 0.0) + mbps
    return loads


def _n1_reroute(history: PmHistory, inventory: Inventory, threshold: float) -> _Reroute:
    """For each link, the links its loss pushes over the threshold when the towers' demand in
    the network's data busy hour reroutes (each tower to its nearest core by latency)."""
    if len(inventory.link_ids) > MAX_N1_LINKS:
        return _Reroute(
            {}, {}, f"not modelled: more than {MAX_N1_LINKS} links (one reroute per link)"
        )
    clock, span = history.clock_s, history.interval_span_s
    start, _ = busy_hours(
        clock, span, history.data_demand_mbps.sum(axis=1, keepdims=True), history.pm_interval_s
    )
    cell_demand = _window_mean(
        clock, span, history.data_demand_mbps, np.full(len(history.cell_ids), start[0])
    )
    demand: dict[str, float] = {}
    for tower, mbps in zip(inventory.cell_tower, cell_demand, strict=True):
        demand[tower] = demand.get(tower, 0.0) + float(mbps)
    capacity = dict(zip(inventory.link_ids, inventory.link_capacity_mbps, strict=True))
    cores = [
        n for n, r in zip(inventory.node_ids, inventory.node_roles, strict=True) if r == "core"
    ]

    def graph_without(failed: str | None) -> tuple[nx.Graph, dict[Any, str]]:
        graph = nx.Graph()
        graph.add_nodes_from(inventory.node_ids)
        edge_link: dict[Any, str] = {}
        order = sorted(
            zip(
                inventory.link_latency_ms,
                inventory.link_ids,
                inventory.link_a,
                inventory.link_b,
                strict=True,
            )
        )
        for latency, link, a, b in order:  # of parallel links, the fastest (then by id) carries
            key = frozenset((a, b))
            if link == failed or key in edge_link or a == b:
                continue
            graph.add_edge(a, b, latency=float(latency))
            edge_link[key] = link
        return graph, edge_link

    graph, edge_link = graph_without(None)
    base = _route_loads(graph, cores, demand, edge_link)
    over_base = {k for k, v in base.items() if v > threshold * capacity[k]}
    overloads: dict[str, tuple[str, ...]] = {}
    worst: dict[str, float] = dict(base)
    for link in inventory.link_ids:
        if link not in base:
            continue  # carries nothing: its loss moves nothing
        graph, edge_link = graph_without(link)
        loads = _route_loads(graph, cores, demand, edge_link)
        for other, load in loads.items():
            worst[other] = max(worst.get(other, 0.0), load)
        hit = sorted(
            k for k, v in loads.items() if v > threshold * capacity[k] and k not in over_base
        )
        if hit:
            overloads[link] = tuple(hit)
    at = _time_of_day(float(start[0]))
    return _Reroute(
        overloads,
        worst,
        f"each tower's data demand in the network's data busy hour ({at} UTC) routed to its "
        "nearest core by latency, with each link out in turn",
    )
