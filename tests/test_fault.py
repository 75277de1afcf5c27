"""Fault management: the alarm list's lifecycle, flapping, and root cause by topology and time.

Every test feeds hand-written notifications through a bus, as the simulator would, with the
notification rules of issue 6: a cut link raises loss of signal at each end that can still
report, a dying node sends a dying gasp if it can, the management system ("nms") raises
"element unreachable" a heartbeat after a node loses its path.
"""

from __future__ import annotations

import dataclasses
import time
from decimal import Decimal
from itertools import count

import numpy as np
import pytest

from tests.test_inventory import make_inventory, random_network
from twin.bus import Bus
from twin.feed import AlarmNotification, Inventory, ResourceStateChange, RunEnded
from twin.oss.fault import FaultManagement
from twin.oss.records import AlarmChange

# core - agg1 - {t1, t2}, core - agg2 - {t3, t4}; t5 dual-homed on agg2 and core (so agg2
# has two ways to the core, and l-t5a's ends both stay reachable when it is cut).
NODES = {
    "core": "core",
    "agg1": "aggregation",
    "agg2": "aggregation",
    **{f"t{i}": "tower" for i in range(1, 6)},
}
LINKS = {
    "l-agg1": ("agg1", "core"),
    "l-agg2": ("agg2", "core"),
    "l-t1": ("t1", "agg1"),
    "l-t2": ("t2", "agg1"),
    "l-t3": ("t3", "agg2"),
    "l-t4": ("t4", "agg2"),
    "l-t5a": ("t5", "agg2"),
    "l-t5b": ("t5", "core"),
}


class Network:
    """A bus with fault management on it, and the notifications an element would send."""

    def __init__(self, inventory: Inventory | None = None, **params: float) -> None:
        self.bus = Bus()
        self.fm = FaultManagement(self.bus, **params)  # type: ignore[arg-type]
        self.published: list[AlarmChange] = []
        self.bus.subscribe(AlarmChange, self.published.append)
        inventory = inventory or make_inventory(NODES, LINKS, subscribers=SUBSCRIBERS)
        self.roles = dict(zip(inventory.node_ids, inventory.node_roles, strict=True))
        self.bus.publish(inventory)
        self._ids = count(1)
        self.held: list[AlarmNotification] | None = None  # a list: hold instead of sending

    def release(self, rng: np.random.Generator, mean_delay_s: float, duplicates: float) -> None:
        """Deliver the held notifications late (exponential delays), some twice, in the
        order they arrive."""
        assert self.held is not None
        delivered = []
        for n in self.held:
            for _ in range(2 if rng.random() < duplicates else 1):
                late = n.event_time_s + float(rng.exponential(mean_delay_s))
                delivered.append(dataclasses.replace(n, time_s=late))
        self.held = None
        for n in sorted(delivered, key=lambda n: n.time_s):
            self.bus.publish(n)

    def send(
        self,
        time_s: float,
        alarmed_object: str,
        source: str,
        *,
        kind: str,
        severity: str = "major",
        event_time_s: float | None = None,
        notification_id: int | None = None,
    ) -> int:
        fields = _KINDS[kind]
        nid = next(self._ids) if notification_id is None else notification_id
        (self.bus.publish if self.held is None else self.held.append)(
            AlarmNotification(
                notification_id=nid,
                time_s=time_s,
                event_time_s=time_s if event_time_s is None else event_time_s,
                alarmed_object=alarmed_object,
                alarmed_object_type=fields[0],  # type: ignore[arg-type]
                source=source,
                alarm_type=fields[1],  # type: ignore[arg-type]
                perceived_severity=severity,  # type: ignore[arg-type]
                probable_cause=fields[2],
                specific_problem=fields[3],
            )
        )
        return nid

    def los(self, time_s: float, link: str, source: str, **kw: object) -> int:
        return self.send(time_s, link, source, kind="los", **kw)  # type: ignore[arg-type]

    def unreachable(self, time_s: float, node: str, **kw: object) -> int:
        kind = "unreachable-" + ("tower" if self.roles[node] == "tower" else "aggregation")
        return self.send(time_s, node, "nms", kind=kind, **kw)  # type: ignore[arg-type]

    def gasp(self, time_s: float, node: str, **kw: object) -> int:
        kind = "gasp-" + ("tower" if self.roles[node] == "tower" else "aggregation")
        return self.send(time_s, node, node, kind=kind, severity="critical", **kw)  # type: ignore[arg-type]

    def cell_down(self, time_s: float, cell: str, **kw: object) -> int:
        return self.send(time_s, cell, cell.rsplit("-", 1)[0], kind="cell", **kw)  # type: ignore[arg-type]

    def alarm(self, alarmed_object: str, source: str | None = None) -> AlarmChange:
        """The one alarm on ``alarmed_object`` from ``source`` (by default, the network's
        alarm, not the twin's root-cause alarm) as it stands now."""
        found = [
            a
            for a in self.fm.alarms()
            if a.alarmed_object == alarmed_object
            and (a.source == source if source else a.source != "twin")
        ]
        assert len(found) == 1, found
        return found[0]

    def roots(self) -> list[AlarmChange]:
        return [a for a in self.fm.active() if a.is_root_cause]


