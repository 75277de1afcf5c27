"""How well fault management did, scored against the simulator's ground truth.

This is the one place on the twin's side that reads the truth (``sim.truth``), and it only
scores: nothing here feeds back into the OSS functions, which must work from the feed alone.
The result is ``summary.json``'s ``alarms`` section.

Definitions (the alarms are the twin's, as they stood at the end of the run):

- A **top-level** alarm has no parent: a root-cause alarm, or a lone alarm. It *names* the
  resources in its ``root_candidates``, or its alarmed object when it has none.
- Each alarm's **true fault**: for a node's dying gasp, the fault on that node; for a node
  unreachable, the fault the truth says took its management path; for a link's loss of
  signal, the fault on the link, else on a far-end node down at that moment. Alarms of the
  twin's own inference (a root it raised on a resource) have none and are not scored.
- A fault is **named** when a top-level alarm names its resource and was raised during the
  fault or stood through part of it (one flapping alarm stands for every cycle of a flap).
  The first such alarm is the fault's root; ``rca_accuracy`` is the share of faults named, and
  ``candidates_mean`` the mean size of the naming sets (1 when the root cause is certain).
- A **child** (an alarm with a parent) is correct when its parent names the child's true
  fault. ``suppression_precision`` is the share of children that are correct;
  ``suppression_recall`` the share of alarms that should be children (every alarm with a true
  fault but the fault's root) that are correct children.
- ``detect_s`` is the mean time from a named fault's start to its root reaching the twin (0
  for a fault whose root was already standing).
- Every episode of an alarm is scored: a problem that clears and comes back is the same alarm
  raised again (``reraised``), and each raise is judged on its own (its last state before the
  next raise); ``raised`` counts these episodes.
- Threshold alarms (``crossed_threshold`` set) are not scored: they say a KPI went past a
  threshold, not which equipment failed, and count nowhere here (not even as children).
- ``compression`` is notifications (distinct ids: a duplicate delivery is not another
  notification) per root-cause alarm.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim.truth import FaultTruth, OutageAttribution
from twin.bus import Bus
from twin.feed import AlarmNotification, Inventory, RunEnded
from twin.oss.records import AlarmChange

__all__ = ["AlarmScorer"]

EPSILON_S = 1e-6  # truth and alarm times are the same floats; this only absorbs rounding


@dataclass(frozen=True)
class _Fault:
    fault_id: int
    resource: str
    start_s: float
    end_s: float

    def covers(self, time_s: float) -> bool:
        return self.start_s - EPSILON_S <= time_s <= self.end_s + EPSILON_S


class AlarmScorer:
    """Listens to the twin's alarm records on the bus; :meth:`score` compares them with the
    truth at the end of the run."""

    def __init__(self) -> None:
        self._notification_ids: set[int] = set()
        self.inventory: Inventory | None = None
        self.ended_s = 0.0
        self._latest: dict[int, AlarmChange] = {}  # by alarm id: each alarm as it is now
        self._episode: dict[int, int] = {}  # by alarm id: how many times it was raised again
        self._episodes: dict[tuple[int, int], AlarmChange] = {}  # each raise as it last stood
        self._first_seen: dict[tuple[int, int], float] = {}

    def attach(self, bus: Bus) -> None:
        bus.subscribe(AlarmNotification, self._on_notification)
        bus.subscribe(AlarmChange, self._on_change)
        bus.subscribe(Inventory, self._on_inventory)
        bus.subscribe(RunEnded, self._on_end)

    @property
    def notifications(self) -> int:
        """Distinct notifications received (a duplicate delivery is the same notification)."""
        return len(self._notification_ids)

    def _on_notification(self, record: AlarmNotification) -> None:
        self._notification_ids.add(record.notification_id)

    def _on_inventory(self, record: Inventory) -> None:
        self.inventory = record

    def _on_end(self, record: RunEnded) -> None:
        self.ended_s = record.time_s

    def _on_change(self, change: AlarmChange) -> None:
        if change.crossed_threshold is not None:
            return  # a threshold alarm: a KPI past its threshold, no equipment fault to score
        if change.change == "reraised":
            self._episode[change.alarm_id] = self._episode.get(change.alarm_id, 0) + 1
        key = (change.alarm_id, self._episode.get(change.alarm_id, 0))
        self._latest[change.alarm_id] = change
        self._episodes[key] = change
        self._first_seen.setdefault(key, change.time_s)

    def score(
        self,
        faults: list[FaultTruth],
        outages: list[OutageAttribution],
        impacted_subscribers: Callable[[str], int] | None = None,
    ) -> dict[str, Any]:
        """Return the ``alarms`` section of the summary."""
        end = self.ended_s
        truth = [
            _Fault(f.fault_id, f.resource, f.start_s, end if f.end_s is None else f.end_s)
            for f in faults
        ]
        by_id = {f.fault_id: f for f in truth}
        on_resource: dict[str, list[_Fault]] = {}
        for fault in truth:
            on_resource.setdefault(fault.resource, []).append(fault)
        unreachable: dict[str, list[tuple[float, float, int]]] = {}
        for o in outages:
            if o.kind != "cell":
                stop = end if o.end_s is None else o.end_s
                unreachable.setdefault(o.resource, []).append((o.start_s, stop, o.fault_id))
        link_ends = self._link_ends()

        def fault_on(resource: str, time_s: float) -> _Fault | None:
            return next((f for f in on_resource.get(resource, []) if f.covers(time_s)), None)

        def true_fault(a: AlarmChange) -> _Fault | None:
            t = a.raised_time_s
            if a.alarmed_object_type == "link":
                own = fault_on(a.alarmed_object, t)
                if own is not None or a.alarmed_object not in link_ends:
                    return own
                # the far end (the end that did not report) down: its fault darkened the port
                ends = [n for n in link_ends[a.alarmed_object] if n != a.source]
                return next((f for n in ends if (f := fault_on(n, t)) is not None), None)
            if a.specific_problem == "element unreachable":
                for start, stop, fault_id in unreachable.get(a.alarmed_object, []):
                    if start - EPSILON_S <= t <= stop + EPSILON_S:
                        return by_id.get(fault_id)
                return None
            if a.specific_problem == "dying gasp":
                return fault_on(a.alarmed_object, t)
            return None  # an alarm of the twin's own inference: not scored

        first_seen = {id(a): self._first_seen[key] for key, a in self._episodes.items()}
        alarms = sorted(self._episodes.values(), key=lambda a: (a.raised_time_s, a.alarm_id))

        def names(a: AlarmChange) -> set[str]:
            return set(a.root_candidates) or {a.alarmed_object}

        top = [a for a in alarms if a.parent_alarm is None]
        naming: dict[str, list[AlarmChange]] = {}  # resource -> top-level alarms naming it
        for a in top:
            for resource in names(a):
                naming.setdefault(resource, []).append(a)
        root_of: dict[int, AlarmChange] = {}  # fault id -> its root (first top-level naming it)
        for fault in truth:
            for a in naming.get(fault.resource, []):
                # raised during the fault, or active through part of it (one flapping alarm
                # stands for every cycle of a flap)
                cleared = end if a.cleared_time_s is None else a.cleared_time_s
                during = a.raised_time_s <= fault.end_s + EPSILON_S and cleared >= fault.start_s
                if during:
                    root_of[fault.fault_id] = a
                    break
        root_ids = {id(a) for a in root_of.values()}  # episodes, not alarm ids
        children = [a for a in alarms if a.parent_alarm is not None]
        correct = 0
        for child in children:
            cause = true_fault(child)
            parent = self._latest.get(child.parent_alarm or -1)
            if cause is not None and parent is not None and cause.resource in names(parent):
                correct += 1
        should_be_children = [
            a for a in alarms if id(a) not in root_ids and true_fault(a) is not None
        ]
        named_sizes = [len(names(a)) for a in root_of.values()]
        detect = [  # an alarm already standing when the fault began detected it at once
            max(0.0, first_seen[id(root_of[f.fault_id])] - f.start_s)
            for f in truth
            if f.fault_id in root_of
        ]
        explained: dict[int, int] = {}
        for child in children:
            parent_id = child.parent_alarm or -1
            explained[parent_id] = explained.get(parent_id, 0) + 1
        root_causes = [
            {
                "resource": a.alarmed_object,
                "candidates": list(a.root_candidates),
                "raised_s": _round(a.raised_time_s),
                "cleared_s": None if a.cleared_time_s is None else _round(a.cleared_time_s),
                "children": explained.get(a.alarm_id, 0),
                "impacted_subscribers": (
                    None if impacted_subscribers is None else impacted_subscribers(a.alarmed_object)
                ),
            }
            for a in top
            if a.is_root_cause or explained.get(a.alarm_id)
        ]
        return {
            "notifications": self.notifications,
            "raised": len(alarms),
            "active_at_end": sum(1 for a in alarms if a.cleared_time_s is None),
            "faults": len(truth),
            "root_causes": root_causes,
            "compression": _ratio(self.notifications, sum(a.is_root_cause for a in top)),
            "rca_accuracy": _ratio(len(root_of), len(truth)),
            "candidates_mean": _ratio(sum(named_sizes), len(named_sizes)),
            "suppression_precision": _ratio(correct, len(children)),
            "suppression_recall": _ratio(correct, len(should_be_children)),
            "detect_s": _ratio(sum(detect), len(detect)),
        }

    def _link_ends(self) -> dict[str, tuple[str, str]]:
        inv = self.inventory
        if inv is None:
            return {}
        return {
            link: (a, b) for link, a, b in zip(inv.link_ids, inv.link_a, inv.link_b, strict=True)
        }


def _round(value: float) -> float:
    return float(round(value, 3))


def _ratio(part: float, whole: float) -> float | None:
    """``part / whole`` rounded, or None (JSON null) when there is nothing to measure."""
    if whole == 0:
        return None
    value = part / whole
    return None if math.isnan(value) else float(round(value, 6))
