"""The network's alarms (sim/alarms.py, docs/alarms.md): who raises what, what reaches the twin,
how delivery spoils it, flaps and maintenance, and the ground truth kept off the feed.

Most cases run the ``_BEHIND_T1`` network of tests/test_engine.py: core - "up" - agg - "l1" -
t1, with no delay (``mean_delay: 0s``) and the default 60 s heartbeat timeout, so every time is
a hand-calculated one: a fault at 10h is 36,000 s, its repair at 11h 39,600 s, and the
management system's "element unreachable" 36,060 s.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from sim.engine import Simulation
from sim.scenario import parse_scenario
from sim.truth import FaultTruth, OutageAttribution, TruthLog
from tests.conftest import single_cell
from tests.test_engine import _BEHIND_T1
from twin.feed import (
    AlarmNotification,
    CellPmBatch,
    LinkPmBatch,
    RecordingSink,
    ResourceStateChange,
    UsageBatch,
)
from twin.run import run_scenario

LOS, GASP, UNREACHABLE = "loss of signal", "dying gasp", "element unreachable"

# core - "up" - a1 - "ring" - a2 - "up2" - core, and t1 on a1: cutting the ring leaves both its
# ends a management path, so both ports report.
_RING = {
    "network": {
        "nodes": [
            {"id": "core", "role": "core"},
            {"id": "a1", "role": "aggregation"},
            {"id": "a2", "role": "aggregation"},
            {"id": "t1", "role": "tower"},
        ],
        "links": [
            {"id": "up", "a": "a1", "b": "core", "capacity_mbps": 10_000},
            {"id": "up2", "a": "a2", "b": "core", "capacity_mbps": 10_000},
            {"id": "ring", "a": "a1", "b": "a2", "capacity_mbps": 10_000},
            {"id": "l1", "a": "t1", "b": "a1", "capacity_mbps": 1000},
        ],
    }
}


def _scenario(events: list[dict[str, Any]], network=_BEHIND_T1, **notifications: Any):
    settings = {"mean_delay": "0s", **notifications}
    return single_cell(
        duration="20h",
        calls_per_hour=0.1,
        extra={**network, "events": events, "faults": {"notifications": settings}},
    )


def _feed(scenario, seed=None, truth=None) -> RecordingSink:
    sink = RecordingSink()
    Simulation(scenario, sink, seed=seed, truth=truth).run()
    return sink


def _alarms(scenario) -> list[tuple[float, str, str, str, str]]:
    """(time_s, source, alarmed_object, severity, specific_problem) in the order delivered."""
    return [
        (n.time_s, n.source, n.alarmed_object, n.perceived_severity, n.specific_problem)
        for n in _feed(scenario).of_type(AlarmNotification)
    ]


def _fail(target: str, at: str = "10h", repair_after: str = "1h") -> dict[str, Any]:
    return {"at": at, "action": "fail", "target": target, "repair_after": repair_after}


# --- who raises what ---------------------------------------------------------------------------


def test_a_cut_link_raises_loss_of_signal_at_both_ends_when_both_can_report():
    assert _alarms(_scenario([_fail("ring")], network=_RING)) == [
        (36000.0, "a1", "ring", "major", LOS),
        (36000.0, "a2", "ring", "major", LOS),
        (39600.0, "a1", "ring", "cleared", LOS),
        (39600.0, "a2", "ring", "cleared", LOS),
    ]


def test_a_cut_tower_uplink_is_reported_by_the_far_end_and_the_tower_becomes_unreachable():
    # t1's own port raises loss of signal too, but t1 has lost its path: only agg's reaches
    # the twin, and by the time t1 is back its port is clear, so it has nothing to re-report.
    assert _alarms(_scenario([_fail("l1")])) == [
        (36000.0, "agg", "l1", "major", LOS),
        (36060.0, "nms", "t1", "major", UNREACHABLE),
        (39600.0, "agg", "l1", "cleared", LOS),
        (39600.0, "nms", "t1", "cleared", UNREACHABLE),
    ]


def test_a_dead_tower_sends_a_dying_gasp_and_looks_otherwise_like_a_cut_uplink():
    assert _alarms(_scenario([_fail("t1")])) == [
        (36000.0, "agg", "l1", "major", LOS),  # a dead tower's laser goes dark too
        (36000.0, "t1", "t1", "critical", GASP),
        (36060.0, "nms", "t1", "major", UNREACHABLE),
        (39600.0, "agg", "l1", "cleared", LOS),
        (39600.0, "t1", "t1", "cleared", GASP),  # t1 back in reach clears what it left
        (39600.0, "nms", "t1", "cleared", UNREACHABLE),
    ]


def test_towers_behind_a_cut_aggregation_uplink_say_nothing_themselves():
    assert _alarms(_scenario([_fail("up")])) == [
        (36000.0, "core", "up", "major", LOS),
        (36060.0, "nms", "agg", "major", UNREACHABLE),
        (36060.0, "nms", "t1", "major", UNREACHABLE),
        (39600.0, "core", "up", "cleared", LOS),
        (39600.0, "nms", "agg", "cleared", UNREACHABLE),
        (39600.0, "nms", "t1", "cleared", UNREACHABLE),
    ]


def test_a_tower_already_cut_off_when_it_dies_sends_no_dying_gasp():
    # l1 cut at 10h, t1 dies at 10h30m: its last breath has no path to travel
    alarms = _alarms(_scenario([_fail("l1", repair_after="2h"), _fail("t1", at="10h30m")]))
    assert [a for a in alarms if a[4] == GASP and a[3] != "cleared"] == []


def test_a_node_back_within_the_heartbeat_timeout_is_never_declared_unreachable():
    assert _alarms(_scenario([_fail("l1", repair_after="30s")])) == [
        (36000.0, "agg", "l1", "major", LOS),
        (36030.0, "agg", "l1", "cleared", LOS),
    ]


def test_element_unreachable_waits_for_the_heartbeat_timeout():
    alarms = _alarms(_scenario([_fail("l1")], heartbeat_timeout="5m"))
    assert (36300.0, "nms", "t1", "major", UNREACHABLE) in alarms  # 36,000 + 300


def test_a_node_regaining_its_path_re_reports_the_alarms_it_raised_meanwhile():
    # "up" is cut 10h-12h, cutting agg off; l1 is cut 11h-13h while agg cannot report it. At
    # 12h agg is back in reach and re-reports its loss of signal on l1, raised at 11h.
    sink = _feed(
        _scenario([_fail("up", repair_after="2h"), _fail("l1", at="11h", repair_after="2h")])
    )
    alarms = [
        (n.time_s, n.event_time_s, n.source, n.alarmed_object, n.perceived_severity)
        for n in sink.of_type(AlarmNotification)
    ]
    assert alarms == [
        (36000.0, 36000.0, "core", "up", "major"),
        (36060.0, 36060.0, "nms", "agg", "major"),
        (36060.0, 36060.0, "nms", "t1", "major"),
        (43200.0, 43200.0, "core", "up", "cleared"),
        (43200.0, 39600.0, "agg", "l1", "major"),  # the resync: raised at 11h, heard at 12h
        (43200.0, 43200.0, "nms", "agg", "cleared"),
        (46800.0, 46800.0, "agg", "l1", "cleared"),
        (46800.0, 46800.0, "nms", "t1", "cleared"),
    ]


def test_the_alarm_fields_follow_x733():
    first, gasp = _feed(_scenario([_fail("t1")])).of_type(AlarmNotification)[:2]
    assert (first.alarmed_object_type, first.alarm_type, first.probable_cause) == (
        "link",
        "communicationsAlarm",
        "lossOfSignal",
    )
    assert (gasp.alarmed_object_type, gasp.alarm_type, gasp.probable_cause) == (
        "tower",
        "equipmentAlarm",
        "powerProblem",
    )
    assert not first.planned_outage and not gasp.planned_outage


# --- imperfect delivery ------------------------------------------------------------------------


def test_a_lost_dying_gasp_leaves_only_what_a_cut_uplink_would_show_until_the_tower_returns():
    alarms = _alarms(_scenario([_fail("t1")], lost_dying_gasp_rate=1.0))
    cut = _alarms(_scenario([_fail("l1")]))
    assert [a for a in alarms if a[0] < 39600] == [a for a in cut if a[0] < 39600]
    assert (39600.0, "t1", "t1", "cleared", GASP) in alarms


def test_delays_shift_arrival_in_order_and_never_before_the_event():
    events = [_fail("up", repair_after="2h"), _fail("l1", at="11h", repair_after="2h")]
    prompt = _feed(_scenario(events)).of_type(AlarmNotification)
    late = _feed(_scenario(events, mean_delay="30s")).of_type(AlarmNotification)
    assert all(n.time_s >= n.event_time_s for n in late)
    assert sum(n.time_s > n.event_time_s for n in late) == len(late)  # exponential: all > 0
    assert [n.time_s for n in late] == sorted(n.time_s for n in late)
    # the same notifications, raised at the same times, only heard later
    by_id = {n.notification_id: n for n in prompt}
    assert sorted(by_id) == sorted(n.notification_id for n in late)
    for n in late:
        assert n.event_time_s == by_id[n.notification_id].event_time_s
        assert n.time_s >= by_id[n.notification_id].time_s


def test_a_duplicate_has_the_same_id_and_content_and_arrives_no_earlier():
    sink = _feed(_scenario([_fail("t1")], duplicate_rate=1.0, mean_delay="10s"))
    notifications = sink.of_type(AlarmNotification)
    assert len(notifications) == 2 * 6  # the six of a dead tower, each twice
    pairs: dict[int, list[AlarmNotification]] = {}
    for n in notifications:
        pairs.setdefault(n.notification_id, []).append(n)
    for first, again in pairs.values():
        assert again.time_s >= first.time_s
        assert (again.event_time_s, again.source, again.perceived_severity) == (
            first.event_time_s,
            first.source,
            first.perceived_severity,
        )


def test_lost_clears_lose_every_clear_and_nothing_else():
    kept = _alarms(_scenario([_fail("t1")], lost_clear_rate=1.0))
    assert kept == [a for a in _alarms(_scenario([_fail("t1")])) if a[3] != "cleared"]


# --- flaps and maintenance ---------------------------------------------------------------------


def test_a_flap_makes_count_down_up_cycles_each_with_its_alarms_and_its_truth():
    flap = {"at": "10h", "action": "flap", "target": "l1", "count": 3, "period": "10m"}
    truth = TruthLog()
    sink = _feed(_scenario([flap]), truth=truth)
    # down at 36,000, 36,600 and 37,200, for half the period (300 s) each
    assert [(f.start_s, f.end_s, f.cause) for f in truth.of_type(FaultTruth)] == [
        (36000.0, 36300.0, "flap"),
        (36600.0, 36900.0, "flap"),
        (37200.0, 37500.0, "flap"),
    ]
    far_end = [
        (n.time_s, n.perceived_severity)
        for n in sink.of_type(AlarmNotification)
        if n.source == "agg"
    ]
    assert far_end == [
        (36000.0, "major"),
        (36300.0, "cleared"),
        (36600.0, "major"),
        (36900.0, "cleared"),
        (37200.0, "major"),
        (37500.0, "cleared"),
    ]


def test_maintenance_alarms_carry_the_planned_outage_indicator():
    work = {"at": "10h", "action": "maintenance", "target": "t1", "duration": "2h"}
    truth = TruthLog()
    sink = _feed(_scenario([work]), truth=truth)
    notifications = sink.of_type(AlarmNotification)
    assert len(notifications) == 6  # as a dead tower: far-end LOS, dying gasp, unreachable
    assert all(n.planned_outage for n in notifications)
    assert [(f.cause, f.planned, f.start_s, f.end_s) for f in truth.of_type(FaultTruth)] == [
        ("maintenance", True, 36000.0, 43200.0)
    ]


# --- the truth, kept apart ----------------------------------------------------------------------


def test_a_cell_isolated_by_a_cut_names_the_cut_even_when_its_tower_fails_too():
    # l1 (fault 1) cut 10h-12h, t1 (fault 2) down 11h-13h: t1/1 is out 10h-13h because of l1
    truth = TruthLog()
    _feed(
        _scenario([_fail("l1", repair_after="2h"), _fail("t1", at="11h", repair_after="2h")]),
        truth=truth,
    )
    outages = truth.of_type(OutageAttribution)
    assert OutageAttribution("t1/1", "cell", 36000.0, 46800.0, 1) in outages
    assert OutageAttribution("t1", "tower", 36000.0, 46800.0, 1) in outages


def test_the_feed_carries_no_state_changes_and_is_the_same_with_or_without_a_truth_sink(
    example_raw,
):
    scenario = parse_scenario(example_raw, "metro.yaml")
    truth = TruthLog()
    with_truth = _feed(scenario, truth=truth)
    without = _feed(scenario)
    assert with_truth.of_type(ResourceStateChange) == []
    assert without.of_type(ResourceStateChange) == []
    assert truth.of_type(ResourceStateChange)  # the truth has them, with their causes
    assert with_truth.of_type(AlarmNotification) == without.of_type(AlarmNotification)
    for kind in (CellPmBatch, LinkPmBatch, UsageBatch):
        for a, b in zip(with_truth.of_type(kind), without.of_type(kind), strict=True):
            for name, value in vars(a).items():
                assert np.array_equal(value, getattr(b, name)), (kind, name)


def test_changing_notification_settings_changes_no_traffic_or_fault_draw(example_raw):
    base_truth, noisy_truth = TruthLog(), TruthLog()
    base = _feed(parse_scenario(example_raw, "metro.yaml"), truth=base_truth)
    example_raw["faults"]["notifications"] = {
        "mean_delay": "1m",
        "duplicate_rate": 0.5,
        "lost_clear_rate": 0.3,
        "lost_dying_gasp_rate": 0.5,
        "heartbeat_timeout": "2m",
    }
    noisy = _feed(parse_scenario(example_raw, "metro.yaml"), truth=noisy_truth)
    for counter in ("voice_offered", "voice_failed", "data_sessions", "data_served_mb"):
        assert np.array_equal(
            sum(getattr(b, counter) for b in base.of_type(CellPmBatch)),
            sum(getattr(b, counter) for b in noisy.of_type(CellPmBatch)),
        )
    assert base_truth.records == noisy_truth.records
    assert base.of_type(AlarmNotification) != noisy.of_type(AlarmNotification)


def test_the_reference_scenario_reports_its_faults_and_its_feed_is_the_same_for_a_seed(
    example_raw,
):
    scenario = parse_scenario(example_raw, "metro.yaml")
    first = _feed(scenario).of_type(AlarmNotification)
    assert first == _feed(scenario).of_type(AlarmNotification)
    raised = {(n.source, n.alarmed_object, n.specific_problem) for n in first}
    # the cut of l-agg-n-core at 19h: agg-n reroutes over the ring, so both ends report
    assert {("agg-n", "l-agg-n-core", LOS), ("core-1", "l-agg-n-core", LOS)} <= raised
    # t-s3 down at 30h: its dying gasp and its aggregation site's port
    assert {("t-s3", "t-s3", GASP), ("agg-s", "l-s3", LOS), ("nms", "t-s3", UNREACHABLE)} <= raised
    # l-n3 cut at 40h: t-n3 is cut off
    assert {("agg-n", "l-n3", LOS), ("nms", "t-n3", UNREACHABLE)} <= raised
    assert ("t-n3", "l-n3", LOS) not in raised


@pytest.mark.parametrize("seed", [1, 3, 4, 6])
def test_every_raise_reaching_the_twin_is_cleared_by_the_end_once_all_is_repaired(seed):
    # random faults on every kind, all repaired long before the end (mttr 10 minutes)
    scenario = single_cell(
        duration="2d",
        calls_per_hour=0.1,
        extra={
            **_RING,
            "faults": {
                "random": {
                    "tower": {"mtbf": "6h", "mttr": "10m"},
                    "aggregation": {"mtbf": "12h", "mttr": "10m"},
                    "link": {"mtbf": "8h", "mttr": "10m"},
                },
            },
        },
    )
    truth = TruthLog()
    notifications = _feed(scenario, seed=seed, truth=truth).of_type(AlarmNotification)
    assert [f for f in truth.of_type(FaultTruth) if f.end_s is None] == []  # these seeds
    active: dict[tuple[str, str, str], int] = {}
    for n in notifications:
        key = (n.source, n.alarmed_object, n.specific_problem)
        active[key] = 0 if n.perceived_severity == "cleared" else 1
    assert len(notifications) > 20
    assert sum(active.values()) == 0


def test_a_run_writes_the_truth_beside_the_summary_whose_outages_come_from_it(
    tmp_path, example_raw
):
    example_raw["faults"] = {}  # the three injected faults only, numbered in time order
    result = run_scenario(parse_scenario(example_raw, "metro.yaml"), tmp_path / "run")
    truth = json.loads((result.out_dir / "truth.json").read_text())
    # 19h + 2h30m, 30h + 1h, 40h + 1h30m
    assert truth["faults"] == [
        {
            "fault_id": fault_id,
            "resource": resource,
            "kind": kind,
            "start_s": start_s,
            "end_s": end_s,
            "cause": "injected",
            "planned": False,
        }
        for fault_id, resource, kind, start_s, end_s in [
            (1, "l-agg-n-core", "link", 68400.0, 77400.0),
            (2, "t-s3", "tower", 108000.0, 111600.0),
            (3, "l-n3", "link", 144000.0, 149400.0),
        ]
    ]
    assert {
        "resource": "t-n3/1",
        "kind": "cell",
        "start_s": 144000.0,
        "end_s": 149400.0,
        "fault_id": 3,
    } in truth["outages"]
    assert [(o["resource"], o["start_s"]) for o in result.summary["outages"]] == [
        ("l-agg-n-core", 68400.0),
        ("t-s3", 108000.0),
        ("l-n3", 144000.0),
    ]
