"""Capacity planning models against published values and hand calculations.

Erlang B and C against the issue's reference values (computed to 10 digits by the recurrence
and the closed form) and the ITU-D PLANITU Erlang B table (tests/data/README.md); the plan
against a two-tower network small enough to work out by hand (``_network``).
"""

from __future__ import annotations

import csv
import math
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from twin.feed import Inventory
from twin.planning.capacity import (
    YEAR_S,
    PlanSettings,
    PmHistory,
    capacity_plan,
    settings_from_scenario,
)
from twin.planning.erlang import (
    erlang_b,
    erlang_b_channels,
    erlang_b_traffic,
    erlang_c,
    erlang_c_mean_wait,
)

ITU_TABLE = Path(__file__).parent / "data" / "ITU-PLANITU-erlangB-subset.tsv"


# --- Erlang B and C -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channels", "erlangs", "blocking"),
    [
        (10, 5.0, 0.0183845703),
        (30, 25.0, 0.0526031722),
        (100, 80.0, 0.0039920286),
        (1000, 950.0, 0.0036492937),  # the recursion holds where A^N / N! overflows a float
    ],
)
def test_erlang_b_gives_the_reference_blocking(channels, erlangs, blocking):
    # the reference values, to the 10 digits given
    assert erlang_b(channels, erlangs) == pytest.approx(blocking, abs=5e-11)


@pytest.mark.parametrize(
    ("erlangs", "target", "channels"),
    [(5.0, 0.01, 11), (10.0, 0.01, 18), (20.0, 0.01, 30), (25.0, 0.02, 34)],
)
def test_fewest_channels_for_a_target_blocking(erlangs, target, channels):
    # the reference values; one channel fewer must miss the target
    assert erlang_b_channels(erlangs, target) == channels
    assert erlang_b(channels, erlangs) <= target < erlang_b(channels - 1, erlangs)


def test_erlang_c_probability_of_waiting_and_mean_wait():
    # C(10, 5) = 0.0361053592 (the reference); mean wait over all calls
    # C h / (N - A) = 0.0361053592 x 180 s / 5 = 1.29979 s by hand
    assert erlang_c(10, 5.0) == pytest.approx(0.0361053592, abs=5e-11)
    assert erlang_c_mean_wait(10, 5.0, 180.0) == pytest.approx(0.0361053592 * 180 / 5, rel=1e-8)
    assert erlang_c(10, 10.0) == 1.0 and erlang_c_mean_wait(10, 12.0, 180.0) == math.inf


def _itu_rows() -> tuple[list[float], list[list[str]]]:
    with ITU_TABLE.open() as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    return [float(x) for x in rows[0][1:21]], rows[1:]


def test_traffic_at_a_blocking_matches_the_itu_planitu_table():
    # The table gives, for N channels and a blocking level, the traffic A: the inverse in A.
    # Rounded to 5 digits (tests/data/README.md): 1e-3 relative, from 0.001 up. Its row for one
    # channel gives A = the blocking, where A = B / (1 - B) exactly (1.001e-3 at 0.001): skipped,
    # as tests/test_theory.py skips it.
    levels, rows = _itu_rows()
    checked = 0
    for row in rows[1:]:
        for level, erlangs in zip(levels, row[1:21], strict=True):
            if level >= 0.001:
                assert erlang_b_traffic(int(row[0]), level) == pytest.approx(
                    float(erlangs), rel=1e-3
                )
                checked += 1
    assert checked == 32 * 16  # 32 rows, 16 levels from 0.001 to 0.4


def test_fewest_channels_agree_with_the_itu_planitu_table():
    # At the table's traffic for N channels (rounded down a little), N channels are enough and
    # N - 1 are not.
    levels, rows = _itu_rows()
    for row in rows[1:]:
        channels = int(row[0])
        for level, erlangs in zip(levels, row[1:21], strict=True):
            if 0.001 <= level <= 0.2:
                assert erlang_b_channels(float(erlangs) * (1 - 2e-3), level) == channels


# --- the plan on a network worked out by hand -----------------------------------------------------
#
#   t1 --l1-- a1 --u1-- c --u2-- a2 --l2-- t2      a1 --r-- a2 (the ring, 100 Mbps)
#
# t1/1: 30 channels, a flat 10 E; 90 Mbps of data on 100 Mbps of capacity.
# t2/1: 30 channels, a flat 25 E; 50 Mbps of data on 100 Mbps.
# Two days of hourly PM from 2027-01-01, growth 20 % a year, GoS 2 %, thresholds 0.85 / 0.8.

START = datetime(2027, 1, 1)


