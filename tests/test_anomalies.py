"""Injected anomalies that raise no alarm (sim.anomalies): sleeping cells, degraded capacity,
and their ground truth beside the surges'."""

from __future__ import annotations

import numpy as np
import pytest

from sim.engine import Simulation
from sim.scenario import parse_scenario
from sim.truth import AnomalyTruth, TruthLog
from tests.conftest import single_cell
from twin.feed import AlarmNotification, CellPmBatch, LinkPmBatch, RecordingSink


def _run(scenario) -> tuple[RecordingSink, TruthLog]:
    sink, truth = RecordingSink(), TruthLog()
    Simulation(scenario, sink, truth=truth).run()
    return sink, truth


def _loaded_cell(events: list[dict[str, object]]):
    """1,000 subscribers making 1 call and 10 sessions of 10 MB an hour each: 100,000 MB/h of
    data on a 100 Mbps cell (45,000 MB/h), behind a 100,000 Mbps link; hourly PM for 6h."""
    return single_cell(duration="6h", sessions_per_hour=10.0, extra={"events": events})


def test_a_sleeping_cell_stays_in_service_and_counts_no_traffic():
    sink, truth = _run(
        _loaded_cell([{"at": "2h", "action": "sleep", "target": "t1/1", "duration": "1h"}])
    )
    pm = sink.of_type(CellPmBatch)
    asleep = pm[2]  # 2h to 3h
    assert (asleep.voice_offered[0], asleep.data_sessions[0]) == (0, 0)
    assert asleep.offered_erlangs[0] == 0.0
    assert asleep.seconds_in_service[0] == 3600.0
    # awake, the cell sees about its 1,000 calls and 10,000 sessions an hour
    assert pm[1].voice_offered[0] == pytest.approx(1000, rel=0.15)
    assert pm[3].data_sessions[0] == pytest.approx(10_000, rel=0.05)
    assert not sink.of_type(AlarmNotification)
    assert truth.of_type(AnomalyTruth) == [AnomalyTruth("sleep", "t1/1", 7200.0, 10800.0, 0.0)]
    assert "state_changes" in truth.to_json() and not truth.to_json()["state_changes"]


def test_sleeping_and_degrading_change_no_other_draw(example_raw):
    base, _ = _run(parse_scenario(example_raw, "metro.yaml"))
    example_raw["events"] += [
        {"at": "5h", "action": "sleep", "target": "t-n1", "duration": "3h"},
        {"at": "6h", "action": "degrade", "target": "l-n1", "factor": 0.5, "duration": "2h"},
        {"at": "6h", "action": "degrade", "target": "t-s1/1", "factor": 0.2, "duration": "1h"},
    ]
    more, _ = _run(parse_scenario(example_raw, "metro.yaml"))
    cells = more.records[1].cell_ids
    sleeping = np.array([c.startswith("t-n1/") for c in cells])
    for before, after in zip(base.of_type(CellPmBatch), more.of_type(CellPmBatch), strict=True):
        during = 5 * 3600 <= before.start_s < 8 * 3600
        for counter in ("voice_offered", "data_sessions"):
            b, a = getattr(before, counter), getattr(after, counter)
            # the sleeping tower's attempts are its usual draws, lost uncounted; the rest keep
            # exactly theirs
            assert np.array_equal(a[~sleeping], b[~sleeping])
            assert np.array_equal(
                a[sleeping], np.zeros_like(b[sleeping]) if during else b[sleeping]
            )


def test_a_degraded_link_carries_at_most_factor_times_its_capacity_while_degraded():
    # l1 (100,000 Mbps) degraded to 10 Mbps (factor 0.0001) from 2h30m to 4h.
    sink, truth = _run(
        _loaded_cell(
            [
                {
                    "at": "2h30m",
                    "action": "degrade",
                    "target": "l1",
                    "factor": 0.0001,
                    "duration": "1h30m",
                }
            ]
        )
    )
    carried = [b.carried_mb[0] for b in sink.of_type(LinkPmBatch)]
    # 3h to 4h: wholly degraded, saturated at 10 Mbps x 3,600 s / 8 = 4,500 MB
    assert carried[3] <= 4500.0 + 1e-6
    assert carried[3] == pytest.approx(4500.0, rel=1e-6)
    # 2h to 3h: the cell serves 45,000 / 100,000 = 0.45 of its demand; the first half hour's
    # 0.45 x 50,000 = 22,500 MB pass, the second's only 10 x 1,800 / 8 = 2,250: 24,750 MB.
    # Pooling the link over the hour would have let all 45,000 through.
    assert carried[2] == pytest.approx(24_750.0, rel=0.05)
    # before and after, the cell's 45,000 MB/h is the limit
    assert carried[1] == pytest.approx(45_000.0, rel=1e-6)
    assert carried[4] == pytest.approx(45_000.0, rel=1e-6)
    assert truth.of_type(AnomalyTruth) == [AnomalyTruth("degrade", "l1", 9000.0, 14400.0, 0.0001)]


def test_a_degraded_cell_serves_at_most_factor_times_its_data_capacity():
    sink, _ = _run(
        _loaded_cell(
            [{"at": "2h", "action": "degrade", "target": "t1", "factor": 0.5, "duration": "1h"}]
        )
    )
    served = [b.data_served_mb[0] for b in sink.of_type(CellPmBatch)]
    # 0.5 x 100 Mbps x 3,600 s / 8 = 22,500 MB, against 45,000 MB awake
    assert served[2] == pytest.approx(22_500.0, rel=1e-9)
    assert served[1] == pytest.approx(45_000.0, rel=1e-9)


def test_surges_are_in_the_anomaly_truth_one_record_per_target(example_raw):
    _, truth = _run(parse_scenario(example_raw, "metro.yaml"))
    # events: {at: 18h, action: surge, targets: [t-s1, t-s2], factor: 4.0, duration: 3h}
    assert truth.of_type(AnomalyTruth) == [
        AnomalyTruth("surge", "t-s1", 64800.0, 75600.0, 4.0),
        AnomalyTruth("surge", "t-s2", 64800.0, 75600.0, 4.0),
    ]
    assert truth.to_json()["anomalies"][0] == {
        "kind": "surge",
        "resource": "t-s1",
        "start_s": 64800.0,
        "end_s": 75600.0,
        "factor": 4.0,
    }


def test_an_anomaly_lasting_to_the_end_of_the_run_is_in_the_truth():
    _, truth = _run(
        _loaded_cell([{"at": "5h", "action": "sleep", "target": "t1", "duration": "1h"}])
    )
    assert truth.of_type(AnomalyTruth) == [AnomalyTruth("sleep", "t1", 18000.0, 21600.0, 0.0)]
