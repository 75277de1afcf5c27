"""Memory flat in simulated time: the summary and the twin's functions keep running aggregates.

The sizes are measured by walking each function's objects (``gc.get_referents``), not timed:
numpy arrays count their data, the bus and the inventory (shared, fixed in size) are left out.
"""

from __future__ import annotations

import functools
import gc
import sys
import types
from typing import Any

import numpy as np
import pytest

from sim.scenario import parse_scenario
from twin import run as run_module
from twin.bus import Bus
from twin.feed import CellPmBatch, LinkPmBatch
from twin.run import _wire
from twin.running import NearestRankPercentile
from twin.summary import SummaryBuilder, _round, busy_hours


def _scenario(days: int, *, faults: bool = False) -> Any:
    """20 towers (60 cells), 6,000 subscribers, an SLA catalog so every function runs."""
    raw: dict[str, Any] = {
        "name": "memory",
        "seed": 3,
        "start": "2027-01-01T00:00:00Z",
        "duration": f"{days}d",
        "pm_interval": "15m",
        "network": {
            "defaults": {"cells": 3, "voice_channels": 30, "data_mbps": 150},
            "generate": {
                "towers": 20,
                "aggregation": 2,
                "cores": 1,
                "region": {"center": [50.0, 10.0], "radius_km": 20},
            },
        },
        "subscribers": {"count": 6000, "placement": "uniform"},
        "traffic": {
            "voice": {"busy_hour_calls": 1.0, "mean_duration": "120s"},
            "data": {"busy_hour_sessions": 1.0, "mean_volume_mb": 10},
        },
        "catalog": {
            "currency": "EUR",
            "products": [
                {
                    "id": "basic",
                    "name": "Basic",
                    "monthly_fee": "10.00",
                    "sla": {"availability": 0.995, "credit_percent": 10},
                }
            ],
        },
    }
    if faults:
        raw["faults"] = {"random": {"tower": {"mtbf": "20d", "mttr": "4h"}}}
    return parse_scenario(raw)


def _retained_bytes(root: object, leave_out: list[object]) -> int:
    """Bytes reachable from ``root``, each object once, not through ``leave_out``, the bus,
    classes, functions or modules."""
    seen = {id(o) for o in leave_out}
    stack = [root]
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type | types.ModuleType | types.FunctionType | Bus):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)  # an array that owns its data counts it
        stack.extend(gc.get_referents(obj))
    return total


