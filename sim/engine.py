"""The simulation engine: one SimPy Environment and the control processes that drive the network.

Control events are SimPy processes: PM and usage ticks, injected and random faults and their
repairs, and the business events handed to the twin. Between two control events the
:class:`~sim.traffic.TrafficKernel` advances all bulk traffic at once. The engine only emits
feed records (:mod:`twin.feed`) and answers southbound commands; it never sees the twin.

Random streams are children of one ``SeedSequence`` per run, one per concern, so that adding an
event changes no other draw: placement, products, traffic, faults, admissions, topology,
notifications, and one stream per surge keyed by what the surge is (see :func:`surge_key`).

The alarms the elements raise are :mod:`sim.alarms`' business and the ground truth
(which fault took what out) is :mod:`sim.truth`'s: the engine tells both what changed. The
truth goes to its own sink, never to the feed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import simpy

from sim.alarms import AlarmReporting, NotificationChannel
from sim.anomalies import Anomalies, check_anomaly_targets
from sim.faults import Outage, draw_outages
from sim.network import (
    AGGREGATION,
    CORE,
    ROLES,
    TOWER,
    Topology,
    build_topology,
    compute_routes,
    leaf_uplinks,
    update_leaf_route,
)
from sim.scenario import (
    FailEvent,
    FlapEvent,
    MaintenanceEvent,
    OrderEvent,
    PriceChangeEvent,
    Problem,
    Reliability,
    Scenario,
    ScenarioError,
    SurgeEvent,
)
from sim.traffic import SubscriberBase, Surge, TrafficKernel, TrafficParams
from sim.truth import DropTruth, FaultCause, Truths, TruthSink
from twin.feed import (
    Admission,
    BusinessEvent,
    CellPmBatch,
    FeedSink,
    Inventory,
    LinkPmBatch,
    Release,
    ResourceKind,
    ResourceStateChange,
    RunEnded,
    RunStarted,
    SubscriptionAdmitted,
    SubscriptionReleased,
    UsageBatch,
)

__all__ = ["Simulation", "place_subscribers", "streams"]

# New concerns go at the end: a child's seed depends on its place, so the others keep theirs.
STREAMS = (
    "placement",
    "products",
    "traffic",
    "faults",
    "admissions",
    "topology",
    "notifications",
)
SURGE_KEY = 100
# Why a cell is out of service, as its truth records name it; 0 (in service) names nothing.
_CELL_CAUSES = ("", "node", "isolation")
MAX_RANDOM_OUTAGES = 1_000_000


def streams(seed: int) -> dict[str, np.random.Generator]:
    """Return one independent generator per concern, all from one ``SeedSequence``."""
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {
        name: np.random.default_rng(child) for name, child in zip(STREAMS, children, strict=True)
    }


def surge_key(event: SurgeEvent, occurrence: int) -> tuple[int, ...]:
    """A key for a surge's random stream from what the surge is, not where it is listed, so
    that adding or reordering other events changes none of its draws."""
    text = f"{event.at!r}|{sorted(event.targets)}|{event.factor!r}|{event.duration!r}|{occurrence}"
    digest = hashlib.sha256(text.encode()).digest()
    return tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))


def surge_rng(seed: int, key: tuple[int, ...]) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SURGE_KEY, *key)))


def place_subscribers(
    scenario: Scenario,
    topo: Topology,
    placement_rng: np.random.Generator,
    products_rng: np.random.Generator,
    file: str = "<scenario>",
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Return each subscriber's cell and product index, and the product names.

    ``uniform`` gives every tower the same expected share, ``by_capacity`` shares in proportion
    to a tower's voice channels, and a map gives each named tower its share. Within a tower a
    subscriber is homed on one of its cells at random.
    """
    subs = scenario.subscribers
    placement = subs.placement
    n_towers = topo.n_towers
    tower_index = {topo.node_ids[node]: t for t, node in enumerate(topo.tower_node)}
    if isinstance(placement, dict):
        unknown = [name for name in placement if name not in tower_index]
        if unknown:
            raise ScenarioError(
                [
                    Problem(file, f"subscribers.placement.{name}", f"unknown tower '{name}'")
                    for name in unknown
                ]
            )
        share: np.ndarray = np.zeros(n_towers)
        for name, value in placement.items():
            share[tower_index[name]] = value
    elif placement == "by_capacity":
        share = np.bincount(
            topo.cell_tower, weights=topo.cell_voice_channels.astype(float), minlength=n_towers
        )
    else:
        share = np.ones(n_towers)
    share = share / share.sum()
    tower = placement_rng.choice(n_towers, size=subs.count, p=share)
    cells_per_tower = np.bincount(topo.cell_tower, minlength=n_towers)
    first_cell = np.concatenate([[0], np.cumsum(cells_per_tower)[:-1]])
    cell = first_cell[tower] + (placement_rng.random(subs.count) * cells_per_tower[tower]).astype(
        np.int64
    )
    names = list(subs.products) or [""]
    if subs.products:
        shares = np.array([subs.products[n] for n in names])
        product = products_rng.choice(len(names), size=subs.count, p=shares / shares.sum())
    else:
        product = np.zeros(subs.count, dtype=np.int64)
    return cell.astype(np.int64), product.astype(np.int64), names


