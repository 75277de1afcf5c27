"""``telcotwin kpis``: a finished run's KPIs, recomputed from the PM counters in its store.

The store already holds every cell's and link's PM counters per interval (``cell_pm``,
``link_pm``) and the inventory's capacities (``cells``, ``links``); the KPIs are formulas over
those (``twin.oss.performance.KPIS``), so they are recomputed here by the very functions the
run used, rather than stored a second time: no new bulk data, and nothing to keep in step.

- :func:`kpi_series`: one cell's or link's KPIs, one row per PM interval.
- :func:`busy_hour_list`: each cell's and link's E.500 busy hour (cells by offered erlangs,
  links by carried throughput, as performance management ranks them), with a KPI's value in
  that hour when one is asked for: a rate on the counters summed over the hour's intervals on
  every day (a tower's way: the formula on the sums), any other KPI as its mean per interval.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select

from sim.scenario import Problem, ScenarioError
from twin.oss.performance import KPIS, RADIO_COUNTERS, Kpi
from twin.readback import StoredRun
from twin.store import cells, links
from twin.summary import busy_hours
from twin.timeseries import read_columns

__all__ = [
    "STORED_RADIO_COUNTERS",
    "busy_hour_list",
    "format_busy_hours",
    "format_series",
    "kpi_series",
    "link_counters",
    "radio_counters",
]

DAY_S = 86400.0
# the cell_pm columns the radio KPIs are computed from: the KPIs' counters less those that come
# from the inventory or the interval (radio_counters adds them)
_FROM_INVENTORY = ("data_capacity_mb", "cell_seconds")
STORED_RADIO_COUNTERS = tuple(c for c in RADIO_COUNTERS if c not in _FROM_INVENTORY)


def _kpis(over: str, name: str | None, shown: str) -> list[Kpi]:
    """The KPIs of a scope (``radio`` or ``link``), or the one named; bad input otherwise."""
    known = [k for k in KPIS if k.over == over]
    if name is None:
        return known
    if name in {k.name for k in known}:
        return [k for k in known if k.name == name]
    if name in {k.name for k in KPIS}:
        kind = "a link KPI" if over == "radio" else "a radio KPI (cells)"
        raise ScenarioError([Problem(shown, "--kpi", f"'{name}' is {kind}")])
    names = ", ".join(k.name for k in KPIS)
    raise ScenarioError([Problem(shown, "--kpi", f"unknown KPI '{name}'; known: {names}")])


def radio_counters(rows: dict[str, np.ndarray], data_mbps: np.ndarray) -> dict[str, np.ndarray]:
    interval_s = rows["end_s"] - rows["start_s"]
    counters = {c: rows[c].astype(float) for c in STORED_RADIO_COUNTERS}
    counters["data_capacity_mb"] = data_mbps * interval_s / 8.0
    counters["cell_seconds"] = interval_s
    counters["interval_s"] = interval_s
    return counters


def link_counters(rows: dict[str, np.ndarray], capacity_mbps: np.ndarray) -> dict[str, np.ndarray]:
    interval_s = rows["end_s"] - rows["start_s"]
    return {
        "carried_mb": rows["carried_mb"].astype(float),
        "capacity_mb": capacity_mbps * interval_s / 8.0,
        "seconds_in_service": rows["seconds_in_service"].astype(float),
        "interval_s": interval_s,
    }


def _columns(run: StoredRun, table: Any, names: list[str], where: Any = None) -> dict[str, Any]:
    """Columns of a run's rows as arrays (strings as object arrays), in start time order."""
    query = select(*(table.c[n] for n in names)).where(table.c.run_id == run.run_id)
    if where is not None:
        query = query.where(where)
    if "start_s" in names:
        query = query.order_by(table.c.start_s)
    with run.engine.connect() as connection:
        rows = list(connection.execute(query))
    out: dict[str, Any] = {}
    for i, name in enumerate(names):
        values = [r[i] for r in rows]
        kind = object if values and isinstance(values[0], str) else float
        out[name] = np.array(values, dtype=kind)
    return out


