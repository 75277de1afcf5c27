"""The capacity report's figures, as PNG images embedded in the page (``data:`` URLs).

Matplotlib is imported here, where figures are made, and only with the Agg backend: a report
is written without a display and opened without a network. Each function takes the plan and
returns one figure; :func:`png_data_url` turns it into what an ``<img src>`` takes.
"""

from __future__ import annotations

import base64
import io
from datetime import date
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from twin.feed import Inventory
from twin.planning.capacity import CapacityPlan, CellPlan

__all__ = [
    "blocking_figure",
    "exhaustion_figure",
    "heat_map_figure",
    "link_figure",
    "png_data_url",
    "tower_map_figure",
    "tower_utilization",
]

MAX_ROWS = 40  # cells or links shown in one figure; the CSV and tables have them all


def _num(day: date) -> float:
    return float(mdates.date2num(day))


RED, AMBER, GREEN, GREY = "#c62828", "#ef8f00", "#2e7d32", "#9e9e9e"


def png_data_url(figure: Figure) -> str:
    """Return the figure as a base64 PNG ``data:`` URL, and close it."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def cell_utilization(cell: CellPlan) -> float:
    """A cell's busy-hour utilisation: the larger of its voice occupancy (busy-hour erlangs
    over channels) and its data utilisation (busy-hour demand over capacity)."""
    return max(cell.busy_hour_erlangs / cell.voice_channels, cell.data_utilization)


def tower_utilization(plan: CapacityPlan) -> dict[str, float]:
    """Each tower's busy-hour utilisation: its busiest cell's."""
    out: dict[str, float] = {}
    for cell in plan.cells:
        out[cell.tower] = max(out.get(cell.tower, 0.0), cell_utilization(cell))
    return out


def _worst_cells(plan: CapacityPlan) -> list[CellPlan]:
    ranked = sorted(plan.cells, key=lambda c: (-c.blocking, -cell_utilization(c), c.cell))
    return ranked[:MAX_ROWS]


def tower_map_figure(plan: CapacityPlan, inventory: Inventory) -> Figure:
    """Towers at their positions, coloured by busy-hour utilisation, with the links between
    the nodes; a tower with a cell above the GoS is ringed in red and named."""
    util = tower_utilization(plan)
    above = {c.tower for c in plan.cells if c.above_gos}
    position = {
        node: (lon, lat)
        for node, lat, lon in zip(
            inventory.node_ids, inventory.node_lat, inventory.node_lon, strict=True
        )
        if np.isfinite(lat) and np.isfinite(lon)
    }
    figure, axes = plt.subplots(figsize=(8.0, 6.0))
    if not position:
        axes.text(0.5, 0.5, "the inventory gives no node positions", ha="center", va="center")
        axes.set_axis_off()
        return figure
    for a, b in zip(inventory.link_a, inventory.link_b, strict=True):
        if a in position and b in position:
            (x0, y0), (x1, y1) = position[a], position[b]
            axes.plot([x0, x1], [y0, y1], color="#bbbbbb", linewidth=0.8, zorder=1)
    roles = dict(zip(inventory.node_ids, inventory.node_roles, strict=True))
    others = [n for n in position if roles[n] != "tower"]
    if others:
        axes.scatter(
            [position[n][0] for n in others],
            [position[n][1] for n in others],
            marker="s",
            color="#555555",
            s=40,
            zorder=2,
            label="core / aggregation",
        )
    towers = [t for t in util if t in position]
    values = np.array([util[t] for t in towers])
    points = axes.scatter(
        [position[t][0] for t in towers],
        [position[t][1] for t in towers],
        c=values,
        cmap="RdYlGn_r",
        vmin=0.0,
        vmax=max(1.0, float(values.max()) if values.size else 1.0),
        s=90 if len(towers) <= 200 else 12,
        edgecolors=[RED if t in above else "#333333" for t in towers],
        linewidths=[2.5 if t in above else 0.5 for t in towers],
        zorder=3,
    )
    figure.colorbar(points, ax=axes, label="busy-hour utilisation (busiest cell, voice or data)")
    named = towers if len(towers) <= 30 else sorted(above)
    for t in named:
        axes.annotate(
            t + (" (above GoS)" if t in above else ""),
            position[t],
            xytext=(6, 6),
            textcoords="offset points",
            fontsize=8,
            color=RED if t in above else "#222222",
            fontweight="bold" if t in above else "normal",
        )
    axes.set_xlabel("longitude (degrees)")
    axes.set_ylabel("latitude (degrees)")
    axes.set_title("Towers by busy-hour utilisation (red ring: a cell above the GoS)")
    axes.margins(x=0.3, y=0.1)  # room for the names of the towers at the edges
    axes.set_aspect(1.0 / max(np.cos(np.radians(np.mean([p[1] for p in position.values()]))), 0.1))
    return figure


def heat_map_figure(plan: CapacityPlan) -> Figure:
    """Offered traffic per cell and hour of the day, over the cell's channels."""
    cells = _worst_cells(plan)
    index = {c.cell: i for i, c in enumerate(plan.cells)}
    rows = np.array([plan.hour_profile[index[c.cell]] / c.voice_channels for c in cells])
    figure, axes = plt.subplots(figsize=(9.0, max(2.5, 0.28 * len(cells) + 1.2)))
    image = axes.imshow(
        rows, aspect="auto", cmap="magma_r", vmin=0.0, vmax=max(1.0, np.nanmax(rows))
    )
    axes.set_yticks(range(len(cells)), [c.cell for c in cells], fontsize=8)
    axes.set_xticks(range(24), [f"{h:02d}" for h in range(24)], fontsize=8)
    for i, cell in enumerate(cells):  # the cell's busy hour, outlined
        hour = int(cell.busy_hour_start[:2]) + int(cell.busy_hour_start[3:]) / 60.0
        axes.add_patch(
            matplotlib.patches.Rectangle(
                (hour - 0.5, i - 0.5), 1.0, 1.0, fill=False, edgecolor="#1565c0", linewidth=1.5
            )
        )
    axes.set_xlabel("hour of the day (UTC)")
    shown = (
        "" if len(cells) == len(plan.cells) else f" ({len(cells)} most loaded of {len(plan.cells)})"
    )
    axes.set_title(f"Offered erlangs per channel by hour; blue box: the busy hour{shown}")
    figure.colorbar(image, ax=axes, label="offered erlangs / voice channels")
    return figure


