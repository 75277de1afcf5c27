"""The engine: faults and their consequences, surges, business events, the southbound command,
reproducibility and independence of the random streams."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sim.engine import Simulation
from sim.scenario import parse_scenario
from sim.truth import TruthLog
from tests.conftest import single_cell
from twin.feed import (
    BusinessEvent,
    CellPmBatch,
    Inventory,
    RecordingSink,
    ResourceStateChange,
    RunEnded,
    RunStarted,
    UsageBatch,
)
from twin.run import simulate, summary_json
from twin.summary import busy_hours


def _run(scenario, seed=None) -> RecordingSink:
    sink = RecordingSink()
    Simulation(scenario, sink, seed=seed).run()
    return sink


def _truth(scenario, seed=None) -> TruthLog:
    truth = TruthLog()
    Simulation(scenario, RecordingSink(), seed=seed, truth=truth).run()
    return truth


def _cell_totals(sink: RecordingSink, counter: str) -> np.ndarray:
    return sum(getattr(b, counter) for b in sink.of_type(CellPmBatch))


def test_feed_opens_with_run_and_inventory_and_closes_with_run_ended(example_raw):
    sink = _run(parse_scenario(example_raw, "metro.yaml"))
    assert isinstance(sink.records[0], RunStarted)
    assert isinstance(sink.records[1], Inventory)
    assert isinstance(sink.records[-1], RunEnded)
    inventory = sink.records[1]
    # 8 towers, t-n3 with one cell and the others with the default 3: 7 x 3 + 1 = 22 cells
    assert len(inventory.cell_ids) == 22
    assert inventory.cell_ids[:3] == ("t-n1/1", "t-n1/2", "t-n1/3")
    assert "t-n3/1" in inventory.cell_ids and "t-n3/2" not in inventory.cell_ids
    # 2 days of 15-minute PM intervals
    assert len(sink.of_type(CellPmBatch)) == 192


def test_same_scenario_and_seed_give_byte_identical_summaries(example_raw):
    scenario = parse_scenario(example_raw, "metro.yaml")
    first = summary_json(simulate(scenario))
    second = summary_json(simulate(scenario))
    assert first == second
    assert summary_json(simulate(scenario, seed=99)) != first


def test_adding_events_does_not_change_the_traffic_draws(example_raw):
    base = _run(parse_scenario(example_raw, "metro.yaml"))
    example_raw["events"] += [
        {"at": "5h", "action": "fail", "target": "t-n1", "repair_after": "3h"},
        {"at": "20h", "action": "price_change", "product": "mobile-l", "monthly_fee": "36.00"},
    ]
    more = _run(parse_scenario(example_raw, "metro.yaml"))
    # Call attempts are drawn before the network decides their fate: every cell, the failed
    # tower's included, sees exactly the same attempts.
    assert np.array_equal(_cell_totals(base, "voice_offered"), _cell_totals(more, "voice_offered"))
    assert np.array_equal(_cell_totals(base, "data_sessions"), _cell_totals(more, "data_sessions"))
    failed = _cell_totals(more, "voice_failed") - _cell_totals(base, "voice_failed")
    cells = base.of_type(Inventory)[0].cell_ids
    assert all(failed[cells.index(f"t-n1/{k}")] > 0 for k in (1, 2, 3))


def test_failed_tower_drops_calls_in_progress_and_fails_new_attempts():
    scenario = single_cell(
        duration="6h",
        extra={"events": [{"at": "2h", "action": "fail", "target": "t1", "repair_after": "1h"}]},
    )
    truth = _truth(scenario)
    summary = simulate(scenario)
    cell = summary["cells"]["t1/1"]
    # 25 E on 30 channels: about 25 calls in progress are cut at 2h
    assert 10 <= cell["voice_dropped"] <= 40
    # attempts in the hour down fail: about 1000 subscribers x 1 call/h
    assert cell["voice_failed"] == pytest.approx(1000, rel=0.15)
    assert cell["availability"] == pytest.approx(5 / 6)
    # 1000 subscribers homed on t1/1, each out of service for the hour: 1000 subscriber-hours
    assert summary["service"] == {
        "subscribers": 1000,
        "subscribers_affected": 1000,
        "subscriber_hours_out_of_service": 1000.0,
    }
    states = [
        (r.resource, r.operational_state, r.cause, r.time_s)
        for r in truth.of_type(ResourceStateChange)
    ]
    assert states == [
        ("t1", "disabled", "injected", 7200.0),
        ("t1/1", "disabled", "node", 7200.0),
        ("t1", "enabled", "injected", 10800.0),
        ("t1/1", "enabled", "node", 10800.0),
    ]
    assert summary["outages"] == [
        {
            "resource": "t1",
            "kind": "tower",
            "start_s": 7200.0,
            "end_s": 10800.0,
            "cause": "injected",
        }
    ]


def test_dropped_calls_give_back_their_unspoken_seconds():
    scenario = single_cell(
        duration="6h",
        extra={"events": [{"at": "2h", "action": "fail", "target": "l1", "repair_after": "30m"}]},
    )
    sink = _run(scenario)
    summary = simulate(scenario)
    # invariant: the usage records carry exactly the carried traffic, seconds for seconds
    usage_s = sum(b.voice_seconds.sum() for b in sink.of_type(UsageBatch))
    assert usage_s == pytest.approx(summary["voice"]["minutes"] * 60, abs=0.1)  # 3 decimals
    carried_es = sum(
        (b.carried_erlangs * (b.end_s - b.start_s)).sum() for b in sink.of_type(CellPmBatch)
    )
    assert carried_es == pytest.approx(usage_s, rel=1e-9)


def test_a_cut_link_reroutes_over_the_ring_and_isolates_nothing(example_raw):
    example_raw["faults"] = {}
    truth = _truth(parse_scenario(example_raw, "metro.yaml"))
    cells_down = [
        r
        for r in truth.of_type(ResourceStateChange)
        if r.kind == "cell" and r.operational_state == "disabled"
    ]
    # l-agg-n-core at 19h reroutes agg-n over the ring: no cell leaves service. Then t-s3 (3
    # cells) is down at 30h and l-n3 isolates t-n3/1 at 40h.
    assert [(r.resource, r.cause) for r in cells_down] == [
        ("t-s3/1", "node"),
        ("t-s3/2", "node"),
        ("t-s3/3", "node"),
        ("t-n3/1", "isolation"),
    ]


def test_surge_multiplies_the_offered_traffic_of_its_targets_only():
    plain = simulate(single_cell(duration="4h", seed=2))
    surged = simulate(
        single_cell(
            duration="4h",
            seed=2,
            extra={
                "events": [
                    {
                        "at": "1h",
                        "action": "surge",
                        "targets": ["t1"],
                        "factor": 3.0,
                        "duration": "2h",
                    }
                ]
            },
        )
    )
    # 4 h at 1x versus 2 h at 1x plus 2 h at 3x: 8 / 4 = 2x the calls
    ratio = surged["cells"]["t1/1"]["voice_offered"] / plain["cells"]["t1/1"]["voice_offered"]
    assert ratio == pytest.approx(2.0, rel=0.05)


def test_business_events_are_handed_to_the_twin_at_their_time(example_raw):
    sink = _run(parse_scenario(example_raw, "metro.yaml"))
    events = sink.of_type(BusinessEvent)
    assert [(e.time_s, e.action, e.product) for e in events] == [
        (8 * 3600.0, "price_change", "mobile-s"),
        (10 * 3600.0, "order", "mobile-l"),
        (40.5 * 3600.0, "order", "mobile-s"),
    ]
    assert str(events[0].monthly_fee) == "17.00"
    assert (events[1].count, events[1].tower) == (150, "t-s1")


def test_admission_is_refused_on_a_down_or_isolated_or_full_tower(example_raw):
    example_raw["network"]["nodes"][3]["max_subscribers"] = 1  # t-n1
    example_raw["faults"] = {}
    sim = Simulation(parse_scenario(example_raw, "metro.yaml"), RecordingSink())
    assert sim.admit_subscription("t-zz", "mobile-s").reason == "unknown tower 't-zz'"
    assert sim.admit_subscription("t-n1", "mobile-s").reason == "tower is full (1 subscribers)"
    sim.advance_to(30 * 3600 + 1)  # t-s3 is down from 30h
    assert sim.admit_subscription("t-s3", "mobile-s").reason == "tower is down"
    sim.advance_to(40 * 3600 + 1)  # l-n3 isolates t-n3 from 40h
    assert sim.admit_subscription("t-n3", "mobile-s").reason == "tower has no path to a core"
    before = sim.subscribers.count
    admitted = sim.admit_subscription("t-s1", "mobile-l")
    assert admitted.accepted and admitted.subscriber == before
    assert sim.subscribers.count == before + 1


def test_admitted_subscribers_make_traffic():
    scenario = single_cell(duration="2h", subscribers=100)
    sim = Simulation(scenario, RecordingSink())
    for _ in range(900):
        assert sim.admit_subscription("t1", "").accepted
    sim.run()
    offered = sum(b.voice_offered.sum() for b in sim.sink.of_type(CellPmBatch))
    # 1000 subscribers x 1 call/h x 2 h
    assert offered == pytest.approx(2000, rel=0.1)


def test_usage_is_split_at_the_usage_period_boundary():
    scenario = single_cell(
        duration="2d",
        subscribers=50,
        calls_per_hour=2.0,
        mean_duration="30m",
        extra={"usage_interval": "1d"},
    )
    sink = _run(scenario)
    batches = sink.of_type(UsageBatch)
    assert [(b.start_s, b.end_s) for b in batches] == [(0.0, 86400.0), (86400.0, 172800.0)]
    total = sum(b.voice_seconds.sum() for b in batches)
    carried = sum(
        (b.carried_erlangs * (b.end_s - b.start_s)).sum() for b in sink.of_type(CellPmBatch)
    )
    assert total == pytest.approx(carried, rel=1e-9)
    # no period holds more than its own length per subscriber and channel
    assert all(b.voice_seconds.max() <= 86400 for b in batches)


def test_summary_has_the_promised_fields(example_raw):
    summary = json.loads(summary_json(simulate(parse_scenario(example_raw, "metro.yaml"))))
    assert {
        "scenario",
        "seed",
        "start",
        "duration_s",
        "voice",
        "data",
        "cells",
        "links",
        "outages",
    } <= set(summary)
    assert set(summary["voice"]) >= {"offered", "carried", "blocked", "dropped", "minutes"}
    assert set(summary["data"]) >= {"sessions", "demand_mb", "served_mb"}
    cell = summary["cells"]["t-n3/1"]
    assert set(cell) >= {
        "tower",
        "voice_channels",
        "voice_offered",
        "voice_blocked",
        "voice_dropped",
        "offered_erlangs",
        "carried_erlangs",
        "busy_hour",
        "busy_hour_start",
        "busy_hour_erlangs",
        "utilization_p95",
        "availability",
    }
    assert set(summary["links"]["l-agg-ring"]) == {"utilization_p95", "availability"}
    voice = summary["voice"]
    assert voice["offered"] == voice["carried"] + voice["blocked"] + voice["failed"]
    assert summary["start"] == "2027-03-01T00:00:00Z"
    assert summary["duration_s"] == 172800.0
    # t-n3 has a single cell and runs above its grade of service at the busy hour
    assert cell["busy_hour_erlangs"] > 21.9  # 30 channels at 2% GoS carry 21.93 E (Erlang B)


def test_admitted_subscribers_count_in_the_outage_they_live_through():
    from twin.bus import Bus
    from twin.summary import SummaryBuilder

    scenario = single_cell(
        duration="4h",
        subscribers=100,
        extra={"events": [{"at": "2h", "action": "fail", "target": "t1", "repair_after": "1h"}]},
    )
    bus = Bus()
    builder = SummaryBuilder()
    builder.attach(bus)
    sim = Simulation(scenario, bus)
    sim.advance_to(3600)
    for _ in range(20):
        assert sim.admit_subscription("t1", "").accepted
    sim.run()
    # 120 subscribers on the only cell, each out of service for the one hour the tower is down
    assert builder.summary()["service"] == {
        "subscribers": 120,
        "subscribers_affected": 120,
        "subscriber_hours_out_of_service": 120.0,
    }


def test_data_served_does_not_depend_on_unrelated_events():
    # An overloaded cell (demand about 1.3 times its 100 Mbps): adding 200 price changes splits
    # every segment into pieces, which must not change what the cell serves.
    overloaded = {
        "calls_per_hour": 0.0,
        "sessions_per_hour": 6.0,
        "mean_volume_mb": 100.0,
        "subscribers": 200,
        "duration": "4h",
    }
    plain = simulate(single_cell(**overloaded))
    changes = [
        {"at": f"{60 + 71 * k}s", "action": "price_change", "product": "p", "monthly_fee": "1.00"}
        for k in range(200)
    ]
    split = simulate(single_cell(**overloaded, extra={"events": changes}))
    assert split["data"] == plain["data"]
    assert plain["data"]["served_mb"] < plain["data"]["demand_mb"]  # it really is overloaded


def test_surge_draws_do_not_depend_on_the_order_of_the_event_list(example_raw):
    base = _run(parse_scenario(example_raw, "metro.yaml"))
    example_raw["events"].insert(
        0, {"at": "1h", "action": "price_change", "product": "mobile-l", "monthly_fee": "35.00"}
    )
    example_raw["events"].append(
        {"at": "18h30m", "action": "surge", "targets": ["t-s1"], "factor": 0.5, "duration": "1h"}
    )
    reordered = parse_scenario(example_raw, "metro.yaml")
    example_raw["events"].reverse()
    reversed_ = parse_scenario(example_raw, "metro.yaml")
    first, second = _run(reordered), _run(reversed_)
    assert np.array_equal(
        _cell_totals(first, "voice_offered"), _cell_totals(second, "voice_offered")
    )
    # cells the new half-surge does not touch keep the base run's attempts exactly
    cells = base.of_type(Inventory)[0].cell_ids
    untouched = [i for i, c in enumerate(cells) if not c.startswith("t-s1/")]
    assert np.array_equal(
        _cell_totals(base, "voice_offered")[untouched],
        _cell_totals(first, "voice_offered")[untouched],
    )


def test_pm_intervals_sit_on_the_clock_and_the_busy_hour_is_whole():
    # Only 13h carries traffic: 1000 subscribers x 1 call x 90 s = 25 E in that hour.
    profile = [0.0] * 24
    profile[13] = 1.0
    scenario = single_cell(
        duration="3h",
        pm_interval="15m",
        extra={"start": "2027-01-01T12:07:30Z", "traffic": {"daily_profile": profile}},
    )
    sink = _run(scenario)
    bounds = [(b.start_s, b.end_s) for b in sink.of_type(CellPmBatch)]
    assert bounds[0] == (0.0, 450.0)  # 12:07:30 to 12:15
    assert bounds[1] == (450.0, 1350.0)
    assert bounds[-1] == (10350.0, 10800.0)  # 15:00 to 15:07:30
    cell = simulate(scenario)["cells"]["t1/1"]
    assert cell["busy_hour"] == 13
    assert cell["busy_hour_start"] == "13:00"
    assert cell["busy_hour_erlangs"] == pytest.approx(25.0, rel=0.08)


def test_the_inventory_cannot_be_written_back_into_the_simulation(example_raw):
    sink = _run(parse_scenario(example_raw, "metro.yaml"))
    inventory = sink.of_type(Inventory)[0]
    with pytest.raises(ValueError):
        inventory.cell_data_mbps *= 0.1


def test_each_usage_period_holds_the_data_served_in_it():
    # usage periods of 10 minutes, PM intervals of 15: a period must not wait for the interval
    scenario = single_cell(
        duration="1h", pm_interval="15m", sessions_per_hour=2.0, extra={"usage_interval": "10m"}
    )
    sink = _run(scenario)
    periods = sink.of_type(UsageBatch)
    assert [(b.start_s, b.end_s) for b in periods] == [
        (600.0 * k, 600.0 * (k + 1)) for k in range(6)
    ]
    # 1000 subscribers x 2 sessions/h x 10 MB: 3,333 MB expected in each 10 minutes, from 333
    # sessions of exponential volume: one standard deviation is 10 x sqrt(2 x 333) = 258 MB
    assert all(b.data_mb.sum() == pytest.approx(3333, abs=4 * 258) for b in periods)
    served = sum(b.data_served_mb.sum() for b in sink.of_type(CellPmBatch))
    assert sum(b.data_mb.sum() for b in periods) == pytest.approx(served, rel=1e-9)


@pytest.mark.parametrize("level", [0.5, 1.0, 100.0])
def test_the_daily_profile_is_normalised_by_its_largest_value(level):
    # busy_hour_calls are the calls in the busiest hour whatever the profile's scale: 1000
    # subscribers x 1 call x 90 s = 25 E offered, flat, for [0.5]*24, [1]*24 and [100]*24 alike
    scenario = single_cell(duration="1d", extra={"traffic": {"daily_profile": [level] * 24}})
    offered = simulate(scenario)["cells"]["t1/1"]["offered_erlangs"]
    assert offered == pytest.approx(25.0, rel=0.02)
    # the same seed draws the same calls: the three scales are one and the same scenario
    reference = single_cell(duration="1d", extra={"traffic": {"daily_profile": [1.0] * 24}})
    assert offered == simulate(reference)["cells"]["t1/1"]["offered_erlangs"]


# Two faults on the network behind one tower: core - agg - t1, links "up" (agg-core) and "l1"
# (t1-agg). The first is down 10h-12h, the second 11h-13h. Each case lists the cell's records:
# (hour, state, cause). The cause is "node" while t1 itself is down, else "isolation".
_BEHIND_T1 = {
    "network": {
        "nodes": [
            {"id": "core", "role": "core"},
            {"id": "agg", "role": "aggregation"},
            {"id": "t1", "role": "tower"},
        ],
        "links": [
            {"id": "up", "a": "agg", "b": "core", "capacity_mbps": 10_000},
            {"id": "l1", "a": "t1", "b": "agg", "capacity_mbps": 1000},
        ],
    }
}
_TOWER_THEN_PATH = [(10, "disabled", "node"), (12, "disabled", "isolation")]
_PATH_THEN_TOWER = [(10, "disabled", "isolation"), (11, "disabled", "node")]


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("t1", "l1", [*_TOWER_THEN_PATH, (13, "enabled", "isolation")]),
        ("t1", "agg", [*_TOWER_THEN_PATH, (13, "enabled", "isolation")]),
        ("t1", "up", [*_TOWER_THEN_PATH, (13, "enabled", "isolation")]),
        ("t1", "core", [*_TOWER_THEN_PATH, (13, "enabled", "isolation")]),
        ("t1", "t1", [(10, "disabled", "node"), (13, "enabled", "node")]),
        ("l1", "t1", [*_PATH_THEN_TOWER, (13, "enabled", "node")]),
        ("agg", "t1", [*_PATH_THEN_TOWER, (13, "enabled", "node")]),
        ("core", "t1", [*_PATH_THEN_TOWER, (13, "enabled", "node")]),
        ("l1", "agg", [(10, "disabled", "isolation"), (13, "enabled", "isolation")]),
        ("agg", "l1", [(10, "disabled", "isolation"), (13, "enabled", "isolation")]),
        ("up", "core", [(10, "disabled", "isolation"), (13, "enabled", "isolation")]),
        ("l1", "l1", [(10, "disabled", "isolation"), (13, "enabled", "isolation")]),
        ("agg", "core", [(10, "disabled", "isolation"), (13, "enabled", "isolation")]),
    ],
)
def test_a_cells_outage_cause_follows_overlapping_faults(first, second, expected):
    events = [
        {"at": "10h", "action": "fail", "target": first, "repair_after": "2h"},
        {"at": "11h", "action": "fail", "target": second, "repair_after": "2h"},
    ]
    truth = _truth(single_cell(duration="20h", extra={**_BEHIND_T1, "events": events}))
    cell = [
        (r.time_s / 3600, r.operational_state, r.cause)
        for r in truth.of_type(ResourceStateChange)
        if r.kind == "cell"
    ]
    assert cell == expected


def test_the_busy_hour_is_the_busiest_hour_long_window_on_the_pm_grid():
    # 400 subscribers x 1 call/h x 90 s = 10 E, surged x10 from 18:30 for an hour: the window
    # 18:30-19:30 carries about 100 E. Clock hours 18 and 19 carry only about 55 E each.
    scenario = single_cell(
        duration="1d",
        pm_interval="15m",
        subscribers=400,
        extra={
            "events": [
                {
                    "at": "18h30m",
                    "action": "surge",
                    "targets": ["t1"],
                    "factor": 10.0,
                    "duration": "1h",
                }
            ]
        },
    )
    cell = simulate(scenario)["cells"]["t1/1"]
    assert cell["busy_hour_start"] == "18:30"
    assert cell["busy_hour"] == 18
    assert cell["busy_hour_erlangs"] == pytest.approx(100.0, rel=0.05)


def test_the_busy_hour_window_is_averaged_over_the_days_and_may_wrap_past_midnight():
    # Traffic only in hours 23 and 0, flat 10 E each (400 subscribers): over three days the
    # busiest window is 23:00-00:00 or 00:00-01:00 at about 10 E, never half of it; a
    # window straddling midnight (23:30-00:30) carries the same 10 E.
    profile = [0.0] * 24
    profile[23] = profile[0] = 1.0
    scenario = single_cell(
        duration="3d",
        pm_interval="30m",
        subscribers=400,
        extra={"traffic": {"daily_profile": profile}},
    )
    cell = simulate(scenario)["cells"]["t1/1"]
    assert cell["busy_hour_start"] in {"23:00", "23:30", "00:00"}
    assert cell["busy_hour_erlangs"] == pytest.approx(10.0, rel=0.05)


def test_utilization_p95_is_a_value_some_interval_had():
    # Data demand far above capacity in 2 hours of the day, none in the others: 2 of 24 hourly
    # intervals at utilisation 1.0, 22 at 0. Nearest rank: the 23rd of 24 values (0.95 x 24 =
    # 22.8, rounded up) is 1.0; linear interpolation gave 0.85, a value no interval had.
    profile = [0.0] * 24
    profile[18] = profile[19] = 1.0
    scenario = single_cell(
        calls_per_hour=0.0,
        sessions_per_hour=10.0,
        mean_volume_mb=50.0,
        duration="1d",
        extra={"traffic": {"daily_profile": profile}},
    )
    summary = simulate(scenario)
    assert summary["cells"]["t1/1"]["utilization_p95"] == 1.0
    assert summary["links"]["l1"]["utilization_p95"] == pytest.approx(100 / 100_000)


def test_a_link_is_out_of_service_while_an_end_node_is_down():
    # t1 is down 2h of 20h: its link to the core carries nothing and counts as out of service
    scenario = single_cell(
        duration="20h",
        extra={"events": [{"at": "5h", "action": "fail", "target": "t1", "repair_after": "2h"}]},
    )
    summary = simulate(scenario)
    assert summary["links"]["l1"]["availability"] == pytest.approx(18 / 20)
    assert summary["cells"]["t1/1"]["availability"] == pytest.approx(18 / 20)


def test_a_run_shorter_than_an_hour_reports_its_time_weighted_mean_as_busy_hour():
    # A run from 10:07 to 10:47 (15-minute PM): slot 10:00 seen 8 min at 4 E, 10:15 and 10:30
    # in full at 5 E, 10:45 for 2 min at 6 E. No hour is seen whole; the window from 10:00
    # holds all of it: (4 x 480 + 5 x 900 + 5 x 900 + 6 x 120) / 2400 = 4.85 E, the run's
    # mean (weighing every slot alike gave 5.0, a figure no hour had).
    start = np.array([36420.0, 36900.0, 37800.0, 38700.0])
    span = np.array([480.0, 900.0, 900.0, 120.0])
    erlangs = np.array([[4.0], [5.0], [5.0], [6.0]])
    busy_start, busy_erlangs = busy_hours(start, span, erlangs, 900.0)
    assert busy_start.tolist() == [36000.0]
    assert busy_erlangs.tolist() == pytest.approx([4.85])


def test_a_slot_the_run_saw_for_minutes_does_not_make_the_busy_hour():
    # 5-minute PM from 22:58 for two hours: a 2-minute spike of 20 E in the 22:55 slot, then
    # 1 E, except 2 E from 23:30 to 00:30. The busiest whole hour is 23:30 at 2 E; the window
    # from 22:55, seen for its last 57 minutes only, is not a candidate.
    start = np.concatenate([[82680.0], 82800.0 + 300.0 * np.arange(23)])
    span = np.concatenate([[120.0], np.full(23, 300.0)])
    slot_start = start - start % 300
    erlangs = np.where((slot_start >= 84600) & (slot_start < 88200), 2.0, 1.0)[:, None]
    erlangs[0] = 20.0
    busy_start, busy_erlangs = busy_hours(start, span, erlangs, 300.0)
    assert busy_start.tolist() == [84600.0]
    assert busy_erlangs.tolist() == pytest.approx([2.0])