def kpi_series(
    run: StoredRun, *, cell: str | None = None, link: str | None = None, kpi: str | None = None
) -> dict[str, Any]:
    """One cell's or link's KPIs per PM interval: ``resource``, ``kind``, ``units`` per KPI and
    ``intervals``, each ``start_s``, ``end_s`` and the KPIs' values (None where NaN)."""
    shown = str(run.directory)
    if cell is not None:
        capacity = _columns(run, cells, ["cell_id", "data_mbps"], cells.c.cell_id == cell)
        if not len(capacity["cell_id"]):
            raise ScenarioError([Problem(shown, "--cell", f"the run has no cell '{cell}'")])
        chosen = _kpis("radio", kpi, shown)
        rows = read_columns(
            run, "cell_pm", ["start_s", "end_s", *STORED_RADIO_COUNTERS], {"cell_id": cell}
        )
        counters = radio_counters(rows, capacity["data_mbps"][0])
        resource, kind = cell, "cell"
    elif link is not None:
        capacity = _columns(run, links, ["link_id", "capacity_mbps"], links.c.link_id == link)
        if not len(capacity["link_id"]):
            raise ScenarioError([Problem(shown, "--link", f"the run has no link '{link}'")])
        chosen = _kpis("link", kpi, shown)
        rows = read_columns(
            run,
            "link_pm",
            ["start_s", "end_s", "carried_mb", "seconds_in_service"],
            {"link_id": link},
        )
        counters = link_counters(rows, capacity["capacity_mbps"][0])
        resource, kind = link, "link"
    else:
        raise ValueError("kpi_series needs a cell or a link")
    values = {k.name: np.asarray(k.compute(counters), dtype=float) for k in chosen}
    return {
        "resource": resource,
        "kind": kind,
        "units": {k.name: k.unit for k in chosen},
        "intervals": [
            {
                "start_s": float(rows["start_s"][i]),
                "end_s": float(rows["end_s"][i]),
                **{name: _number(v[i]) for name, v in values.items()},
            }
            for i in range(len(rows["start_s"]))
        ],
    }


def busy_hour_list(run: StoredRun, kpi: str | None = None) -> dict[str, Any]:
    """Every cell's and link's busy hour (``start`` as HH:MM of UTC, ``offered_erlangs`` or
    ``throughput_mbps``), and with ``kpi`` its value in that hour (cells for a radio KPI,
    links for a link KPI)."""
    shown = str(run.directory)
    chosen: Kpi | None = None
    if kpi is not None:
        matching = [k for k in KPIS if k.name == kpi]
        if not matching:
            _kpis("radio", kpi, shown)  # raises the unknown-KPI line
        chosen = matching[0]
    start = datetime.fromisoformat(run.start.replace("Z", "+00:00"))
    start_of_day_s = float(start.hour * 3600 + start.minute * 60 + start.second)
    out: dict[str, Any] = {"cells": {}, "links": {}}
    for table, key, over in (("cell_pm", "cell_id", "radio"), ("link_pm", "link_id", "link")):
        capacity_table, capacity = (
            (cells, "data_mbps") if over == "radio" else (links, "capacity_mbps")
        )
        stored_key = "cell_index" if over == "radio" else "link_index"
        ids = _columns(run, capacity_table, [key, stored_key, capacity])
        columns = (
            list(STORED_RADIO_COUNTERS) if over == "radio" else ["carried_mb", "seconds_in_service"]
        )
        rows = read_columns(run, table, ["start_s", "end_s", stored_key, *columns])
        names = list(ids[key])
        if not names or not len(rows["start_s"]):
            continue
        # the rows name their cell or link by its index: the grid's column of each index
        column_of = np.empty(len(names), dtype=np.int64)
        column_of[ids[stored_key].astype(np.int64)] = np.arange(len(names))
        column = column_of[rows[stored_key]]
        starts = np.unique(rows["start_s"])
        row = np.searchsorted(starts, rows["start_s"])
        grid: dict[str, np.ndarray] = {}
        for name in ["end_s", *columns]:
            grid[name] = np.zeros((len(starts), len(names)))
            grid[name][row, column] = rows[name].astype(float)
        grid["start_s"] = np.broadcast_to(starts[:, None], grid["end_s"].shape).copy()
        span = grid["end_s"][:, 0] - starts
        if over == "radio":
            traffic = grid["offered_erlangs"]
        else:
            traffic = 8.0 * grid["carried_mb"] / span[:, None]
        pm_interval_s = float(np.max(span))
        busy, value = busy_hours(start_of_day_s + starts, span, traffic, pm_interval_s)
        unit = "offered_erlangs" if over == "radio" else "throughput_mbps"
        found: dict[str, Any] = {}
        in_hour = None
        if chosen is not None and chosen.over == over:
            slot_start = (start_of_day_s + starts) % DAY_S
            offset = (slot_start[:, None] - busy[None, :]) % DAY_S
            in_hour = offset < 3600.0  # intervals x resources: inside the resource's busy hour
            per_resource = np.broadcast_to(ids[capacity][None, :], grid["end_s"].shape)
            counters = (
                radio_counters(grid, per_resource)
                if over == "radio"
                else link_counters(grid, per_resource)
            )
            if chosen.is_rate:
                summed = {n: np.where(in_hour, v, 0.0).sum(axis=0) for n, v in counters.items()}
                hour_value = np.asarray(chosen.compute(summed), dtype=float)
            else:
                per_interval = np.asarray(chosen.compute(counters), dtype=float)
                hour_value = _nanmean(np.where(in_hour, per_interval, np.nan))
        for i, name in enumerate(names):
            found[name] = {"start": _time_of_day(busy[i]), unit: round(float(value[i]), 6)}
            if in_hour is not None:
                found[name][chosen.name if chosen else ""] = _number(hour_value[i])
        out["cells" if over == "radio" else "links"] = found
    return out


