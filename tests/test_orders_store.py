"""Orders in the run directory: summary.json's ``orders``, the store's tables (SQLite and
PostgreSQL) and ``telcotwin orders``, on the reference scenario with the fake participants."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from sim.scenario import parse_scenario
from tests.bss_fakes import FakeCharging, FakeProfiles
from tests.conftest import query
from twin.cli import main
from twin.run import run_scenario, simulate

HOUR = 3600.0
REASON_N3 = "20 of 20 items failed: 20 x reserve: tower has no path to a core"


def _reference_run(example_raw: dict[str, Any], out: Path, store_url: str | None = None) -> Any:
    scenario = parse_scenario(example_raw, "metro.yaml")
    return run_scenario(
        scenario, out, store_url=store_url, participants=(FakeProfiles(), FakeCharging())
    )


def _without_business(raw: dict[str, Any]) -> Any:
    """The reference scenario with the business side off: no orders are activated."""
    changed = copy.deepcopy(raw)
    changed["twin"]["business"] = False
    return parse_scenario(changed, "metro.yaml")


def test_summary_counts_the_orders_per_state(example_raw):
    summary = simulate(
        parse_scenario(example_raw, "metro.yaml"), participants=(FakeProfiles(), FakeCharging())
    )
    # the reference scenario's two orders: t-s1's completes, isolated t-n3's fails
    assert summary["orders"] == {
        "acknowledged": 0,
        "rejected": 0,
        "inProgress": 0,
        "completed": 1,
        "failed": 1,
        "partial": 0,
    }
    # with the BSS's own customers and billing by default; none without the business side
    assert simulate(parse_scenario(example_raw, "metro.yaml"))["orders"]["completed"] == 1
    assert simulate(_without_business(example_raw))["orders"] is None


def test_the_store_holds_orders_items_and_every_transition(example_raw, tmp_path, store_url):
    result = _reference_run(example_raw, tmp_path / "run", store_url)
    run_id = json.loads((result.out_dir / "run.json").read_text())["run_id"]
    where = {"run": run_id}
    assert query(
        store_url,
        "SELECT order_id, state, reason, account, product, tower, quantity, completed, failed,"
        " time_s FROM product_orders WHERE run_id = :run ORDER BY order_id",
        where,
    ) == [
        ("ev1", "completed", "", "acct-ev1", "mobile-l", "t-s1", 150, 150, 0, 10 * HOUR),
        ("ev6", "failed", REASON_N3, "acct-ev6", "mobile-s", "t-n3", 20, 0, 20, 40.5 * HOUR),
    ]
    assert query(
        store_url,
        "SELECT order_id, state, previous, time_s FROM product_order_transitions"
        " WHERE run_id = :run ORDER BY seq",
        where,
    ) == [
        ("ev1", "acknowledged", None, 10 * HOUR),
        ("ev1", "inProgress", "acknowledged", 10 * HOUR),
        ("ev1", "completed", "inProgress", 10 * HOUR),
        ("ev6", "acknowledged", None, 40.5 * HOUR),
        ("ev6", "inProgress", "acknowledged", 40.5 * HOUR),
        ("ev6", "failed", "inProgress", 40.5 * HOUR),
    ]
    assert query(
        store_url,
        "SELECT order_id, state, count(*), count(DISTINCT subscriber) FROM product_order_items"
        " WHERE run_id = :run GROUP BY order_id, state ORDER BY order_id",
        where,
    ) == [("ev1", "completed", 150, 150), ("ev6", "failed", 20, 1)]  # -1 for every failed one
    # ev1: three steps done per item; ev6: one refused reservation per item, nothing to undo
    assert query(
        store_url,
        "SELECT order_id, action, outcome, count(*) FROM product_order_steps"
        " WHERE run_id = :run GROUP BY order_id, action, outcome ORDER BY order_id",
        where,
    ) == [("ev1", "do", "done", 450), ("ev6", "do", "refused", 20)]
    # the 150 admitted subscribers are in the subscribers table; nothing was released
    assert query(
        store_url, "SELECT count(*) FROM subscribers WHERE run_id = :run AND since_s > 0", where
    ) == [(150,)]
    assert query(
        store_url, "SELECT count(*) FROM subscriber_releases WHERE run_id = :run", where
    ) == [(0,)]


def test_orders_command_shows_states_and_transitions(example_raw, tmp_path, capsys):
    out = tmp_path / "run"
    _reference_run(example_raw, out)
    assert main(["orders", str(out), "--json"]) == 0
    orders = json.loads(capsys.readouterr().out)
    assert [(o["order_id"], o["state"], o["reason"]) for o in orders] == [
        ("ev1", "completed", ""),
        ("ev6", "failed", REASON_N3),
    ]
    assert [t["state"] for t in orders[1]["transitions"]] == [
        "acknowledged",
        "inProgress",
        "failed",
    ]
    assert {t["time_s"] for t in orders[1]["transitions"]} == {40.5 * HOUR}
    assert len(orders[0]["items"]) == 150 and orders[1]["compensations"] == []
    assert main(["orders", str(out)]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0] == f"{out}: 2 product orders"
    assert text[1].split()[:2] == ["ev1", "completed"]
    assert text[5].split()[:2] == ["ev6", "failed"]  # after ev1 and its 3 transitions
    assert text[-1].split()[1:] == ["failed", *REASON_N3.split()]


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_orders_command_refuses_what_is_not_a_run_in_one_line(tmp_path, capsys, json_flag):
    assert main(["orders", str(tmp_path / "nowhere"), *json_flag]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "not a run directory" in captured.err


def test_orders_command_on_a_run_without_ordering_lists_none(example_raw, tmp_path, capsys):
    out = tmp_path / "run"
    run_scenario(_without_business(example_raw), out)
    assert main(["orders", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_orders_command_refuses_a_store_without_the_orders_tables(example_raw, tmp_path, capsys):
    import sqlite3

    out = tmp_path / "run"
    run_scenario(parse_scenario(example_raw, "metro.yaml"), out)
    with sqlite3.connect(out / "twin.sqlite") as connection:  # as a run made before ordering
        connection.execute("DROP TABLE product_order_steps")
    assert main(["orders", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"{out}: cannot read its orders (OperationalError): a run made before ordering was "
        "stored?\n"
    )


def test_a_failed_orders_released_subscribers_hold_no_place_in_the_stored_run(
    example_raw, tmp_path, capsys
):
    """Billing refuses every activation: ev1's 150 subscribers are admitted on t-s1, then
    released; the stored run's impact of t-s1 counts the subscribers it had without them."""
    from tests.bss_fakes import FakeCharging

    def refuse(_key: Any) -> str:
        return "refuse"

    scenario = parse_scenario(example_raw, "metro.yaml")
    with_order = run_scenario(
        scenario, tmp_path / "a", participants=(FakeProfiles(), FakeCharging(fault=refuse))
    )
    without = run_scenario(_without_business(example_raw), tmp_path / "b")
    run_id = json.loads((with_order.out_dir / "run.json").read_text())["run_id"]
    url = f"sqlite:///{with_order.out_dir / 'twin.sqlite'}"
    assert query(
        url,
        "SELECT count(*), min(time_s) FROM subscriber_releases WHERE run_id = :r",
        {"r": run_id},
    ) == [(150, 10 * HOUR)]
    impacts = []
    for out in (with_order.out_dir, without.out_dir):
        assert main(["impact", str(out), "t-s1", "--json"]) == 0
        impacts.append(json.loads(capsys.readouterr().out)["subscribers"])
    assert impacts[0] == impacts[1] > 0
