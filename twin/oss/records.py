"""Records the OSS functions publish on the bus, for each other, the store and the CLI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from twin.feed import AlarmType, PerceivedSeverity

__all__ = [
    "AlarmChange",
    "AlarmChangeKind",
    "AlarmedObjectKind",
    "AnomalyFlags",
    "CrossedThreshold",
    "KpiBatch",
    "SlaBreaches",
    "ThresholdEvent",
]

# What an alarm may stand on: a resource of the feed's kinds, or the whole network (only a
# threshold on a network KPI alarms that).
AlarmedObjectKind = Literal["core", "aggregation", "tower", "link", "cell", "network"]

AlarmChangeKind = Literal[
    "raised",  # a new alarm in the list
    "reduced",  # a repeat folded in: count and last_event_time_s grew
    "severity",  # perceived severity changed
    "cleared",  # by the network's clear, by the twin learning the element is back, or with its root
    "reraised",  # a problem back after its clear: the same alarm, raised again
    "acknowledged",
    "unacknowledged",
    "correlated",  # became a child of a root-cause alarm (parent_alarm set), or a root itself
    "flapping",  # the flapping alarm that stands for a storm on one resource
]


@dataclass(frozen=True)
class CrossedThreshold:
    """X.733's crossedThresholdInformation for a threshold alarm: the KPI watched (its
    ``triggeredThreshold``), the value observed in the PM interval that raised, changed or
    cleared the alarm, the threshold's trigger and re-arm values (its ``thresholdLevel``, a
    high or low threshold with its hysteresis) and ``arm_time_s``, when it was last armed (the
    run's start, or the interval that re-armed it)."""

    kpi: str
    observed_value: float
    trigger: float
    rearm: float
    direction: Literal["high", "low"]
    arm_time_s: float


@dataclass(frozen=True)
class ThresholdEvent:
    """A threshold alarm's state changing for one resource at the end of a PM interval
    (``time_s``), published by :mod:`twin.oss.thresholds` for fault management.

    ``perceived_severity`` is the severity of the highest level now crossed for this KPI and
    direction (a link above 0.98 is critical, above 0.9 major), or ``cleared`` when every
    level has re-armed; ``crossed`` describes that level, or the one that re-armed.
    ``resource`` is a cell, tower or link id, or ``network``.
    """

    time_s: float
    resource: str
    resource_kind: AlarmedObjectKind
    perceived_severity: PerceivedSeverity
    crossed: CrossedThreshold


@dataclass(frozen=True)
class AlarmChange:
    """One alarm of the twin's alarm list (TMF642 ``Alarm``) as it is after one change.

    ``alarm_id`` is stable for the alarm's life; ``count`` notifications were folded into it
    by its reduction key. ``cleared_time_s`` is None while it is active. A child of a root-cause
    alarm has ``parent_alarm`` set and leaves the active list shown to operators; a root has
    ``is_root_cause`` and its children in ``correlated_alarms``. ``root_candidates`` names, for
    a root that the alarms cannot tell from others, every resource that would explain them
    (the smallest such set); it is empty when the root cause is certain.
    """

    time_s: float
    change: AlarmChangeKind
    alarm_id: int
    alarmed_object: str
    alarmed_object_type: AlarmedObjectKind
    source: str
    alarm_type: AlarmType
    perceived_severity: PerceivedSeverity
    probable_cause: str
    specific_problem: str
    raised_time_s: float
    cleared_time_s: float | None
    ack_state: Literal["acknowledged", "unacknowledged"]
    count: int
    last_event_time_s: float
    planned_outage: bool = False
    is_root_cause: bool = False
    parent_alarm: int | None = None
    correlated_alarms: tuple[int, ...] = ()
    root_candidates: tuple[str, ...] = ()
    crossed_threshold: CrossedThreshold | None = None  # a threshold alarm's (X.733)


@dataclass(frozen=True, eq=False)
class KpiBatch:
    """The KPIs of one PM interval (``twin.oss.performance.KPIS``), columnar per scope.

    ``cell``, ``tower`` and ``link`` map a KPI name to a read-only array with one value per
    resource, in the order of ``cell_ids``, ``tower_ids`` and ``link_ids``; ``network`` maps each
    radio KPI to the whole network's value. A rate with nothing to measure (no attempts) is
    NaN. Invariants: successes never exceed attempts, and every rate is within [0, 1].
    """

    start_s: float
    end_s: float
    cell_ids: tuple[str, ...]
    tower_ids: tuple[str, ...]
    link_ids: tuple[str, ...]
    cell: Mapping[str, np.ndarray]
    tower: Mapping[str, np.ndarray]
    link: Mapping[str, np.ndarray]
    network: Mapping[str, float]


@dataclass(frozen=True, eq=False)
class SlaBreaches:
    """The subscriptions whose availability in one billing cycle fell below their product's
    SLA, as the twin measured it: one record per cycle closed (service assurance publishes it;
    billing credits each breach). Columnar: a national month's cycle has 300,000.

    Cycles are monthly from the run's start; the last is partial, over the time simulated.
    ``subscriber`` is the network's subscriber index (the feed's), ascending; ``availability``
    the share of the cycle the subscription had service by the twin's measure, ``target`` its
    product's ``sla.availability``. ``time_s`` is when the twin knew it: the cycle's end or the
    run's.
    """

    time_s: float
    cycle_start_s: float
    cycle_end_s: float
    subscriber: np.ndarray  # int64
    product: np.ndarray  # index into product_names
    product_names: tuple[str, ...]
    availability: np.ndarray
    target: np.ndarray

    def __len__(self) -> int:
        return len(self.subscriber)


@dataclass(frozen=True, eq=False)
class AnomalyFlags:
    """What anomaly detection (``twin.oss.anomalies``) made of one PM interval, per cell in the
    order of ``cell_ids``, published one interval late (a sleep's first, partial interval is
    told by the empty one after it).

    ``code`` is one of ``twin.oss.anomalies.CODES``: -1 not tested (the cell was out of service
    for part of the interval, or has no subscribers), 0 normal, 1 surge, 2 traffic low, 3
    asleep (nothing counted), 4 degraded. ``asleep_s`` is how long the twin takes the cell to
    have been asleep in the interval (0 where it was not); ``expected`` and ``observed`` the
    attempts (voice calls and data sessions) it expected and counted.
    """

    start_s: float
    end_s: float
    cell_ids: tuple[str, ...]
    code: np.ndarray
    asleep_s: np.ndarray
    expected: np.ndarray
    observed: np.ndarray
