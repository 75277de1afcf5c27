"""Threshold alerts on the KPIs, as OpenNMS does them: trigger, re-arm, trigger count.

A :class:`Threshold` watches one KPI (``twin.oss.performance.KPIS``) on every resource of a
scope. A resource's threshold *fires* after ``trigger_count`` consecutive PM intervals past
``trigger`` (strictly above it for a high threshold, below for a low one) and is *re-armed*
by the first interval at or past ``rearm`` on the other side; between the two (the
hysteresis band) nothing changes, so a KPI wandering around its trigger raises one alarm, not
one per wobble. An interval with nothing to measure (a NaN rate) changes nothing either.

The thresholds on one KPI, scope and direction are the *levels* of one alarm per resource
(a link above 0.9 is major, above 0.98 critical): the alarm's severity is that of the highest
level fired, and it clears when every level has re-armed. :class:`ThresholdMonitor` evaluates
every level on all the resources of each :class:`~twin.oss.records.KpiBatch` at once (numpy
over the arrays, no loop per resource) and publishes a :class:`~twin.oss.records.ThresholdEvent`
only where an alarm's severity changed; fault management turns those into X.733
qualityOfServiceAlarms with ``crossedThresholdInformation`` (docs/thresholds.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from twin.bus import Bus
from twin.oss.records import (
    AlarmedObjectKind,
    CrossedThreshold,
    KpiBatch,
    ThresholdEvent,
)

__all__ = [
    "SEVERITY_RANK",
    "Threshold",
    "ThresholdMonitor",
    "default_thresholds",
    "evaluate",
    "scenario_thresholds",
]

Scope = Literal["cell", "tower", "link", "network"]
Direction = Literal["high", "low"]
Severity = Literal["critical", "major", "minor", "warning"]
SEVERITY_RANK: dict[str, int] = {"warning": 1, "minor": 2, "major": 3, "critical": 4}
_BY_RANK: tuple[Literal["cleared", "warning", "minor", "major", "critical"], ...] = (
    "cleared",
    "warning",
    "minor",
    "major",
    "critical",
)
_KIND: dict[str, AlarmedObjectKind] = {
    "cell": "cell",
    "tower": "tower",
    "link": "link",
    "network": "network",
}


@dataclass(frozen=True)
class Threshold:
    """One threshold: ``kpi`` on every resource of ``scope``; fires after ``trigger_count``
    consecutive intervals strictly past ``trigger`` in ``direction``, re-arms at the first
    interval at or past ``rearm`` (at or below ``trigger`` for high, at or above for low)."""

    kpi: str
    scope: Scope
    direction: Direction
    trigger: float
    rearm: float
    trigger_count: int
    severity: Severity

    def __post_init__(self) -> None:
        if self.trigger_count < 1:
            raise ValueError("trigger_count must be at least 1")
        wrong = self.rearm > self.trigger if self.direction == "high" else self.rearm < self.trigger
        if wrong:
            raise ValueError(f"re-arm {self.rearm:g} is on the wrong side of {self.trigger:g}")


def default_thresholds(
    gos_target: float,
    *,
    cell_utilization: float | None = None,
    voice_blocking: float | None = None,
    link_utilization: float | None = None,
    defaults: bool = True,
    rules: Iterable[Threshold] = (),
) -> tuple[Threshold, ...]:
    """Return the thresholds a scenario's ``twin.thresholds`` block asks for.

    The defaults (``defaults``): voice blocking on cells above ``gos_target`` (major, two
    intervals, re-armed at half of it), link utilisation above 0.9 (major, re-armed at 0.8)
    and 0.98 (critical, re-armed at 0.9), cell availability below 1 (minor, re-armed at 1).
    A shorthand key moves its default's trigger (the re-arm keeps its place relative to it)
    and is kept even without the defaults; ``cell_utilization`` adds a minor DataUtilization
    threshold on cells, which no default has. ``rules`` come after, as given.

    >>> [(t.kpi, t.trigger, t.severity) for t in default_thresholds(0.02)][:2]
    [('VoiceBlockingRate', 0.02, 'major'), ('LinkUtilization', 0.9, 'major')]
    """
    found: list[Threshold] = []
    if defaults or voice_blocking is not None:
        blocking = gos_target if voice_blocking is None else voice_blocking
        found.append(
            Threshold("VoiceBlockingRate", "cell", "high", blocking, blocking / 2, 2, "major")
        )
    if defaults or link_utilization is not None:
        level = 0.9 if link_utilization is None else link_utilization
        found.append(
            Threshold("LinkUtilization", "link", "high", level, max(level - 0.1, 0.0), 1, "major")
        )
    if defaults:
        found.append(Threshold("LinkUtilization", "link", "high", 0.98, 0.9, 1, "critical"))
        found.append(Threshold("CellAvailability", "cell", "low", 1.0, 1.0, 1, "minor"))
    if cell_utilization is not None:
        found.append(
            Threshold(
                "DataUtilization",
                "cell",
                "high",
                cell_utilization,
                max(cell_utilization - 0.1, 0.0),
                2,
                "minor",
            )
        )
    found.extend(rules)
    return tuple(found)


def scenario_thresholds(twin: Any) -> tuple[Threshold, ...]:
    """The thresholds of a scenario's validated ``twin`` block (``gos_target`` and
    ``thresholds``; see :func:`default_thresholds`)."""
    block = twin.thresholds
    return default_thresholds(
        twin.gos_target,
        cell_utilization=block.cell_utilization,
        voice_blocking=block.voice_blocking,
        link_utilization=block.link_utilization,
        defaults=block.defaults,
        rules=[
            Threshold(r.kpi, r.scope, r.direction, r.trigger, r.rearm, r.trigger_count, r.severity)
            for r in block.rules
        ],
    )


@dataclass
class _Levels:
    """The levels of one KPI, scope and direction, with each resource's state per level."""

    kpi: str
    scope: Scope
    direction: Direction
    levels: tuple[Threshold, ...]
    ids: tuple[str, ...] = ()
    count: np.ndarray | None = None  # (levels, resources) consecutive intervals past trigger
    fired: np.ndarray | None = None  # (levels, resources) bool
    arm_time_s: np.ndarray | None = None  # (levels, resources)
    rank: np.ndarray | None = None  # (resources,) severity rank of the alarm, 0 when none


