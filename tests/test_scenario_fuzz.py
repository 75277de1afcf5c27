"""Property: any mutation of a valid scenario gives either a complete run or clean errors
(exit 2, every line ``file: key.path: what``, nothing written), never a crash."""

from __future__ import annotations

import copy
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import EXAMPLE
from twin.cli import main

SMALL = {
    "name": "small",
    "seed": 5,
    "start": "2027-01-01T00:00:00Z",
    "duration": "2h",
    "pm_interval": "15m",
    "network": {
        "defaults": {"cells": 2, "voice_channels": 8, "data_mbps": 50},
        "nodes": [
            {"id": "core", "role": "core", "position": [50.0, 8.0]},
            {"id": "agg", "role": "aggregation", "position": [50.1, 8.1]},
            {"id": "t1", "role": "tower", "position": [50.2, 8.0]},
            {"id": "t2", "role": "tower", "position": [50.1, 8.3], "cells": 1},
            {"id": "t3", "role": "tower", "position": [50.0, 8.2]},
        ],
        "links": [
            {"id": "up", "a": "agg", "b": "core", "capacity_mbps": 1000, "latency_ms": 1.0},
            {"id": "l1", "a": "t1", "b": "agg", "capacity_mbps": 100},
            {"id": "l2", "a": "t2", "b": "agg", "capacity_mbps": 100},
            {"id": "l3", "a": "t3", "b": "core", "capacity_mbps": 100},
        ],
    },
    "subscribers": {
        "count": 300,
        "placement": {"t1": 0.5, "t2": 0.3, "t3": 0.2},
        "products": {"p": 1.0},
    },
    "traffic": {
        "voice": {"busy_hour_calls": 2.0, "mean_duration": "90s"},
        "data": {"busy_hour_sessions": 1.0, "mean_volume_mb": 5},
        "growth_per_year": 0.1,
    },
    "catalog": {"currency": "EUR", "products": [{"id": "p", "name": "P", "monthly_fee": "9.00"}]},
    "faults": {"random": {"tower": {"mtbf": "3h", "mttr": "20m"}}},
    "events": [
        {"at": "30m", "action": "fail", "target": "l1", "repair_after": "20m"},
        {"at": "40m", "action": "surge", "targets": ["t2", "t3/1"], "factor": 3, "duration": "30m"},
        {"at": "1h", "action": "order", "product": "p", "count": 5, "tower": "t3"},
        {"at": "1h10m", "action": "price_change", "product": "p", "monthly_fee": "9.50"},
    ],
}

LINE = re.compile(r"^metro\.yaml: (\S.*: )?.+$")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "90s",
            "2h30m",
            "1d",
            "abc",
            "t1",
            "t-n1",
            "l1",
            "core",
            "15.00",
            "2027-01-01T00:00:00Z",
            "fail",
            "surge",
            "tower",
            "uniform",
        ]
    ),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(["id", "a", "b", "at", "x", "count", "role"]), inner, max_size=3
        ),
    ),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path in a nested structure of dicts and lists."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _mutate(raw: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    raw = copy.deepcopy(raw)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        paths = _paths(raw)
        path = data.draw(st.sampled_from(paths), label="path")
        parent = raw
        for key in path[:-1]:
            parent = parent[key]
        last = path[-1]
        kind = data.draw(st.sampled_from(["set", "delete", "duplicate", "add_key"]), label="kind")
        if kind == "set":
            parent[last] = data.draw(values, label="value")
        elif kind == "delete":
            del parent[last]
        elif kind == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[last]))
        elif isinstance(parent, dict):
            parent[data.draw(st.sampled_from(["extra", "ids", "cell"]), label="key")] = 1
    return raw


def _check(raw: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "metro.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True))
        out = folder / "out"
        import contextlib
        import io

        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            status = main(["run", str(path), "--out", str(out), "--quiet"])
        lines = err.getvalue().splitlines()
        if status == 0:
            assert (out / "summary.json").exists()
            assert sorted(p.name for p in folder.iterdir()) == ["metro.yaml", "out"]
        else:
            assert status == 2, err.getvalue()
            assert lines, "a refusal says why"
            bad = [line for line in lines if not LINE.match(line)]
            assert not bad, bad
            assert sorted(p.name for p in folder.iterdir()) == ["metro.yaml"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_small_scenarios_run_or_fail_cleanly(data):
    _check(_mutate(SMALL, data))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_reference_scenarios_run_or_fail_cleanly(data):
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["duration"] = "6h"  # keep each example short; events past it are errors, also fine
    _check(_mutate(raw, data))


def test_the_unmutated_small_scenario_runs():
    _check(SMALL)