def _network() -> tuple[PmHistory, Inventory]:
    inventory = Inventory(
        node_ids=("a1", "a2", "c", "t1", "t2"),
        node_roles=("aggregation", "aggregation", "core", "tower", "tower"),
        node_lat=np.array([52.0, 52.0, 52.1, 51.9, 51.9]),
        node_lon=np.array([13.0, 13.2, 13.1, 13.0, 13.2]),
        link_ids=("l1", "l2", "r", "u1", "u2"),
        link_a=("t1", "t2", "a1", "a1", "a2"),
        link_b=("a1", "a2", "a2", "c", "c"),
        link_capacity_mbps=np.array([1000.0, 1000.0, 100.0, 1000.0, 1000.0]),
        link_latency_ms=np.array([0.5, 0.5, 1.0, 1.0, 1.0]),
        cell_ids=("t1/1", "t2/1"),
        cell_tower=("t1", "t2"),
        cell_voice_channels=np.array([30, 30]),
        cell_data_mbps=np.array([100.0, 100.0]),
        subscriber_cell=np.array([0, 0, 1]),
        product_names=("",),
        subscriber_product=np.array([0, 0, 0]),
    )
    hours = 48
    flat = np.ones((hours, 1))
    history = PmHistory(
        start=START,
        duration_s=hours * 3600.0,
        pm_interval_s=3600.0,
        interval_start_s=np.arange(hours) * 3600.0,
        interval_span_s=np.full(hours, 3600.0),
        cell_ids=inventory.cell_ids,
        offered_erlangs=flat * [10.0, 25.0],
        voice_attempts=flat * [400.0, 1000.0],
        voice_blocked=flat * [0.0, 53.0],
        data_demand_mbps=flat * [90.0, 50.0],
        link_ids=inventory.link_ids,
        link_carried_mbps=flat * [90.0, 50.0, 0.0, 90.0, 50.0],
        link_demand_mbps=flat * [90.0, 50.0, 0.0, 90.0, 50.0],
    )
    return history, inventory


SETTINGS = PlanSettings(
    gos_target=0.02,
    cell_utilization_threshold=0.85,
    link_utilization_threshold=0.8,
    growth_per_year=0.2,
    growth="scenario",
    max_voice_channels_per_cell=33,
    currency="EUR",
    cost_voice_channel=Decimal("150.00"),
    cost_cell=Decimal("20000.00"),
    cost_data_mbps=Decimal("12.50"),
    cost_link_mbps=Decimal("2.10"),
)


def _plan(horizon_months: int = 12, settings: PlanSettings = SETTINGS):
    history, inventory = _network()
    plan = capacity_plan(history, inventory, settings, horizon_months)
    return plan, {c.cell: c for c in plan.cells}, {k.link: k for k in plan.links}


def test_a_cell_above_the_gos_needs_the_channels_of_the_erlang_b_table():
    _, cells, _ = _plan()
    t2 = cells["t2/1"]
    assert t2.busy_hour_erlangs == pytest.approx(25.0)
    assert t2.blocking == pytest.approx(0.0526031722, abs=1e-9)  # B(30, 25)
    assert t2.measured_blocking == pytest.approx(53 / 1000)  # from its counters
    assert t2.above_gos and t2.channels_needed == 34  # 2 % at 25 E: 34 channels
    assert t2.voice_exhaustion == (START + timedelta(days=2)).date()  # already, at the end


def test_exhaustion_date_is_when_growth_brings_the_busy_hour_to_the_tables_traffic():
    # 30 channels carry 21.932 E at 2 % (ITU table); 10 E growing 20 % a year gets there in
    # ln(21.932 / 10) / ln(1.2) = 4.3066 years after the run's middle (2027-01-02).
    _, cells, _ = _plan()
    years = math.log(21.932 / 10) / math.log(1.2)
    expected = (START + timedelta(days=1) + timedelta(seconds=years * YEAR_S)).date()
    assert abs((cells["t1/1"].voice_exhaustion - expected).days) <= 1
    assert not cells["t1/1"].above_gos
    # its data: 90 of 100 Mbps in the busy hour is past the 0.85 threshold already
    assert cells["t1/1"].data_utilization == pytest.approx(0.9)
    assert cells["t1/1"].data_exhaustion == (START + timedelta(days=2)).date()


def test_upgrades_for_the_horizon_are_priced_exactly():
    # 12 months after the end, traffic has grown 1.2 ** (1 + 1 / 365.25) = 1.20044 times.
    plan, cells, links = _plan()
    grow = 1.2 ** (1 + 1 / 365.25)
    t1, t2 = cells["t1/1"], cells["t2/1"]
    # t1: 12.004 E needs 19 channels at 2 % (ITU table: 18 carry 11.491 E, 19 carry 12.333 E)
    assert t1.horizon_erlangs == pytest.approx(10 * grow)
    assert t1.horizon_channels_needed == 19 and t1.channels_to_add == 0
    # ... and 90 x 1.20044 / 0.85 = 127.11 Mbps of data: 28 Mbps more, at 12.50
    assert t1.data_mbps_to_add == 28 and t1.cost == Decimal("350.00")
    # t2: 30.01 E is beyond one cell of at most 33 channels: the cell goes to 33 and one cell
    # more shares the traffic (15 E on 33 channels is far below 2 %)
    assert t2.cells_to_add == 1 and t2.channels_to_add == 3 and t2.data_mbps_to_add == 0
    assert t2.cost == Decimal("20450.00")  # 3 x 150.00 + 20000.00
    # the ring must carry t1's 90 Mbps when u1 is cut: 90 x 1.20044 / 0.8 = 135.05: 36 more
    assert links["r"].capacity_to_add_mbps == 36 and links["r"].cost == Decimal("75.60")
    assert plan.total_cost == Decimal("20875.60")  # 350.00 + 20450.00 + 75.60, exact


