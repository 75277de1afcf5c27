"""The southbound release: it undoes an admission, and moves no other subscriber's draw."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sim.engine import Simulation
from sim.scenario import parse_scenario
from tests.conftest import single_cell
from twin.feed import CellPmBatch, RecordingSink, SubscriptionReleased, UsageBatch

HOUR = 3600.0


def _metro(example_raw: dict[str, Any]) -> Simulation:
    example_raw["faults"] = {}  # no random faults: the towers used here stay up
    example_raw["usage_interval"] = "1h"  # usage records every hour (default: daily)
    return Simulation(parse_scenario(example_raw, "metro.yaml"), RecordingSink())


def test_release_gives_the_tower_its_place_back_once(example_raw):
    example_raw["network"]["nodes"][7]["max_subscribers"] = 760  # t-s1
    sim = _metro(example_raw)
    sim.advance_to(10 * HOUR)
    homed = sim.homed_subscribers("t-s1")
    # 6000 subscribers placed uniformly over 8 towers: about 750 on t-s1 (this seed's draw)
    assert 700 < homed <= 760
    admitted = []
    while (answer := sim.admit_subscription("t-s1", "mobile-l")).accepted:
        admitted.append(answer.subscriber)
    assert answer.reason == "tower is full (760 subscribers)"
    assert len(admitted) == 760 - homed
    first = sim.release_subscription(admitted[0])
    assert first.released and first.reason == ""
    assert sim.homed_subscribers("t-s1") == 759
    again = sim.release_subscription(admitted[0])
    assert (again.released, again.reason) == (False, "already released")
    assert sim.homed_subscribers("t-s1") == 759
    unknown = sim.release_subscription(10**9)
    assert (unknown.released, unknown.reason) == (False, "unknown subscriber 1000000000")
    # the place released is free again, exactly one
    assert sim.admit_subscription("t-s1", "mobile-l").accepted
    assert not sim.admit_subscription("t-s1", "mobile-l").accepted
    released = sim.sink.of_type(SubscriptionReleased)
    assert [(r.time_s, r.subscriber, r.product) for r in released] == [
        (10 * HOUR, admitted[0], "mobile-l")
    ]


def _usage_of(sink: RecordingSink, subscriber: int, after_s: float = 0.0) -> float:
    total = 0.0
    for batch in sink.of_type(UsageBatch):
        if batch.start_s >= after_s:
            hit = batch.subscriber == subscriber
            total += float(batch.voice_seconds[hit].sum() + batch.data_mb[hit].sum())
    return total


def _admit_twenty(example_raw: dict[str, Any]) -> tuple[Simulation, list[int]]:
    sim = _metro(example_raw)
    sim.advance_to(10 * HOUR)
    subscribers = [sim.admit_subscription("t-s1", "mobile-l").subscriber for _ in range(20)]
    return sim, subscribers


def test_a_released_subscriber_makes_no_more_traffic_or_usage(example_raw):
    sim, subscribers = _admit_twenty(example_raw)
    sim.advance_to(12 * HOUR)
    for subscriber in subscribers[:5]:
        assert sim.release_subscription(subscriber).released
    sim.advance_to(16 * HOUR)
    sink = sim.sink
    # usage periods are the hour (the PM grid); the 5 made usage before 12h and none after
    assert sum(_usage_of(sink, s) for s in subscribers[:5]) > 0
    assert sum(_usage_of(sink, s, after_s=12 * HOUR) for s in subscribers[:5]) == 0.0
    assert sum(_usage_of(sink, s, after_s=12 * HOUR) for s in subscribers[5:]) > 0


def test_a_release_moves_no_other_subscribers_draw(example_raw):
    """Two runs of one seed, both admitting 20 on t-s1 at 10h; one releases 5 at 12h. Until
    the stadium surge (18h) no cell is congested, so every other subscriber's usage is the
    same to the bit, and only the released subscribers' cells offer fewer calls."""
    kept, subscribers = _admit_twenty(example_raw)
    released, same = _admit_twenty(example_raw)
    assert same == subscribers
    for sim in (kept, released):
        sim.advance_to(12 * HOUR)
    for subscriber in subscribers[:5]:
        released.release_subscription(subscriber)
    for sim in (kept, released):
        sim.advance_to(17 * HOUR)
    a, b = kept.sink.of_type(UsageBatch), released.sink.of_type(UsageBatch)
    assert len(a) == len(b) == 16  # the hours closed by 17h: 0h-1h .. 15h-16h
    gone = set(subscribers[:5])
    for x, y in zip(a, b, strict=True):
        others_x = ~np.isin(x.subscriber, list(gone))
        others_y = ~np.isin(y.subscriber, list(gone))
        assert np.array_equal(x.subscriber[others_x], y.subscriber[others_y])
        assert np.array_equal(x.voice_seconds[others_x], y.voice_seconds[others_y])
        assert np.array_equal(x.data_mb[others_x], y.data_mb[others_y])
    cells = {int(kept.subscribers.cell[s]) for s in gone}
    pm_a, pm_b = kept.sink.of_type(CellPmBatch), released.sink.of_type(CellPmBatch)
    other = np.ones(len(kept.topo.cell_ids), dtype=bool)
    other[list(cells)] = False
    fewer = 0
    for x, y in zip(pm_a, pm_b, strict=True):
        assert np.array_equal(x.voice_offered[other], y.voice_offered[other])
        assert np.array_equal(x.data_sessions[other], y.data_sessions[other])
        assert (y.voice_offered <= x.voice_offered).all()
        fewer += int((x.voice_offered - y.voice_offered).sum())
        fewer += int((x.data_sessions - y.data_sessions).sum())
    # 5 subscribers x 5 hours x (1 call + 2 sessions)/h x profile 0.78..0.97: about 65
    assert 30 < fewer < 110


def test_a_release_ends_the_call_in_progress_without_counting_a_drop():
    scenario = single_cell(duration="2h", subscribers=1, calls_per_hour=30.0, mean_duration="1h")
    sim = Simulation(scenario, RecordingSink())
    sim.advance_to(HOUR)
    kernel = sim.kernel
    talking = (kernel.slot_sub == 0) & (kernel.slot_end > kernel.now)
    assert talking.sum() >= 1  # 30 calls of an hour on average in the first hour: some still on
    assert sim.release_subscription(0).released
    assert not ((kernel.slot_sub == 0) & (kernel.slot_end > kernel.now)).any()
    sim.run()
    batches = sim.sink.of_type(CellPmBatch)
    assert sum(int(b.voice_dropped.sum()) for b in batches) == 0
    second = batches[1]  # the hour after the release: nothing offered, nothing carried
    assert int(second.voice_offered.sum()) == 0
    assert float(second.carried_erlangs.sum()) == pytest.approx(0.0, abs=1e-9)
    usage = sim.sink.of_type(UsageBatch)
    assert all(b.start_s < HOUR for b in usage if len(b.subscriber))


def test_the_same_seed_with_a_release_gives_the_same_feed(example_raw):
    runs = []
    for _ in range(2):
        sim, subscribers = _admit_twenty(dict(example_raw))
        sim.advance_to(11 * HOUR)
        sim.release_subscription(subscribers[3])
        sim.advance_to(13 * HOUR)
        runs.append(sim.sink.of_type(UsageBatch))
    for x, y in zip(*runs, strict=True):
        assert np.array_equal(x.subscriber, y.subscriber)
        assert np.array_equal(x.voice_seconds, y.voice_seconds)
        assert np.array_equal(x.data_mb, y.data_mb)