def blocking_figure(plan: CapacityPlan) -> Figure:
    """Each cell's busy-hour blocking by Erlang B and as measured, against the GoS."""
    cells = _worst_cells(plan)[::-1]
    gos = plan.settings.gos_target
    figure, axes = plt.subplots(
        figsize=(9.0, max(2.5, 0.28 * len(cells) + 1.6)), layout="constrained"
    )
    y = np.arange(len(cells))
    axes.barh(
        y,
        [100 * c.blocking for c in cells],
        color=[RED if c.blocking > gos else GREEN for c in cells],
        label="Erlang B at the busy hour's offered traffic",
    )
    measured = [
        (i, c.measured_blocking) for i, c in enumerate(cells) if c.measured_blocking is not None
    ]
    # the scale is the model's and the GoS's: a measured value far beyond (a surge day in the
    # busy hour's mean) is drawn at the edge with its value written
    edge = 100 * max(3 * gos, 1.3 * max((c.blocking for c in cells), default=0.0))
    for i, m in measured:
        if 100 * m > edge:
            axes.annotate(
                f"{100 * m:.1f} % >",
                (edge, i),
                xytext=(-4, -3),
                textcoords="offset points",
                ha="right",
                fontsize=7,
            )
    axes.set_xlim(0, edge)
    if measured:
        axes.scatter(
            [min(100 * m, edge) for _, m in measured],
            [i for i, _ in measured],
            color="black",
            marker="D",
            s=18,
            zorder=3,
            label="measured in the busy hour (PM counters)",
        )
    axes.axvline(100 * gos, color=RED, linestyle="--", label=f"GoS {100 * gos:g} %")
    axes.set_yticks(
        y,
        [f"{c.cell} ({c.busy_hour_erlangs:.1f} E / {c.voice_channels} ch)" for c in cells],
        fontsize=8,
    )
    axes.set_xlabel("voice blocking in the busy hour (%)")
    axes.set_title("Blocking against the grade of service")
    figure.legend(fontsize=8, loc="outside lower center", ncol=3, frameon=False)
    return figure


