"""Fault management on real runs of the simulator: the reference scenario's faults as the
operator sees them, and the same alarms whether or not the truth is kept."""

from __future__ import annotations

from sim.engine import Simulation
from sim.scenario import parse_scenario
from sim.truth import TruthLog
from twin.bus import Bus
from twin.oss.fault import FaultManagement
from twin.oss.records import AlarmChange
from twin.run import simulate


def _fault_management(example_raw, *, truth: bool) -> tuple[FaultManagement, list[AlarmChange]]:
    bus = Bus()
    fm = FaultManagement(bus)
    changes: list[AlarmChange] = []
    bus.subscribe(AlarmChange, changes.append)
    scenario = parse_scenario(example_raw, "metro.yaml")
    Simulation(scenario, bus, truth=TruthLog() if truth else None).run()
    return fm, changes


def test_the_reference_scenarios_faults_are_one_root_each_with_their_alarms_under_it(
    example_raw,
):
    fm, _ = _fault_management(example_raw, truth=False)
    # 19h: the northern aggregation uplink is cut; both ends report loss of signal and the
    # towers behind it reroute over the ring, so nothing else goes out: one root on the link
    at_19h05 = fm.active(19 * 3600 + 300)
    uplink = [a for a in at_19h05 if a.alarmed_object == "l-agg-n-core"]
    assert len(uplink) == 1 and uplink[0].is_root_cause and uplink[0].root_candidates == ()
    assert len(uplink[0].correlated_alarms) == 2  # the loss of signal at each end
    # 30h: t-s3 fails (its dying gasp reaches the twin): its own root, naming the tower alone
    at_30h05 = fm.active(30 * 3600 + 300)
    tower = [a for a in at_30h05 if a.alarmed_object == "t-s3"]
    assert len(tower) == 1 and tower[0].is_root_cause and tower[0].root_candidates == ()
    # 40h: l-n3 is cut and t-n3 is isolated: its unreachable alarm sits under the root on the
    # cut (which, with no dying gasp either way, names the tower too: see docs)
    at_40h05 = fm.active(40 * 3600 + 300)
    cut = [a for a in at_40h05 if a.alarmed_object == "l-n3"]
    assert len(cut) == 1 and cut[0].is_root_cause and "l-n3" in cut[0].root_candidates
    children = {
        fm_alarm.alarmed_object
        for fm_alarm in fm.alarms(40 * 3600 + 300)
        if fm_alarm.parent_alarm == cut[0].alarm_id
    }
    assert children == {"l-n3", "t-n3"}  # agg-n's loss of signal, t-n3 unreachable
    # at any time the active list shows only roots (and flapping alarms), never a child
    for hour in range(0, 48):
        assert all(a.parent_alarm is None for a in fm.active(hour * 3600.0 + 1800))


def test_the_twin_gives_the_same_alarms_without_the_truth(example_raw):
    _, with_truth = _fault_management(example_raw, truth=True)
    _, without = _fault_management(example_raw, truth=False)
    assert with_truth == without
    assert len(with_truth) > 20


def test_single_faults_with_clean_notifications_score_one(example_raw):
    # The reference scenario's faults, one at a time and without random faults: every root
    # names its fault (a set naming it counts), every alarm sits under its fault's root
    example_raw["faults"] = {}
    events = [e for e in example_raw["events"] if e["action"] == "fail"]
    for event in events:
        example_raw["events"] = [event]
        alarms = simulate(parse_scenario(example_raw, "metro.yaml"))["alarms"]
        assert alarms["faults"] == 1
        assert alarms["rca_accuracy"] == 1.0, event
        assert alarms["suppression_precision"] in (1.0, None), event
        assert alarms["suppression_recall"] in (1.0, None), event
