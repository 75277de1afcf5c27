"""Rating: allowances first, then overage; whole minutes and MB per record; exactly once.

Hand calculations use the reference catalog (tests/bss_feed.py): mobile-s includes 100 minutes
and 2 GB (2,000 MB) a month, overage 0.09 a minute and 5.00 a GB (0.005 a MB).
"""

from __future__ import annotations

import numpy as np

from tests.bss_feed import DAY, Fixture, usage
from twin.bss.rating import minutes_and_megabytes
from twin.bss.records import RatedUsage

MONTH = 31 * DAY  # March: one whole cycle, whole allowances


def test_minutes_and_megabytes_are_rounded_up_per_record():
    minutes, megabytes = minutes_and_megabytes(
        np.array([0.0, 1.0, 60.0, 61.0, 3600.0]), np.array([0.0, 0.2, 1.0, 1.01, 999.5])
    )
    assert minutes.tolist() == [0, 1, 1, 2, 60]
    assert megabytes.tolist() == [0, 1, 1, 2, 1000]


def test_allowances_are_used_first_then_overage_is_rated():
    f = Fixture(["mobile-s"], duration_s=MONTH)
    rated: list[RatedUsage] = []
    f.bus.subscribe(RatedUsage, rated.append)
    f.publish(usage(0, DAY, {0: (90 * 60, 1500.0)}))  # within 100 min and 2,000 MB
    f.publish(usage(DAY, 2 * DAY, {0: (30 * 60, 600.0)}))  # 120 min, 2,100 MB in all
    f.end()
    first, second = rated
    assert (first.voice_overage.tolist(), first.data_overage.tolist()) == ([0], [0])
    assert (second.voice_overage.tolist(), second.data_overage.tolist()) == ([20], [100])
    # 20 min x 0.09 = 1.80; 100 MB x 0.005 = 0.50, in 10**-9 EUR
    assert second.voice_nano.tolist() == [1_800_000_000]
    assert second.data_nano.tolist() == [500_000_000]
    assert f.lines("SUB-1") == [
        ("INV-1-ACC-1", "recurring", 31, 1500),
        ("INV-1-ACC-1", "voice_overage", 20, 180),
        ("INV-1-ACC-1", "data_overage", 100, 50),
    ]


def test_feeding_the_same_batches_twice_changes_nothing():
    batches = [
        usage(0, DAY, {0: (90 * 60, 1500.0), 1: (50 * 60, 10.0)}),
        usage(DAY, 2 * DAY, {0: (30 * 60, 600.0)}),
    ]
    once = Fixture(["mobile-s", "mobile-s"])
    for batch in batches:
        once.publish(batch)
    twice = Fixture(["mobile-s", "mobile-s"])
    for batch in batches + batches:  # the whole feed replayed
        twice.publish(batch)
        twice.publish(batch)  # and each batch doubled
    first, second = once.end(), twice.end()
    assert once.lines() == twice.lines()
    assert first["billing"]["total"] == second["billing"]["total"]
    assert first["billing"]["usage_records"] == {"rated": 3, "rejected": 0, "duplicates": 0}
    # 3 records rated once; the replays: 3 + 3 duplicates of the doubled batches, 3 of the
    # replayed feed
    assert second["billing"]["usage_records"] == {"rated": 3, "rejected": 0, "duplicates": 9}


def test_usage_of_a_subscriber_with_no_subscription_is_rejected():
    f = Fixture(["mobile-s"])
    f.publish(usage(0, DAY, {0: (60.0, 1.0), 7: (600.0, 5.0)}))  # subscriber 7 is unknown
    summary = f.end()
    assert summary["billing"]["usage_records"] == {"rated": 1, "rejected": 1, "duplicates": 0}
