"""Root cause by topology: which single failed resources explain which alarms.

An alarm says less than it seems. A loss of signal reported by node ``a`` on link ``l`` means
``l`` is cut or the node at its far end is down; an "element unreachable" on node ``x`` means
``x`` is down or something on every path from ``x`` to the cores is (the bridges and
articulation points between them, :meth:`InventoryMirror.isolators`); a dying gasp from ``x``
means ``x`` is down; a cell-unavailable from tower ``t`` means the cell is out, or its tower
was cut off. :func:`explanations` turns each alarm into that set of candidate resources, and
:func:`cover` picks, greedily, the resource that explains the most alarms of an incident,
then the next for what is left (a set cover), and gives each unreachable element to the
failures that cut it off. Resources that explain exactly the same alarms
and would take down as much are indistinguishable from the alarms: they are named together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from twin.oss.inventory import InventoryMirror, isolated_by

__all__ = ["Evidence", "Explanation", "cover", "explanations", "proven_up"]

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


@dataclass(frozen=True)
class Evidence:
    """One alarm as root cause reads it: the resources that could have raised it, the
    resource it names, and its role: ``local`` (a loss of signal, an element's alarm about
    itself), ``unreachable`` (the management system lost the element) or ``cell``."""

    candidates: frozenset[str]
    subject: str
    role: Literal["local", "unreachable", "cell"]


def cover(
    evidence: Mapping[int, Evidence],
    mirror: InventoryMirror | None,
    down: frozenset[str] = frozenset(),
) -> list[Explanation]:
    """Return the explanations of the alarms of one incident, given the resources the twin
    already believes failed (``down``: the resources of other active roots).

    1. The *local* alarms (losses of signal, dying gasps) choose the failed resources, by a
       greedy set cover: the resource explaining the most unexplained alarms first, ties
       going to the one that takes the fewest nodes down with it (the most specific cause);
       resources explaining the same alarms and taking as many down are named together
       (counted with ``down`` already failed, when the count differs from the intact
       network's: with one of two uplinks known down, the other's cut takes as much down as
       the site behind them).
    2. An "element unreachable" goes to those failures when, together with ``down``, they
       cut its element off: to the first failure without which it would be reachable. So
       two cuts on a ring explain the towers between them, which no single resource does,
       and a cut of the second of two uplinks, the first known down, explains the site
       behind them and its towers. What is left is
       covered the same greedy way, joining an explanation of step 1 that shares a
       candidate.
    3. A cell-unavailable never chooses a cause (its tower could still talk, so a cause
       above it is suspect): it joins the first explanation one of its candidates is in, or
       else stands on its own cell.

    Every alarm ends in exactly one explanation.

    >>> e = {1: Evidence(frozenset({"l", "t"}), "l", "local")}
    >>> e[2] = Evidence(frozenset("c"), "c", "cell")
    >>> [(x.candidates, sorted(x.alarms)) for x in cover(e, None)]
    [(('l', 't'), [1]), (('c',), [2])]
    """
    by_role: dict[str, list[int]] = defaultdict(list)
    for alarm in sorted(evidence):
        by_role[evidence[alarm].role].append(alarm)
    found = _greedy({a: evidence[a].candidates for a in by_role["local"]}, mirror, down)
    unexplained = by_role["unreachable"]
    if found and unexplained and mirror is not None:
        unexplained = _by_failures(found, unexplained, evidence, mirror, down)
    for extra in _greedy({a: evidence[a].candidates for a in unexplained}, mirror, down):
        for k, explanation in enumerate(found):
            if not set(extra.candidates).isdisjoint(explanation.candidates):
                found[k] = Explanation(explanation.candidates, explanation.alarms | extra.alarms)
                break
        else:
            found.append(extra)
    alone: dict[str, set[int]] = defaultdict(set)
    for alarm in by_role["cell"]:
        for k, explanation in enumerate(found):
            if not evidence[alarm].candidates.isdisjoint(explanation.candidates):
                found[k] = Explanation(explanation.candidates, explanation.alarms | {alarm})
                break
        else:
            alone[evidence[alarm].subject].add(alarm)
    found += [Explanation((r,), frozenset(alarms)) for r, alarms in sorted(alone.items())]
    return found


def _by_failures(
    found: list[Explanation],
    unreachable: list[int],
    evidence: Mapping[int, Evidence],
    mirror: InventoryMirror,
    down: frozenset[str],
) -> list[int]:
    """Give each unreachable element the failure it needs among ``found`` (in place), the
    resources in ``down`` counted as failed too; return the alarms those failures do not
    explain."""
    failed = [e.candidates[0] for e in found]
    known = sorted(down - set(failed))
    left: list[int] = []
    together: list[int] = []
    for alarm in unreachable:  # one failure alone cuts it off: no search needed
        alone = next((k for k, r in enumerate(failed) if r in evidence[alarm].candidates), None)
        if alone is None:
            together.append(alarm)
        else:
            found[alone] = Explanation(found[alone].candidates, found[alone].alarms | {alarm})
    if not together or len(failed) + len(known) < 2:
        return together
    cut_off = isolated_by(mirror, failed + known)
    already = isolated_by(mirror, known)
    for alarm in together:
        node = mirror.node_index.get(evidence[alarm].subject)
        if node is None or node not in cut_off or node in already:
            left.append(alarm)  # not cut off, or cut off by what failed before: not these
            continue
        needed = next(
            (
                k
                for k in range(len(failed))
                if node not in isolated_by(mirror, failed[:k] + failed[k + 1 :] + known)
            ),
            0,
        )
        found[needed] = Explanation(found[needed].candidates, found[needed].alarms | {alarm})
    return left


def _greedy(
    evidence: Mapping[int, frozenset[str]],
    mirror: InventoryMirror | None,
    down: frozenset[str] = frozenset(),
) -> list[Explanation]:
    def size(resource: str) -> int:
        return mirror.isolated_count(resource) if mirror is not None else 0

    def size_given_down(resource: str) -> int:
        """How many more nodes go when ``resource`` fails too, with ``down`` failed."""
        if mirror is None or not down:
            return size(resource)
        before = isolated_by(mirror, down)
        return len(isolated_by(mirror, down | {resource}) - before)

    uncovered = set(evidence)
    found: list[Explanation] = []
    while uncovered:
        explained: dict[str, set[int]] = defaultdict(set)
        for alarm in uncovered:
            for resource in evidence[alarm]:
                explained[resource].add(alarm)
        best = min(explained, key=lambda r: (-len(explained[r]), size(r), _order(mirror, r)))
        alarms, best_size = explained[best], size(best)
        alike = [r for r in explained if explained[r] == alarms]
        if down and any(size(r) != best_size for r in alike):
            # one of the intact network's cut points may already be down: compare what
            # each takes down now (only then, as it is a search of the network each)
            best_now = size_given_down(best)
            alike = [r for r in alike if r == best or size_given_down(r) == best_now]
        else:
            alike = [r for r in alike if size(r) == best_size]
        candidates = sorted(alike, key=lambda r: _order(mirror, r))
        found.append(Explanation(tuple(candidates), frozenset(alarms)))
        uncovered -= alarms
    return found
