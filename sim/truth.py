"""Ground truth: what really happened, kept apart from the feed for scoring only.

The simulator knows which fault took each resource out of service; a real OSS never does, and
has to work it out from imperfect alarms. So these records go to a separate truth sink (the run
directory's ``truth.json``), never to the feed the twin reads: fault management is scored
against them, and must not learn from them.

Four kinds of record:

- :class:`~twin.feed.ResourceStateChange`: every node, link and cell going out of service or
  back, with its cause (the simulator's perfect view; it used to be on the feed).
- :class:`FaultTruth`: one per fault, from its start to its end, with its cause (``random``,
  ``injected``, ``flap`` or ``maintenance``) and whether it was planned.
- :class:`OutageAttribution`: one per outage of a cell (out of service) or a node (no
  management path), naming the fault whose change started it. With overlapping faults it is
  the one whose change took the resource out: a cell isolated by a cut names the cut even if
  its tower then fails too, and keeps naming it until the cell is back.
- :class:`AnomalyTruth`: one per injected traffic anomaly (``surge``, ``sleep``, ``degrade``)
  and target, from its start to its end: what anomaly detection is scored against. These raise
  no alarm and change no state, so nothing else in the truth shows them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, TypeVar

import numpy as np

from twin.feed import ResourceKind, ResourceStateChange

__all__ = [
    "AnomalyKind",
    "AnomalyTruth",
    "FaultCause",
    "FaultTruth",
    "OutageAttribution",
    "TruthLog",
    "TruthRecord",
    "TruthSink",
    "Truths",
]

T = TypeVar("T")
FaultCause = Literal["random", "injected", "flap", "maintenance"]
AnomalyKind = Literal["surge", "sleep", "degrade"]


@dataclass(frozen=True)
class FaultTruth:
    """One fault: ``resource`` (a node or link) out of service from ``start_s`` to ``end_s``
    (None when it outlasted the run). ``fault_id`` is the one its ``ResourceStateChange`` and
    :class:`OutageAttribution` records carry. ``planned`` is true for maintenance only."""

    fault_id: int
    resource: str
    kind: ResourceKind
    start_s: float
    end_s: float | None
    cause: FaultCause
    planned: bool


@dataclass(frozen=True)
class OutageAttribution:
    """A cell out of service, or a node without a management path, from ``start_s`` to
    ``end_s`` (None at the end of the run), because fault ``fault_id`` took it out.

    A failed node's own outage names its own fault; a tower behind a cut names the cut.
    """

    resource: str
    kind: ResourceKind
    start_s: float
    end_s: float | None
    fault_id: int


@dataclass(frozen=True)
class AnomalyTruth:
    """An injected anomaly on ``resource`` (the event's target: a cell, a tower, or for
    ``degrade`` also a link) from ``start_s`` to ``end_s`` (cut at the end of the run).

    ``factor`` multiplies the traffic (``surge``) or the data capacity (``degrade``); a
    ``sleep`` carries nothing, factor 0. A surge on several targets gives one record each.
    """

    kind: AnomalyKind
    resource: str
    start_s: float
    end_s: float
    factor: float


TruthRecord = ResourceStateChange | FaultTruth | OutageAttribution | AnomalyTruth


class TruthSink(Protocol):
    """Anything that takes truth records: a :class:`TruthLog`, a test's list."""

    def publish(self, record: TruthRecord) -> None: ...


class DropTruth:
    """The default truth sink: a run that scores nothing keeps nothing."""

    def publish(self, record: TruthRecord) -> None:
        pass


