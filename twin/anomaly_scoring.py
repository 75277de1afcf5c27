"""Anomaly detection scored against the injected truth, for summary.json's ``anomalies``.

Kept apart from the detector (``twin.oss.anomalies``) as ``twin.scoring`` is from fault
management: the detector never sees the truth; this module reads its published
:class:`~twin.oss.records.AnomalyFlags` and compares them, at the end of the run, with the
simulator's :class:`~sim.truth.AnomalyTruth` records.

Definitions (docs/anomalies.md):

- A **truth cell-interval** is a PM interval of a cell (each cell of a tower target) that an
  injected surge, sleep or degradation covers for at least half its length. One covered for
  less than half is *either*: flagged or not, it counts for nothing. So is one where the cell
  was not tested (out of service for part of it): the detector looks only at cells in service.
- **precision** = flagged truth cell-intervals / flagged cell-intervals that are not *either*;
  **recall** = flagged truth cell-intervals / truth cell-intervals.
- An injected **event** (one truth record: one target) is **found** when any cell-interval it
  touches is flagged; event recall = found / events that had a tested truth cell-interval. A
  **finding** (the detector's run of flagged intervals on one cell) is **true** when it
  overlaps in time an event on that cell; event precision = true findings / findings.
- ``false_per_1000_cell_days`` = findings that are not true, per 1,000 cells x days simulated.

Degradations of links are not scored (the detector looks at cells); they are counted in
``not_scored``.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Sequence
from typing import Any

import numpy as np

from sim.truth import AnomalyTruth
from twin.bus import Bus
from twin.feed import Inventory
from twin.oss.anomalies import ASLEEP, DEGRADED, LOW, SURGE, UNTESTED, Finding
from twin.oss.records import AnomalyFlags

__all__ = ["AnomalyScorer"]

FLAGGED = (SURGE, LOW, ASLEEP, DEGRADED)


def _ratio(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 6)


class AnomalyScorer:
    """Keeps which cells were flagged and which untested in every interval (sparse), and
    scores them with the findings against the truth at the end of the run."""

    def __init__(self) -> None:
        self.cell_ids: tuple[str, ...] = ()
        self._towers: dict[str, list[int]] = {}
        # Per interval only its bounds (16 bytes); the flagged cells of the intervals that have
        # any, and the untested cells where they change (cells without subscribers are
        # untested in every interval): a month's memory stays that of its flags.
        self._starts = array("d")
        self._ends = array("d")
        self._flagged: dict[int, np.ndarray] = {}
        self._untested_from: list[int] = []  # intervals where the untested cells change
        self._untested: list[np.ndarray] = []  # the untested cells from each of those on

    def attach(self, bus: Bus) -> None:
        bus.subscribe(Inventory, self._on_inventory)
        bus.subscribe(AnomalyFlags, self._on_flags)

    def _on_inventory(self, inv: Inventory) -> None:
        self.cell_ids = inv.cell_ids
        self._towers = {}
        for c, tower in enumerate(inv.cell_tower):
            self._towers.setdefault(tower, []).append(c)

    def _on_flags(self, flags: AnomalyFlags) -> None:
        k = len(self._starts)
        self._starts.append(flags.start_s)
        self._ends.append(flags.end_s)
        flagged = np.flatnonzero(np.isin(flags.code, FLAGGED)).astype(np.int32)
        if flagged.size:
            self._flagged[k] = flagged
        untested = np.flatnonzero(flags.code == UNTESTED).astype(np.int32)
        if not self._untested or not np.array_equal(untested, self._untested[-1]):
            self._untested_from.append(k)
            self._untested.append(untested)

    def _untested_in(self, k: int) -> np.ndarray:
        """The cells untested in interval ``k``."""
        return self._untested[bisect.bisect_right(self._untested_from, k) - 1]

    def _cells_of(self, resource: str) -> list[int] | None:
        if resource in self._towers:
            return self._towers[resource]
        if resource in self.cell_ids:
            return [self.cell_ids.index(resource)]
        return None  # a link

    def score(
        self, truth: Sequence[AnomalyTruth], findings: Sequence[Finding], duration_s: float
    ) -> dict[str, Any]:
        """summary.json's ``anomalies``: the findings and how they compare with the truth."""
        # Sparse throughout: flags and truths are few, so memory does not grow with cells x
        # intervals (a month of the national network is 43 million cell-intervals).
        n_cells = len(self.cell_ids)
        starts = np.array(self._starts, dtype=float)
        ends = np.array(self._ends, dtype=float)
        flagged = {(k, int(c)) for k, cells in self._flagged.items() for c in cells.tolist()}
        positive: set[tuple[int, int]] = set()
        either: set[tuple[int, int]] = set()
        events: list[tuple[AnomalyTruth, list[int], set[tuple[int, int]], bool]] = []
        not_scored = 0
        for record in truth:
            cells = self._cells_of(record.resource)
            if cells is None:
                not_scored += 1
                continue
            overlap = np.clip(
                np.minimum(ends, record.end_s) - np.maximum(starts, record.start_s), 0.0, None
            )
            covered = overlap >= 0.5 * (ends - starts)
            touched: set[tuple[int, int]] = set()
            scorable = False
            for k in np.flatnonzero(overlap > 0).tolist():
                untested = set(self._untested_in(k).tolist())
                for c in cells:
                    touched.add((k, c))
                    if covered[k] and c not in untested:
                        positive.add((k, c))
                        scorable = True
                    else:
                        either.add((k, c))
            events.append((record, cells, touched, scorable))
        either -= positive
        true_positive = len(flagged & positive)
        counted_flags = len(flagged - either)
        truths = len(positive)
        scorable_events = [touched for _, _, touched, scorable in events if scorable]
        found = sum(bool(touched & flagged) for touched in scorable_events)
        events_on_cells = [(record, cells) for record, cells, _, _ in events]

        true_findings = 0
        for finding in findings:
            true_findings += any(
                finding.cell in self._names(cells)
                and finding.start_s < record.end_s
                and finding.end_s > record.start_s
                for record, cells in events_on_cells
            )
        false_findings = len(findings) - true_findings
        cell_days = n_cells * duration_s / 86400.0
        return {
            "precision": _ratio(true_positive, counted_flags),
            "recall": _ratio(true_positive, truths),
            "flagged_cell_intervals": len(flagged),
            "truth_cell_intervals": truths,
            "events": {
                "injected": len(events),
                "scorable": len(scorable_events),
                "found": found,
                "recall": _ratio(found, len(scorable_events)),
                "precision": _ratio(true_findings, len(findings)),
            },
            "not_scored": not_scored,
            "false_findings": false_findings,
            "cell_days": round(cell_days, 3),
            "false_per_1000_cell_days": round(1000.0 * false_findings / cell_days, 4)
            if cell_days
            else None,
            "findings": [f.to_json() for f in findings],
        }

    def _names(self, cells: list[int]) -> set[str]:
        return {self.cell_ids[c] for c in cells}