SUBSCRIBERS = {"t1-1": [0, 0, 1], "t2-1": [0], "t3-1": [1, 1]}
_KINDS = {
    "los": ("link", "communicationsAlarm", "lossOfSignal", "loss of signal"),
    "unreachable-tower": ("tower", "communicationsAlarm", "unreachable", "element unreachable"),
    "unreachable-aggregation": (
        "aggregation",
        "communicationsAlarm",
        "unreachable",
        "element unreachable",
    ),
    "gasp-tower": ("tower", "equipmentAlarm", "powerProblem", "dying gasp"),
    "gasp-aggregation": ("aggregation", "equipmentAlarm", "powerProblem", "dying gasp"),
    "cell": ("cell", "qualityOfServiceAlarm", "cellUnavailable", "cell unavailable"),
}


def children_of(net: Network, root: AlarmChange) -> set[tuple[str, str]]:
    by_id = {a.alarm_id: a for a in net.fm.alarms()}
    return {(by_id[c].alarmed_object, by_id[c].source) for c in root.correlated_alarms}


# -- lifecycle -----------------------------------------------------------------------------
def test_repeats_fold_into_one_alarm_with_a_count_and_the_last_event_time() -> None:
    net = Network()
    net.cell_down(10, "t1-1")
    net.cell_down(20, "t1-1")
    net.cell_down(35, "t1-1", event_time_s=30)
    alarm = net.alarm("t1-1")
    assert (alarm.count, alarm.raised_time_s, alarm.last_event_time_s) == (3, 10, 30)
    assert [c.change for c in net.published if c.alarm_id == alarm.alarm_id][-2:] == [
        "reduced",
        "reduced",
    ]


def test_a_duplicate_notification_changes_nothing() -> None:
    net = Network()
    nid = net.cell_down(10, "t1-1")
    published = len(net.published)
    net.cell_down(14, "t1-1", event_time_s=10, notification_id=nid)
    assert net.alarm("t1-1").count == 1
    assert len(net.published) == published
    assert net.fm.duplicates == 1


def test_a_clear_clears_its_problem_through_the_clear_key() -> None:
    net = Network()
    net.cell_down(10, "t1-1")
    net.cell_down(15, "t2-1")
    net.cell_down(50, "t1-1", severity="cleared")
    assert net.alarm("t1-1").cleared_time_s == 50
    assert net.alarm("t1-1").perceived_severity == "cleared"
    assert net.alarm("t2-1").cleared_time_s is None


def test_a_problem_back_after_its_clear_is_raised_again() -> None:
    net = Network()
    net.cell_down(10, "t1-1")
    net.cell_down(50, "t1-1", severity="cleared")
    net.cell_down(900, "t1-1", severity="minor")
    alarm = net.alarm("t1-1")
    assert alarm.cleared_time_s is None
    assert (alarm.count, alarm.raised_time_s, alarm.perceived_severity) == (2, 900, "minor")
    assert net.published[-1].change != "raised"
    assert "reraised" in [c.change for c in net.published if c.alarm_id == alarm.alarm_id]


def test_operators_acknowledge_unacknowledge_and_clear() -> None:
    net = Network()
    net.cell_down(10, "t1-1")
    alarm_id = net.alarm("t1-1").alarm_id
    assert net.fm.acknowledge(alarm_id, at_time_s=20).ack_state == "acknowledged"
    assert net.fm.unacknowledge(alarm_id, at_time_s=25).ack_state == "unacknowledged"
    net.fm.acknowledge(alarm_id, at_time_s=26)
    net.fm.clear(alarm_id, at_time_s=30)
    alarm = net.alarm("t1-1")
    assert (alarm.ack_state, alarm.cleared_time_s) == ("acknowledged", 30)
    assert [c.change for c in net.published if c.alarm_id == alarm_id][-4:] == [
        "acknowledged",
        "unacknowledged",
        "acknowledged",
        "cleared",
    ]
    with pytest.raises(KeyError):
        net.fm.acknowledge(999)


def test_a_cleared_alarm_ignores_a_late_severity_change() -> None:
    net = Network()
    net.cell_down(10, "t1-1", severity="minor")
    net.cell_down(50, "t1-1", severity="cleared")
    # raised at 40, before the clear, delivered late: it folds in but changes nothing else
    net.cell_down(60, "t1-1", severity="critical", event_time_s=40)
    alarm = net.alarm("t1-1")
    assert (alarm.perceived_severity, alarm.cleared_time_s, alarm.count) == ("cleared", 50, 2)


