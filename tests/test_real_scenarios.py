"""The shipped scenarios on real third-party data (scenarios/data/, sources in its README),
run end to end."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from sim.scenario import load_scenario
from twin.run import simulate

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def _run(name: str, **overrides: str) -> dict:
    path = SCENARIOS / name
    sets = [f"{k}={v}" for k, v in overrides.items()]
    return simulate(load_scenario(path, sets), base_dir=path.parent, file=path.name)


def test_geant_node_failure_isolates_the_towers_homed_on_it():
    summary = _run("geant-opencellid.yaml")
    # 1,000 German GSM sites from the OpenCellID sample, one cell each
    assert len(summary["cells"]) == 1000
    # The DE node (geant-4) is down 18h30m to 20h: 1.5 h of 24, availability 0.9375 for the
    # towers homed on it (their nearest backbone node), 1 for the others.
    availability = Counter(round(c["availability"], 4) for c in summary["cells"].values())
    assert set(availability) == {0.9375, 1.0}
    assert availability[0.9375] == 211
    assert summary["outages"] == [
        {
            "resource": "geant-4",
            "kind": "aggregation",
            "start_s": 66600.0,
            "end_s": 72000.0,
            "cause": "injected",
        }
    ]


def test_abilene_long_haul_cut_reroutes_without_isolating_anyone():
    summary = _run(
        "abilene.yaml",
        **{
            "faults.random": "{}",
            "events[1].target": "abilene-l-0-1-0",
            "events[1].at": "18h30m",
            "duration": "19h",
        },
    )
    # Kansas City - Indianapolis is cut at 18h, then New York - Chicago at 18h30m: traffic
    # reroutes around both (the backbone is a ring of rings), and no cell leaves service
    assert len(summary["cells"]) == 660  # 220 towers x 3 cells
    assert all(c["availability"] == pytest.approx(1.0) for c in summary["cells"].values())
    assert summary["voice"]["failed"] == 0
    # the cut links were down from their cut to the end of the run
    assert summary["links"]["abilene-l-7-10-0"]["availability"] == pytest.approx(18 / 19)
    assert summary["links"]["abilene-l-0-1-0"]["availability"] == pytest.approx(18.5 / 19)