def _read_only(array: np.ndarray) -> np.ndarray:
    """A copy the twin cannot write to: a record must not reach back into the simulation."""
    copy = np.array(array)
    copy.setflags(write=False)
    return copy


def _seconds_into_day(scenario: Scenario) -> float:
    start = scenario.start
    return float(start.hour * 3600 + start.minute * 60 + start.second + start.microsecond / 1e6)


class Simulation:
    """One run of a scenario: builds the network, then :meth:`run` emits the feed to ``sink``.

    It also answers the twin's southbound commands (:meth:`admit_subscription`,
    :meth:`release_subscription`). The ground
    truth (:mod:`sim.truth`: state changes with their causes, faults, outage attributions) goes
    to ``truth`` when given, and nowhere else.
    """

    def __init__(
        self,
        scenario: Scenario,
        sink: FeedSink,
        *,
        base_dir: Path | str = ".",
        seed: int | None = None,
        file: str = "<scenario>",
        progress: Callable[[float], None] | None = None,
        truth: TruthSink | None = None,
    ):
        self.scenario = scenario
        self.sink = sink
        self.truth: TruthSink = DropTruth() if truth is None else truth
        self.seed = scenario.seed if seed is None else seed
        self.file = file
        self.progress = progress
        self.rng = streams(self.seed)
        self.topo = build_topology(scenario, base_dir, self.rng["topology"], file)
        self._check_event_targets()
        self._check_fault_rates()
        cell, product, self.product_names = place_subscribers(
            scenario, self.topo, self.rng["placement"], self.rng["products"], file
        )
        self.subscribers = SubscriberBase(cell, product, self.topo.n_cells)
        t = scenario.traffic
        params = TrafficParams(
            busy_hour_calls=t.voice.busy_hour_calls,
            mean_call_s=t.voice.mean_duration,
            busy_hour_sessions=t.data.busy_hour_sessions,
            mean_session_mb=t.data.mean_volume_mb,
            # normalised by its largest value: the busy hour is 1.0, so busy_hour_calls and
            # busy_hour_sessions are what a subscriber makes in it whatever the profile's scale
            daily_profile=tuple(v / max(t.daily_profile) for v in t.daily_profile),
            growth_per_year=t.growth_per_year,
            start_of_day_s=_seconds_into_day(scenario),
        )
        self.kernel = TrafficKernel(
            params,
            self.topo.cell_voice_channels,
            self.topo.cell_data_mbps,
            self.topo.cell_tower,
            self.topo.link_capacity_mbps,
            self.subscribers,
            self.rng["traffic"],
            scenario.pm_interval,
            scenario.usage_interval,
        )
        self.env = simpy.Environment()
        self.node_down = np.zeros(self.topo.n_nodes, dtype=np.int64)  # active faults per node
        self.link_down = np.zeros(self.topo.n_links, dtype=np.int64)
        self._fault_seq = 0
        self._routes = compute_routes(self.topo, self.node_down == 0, self.link_down == 0)
        self._leaf_uplink = leaf_uplinks(self.topo)
        self._leaf_by_node = {
            int(self.topo.tower_node[t]): t for t in np.flatnonzero(self._leaf_uplink >= 0).tolist()
        }
        self._leaf_by_link = {
            int(self._leaf_uplink[t]): t for t in np.flatnonzero(self._leaf_uplink >= 0).tolist()
        }
        self.kernel.set_routes(self._routes.tower_links, self._links_in_service())
        # per cell, an index into _CELL_CAUSES: 0 while in service
        self._cell_cause = np.zeros(self.topo.n_cells, dtype=np.int8)
        node_kinds = [cast(ResourceKind, ROLES[r]) for r in self.topo.node_role]
        self.truths = Truths(self.truth, self.topo.cell_ids, self.topo.node_ids, node_kinds)
        notifications = scenario.faults.notifications
        self.alarms = AlarmReporting(
            self.env,
            NotificationChannel(self.env, sink, notifications, self.rng["notifications"]),
            self.topo,
            self.node_down,
            self.link_down,
            self._management_paths(),
            notifications.heartbeat_timeout,
        )
        self.anomalies = Anomalies(self.env, self.kernel, self.topo, self.truth, scenario.duration)
        self._started = False
        self._pm_start = 0.0
        self._usage_start = 0.0

    # --- validation that needs the built network -------------------------------------------

    def _check_event_targets(self) -> None:
        topo = self.topo
        cells = set(topo.cell_ids)
        towers = {topo.node_ids[i] for i in topo.tower_node}
        problems = []
        for index, event in enumerate(self.scenario.events):
            where = f"events[{index}]"
            if isinstance(event, (FailEvent, FlapEvent, MaintenanceEvent)):
                if event.target not in topo.node_index and event.target not in topo.link_index:
                    problems.append(
                        Problem(
                            self.file, f"{where}.target", f"unknown node or link '{event.target}'"
                        )
                    )
            elif isinstance(event, SurgeEvent):
                for k, target in enumerate(event.targets):
                    if target not in towers and target not in cells:
                        problems.append(
                            Problem(
                                self.file,
                                f"{where}.targets[{k}]",
                                f"unknown tower or cell '{target}'",
                            )
                        )
            elif isinstance(event, OrderEvent) and event.tower not in towers:
                problems.append(
                    Problem(self.file, f"{where}.tower", f"unknown tower '{event.tower}'")
                )
        problems += check_anomaly_targets(topo, self.scenario.events, self.file)
        if problems:
            raise ScenarioError(problems)

    def _random_fault_targets(self) -> list[tuple[str, np.ndarray, Reliability, str]]:
        """The resources random faults strike: (scenario key, indices, reliability, kind), in
        the fixed order their outages are drawn in."""
        random, topo = self.scenario.faults.random, self.topo
        targets = []
        for key, role in (("tower", TOWER), ("aggregation", AGGREGATION), ("core", CORE)):
            reliability = getattr(random, key)
            if reliability is not None:
                targets.append((key, np.flatnonzero(topo.node_role == role), reliability, "node"))
        if random.link is not None:
            targets.append(("link", np.arange(topo.n_links), random.link, "link"))
        return targets

    def _check_fault_rates(self) -> None:
        """Refuse random-fault settings that would make millions of outages (a typo'd mtbf)."""
        problems = []
        for key, resources, reliability, _ in self._random_fault_targets():
            count = len(resources)
            expected = count * self.scenario.duration / (reliability.mtbf + reliability.mttr)
            if expected > MAX_RANDOM_OUTAGES:
                problems.append(
                    Problem(
                        self.file,
                        f"faults.random.{key}",
                        f"about {expected:,.0f} outages over the run ({count} x duration / "
                        f"(mtbf + mttr)); more than {MAX_RANDOM_OUTAGES:,} is surely a mistake",
                    )
                )
        if problems:
            raise ScenarioError(problems)

    # --- southbound ------------------------------------------------------------------------------

    def admit_subscription(self, tower: str, product: str) -> Admission:
        """Admit one subscription on a tower, or refuse it with the reason.

        Refused when the tower is unknown, down, isolated from the core, or at its
        ``max_subscribers``. An admitted subscriber starts making traffic from the next
        traffic segment on.
        """
        topo = self.topo
        node = topo.node_index.get(tower)
        if node is None or topo.node_role[node] != TOWER:
            return Admission(False, tower, f"unknown tower '{tower}'")
        t = int(topo.tower_of_node()[node])
        if self.node_down[node]:
            return Admission(False, tower, "tower is down")
        if self._routes.isolated[t]:
            return Admission(False, tower, "tower has no path to a core")
        limit = int(topo.tower_max_subscribers[t])
        homed = int(self.subscribers.active_cell_count[topo.cell_tower == t].sum())
        if limit and homed >= limit:
            return Admission(False, tower, f"tower is full ({limit} subscribers)")
        try:
            product_index = self.product_names.index(product)
        except ValueError:
            self.product_names.append(product)
            product_index = len(self.product_names) - 1
        cells = np.flatnonzero(topo.cell_tower == t)
        cell = int(cells[self.rng["admissions"].integers(len(cells))])
        self.kernel.advance(self.env.now)
        index = self.kernel.add_subscriber(cell, product_index)
        self.sink.publish(SubscriptionAdmitted(self.env.now, index, topo.cell_ids[cell], product))
        return Admission(True, tower, subscriber=index)

    def release_subscription(self, subscriber: int) -> Release:
        """Release a subscriber: it makes no more traffic and no more usage from now on, and
        its tower counts one subscriber fewer against ``max_subscribers``.

        Idempotent: releasing it again, or a subscriber the network never had, changes nothing
        and says so. The subscriber keeps its index and its place in the traffic draws (its
        arrivals are lost uncounted), so no other subscriber's draw moves (docs/engine.md).
        """
        if not 0 <= subscriber < self.subscribers.count:
            return Release(False, subscriber, f"unknown subscriber {subscriber}")
        if self.subscribers.released[subscriber]:
            return Release(False, subscriber, "already released")
        self.kernel.advance(self.env.now)
        self.kernel.release_subscriber(subscriber)
        cell = int(self.subscribers.cell[subscriber])
        product = self.product_names[int(self.subscribers.product[subscriber])]
        self.sink.publish(
            SubscriptionReleased(self.env.now, subscriber, self.topo.cell_ids[cell], product)
        )
        return Release(True, subscriber)

    def homed_subscribers(self, tower: str) -> int:
        """How many subscribers a tower holds now (admitted ones in, released ones out): what
        its ``max_subscribers`` limits."""
        t = int(self.topo.tower_of_node()[self.topo.node_index[tower]])
        return int(self.subscribers.active_cell_count[self.topo.cell_tower == t].sum())

    # --- running ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Publish the run's opening records and set up the control processes (once)."""
        if self._started:
            return
        self._started = True
        sc = self.scenario
        self._publish_start()
        env = self.env
        # PM intervals sit on the clock as in 3GPP: a run starting at 13:07 gets a first, short
        # interval to 13:15, so every interval lies inside one hour of the day.
        into = _seconds_into_day(sc) % sc.pm_interval
        first = sc.pm_interval - into if into else sc.pm_interval
        env.process(self._ticks(sc.pm_interval, self._close_pm_and_report, first))
        env.process(self._ticks(sc.usage_interval, self._close_usage))
        self.alarms.start()
        self.anomalies.start(sc.events)
        for outage in self._random_outages():
            env.process(self._random_fault(outage))
        seen_surges: list[SurgeEvent] = []
        for index, event in enumerate(sc.events):
            if isinstance(event, FailEvent):
                env.process(self._injected_fault(event))
            elif isinstance(event, FlapEvent):
                env.process(self._flap(event))
            elif isinstance(event, MaintenanceEvent):
                env.process(self._maintenance(event))
            elif isinstance(event, SurgeEvent):
                self.kernel.add_surge(self._surge(event, seen_surges.count(event)))
                seen_surges.append(event)
            elif isinstance(event, (OrderEvent, PriceChangeEvent)):
                env.process(self._business(index, event))

    def advance_to(self, time_s: float) -> None:
        """Simulate up to ``time_s`` (seconds since start), for stepping through a run."""
        self.start()
        until = min(time_s, self.scenario.duration)
        if until > self.env.now:
            self.env.run(until=until)
        self.kernel.advance(self.env.now)
        self.kernel.catch_up()  # every cell's channels as they are now, for whoever looks

    def run(self) -> None:
        """Simulate the whole scenario (or the rest of it), publishing the feed to the sink."""
        sc = self.scenario
        self.start()
        if self.env.now < sc.duration:
            self.env.run(until=sc.duration)
        self.kernel.advance(sc.duration)
        self.kernel.finish()
        if self.kernel.now > self._pm_start:
            self._close_pm()
        if self.kernel.now > self._usage_start:
            self._close_usage()
        self.anomalies.finish()
        self.truths.finish()
        self.sink.publish(RunEnded(sc.duration))

    def _publish_start(self) -> None:
        sc, topo = self.scenario, self.topo
        self.sink.publish(
            RunStarted(
                scenario=sc.name,
                seed=self.seed,
                start=sc.start,
                duration_s=sc.duration,
                pm_interval_s=sc.pm_interval,
                usage_interval_s=sc.usage_interval,
                currency=sc.catalog.currency if sc.catalog else None,
            )
        )
        towers = topo.tower_ids()
        self.sink.publish(
            Inventory(
                node_ids=tuple(topo.node_ids),
                node_roles=tuple(ROLES[r] for r in topo.node_role),
                node_lat=_read_only(topo.node_lat),
                node_lon=_read_only(topo.node_lon),
                link_ids=tuple(topo.link_ids),
                link_a=tuple(topo.node_ids[i] for i in topo.link_a),
                link_b=tuple(topo.node_ids[i] for i in topo.link_b),
                link_capacity_mbps=_read_only(topo.link_capacity_mbps),
                link_latency_ms=_read_only(topo.link_latency_ms),
                cell_ids=tuple(topo.cell_ids),
                cell_tower=tuple(towers[t] for t in topo.cell_tower),
                cell_voice_channels=_read_only(topo.cell_voice_channels),
                cell_data_mbps=_read_only(topo.cell_data_mbps),
                subscriber_cell=_read_only(self.subscribers.cell),
                product_names=tuple(self.product_names),
                subscriber_product=_read_only(self.subscribers.product),
            )
        )

    def _ticks(
        self, step: float, close: Callable[[], None], first: float | None = None
    ) -> Generator[simpy.Event, Any, None]:
        """Close an interval every ``step`` seconds, the first after ``first`` (default: one
        step); the last one is closed by :meth:`run`."""
        wait = step if first is None else first
        while self.env.now + wait < self.scenario.duration:
            yield self.env.timeout(wait)
            self.kernel.advance(self.env.now)
            close()
            wait = step

    def _close_pm_and_report(self) -> None:
        self._close_pm()
        if self.progress is not None:
            self.progress(self.env.now)

    def _close_pm(self) -> None:
        c = self.kernel.close_interval()
        start, end = self._pm_start, self.kernel.now
        span = end - start
        capacity_mb = self.topo.cell_data_mbps * span / 8.0
        link_capacity_mb = self.topo.link_capacity_mbps * span / 8.0
        self.sink.publish(
            CellPmBatch(
                start_s=start,
                end_s=end,
                voice_offered=c.voice_offered,
                voice_carried=c.voice_carried,
                voice_blocked=c.voice_blocked,
                voice_failed=c.voice_failed,
                voice_dropped=c.voice_dropped,
                offered_erlangs=c.offered_es / span,
                carried_erlangs=c.carried_es / span,
                data_sessions=c.data_sessions,
                data_demand_mb=c.data_demand_mb,
                data_served_mb=c.data_served_mb,
                utilization=c.data_served_mb / capacity_mb,
                seconds_in_service=c.seconds_in_service,
            )
        )
        self.sink.publish(
            LinkPmBatch(
                start_s=start,
                end_s=end,
                demand_mb=c.link_demand_mb,
                carried_mb=c.link_carried_mb,
                utilization=c.link_carried_mb / link_capacity_mb,
                seconds_in_service=c.link_seconds_in_service,
            )
        )
        self._pm_start = end

    def _close_usage(self) -> None:
        voice, data = self.kernel.close_usage()
        used = np.flatnonzero((voice > 0) | (data > 0))
        self.sink.publish(
            UsageBatch(self._usage_start, self.kernel.now, used, voice[used], data[used])
        )
        self._usage_start = self.kernel.now

    # --- faults ----------------------------------------------------------------------------------

    def _random_outages(self) -> list[Outage]:
        rng = self.rng["faults"]
        outages: list[Outage] = []
        for _, resources, reliability, kind in self._random_fault_targets():
            outages += draw_outages(
                resources, reliability.mtbf, reliability.mttr, self.scenario.duration, rng, kind
            )
        return sorted(outages)

    def _random_fault(self, outage: Outage) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(outage.start_s)
        fault = self._fail(outage.kind, outage.resource, "random")
        yield self.env.timeout(outage.end_s - outage.start_s)
        self._repair(outage.kind, outage.resource, "random", fault)

    def _target(self, target: str) -> tuple[str, int]:
        topo = self.topo
        if target in topo.node_index:
            return "node", topo.node_index[target]
        return "link", topo.link_index[target]

    def _injected_fault(self, event: FailEvent) -> Generator[simpy.Event, Any, None]:
        kind, index = self._target(event.target)
        yield self.env.timeout(event.at)
        fault = self._fail(kind, index, "injected")
        if event.repair_after is not None:
            yield self.env.timeout(event.repair_after)
            self._repair(kind, index, "injected", fault)

    def _flap(self, event: FlapEvent) -> Generator[simpy.Event, Any, None]:
        """Down for ``down`` and up again, ``count`` times, one cycle per ``period``; cycles
        past the end of the run do not happen."""
        kind, index = self._target(event.target)
        for cycle in range(event.count):
            yield self.env.timeout(event.at + cycle * event.period - self.env.now)
            fault = self._fail(kind, index, "flap")
            yield self.env.timeout(event.down_s)
            self._repair(kind, index, "flap", fault)

    def _maintenance(self, event: MaintenanceEvent) -> Generator[simpy.Event, Any, None]:
        kind, index = self._target(event.target)
        yield self.env.timeout(event.at)
        fault = self._fail(kind, index, "maintenance")
        yield self.env.timeout(event.duration)
        self._repair(kind, index, "maintenance", fault)

    def _resource(self, kind: str, index: int) -> tuple[str, ResourceKind]:
        topo = self.topo
        if kind == "link":
            return topo.link_ids[index], "link"
        return topo.node_ids[index], cast(ResourceKind, ROLES[topo.node_role[index]])

    def _fail(self, kind: str, index: int, cause: FaultCause) -> int:
        self._fault_seq += 1
        name, resource_kind = self._resource(kind, index)
        self.truths.fault_started(self._fault_seq, name, resource_kind, self.env.now, cause)
        self._change_state(kind, index, cause, self._fault_seq, "disabled")
        return self._fault_seq

    def _repair(self, kind: str, index: int, cause: FaultCause, fault: int) -> None:
        self._change_state(kind, index, cause, fault, "enabled")
        self.truths.fault_ended(fault, self.env.now)

    def _change_state(
        self,
        kind: str,
        index: int,
        cause: FaultCause,
        fault: int,
        state: Literal["enabled", "disabled"],
    ) -> None:
        """Count one more (or one fewer) active fault on a resource; reroute when its state
        flips. Overlapping faults (random and injected) each get their own truth record."""
        self.kernel.advance(self.env.now)
        counts = self.link_down if kind == "link" else self.node_down
        counts[index] += 1 if state == "disabled" else -1
        name, resource_kind = self._resource(kind, index)
        self.truth.publish(
            ResourceStateChange(
                self.env.now,
                name,
                resource_kind,
                state,
                cause,
                fault,
            )
        )
        if counts[index] == (1 if state == "disabled" else 0):
            self._reroute(kind, index, fault, planned=cause == "maintenance")

    def _links_in_service(self) -> np.ndarray:
        """A link is in service while it and both its end nodes are up."""
        topo, node_up = self.topo, self.node_down == 0
        return (self.link_down == 0) & node_up[topo.link_a] & node_up[topo.link_b]

    def _management_paths(self) -> np.ndarray:
        """Which nodes can reach a core to report: up, and routed to a working core (the
        management traffic shares the backhaul). A leaf tower's own row is the fresh one."""
        reachable = (self.node_down == 0) & np.isfinite(self._routes.node_dist)
        reachable[self.topo.tower_node] = ~self._routes.isolated
        return reachable

    def _reroute(self, kind: str, index: int, fault: int, *, planned: bool) -> None:
        """Recompute routes after a change of state, take cells in or out of service, and
        tell the alarms and the truth what changed."""
        topo = self.topo
        node_up, link_up = self.node_down == 0, self.link_down == 0
        leaf = (self._leaf_by_link if kind == "link" else self._leaf_by_node).get(index)
        if leaf is None or not update_leaf_route(
            topo, self._routes, leaf, int(self._leaf_uplink[leaf]), node_up, link_up
        ):
            self._routes = compute_routes(topo, node_up, link_up)
        self.kernel.set_routes(self._routes.tower_links, self._links_in_service())
        in_service = ~self._routes.isolated[topo.cell_tower]
        self.kernel.set_in_service(in_service)
        # Why each cell is out now: its own tower is down, or the tower is up with no path. A
        # cell already out whose reason changed (its tower came back while the path is still
        # cut, say) gets a new disabled record with the new cause, so the cause is never stale.
        # Cause codes (_CELL_CAUSES), not strings: comparing a national network's cells as
        # strings on every change cost more than the change itself.
        tower_down = ~node_up[topo.tower_node]
        cause = np.where(in_service, 0, np.where(tower_down[topo.cell_tower], 1, 2)).astype(np.int8)
        changed = np.flatnonzero(cause != self._cell_cause).tolist()
        for cell in changed:
            state: Literal["enabled", "disabled"] = "disabled" if cause[cell] else "enabled"
            self.truth.publish(
                ResourceStateChange(
                    self.env.now,
                    topo.cell_ids[cell],
                    "cell",
                    state,
                    _CELL_CAUSES[int(cause[cell] or self._cell_cause[cell])],
                )
            )
        self._cell_cause = cause
        reachable = self._management_paths()
        self.truths.out_of_service(self.env.now, fault, ~in_service, ~reachable)
        self.alarms.network_changed(kind, index, reachable, planned)

    # --- surges and business events -----------------------------------------------------------

    def _surge(self, event: SurgeEvent, occurrence: int) -> Surge:
        topo = self.topo
        towers = set(topo.tower_ids())
        cells: set[int] = set()
        tower_of_node = topo.tower_of_node()
        for target in event.targets:
            if target in towers:
                t = tower_of_node[topo.node_index[target]]
                cells.update(np.flatnonzero(topo.cell_tower == t).tolist())
            else:
                cells.add(topo.cell_ids.index(target))
        return Surge(
            np.array(sorted(cells), dtype=np.int64),
            event.factor,
            event.at,
            min(event.at + event.duration, self.scenario.duration),
            surge_rng(self.seed, key := surge_key(event, occurrence)),
            key,
        )

    def _business(
        self,
        index: int,
        event: OrderEvent | PriceChangeEvent,
    ) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(event.at)
        self.kernel.advance(self.env.now)
        if isinstance(event, OrderEvent):
            record = BusinessEvent(
                self.env.now,
                "order",
                event.product,
                count=event.count,
                tower=event.tower,
                event_index=index,
            )
        else:
            record = BusinessEvent(
                self.env.now,
                "price_change",
                event.product,
                monthly_fee=event.monthly_fee,
                event_index=index,
            )
        self.sink.publish(record)
