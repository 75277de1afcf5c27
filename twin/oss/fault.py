"""Fault management: the operator's alarm list, built from the network's alarm notifications
the way OpenNMS builds it, with root causes found by topology and time.

:class:`FaultManagement` subscribes to the bus for the :class:`~twin.feed.Inventory`, the
:class:`~twin.feed.AlarmNotification` records and :class:`~twin.feed.RunEnded`, and publishes
an :class:`~twin.oss.records.AlarmChange` for every change of every alarm. It never reads the
simulator's state changes (``ResourceStateChange``): those are the simulator's perfect view,
which a real OSS does not have. docs/fault-management.md says why each rule is what it is.

Lifecycle: a notification's *reduction key* (object, source, type, cause, problem) folds
repeats into one alarm (``count`` and ``last_event_time_s`` grow); a clear carries the same
fields, so its *clear key* is the problem's reduction key. A duplicate (a notification id
seen before) changes nothing. A notification raised before the alarm's clear but delivered
after it folds in without changing the severity; one raised after the clear raises the alarm
again. A clear that was lost is made up for by the next thing the twin learns: the element
speaking again clears its "element unreachable", an element that regains its management path
re-reports its active alarms (a resync) and what it does not re-report within
``resync_window_s`` is cleared, and the clear of any alarm that proves its root-cause resource
works again clears that root with all its children.

Root cause: the problems whose events fall within ``correlation_window_s`` of each other form
an incident; :func:`twin.oss.correlation.cover` assigns each of them to the failed resource
that explains it, and the twin raises one synthetic root-cause alarm (source ``twin``) per
such resource, with the notifications' alarms as its children.

Threshold alarms: a :class:`~twin.oss.records.ThresholdEvent` from the threshold monitor
raises, changes or clears a qualityOfServiceAlarm (source ``pm``) carrying X.733's
crossedThresholdInformation. It is not evidence of a failure, so root cause never reads it;
when it is raised, an active root whose failure explains it takes it as a child: the cell's
tower cut off by it, or the link's traffic rerouted onto it (:mod:`twin.oss.routes`). Its life
is the threshold's: a root clearing lets it go rather than clearing it, and it never keeps a
root alive (docs/thresholds.md).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from twin.bus import Bus
from twin.feed import (
    AlarmNotification,
    AlarmType,
    Inventory,
    PerceivedSeverity,
    RunEnded,
)
from twin.oss.correlation import NODE_KINDS, Evidence, cover, explanations, proven_up
from twin.oss.inventory import Impact, InventoryMirror, impact, isolated_by
from twin.oss.records import (
    AlarmChange,
    AlarmChangeKind,
    AlarmedObjectKind,
    CrossedThreshold,
    ThresholdEvent,
)
from twin.oss.routes import Routing

__all__ = ["FaultManagement", "reduction_key"]

# A duplicate arrives within the delivery delays of its first copy; ids older than this are
# forgotten, so a month-long run keeps a bounded set.
_DEDUP_HORIZON_S = 6 * 3600.0
_COALESCE_S = 1.0  # how long a root's growth may wait to be published (see _touch)
TWIN_SOURCE = "twin"  # the source of the alarms the twin raises itself (roots, flapping)
THRESHOLD_SOURCE = "pm"  # the source of threshold alarms: the twin's performance management
_SEVERITY_RANK = {"cleared": 0, "indeterminate": 1, "warning": 2, "minor": 3, "major": 4}
_SEVERITY_RANK["critical"] = 5


def reduction_key(notification: AlarmNotification) -> str:
    """The key that folds a notification into its alarm (OpenNMS's reduction key); a clear's
    key is the same, since a clear repeats its problem's object, source, type and cause."""
    n = notification
    return "|".join(
        (n.alarm_type, n.probable_cause, n.specific_problem, n.alarmed_object, n.source)
    )


@dataclass
class _Alarm:
    """The live state of one alarm; :meth:`snapshot` makes the published record."""

    alarm_id: int
    alarmed_object: str
    alarmed_object_type: AlarmedObjectKind
    source: str
    alarm_type: AlarmType
    perceived_severity: PerceivedSeverity
    probable_cause: str
    specific_problem: str
    raised_time_s: float
    last_event_time_s: float
    planned_outage: bool = False
    cleared_time_s: float | None = None
    ack_state: Literal["acknowledged", "unacknowledged"] = "unacknowledged"
    count: int = 1
    is_root_cause: bool = False
    parent_alarm: int | None = None
    children: set[int] = field(default_factory=set)
    candidates: tuple[str, ...] = ()
    flapping: bool = False
    crossed: CrossedThreshold | None = None  # a threshold alarm's crossedThresholdInformation

    @property
    def active(self) -> bool:
        return self.cleared_time_s is None

    @property
    def synthetic(self) -> bool:
        return self.source == TWIN_SOURCE

    def snapshot(self, time_s: float, change: AlarmChangeKind) -> AlarmChange:
        return AlarmChange(
            time_s=time_s,
            change=change,
            alarm_id=self.alarm_id,
            alarmed_object=self.alarmed_object,
            alarmed_object_type=self.alarmed_object_type,
            source=self.source,
            alarm_type=self.alarm_type,
            perceived_severity=self.perceived_severity,
            probable_cause=self.probable_cause,
            specific_problem=self.specific_problem,
            raised_time_s=self.raised_time_s,
            cleared_time_s=self.cleared_time_s,
            ack_state=self.ack_state,
            count=self.count,
            last_event_time_s=self.last_event_time_s,
            planned_outage=self.planned_outage,
            is_root_cause=self.is_root_cause,
            parent_alarm=self.parent_alarm,
            correlated_alarms=tuple(sorted(self.children)),
            root_candidates=self.candidates if len(self.candidates) > 1 else (),
            crossed_threshold=self.crossed,
        )


@dataclass
class _Incident:
    """Problems close in event time, and the root-cause alarms explaining them."""

    start_s: float
    members: set[int] = field(default_factory=set)
    roots: list[int] = field(default_factory=list)


@dataclass
class _Resync:
    """An element back on its management path, whose old alarms must be re-reported."""

    started_s: float
    deadline_s: float
    pending: set[int]


class FaultManagement:
    """The alarm list: lifecycle, flapping, root cause; a bus subscriber.

    Parameters
    ----------
    bus
        The twin's bus: this subscribes to ``Inventory``, ``AlarmNotification`` and
        ``RunEnded`` and publishes ``AlarmChange`` records on it.
    correlation_window_s
        How far apart in event time two problems may be and still be explained together.
        By default ``heartbeat_timeout_s + 2 * mean_delay_s + 10``: "element unreachable"
        comes a heartbeat timeout after the fault, and delivery delays shift the rest.
    mean_delay_s, heartbeat_timeout_s
        The management system's figures the default window is made from.
    flap_threshold, flap_window_s
        A resource whose alarms change state (raise or clear) more than ``flap_threshold``
        times within ``flap_window_s`` seconds of event time gets one flapping alarm that
        takes its alarms under it, until it has been quiet for ``flap_window_s``. Defaults:
        4 changes in 600 s (two down-and-up cycles pass, a third starts a flap).
    resync_window_s
        How long an element back on its management path has to re-report an active alarm
        before the twin takes that alarm's clear as lost and clears it (default 60 s).
    """

    def __init__(
        self,
        bus: Bus,
        *,
        correlation_window_s: float | None = None,
        mean_delay_s: float = 5.0,
        heartbeat_timeout_s: float = 60.0,
        flap_threshold: int = 4,
        flap_window_s: float = 600.0,
        resync_window_s: float = 60.0,
    ) -> None:
        if correlation_window_s is None:
            correlation_window_s = heartbeat_timeout_s + 2 * mean_delay_s + 10.0
        if correlation_window_s < 0 or flap_window_s <= 0 or resync_window_s < 0:
            raise ValueError("fault management windows must be positive")
        if flap_threshold < 1:
            raise ValueError("flap_threshold must be at least 1")
        self.correlation_window_s = correlation_window_s
        self.flap_threshold = flap_threshold
        self.flap_window_s = flap_window_s
        self.resync_window_s = resync_window_s
        self.mirror: InventoryMirror | None = None
        self.routing: Routing | None = None
        self.duplicates = 0  # notifications delivered again, dropped
        self._publish: Callable[[Any], None] = bus.publish
        self._now = 0.0
        self._next_id = 1
        self._alarms: dict[int, _Alarm] = {}
        self._by_key: dict[str, int] = {}
        self._by_object: dict[str, set[int]] = {}
        self._by_source: dict[str, set[int]] = {}
        self._seen: dict[int, float] = {}  # notification id -> when it arrived
        self._seen_limit = 10_000
        self._early_clears: dict[str, float] = {}
        self._explained: dict[int, frozenset[str]] = {}
        self._incidents: list[_Incident] = []
        self._incident_of: dict[int, _Incident] = {}
        self._transitions: dict[str, deque[tuple[float, bool]]] = {}
        self._flapping: dict[str, int] = {}
        self._resyncs: dict[str, _Resync] = {}
        self._history: list[AlarmChange] = []
        self._latest: dict[int, AlarmChange] = {}
        self._pending: dict[int, tuple[float, float, AlarmChangeKind]] = {}
        bus.subscribe(Inventory, self.on_inventory)
        bus.subscribe(AlarmNotification, self.on_notification)
        bus.subscribe(RunEnded, self.on_run_ended)
        bus.subscribe(ThresholdEvent, self.on_threshold)

    # -- the bus ------------------------------------------------------------------------
    def on_inventory(self, inventory: Inventory) -> None:
        self.mirror = InventoryMirror.from_inventory(inventory)
        self.routing = Routing(self.mirror, inventory.link_latency_ms)
        self._explained.clear()

    def on_run_ended(self, ended: RunEnded) -> None:
        self._advance(ended.time_s)
        self._flush()

    def on_notification(self, n: AlarmNotification) -> None:
        self._advance(n.time_s)
        if n.notification_id in self._seen:
            self.duplicates += 1
            return
        self._seen[n.notification_id] = n.time_s
        key = reduction_key(n)
        self._element_speaks(n, key)
        if n.perceived_severity == "cleared":
            self._network_clear(n, key)
        else:
            self._problem(n, key)

    def on_threshold(self, event: ThresholdEvent) -> None:
        """A threshold's alarm raised, changed or cleared for one resource (see the module
        docstring: not evidence for root cause, but a child of the root that explains it)."""
        self._advance(event.time_s)
        c = event.crossed
        word = "above" if c.direction == "high" else "below"
        problem = f"{c.kpi} {word} threshold"
        key = "|".join(
            ("qualityOfServiceAlarm", "thresholdCrossed", problem, event.resource, THRESHOLD_SOURCE)
        )
        alarm_id = self._by_key.get(key)
        alarm = None if alarm_id is None else self._alarms[alarm_id]
        if event.perceived_severity == "cleared":
            if alarm is not None and alarm.active:
                alarm.crossed = c
                alarm.cleared_time_s = event.time_s
                alarm.perceived_severity = "cleared"
                self._emit(alarm, "cleared")
            return
        if alarm is None:
            alarm = _Alarm(
                alarm_id=self._next_id,
                alarmed_object=event.resource,
                alarmed_object_type=event.resource_kind,
                source=THRESHOLD_SOURCE,
                alarm_type="qualityOfServiceAlarm",
                perceived_severity=event.perceived_severity,
                probable_cause="thresholdCrossed",
                specific_problem=problem,
                raised_time_s=event.time_s,
                last_event_time_s=event.time_s,
                crossed=c,
            )
            self._next_id += 1
            self._alarms[alarm.alarm_id] = alarm
            self._by_key[key] = alarm.alarm_id
            self._emit(alarm, "raised")
            self._attribute(alarm)
            return
        alarm.crossed = c
        alarm.count += 1
        alarm.last_event_time_s = event.time_s
        alarm.perceived_severity = event.perceived_severity
        if alarm.active:
            self._emit(alarm, "severity")
            return
        alarm.cleared_time_s = None
        alarm.raised_time_s = event.time_s
        alarm.ack_state = "unacknowledged"
        old = self._alarms.get(alarm.parent_alarm) if alarm.parent_alarm else None
        if old is not None:
            old.children.discard(alarm.alarm_id)
        alarm.parent_alarm = None
        self._emit(alarm, "reraised")
        self._attribute(alarm)

    def _attribute(self, alarm: _Alarm) -> None:
        """Put a threshold alarm under the oldest active root whose failure explains it: a
        cell's or tower's, when the failure alone cuts its tower off (the cell, the tower or
        one of its isolators), else when the tower is cut off by the roots together and would
        not be without it; a link's, when it is the link or one of its ends, or when it puts
        some tower's traffic on the link that did not cross it before."""
        if self.mirror is None or self.routing is None:
            return
        roots = sorted(
            (
                self._alarms[r]
                for incident in self._incidents
                for r in incident.roots
                if self._alarms[r].active
            ),
            key=lambda r: (r.raised_time_s, r.alarm_id),
        )
        if not roots:
            return
        mirror, resource = self.mirror, alarm.alarmed_object
        kind = alarm.alarmed_object_type
        if kind in ("cell", "tower"):
            tower = mirror.tower_of(resource) if resource in mirror.cell_index else resource
            if tower not in mirror.node_index:
                return
            # a single failure that cuts the tower off (cheap: the tower's isolators are known)
            single = {resource, tower} | mirror.isolators(tower)
            root = next((r for r in roots if r.alarmed_object in single), None)
            if root is None:  # failures that cut it off together: one search per set of roots
                down = frozenset(r.alarmed_object for r in roots)
                node = mirror.node_index[tower]
                if node in isolated_by(mirror, down):
                    root = next(
                        (
                            r
                            for r in roots
                            if node not in isolated_by(mirror, down - {r.alarmed_object})
                        ),
                        None,
                    )
        elif kind == "link" and resource in mirror.link_index:
            down = frozenset(r.alarmed_object for r in roots)
            ends = mirror.link_ends(resource)
            root = next(
                (
                    r
                    for r in roots
                    if r.alarmed_object == resource
                    or r.alarmed_object in ends
                    or self.routing.rerouted_onto(resource, r.alarmed_object, down)
                ),
                None,
            )
        else:
            return
        if root is not None:
            alarm.parent_alarm = root.alarm_id
            root.children.add(alarm.alarm_id)
            self._emit(alarm, "correlated")
            self._touch(root, "correlated")

    def _let_go(self, root: _Alarm, child: _Alarm, time_s: float) -> None:
        """A root clearing lets its active threshold alarms go: they clear by re-arming."""
        root.children.discard(child.alarm_id)
        child.parent_alarm = None
        self._emit(child, "correlated", time_s)

    def _evidence_left(self, root: _Alarm) -> bool:
        """Whether ``root`` still has an active child that is evidence of its failure (a
        threshold alarm is a consequence, not evidence)."""
        return any(
            (child := self._alarms[c]).active and child.crossed is None for c in root.children
        )

    # -- what operators see and do ------------------------------------------------------
    def active(self, at_time_s: float | None = None) -> list[AlarmChange]:
        """The alarms an operator sees (at ``at_time_s``, by default now): the active ones
        that are no child of another, roots with their children in ``correlated_alarms``,
        oldest first."""
        alarms = self.alarms(at_time_s)
        return [a for a in alarms if a.cleared_time_s is None and a.parent_alarm is None]

    def alarms(self, at_time_s: float | None = None) -> list[AlarmChange]:
        """Every alarm (at ``at_time_s``, by default now) as its last change left it, cleared
        and children included, oldest first."""
        self._flush()
        if at_time_s is None:
            latest = self._latest
        else:
            latest = {}
            for change in self._history:
                if change.time_s <= at_time_s:
                    latest[change.alarm_id] = change
        return sorted(latest.values(), key=lambda a: (a.raised_time_s, a.alarm_id))

    @property
    def changes(self) -> tuple[AlarmChange, ...]:
        """Every change published so far, in order."""
        self._flush()
        return tuple(self._history)

    def acknowledge(self, alarm_id: int, at_time_s: float | None = None) -> AlarmChange:
        return self._set_ack(alarm_id, "acknowledged", at_time_s)

    def unacknowledge(self, alarm_id: int, at_time_s: float | None = None) -> AlarmChange:
        return self._set_ack(alarm_id, "unacknowledged", at_time_s)

    def clear(self, alarm_id: int, at_time_s: float | None = None) -> AlarmChange:
        """An operator clears an alarm (a root with its children); returns its record."""
        alarm = self._alarm(alarm_id)
        time_s = self._now if at_time_s is None else at_time_s
        self._flush()
        if alarm.active:
            self._clear(alarm, time_s, time_s, proof=False)
        return alarm.snapshot(time_s, "cleared")

    def impact(self, alarm_id: int, monthly_fee: Mapping[str, Decimal] | None = None) -> Impact:
        """What the alarm's resource takes down with it (its likeliest cause, for a root)."""
        if self.mirror is None:
            raise RuntimeError("no inventory yet")
        return impact(self.mirror, self._alarm(alarm_id).alarmed_object, monthly_fee)

    # -- lifecycle ----------------------------------------------------------------------
    def _problem(self, n: AlarmNotification, key: str) -> None:
        alarm_id = self._by_key.get(key)
        if alarm_id is None:
            alarm = self._new_alarm(n, key)
            self._emit(alarm, "raised")
            self._begin_episode(alarm, n, key)
            return
        alarm = self._alarms[alarm_id]
        alarm.count += 1
        alarm.last_event_time_s = max(alarm.last_event_time_s, n.event_time_s)
        if alarm.active:
            if alarm.perceived_severity != n.perceived_severity:
                alarm.perceived_severity = n.perceived_severity
                self._emit(alarm, "severity")
            else:
                self._emit(alarm, "reduced")
            self._refresh_parent(alarm)
        elif alarm.cleared_time_s is not None and n.event_time_s <= alarm.cleared_time_s:
            self._emit(alarm, "reduced")  # raised before its clear: no severity change
        else:
            alarm.cleared_time_s = None
            alarm.perceived_severity = n.perceived_severity
            alarm.raised_time_s = n.event_time_s
            alarm.ack_state = "unacknowledged"
            alarm.planned_outage = n.planned_outage
            if not self._under_flapping(alarm):
                self._detach(alarm)  # a new episode: its cause is found afresh
            self._emit(alarm, "reraised")
            self._begin_episode(alarm, n, key)

    def _begin_episode(self, alarm: _Alarm, n: AlarmNotification, key: str) -> None:
        """Count a new or re-raised problem towards flapping (which correlates it), or, when
        its clear arrived first, clear it at once."""
        early = self._early_clears.pop(key, None)
        if early is not None and early >= n.event_time_s:  # its clear overtook it
            self._clear(alarm, self._now, early)
            # both changes still count towards flapping (the alarm, cleared, correlates nowhere)
            self._state_changed(alarm, n.event_time_s, cleared=False)
            self._state_changed(alarm, early, cleared=True)
            self._cleared_by_network(alarm, early)
            return
        self._state_changed(alarm, n.event_time_s, cleared=False)

    def _network_clear(self, n: AlarmNotification, key: str) -> None:
        alarm_id = self._by_key.get(key)
        if alarm_id is None:
            self._early_clears[key] = max(
                n.event_time_s, self._early_clears.get(key, n.event_time_s)
            )
            return
        alarm = self._alarms[alarm_id]
        if not alarm.active and alarm.cleared_time_s is not None:
            if n.event_time_s > alarm.cleared_time_s:  # a later episode's, ahead of its problem
                self._early_clears[key] = max(
                    n.event_time_s, self._early_clears.get(key, n.event_time_s)
                )
            return
        if n.event_time_s < alarm.raised_time_s:
            return  # the clear of an earlier episode arriving late
        self._clear(alarm, self._now, n.event_time_s)
        self._state_changed(alarm, n.event_time_s, cleared=True)
        self._cleared_by_network(alarm, n.event_time_s)

    def _cleared_by_network(self, alarm: _Alarm, event_s: float) -> None:
        """Draw what the network's clear of ``alarm`` shows of other alarms."""
        far = self._far_end(alarm)
        if far is not None:  # the reporter talks, the link works and the far end is up
            self._reachable_again(far, event_s)
        if alarm.source == "nms" and alarm.alarmed_object_type in NODE_KINDS:
            self._losses_disproved(alarm.alarmed_object, event_s)

    def _losses_disproved(self, node: str, event_s: float) -> None:
        """``node`` is back in reach at ``event_s``, so every link and node on all its paths
        to the cores works: a loss of signal raised before then on such a link, whose far end
        is such a node too, is stale (its clear was lost) and clears."""
        up = proven_up(self.mirror, node, "nms")
        for link in sorted(up):
            for alarm_id in sorted(self._by_object.get(link, ())):
                alarm = self._alarms[alarm_id]
                far = self._far_end(alarm)
                if (
                    alarm.active
                    and far in up
                    and alarm.source != "nms"
                    and alarm.last_event_time_s < event_s
                ):
                    self._clear(alarm, self._now, event_s)

    def _far_end(self, alarm: _Alarm) -> str | None:
        """The far end of a loss of signal's link, seen from its reporter (else None)."""
        if self.mirror is None or self.mirror.kind(alarm.alarmed_object) != "link":
            return None
        a, b = self.mirror.link_ends(alarm.alarmed_object)
        return {a: b, b: a}.get(alarm.source)

    def _reachable_again(self, node: str, event_s: float) -> None:
        """``node`` was reachable at ``event_s``: its "element unreachable" raised before
        then clears (the management system's own clear may have been lost)."""
        for alarm_id in sorted(self._by_object.get(node, ())):
            alarm = self._alarms[alarm_id]
            if alarm.active and alarm.source == "nms" and alarm.last_event_time_s < event_s:
                self._clear(alarm, self._now, event_s)
                self._state_changed(alarm, event_s, cleared=True)

    def _clear(self, alarm: _Alarm, time_s: float, cleared_s: float, *, proof: bool = True) -> None:
        """Clear ``alarm`` (and a root's or flapping alarm's children), then draw what its
        clear proves, when it comes from the network (``proof``; an operator's proves
        nothing): a root whose resource is shown to work again clears too, as does a root
        left with no active child."""
        alarm.cleared_time_s = cleared_s
        alarm.perceived_severity = "cleared"
        self._emit(alarm, "cleared", time_s)
        if alarm.synthetic:
            for child_id in sorted(alarm.children):
                child = self._alarms[child_id]
                if child.active and child.crossed is not None:
                    self._let_go(alarm, child, time_s)
                elif child.active:
                    self._clear(child, time_s, cleared_s, proof=proof)
            if alarm.flapping:
                self._flapping.pop(alarm.alarmed_object, None)
            return
        if proof and alarm.source == "nms" and alarm.alarmed_object_type in NODE_KINDS:
            self._start_resync(alarm.alarmed_object, time_s)
        parent = self._alarms.get(alarm.parent_alarm) if alarm.parent_alarm else None
        if parent is None or not parent.active or parent.flapping:
            return
        up = proven_up(self.mirror, alarm.alarmed_object, alarm.source) if proof else set()
        if set(parent.candidates) <= up or not self._evidence_left(parent):
            self._clear(parent, time_s, time_s)

    def _set_ack(
        self, alarm_id: int, state: Literal["acknowledged", "unacknowledged"], at: float | None
    ) -> AlarmChange:
        alarm = self._alarm(alarm_id)
        time_s = self._now if at is None else at
        self._flush()
        if alarm.ack_state != state:
            alarm.ack_state = state
            self._emit(
                alarm, "acknowledged" if state == "acknowledged" else "unacknowledged", time_s
            )
        return alarm.snapshot(time_s, state)

    def _element_speaks(self, n: AlarmNotification, key: str) -> None:
        """An element that reports is reachable: its "element unreachable" (whose clear may
        be lost) clears, and what it says counts towards its resync."""
        if n.source != "nms":
            self._reachable_again(n.source, n.event_time_s)
        resync = self._resyncs.get(n.source)
        if resync is not None and n.time_s >= resync.started_s and key in self._by_key:
            resync.pending.discard(self._by_key[key])

    def _start_resync(self, element: str, time_s: float) -> None:
        pending = {
            i
            for i in self._by_source.get(element, ())
            if self._alarms[i].active and not self._alarms[i].flapping
        }
        if pending:
            self._resyncs[element] = _Resync(time_s, time_s + self.resync_window_s, pending)

    def _advance(self, now: float) -> None:
        """Move the twin's clock: resyncs past their deadline clear what was not re-reported,
        flapping resources quiet for a window stop flapping, finished incidents go."""
        self._flush(now)
        self._now = max(self._now, now)
        for element, resync in list(self._resyncs.items()):
            if resync.deadline_s < self._now:
                del self._resyncs[element]
                for alarm_id in sorted(resync.pending):
                    alarm = self._alarms[alarm_id]
                    if alarm.active and alarm.last_event_time_s <= resync.started_s:
                        self._clear(alarm, resync.deadline_s, resync.deadline_s)
        for resource, flap_id in list(self._flapping.items()):
            last = max(t for t, _ in self._transitions[resource])
            if last + self.flap_window_s < self._now:
                self._stop_flapping(self._alarms[flap_id], last + self.flap_window_s)
        if len(self._seen) > self._seen_limit:  # memory stays flat over a long run
            oldest = self._now - _DEDUP_HORIZON_S
            self._seen = {i: t for i, t in self._seen.items() if t >= oldest}
            self._seen_limit = max(2 * len(self._seen), 10_000)
        horizon = self._now - 2 * self.correlation_window_s
        if self._incidents and self._incidents[0].start_s < horizon:
            keep = []
            for incident in self._incidents:
                if incident.start_s >= horizon or any(
                    self._alarms[i].active for i in incident.members
                ):
                    keep.append(incident)
                else:
                    for i in incident.members:
                        self._incident_of.pop(i, None)
            self._incidents = keep

    # -- flapping -----------------------------------------------------------------------
    def _state_changed(self, alarm: _Alarm, event_s: float, *, cleared: bool) -> None:
        """Count a raise or clear towards its resource's flapping; correlate a new problem."""
        resource = alarm.alarmed_object
        changes = self._transitions.setdefault(resource, deque())
        if (event_s, cleared) not in changes:  # both ends of a link report the same change
            changes.append((event_s, cleared))
            while changes and changes[0][0] < event_s - self.flap_window_s:
                changes.popleft()
        flap_id = self._flapping.get(resource)
        if flap_id is None and self._flapping:  # e.g. the towers behind a flapping link
            explained = self._explanations(alarm)
            flap_id = next((f for r, f in sorted(self._flapping.items()) if r in explained), None)
        if flap_id is not None:
            flap = self._alarms[flap_id]
            flap.count += 1
            flap.last_event_time_s = max(flap.last_event_time_s, event_s)
            self._emit(flap, "reduced")
            if alarm.active and alarm.parent_alarm != flap_id:
                self._adopt(flap, alarm)
            return
        recent = [c for c in changes if c[0] >= event_s - self.flap_window_s]
        if len(recent) > self.flap_threshold:
            self._start_flapping(alarm, len(recent))
        elif alarm.active:
            self._correlate(alarm)

    def _start_flapping(self, alarm: _Alarm, changes: int) -> None:
        resource = alarm.alarmed_object
        flap = self._new_synthetic(
            resource,
            alarm.alarmed_object_type,
            alarm.alarm_type,
            "flapping",
            f"flapping: {changes} state changes within {self.flap_window_s:g} s",
            alarm.raised_time_s,
        )
        flap.flapping = True
        flap.perceived_severity = "major"
        # What flaps may be the element or what cuts it off (its uplink): the alarms of a flap
        # tell them apart no better than one outage's do, so the flapping alarm names them all.
        candidates = self._explanations(alarm)
        if len(candidates) > 1:
            flap.candidates = tuple(sorted(candidates))
        self._flapping[resource] = flap.alarm_id
        self._emit(flap, "flapping")
        for other_id in sorted(self._by_object.get(resource, ())):
            other = self._alarms[other_id]
            if other.active and not other.synthetic and other.crossed is None:
                self._adopt(flap, other)

    def _stop_flapping(self, flap: _Alarm, time_s: float) -> None:
        still = [self._alarms[c] for c in sorted(flap.children) if self._alarms[c].active]
        for child in still:  # the resource is quiet but still down: back to root cause
            flap.children.discard(child.alarm_id)
            child.parent_alarm = None
        self._clear(flap, time_s, time_s)
        for child in still:
            self._emit(child, "correlated", time_s)
            self._correlate(child)

    def _adopt(self, parent: _Alarm, child: _Alarm) -> None:
        """Put ``child`` under ``parent`` (a flapping alarm), out of any root it was under."""
        self._detach(child)
        child.parent_alarm = parent.alarm_id
        parent.children.add(child.alarm_id)
        self._emit(child, "correlated")
        self._emit(parent, "correlated")

    def _detach(self, child: _Alarm) -> None:
        old = self._alarms.get(child.parent_alarm) if child.parent_alarm else None
        incident = self._incident_of.pop(child.alarm_id, None)
        if incident is not None:
            incident.members.discard(child.alarm_id)
        if old is None:
            return
        old.children.discard(child.alarm_id)
        child.parent_alarm = None
        if old.active and not old.flapping and not self._evidence_left(old):
            self._clear(old, self._now, self._now)
        elif old.active:
            self._emit(old, "correlated")

    # -- root cause ---------------------------------------------------------------------
    def _explanations(self, alarm: _Alarm) -> frozenset[str]:
        found = self._explained.get(alarm.alarm_id)
        if found is None:
            found = explanations(self.mirror, alarm.alarmed_object, alarm.source)
            self._explained[alarm.alarm_id] = found
        return found

    def _correlate(self, alarm: _Alarm) -> None:
        """Give a new or re-raised problem to the root cause that explains it."""
        event_s, window = alarm.raised_time_s, self.correlation_window_s
        near = [i for i in self._incidents if i.start_s - window <= event_s <= i.start_s + window]
        if near:
            incident = min(near, key=lambda i: (abs(i.start_s - event_s), i.start_s))
            incident.start_s = min(incident.start_s, event_s)
        else:
            incident = _Incident(event_s)
            self._incidents.append(incident)
            self._incidents.sort(key=lambda i: i.start_s)
        previous = self._incident_of.get(alarm.alarm_id)
        if previous is not None:
            previous.members.discard(alarm.alarm_id)
        incident.members.add(alarm.alarm_id)
        self._incident_of[alarm.alarm_id] = incident
        explained_by = self._explanations(alarm)
        # fast path: every candidate of an active root explains it. That root's own incident
        # first, then any other: an unrelated fault starting just before may have drawn this
        # alarm into its incident, and the fault it belongs to has a root already.
        for holder in [incident, *(i for i in self._incidents if i is not incident)]:
            for root_id in holder.roots:
                root = self._alarms[root_id]
                if root.active and set(root.candidates) <= explained_by:
                    self._move(alarm, incident, holder)
                    self._set_parent(alarm, root)
                    self._touch(root, "correlated")
                    return
        self._recorrelate(incident)

    def _move(self, alarm: _Alarm, from_: _Incident, to: _Incident) -> None:
        """Make ``alarm`` a member of incident ``to`` instead of ``from_``."""
        if from_ is not to:
            from_.members.discard(alarm.alarm_id)
            to.members.add(alarm.alarm_id)
            self._incident_of[alarm.alarm_id] = to

    def _root_elsewhere(
        self, candidates: tuple[str, ...], incident: _Incident
    ) -> tuple[_Alarm, _Incident] | None:
        """An active root of another incident that names ``candidates[0]`` among its own
        candidates, with its incident."""
        for other in self._incidents:
            if other is incident:
                continue
            for root_id in other.roots:
                root = self._alarms[root_id]
                if root.active and candidates[0] in root.candidates:
                    return root, other
        return None

    def _recorrelate(self, incident: _Incident) -> None:
        evidence = {
            i: Evidence(self._explanations(alarm), alarm.alarmed_object, _role(alarm))
            for i in sorted(incident.members)
            if (alarm := self._alarms[i]).active and not self._under_flapping(alarm)
        }
        old_roots = [self._alarms[r] for r in incident.roots if self._alarms[r].active]
        new_roots: list[int] = []
        for explanation in cover(evidence, self.mirror, self._known_down(incident)):
            # the same root goes on (same id) if it explained some of these alarms already,
            # or named one of these causes: a cause narrowing is one root, not two
            free = [r for r in old_roots if r.alarm_id not in new_roots]
            shared = {r.alarm_id: len(r.children & explanation.alarms) for r in free}
            root = max(
                (r for r in free if shared[r.alarm_id]),
                key=lambda r: (shared[r.alarm_id], -r.alarm_id),
                default=None,
            ) or next((r for r in free if set(r.candidates) & set(explanation.candidates)), None)
            children = [self._alarms[i] for i in sorted(explanation.alarms)]
            primary = explanation.candidates[0]
            kind = self._kind(primary, children[0])
            elsewhere = (
                None if root is not None else self._root_elsewhere(explanation.candidates, incident)
            )
            if elsewhere is not None:  # never a second root for one resource: join it
                self._join_elsewhere(children, explanation.candidates, incident, *elsewhere)
                continue
            if root is None:
                root = self._new_synthetic(
                    primary,
                    kind,
                    _ROOT_TYPE.get(kind, "communicationsAlarm"),
                    _ROOT_CAUSE.get(kind, "unknown"),
                    _root_problem(explanation.candidates, kind),
                    min(c.raised_time_s for c in children),
                )
                root.is_root_cause = True
                change: AlarmChangeKind = "raised"
            else:
                change = "correlated"
                self._name_root(root, explanation.candidates, kind)
            root.candidates = explanation.candidates
            root.raised_time_s = min(root.raised_time_s, *(c.raised_time_s for c in children))
            moved = [c for c in children if c.parent_alarm != root.alarm_id]
            self._reparent(root, moved)
            self._refresh_root(root)
            self._emit(root, change)
            for child in moved:
                self._emit(child, "correlated")
            new_roots.append(root.alarm_id)
        for old in old_roots:
            if old.alarm_id not in new_roots and old.active:
                self._clear(old, self._now, self._now)  # its alarms went to other causes
        incident.roots = new_roots

    def _reparent(self, root: _Alarm, moved: list[_Alarm]) -> None:
        """Put ``moved`` under ``root``, out of the roots they were under."""
        for child in moved:
            old = self._alarms.get(child.parent_alarm) if child.parent_alarm else None
            if old is not None:
                old.children.discard(child.alarm_id)
            child.parent_alarm = root.alarm_id
            root.children.add(child.alarm_id)

    def _join_elsewhere(
        self,
        children: list[_Alarm],
        candidates: tuple[str, ...],
        incident: _Incident,
        root: _Alarm,
        holder: _Incident,
    ) -> None:
        """Put ``children`` (alarms of ``incident``, explained by ``candidates``) under
        ``root``, an active root of another incident (``holder``) naming ``candidates[0]``
        too; the root narrows to the candidates both name."""
        narrowed = tuple(c for c in root.candidates if c in candidates)
        if narrowed != root.candidates:
            self._name_root(root, narrowed, self._kind(narrowed[0], children[0]))
            root.candidates = narrowed
        moved = [c for c in children if c.parent_alarm != root.alarm_id]
        for child in children:
            self._move(child, incident, holder)
        self._reparent(root, moved)
        self._refresh_root(root)
        root.last_event_time_s = max(
            root.last_event_time_s, *(c.last_event_time_s for c in children)
        )
        self._emit(root, "correlated")
        for child in moved:
            self._emit(child, "correlated")

    def _name_root(
        self, root: _Alarm, candidates: tuple[str, ...], kind: AlarmedObjectKind
    ) -> None:
        root.alarmed_object, root.alarmed_object_type = candidates[0], kind
        root.alarm_type = _ROOT_TYPE.get(kind, "communicationsAlarm")
        root.probable_cause = _ROOT_CAUSE.get(kind, "unknown")
        root.specific_problem = _root_problem(candidates, kind)

    def _known_down(self, incident: _Incident) -> frozenset[str]:
        """The resources the twin already believes failed: those of the active roots of other
        incidents (the likeliest candidate of each), so that a second cut is seen with the
        first (docs/fault-management.md, "Cover")."""
        return frozenset(
            root.alarmed_object
            for other in self._incidents
            if other is not incident
            for r in other.roots
            if (root := self._alarms[r]).active
        )

    def _under_flapping(self, alarm: _Alarm) -> bool:
        parent = self._alarms.get(alarm.parent_alarm) if alarm.parent_alarm else None
        return parent is not None and parent.flapping

    def _set_parent(self, child: _Alarm, root: _Alarm) -> None:
        child.parent_alarm = root.alarm_id
        root.children.add(child.alarm_id)
        self._fold_into_root(root, child)
        self._emit(child, "correlated")

    def _fold_into_root(self, root: _Alarm, child: _Alarm) -> None:
        """Update a root for one more or changed active child, without a pass over all."""
        rank = _SEVERITY_RANK[child.perceived_severity]
        if rank >= _SEVERITY_RANK[root.perceived_severity]:
            root.perceived_severity = child.perceived_severity
        else:
            self._refresh_root(root)  # a child's severity went down: look at them all
        root.last_event_time_s = max(root.last_event_time_s, child.last_event_time_s)
        root.planned_outage = root.planned_outage and child.planned_outage

    def _refresh_root(self, root: _Alarm) -> None:
        active = [
            child
            for c in root.children
            if (child := self._alarms[c]).active and child.crossed is None
        ]
        if active:
            root.perceived_severity = max(
                (c.perceived_severity for c in active), key=_SEVERITY_RANK.__getitem__
            )
            root.last_event_time_s = max(c.last_event_time_s for c in active)
            root.planned_outage = all(c.planned_outage for c in active)

    def _refresh_parent(self, alarm: _Alarm) -> None:
        parent = self._alarms.get(alarm.parent_alarm) if alarm.parent_alarm else None
        if parent is not None and parent.is_root_cause and parent.active:
            before = (parent.perceived_severity, parent.last_event_time_s)
            self._fold_into_root(parent, alarm)
            if parent.perceived_severity != before[0]:
                self._emit(parent, "severity")
            elif parent.last_event_time_s != before[1]:
                self._touch(parent, "reduced")

    # -- bookkeeping --------------------------------------------------------------------
    def _kind(self, resource: str, example: _Alarm) -> AlarmedObjectKind:
        kind = self.mirror.kind(resource) if self.mirror is not None else None
        return kind or example.alarmed_object_type

    def _alarm(self, alarm_id: int) -> _Alarm:
        if alarm_id not in self._alarms:
            raise KeyError(f"no alarm {alarm_id}")
        return self._alarms[alarm_id]

    def _new_alarm(self, n: AlarmNotification, key: str) -> _Alarm:
        alarm = _Alarm(
            alarm_id=self._next_id,
            alarmed_object=n.alarmed_object,
            alarmed_object_type=n.alarmed_object_type,
            source=n.source,
            alarm_type=n.alarm_type,
            perceived_severity=n.perceived_severity,
            probable_cause=n.probable_cause,
            specific_problem=n.specific_problem,
            raised_time_s=n.event_time_s,
            last_event_time_s=n.event_time_s,
            planned_outage=n.planned_outage,
        )
        self._next_id += 1
        self._alarms[alarm.alarm_id] = alarm
        self._by_key[key] = alarm.alarm_id
        self._by_object.setdefault(n.alarmed_object, set()).add(alarm.alarm_id)
        self._by_source.setdefault(n.source, set()).add(alarm.alarm_id)
        return alarm

    def _new_synthetic(
        self,
        resource: str,
        kind: AlarmedObjectKind,
        alarm_type: AlarmType,
        probable_cause: str,
        specific_problem: str,
        raised_s: float,
    ) -> _Alarm:
        alarm = _Alarm(
            alarm_id=self._next_id,
            alarmed_object=resource,
            alarmed_object_type=kind,
            source=TWIN_SOURCE,
            alarm_type=alarm_type,
            perceived_severity="major",
            probable_cause=probable_cause,
            specific_problem=specific_problem,
            raised_time_s=raised_s,
            last_event_time_s=raised_s,
        )
        self._next_id += 1
        self._alarms[alarm.alarm_id] = alarm
        return alarm

    def _touch(self, root: _Alarm, change: AlarmChangeKind) -> None:
        """Publish a root's growth later: in a storm a root gains thousands of children, and
        a record per child, each naming them all, would be quadratic. Its pending changes go
        out together once the twin's clock has moved ``_COALESCE_S`` on, or before any query."""
        since, _, first_change = self._pending.get(root.alarm_id, (self._now, self._now, change))
        self._pending[root.alarm_id] = (since, self._now, first_change)

    def _flush(self, now: float | None = None) -> None:
        """Publish the roots' pending growth (all of it, or what has waited long enough by
        ``now``), each record dated by the root's last change."""
        for alarm_id, (since, last, change) in list(self._pending.items()):
            if now is None or now >= since + _COALESCE_S:
                del self._pending[alarm_id]
                self._emit(self._alarms[alarm_id], change, last)

    def _emit(self, alarm: _Alarm, change: AlarmChangeKind, time_s: float | None = None) -> None:
        self._pending.pop(alarm.alarm_id, None)  # this record carries the latest state
        record = alarm.snapshot(self._now if time_s is None else time_s, change)
        self._latest[alarm.alarm_id] = record
        self._history.append(record)
        self._publish(record)


_ROOT_TYPE: dict[str, AlarmType] = {
    "link": "communicationsAlarm",
    "tower": "equipmentAlarm",
    "aggregation": "equipmentAlarm",
    "core": "equipmentAlarm",
    "cell": "qualityOfServiceAlarm",
}
_ROOT_CAUSE = {
    "link": "linkFailure",
    "tower": "equipmentFailure",
    "aggregation": "equipmentFailure",
    "core": "equipmentFailure",
    "cell": "cellUnavailable",
}


def _role(alarm: _Alarm) -> Literal["local", "unreachable", "cell"]:
    if alarm.alarmed_object_type == "cell":
        return "cell"
    if alarm.source == "nms":
        return "unreachable"
    return "local"


def _root_problem(candidates: tuple[str, ...], kind: str) -> str:
    if len(candidates) == 1:
        return f"root cause: {kind} {candidates[0]} out of service"
    return f"root cause: one of {', '.join(candidates)} (the alarms cannot tell them apart)"