def test_a_clear_overtaking_its_problem_leaves_the_alarm_cleared() -> None:
    net = Network()
    net.cell_down(12, "t1-1", severity="cleared", event_time_s=11)
    net.cell_down(15, "t1-1", event_time_s=10)
    assert net.alarm("t1-1").cleared_time_s == 11
    assert net.fm.active() == []


def test_a_lost_clear_is_cleared_when_the_element_resyncs_without_it() -> None:
    net = Network(resync_window_s=60)
    net.cell_down(10, "t1-1")  # its clear will be lost
    net.unreachable(1000, "t1")  # t1 loses its management path
    net.unreachable(2000, "t1", severity="cleared")  # back: t1 resyncs, without t1-1
    net.bus.publish(RunEnded(2100))
    assert net.alarm("t1-1").cleared_time_s == 2060
    assert net.fm.active() == []


def test_an_alarm_re_reported_in_the_resync_stays() -> None:
    net = Network(resync_window_s=60)
    net.cell_down(10, "t1-1")
    net.unreachable(1000, "t1")
    net.unreachable(2000, "t1", severity="cleared")
    net.cell_down(2005, "t1-1", event_time_s=10)  # the resync re-reports it
    net.bus.publish(RunEnded(2100))
    assert net.alarm("t1-1").cleared_time_s is None


def test_a_lost_unreachable_clear_is_cleared_when_the_element_reports_again() -> None:
    net = Network()
    net.unreachable(100, "t1")
    net.cell_down(500, "t1-1")  # t1 speaks: it is reachable
    assert net.alarm("t1", "nms").cleared_time_s == 500
    assert [a.alarmed_object for a in net.roots()] == ["t1-1"]


def test_a_lost_loss_of_signal_clear_goes_when_the_tower_behind_is_reachable() -> None:
    net = Network()
    net.los(100, "l-t1", "agg1")
    net.unreachable(160, "t1")
    # the repair: agg1's clear of its loss of signal is lost; the nms sees t1 again
    net.unreachable(400, "t1", severity="cleared")
    assert net.alarm("l-t1", "agg1").cleared_time_s == 400
    assert net.fm.active() == []


def test_a_flapping_link_gives_one_flapping_alarm_not_a_storm() -> None:
    net = Network(flap_threshold=4, flap_window_s=600)
    for cycle in range(5):  # down and up every 60 s, seen from both ends
        down, up = 1000 + 60 * cycle, 1030 + 60 * cycle
        net.los(down, "l-t5a", "agg2")
        net.los(down, "l-t5a", "t5")
        net.los(up, "l-t5a", "agg2", severity="cleared")
        net.los(up, "l-t5a", "t5", severity="cleared")
    net.los(1400, "l-t5a", "agg2")
    net.los(1400, "l-t5a", "t5")
    active = net.fm.active()
    assert len(active) == 1
    flap = active[0]
    assert (flap.alarmed_object, flap.probable_cause) == ("l-t5a", "flapping")
    assert children_of(net, flap) == {("l-t5a", "agg2"), ("l-t5a", "t5")}
    assert sum(c.change == "flapping" for c in net.published) == 1
    # quiet for a window while still down: the flap clears, its alarms get their root again
    net.bus.publish(RunEnded(2100))
    assert [(a.alarmed_object, a.is_root_cause) for a in net.fm.active()] == [("l-t5a", True)]


# -- root cause ----------------------------------------------------------------------------
def test_a_link_cut_seen_from_both_ends_is_one_root_on_the_link() -> None:
    net = Network()
    net.los(100, "l-agg1", "core")
    net.los(101, "l-agg1", "agg1")
    for t, node in enumerate(["agg1", "t1", "t2"]):
        net.unreachable(160 + t, node)
    (root,) = net.fm.active()
    assert (root.alarmed_object, root.is_root_cause, root.root_candidates) == ("l-agg1", True, ())
    assert root.source == "twin"
    assert children_of(net, root) == {
        ("l-agg1", "core"),
        ("l-agg1", "agg1"),
        ("agg1", "nms"),
        ("t1", "nms"),
        ("t2", "nms"),
    }
    assert all(
        a.parent_alarm == root.alarm_id for a in net.fm.alarms() if a.alarm_id != root.alarm_id
    )


def test_a_cut_seen_from_one_end_cannot_be_told_from_the_dead_site_behind_it() -> None:
    net = Network()
    net.los(100, "l-agg1", "core")
    for node in ["agg1", "t1", "t2"]:
        net.unreachable(160, node)
    (root,) = net.fm.active()
    assert root.root_candidates == ("l-agg1", "agg1")
    assert "cannot tell" in root.specific_problem


def test_a_failed_aggregation_site_with_its_dying_gasp_is_the_root() -> None:
    net = Network()
    net.gasp(100, "agg1")
    net.los(100, "l-agg1", "core")  # the far end of its uplink
    for node in ["agg1", "t1", "t2"]:
        net.unreachable(160, node)
    (root,) = net.fm.active()
    assert (root.alarmed_object, root.root_candidates) == ("agg1", ())
    assert len(root.correlated_alarms) == 5


