"""The feed: every record the network sends the twin, and the commands the twin may send back.

This module is the seam between the simulator and the twin, and the twin's only input. It is
what a real network's exports (inventory, fault notifications, 3GPP PM files, CDRs) would be
mapped into, so nothing here refers to simulator objects. Northbound records are frozen
dataclasses; the high-volume kinds (PM samples, usage) are columnar batches of numpy arrays,
one array per counter, aligned with an id list sent once in the :class:`Inventory`.

Times are seconds since the run's ``start`` (``time_s``), which the :class:`RunStarted` record
gives as an absolute UTC time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol, TypeVar

import numpy as np

__all__ = [
    "CELL_EVENT_COUNTERS",
    "Admission",
    "AlarmNotification",
    "BusinessEvent",
    "CellPmBatch",
    "FeedRecord",
    "FeedSink",
    "Inventory",
    "LinkPmBatch",
    "NetworkCommands",
    "RecordingSink",
    "Release",
    "ResourceKind",
    "ResourceStateChange",
    "RunEnded",
    "RunStarted",
    "SubscriptionAdmitted",
    "SubscriptionReleased",
    "UsageBatch",
]

T = TypeVar("T")
ResourceKind = Literal["core", "aggregation", "tower", "link", "cell"]
AlarmType = Literal[
    "communicationsAlarm",
    "qualityOfServiceAlarm",
    "processingErrorAlarm",
    "equipmentAlarm",
    "environmentalAlarm",
]
PerceivedSeverity = Literal["critical", "major", "minor", "warning", "indeterminate", "cleared"]

# The counters of a CellPmBatch that count events (the others are volumes, loads or seconds).
CELL_EVENT_COUNTERS = (
    "voice_offered",
    "voice_carried",
    "voice_blocked",
    "voice_failed",
    "voice_dropped",
    "data_sessions",
)


@dataclass(frozen=True)
class RunStarted:
    scenario: str
    seed: int
    start: datetime
    duration_s: float
    pm_interval_s: float
    usage_interval_s: float
    currency: str | None


@dataclass(frozen=True, eq=False)
class Inventory:
    """The network's resources as the inventory system would export them, sent once at start.

    Cell and link PM batches are aligned with ``cell_ids`` and ``link_ids``.
    """

    node_ids: tuple[str, ...]
    node_roles: tuple[str, ...]
    node_lat: np.ndarray
    node_lon: np.ndarray
    link_ids: tuple[str, ...]
    link_a: tuple[str, ...]
    link_b: tuple[str, ...]
    link_capacity_mbps: np.ndarray
    link_latency_ms: np.ndarray
    cell_ids: tuple[str, ...]
    cell_tower: tuple[str, ...]
    cell_voice_channels: np.ndarray
    cell_data_mbps: np.ndarray
    subscriber_cell: np.ndarray  # index into cell_ids of each subscriber's home cell
    product_names: tuple[str, ...]  # ('',) when the scenario names no products
    subscriber_product: np.ndarray  # index into product_names per subscriber

    @property
    def subscribers(self) -> int:
        """How many subscribers the network had at the start of the run."""
        return len(self.subscriber_cell)


@dataclass(frozen=True)
class ResourceStateChange:
    """A node, link or cell going out of service or back (X.731 operational state).

    Ground truth, not feed: the simulator's perfect view, causes included, which no real OSS
    has. The simulator publishes it to its truth sink only (:mod:`sim.truth`, the run
    directory's ``truth.json``), never to the feed; it is defined here because the store's
    ``resource_states`` table, fed from the truth, writes it.

    ``fault_id`` pairs the disabling and enabling records of one outage of a node or link;
    ``cause`` is ``injected`` or ``random`` for faults, ``isolation`` for a cell whose tower has
    no path to a core, ``node`` for a cell whose own tower is down.

    A cell's reason for being out can change while it stays out (its tower comes back while
    the path is still cut): a new ``disabled`` record for a cell already disabled says so, with
    the new cause. A cell's ``enabled`` record carries the cause of the outage it ends. A link
    is out of service while either end node is down too (its PM ``seconds_in_service`` count
    that), but only its own faults send records for it.
    """

    time_s: float
    resource: str
    kind: ResourceKind
    operational_state: Literal["enabled", "disabled"]
    cause: str
    fault_id: int = -1


@dataclass(frozen=True)
class AlarmNotification:
    """One alarm notification as the element management system forwards it (ITU-T X.733,
    TMF642 field names in snake case): a problem raised, or cleared (severity ``cleared``).

    ``source`` is the element that reported it: a node id (a link's loss of signal is reported
    by the node at each end, one notification per port), or ``"nms"`` for what the management
    system raises itself (an element unreachable after its heartbeat timeout). ``event_time_s``
    is when the element raised it, ``time_s`` when it reached the twin (never earlier). A
    duplicate is the same notification delivered again: same ``notification_id`` and content,
    a later ``time_s``. ``planned_outage`` is X.733's plannedOutageIndicator (maintenance).

    What reaches the twin obeys the network's rules: an element with no management path to a
    core says nothing, so notifications can be late, doubled or lost (``faults.notifications``).
    An element whose path comes back re-reports the alarms it holds (``event_time_s`` may then
    be long before ``time_s``) and clears those the twin may still hold that have ended: an
    alarm resynchronisation. Notifications arrive in ``time_s`` order. The rules, with the
    probable causes and severities used, are in docs/alarms.md.
    """

    notification_id: int
    time_s: float
    event_time_s: float
    alarmed_object: str
    alarmed_object_type: ResourceKind
    source: str
    alarm_type: AlarmType
    perceived_severity: PerceivedSeverity
    probable_cause: str
    specific_problem: str
    planned_outage: bool = False


@dataclass(frozen=True, eq=False)
class CellPmBatch:
    """3GPP-style cell counters for one PM interval, one array element per cell.

    Voice counts are call attempts: ``offered = carried + blocked + failed``, where ``blocked``
    found every channel busy and ``failed`` found the cell out of service. ``dropped`` counts
    carried calls cut when the cell went out of service. Erlangs are the interval's mean.
    """

    start_s: float
    end_s: float
    voice_offered: np.ndarray
    voice_carried: np.ndarray
    voice_blocked: np.ndarray
    voice_failed: np.ndarray
    voice_dropped: np.ndarray
    offered_erlangs: np.ndarray
    carried_erlangs: np.ndarray
    data_sessions: np.ndarray
    data_demand_mb: np.ndarray
    data_served_mb: np.ndarray
    utilization: np.ndarray  # served / capacity over the interval
    seconds_in_service: np.ndarray


@dataclass(frozen=True, eq=False)
class LinkPmBatch:
    start_s: float
    end_s: float
    demand_mb: np.ndarray
    carried_mb: np.ndarray
    utilization: np.ndarray
    seconds_in_service: np.ndarray


@dataclass(frozen=True, eq=False)
class UsageBatch:
    """Usage per subscriber over one usage period (TMF635 usage, status ``received``).

    Only subscribers with some usage appear. A call's seconds fall in the period they were
    spoken in, so a call across midnight is split between two periods.
    """

    start_s: float
    end_s: float
    subscriber: np.ndarray  # int64 subscriber index
    voice_seconds: np.ndarray
    data_mb: np.ndarray


@dataclass(frozen=True)
class BusinessEvent:
    """A business-side event from the scenario (``order``, ``price_change``), for the BSS."""

    time_s: float
    action: str
    product: str
    count: int = 0
    tower: str = ""
    monthly_fee: Decimal | None = None
    event_index: int = -1


@dataclass(frozen=True)
class SubscriptionAdmitted:
    """A subscription the network admitted on a southbound command: a new subscriber."""

    time_s: float
    subscriber: int
    cell: str
    product: str


@dataclass(frozen=True)
class SubscriptionReleased:
    """A subscriber the network released on a southbound command: it makes no more traffic
    and no more usage from ``time_s`` on, and no longer counts against its tower's
    ``max_subscribers``. Its index is never reused."""

    time_s: float
    subscriber: int
    cell: str
    product: str


@dataclass(frozen=True)
class RunEnded:
    time_s: float


FeedRecord = (
    SubscriptionAdmitted
    | SubscriptionReleased
    | RunStarted
    | Inventory
    | ResourceStateChange
    | AlarmNotification
    | CellPmBatch
    | LinkPmBatch
    | UsageBatch
    | BusinessEvent
    | RunEnded
)


class FeedSink(Protocol):
    """Anything that takes feed records: the twin's bus, a store, a test's list."""

    def publish(self, record: FeedRecord) -> None: ...


@dataclass(frozen=True)
class Admission:
    """The network's answer to a request to admit a subscription on a tower."""

    accepted: bool
    tower: str
    reason: str = ""
    subscriber: int = -1  # the new subscriber's index when accepted


@dataclass(frozen=True)
class Release:
    """The network's answer to a request to release a subscriber.

    ``released`` is True the one time the subscriber is released; asking again (or for a
    subscriber the network never had) changes nothing and says why in ``reason``.
    """

    released: bool
    subscriber: int
    reason: str = ""


class NetworkCommands(Protocol):
    """Southbound commands the twin may send the network."""

    def admit_subscription(self, tower: str, product: str) -> Admission: ...

    def release_subscription(self, subscriber: int) -> Release:
        """Release a subscriber (undo an admission); idempotent."""
        ...


@dataclass
class RecordingSink:
    """A sink that keeps every record, for tests and notebooks."""

    records: list[FeedRecord] = field(default_factory=list)

    def publish(self, record: FeedRecord) -> None:
        self.records.append(record)

    def of_type(self, kind: type[T]) -> list[T]:
        return [r for r in self.records if isinstance(r, kind)]
