"""What-if variants: a scenario's ``variants:`` turned into whole scenarios, each validated.

A variant is the scenario as written (its ``variants`` key dropped) with, in this order, its
nodes and links removed (a removed node takes its links with it), its events removed (by
position in the scenario's list), its nodes, links and events added, and its ``set`` values
applied by key path exactly as ``--set`` applies them. The result is validated like any
scenario; a problem in a variant names the variant, so ``telcotwin compare`` refuses a bad
file before it runs anything.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from sim.scenario import Problem, Scenario, ScenarioError, apply_overrides, parse_scenario

__all__ = ["BASE", "scenario_variants", "variant_sources"]

BASE = "base"


def _apply(raw: dict[str, Any], variant: dict[str, Any], where: str, file: str) -> list[Problem]:
    """Change ``raw`` (a copy of the base) as ``variant`` says; the problems found."""
    problems: list[Problem] = []
    network = raw.setdefault("network", {})
    nodes = network.setdefault("nodes", [])
    links = network.setdefault("links", [])
    gone = set(variant.get("remove_nodes") or [])
    for missing in sorted(gone - {n.get("id") for n in nodes}):
        problems.append(Problem(file, f"{where}.remove_nodes", f"no node '{missing}' to remove"))
    network["nodes"] = [n for n in nodes if n.get("id") not in gone]
    gone_links = set(variant.get("remove_links") or [])
    for missing in sorted(gone_links - {k.get("id") for k in links}):
        problems.append(Problem(file, f"{where}.remove_links", f"no link '{missing}' to remove"))
    network["links"] = [
        k
        for k in links
        if k.get("id") not in gone_links and k.get("a") not in gone and k.get("b") not in gone
    ]
    events = raw.get("events") or []
    removed = set(variant.get("remove_events") or [])
    for index in sorted(i for i in removed if i >= len(events)):
        problems.append(
            Problem(
                file,
                f"{where}.remove_events",
                f"no event {index}: the scenario has {len(events)} (numbered from 0)",
            )
        )
    raw["events"] = [e for i, e in enumerate(events) if i not in removed]
    network["nodes"] += copy.deepcopy(variant.get("add_nodes") or [])
    network["links"] += copy.deepcopy(variant.get("add_links") or [])
    raw["events"] += copy.deepcopy(variant.get("add_events") or [])
    for key, value in (variant.get("set") or {}).items():
        try:
            apply_overrides(raw, [f"{key}={json.dumps(value)}"], file)
        except ScenarioError:
            problems.append(
                Problem(file, f"{where}.set.{key}", "names a key path that is not in the scenario")
            )
    return problems


def variant_sources(raw: Any, file: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Return the base scenario and each variant as ``(name, description, mapping)``, base
    first, each mapping a whole scenario as written (no ``variants`` key) that validates; so
    that a caller may still apply ``--set`` values to it (``telcotwin sweep --variants``).
    :class:`ScenarioError` with every problem of every variant."""
    return [(name, description, source) for name, description, source, _ in _variants(raw, file)]


def scenario_variants(raw: Any, file: str) -> list[tuple[str, str, Scenario]]:
    """Return the base scenario and each variant as ``(name, description, scenario)``, base
    first; :class:`ScenarioError` with every problem of every variant."""
    return [
        (name, description, scenario) for name, description, _, scenario in _variants(raw, file)
    ]


def _variants(raw: Any, file: str) -> list[tuple[str, str, dict[str, Any], Scenario]]:
    base = parse_scenario(raw, file)  # checks the variants' own keys too
    plain = {k: v for k, v in raw.items() if k != "variants"}
    out = [(BASE, "the scenario as written", plain, parse_scenario(plain, file))]
    problems: list[Problem] = []
    for index, (variant, model) in enumerate(
        zip(raw.get("variants") or [], base.variants, strict=True)
    ):
        where = f"variants[{index}]"
        changed = copy.deepcopy(plain)
        found = _apply(changed, variant, where, file)
        if found:
            problems += found
            continue
        try:
            out.append((model.name, model.description, changed, parse_scenario(changed, file)))
        except ScenarioError as error:
            problems += [
                Problem(p.file, p.path, f"in variant '{model.name}' ({where}): {p.message}")
                for p in error.problems
            ]
    if problems:
        raise ScenarioError(problems)
    return out