def test_children_clear_with_their_root() -> None:
    net = Network()
    net.los(100, "l-t1", "agg1")
    net.unreachable(160, "t1")
    (root,) = net.fm.active()
    net.fm.clear(root.alarm_id, at_time_s=300)
    assert [a.cleared_time_s for a in net.fm.alarms()] == [300, 300, 300]


def test_a_root_clears_when_the_network_clears_its_alarms() -> None:
    net = Network()
    net.los(100, "l-t5a", "agg2")
    net.los(100, "l-t5a", "t5")
    (root,) = net.fm.active()
    assert root.alarmed_object == "l-t5a"  # a ring link: the link, not either end
    net.los(500, "l-t5a", "agg2", severity="cleared")
    assert net.fm.active() == []
    assert net.alarm("l-t5a", "twin").cleared_time_s == 500


def test_overlapping_faults_on_two_branches_give_a_root_each() -> None:
    net = Network()
    net.los(100, "l-t1", "agg1")  # l-t1 cut
    net.gasp(105, "t3")  # t3 dies, and says so
    net.los(106, "l-t3", "agg2")
    net.unreachable(160, "t1")
    net.unreachable(165, "t3")
    roots = {r.alarmed_object: r for r in net.roots()}
    assert set(roots) == {"l-t1", "t3"}
    assert roots["l-t1"].root_candidates == ("l-t1", "t1")  # no dying gasp from t1
    assert children_of(net, roots["l-t1"]) == {("l-t1", "agg1"), ("t1", "nms")}
    assert children_of(net, roots["t3"]) == {("t3", "t3"), ("l-t3", "agg2"), ("t3", "nms")}


def test_a_dead_tower_without_its_dying_gasp_cannot_be_told_from_its_uplink_cut() -> None:
    net = Network()
    net.los(100, "l-t1", "agg1")
    net.unreachable(160, "t1")
    (root,) = net.fm.active()
    assert set(root.root_candidates) == {"t1", "l-t1"}
    assert len(root.correlated_alarms) == 2


def test_a_dead_tower_with_its_dying_gasp_is_the_root() -> None:
    net = Network()
    net.gasp(100, "t1")
    net.los(100, "l-t1", "agg1")
    net.unreachable(160, "t1")
    (root,) = net.fm.active()
    assert (root.alarmed_object, root.root_candidates) == ("t1", ())
    assert len(root.correlated_alarms) == 3


def test_a_late_dying_gasp_narrows_the_root_to_the_tower() -> None:
    net = Network()
    net.los(100, "l-t1", "agg1")
    net.unreachable(160, "t1")
    root_id = net.fm.active()[0].alarm_id
    net.gasp(170, "t1", event_time_s=100)
    (root,) = net.fm.active()
    assert (root.alarm_id, root.alarmed_object, root.root_candidates) == (root_id, "t1", ())


def test_delayed_notifications_out_of_order_within_the_window_still_correlate() -> None:
    net = Network()
    # the far tower's unreachable (raised at 160) arrives first, the LOS (100) 70 s late
    net.unreachable(161, "t2", event_time_s=160)
    net.unreachable(175, "agg1", event_time_s=160)
    net.los(170, "l-agg1", "core", event_time_s=100)
    net.los(172, "l-agg1", "agg1", event_time_s=101)
    net.unreachable(180, "t1", event_time_s=160)
    (root,) = net.fm.active()
    assert root.alarmed_object == "l-agg1"
    assert len(root.correlated_alarms) == 5


def test_alarms_further_apart_than_the_window_are_separate_roots() -> None:
    # together, two towers of agg1 unreachable point at agg1; 80 minutes apart, they are two
    # faults, each on its own tower or uplink
    together = Network(correlation_window_s=60)
    together.unreachable(100, "t1")
    together.unreachable(130, "t2")
    assert [r.root_candidates for r in together.roots()] == [("l-agg1", "agg1")]
    apart = Network(correlation_window_s=60)
    apart.unreachable(100, "t1")
    apart.unreachable(5000, "t2")
    assert [r.root_candidates for r in apart.roots()] == [("l-t1", "t1"), ("l-t2", "t2")]


def test_the_active_list_at_a_past_time_is_what_the_operator_saw_then() -> None:
    net = Network()
    net.los(100, "l-t1", "agg1")
    net.unreachable(160, "t1")
    net.unreachable(400, "t1", severity="cleared")
    assert len(net.fm.active(at_time_s=50)) == 0
    (then,) = net.fm.active(at_time_s=200)
    assert len(then.correlated_alarms) == 2
    assert net.fm.active() == []


