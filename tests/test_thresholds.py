"""Threshold alerts: trigger, re-arm and trigger count on the KPIs, the alarms they raise in
fault management, and the reference scenario's surge, ring congestion and busy-hour blocking
(issue 7 item 3, docs/thresholds.md)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import yaml

from sim.engine import Simulation
from sim.scenario import LINK_KPIS, RADIO_KPIS, parse_scenario
from sim.truth import TruthLog
from tests.conftest import EXAMPLE
from twin.bus import Bus
from twin.feed import Inventory
from twin.oss.fault import THRESHOLD_SOURCE, FaultManagement
from twin.oss.inventory import InventoryMirror
from twin.oss.performance import KPIS, PerformanceManagement
from twin.oss.records import AlarmChange, CrossedThreshold, KpiBatch, ThresholdEvent
from twin.oss.routes import Routing
from twin.oss.thresholds import (
    Threshold,
    ThresholdMonitor,
    default_thresholds,
    scenario_thresholds,
)
from twin.run import simulate

GOS = 0.02  # the reference scenario's twin.gos_target
H = 3600.0


# --- the schema's lists and the defaults ----------------------------------------------------


def test_the_scenarios_kpi_lists_are_the_kpi_table():
    # sim/ cannot import the twin, so the schema keeps the names: they must be KPIS's
    assert tuple(k.name for k in KPIS if k.over == "radio") == RADIO_KPIS
    assert tuple(k.name for k in KPIS if k.over == "link") == LINK_KPIS


def test_defaults_watch_blocking_above_the_gos_links_at_0_9_and_0_98_and_availability_below_1():
    assert default_thresholds(0.05) == (
        Threshold("VoiceBlockingRate", "cell", "high", 0.05, 0.025, 2, "major"),
        Threshold("LinkUtilization", "link", "high", 0.9, 0.8, 1, "major"),
        Threshold("LinkUtilization", "link", "high", 0.98, 0.9, 1, "critical"),
        Threshold("CellAvailability", "cell", "low", 1.0, 1.0, 1, "minor"),
    )


def test_the_reference_shorthand_moves_the_defaults_triggers():
    # twin.thresholds: {cell_utilization: 0.85, voice_blocking: 0.02, link_utilization: 0.80}
    scenario = parse_scenario(yaml.safe_load(EXAMPLE.read_text()), "metro.yaml")
    found = scenario_thresholds(scenario.twin)
    assert [(t.kpi, t.trigger, t.rearm, t.trigger_count, t.severity) for t in found] == [
        ("VoiceBlockingRate", 0.02, 0.01, 2, "major"),
        ("LinkUtilization", 0.8, pytest.approx(0.7), 1, "major"),
        ("LinkUtilization", 0.98, 0.9, 1, "critical"),
        ("CellAvailability", 1.0, 1.0, 1, "minor"),
        ("DataUtilization", 0.85, pytest.approx(0.75), 2, "minor"),
    ]


def test_rules_come_beside_the_defaults_or_alone(example_raw):
    rule = {"kpi": "VoiceDropRate", "scope": "tower", "trigger": 0.05, "rearm": 0.03}
    example_raw["twin"]["thresholds"] = {"rules": [rule]}
    beside = scenario_thresholds(parse_scenario(example_raw, "metro.yaml").twin)
    assert len(beside) == 5
    assert beside[-1] == Threshold("VoiceDropRate", "tower", "high", 0.05, 0.03, 1, "major")
    example_raw["twin"]["thresholds"] = {"defaults": False, "rules": [rule]}
    assert scenario_thresholds(parse_scenario(example_raw, "metro.yaml").twin) == beside[-1:]


# --- the monitor on hand-made KPI batches ---------------------------------------------------


def _batch(i: int, link_utilization: list[float], interval_s: float = 900.0) -> KpiBatch:
    values = np.array(link_utilization)
    return KpiBatch(
        start_s=i * interval_s,
        end_s=(i + 1) * interval_s,
        cell_ids=(),
        tower_ids=(),
        link_ids=tuple(f"l{k}" for k in range(len(values))),
        cell={},
        tower={},
        link={"LinkUtilization": values},
        network={},
    )


def _events(thresholds: list[Threshold], series: np.ndarray) -> list[ThresholdEvent]:
    """Feed ``series`` (intervals x links) of LinkUtilization to a monitor."""
    bus = Bus()
    events: list[ThresholdEvent] = []
    bus.subscribe(ThresholdEvent, events.append)
    ThresholdMonitor(bus, thresholds)
    for i, row in enumerate(series):
        bus.publish(_batch(i, row.tolist()))
    return events


def test_a_noisy_signal_around_the_trigger_raises_one_alarm_and_clears_once():
    # 200 intervals: 20 quiet (0.5), 160 noisy around the 0.9 trigger (uniform 0.85 to 0.95,
    # so half the intervals are past it and half are not, but never back to the 0.8 re-arm),
    # 20 quiet again
    rng = np.random.default_rng(7)
    noisy = rng.uniform(0.85, 0.95, 160)
    series = np.concatenate([np.full(20, 0.5), noisy, np.full(20, 0.5)])[:, None]
    with_hysteresis = _events(
        [Threshold("LinkUtilization", "link", "high", 0.9, 0.8, 1, "major")], series
    )
    assert [(e.perceived_severity, e.time_s) for e in with_hysteresis] == [
        ("major", (20 + int(np.argmax(noisy > 0.9)) + 1) * 900.0),
        ("cleared", 181 * 900.0),  # the first quiet interval, ending at 181 x 15 min
    ]
    # the same signal with the re-arm at the trigger flaps: one alarm per wobble
    without = _events([Threshold("LinkUtilization", "link", "high", 0.9, 0.9, 1, "major")], series)
    raises = sum(e.perceived_severity != "cleared" for e in without)
    assert raises > 30  # about a quarter of 160 intervals start a new run past 0.9


def test_trigger_count_needs_consecutive_intervals_past_the_trigger():
    # past, not, past, past: the 2-interval threshold fires at the end of the fourth
    series = np.array([[0.95], [0.85], [0.95], [0.95], [0.5]])
    events = _events([Threshold("LinkUtilization", "link", "high", 0.9, 0.8, 2, "major")], series)
    assert [(e.perceived_severity, e.time_s) for e in events] == [
        ("major", 4 * 900.0),
        ("cleared", 5 * 900.0),
    ]


def test_levels_of_one_kpi_are_one_alarm_whose_severity_follows_the_highest_fired():
    levels = list(default_thresholds(GOS)[1:3])  # LinkUtilization major 0.9/0.8, critical 0.98/0.9
    series = np.array([[0.5], [0.95], [0.99], [0.95], [0.92], [0.85], [0.7]])
    events = _events(levels, series)
    assert [(e.perceived_severity, e.time_s / 900) for e in events] == [
        ("major", 2),
        ("critical", 3),
        ("major", 6),  # 0.95 and 0.92 stay above the critical level's re-arm; 0.85 is below
        ("cleared", 7),  # 0.7 is at or below the major level's re-arm 0.8
    ]
    crossed = events[1].crossed
    assert (crossed.kpi, crossed.observed_value, crossed.trigger, crossed.rearm) == (
        "LinkUtilization",
        0.99,
        0.98,
        0.9,
    )
    assert crossed.direction == "high" and crossed.arm_time_s == 0.0


def test_a_low_threshold_fires_below_its_trigger_and_nan_changes_nothing():
    low = Threshold("LinkUtilization", "link", "low", 0.2, 0.3, 1, "warning")
    series = np.array([[0.5], [0.1], [np.nan], [0.25], [0.3]])
    events = _events([low], series)
    assert [(e.perceived_severity, e.time_s / 900) for e in events] == [
        ("warning", 2),
        ("cleared", 5),  # NaN and 0.25 (inside the band) leave it; 0.3 re-arms
    ]


def test_the_monitor_works_on_all_resources_at_once():
    # 1,000 links, each past 0.9 in a different pattern: one event per change, none else
    rng = np.random.default_rng(3)
    series = rng.choice([0.5, 0.95], size=(30, 1000))
    events = _events([Threshold("LinkUtilization", "link", "high", 0.9, 0.8, 1, "major")], series)
    past = series > 0.9
    changes = (past[1:] != past[:-1]).sum() + past[0].sum()
    assert len(events) == changes


# --- the reference scenario -----------------------------------------------------------------


def _reference(truth: bool) -> tuple[FaultManagement, list[AlarmChange], list[KpiBatch], Any]:
    bus = Bus()
    scenario = parse_scenario(yaml.safe_load(EXAMPLE.read_text()), "metro.yaml")
    performance = PerformanceManagement(bus)
    ThresholdMonitor(bus, scenario_thresholds(scenario.twin))
    fm = FaultManagement(bus)
    changes: list[AlarmChange] = []
    batches: list[KpiBatch] = []
    bus.subscribe(AlarmChange, changes.append)
    bus.subscribe(KpiBatch, batches.append)
    Simulation(scenario, bus, truth=TruthLog() if truth else None).run()
    return fm, changes, batches, performance


@pytest.fixture(scope="module")
def reference() -> tuple[FaultManagement, list[AlarmChange], list[KpiBatch], Any]:
    return _reference(truth=False)


def _threshold_alarms(fm: FaultManagement, kpi: str) -> list[AlarmChange]:
    return [
        a for a in fm.alarms() if a.crossed_threshold is not None and a.crossed_threshold.kpi == kpi
    ]


def test_the_stadium_surge_raises_blocking_alerts_on_t_s1_and_t_s2_from_18h(reference):
    fm, changes, batches, _ = reference
    # the surge (x4 from 18h for 3h) takes every cell of t-s1 and t-s2 past 2 % blocking in the
    # 18:00 and 18:15 intervals: with two intervals needed, each alarm is raised at 18:30
    surge_cells = {f"{t}/{k}" for t in ("t-s1", "t-s2") for k in (1, 2, 3)}
    for b in batches[72:74]:  # 18:00 and 18:15
        blocking = dict(zip(b.cell_ids, b.cell["VoiceBlockingRate"], strict=True))
        assert all(blocking[c] > GOS for c in surge_cells)
    raised_in_surge = {
        c.alarmed_object: c
        for c in changes
        if c.change in ("raised", "reraised")
        and c.crossed_threshold is not None
        and c.crossed_threshold.kpi == "VoiceBlockingRate"
        and 18 * H <= c.raised_time_s < 21 * H
    }
    # t-n3/1, the single cell over its GoS in its busy hour, is the only other one
    assert set(raised_in_surge) == surge_cells | {"t-n3/1"}
    last = {a.alarmed_object: a for a in _threshold_alarms(fm, "VoiceBlockingRate")}
    for cell in sorted(surge_cells):
        raised = raised_in_surge[cell]
        assert raised.raised_time_s == 18.5 * H and raised.change == "raised"
        assert raised.alarm_type == "qualityOfServiceAlarm" and raised.source == THRESHOLD_SOURCE
        assert raised.probable_cause == "thresholdCrossed"
        alarm = last[cell]
        assert alarm.parent_alarm is None  # no fault explains a surge
        # cleared once the surge ends at 21h: the first interval at or below 1 % re-arms it
        assert alarm.cleared_time_s is not None and 21 * H < alarm.cleared_time_s <= 21.5 * H
        assert alarm.count == 1  # one raise, no flapping in three hours of surge
    # an operator sees them at 20h as alarms of their own, beside the uplink cut's root
    top = {a.alarmed_object for a in fm.active(20 * H)}
    assert surge_cells <= top


def test_the_rings_congestion_at_19h_sits_under_the_uplink_cuts_root_cause(reference):
    fm, _, batches, _ = reference
    # l-agg-n-core is cut at 19h: the northern towers' traffic goes over the 400 Mbps ring,
    # which runs full (utilisation 1.0) from the 19:00 interval until the repair at 21:30
    ring = batches[0].link_ids.index("l-agg-ring")
    utilization = [b.link["LinkUtilization"][ring] for b in batches[76:86]]
    assert utilization == pytest.approx([1.0] * 10, abs=1e-12)
    (alarm,) = _threshold_alarms(fm, "LinkUtilization")
    assert alarm.alarmed_object == "l-agg-ring" and alarm.raised_time_s == 19.25 * H
    at_20h = {a.alarm_id: a for a in fm.alarms(20 * H)}
    ring_alarm = at_20h[alarm.alarm_id]
    assert ring_alarm.perceived_severity == "critical"  # past 0.98
    crossed = ring_alarm.crossed_threshold
    assert crossed is not None and crossed.trigger == 0.98
    assert crossed.observed_value == pytest.approx(1.0, abs=1e-12)
    root = at_20h[ring_alarm.parent_alarm]
    assert root.is_root_cause and root.alarmed_object == "l-agg-n-core"
    assert alarm.alarm_id in root.correlated_alarms
    assert alarm.alarm_id not in {a.alarm_id for a in fm.active(20 * H)}
    # the repair clears the root and lets the congestion alarm go; the first interval after
    # it (21:30 to 21:45, the ring back near empty) re-arms and clears it
    assert alarm.cleared_time_s == 21.75 * H and alarm.parent_alarm is None


def test_t_n3s_blocking_above_the_gos_in_its_busy_hour_raises_its_alert(reference):
    fm, changes, batches, performance = reference
    cell = batches[0].cell_ids.index("t-n3/1")
    start, _ = performance.cell_busy_hours()
    busy = start[cell]
    assert busy == 18.75 * H  # t-n3/1's E.500 busy hour: 18:45 to 19:45
    # its blocking over the first day's busy hour, from the interval counters: above the GoS
    hour = [b for b in batches if busy <= b.start_s < busy + H]
    blocked = sum(b.cell["VoiceBlockingRate"][cell] for b in hour[:4])
    assert blocked / 4 > GOS
    alarms = _threshold_alarms(fm, "VoiceBlockingRate")
    (t_n3,) = [a for a in alarms if a.alarmed_object == "t-n3/1"]
    # active through the whole busy hour of the first day
    for moment in np.arange(busy, busy + H + 1, 900.0):
        state = {a.alarm_id: a for a in fm.alarms(float(moment))}[t_n3.alarm_id]
        assert state.cleared_time_s is None and state.perceived_severity == "major"
    raises = [
        c for c in changes if c.alarm_id == t_n3.alarm_id and c.change in ("raised", "reraised")
    ]
    assert raises[0].crossed_threshold is not None
    assert raises[0].crossed_threshold.observed_value > GOS


def test_cells_of_a_failed_tower_are_under_its_root_while_it_stands(reference):
    fm, _, _, _ = reference
    # 30h: t-s3 fails for 1h; its cells' availability drops below 1 in the 30:00 interval
    at = {a.alarm_id: a for a in fm.alarms(30.5 * H)}
    cells = [
        a
        for a in at.values()
        if a.crossed_threshold is not None and a.alarmed_object.startswith("t-s3/")
    ]
    assert len(cells) == 3
    for alarm in cells:
        assert alarm.parent_alarm is not None
        assert at[alarm.parent_alarm].alarmed_object == "t-s3"


def test_the_twin_gives_the_same_threshold_alarms_without_the_truth(reference):
    _, without, _, _ = reference
    _, with_truth, _, _ = _reference(truth=True)
    assert with_truth == without
    assert sum(c.crossed_threshold is not None for c in without) > 40


@pytest.mark.parametrize("name", ["metro", "fault-storm"])
def test_threshold_alarms_leave_the_fault_scores_as_they_were(name):
    # the same run with no thresholds at all: every alarm score is the same
    path = EXAMPLE if name == "metro" else EXAMPLE.parents[2] / "scenarios" / f"{name}.yaml"
    raw = yaml.safe_load(path.read_text())
    on = simulate(parse_scenario(raw, name))
    raw.setdefault("twin", {})["thresholds"] = {"defaults": False}
    off = simulate(parse_scenario(raw, name))
    assert on["thresholds"]["raised"] > 0 and off["thresholds"]["raised"] == 0
    assert on["alarms"] == off["alarms"]


# --- routing ----------------------------------------------------------------------------------


def _metro_mirror() -> tuple[InventoryMirror, Inventory]:
    bus = Bus()
    inventories: list[Inventory] = []
    bus.subscribe(Inventory, inventories.append)
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["duration"], raw["events"], raw["faults"] = "15m", [], {}
    Simulation(parse_scenario(raw, "metro.yaml"), bus).run()
    return InventoryMirror.from_inventory(inventories[0]), inventories[0]


def test_routing_finds_the_links_a_failure_puts_traffic_on():
    mirror, inventory = _metro_mirror()
    routing = Routing(mirror, inventory.link_latency_ms)
    # with l-agg-n-core cut, the northern towers go agg-n -> ring -> agg-s -> core
    assert routing.rerouted_onto("l-agg-ring", "l-agg-n-core")
    assert routing.rerouted_onto("l-agg-s-core", "l-agg-n-core")
    # a tower's own uplink cut puts nothing on the ring; the ring carries nothing intact
    assert not routing.rerouted_onto("l-agg-ring", "l-n1")
    ring = mirror.link_index["l-agg-ring"]
    assert not (routing.paths() == ring).any()
    # agg-n down: its towers are cut off, nothing is rerouted onto the ring
    assert not routing.rerouted_onto("l-agg-ring", "agg-n")


# --- fault management on hand-written alarms ------------------------------------------------


def _threshold(
    net: Any, time_s: float, resource: str, kind: str, severity: str, kpi: str = "CellAvailability"
) -> None:
    direction = "low" if kpi == "CellAvailability" else "high"
    net.bus.publish(
        ThresholdEvent(
            time_s=time_s,
            resource=resource,
            resource_kind=kind,  # type: ignore[arg-type]
            perceived_severity=severity,  # type: ignore[arg-type]
            crossed=CrossedThreshold(kpi, 0.5, 1.0, 1.0, direction, 0.0),  # type: ignore[arg-type]
        )
    )


def test_a_cell_cut_off_by_two_ring_cuts_goes_under_the_first_cut_it_needs():
    from tests.test_fault import Network, make_inventory

    ring = {"core": "core", "a": "tower", "b": "tower", "c": "tower"}
    links = {"l1": ("core", "a"), "l2": ("a", "b"), "l3": ("b", "c"), "l4": ("c", "core")}
    net = Network(make_inventory(ring, links))
    net.los(100, "l1", "core")
    net.los(100, "l1", "a")
    net.los(110, "l3", "c")
    net.unreachable(170, "a")
    net.unreachable(170, "b")
    _threshold(net, 900, "b-1", "cell", "minor")  # b's cell, out for the interval
    by_object = {a.alarmed_object: a for a in net.fm.alarms() if a.is_root_cause}
    (cell,) = [a for a in net.fm.alarms() if a.crossed_threshold is not None]
    # neither cut alone isolates b; together they do, and without l1 (the older) b would be
    # reachable over a: it goes under l1's root
    assert cell.parent_alarm == by_object["l1"].alarm_id
    assert cell.alarm_type == "qualityOfServiceAlarm" and cell.probable_cause == "thresholdCrossed"
    # c's cell is not cut off (c reaches the core over l4): a lone alarm
    _threshold(net, 900, "c-1", "cell", "minor")
    lone = [a for a in net.fm.alarms() if a.alarmed_object == "c-1"]
    assert lone[0].parent_alarm is None


def test_a_root_clears_with_its_failure_and_lets_its_threshold_alarms_go():
    from tests.test_fault import Network

    net = Network()
    net.los(100, "l-t1", "agg1")  # t1's uplink cut: t1 unreachable
    net.unreachable(160, "t1")
    _threshold(net, 900, "t1-1", "cell", "minor")
    (root,) = net.roots()
    (cell,) = [a for a in net.fm.alarms() if a.crossed_threshold is not None]
    assert cell.parent_alarm == root.alarm_id and root.alarmed_object == "l-t1"
    # the network clears its alarms at 1000 s: the root clears though its threshold child is
    # active, and the child stays, a lone alarm again, until its threshold re-arms
    net.los(1000, "l-t1", "agg1", severity="cleared")
    net.unreachable(1000, "t1", severity="cleared")
    assert net.roots() == []
    (cell,) = [a for a in net.fm.active() if a.crossed_threshold is not None]
    assert cell.parent_alarm is None and cell.cleared_time_s is None
    _threshold(net, 1800, "t1-1", "cell", "cleared")
    assert net.fm.active() == []
