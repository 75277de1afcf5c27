"""The network's alarms: what the elements and their management system tell the twin.

Rules (docs/alarms.md says why):

- Each node holds its active alarms, derived from the network's state. A node that is up raises
  loss of signal on each of its links that is cut or whose far end is down (one alarm per port,
  so a cut link gives two, one from each end). A node going down raises a dying gasp on itself
  with its last breath; while it is down it holds that alarm only, and clears it when it is back.
- A node reports only while it has a management path to a core (management traffic shares the
  backhaul): it is up, and routing reaches it. A change it cannot report is not lost from its
  memory: when its path comes back it re-reports every alarm it holds and clears every alarm the
  twin may still hold that it no longer does (an alarm resynchronisation, as 3GPP's alarm IRP
  does). The dying gasp is sent before the path goes, so it reaches the twin if the node had a
  path the moment before it died.
- The management system (source ``nms``) raises "element unreachable" for a node whose
  heartbeat has been missing for ``heartbeat_timeout``, and clears it when the node answers
  again. A node back within the timeout raises nothing.
- Alarms raised by a change that maintenance made carry ``planned_outage``, and so do their
  clears and re-reports.

Delivery (:class:`NotificationChannel`) adds what real networks add: an exponential delay, some
duplicates (same id, later), lost clears and lost dying gasps, all drawn from the
``notifications`` stream so that no other draw moves. Notifications are SimPy timeouts, so they
reach the sink in ``time_s`` order; those due after the end of the run never arrive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import cast

import numpy as np
import simpy

from sim.network import ROLES, Topology
from sim.scenario import Notifications
from twin.feed import AlarmNotification, AlarmType, FeedSink, PerceivedSeverity, ResourceKind

__all__ = ["Alarm", "AlarmReporting", "NotificationChannel"]

NMS = "nms"
LOSS_OF_SIGNAL = "lossOfSignal"
POWER_PROBLEM = "powerProblem"
UNREACHABLE_CAUSE = "communicationsSubsystemFailure"
DYING_GASP = "dying gasp"
ELEMENT_UNREACHABLE = "element unreachable"


@dataclass(frozen=True)
class Alarm:
    """A problem a source holds active, since ``event_time_s``."""

    alarmed_object: str
    alarmed_object_type: ResourceKind
    source: str
    alarm_type: AlarmType
    severity: PerceivedSeverity
    probable_cause: str
    specific_problem: str
    event_time_s: float
    planned: bool

    @property
    def key(self) -> tuple[str, str]:
        """What a clear must match; the source is the holder, so it is not repeated."""
        return self.alarmed_object, self.specific_problem


class NotificationChannel:
    """Delivers notifications to the sink late, sometimes twice, sometimes not at all.

    Every notification takes an id and four uniforms from the stream whether or not it is lost
    or doubled, so changing one rate moves no other notification's delay.
    """

    def __init__(
        self,
        env: simpy.Environment,
        sink: FeedSink,
        settings: Notifications,
        rng: np.random.Generator,
    ):
        self.env = env
        self.sink = sink
        self.settings = settings
        self.rng = rng
        self._next_id = 0

    def send(
        self, alarm: Alarm, *, cleared: bool = False, event_time_s: float | None = None
    ) -> None:
        """Send ``alarm`` raised (its own severity and time) or cleared (at ``event_time_s``)."""
        s = self.settings
        self._next_id += 1
        u_delay, u_lost, u_duplicate, u_again = self.rng.random(4)
        if cleared and u_lost < s.lost_clear_rate:
            return
        if alarm.specific_problem == DYING_GASP and not cleared and u_lost < s.lost_dying_gasp_rate:
            return
        delay = -s.mean_delay * math.log1p(-u_delay)
        record = AlarmNotification(
            notification_id=self._next_id,
            time_s=self.env.now + delay,
            event_time_s=alarm.event_time_s if event_time_s is None else event_time_s,
            alarmed_object=alarm.alarmed_object,
            alarmed_object_type=alarm.alarmed_object_type,
            source=alarm.source,
            alarm_type=alarm.alarm_type,
            perceived_severity="cleared" if cleared else alarm.severity,
            probable_cause=alarm.probable_cause,
            specific_problem=alarm.specific_problem,
            planned_outage=alarm.planned,
        )
        self._deliver(delay, record)
        if u_duplicate < s.duplicate_rate:
            again = delay - s.mean_delay * math.log1p(-u_again)
            self._deliver(again, replace(record, time_s=self.env.now + again))

    def _deliver(self, delay: float, record: AlarmNotification) -> None:
        # SimPy schedules at now + delay, the same float as record.time_s, and runs equal
        # times in the order scheduled: the sink sees time_s in order.
        self.env.timeout(delay).callbacks.append(lambda _: self.sink.publish(record))


class AlarmReporting:
    """Every node's active alarms, the management system's heartbeats, and what reaches the twin.

    The engine calls :meth:`start` once and :meth:`network_changed` after every change of a
    node's or link's state, once routes are recomputed; it owns ``node_down`` and
    ``link_down`` (active faults per resource), which this reads.
    """

    def __init__(
        self,
        env: simpy.Environment,
        channel: NotificationChannel,
        topo: Topology,
        node_down: np.ndarray,
        link_down: np.ndarray,
        reachable: np.ndarray,
        heartbeat_timeout_s: float,
    ):
        self.env = env
        self.channel = channel
        self.topo = topo
        self.node_down = node_down
        self.link_down = link_down
        self.reachable = reachable.copy()
        self.heartbeat_timeout_s = heartbeat_timeout_s
        n = topo.n_nodes
        self._node_kind = [cast(ResourceKind, ROLES[r]) for r in topo.node_role]
        self._links_of: list[list[tuple[int, int]]] = [[] for _ in range(n)]  # (link, far end)
        for link, (a, b) in enumerate(zip(topo.link_a.tolist(), topo.link_b.tolist(), strict=True)):
            self._links_of[a].append((link, b))
            self._links_of[b].append((link, a))
        self._active: list[dict[tuple[str, str], Alarm]] = [{} for _ in range(n)]
        # What the twin may still hold of a node's alarms since it lost its path, and when
        # those it no longer holds were resolved: the resync's clears.
        self._known_at_loss: dict[int, dict[tuple[str, str], Alarm]] = {}
        self._resolved_s: dict[int, dict[tuple[str, str], float]] = {}
        self._heartbeat_episode = np.zeros(n, dtype=np.int64)
        self._unreachable: dict[int, Alarm] = {}
        self._loss_planned: dict[int, bool] = {}

    def start(self) -> None:
        """Start the heartbeat timeout of every node that has no management path to begin with."""
        self._lose_heartbeats(np.flatnonzero(~self.reachable).tolist(), planned=False)

    def network_changed(self, kind: str, index: int, reachable: np.ndarray, planned: bool) -> None:
        """Report what a change of node or link ``index``'s state made every node raise and
        clear; ``reachable`` is which nodes have a management path now."""
        topo, now = self.topo, self.env.now
        before_reach = self.reachable
        affected = set(np.flatnonzero(before_reach != reachable).tolist())
        if kind == "link":
            affected.update((int(topo.link_a[index]), int(topo.link_b[index])))
        else:
            affected.add(index)
            affected.update(far for _, far in self._links_of[index])
        died = kind == "node" and bool(self.node_down[index])
        for node in sorted(affected):
            held = self._active[node]
            holds = self._derive(node, held, now, planned)
            self._active[node] = holds
            had_path, has_path = bool(before_reach[node]), bool(reachable[node])
            if had_path and has_path:
                # sorted: a set's order follows string hashing, which changes per process
                for key in sorted(holds.keys() - held.keys()):
                    self.channel.send(holds[key])
                for key in sorted(held.keys() - holds.keys()):
                    self.channel.send(held[key], cleared=True, event_time_s=now)
                continue
            if had_path:  # losing it now: the twin holds what it held, and the last breath
                known = dict(held)
                if died and node == index:
                    gasp = next(iter(holds.values()))
                    self.channel.send(gasp)
                    known[gasp.key] = gasp
                self._known_at_loss[node] = known
                self._resolved_s[node] = {key: now for key in held.keys() - holds.keys()}
            else:
                resolved = self._resolved_s.setdefault(node, {})
                for key in held.keys() - holds.keys():
                    resolved[key] = now
            if has_path:
                self._resync(node, holds)
        lost = np.flatnonzero(before_reach & ~reachable).tolist()
        back = np.flatnonzero(~before_reach & reachable).tolist()
        self.reachable = reachable.copy()
        self._lose_heartbeats(lost, planned)
        for node in back:
            self._heartbeat_episode[node] += 1  # a pending timeout finds itself stale
            unreachable = self._unreachable.pop(node, None)
            if unreachable is not None:
                self.channel.send(unreachable, cleared=True, event_time_s=now)

    def _derive(
        self, node: int, held: dict[tuple[str, str], Alarm], now: float, planned: bool
    ) -> dict[tuple[str, str], Alarm]:
        """The alarms ``node`` holds in the network's current state, keeping those it held."""
        node_id = self.topo.node_ids[node]
        if self.node_down[node]:
            key = (node_id, DYING_GASP)
            gasp = held.get(key) or Alarm(
                node_id,
                self._node_kind[node],
                node_id,
                "equipmentAlarm",
                "critical",
                POWER_PROBLEM,
                DYING_GASP,
                now,
                planned,
            )
            return {key: gasp}
        holds: dict[tuple[str, str], Alarm] = {}
        for link, far in self._links_of[node]:
            if self.link_down[link] or self.node_down[far]:
                link_id = self.topo.link_ids[link]
                key = (link_id, "loss of signal")
                holds[key] = held.get(key) or Alarm(
                    link_id,
                    "link",
                    node_id,
                    "communicationsAlarm",
                    "major",
                    LOSS_OF_SIGNAL,
                    "loss of signal",
                    now,
                    planned,
                )
        return holds

    def _resync(self, node: int, holds: dict[tuple[str, str], Alarm]) -> None:
        """A node back in reach re-reports what it holds and clears what the twin may still
        hold that it no longer does."""
        known = self._known_at_loss.pop(node, {})
        resolved = self._resolved_s.pop(node, {})
        for alarm in holds.values():
            self.channel.send(alarm)
        for key in sorted(known.keys() - holds.keys()):
            resolved_s = resolved.get(key, self.env.now)
            self.channel.send(known[key], cleared=True, event_time_s=resolved_s)

    def _lose_heartbeats(self, nodes: list[int], planned: bool) -> None:
        if not nodes:
            return
        for node in nodes:
            self._heartbeat_episode[node] += 1
            self._loss_planned[node] = planned
        episodes = self._heartbeat_episode[nodes].copy()
        timeout = self.env.timeout(self.heartbeat_timeout_s)
        timeout.callbacks.append(lambda _: self._heartbeats_missed(nodes, episodes))

    def _heartbeats_missed(self, nodes: list[int], episodes: np.ndarray) -> None:
        """Raise "element unreachable" for each node still silent since its path went."""
        now = self.env.now
        for node, episode in zip(nodes, episodes.tolist(), strict=True):
            if self._heartbeat_episode[node] != episode:
                continue  # it came back within the timeout (or went and came again)
            node_id = self.topo.node_ids[node]
            alarm = Alarm(
                node_id,
                self._node_kind[node],
                NMS,
                "communicationsAlarm",
                "major",
                UNREACHABLE_CAUSE,
                ELEMENT_UNREACHABLE,
                now,
                self._loss_planned[node],
            )
            self._unreachable[node] = alarm
            self.channel.send(alarm)