def evaluate(
    values: np.ndarray,
    count: np.ndarray,
    fired: np.ndarray,
    *,
    trigger: np.ndarray,
    rearm: np.ndarray,
    trigger_count: np.ndarray,
    high: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One interval of every level on every resource: return the new consecutive counts, the
    new fired states, and where a level re-armed.

    ``values`` has one value per resource; ``count`` and ``fired`` are (levels, resources);
    ``trigger``, ``rearm``, ``trigger_count`` and ``high`` one value per level. NaN (nothing
    measured) neither counts, resets nor re-arms.

    >>> one = np.ones(1)
    >>> c, f, r = evaluate(np.array([0.5, 0.95]), np.zeros((1, 2), int), np.zeros((1, 2), bool),
    ...     trigger=0.9 * one, rearm=0.8 * one, trigger_count=one.astype(int), high=one > 0)
    >>> f.tolist()
    [[False, True]]
    """
    v = values[None, :]
    t, r = trigger[:, None], rearm[:, None]
    up = high[:, None]
    measured = ~np.isnan(v)
    past = np.where(up, v > t, v < t) & measured
    back = np.where(up, v <= r, v >= r) & measured
    count = np.where(past, count + 1, np.where(measured, 0, count))
    rearmed = fired & back
    fired = (fired | (count >= trigger_count[:, None])) & ~rearmed
    return count, fired, rearmed


class ThresholdMonitor:
    """Evaluates the thresholds on each :class:`KpiBatch` and publishes a
    :class:`ThresholdEvent` where a resource's alarm for a KPI and direction changes."""

    def __init__(self, bus: Bus, thresholds: Iterable[Threshold]) -> None:
        self.bus = bus
        grouped: dict[tuple[str, str, str], list[Threshold]] = {}
        for threshold in thresholds:
            key = (threshold.kpi, threshold.scope, threshold.direction)
            grouped.setdefault(key, []).append(threshold)
        self.groups = [
            _Levels(kpi, scope, direction, tuple(levels))  # type: ignore[arg-type]
            for (kpi, scope, direction), levels in grouped.items()
        ]
        self.events = 0
        self.raised: dict[str, int] = {}  # per KPI: alarms raised (a resource going past)
        self.start_s: float | None = None
        bus.subscribe(KpiBatch, self.on_kpis)

    def on_kpis(self, batch: KpiBatch) -> None:
        if self.start_s is None:
            self.start_s = batch.start_s
        for group in self.groups:
            ids, values = _scope_values(batch, group.scope, group.kpi)
            self._evaluate(group, ids, values, batch.end_s)

    def _evaluate(
        self, group: _Levels, ids: tuple[str, ...], values: np.ndarray, time_s: float
    ) -> None:
        levels = group.levels
        if group.count is None or group.ids != ids:
            n, k = len(ids), len(levels)
            group.ids = ids
            group.count = np.zeros((k, n), dtype=np.int64)
            group.fired = np.zeros((k, n), dtype=bool)
            group.arm_time_s = np.full((k, n), self.start_s or 0.0)
            group.rank = np.zeros(n, dtype=np.int64)
        assert group.fired is not None and group.arm_time_s is not None and group.rank is not None
        trigger = np.array([t.trigger for t in levels])
        count, fired, rearmed = evaluate(
            values,
            group.count,
            group.fired,
            trigger=trigger,
            rearm=np.array([t.rearm for t in levels]),
            trigger_count=np.array([t.trigger_count for t in levels]),
            high=np.array([t.direction == "high" for t in levels]),
        )
        group.count, group.fired = count, fired
        group.arm_time_s = np.where(rearmed, time_s, group.arm_time_s)
        ranks = np.array([SEVERITY_RANK[t.severity] for t in levels])
        rank = np.where(fired, ranks[:, None], 0).max(axis=0)
        changed = np.flatnonzero(rank != group.rank)
        for i in changed.tolist():  # few: only where an alarm is raised, changed or cleared
            new = int(rank[i])
            # the level the record describes: the highest fired, or the one that re-armed last
            if new:
                level = int(np.argmax(np.where(fired[:, i], ranks, 0)))
            else:
                level = int(np.argmax(np.where(rearmed[:, i], -ranks, -99)))
            threshold = levels[level]
            self.events += 1
            if not group.rank[i]:
                self.raised[group.kpi] = self.raised.get(group.kpi, 0) + 1
            self.bus.publish(
                ThresholdEvent(
                    time_s=time_s,
                    resource=ids[i],
                    resource_kind=_KIND[group.scope],
                    perceived_severity=_BY_RANK[new],
                    crossed=CrossedThreshold(
                        kpi=group.kpi,
                        observed_value=float(values[i]),
                        trigger=threshold.trigger,
                        rearm=threshold.rearm,
                        direction=threshold.direction,
                        arm_time_s=float(group.arm_time_s[level, i]),
                    ),
                )
            )
        group.rank = rank

    def summary(self) -> dict[str, Any]:
        """summary.json's ``thresholds``: how many there are, and the alarms they raised."""
        return {
            "thresholds": sum(len(g.levels) for g in self.groups),
            "raised": sum(self.raised.values()),
            "raised_by_kpi": dict(sorted(self.raised.items())),
        }


def _scope_values(batch: KpiBatch, scope: Scope, kpi: str) -> tuple[tuple[str, ...], np.ndarray]:
    if scope == "cell":
        return batch.cell_ids, np.asarray(batch.cell[kpi])
    if scope == "tower":
        return batch.tower_ids, np.asarray(batch.tower[kpi])
    if scope == "link":
        return batch.link_ids, np.asarray(batch.link[kpi])
    return ("network",), np.array([batch.network[kpi]])
