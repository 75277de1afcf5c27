"""``telcotwin sla``: a finished run's SLA breaches per tower, product and billing cycle, read
from its store (what the operator's service assurance published; never the truth)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from twin.readback import StoredRun
from twin.store import cells, sla_breaches
from twin.timeseries import read_subscribers

__all__ = ["format_sla", "sla_by_tower", "summary_lines"]


def sla_by_tower(run: StoredRun) -> list[dict[str, Any]]:
    """One row per tower, product and cycle with breaches: how many, the lowest and mean
    availability, the target; ordered by cycle, then most breaches first."""
    # the subscribers (their home cell) come through the query API, from the run directory's
    # Parquet file or the database; grouped here as the SQL join and GROUP BY did
    query = select(
        sla_breaches.c.subscriber,
        sla_breaches.c.product,
        sla_breaches.c.cycle_start_s,
        sla_breaches.c.cycle_end_s,
        sla_breaches.c.availability,
        sla_breaches.c.target,
    ).where(sla_breaches.c.run_id == run.run_id)
    with run.engine.connect() as connection:
        breaches = connection.execute(query).all()
        towers = dict(
            connection.execute(
                select(cells.c.cell_id, cells.c.tower).where(cells.c.run_id == run.run_id)
            ).all()
        )
    groups: dict[tuple[str, str, float, float], list[tuple[float, float]]] = {}
    if breaches:
        held = read_subscribers(run)
        cell_of = dict(zip(held["subscriber"].tolist(), held["cell_id"].tolist(), strict=True))
        for subscriber, product, cycle_start_s, cycle_end_s, availability, target in breaches:
            cell = cell_of.get(subscriber)
            if cell is None or cell not in towers:  # the join's inner: none in practice
                continue
            key = (towers[cell], product, cycle_start_s, cycle_end_s)
            groups.setdefault(key, []).append((availability, target))
    rows = [
        SimpleNamespace(
            tower=tower,
            product=product,
            cycle_start_s=cycle_start_s,
            cycle_end_s=cycle_end_s,
            breaches=len(values),
            lowest=min(a for a, _ in values),
            mean=math.fsum(a for a, _ in values) / len(values),
            target=max(t for _, t in values),
        )
        for (tower, product, cycle_start_s, cycle_end_s), values in groups.items()
    ]
    start = datetime.fromisoformat(run.start)
    out = [
        {
            "tower": r.tower,
            "product": r.product,
            "cycle_start": (start + timedelta(seconds=r.cycle_start_s)).isoformat(),
            "cycle_end": (start + timedelta(seconds=r.cycle_end_s)).isoformat(),
            "cycle_start_s": r.cycle_start_s,
            "cycle_end_s": r.cycle_end_s,
            "partial": r.cycle_end_s >= run.duration_s,
            "breaches": int(r.breaches),
            "lowest_availability": round(float(r.lowest), 6),
            "mean_availability": round(float(r.mean), 6),
            "target": float(r.target),
        }
        for r in rows
    ]
    out.sort(key=lambda r: (r["cycle_start_s"], -r["breaches"], r["tower"], r["product"]))
    return out


def format_sla(run_dir: str, rows: list[dict[str, Any]]) -> str:
    """The rows as a table for people."""
    total = sum(r["breaches"] for r in rows)
    lines = [f"{run_dir}: {total:,} SLA breaches ({len(rows)} tower, product and cycle rows)"]
    if rows:
        tower_w = max(8, *(len(r["tower"]) for r in rows))
        product_w = max(8, *(len(r["product"]) for r in rows))
        lines.append(
            f"  {'tower':<{tower_w}} {'product':<{product_w}} {'cycle':<23} "
            f"{'breaches':>8} {'lowest':>8} {'mean':>8} {'target':>8}"
        )
    for r in rows:
        cycle = f"{r['cycle_start'][:10]}..{r['cycle_end'][:10]}" + ("*" if r["partial"] else "")
        lines.append(
            f"  {r['tower']:<{tower_w}} {r['product']:<{product_w}} {cycle:<23} "
            f"{r['breaches']:>8,} {r['lowest_availability']:>8.4%} "
            f"{r['mean_availability']:>8.4%} {r['target']:>8.3%}"
        )
    if any(r["partial"] for r in rows):
        lines.append("  * partial cycle: up to the end of the run")
    return "\n".join(lines)


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The end-of-run table's lines for anomalies and SLA breaches (none when they are off)."""
    lines: list[str] = []
    anomalies = summary.get("anomalies")
    if anomalies:
        events = anomalies["events"]
        lines += [
            "",
            f"  anomalies: {len(anomalies['findings']):,} findings, "
            f"{events['found']} of {events['injected']} injected found; cell-intervals: "
            f"precision {_score(anomalies['precision'])}, recall {_score(anomalies['recall'])}; "
            f"{anomalies['false_per_1000_cell_days']} false per 1,000 cell-days",
        ]
    sla = summary.get("sla")
    if sla:
        lines += [
            "",
            f"  SLA: {sla['breaches']:,} breaches (telcotwin sla RUN_DIR); against the truth "
            f"{sla['missed_breaches']:,} missed, {sla['false_breaches']:,} false",
        ]
    return lines
