"""Anomaly detection (twin/oss/anomalies.py) and its scoring against the injected truth
(twin/anomaly_scoring.py). The simulator's side of anomalies is tests/test_anomalies.py."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from sim.engine import Simulation
from sim.scenario import AnomalySettings, load_scenario
from sim.truth import AnomalyTruth
from twin.anomaly_scoring import AnomalyScorer
from twin.bus import Bus
from twin.feed import CellPmBatch, Inventory, LinkPmBatch, RunEnded, RunStarted
from twin.oss.anomalies import (
    ASLEEP,
    DEGRADED,
    LOW,
    NORMAL,
    SURGE,
    UNTESTED,
    AnomalyDetection,
    expected_rate,
)
from twin.oss.records import AnomalyFlags
from twin.run import simulate

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


# --- the baseline, by hand ----------------------------------------------------------------------


def test_expected_rate_ignores_a_surging_and_a_sleeping_cell():
    # Five cells of 100 subscribers at 0.5 attempts each (50), one surging at 4x (200), one
    # asleep (0). The weighted median is 0.5; the band [0.25, 0.75] keeps the five normal cells,
    # whose pooled rate is (48 + 50 + 52 + 49 + 51) / 500 = 0.5 exactly.
    observed = np.array([48, 50, 52, 49, 51, 200, 0], dtype=float)
    subscribers = np.full(7, 100.0)
    rate = expected_rate(observed, subscribers, np.ones(7, dtype=bool), (0.5, 1.5))
    assert rate == pytest.approx(0.5)
    # a plain mean would read (250 + 200) / 700 = 0.643: the surge and the sleep pull it off
    assert observed.sum() / subscribers.sum() == pytest.approx(0.642857, abs=1e-6)


def _inventory(n_cells: int, per_cell: int, towers: int = 1) -> Inventory:
    cell_tower = tuple(f"t{i % towers}" for i in range(n_cells))
    node_ids = ("core", *sorted(set(cell_tower)))
    return Inventory(
        node_ids=node_ids,
        node_roles=("core", *["tower"] * (len(node_ids) - 1)),
        node_lat=np.zeros(len(node_ids)),
        node_lon=np.zeros(len(node_ids)),
        link_ids=tuple(f"l-{t}" for t in node_ids[1:]),
        link_a=node_ids[1:],
        link_b=("core",) * (len(node_ids) - 1),
        link_capacity_mbps=np.full(len(node_ids) - 1, 10_000.0),
        link_latency_ms=np.ones(len(node_ids) - 1),
        cell_ids=tuple(f"c{i}" for i in range(n_cells)),
        cell_tower=cell_tower,
        cell_voice_channels=np.full(n_cells, 30),
        cell_data_mbps=np.full(n_cells, 100.0),
        subscriber_cell=np.repeat(np.arange(n_cells), per_cell),
        product_names=("p",),
        subscriber_product=np.zeros(n_cells * per_cell, dtype=np.int64),
    )


def _batches(
    start_s: float,
    attempts: np.ndarray,
    *,
    in_service: np.ndarray | None = None,
    demand: np.ndarray | None = None,
    served: np.ndarray | None = None,
    link_short: bool = False,
) -> tuple[CellPmBatch, LinkPmBatch]:
    n = len(attempts)
    demand = np.full(n, 1000.0) if demand is None else demand
    served = demand.copy() if served is None else served
    seconds = np.full(n, 900.0) if in_service is None else in_service
    zeros = np.zeros(n)
    cells = CellPmBatch(
        start_s=start_s,
        end_s=start_s + 900.0,
        voice_offered=np.asarray(attempts, dtype=np.int64),
        voice_carried=np.asarray(attempts, dtype=np.int64),
        voice_blocked=zeros.astype(np.int64),
        voice_failed=zeros.astype(np.int64),
        voice_dropped=zeros.astype(np.int64),
        offered_erlangs=zeros,
        carried_erlangs=zeros,
        data_sessions=zeros.astype(np.int64),
        data_demand_mb=demand,
        data_served_mb=served,
        utilization=zeros,
        seconds_in_service=seconds,
    )
    carried = np.array([900.0 if link_short else 1000.0])
    links = LinkPmBatch(
        start_s=start_s,
        end_s=start_s + 900.0,
        demand_mb=np.array([1000.0]),
        carried_mb=carried,
        utilization=np.zeros(1),
        seconds_in_service=np.full(1, 900.0),
    )
    return cells, links


def _detector(inventory: Inventory) -> tuple[Bus, AnomalyDetection, list[AnomalyFlags]]:
    bus = Bus()
    detector = AnomalyDetection(bus, AnomalySettings())
    flags: list[AnomalyFlags] = []
    bus.subscribe(AnomalyFlags, flags.append)
    bus.publish(RunStarted("t", 1, datetime(2027, 1, 1, tzinfo=UTC), 86400.0, 900.0, 86400.0, None))
    bus.publish(inventory)
    return bus, detector, flags


def _feed(bus: Bus, *pairs: tuple[CellPmBatch, LinkPmBatch]) -> None:
    for cells, links in pairs:
        bus.publish(cells)
        bus.publish(links)


def test_a_sleep_is_asleep_from_its_partial_first_interval_and_published_one_interval_late():
    # Ten cells of 1,000 subscribers, 200 attempts each expected per interval (rate 0.2).
    # Cell 0 counts 50 (it fell asleep a quarter of the way into the interval), then nothing,
    # then 200 again.
    bus, detector, flags = _detector(_inventory(10, 1000))
    normal = np.full(10, 200)
    first, empty = normal.copy(), normal.copy()
    first[0], empty[0] = 50, 0
    _feed(bus, _batches(0.0, first))
    assert flags == []  # held back until the next interval says whether it was a sleep
    _feed(bus, _batches(900.0, empty), _batches(1800.0, normal))
    assert [f.start_s for f in flags] == [0.0, 900.0]
    assert flags[0].code[0] == LOW and flags[1].code[0] == ASLEEP
    # asleep for 1 - 50/200 = 3/4 of the first interval, 900 s of the second
    assert flags[0].asleep_s[0] == pytest.approx(675.0)
    assert flags[1].asleep_s[0] == 900.0
    assert flags[0].asleep_s[1:].sum() == 0.0
    bus.publish(RunEnded(2700.0))
    assert [(f.kind, f.start_s, f.end_s, f.intervals) for f in detector.findings] == [
        ("sleep", 0.0, 1800.0, 2)
    ]


def test_a_cell_out_of_service_for_part_of_an_interval_is_not_tested():
    # Cell 0 counts nothing while out of service for 600 s: an outage, not a sleep.
    bus, detector, flags = _detector(_inventory(10, 1000))
    attempts = np.full(10, 200)
    attempts[0] = 0
    in_service = np.full(10, 900.0)
    in_service[0] = 300.0
    _feed(bus, _batches(0.0, attempts, in_service=in_service))
    bus.publish(RunEnded(900.0))
    assert flags[0].code[0] == UNTESTED
    assert set(flags[0].code[1:].tolist()) == {NORMAL}
    assert detector.findings == []


def test_a_surge_needs_both_the_ratio_and_the_significance():
    # 100 cells of 1,000 subscribers counting 200 each, but cell 0 320 and cell 1 260: both
    # within the rate's band, so the pooled rate is (98 x 200 + 320 + 260) / 100,000 = 0.2018.
    # 320 / 201.8 = 1.59 >= 1.5 and P(X >= 320 | 201.8) ~ 1e-14: a surge; 260 / 201.8 = 1.29 is
    # under the ratio, however unlikely (P ~ 5e-5).
    bus, _, flags = _detector(_inventory(100, 1000))
    attempts = np.full(100, 200)
    attempts[0], attempts[1] = 320, 260
    _feed(bus, _batches(0.0, attempts))
    bus.publish(RunEnded(900.0))
    assert flags[0].code[0] == SURGE
    assert flags[0].code[1] == NORMAL


def test_a_cell_serving_less_than_its_demand_and_capacity_allow_is_degraded():
    # Capacity 100 Mbps x 900 s / 8 = 11,250 MB; demand 1,000 MB. Cell 0 serves 800 MB (0.8 of
    # what it should): degraded. With a link short of its demand, cells are compared with the
    # best of their tower instead, so a tower held back by its backhaul is not degraded.
    bus, _, flags = _detector(_inventory(4, 1000, towers=2))  # c0, c2 on t0; c1, c3 on t1
    served = np.array([800.0, 700.0, 1000.0, 700.0])
    _feed(bus, _batches(0.0, np.full(4, 200), served=served))
    _feed(bus, _batches(900.0, np.full(4, 200), served=served, link_short=True))
    bus.publish(RunEnded(1800.0))
    assert flags[0].code.tolist() == [DEGRADED, DEGRADED, NORMAL, DEGRADED]
    # t1's cells both at 0.7 (its backhaul), c0 at 0.8 of t0's best 1.0
    assert flags[1].code.tolist() == [DEGRADED, NORMAL, NORMAL, NORMAL]


# --- end to end: the reference scenario and scenarios/anomalies.yaml ---------------------------


def test_reference_run_finds_the_southern_surge_as_anomalies_and_nothing_else():
    anomalies = simulate(load_scenario(SCENARIOS / "metro.yaml"))["anomalies"]
    # the surge: t-s1 and t-s2 (three cells each) x4 from 18h for 3h = 12 intervals each
    found = {(f["cell"], f["kind"], f["start_s"], f["end_s"]) for f in anomalies["findings"]}
    assert found == {
        (f"{tower}/{k}", "surge", 18 * 3600.0, 21 * 3600.0)
        for tower in ("t-s1", "t-s2")
        for k in (1, 2, 3)
    }
    assert anomalies["truth_cell_intervals"] == 6 * 12
    assert anomalies["precision"] == 1.0 and anomalies["recall"] == 1.0
    assert anomalies["events"] == {
        "injected": 2,
        "scorable": 2,
        "found": 2,
        "recall": 1.0,
        "precision": 1.0,
    }
    assert anomalies["false_findings"] == 0


def test_anomalies_scenario_meets_the_targets():
    anomalies = simulate(load_scenario(SCENARIOS / "anomalies.yaml"))["anomalies"]
    events = anomalies["events"]
    # twelve injected: four surges, four sleeps, three cell degradations and one of a link,
    # which the per-cell detector is not scored on
    assert events["injected"] == 11 and anomalies["not_scored"] == 1
    assert events["found"] >= 10
    assert events["recall"] >= 0.9 and events["precision"] >= 0.9
    assert anomalies["precision"] >= 0.9 and anomalies["recall"] >= 0.9
    kinds = {f["kind"] for f in anomalies["findings"]}
    assert kinds == {"surge", "sleep", "degrade", "low"}
    # the tower failure at 50h (t-7, an hour) is an outage, not an anomaly
    assert not [
        f
        for f in anomalies["findings"]
        if f["cell"].startswith("t-7/") and f["start_s"] < 51 * 3600 and f["end_s"] > 50 * 3600
    ]


def test_detector_gives_the_same_findings_without_the_truth():
    scenario = load_scenario(SCENARIOS / "anomalies.yaml")
    with_truth = simulate(scenario)["anomalies"]["findings"]
    bus = Bus()
    detector = AnomalyDetection(bus, scenario.twin.anomalies)
    Simulation(scenario, bus).run()  # no truth sink: the simulator keeps its truth to itself
    assert [f.to_json() for f in detector.findings] == with_truth


def test_no_more_than_one_false_finding_per_1000_cell_days_without_anomalies():
    # regional.yaml: 900 cells for 7 days (6,300 cell-days), random faults, nothing injected.
    anomalies = simulate(load_scenario(SCENARIOS / "regional.yaml"))["anomalies"]
    assert anomalies["cell_days"] == 6300.0
    assert anomalies["events"]["injected"] == 0
    assert anomalies["false_per_1000_cell_days"] <= 1.0
    assert anomalies["false_per_1000_cell_days"] == pytest.approx(
        1000 * anomalies["false_findings"] / 6300.0, abs=1e-4
    )


def test_scorer_counts_a_half_covered_interval_as_either():
    # One cell, four intervals; a sleep from 1,350 s (half of the second interval) to 2,700 s.
    scorer = AnomalyScorer()
    bus = Bus()
    scorer.attach(bus)
    bus.publish(_inventory(1, 10))
    for k, code in enumerate([NORMAL, ASLEEP, ASLEEP, NORMAL]):
        bus.publish(
            AnomalyFlags(
                k * 900.0,
                (k + 1) * 900.0,
                ("c0",),
                np.array([code]),
                np.zeros(1),
                np.zeros(1),
                np.zeros(1),
            )
        )
    result = scorer.score([AnomalyTruth("sleep", "c0", 1350.0, 2700.0, 0.0)], [], 3600.0)
    # interval 1 is covered for 450 of 900 s (half: counted), interval 2 fully
    assert result["truth_cell_intervals"] == 2
    assert result["precision"] == 1.0 and result["recall"] == 1.0
    result = scorer.score([AnomalyTruth("sleep", "c0", 1400.0, 2700.0, 0.0)], [], 3600.0)
    # covered for 400 s only: either, so the flag there is neither right nor wrong
    assert result["truth_cell_intervals"] == 1
    assert result["precision"] == 1.0 and result["recall"] == 1.0


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("significance", 0, "greater than 0"),
        ("low_ratio", 1.5, "less than 1"),
        ("surge_ratio", 1, "greater than 1"),
        ("degrade_share", 0, "greater than 0"),
    ],
)
def test_bad_anomaly_settings_are_one_line_each_with_the_key_path(
    tmp_path, capsys, example_raw, key, value, message
):
    from tests.test_bad_input import _refused, _write

    example_raw["twin"]["anomalies"] = {key: value}
    lines = _refused(tmp_path, capsys, _write(tmp_path, example_raw))
    assert len(lines) == 1
    assert lines[0].startswith(f"metro.yaml: twin.anomalies.{key}: ") and message in lines[0]
