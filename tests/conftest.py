"""Shared scenario builders for the tests."""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import Iterator
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


def two_towers_sharing_an_uplink(
    *, uplink_mbps: float, t2_access_mbps: float = 1000, offered_mbps: float = 60
) -> Scenario:
    """Towers t1 and t2 behind aggregation site agg, whose uplink "up" reaches the core; each
    tower offers ``offered_mbps`` of flat data over its access link (l1: 1000 Mbps, l2:
    ``t2_access_mbps``) for a day."""
    return single_cell(
        calls_per_hour=0.0,
        sessions_per_hour=offered_mbps * 3600 / (500 * 10 * 8),
        subscribers=1000,
        data_mbps=1000,
        duration="1d",
        extra={
            "network": {
                "nodes": [
                    {"id": "core", "role": "core"},
                    {"id": "agg", "role": "aggregation"},
                    {"id": "t1", "role": "tower"},
                    {"id": "t2", "role": "tower"},
                ],
                "links": [
                    {"id": "up", "a": "agg", "b": "core", "capacity_mbps": uplink_mbps},
                    {"id": "l1", "a": "t1", "b": "agg", "capacity_mbps": 1000},
                    {"id": "l2", "a": "t2", "b": "agg", "capacity_mbps": t2_access_mbps},
                ],
            },
            "subscribers": {"count": 1000, "placement": {"t1": 0.5, "t2": 0.5}},
        },
    )


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


# --- the store's databases: SQLite, and PostgreSQL when there is one ----------------------------

POSTGRES_ENV = "TELCOTWIN_TEST_POSTGRES_URL"
NO_POSTGRES = (
    f"no PostgreSQL: {POSTGRES_ENV} is unset (the README's test command sets it from "
    ".ci/postgres when it can start one); skipped outside CI only, a failure under CI"
)


def provided_by_ci(variable: str, script: str, missing: str) -> str:
    """The value of ``variable``, which the README's test command sets from ``.ci/<script>``.
    Unset: the test is skipped with ``missing`` outside CI, and fails under CI (CI=true),
    where the script must have provided it, so CI never passes by skipping."""
    value = os.environ.get(variable, "")
    if value:
        return value
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {variable} is not: .ci/{script} provided nothing")
    pytest.skip(missing)


def postgres_url() -> str:
    """The PostgreSQL database the tests may use (see :func:`provided_by_ci`)."""
    return provided_by_ci(POSTGRES_ENV, "postgres", NO_POSTGRES)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> Iterator[str]:
    """A URL of an empty database for one test: a SQLite file in ``tmp_path``, or a schema of
    its own in the PostgreSQL test database (dropped after the test), so tests never share rows.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.sqlite'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(postgres_url())
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base)
    try:
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as error:
        admin.dispose()
        pytest.fail(f"{POSTGRES_ENV}={base!r}: cannot create a schema: {error}")
    url = base.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def query(url: str, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` in the database at ``url`` (named parameters: ``:name``)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params or {})]
    finally:
        engine.dispose()


# --- the browser for the report's test: Debian's chromium, never a downloaded one ---------------

CHROMIUM_ENV = "TELCOTWIN_TEST_CHROMIUM"
NO_CHROMIUM = (
    f"no Chromium: {CHROMIUM_ENV} is unset (the README's test command sets it from .ci/chromium, "
    "which finds /usr/bin/chromium or installs it under CI); skipped outside CI only, a failure "
    "under CI"
)


def chromium_path() -> str:
    """The Chromium executable the browser test may launch (see :func:`provided_by_ci`)."""
    path = provided_by_ci(CHROMIUM_ENV, "chromium", NO_CHROMIUM)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{CHROMIUM_ENV}={path!r} is not an executable")
    return path