def test_the_impact_of_a_root_is_the_towers_and_fees_behind_its_resource() -> None:
    net = Network()
    net.los(100, "l-agg1", "core")
    net.los(100, "l-agg1", "agg1")
    (root,) = net.fm.active()
    fees = {"basic": Decimal("10.00"), "premium": Decimal("25.50")}
    hit = net.fm.impact(root.alarm_id, fees)
    assert hit.towers == ("t1", "t2")
    assert (hit.subscribers, hit.monthly_fees) == (4, Decimal("55.50"))


def test_fault_management_never_reads_the_simulators_state_changes() -> None:
    net = Network()
    net.bus.publish(ResourceStateChange(100, "l-t1", "link", "disabled", "injected", 1))
    assert net.fm.alarms() == []
    assert net.published == []


def test_a_thousand_faults_on_a_national_network_take_little_time() -> None:
    inventory = random_network(3, cores=4, aggs=100, towers=5000)
    net = Network(inventory)
    rng = np.random.default_rng(5)
    towers = [
        n for n, r in zip(inventory.node_ids, inventory.node_roles, strict=True) if r == "tower"
    ]
    uplink = {}
    for link, a, b in zip(inventory.link_ids, inventory.link_a, inventory.link_b, strict=True):
        uplink.setdefault(a, (link, b))
    started = time.perf_counter()
    sent = 0
    for k, tower in enumerate(rng.choice(towers, size=1000, replace=False)):
        t = 60.0 * k
        link, far = uplink[str(tower)]
        net.los(t, link, far)
        net.unreachable(t + 60, str(tower))
        net.los(t + 600, link, far, severity="cleared")
        net.unreachable(t + 620, str(tower), severity="cleared")
        sent += 4
    net.bus.publish(RunEnded(60.0 * 1000 + 1000))
    elapsed = time.perf_counter() - started
    assert net.fm.active() == []
    assert len(net.roots()) == 0
    assert elapsed < 5.0, f"{sent} notifications took {elapsed:.1f} s"


def test_a_storm_of_five_thousand_unreachable_elements_is_one_root_published_coalesced() -> None:
    # one core behind everything: it fails and every other node becomes unreachable
    inventory = random_network(3, cores=1, aggs=100, towers=5000)
    net = Network(inventory)
    nodes = [
        n for n, r in zip(inventory.node_ids, inventory.node_roles, strict=True) if r != "core"
    ]
    started = time.perf_counter()
    for k, node in enumerate(nodes):
        net.unreachable(60 + k * 0.01, node)  # 51 s of arrivals
    net.bus.publish(RunEnded(200))
    elapsed = time.perf_counter() - started
    (root,) = net.fm.active()
    assert (root.alarmed_object, len(root.correlated_alarms)) == ("c0", 5100)
    root_records = [c for c in net.published if c.alarm_id == root.alarm_id]
    assert len(root_records) < 100  # coalesced: about one a second, not one per child
    assert elapsed < 3.0, elapsed


def test_a_cell_alarm_of_a_tower_under_a_root_is_one_of_its_children() -> None:
    net = Network()
    net.los(100, "l-t1", "agg1")
    net.unreachable(160, "t1")
    net.cell_down(170, "t1-1", event_time_s=101)  # re-reported late, raised before the cut
    (root,) = net.fm.active()
    assert ("t1-1", "t1") in children_of(net, root)


def test_cell_alarms_from_towers_that_still_report_do_not_blame_the_site_above() -> None:
    net = Network()
    net.cell_down(100, "t1-1")
    net.cell_down(101, "t2-1")
    assert sorted(r.alarmed_object for r in net.roots()) == ["t1-1", "t2-1"]


def test_a_re_raised_child_leaves_its_old_root() -> None:
    net = Network()
    net.los(100, "l-t5a", "agg2")
    net.los(100, "l-t5a", "t5")
    net.los(200, "l-t5a", "t5", severity="cleared")  # the link is back: the root clears
    assert net.fm.active() == []
    net.los(4000, "l-t5a", "t5")  # cut again, much later: a new root
    (root,) = net.fm.active()
    assert children_of(net, root) == {("l-t5a", "t5")}
    assert root.raised_time_s == 4000


def test_two_cuts_on_a_ring_explain_the_towers_between_them() -> None:
    ring = {"core": "core", "a": "tower", "b": "tower", "c": "tower"}
    links = {"l1": ("core", "a"), "l2": ("a", "b"), "l3": ("b", "c"), "l4": ("c", "core")}
    net = Network(make_inventory(ring, links))
    net.los(100, "l1", "core")
    net.los(100, "l1", "a")  # a still reports, through b and c
    net.los(110, "l3", "c")  # the second cut isolates a and b; b's end says nothing
    net.unreachable(170, "a")
    net.unreachable(170, "b")
    roots = {r.alarmed_object: r for r in net.roots()}
    assert set(roots) == {"l1", "l3"}  # not the core, which reported
    assert children_of(net, roots["l1"]) == {
        ("l1", "core"),
        ("l1", "a"),
        ("a", "nms"),
        ("b", "nms"),
    }
    assert children_of(net, roots["l3"]) == {("l3", "c")}


