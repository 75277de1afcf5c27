"""The capacity report: one self-contained HTML page and the per-cell CSV plan.

:func:`write_report` fills ``template.html`` (a :class:`string.Template`, no template engine
needed) with the plan's tables and the figures of :mod:`reports.figures`, embedded as PNG
``data:`` URLs so the page opens without a network and can be mailed as one file.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from twin.feed import Inventory
from twin.planning.capacity import CapacityPlan, CellPlan

__all__ = ["CSV_COLUMNS", "plan_csv", "render_html", "write_report"]

CSV_COLUMNS = (
    "cell",
    "tower",
    "busy_hour_erlangs",
    "voice_channels",
    "blocking",
    "exhaustion_date",
    "channels_needed",
    "data_utilization",
    "upgrade",
    # beyond the list: what a planner asks next
    "busy_hour_start",
    "measured_blocking",
    "voice_exhaustion_date",
    "data_exhaustion_date",
    "growth_per_year",
    "growth_source",
    "horizon_erlangs",
    "horizon_channels_needed",
    "cells_to_add",
    "channels_to_add",
    "data_mbps_to_add",
    "cost",
)
MAX_TABLE_ROWS = 200  # rows in a page table; the CSV has every cell


def _day(value: date | None) -> str:
    return "" if value is None else value.isoformat()


def _cost(value: Decimal | None) -> str:
    return "" if value is None else str(value)


def plan_csv(plan: CapacityPlan) -> str:
    """The plan as CSV, one row per cell, in the inventory's order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for c in plan.cells:
        writer.writerow(
            [
                c.cell,
                c.tower,
                f"{c.busy_hour_erlangs:.4f}",
                c.voice_channels,
                f"{c.blocking:.6g}",
                _day(c.exhaustion_date),
                c.channels_needed,
                f"{c.data_utilization:.4f}",
                c.upgrade,
                c.busy_hour_start,
                "" if c.measured_blocking is None else f"{c.measured_blocking:.6g}",
                _day(c.voice_exhaustion),
                _day(c.data_exhaustion),
                f"{c.growth_per_year:.4f}",
                c.growth_source,
                f"{c.horizon_erlangs:.4f}",
                c.horizon_channels_needed,
                c.cells_to_add,
                c.channels_to_add,
                c.data_mbps_to_add,
                _cost(c.cost),
            ]
        )
    return buffer.getvalue()


def _e(value: object) -> str:
    return html.escape(str(value))