def exhaustion_figure(plan: CapacityPlan) -> Figure:
    """When each cell's voice blocking passes the GoS and its data the threshold."""
    end = plan.run_end.date()
    limit = date(end.year + max(5, plan.horizon_months // 12 + 2), end.month, min(end.day, 28))
    cells = [c for c in plan.cells if c.exhaustion_date is not None and c.exhaustion_date <= limit]
    cells = sorted(cells, key=lambda c: (c.exhaustion_date or limit, c.cell))[:MAX_ROWS][::-1]
    figure, axes = plt.subplots(
        figsize=(9.0, max(2.5, 0.28 * len(cells) + 1.8)), layout="constrained"
    )
    if not cells:
        axes.text(
            0.5, 0.5, f"no cell runs out before {limit.isoformat()}", ha="center", va="center"
        )
        axes.set_axis_off()
        return figure
    y = np.arange(len(cells))
    voice = [
        (i, c.voice_exhaustion)
        for i, c in enumerate(cells)
        if c.voice_exhaustion and c.voice_exhaustion <= limit
    ]
    data = [
        (i, c.data_exhaustion)
        for i, c in enumerate(cells)
        if c.data_exhaustion and c.data_exhaustion <= limit
    ]
    for i, c in enumerate(cells):
        axes.plot(
            [_num(end), _num(c.exhaustion_date or end)],
            [i, i],
            color="#cccccc",
            linewidth=1,
            zorder=1,
        )
    if voice:
        axes.scatter(
            [_num(d) for _, d in voice],
            [i for i, _ in voice],
            marker="o",
            color=RED,
            zorder=3,
            label="voice blocking passes the GoS",
        )
    if data:
        axes.scatter(
            [_num(d) for _, d in data],
            [i for i, _ in data],
            marker="^",
            color=AMBER,
            zorder=3,
            label="data utilisation passes the threshold",
        )
    axes.axvline(_num(end), color="#444444", linewidth=1)
    axes.axvline(
        _num(plan.horizon_date),
        color="#1565c0",
        linestyle="--",
        label=f"horizon ({plan.horizon_months} months)",
    )
    axes.set_yticks(y, [c.cell for c in cells], fontsize=8)
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    axes.set_xlabel("date (a point at the left line: exhausted already, at the end of the run)")
    axes.set_title("Exhaustion timeline")
    figure.legend(fontsize=8, loc="outside lower center", ncol=3, frameon=False)
    axes.tick_params(axis="x", labelrotation=30)
    return figure


def link_figure(plan: CapacityPlan) -> Figure:
    """Each link's busy-hour utilisation, and its worst load with any one other link down."""
    links = sorted(
        plan.links, key=lambda k: (-max(k.utilization, k.n1_load_mbps / k.capacity_mbps), k.link)
    )
    links = links[:MAX_ROWS][::-1]
    threshold = plan.settings.link_utilization_threshold
    figure, axes = plt.subplots(
        figsize=(9.0, max(2.5, 0.3 * len(links) + 1.6)), layout="constrained"
    )
    y = np.arange(len(links))
    n1 = [100 * k.n1_load_mbps / k.capacity_mbps for k in links]
    axes.barh(
        y + 0.2,
        [100 * k.utilization for k in links],
        height=0.4,
        color="#1565c0",
        label="busy hour, measured (carried)",
    )
    axes.barh(
        y - 0.2,
        n1,
        height=0.4,
        color=[RED if v > 100 * threshold else GREY for v in n1],
        label="worst N-1 case, modelled (demand)",
    )
    axes.axvline(
        100 * threshold, color=RED, linestyle="--", label=f"threshold {100 * threshold:g} %"
    )
    axes.set_yticks(y, [f"{k.link} ({k.capacity_mbps:g} Mbps)" for k in links], fontsize=8)
    axes.set_xlabel("utilisation (% of capacity)")
    axes.set_title("Link utilisation and N-1")
    figure.legend(fontsize=8, loc="outside lower center", ncol=3, frameon=False)
    return figure


def all_figures(plan: CapacityPlan, inventory: Inventory) -> dict[str, Any]:
    """Every figure of the report as a data URL, by name."""
    return {
        "tower_map": png_data_url(tower_map_figure(plan, inventory)),
        "heat_map": png_data_url(heat_map_figure(plan)),
        "blocking": png_data_url(blocking_figure(plan)),
        "exhaustion": png_data_url(exhaustion_figure(plan)),
        "links": png_data_url(link_figure(plan)),
    }