def single_fault_notifications(
    net: Network, inventory: Inventory, resource: str, *, dying_gasp: bool
) -> None:
    """Send what issue 6's rules make of one failure with clean notifications: loss of
    signal from every reachable end of a failed link or of a failed node's links, the node's
    dying gasp, and "element unreachable" a heartbeat (60 s) later for what is cut off."""
    import networkx as nx

    graph = nx.MultiGraph()
    graph.add_nodes_from(inventory.node_ids)
    ends = {}
    for k, a, b in zip(inventory.link_ids, inventory.link_a, inventory.link_b, strict=True):
        graph.add_edge(a, b, key=k)
        ends[k] = (a, b)
    cores = [
        n for n, r in zip(inventory.node_ids, inventory.node_roles, strict=True) if r == "core"
    ]
    if resource in ends:
        graph.remove_edge(*ends[resource], key=resource)
        failed_links = [resource]
    else:
        failed_links = [k for k, (a, b) in ends.items() if resource in (a, b)]
        graph.remove_node(resource)
        if dying_gasp:
            net.gasp(100, resource)
    reached = set().union(*(nx.node_connected_component(graph, c) for c in cores if c in graph))
    for link in failed_links:
        for end in ends[link]:
            if end in reached:
                net.los(100, link, end)
    for node in inventory.node_ids:
        if node not in reached:
            net.unreachable(160, node)


@pytest.mark.parametrize("seed", range(4))
def test_every_single_fault_with_clean_notifications_is_one_root_naming_it(seed: int) -> None:
    inventory = random_network(seed, cores=2, aggs=5, towers=30)
    rng = np.random.default_rng(seed)
    resources = [*inventory.link_ids, *inventory.node_ids]
    for resource in rng.choice(resources, size=25, replace=False):
        net = Network(inventory)
        single_fault_notifications(
            net, inventory, str(resource), dying_gasp=bool(rng.random() < 0.5)
        )
        if not net.published:
            continue  # a link between two cores' meshes: nobody reports it (none here)
        (root,) = net.fm.active()  # every alarm under one root: suppression is complete
        assert root.is_root_cause
        assert resource in (root.root_candidates or (root.alarmed_object,)), (resource, root)


@pytest.mark.parametrize("seed", range(4))
def test_single_faults_with_late_and_doubled_notifications_still_make_one_root(seed: int) -> None:
    inventory = random_network(seed, cores=2, aggs=5, towers=30)
    rng = np.random.default_rng(100 + seed)
    resources = [*inventory.link_ids, *inventory.node_ids]
    for resource in rng.choice(resources, size=25, replace=False):
        net = Network(inventory)
        net.held = []
        gasp = bool(rng.random() < 0.5)
        single_fault_notifications(net, inventory, str(resource), dying_gasp=gasp)
        net.release(rng, mean_delay_s=5.0, duplicates=0.3)
        (root,) = net.fm.active()
        assert resource in (root.root_candidates or (root.alarmed_object,)), (resource, root)


def test_an_operator_clearing_a_child_proves_nothing_about_its_root() -> None:
    net = Network()
    net.los(100, "l-t1", "agg1")
    net.unreachable(160, "t1")
    net.fm.clear(net.alarm("t1", "nms").alarm_id, at_time_s=200)
    (root,) = net.fm.active()
    assert root.root_candidates == ("l-t1", "t1")
    net.fm.clear(net.alarm("l-t1", "agg1").alarm_id, at_time_s=210)
    assert net.fm.active() == []  # no active child left: the root goes too


def test_the_tower_behind_a_flapping_link_goes_under_the_links_flapping_alarm() -> None:
    net = Network(flap_threshold=4, flap_window_s=900)
    for cycle in range(4):  # l-t1 down for 100 s every 200 s; t1 unreachable a heartbeat on
        t = 1000 + 200 * cycle
        net.los(t, "l-t1", "agg1")
        net.unreachable(t + 60, "t1")
        net.los(t + 100, "l-t1", "agg1", severity="cleared")
        net.unreachable(t + 110, "t1", severity="cleared")
    net.los(1800, "l-t1", "agg1")
    net.unreachable(1860, "t1")
    (flap,) = net.fm.active()
    assert (flap.alarmed_object, flap.probable_cause) == ("l-t1", "flapping")
    assert children_of(net, flap) == {("l-t1", "agg1"), ("t1", "nms")}
    assert sum(c.change == "flapping" for c in net.published) == 1


def test_a_flapping_alarm_names_what_could_be_flapping() -> None:
    # Only t1's heartbeat flaps (its uplink's far end, agg1, reports nothing): t1 or its only
    # uplink l-t1 could be the flapping resource, and the flapping alarm names both, as a root
    # would. (Without the candidates, scoring found none of a flap's later cycles named.)
    net = Network(flap_threshold=4, flap_window_s=900)
    for cycle in range(4):
        t = 1000 + 200 * cycle
        net.unreachable(t, "t1")
        net.unreachable(t + 100, "t1", severity="cleared")
    net.unreachable(1800, "t1")
    (flap,) = net.fm.active()
    assert (flap.alarmed_object, flap.probable_cause) == ("t1", "flapping")
    assert set(flap.root_candidates) >= {"t1", "l-t1"}


