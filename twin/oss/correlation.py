"""Root cause by topology: which single failed resources explain which alarms.

An alarm says less than it seems. A loss of signal reported by node ``a`` on link ``l`` means
``l`` is cut or the node at its far end is down; an "element unreachable" on node ``x`` means
``x`` is down or something on every path from ``x`` to the cores is (the bridges and
articulation points between them, :meth:`InventoryMirror.isolators`); a dying gasp from ``x``
means ``x`` is down; a cell-unavailable from tower ``t`` means the cell is out, or its tower
was cut off. :func:`explanations` turns each alarm into that set of candidate resources, and
:func:`cover` picks, greedily, the resource that explains the most alarms of an incident,
then the next for what is left (a set cover). Resources that explain exactly the same alarms
and would take down as much are indistinguishable from the alarms: they are named together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from twin.oss.inventory import InventoryMirror

__all__ = ["Explanation", "cover", "explanations", "proven_up"]

NODE_KINDS = frozenset({"core", "aggregation", "tower"})

# When the alarms cannot tell resources apart, the first named is the likelier one: a cut
# link before a dead node (a dying node usually says so with its dying gasp, which would
# have told them apart), a tower before the sites above it.
_KIND_ORDER = {"link": 0, "tower": 1, "aggregation": 2, "core": 3, "cell": 4}


@dataclass(frozen=True)
class Explanation:
    """One failed resource, or several the alarms cannot tell apart (``candidates``, the
    likeliest first), and the alarms it explains."""

    candidates: tuple[str, ...]
    alarms: frozenset[int]


def explanations(
    mirror: InventoryMirror | None, alarmed_object: str, source: str
) -> frozenset[str]:
    """Return every resource whose failure alone would raise this alarm.

    >>> explanations(None, "l-1", "agg")
    frozenset({'l-1'})
    """
    kind = mirror.kind(alarmed_object) if mirror is not None else None
    if mirror is None or kind is None:
        return frozenset({alarmed_object})
    if kind == "link":
        a, b = mirror.link_ends(alarmed_object)
        far = {a: b, b: a}.get(source)
        return frozenset({alarmed_object} if far is None else {alarmed_object, far})
    if kind == "cell":
        tower = mirror.tower_of(alarmed_object)
        return frozenset({alarmed_object, tower}) | mirror.isolators(tower)
    if source == alarmed_object:  # a node about itself: a dying gasp, an equipment alarm
        return frozenset({alarmed_object})
    # the management system (or another element) cannot reach it
    return frozenset({alarmed_object}) | mirror.isolators(alarmed_object)


def proven_up(mirror: InventoryMirror | None, alarmed_object: str, source: str) -> frozenset[str]:
    """Return the resources that the clear of this alarm shows to be working again: whatever
    could have raised it, and the reporting element itself."""
    up = explanations(mirror, alarmed_object, source)
    if mirror is not None and mirror.kind(source) in NODE_KINDS:
        up |= {source}
    return up


def _order(mirror: InventoryMirror | None, resource: str) -> tuple[int, str]:
    kind = mirror.kind(resource) if mirror is not None else None
    return _KIND_ORDER.get(kind or "", 9), resource


def cover(
    evidence: Mapping[int, frozenset[str]],
    mirror: InventoryMirror | None,
    secondary: Mapping[int, str] | None = None,
) -> list[Explanation]:
    """Return the explanations of the alarms ``evidence`` maps to their candidate resources.

    Greedy set cover: the resource explaining the most unexplained alarms first, ties going
    to the one that takes the fewest nodes down with it (the most specific cause); resources
    explaining the same alarms and taking as many down are named together. Every alarm ends
    in exactly one explanation.

    ``secondary`` alarms (cell-unavailable, mapped to their own resource) do not choose a
    cause: the element that reported one could still talk, so a cause above it is suspect.
    One joins the first explanation that one of its candidates is in, or else stands on its
    own resource.

    >>> found = cover({1: frozenset({"l", "t"}), 2: frozenset({"l", "t"}), 3: frozenset("c")}, None)
    >>> [(e.candidates, sorted(e.alarms)) for e in found]
    [(('l', 't'), [1, 2]), (('c',), [3])]
    """

    def size(resource: str) -> int:
        return mirror.isolated_count(resource) if mirror is not None else 0

    secondary = secondary or {}
    uncovered = set(evidence) - set(secondary)
    found: list[Explanation] = []
    while uncovered:
        explained: dict[str, set[int]] = defaultdict(set)
        for alarm in uncovered:
            for resource in evidence[alarm]:
                explained[resource].add(alarm)
        best = min(explained, key=lambda r: (-len(explained[r]), size(r), _order(mirror, r)))
        alarms, best_size = explained[best], size(best)
        candidates = sorted(
            (r for r in explained if explained[r] == alarms and size(r) == best_size),
            key=lambda r: _order(mirror, r),
        )
        found.append(Explanation(tuple(candidates), frozenset(alarms)))
        uncovered -= alarms
    alone: dict[str, set[int]] = defaultdict(set)
    for alarm in sorted(secondary):
        for k, explanation in enumerate(found):
            if not evidence[alarm].isdisjoint(explanation.candidates):
                found[k] = Explanation(explanation.candidates, explanation.alarms | {alarm})
                break
        else:
            alone[secondary[alarm]].add(alarm)
    found += [Explanation((r,), frozenset(alarms)) for r, alarms in sorted(alone.items())]
    return found