@dataclass
class TruthLog:
    """Keeps every truth record in order and hands each to its listeners (the summary's
    outages, the store's ``resource_states``): the scoring side's own little bus."""

    records: list[TruthRecord] = field(default_factory=list)
    listeners: list[Callable[[TruthRecord], None]] = field(default_factory=list)

    def publish(self, record: TruthRecord) -> None:
        self.records.append(record)
        for listener in self.listeners:
            listener(record)

    def of_type(self, kind: type[T]) -> list[T]:
        return [r for r in self.records if isinstance(r, kind)]

    def to_json(self) -> dict[str, Any]:
        """The records by type, each a list of plain dictionaries in the order published."""
        return {
            "faults": [asdict(r) for r in self.of_type(FaultTruth)],
            "outages": [asdict(r) for r in self.of_type(OutageAttribution)],
            "state_changes": [asdict(r) for r in self.of_type(ResourceStateChange)],
            "anomalies": [asdict(r) for r in self.of_type(AnomalyTruth)],
        }


@dataclass
class _Open:
    start_s: float
    fault_id: int


class Truths:
    """What the engine tells the truth sink as faults start and end and resources go out.

    The engine calls :meth:`fault_started` and :meth:`fault_ended` for every fault, and
    :meth:`out_of_service` after every change of routes with who is out now and which fault
    changed; :meth:`finish` closes what is still open at the end of the run.
    """

    def __init__(
        self,
        sink: TruthSink,
        cell_ids: list[str],
        node_ids: list[str],
        node_kinds: list[ResourceKind],
    ):
        self.sink = sink
        self.cell_ids = cell_ids
        self.node_ids = node_ids
        self.node_kinds = node_kinds
        self._faults: dict[int, tuple[str, ResourceKind, float, FaultCause]] = {}
        self._cells_out: dict[int, _Open] = {}
        self._nodes_out: dict[int, _Open] = {}

    def fault_started(
        self, fault_id: int, resource: str, kind: ResourceKind, time_s: float, cause: FaultCause
    ) -> None:
        self._faults[fault_id] = (resource, kind, time_s, cause)

    def fault_ended(self, fault_id: int, time_s: float | None) -> None:
        resource, kind, start_s, cause = self._faults.pop(fault_id)
        self.sink.publish(
            FaultTruth(
                fault_id, resource, kind, start_s, time_s, cause, planned=cause == "maintenance"
            )
        )

    def out_of_service(
        self, time_s: float, fault_id: int, cell_out: np.ndarray, node_unreachable: np.ndarray
    ) -> None:
        """Attribute what went out with this change to ``fault_id``; close what came back."""
        self._follow(time_s, fault_id, cell_out, self._cells_out, self.cell_ids, None)
        self._follow(
            time_s, fault_id, node_unreachable, self._nodes_out, self.node_ids, self.node_kinds
        )

    def _follow(
        self,
        time_s: float,
        fault_id: int,
        out: np.ndarray,
        open_outages: dict[int, _Open],
        ids: list[str],
        kinds: list[ResourceKind] | None,
    ) -> None:
        was_out = np.zeros(len(out), dtype=bool)
        was_out[list(open_outages)] = True
        for index in np.flatnonzero(out & ~was_out).tolist():
            open_outages[index] = _Open(time_s, fault_id)
        for index in np.flatnonzero(was_out & ~out).tolist():
            self._publish(index, open_outages.pop(index), time_s, ids, kinds)

    def _publish(
        self,
        index: int,
        outage: _Open,
        end_s: float | None,
        ids: list[str],
        kinds: list[ResourceKind] | None,
    ) -> None:
        kind: ResourceKind = "cell" if kinds is None else kinds[index]
        self.sink.publish(
            OutageAttribution(ids[index], kind, outage.start_s, end_s, outage.fault_id)
        )

    def finish(self) -> None:
        """Publish the faults and outages still open at the end of the run (``end_s`` None)."""
        for index, outage in sorted(self._cells_out.items()):
            self._publish(index, outage, None, self.cell_ids, None)
        for index, outage in sorted(self._nodes_out.items()):
            self._publish(index, outage, None, self.node_ids, self.node_kinds)
        self._cells_out.clear()
        self._nodes_out.clear()
        for fault_id in sorted(self._faults):
            self.fault_ended(fault_id, None)