def test_overlapping_faults_with_late_doubled_notifications_and_clears_give_a_root_each() -> None:
    # 60 faults 250 s apart, each repaired 30 min later: about seven at a time, on a
    # 600-tower network; every notification late (mean 5 s), one in ten twice
    inventory = random_network(11, cores=2, aggs=12, towers=600)
    rng = np.random.default_rng(1)
    resources = [*inventory.link_ids, *[n for n in inventory.node_ids if not n.startswith("c")]]
    faults = [str(r) for r in rng.choice(resources, size=60, replace=False)]
    net = Network(inventory)
    notifications: list[AlarmNotification] = []
    for k, resource in enumerate(faults):
        one = Network(inventory)
        one.held = []
        single_fault_notifications(one, inventory, resource, dying_gasp=bool(rng.random() < 0.5))
        for n, shift, severity in [(n, 250.0 * k + d, s) for n in one.held for d, s in _REPAIR]:
            notifications.append(
                dataclasses.replace(
                    n,
                    notification_id=len(notifications) + 1,
                    time_s=n.time_s + shift,
                    event_time_s=n.event_time_s + shift,
                    perceived_severity=severity or n.perceived_severity,
                )
            )
    net.held = notifications
    net.release(rng, mean_delay_s=5.0, duplicates=0.1)
    net.bus.publish(RunEnded(250.0 * len(faults) + 4000))
    roots = [a for a in net.fm.alarms() if a.is_root_cause]
    named = [set(r.root_candidates or (r.alarmed_object,)) for r in roots]
    assert len(roots) == len(faults)
    assert all(sum(f in n for n in named) == 1 for f in faults)
    assert net.fm.active() == []


_REPAIR = [(0.0, None), (1800.0, "cleared")]  # each notification, and its clear 30 min later


def test_a_root_is_planned_when_all_its_alarms_are_planned_outages() -> None:
    net = Network()
    for nid, source in [(101, "agg2"), (102, "t5")]:  # maintenance on l-t5a
        net.bus.publish(
            AlarmNotification(
                notification_id=nid,
                time_s=100,
                event_time_s=100,
                alarmed_object="l-t5a",
                alarmed_object_type="link",
                source=source,
                alarm_type="communicationsAlarm",
                perceived_severity="major",
                probable_cause="lossOfSignal",
                specific_problem="loss of signal",
                planned_outage=True,
            )
        )
    (root,) = net.fm.active()
    assert root.planned_outage
    net.los(120, "l-t1", "agg1")
    assert [r.planned_outage for r in net.fm.active()] == [True, False]


# agg with two uplinks to the core (neither alone is a single point), towers t1, t2 behind it
DUAL = {"core": "core", "agg": "aggregation", "t1": "tower", "t2": "tower"}
DUAL_LINKS = {
    "up1": ("agg", "core"),
    "up2": ("agg", "core"),
    "l1": ("t1", "agg"),
    "l2": ("t2", "agg"),
}


def test_cutting_the_second_uplink_with_the_first_known_down_is_not_blamed_on_the_site() -> None:
    # up1 is cut at 100 (both ends report). At 1000 up2 is cut too: agg and its towers lose
    # their path, so only the core's end of up2 reports, and the nms loses agg, t1 and t2.
    # With up1 known down, up2's cut explains them as well as agg dead without its gasp.
    net = Network(make_inventory(DUAL, DUAL_LINKS))
    net.los(100, "up1", "core")
    net.los(100, "up1", "agg")
    net.los(1000, "up2", "core")
    for node in ("agg", "t1", "t2"):
        net.unreachable(1060, node)
    roots = {r.alarmed_object: r for r in net.roots()}
    assert set(roots) == {"up1", "up2"}  # never agg alone
    assert roots["up2"].root_candidates == ("up2", "agg")
    assert children_of(net, roots["up2"]) == {
        ("up2", "core"),
        ("agg", "nms"),
        ("t1", "nms"),
        ("t2", "nms"),
    }
    assert children_of(net, roots["up1"]) == {("up1", "core"), ("up1", "agg")}


def test_the_site_behind_a_known_down_uplink_is_the_root_when_its_dying_gasp_arrives() -> None:
    net = Network(make_inventory(DUAL, DUAL_LINKS))
    net.los(100, "up1", "core")
    net.los(100, "up1", "agg")
    net.gasp(1000, "agg")
    net.los(1000, "up2", "core")
    for node in ("agg", "t1", "t2"):
        net.unreachable(1060, node)
    roots = {r.alarmed_object: r for r in net.roots()}
    assert set(roots) == {"up1", "agg"}
    assert roots["agg"].root_candidates == ()
    assert len(roots["agg"].correlated_alarms) == 5