def _state_after(days: int, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    # Past its exact budget from the first interval, so the summary's steady state is measured
    # (within the budget it keeps the utilisations, by design: 32 MiB at most).
    monkeypatch.setattr(
        run_module, "SummaryBuilder", functools.partial(SummaryBuilder, exact_values=0)
    )
    wiring = _wire(_scenario(days), ".", None, "memory.yaml", None)
    wiring.simulation.run()
    assert wiring.assurance is not None
    parts: dict[str, object] = {
        "summary": wiring.builder,
        "performance": wiring.performance,
        "thresholds": wiring.thresholds,
        "fault": wiring.fault,
        "alarm_scorer": wiring.scorer,
        "anomalies": wiring.assurance.anomalies,
        "anomaly_scorer": wiring.assurance.anomaly_scorer,
        "sla": wiring.assurance.sla,
        "truth": wiring.truth,
    }
    shared = [wiring.builder.inventory, wiring.simulation, wiring.truth.listeners]
    return {
        name: _retained_bytes(part, shared + [p for n, p in parts.items() if n != name])
        for name, part in parts.items()
    }


def test_twin_functions_hold_no_more_after_three_days_than_after_one(monkeypatch):
    # Without faults nothing happens that a function must remember (alarms, findings,
    # breaches are kept, as the run's results): what grows with intervals is only the anomaly
    # scorer's 16 bytes of interval bounds, 192 x 16 = 3 KiB over the two extra days. Before
    # running aggregates the summary kept every PM batch: 60 cells x 14 arrays x 8 bytes, some
    # 7 KiB an interval, 1.3 MiB over the two extra days.
    one = _state_after(1, monkeypatch)
    three = _state_after(3, monkeypatch)
    for name in one:
        assert three[name] <= one[name] * 1.02 + 4096, (name, one[name], three[name])
    assert sum(three.values()) <= sum(one.values()) * 1.02 + 4096


def test_summary_running_totals_are_the_stacked_batches_figures():
    """The figures the summary derived from every PM batch stacked, the same floats from its
    running aggregates (data volumes within float rounding: one sum's order changes)."""
    wiring = _wire(_scenario(2, faults=True), ".", None, "memory.yaml", None)
    kept: list[CellPmBatch] = []
    links: list[LinkPmBatch] = []
    wiring.bus.subscribe(CellPmBatch, kept.append)
    wiring.bus.subscribe(LinkPmBatch, links.append)
    wiring.simulation.run()
    summary = wiring.summary()
    assert wiring.builder._cells is not None and wiring.builder._cells.utilization.exact

    def stack(name: str) -> np.ndarray:
        return np.stack([getattr(b, name) for b in kept])

    span = np.array([b.end_s - b.start_s for b in kept])
    duration = 2 * 86400.0
    offered = (stack("offered_erlangs") * span[:, None]).sum(axis=0) / duration
    busy_start, busy_erlangs = busy_hours(
        np.array([b.start_s for b in kept]), span, stack("offered_erlangs"), 900.0
    )
    p95 = np.percentile(stack("utilization"), 95, axis=0, method="inverted_cdf")
    availability = stack("seconds_in_service").sum(axis=0) / duration
    for i, cell in enumerate(summary["cells"].values()):
        assert cell["voice_offered"] == int(stack("voice_offered")[:, i].sum())
        assert cell["offered_erlangs"] == _round(offered[i])
        assert cell["busy_hour_erlangs"] == _round(busy_erlangs[i])
        assert cell["busy_hour"] == int(busy_start[i] // 3600)
        assert cell["utilization_p95"] == _round(p95[i])
        assert cell["availability"] == _round(availability[i])
    link_p95 = np.percentile(
        np.stack([b.utilization for b in links]), 95, axis=0, method="inverted_cdf"
    )
    for i, link in enumerate(summary["links"].values()):
        assert link["utilization_p95"] == _round(link_p95[i])
    # rounded to 3 decimals: within half a thousandth, and the float sums' order aside
    assert abs(summary["data"]["served_mb"] - stack("data_served_mb").sum()) <= 0.0005 + 1e-6
    out = span[:, None] - stack("seconds_in_service")
    per_sub = out.sum(axis=0)[wiring.builder.inventory.subscriber_cell]  # type: ignore[union-attr]
    assert summary["service"]["subscribers_affected"] == int((per_sub > 0).sum())
    assert summary["service"]["subscriber_hours_out_of_service"] == pytest.approx(
        per_sub.sum() / 3600, abs=1e-3
    )


def _values(intervals: int, resources: int, seed: int) -> np.ndarray:
    """Shares as a utilisation has them: mostly in (0, 1), some exactly 0 or 1."""
    rng = np.random.default_rng(seed)
    values = rng.beta(2.0, 3.0, size=(intervals, resources))
    values[rng.random(values.shape) < 0.1] = 0.0
    values[rng.random(values.shape) < 0.05] = 1.0
    values[:, 0] = 0.0  # a cell with no data: its p95 is 0
    values[:, 1] = 1.0  # a saturated one: 1
    return values


@pytest.mark.parametrize("intervals", [1, 2, 19, 20, 21, 96, 97, 673])
def test_percentile_within_budget_is_numpys_nearest_rank(intervals):
    values = _values(intervals, 50, seed=intervals)
    p95 = NearestRankPercentile(50)
    for row in values:
        p95.add(row)
    assert p95.exact
    expected = np.percentile(values, 95, axis=0, method="inverted_cdf")
    assert np.array_equal(p95.value(), expected)


@pytest.mark.parametrize("intervals", [1, 2, 19, 20, 21, 96, 97, 673, 2880])
def test_percentile_past_budget_is_within_half_a_bin(intervals):
    values = _values(intervals, 50, seed=intervals)
    p95 = NearestRankPercentile(50, exact_values=0, bins=1000)
    for row in values:
        p95.add(row)
    assert not p95.exact
    expected = np.percentile(values, 95, axis=0, method="inverted_cdf")
    found = p95.value()
    # the bound of docs/memory.md: half a bin of 1/1000, and exact at 0 and 1
    assert np.abs(found - expected).max() <= 0.5 / 1000 + 1e-15
    assert found[0] == 0.0 and found[1] == 1.0
    assert np.array_equal(found[expected == 0.0], expected[expected == 0.0])
    assert np.array_equal(found[expected == 1.0], expected[expected == 1.0])


def test_percentile_folds_its_values_when_past_the_budget_and_then_stops_growing():
    p95 = NearestRankPercentile(100, exact_values=100 * 50)
    values = _values(3000, 100, seed=1)
    for row in values[:50]:
        p95.add(row)
    assert p95.exact  # 50 x 100 values: at the budget, still exact
    p95.add(values[50])
    assert not p95.exact
    folded = p95.nbytes
    # 100 resources x 1,002 bins x 2 bytes, the minima, maxima and NaN flags
    assert folded == 100 * 1002 * 2 + 100 * 8 * 2 + 100
    for row in values[51:]:
        p95.add(row)
    assert p95.nbytes == folded
    expected = np.percentile(values, 95, axis=0, method="inverted_cdf")
    assert np.abs(p95.value() - expected).max() <= 0.0005 + 1e-15


def test_a_subscriber_admitted_at_a_pm_boundary_counts_from_that_interval_on():
    """Running totals count an admitted subscriber's outage from the interval it was admitted
    in on, as the stacked batches did: the tower is down from 2 h to 3 h; 100 subscribers and
    20 admitted at 1h45 (a 15-minute PM boundary) live through the hour, 20 admitted at 3h30
    through none of it: 120 x 1 h = 120 hours."""
    from sim.engine import Simulation
    from tests.test_engine import single_cell

    scenario = single_cell(
        duration="4h",
        subscribers=100,
        extra={"events": [{"at": "2h", "action": "fail", "target": "t1", "repair_after": "1h"}]},
    )
    bus = Bus()
    builder = SummaryBuilder()
    builder.attach(bus)
    sim = Simulation(scenario, bus)
    sim.advance_to(6300)
    for _ in range(20):
        assert sim.admit_subscription("t1", "").accepted
    sim.advance_to(12600)
    for _ in range(20):
        assert sim.admit_subscription("t1", "").accepted
    sim.run()
    assert builder.summary()["service"] == {
        "subscribers": 140,
        "subscribers_affected": 120,
        "subscriber_hours_out_of_service": 120.0,
    }
