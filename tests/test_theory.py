"""The simulator checked against closed forms: Erlang B, offered load over capacity, and
availability MTBF / (MTBF + MTTR)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from tests.conftest import run_summary, single_cell, two_towers_sharing_an_uplink
from twin.planning.erlang import erlang_b  # the planners' Erlang B, checked here too

ITU_TABLE = Path(__file__).parent / "data" / "ITU-PLANITU-erlangB-subset.tsv"


def test_erlang_b_recurrence_matches_the_itu_planitu_table():
    # ITU-D PLANITU Erlang B table (tests/data, see its README): for N channels, the offered
    # traffic A giving each blocking level. Rounded to 5 digits: 1e-3 relative tolerance.
    with ITU_TABLE.open() as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    levels = [float(x) for x in rows[0][1:21]]
    checked = 0
    for row in rows[1:]:
        channels = int(row[0])
        for level, erlangs in zip(levels, row[1:21], strict=True):
            if level >= 0.001 and channels >= 2:
                assert erlang_b(channels, float(erlangs)) == pytest.approx(level, rel=2e-3)
                checked += 1
    assert checked > 100


def _confidence_interval(samples: list[float], level: float = 0.99) -> tuple[float, float]:
    mean = float(np.mean(samples))
    half = stats.t.ppf(0.5 + level / 2, len(samples) - 1) * stats.sem(samples)
    return mean - half, mean + half


@pytest.mark.parametrize(
    ("channels", "erlangs", "expected"),
    [
        (30, 25.0, 0.0526),  # Erlang B table: 30 channels at 25 E
        (10, 5.0, 0.01838),  # Erlang B table: 10 channels at 5 E
    ],
)
def test_single_cell_reproduces_erlang_b_within_99_percent_confidence(channels, erlangs, expected):
    # A = subscribers x calls per hour x mean holding time / 3600 = 1000 x c x 90 / 3600
    calls_per_hour = erlangs * 3600 / (1000 * 90)
    blocking = []
    for replication in range(12):
        scenario = single_cell(
            channels=channels, calls_per_hour=calls_per_hour, duration="30h", seed=replication
        )
        voice = run_summary(scenario)["voice"]
        blocking.append(voice["blocked"] / voice["offered"])
    low, high = _confidence_interval(blocking)
    assert low <= expected <= high, (low, high)
    assert erlang_b(channels, erlangs) == pytest.approx(expected, rel=2e-3)


def test_offered_erlangs_match_the_load_put_in():
    # 1000 subscribers x 1.0 call/h x 90 s / 3600 = 25 E offered, flat profile.
    cells = run_summary(single_cell(duration="30h", seed=5))["cells"]
    assert cells["t1/1"]["offered_erlangs"] == pytest.approx(25.0, rel=0.03)
    # carried = offered x (1 - B(30, 25)) = 25 x 0.9474
    assert cells["t1/1"]["carried_erlangs"] == pytest.approx(25.0 * (1 - 0.0526), rel=0.03)


@pytest.mark.parametrize("load", [0.3, 0.6, 0.9])
def test_data_utilisation_equals_offered_load_over_capacity_below_saturation(load):
    # offered Mbps = subscribers x sessions/h x MB x 8 / 3600; capacity 100 Mbps
    sessions_per_hour = load * 100 * 3600 / (1000 * 10 * 8)
    summary = run_summary(
        single_cell(calls_per_hour=0.0, sessions_per_hour=sessions_per_hour, duration="2d", seed=3)
    )
    demand, served = summary["data"]["demand_mb"], summary["data"]["served_mb"]
    capacity_mb = 100 / 8 * 2 * 86400
    assert served / capacity_mb == pytest.approx(load, rel=0.03)
    assert served / demand > 0.97  # below saturation nearly all demand is served


def test_data_beyond_capacity_is_counted_as_unserved():
    # offered 150% of a 100 Mbps cell: it serves its capacity and the rest is counted
    sessions_per_hour = 1.5 * 100 * 3600 / (1000 * 10 * 8)
    summary = run_summary(
        single_cell(calls_per_hour=0.0, sessions_per_hour=sessions_per_hour, duration="1d")
    )
    capacity_mb = 100 / 8 * 86400
    assert summary["data"]["served_mb"] == pytest.approx(capacity_mb, rel=1e-9)
    assert summary["data"]["demand_mb"] == pytest.approx(1.5 * capacity_mb, rel=0.03)
    assert summary["cells"]["t1/1"]["utilization_p95"] == pytest.approx(1.0)


def test_a_link_shared_by_towers_caps_what_they_carry():
    # Two towers each offer 60 Mbps over one 100 Mbps link: the link carries 100 Mbps.
    scenario = two_towers_sharing_an_uplink(uplink_mbps=100)
    summary = run_summary(scenario)
    assert summary["links"]["up"]["utilization_p95"] == pytest.approx(1.0)
    capacity_mb = 100 / 8 * 86400
    assert summary["data"]["served_mb"] == pytest.approx(capacity_mb, rel=1e-6)
    assert summary["data"]["demand_mb"] == pytest.approx(capacity_mb * 1.2, rel=0.03)


def test_long_run_availability_matches_mtbf_over_mtbf_plus_mttr():
    # 200 towers, MTBF 10 h, MTTR 2 h, 40 days: availability 10 / 12 = 0.8333
    # (about 16,000 up-down cycles, so the standard error is near 0.001).
    scenario = single_cell(
        subscribers=200,
        calls_per_hour=0.01,
        duration="40d",
        pm_interval="1h",
        extra={
            "network": {
                "generate": {
                    "towers": 200,
                    "aggregation": 4,
                    "cores": 1,
                    "region": {"center": [50.0, 10.0], "radius_km": 20},
                },
                "nodes": [],
                "links": [],
            },
            "faults": {"random": {"tower": {"mtbf": "10h", "mttr": "2h"}}},
        },
    )
    summary = run_summary(scenario)
    availability = [cell["availability"] for cell in summary["cells"].values()]
    assert np.mean(availability) == pytest.approx(10 / 12, abs=0.006)
    randoms = [o for o in summary["outages"] if o["cause"] == "random"]
    # expected outages: 200 towers x 40 d x 24 h / 12 h per cycle = 16,000
    assert len(randoms) == pytest.approx(16_000, rel=0.05)