def test_an_alarm_drawn_into_another_faults_incident_still_joins_its_own_root() -> None:
    # t3 dies at 100 (its gasp arrives); l-t1 is cut at 170: its loss of signal is within the
    # window of t3's incident and joins it, but t1's "element unreachable" a heartbeat later
    # is not. It must join the root l-t1 already has, not raise a second one.
    net = Network()
    net.gasp(100, "t3")
    net.los(100, "l-t3", "agg2")
    net.unreachable(160, "t3")
    net.los(170, "l-t1", "agg1")
    net.unreachable(230, "t1")
    roots = {r.alarmed_object: r for r in net.roots()}
    assert sorted(roots) == ["l-t1", "t3"]
    assert roots["l-t1"].root_candidates == ("l-t1", "t1")
    assert children_of(net, roots["l-t1"]) == {("l-t1", "agg1"), ("t1", "nms")}
    assert len(roots["t3"].correlated_alarms) == 3


def test_a_resource_with_an_active_root_gets_no_second_root_from_another_incident() -> None:
    # l-t5a is cut at 100; agg2's loss of signal alone says "l-t5a or t5". t5's end of it
    # (raised at 150, delivered late) lands in the incident of l-t1, cut at 185, and alone
    # would say "l-t5a or agg2": it joins the root on l-t5a, which narrows to the link.
    net = Network()
    net.los(100, "l-t5a", "agg2")
    net.los(185, "l-t1", "agg1")
    net.los(200, "l-t5a", "t5", event_time_s=150)
    assert len(net.roots()) == 2
    roots = {r.alarmed_object: r for r in net.roots()}
    assert sorted(roots) == ["l-t1", "l-t5a"]
    assert roots["l-t5a"].root_candidates == ()
    assert children_of(net, roots["l-t5a"]) == {("l-t5a", "agg2"), ("l-t5a", "t5")}
    assert children_of(net, roots["l-t1"]) == {("l-t1", "agg1")}


def test_a_loss_of_signal_clear_shows_the_far_end_reachable_when_its_own_clear_is_lost() -> None:
    # Two cuts on a ring (l1, l3) cut a and b off. l3 is repaired first: c's loss of signal
    # on l3 clears, which shows b up and talking through c; the nms's clear of b is lost.
    # b's "element unreachable" clears with c's clear; a's stays, under the root on l1.
    ring = {"core": "core", "a": "tower", "b": "tower", "c": "tower"}
    links = {"l1": ("core", "a"), "l2": ("a", "b"), "l3": ("b", "c"), "l4": ("c", "core")}
    net = Network(make_inventory(ring, links))
    net.los(100, "l1", "core")
    net.los(100, "l1", "a")
    net.los(110, "l3", "c")
    net.unreachable(170, "a")
    net.unreachable(170, "b")
    net.los(1000, "l3", "c", severity="cleared")  # b's "unreachable" clear is lost
    assert net.alarm("b", "nms").cleared_time_s == 1000
    assert net.alarm("a", "nms").cleared_time_s is None
    (root,) = net.roots()
    assert root.alarmed_object == "l1"


def test_a_clear_overtaking_the_problem_of_a_later_episode_leaves_it_cleared() -> None:
    # t1 is cut off at 100 and back at 200; again at 1000 and back at 1001: the second
    # "element unreachable" (raised at 1000) arrives after its own clear.
    net = Network()
    net.los(100, "l-t1", "agg1")
    net.unreachable(160, "t1")
    net.los(200, "l-t1", "agg1", severity="cleared")
    net.unreachable(200, "t1", severity="cleared")
    net.unreachable(1003, "t1", severity="cleared", event_time_s=1001)
    net.unreachable(1010, "t1", event_time_s=1000)
    assert net.alarm("t1", "nms").cleared_time_s == 1001
    assert net.fm.active() == []


def test_a_stale_loss_of_signal_under_a_flap_clears_when_the_tower_behind_is_back() -> None:
    # The flap of l-t1 ends with its last loss-of-signal clear lost; t1 is back in reach (its
    # "element unreachable" clears), so l-t1 works: once the flap is over nothing is left.
    net = Network(flap_threshold=4, flap_window_s=900)
    for cycle in range(4):
        t = 1000 + 200 * cycle
        net.los(t, "l-t1", "agg1")
        net.unreachable(t + 60, "t1")
        net.los(t + 100, "l-t1", "agg1", severity="cleared")
        net.unreachable(t + 110, "t1", severity="cleared")
    net.los(1800, "l-t1", "agg1")
    net.unreachable(1860, "t1")
    net.unreachable(1910, "t1", severity="cleared")  # the loss of signal's clear is lost
    assert net.alarm("l-t1", "agg1").cleared_time_s == 1910
    net.bus.publish(RunEnded(5000))
    assert net.fm.active() == []
