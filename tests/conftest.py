"""Shared scenario builders for the tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.scenario import Scenario, parse_scenario
from twin.run import simulate

DATA = Path(__file__).parent / "data"
EXAMPLE = DATA / "contract-example.yaml"


@pytest.fixture
def example_raw() -> dict[str, Any]:
    """The reference scenario (a copy of shared/contract/example.yaml) as a mutable dict."""
    return yaml.safe_load(EXAMPLE.read_text())


def single_cell(
    *,
    channels: int = 30,
    subscribers: int = 1000,
    calls_per_hour: float = 1.0,
    mean_duration: str = "90s",
    sessions_per_hour: float = 0.0,
    mean_volume_mb: float = 10.0,
    data_mbps: float = 100.0,
    duration: str = "20h",
    seed: int = 1,
    pm_interval: str = "1h",
    extra: dict[str, Any] | None = None,
) -> Scenario:
    """One tower with one cell at a constant (flat profile) load, behind one link to a core."""
    raw: dict[str, Any] = {
        "name": "single-cell",
        "seed": seed,
        "start": "2027-01-01T00:00:00Z",
        "duration": duration,
        "pm_interval": pm_interval,
        "network": {
            "defaults": {"cells": 1, "voice_channels": channels, "data_mbps": data_mbps},
            "nodes": [
                {"id": "core", "role": "core"},
                {"id": "t1", "role": "tower"},
            ],
            "links": [{"id": "l1", "a": "t1", "b": "core", "capacity_mbps": 100_000}],
        },
        "subscribers": {"count": subscribers},
        "traffic": {
            "daily_profile": [1.0] * 24,
            "voice": {"busy_hour_calls": calls_per_hour, "mean_duration": mean_duration},
            "data": {"busy_hour_sessions": sessions_per_hour, "mean_volume_mb": mean_volume_mb},
        },
    }
    if extra:
        raw = merge(raw, extra)
    return parse_scenario(raw, "single-cell.yaml")


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Return ``base`` with ``extra`` merged in, recursively for mappings."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def run_summary(scenario: Scenario, seed: int | None = None) -> dict[str, Any]:
    return simulate(scenario, seed=seed)
