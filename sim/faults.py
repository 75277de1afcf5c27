"""Random failures: alternating exponential up and repair times per resource.

Every resource's outages over the run are drawn up front, for all resources of a kind at once,
so a national network's fault timeline costs a few vectorised draws rather than a process per
resource. Long-run unavailability is MTTR / (MTBF + MTTR).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Outage", "draw_outages"]


@dataclass(frozen=True, order=True)
class Outage:
    start_s: float
    end_s: float
    resource: int  # index of the node or link
    kind: str  # "node" or "link"


def draw_outages(
    resources: np.ndarray,
    mtbf_s: float,
    mttr_s: float,
    horizon_s: float,
    rng: np.random.Generator,
    kind: str,
) -> list[Outage]:
    """Return the random outages of ``resources`` that start before ``horizon_s``.

    Each resource starts up, stays up for an exponential time with mean ``mtbf_s``, then down
    for an exponential time with mean ``mttr_s``, and so on. The end of the last outage may lie
    past the horizon.
    """
    outages: list[Outage] = []
    clock = np.zeros(len(resources))
    alive = np.asarray(resources)
    while len(alive):
        start = clock + rng.exponential(mtbf_s, len(alive))
        failing = start < horizon_s
        alive, start = alive[failing], start[failing]
        end = start + rng.exponential(mttr_s, len(alive))
        outages.extend(
            Outage(float(s), float(e), int(r), kind)
            for r, s, e in zip(alive, start, end, strict=True)
        )
        keep = end < horizon_s
        alive, clock = alive[keep], end[keep]
    return sorted(outages)