def _nanmean(values: np.ndarray) -> np.ndarray:
    counted = (~np.isnan(values)).sum(axis=0)
    total = np.nansum(values, axis=0)
    return np.divide(total, counted, out=np.full(total.shape, np.nan), where=counted > 0)


def _number(value: float) -> float | None:
    """A KPI's value for JSON: None where nothing was measured (NaN), else as computed."""
    return None if np.isnan(value) else float(value)


def _time_of_day(seconds: float) -> str:
    minutes = int(seconds) // 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def format_series(series: dict[str, Any], duration: Any) -> str:
    """A KPI series as a text table: one row per interval, one column per KPI."""
    names = list(series["units"])
    widths = [max(len(n), 10) for n in names]
    lines = [f"{series['kind']} {series['resource']}: {len(series['intervals'])} PM intervals"]
    header = f"  {'start':>10} " + " ".join(f"{n:>{w}}" for n, w in zip(names, widths, strict=True))
    units = f"  {'':>10} " + " ".join(
        f"{series['units'][n]:>{w}}" for n, w in zip(names, widths, strict=True)
    )
    lines += [header, units]
    for row in series["intervals"]:
        cells_text = " ".join(
            f"{'-' if row[n] is None else format(row[n], '.4g'):>{w}}"
            for n, w in zip(names, widths, strict=True)
        )
        lines.append(f"  {duration(row['start_s']):>10} {cells_text}")
    return "\n".join(lines)


def format_busy_hours(found: dict[str, Any], kpi: str | None) -> str:
    """The busy-hour list as text: cells, then links."""
    lines = []
    for section, unit, label in (
        ("cells", "offered_erlangs", "offered E"),
        ("links", "throughput_mbps", "Mbit/s"),
    ):
        entries = found[section]
        if not entries:
            continue
        width = max(12, *(len(name) for name in entries))
        extra = kpi if kpi and any(kpi in e for e in entries.values()) else None
        lines.append(f"{section}: busy hour (ITU-T E.500, UTC) and traffic in it")
        head = f"  {section[:-1]:<{width}} {'start':>5} {label:>12}"
        lines.append(head + (f" {extra:>{max(len(extra), 10)}}" if extra else ""))
        for name, e in entries.items():
            text = f"  {name:<{width}} {e['start']:>5} {e[unit]:>12.4f}"
            if extra:
                value = e[extra]
                shown = "-" if value is None else format(value, ".4g")
                text += f" {shown:>{max(len(extra), 10)}}"
            lines.append(text)
    return "\n".join(lines)