def test_n_minus_1_names_what_a_links_loss_isolates_and_overloads():
    _, _, links = _plan()
    assert links["l1"].isolates_towers == ("t1",) and links["l1"].isolates_subscribers == 2
    # u1 cut: t1's 90 Mbps reroutes over the 100 Mbps ring, above its 80 % threshold
    assert links["u1"].overloads == ("r",) and links["r"].n1_load_mbps == pytest.approx(90.0)
    # u2 cut: t2's 50 Mbps over the ring is below the threshold
    assert links["u2"].overloads == ()
    assert links["u2"].n1_load_mbps == pytest.approx(140.0)  # u1 takes both towers then
    assert links["r"].utilization == 0.0 and links["u1"].utilization == pytest.approx(0.09)


def test_no_growth_means_no_exhaustion_date_for_a_cell_below_the_gos():
    settings = PlanSettings(**{**SETTINGS.__dict__, "growth_per_year": 0.0})
    _, cells, _ = _plan(settings=settings)
    assert cells["t1/1"].voice_exhaustion is None
    assert cells["t2/1"].voice_exhaustion is not None  # above the GoS already


def _history_growing(days: int, noise: float) -> tuple[PmHistory, Inventory]:
    """The hand-worked network over ``days`` days, its traffic growing 50 % a year, times a
    day-to-day noise of relative size ``noise`` (seeded)."""
    history, inventory = _network()
    clock = np.arange(days * 24) * 3600.0
    daily = 1 + noise * np.random.default_rng(5).standard_normal(days)
    grown = 1.5 ** (clock / YEAR_S) * np.repeat(daily, 24)
    history = PmHistory(
        **{
            **history.__dict__,
            "duration_s": days * 86400.0,
            "interval_start_s": clock,
            "interval_span_s": np.full(clock.size, 3600.0),
            "offered_erlangs": grown[:, None] * [10.0, 25.0],
            "voice_attempts": np.ones((clock.size, 2)),
            "voice_blocked": np.zeros((clock.size, 2)),
            "data_demand_mbps": grown[:, None] * [90.0, 50.0],
            "link_carried_mbps": np.zeros((clock.size, 5)),
            "link_demand_mbps": np.zeros((clock.size, 5)),
        }
    )
    return history, inventory


def test_fitted_growth_recovers_the_growth_of_a_long_history():
    history, inventory = _history_growing(10, noise=0.0)
    settings = PlanSettings(**{**SETTINGS.__dict__, "growth": "auto"})
    plan = capacity_plan(history, inventory, settings, 12)
    for cell in plan.cells:
        assert cell.growth_per_year == pytest.approx(0.5, rel=1e-6)
        assert cell.growth_source == "fitted over 10 days"


def test_a_week_of_noisy_days_is_too_short_to_fit_a_years_growth():
    # 3 % day-to-day noise over 10 days: the slope's standard error is about
    # 0.03 / sqrt(82.5) per day, 1.2 a year (in log), far beyond the 0.10 margin auto accepts:
    # it plans with the scenario's 20 %
    history, inventory = _history_growing(10, noise=0.03)
    auto = PlanSettings(**{**SETTINGS.__dict__, "growth": "auto"})
    for cell in capacity_plan(history, inventory, auto, 12).cells:
        assert cell.growth_source == "scenario" and cell.growth_per_year == 0.2
    forced = PlanSettings(**{**SETTINGS.__dict__, "growth": "fitted"})
    for cell in capacity_plan(history, inventory, forced, 12).cells:
        assert cell.growth_source == "fitted over 10 days"  # asked for: used, however wide


def test_settings_come_from_the_scenario_as_run(example_raw):
    example_raw["planning"] = {"costs": {"voice_channel": "150.00"}}
    settings = settings_from_scenario(example_raw)
    assert settings.gos_target == 0.02 and settings.growth_per_year == 0.2
    assert settings.cell_utilization_threshold == 0.85
    assert settings.link_utilization_threshold == 0.80
    assert settings.cost_voice_channel == Decimal("150.00") and settings.cost_cell is None
    assert settings.currency == "EUR"  # the catalog's


def test_a_bad_planning_block_is_one_line_per_problem(example_raw):
    from sim.scenario import ScenarioError, parse_scenario

    example_raw["planning"] = {
        "growth": "guess",
        "max_voice_channels_per_cell": 0,
        "costs": {"cell": "-5.00", "tower": "1.00"},
    }
    with pytest.raises(ScenarioError) as error:
        parse_scenario(example_raw, "metro.yaml")
    assert [str(p) for p in error.value.problems] == [
        "metro.yaml: planning.growth: Input should be 'auto', 'scenario' or 'fitted'",
        "metro.yaml: planning.max_voice_channels_per_cell: Input should be greater than or "
        "equal to 1",
        "metro.yaml: planning.costs.cell: a price cannot be negative (-5.00)",
        "metro.yaml: planning.costs.tower: unknown key",
    ]