def _table(
    header: Iterable[str],
    rows: Iterable[tuple[Sequence[object], bool]],
    numeric: set[int] | None = None,
) -> str:
    """An HTML table; each row its cells and whether to highlight it."""
    numeric = numeric or set()
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for cells, highlight in rows:
        tds = "".join(
            f'<td class="num">{_e(v)}</td>' if i in numeric else f"<td>{_e(v)}</td>"
            for i, v in enumerate(cells)
        )
        body.append(f'<tr class="above">{tds}</tr>' if highlight else f"<tr>{tds}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _percent(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f} %"


def _above_table(plan: CapacityPlan) -> str:
    above = sorted((c for c in plan.cells if c.above_gos), key=lambda c: (-c.blocking, c.cell))
    if not above:
        gos = _percent(plan.settings.gos_target, 1)
        return f"<p>No cell's busy-hour blocking is above the GoS ({gos}).</p>"
    rows = [
        (
            [
                c.cell,
                c.tower,
                c.busy_hour_start,
                f"{c.busy_hour_erlangs:.2f}",
                c.voice_channels,
                _percent(c.blocking),
                _percent(c.measured_blocking),
                c.channels_needed,
                f"+{c.channels_needed - c.voice_channels}",
            ],
            True,
        )
        for c in above
    ]
    return _table(
        (
            "cell",
            "tower",
            "busy hour (UTC)",
            "busy-hour E",
            "channels",
            "Erlang B blocking",
            "measured blocking",
            "channels for the GoS now",
            "to add now",
        ),
        rows,
        numeric={3, 4, 5, 6, 7, 8},
    )


def _upgrade_rows(plan: CapacityPlan) -> list[CellPlan]:
    cells = [c for c in plan.cells if c.upgrade != "none"]
    return sorted(cells, key=lambda c: (c.exhaustion_date or date.max, c.cell))


def _upgrade_table(plan: CapacityPlan) -> str:
    cells = _upgrade_rows(plan)
    currency = plan.settings.currency or ""
    if not cells:
        return f"<p>No cell needs more capacity by {plan.horizon_date.isoformat()}.</p>"
    rows = [
        (
            [
                c.cell,
                c.tower,
                _day(c.exhaustion_date),
                f"{c.horizon_erlangs:.2f}",
                f"{c.voice_channels} -> {c.horizon_channels_needed}",
                c.cells_to_add or "",
                c.channels_to_add or "",
                c.data_mbps_to_add or "",
                c.upgrade,
                "not priced" if c.cost is None else f"{c.cost} {currency}".strip(),
            ],
            c.above_gos,
        )
        for c in cells[:MAX_TABLE_ROWS]
    ]
    more = len(cells) - MAX_TABLE_ROWS
    total = plan.total_cost
    footer = (
        "<p>Costs: give unit costs in the scenario's <code>planning.costs</code> to price the "
        "list.</p>"
        if total is None
        else f"<p><b>Total for cells and links: {total} {currency}</b> (exact; unit costs "
        "from <code>planning.costs</code>).</p>"
    )
    note = f"<p>{more} more cells in capacity_plan.csv.</p>" if more > 0 else ""
    return (
        _table(
            (
                "cell",
                "tower",
                "runs out",
                "E at horizon",
                "channels now -> needed in one cell",
                "cells to add",
                "channels to add",
                "data Mbps to add",
                "upgrade",
                "cost",
            ),
            rows,
            numeric={3, 5, 6, 7, 9},
        )
        + note
        + footer
    )


def _link_table(plan: CapacityPlan) -> str:
    currency = plan.settings.currency or ""
    links = sorted(
        plan.links,
        key=lambda k: (-max(k.utilization, k.n1_load_mbps / k.capacity_mbps), k.link),
    )
    threshold = plan.settings.link_utilization_threshold
    rows = []
    for k in links[:MAX_TABLE_ROWS]:
        isolates = ", ".join(k.isolates_towers) or "nothing"
        if k.isolates_subscribers:
            isolates += f" ({k.isolates_subscribers:,} subscribers)"
        rows.append(
            (
                [
                    k.link,
                    f"{k.a} - {k.b}",
                    f"{k.capacity_mbps:g}",
                    k.busy_hour_start,
                    _percent(k.utilization, 1),
                    f"{k.capacity_needed_mbps:.0f}",
                    _percent(k.n1_load_mbps / k.capacity_mbps, 1),
                    f"{k.n1_capacity_needed_mbps:.0f}",
                    isolates,
                    ", ".join(k.overloads) or "nothing",
                    k.capacity_to_add_mbps or "",
                    "" if k.cost is None else f"{k.cost} {currency}".strip(),
                ],
                k.n1_load_mbps > threshold * k.capacity_mbps or bool(k.overloads),
            )
        )
    return _table(
        (
            "link",
            "ends",
            "capacity Mbps",
            "busy hour",
            "busy-hour utilisation",
            "Mbps needed at horizon",
            "worst N-1 load",
            "Mbps needed under N-1 at horizon",
            "its loss isolates",
            "its loss overloads",
            "Mbps to add",
            "cost",
        ),
        rows,
        numeric={2, 4, 5, 6, 7, 10, 11},
    )


def _alarm_section(alarms: list[dict[str, Any]] | None) -> str:
    if alarms is None:
        return '<p class="na">Alarms: not available in this run (fault management off).</p>'
    roots = [a for a in alarms if a["parent_alarm"] is None]
    if not roots:
        return "<p>No alarms were raised in the run.</p>"
    roots.sort(key=lambda a: (a["raised_time_s"], a["alarm_id"]))
    rows = [
        (
            [
                a["alarm_id"],
                a["perceived_severity"],
                a["alarmed_object"],
                a["specific_problem"],
                _clock(a["raised_time_s"]),
                "active at the end" if a["cleared_time_s"] is None else _clock(a["cleared_time_s"]),
                len(a["correlated_alarms"]),
                "root cause" if a["is_root_cause"] else "",
            ],
            a["cleared_time_s"] is None,
        )
        for a in roots[:MAX_TABLE_ROWS]
    ]
    more = len(roots) - MAX_TABLE_ROWS
    return (
        f"<p>{len(roots)} top-level alarms (root causes and lone alarms) as fault management "
        "kept them; <code>telcotwin alarms RUN_DIR --all</code> lists every one.</p>"
        + _table(
            (
                "id",
                "severity (latest)",
                "object",
                "problem",
                "raised (into the run)",
                "cleared",
                "alarms under it",
                "",
            ),
            rows,
            numeric={0, 6},
        )
        + (f"<p>{more} more.</p>" if more > 0 else "")
    )


def _clock(seconds: float) -> str:
    from sim.units import format_duration

    return format_duration(round(seconds))


def _json_block(value: Any) -> str:
    """A summary section of unknown shape, shown as a table of its top-level keys."""
    if not isinstance(value, dict):
        return f"<pre>{_e(json.dumps(value, indent=2)[:5000])}</pre>"
    rows = []
    for key, item in value.items():
        shown = item if isinstance(item, (str, int, float)) or item is None else json.dumps(item)
        text = str(shown)
        rows.append(([key, text if len(text) <= 300 else text[:300] + " ..."], False))
    return _table(("key", "value"), rows)


def _business_section(summary: dict[str, Any]) -> str:
    parts = []
    for key, title in (
        ("sla", "SLA breaches"),
        ("billing", "Billing"),
        ("revenue", "Revenue at risk"),
    ):
        if summary.get(key) is not None:
            parts.append(f"<h3>{title}</h3>" + _json_block(summary[key]))
        else:
            parts.append(
                f'<h3>{title}</h3><p class="na">{title}: not available in this run '
                f"(summary.json has no <code>{key}</code>).</p>"
            )
    return "".join(parts)


def _cards(plan: CapacityPlan) -> str:
    above = [c for c in plan.cells if c.above_gos]
    within = [
        c
        for c in plan.cells
        if c.exhaustion_date is not None and c.exhaustion_date <= plan.horizon_date
    ]
    links = [k for k in plan.links if k.capacity_to_add_mbps]
    total = plan.total_cost
    currency = plan.settings.currency or ""
    cards = [
        (f"{len(above)} of {len(plan.cells)}", "cells above the GoS now", bool(above)),
        (str(len(within)), f"cells running out by {plan.horizon_date.isoformat()}", bool(within)),
        (str(len(links)), "links needing capacity (incl. N-1)", bool(links)),
        (
            "not priced" if total is None else f"{total} {currency}".strip(),
            f"upgrades for {plan.horizon_months} months",
            False,
        ),
        (plan.network_busy_hour_start, "network busy hour (UTC)", False),
    ]
    return "".join(
        f'<div class="card{" alert" if alert else ""}"><b>{_e(big)}</b>{_e(small)}</div>'
        for big, small, alert in cards
    )


def render_html(
    plan: CapacityPlan,
    inventory: Inventory,
    summary: dict[str, Any],
    alarms: list[dict[str, Any]] | None,
) -> str:
    """The report page, every figure embedded."""
    from reports.figures import all_figures

    figures = all_figures(plan, inventory)
    settings = plan.settings
    sources = sorted({c.growth_source for c in plan.cells})
    growth = (
        f"{100 * settings.growth_per_year:g} % a year (the scenario's traffic.growth_per_year)"
        if sources == ["scenario"]
        else "fitted per cell from the run's daily busy hours (see capacity_plan.csv)"
    )
    template = Template(
        resources.files("reports").joinpath("template.html").read_text(encoding="utf-8")
    )
    return template.substitute(
        scenario=_e(summary.get("scenario", "")),
        run_start=_e(plan.run_start.strftime("%Y-%m-%d %H:%M")),
        run_end=_e(plan.run_end.strftime("%Y-%m-%d %H:%M")),
        horizon_months=plan.horizon_months,
        horizon_date=plan.horizon_date.isoformat(),
        gos=_percent(settings.gos_target, 1),
        cell_threshold=_percent(settings.cell_utilization_threshold, 0),
        link_threshold=_percent(settings.link_utilization_threshold, 0),
        growth=_e(growth),
        cards=_cards(plan),
        above_table=_above_table(plan),
        upgrade_table=_upgrade_table(plan),
        link_table=_link_table(plan),
        n1_note=_e(plan.n1_note),
        alarms=_alarm_section(alarms),
        business=_business_section(summary),
        **{f"fig_{name}": url for name, url in figures.items()},
    )


def write_report(
    out_dir: Path,
    plan: CapacityPlan,
    inventory: Inventory,
    summary: dict[str, Any],
    alarms: list[dict[str, Any]] | None,
) -> None:
    """Write ``capacity_report.html`` and ``capacity_plan.csv`` into ``out_dir`` (which exists)."""
    page = render_html(plan, inventory, summary, alarms)
    (out_dir / "capacity_report.html").write_text(page, encoding="utf-8")
    (out_dir / "capacity_plan.csv").write_text(plan_csv(plan), encoding="utf-8")
