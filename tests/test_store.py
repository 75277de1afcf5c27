"""The twin's store: what lands in the tables agrees with the summary and with the feed."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from sim.scenario import parse_scenario
from tests.conftest import EXAMPLE as EXAMPLE_PATH
from tests.conftest import query, single_cell
from twin.bss.records import account_id, invoice_id
from twin.run import run_scenario
from twin.store import account_texts


@pytest.fixture(scope="module")
def metro_run(tmp_path_factory):
    import yaml

    from tests.conftest import EXAMPLE

    raw = yaml.safe_load(EXAMPLE.read_text())
    out = tmp_path_factory.mktemp("runs") / "metro"
    run_scenario(parse_scenario(raw, "metro.yaml"), out)
    return out


def _one(db, sql):
    return db.execute(sql).fetchone()


def _series(run_dir, table):
    """A bulk table of the run through the public query API (twin.timeseries)."""
    from twin.notebook import open_run

    with open_run(run_dir) as run:
        return run.table(table)


def test_cell_pm_rows_add_up_to_the_summary_totals(metro_run):
    summary = json.loads((metro_run / "summary.json").read_text())
    pm = _series(metro_run, "cell_pm")
    offered, carried, blocked, dropped = (
        int(pm[c].sum())
        for c in ("voice_offered", "voice_carried", "voice_blocked", "voice_dropped")
    )
    voice = summary["voice"]
    assert (offered, carried, blocked, dropped) == (
        voice["offered"],
        voice["carried"],
        voice["blocked"],
        voice["dropped"],
    )
    # 22 cells x 192 fifteen-minute intervals
    assert len(pm) == 22 * 192
    # the run directory holds them as Parquet, beside the twin's state in twin.sqlite
    # (and the per-subscriber tables, subscribers and invoice_charges: docs/store.md)
    assert sorted(p.name for p in (metro_run / "timeseries").iterdir()) == [
        "cell_pm.parquet",
        "invoice_charges.parquet",
        "link_pm.parquet",
        "subscribers.parquet",
        "usage.parquet",
    ]
    tables = {
        r[0]
        for r in sqlite3.connect(metro_run / "twin.sqlite").execute(
            "select name from sqlite_master where type = 'table'"
        )
    }
    assert "cells" in tables and not tables & {"cell_pm", "link_pm", "usage"}


def test_usage_seconds_equal_carried_erlang_seconds(metro_run):
    usage, pm = _series(metro_run, "usage"), _series(metro_run, "cell_pm")
    usage_s = usage["voice_seconds"].sum()
    carried_es = (pm["carried_erlangs"] * (pm["end_s"] - pm["start_s"])).sum()
    assert usage_s == pytest.approx(carried_es, rel=1e-9)
    # two daily usage periods
    periods = usage[["start_s", "end_s"]].drop_duplicates()
    assert list(periods.itertuples(index=False, name=None)) == [
        (0.0, 86400.0),
        (86400.0, 172800.0),
    ]
    # every row rated by the BSS (the scenario has a catalog; docs/bss.md)
    assert set(usage["status"]) == {"rated"}


def test_outages_and_business_events_are_stored(metro_run):
    db = sqlite3.connect(metro_run / "twin.sqlite")
    injected = db.execute(
        "select resource, operational_state, time_s from resource_states "
        "where cause = 'injected' order by time_s, operational_state"
    ).fetchall()
    assert injected[:2] == [
        ("l-agg-n-core", "disabled", 68400.0),
        ("l-agg-n-core", "enabled", 77400.0),
    ]
    events = db.execute(
        "select action, product, count, tower, monthly_fee from business_events order by time_s"
    ).fetchall()
    assert events == [
        ("price_change", "mobile-s", 0, "", "17.00"),
        ("order", "mobile-l", 150, "t-s1", None),
        ("order", "mobile-s", 20, "t-n3", None),
    ]


def test_inventory_and_subscribers_are_stored(metro_run):
    db = sqlite3.connect(metro_run / "twin.sqlite")
    assert _one(db, "select count(*) from nodes") == (11,)
    assert _one(db, "select count(*) from links") == (11,)
    assert _one(db, "select count(*) from cells") == (22,)
    # 6,000 at the start, and the 150 the order at 10h activated on t-s1 (docs/ordering.md);
    # a run directory holds them as Parquet (docs/store.md), read through the query API
    held = _series(metro_run, "subscribers")
    assert len(held) == 6150
    later = held[held["since_s"] > 0]
    assert (len(later), later["since_s"].min()) == (150, 36000.0)
    assert set(later["cell_id"].str.split("/").str[0]) == {"t-s1"}
    shares = held[held["since_s"] == 0].groupby("product").size().to_dict()
    # products: {mobile-s: 0.7, mobile-l: 0.3} of 6000
    assert shares["mobile-s"] == pytest.approx(4200, abs=120)
    assert shares["mobile-l"] == pytest.approx(1800, abs=120)


def test_a_failed_run_leaves_no_rows_in_an_external_database(
    tmp_path, example_raw, monkeypatch, store_url
):
    from sim.engine import Simulation

    def explode(self):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Simulation, "_close_usage", explode)
    with pytest.raises(RuntimeError):
        run_scenario(
            parse_scenario(example_raw, "metro.yaml"), tmp_path / "out", store_url=store_url
        )
    # the tables exist (made before the run), empty: the run's transaction was rolled back
    for table in ("runs", "cell_pm", "usage", "resource_states", "subscribers", "alarms"):
        assert query(store_url, f"select count(*) from {table}") == [(0,)], table
    assert not (tmp_path / "out").exists()
    assert {p.name for p in tmp_path.iterdir()} <= {"shared.sqlite"}


def test_a_store_url_that_cannot_be_opened_is_bad_input(tmp_path, capsys):
    from twin.cli import main

    status = main(
        ["run", str(EXAMPLE_PATH), "--out", str(tmp_path / "out"), "--quiet", "--store", "notaurl"]
    )
    assert status == 2
    assert capsys.readouterr().err == (
        "notaurl: --store: cannot open it: Could not parse SQLAlchemy URL from given URL string\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_shared_store_keeps_one_copy_of_a_run_replaced_with_force(tmp_path, capsys, store_url):
    from twin.cli import main

    url = store_url
    args = ["run", str(EXAMPLE_PATH), "--out", str(tmp_path / "metro"), "--quiet", "--store", url]
    assert main(args) == 0
    assert main(args) == 2  # the run directory exists, and so does the run in the store
    capsys.readouterr()
    assert main([*args, "--force", "--seed", "5"]) == 0
    assert query(url, "select label, seed from runs") == [("metro", "5")]
    assert query(url, "select count(*) from cell_pm") == [(22 * 192,)]
    assert sorted(p.name for p in (tmp_path / "metro").iterdir()) == [
        "run.json",
        "scenario.json",
        "summary.json",
        "truth.json",
    ]
    # what the summary counts, the store holds (the store being SQLite or PostgreSQL)
    summary = json.loads((tmp_path / "metro" / "summary.json").read_text())
    voice = summary["voice"]
    assert query(
        url,
        "select sum(voice_offered), sum(voice_carried), sum(voice_blocked), sum(voice_dropped) "
        "from cell_pm",
    ) == [(voice["offered"], voice["carried"], voice["blocked"], voice["dropped"])]
    counts = [
        query(url, f"select count(*) from {table}")[0][0]
        for table in ("nodes", "links", "cells", "subscribers")
    ]
    assert counts[:3] == [11, 11, 22] and counts[3] >= 6000
    (usage_s,) = query(url, "select sum(voice_seconds) from usage")[0]
    (carried_es,) = query(url, "select sum(carried_erlangs * (end_s - start_s)) from cell_pm")[0]
    assert usage_s == pytest.approx(carried_es, rel=1e-9)


# --- a store shared by runs of several directories ----------------------------------------------


# bulk rows carry the run's integer key (runs.run_key), not its id's text
_PM_ROWS_PER_RUN = (
    "select runs.run_id, count(*) from cell_pm join runs on runs.run_key = cell_pm.run_key "
    "group by runs.run_id"
)


def _small_run(out, url, *, seed=1, force=False):
    # one cell for two hours: two hourly PM rows per run
    return run_scenario(single_cell(duration="2h", seed=seed), out, store_url=url, force=force)


def test_two_directories_of_the_same_name_keep_their_own_runs_in_a_shared_store(
    tmp_path, store_url
):
    url = store_url
    runs = tmp_path.resolve()  # the store records the path with symbolic links resolved
    team_a, team_b = runs / "teamA" / "baseline", runs / "teamB" / "baseline"
    _small_run(team_a, url)
    _small_run(team_b, url)
    rows = query(url, "select run_id, label, directory from runs order by directory")
    assert [(label, directory) for _, label, directory in rows] == [
        ("baseline", str(team_a)),
        ("baseline", str(team_b)),
    ]
    run_a, run_b = (run_id for run_id, _, _ in rows)
    assert run_a != run_b
    assert dict(query(url, _PM_ROWS_PER_RUN)) == {run_a: 2, run_b: 2}


def test_force_replaces_only_the_run_of_the_same_directory(tmp_path, store_url):
    url = store_url
    runs = tmp_path.resolve()  # the store records the path with symbolic links resolved
    team_a, team_b = runs / "teamA" / "baseline", runs / "teamB" / "baseline"
    _small_run(team_a, url, seed=1)
    _small_run(team_b, url, seed=1)
    [(kept,)] = query(url, "select run_id from runs where directory = :d", {"d": str(team_a)})
    _small_run(team_b, url, seed=5, force=True)
    runs_now = query(url, "select run_id, directory, seed from runs order by directory")
    assert runs_now[0] == (kept, str(team_a), "1")
    assert runs_now[1][1:] == (str(team_b), "5")
    # the replaced run left no rows behind: PM rows belong to the two runs listed, two each
    assert dict(query(url, _PM_ROWS_PER_RUN)) == {kept: 2, runs_now[1][0]: 2}
    # (the join above drops rows of a run no longer listed: count the keys without it)
    keys = dict(query(url, "select run_id, run_key from runs"))
    by_key = dict(query(url, "select run_key, count(*) from cell_pm group by run_key"))
    assert by_key == {keys[kept]: 2, keys[runs_now[1][0]]: 2}


def test_run_json_holds_the_run_id_of_the_runs_rows_in_the_store(tmp_path, store_url):
    url = store_url
    out = tmp_path / "baseline"
    _small_run(out, url)
    run_id = json.loads((out / "run.json").read_text())["run_id"]
    assert query(url, "select run_id from runs") == [(run_id,)]
    assert len(run_id) == 32 and int(run_id, 16) >= 0  # a uuid4 in hex


def test_account_texts_made_by_arrow_equal_the_ids_made_one_by_one():
    # The store writes account and invoice ids made by Arrow from the account numbers; they
    # must be the texts twin.bss.records gives for each (ACC-<n+1>, or the saga's name), and
    # null where there is no account (-1).
    ordinals = np.array([0, 4, -1, 7, 4, 123456])
    labels = {4: "Acme Ltd", 9: "unused"}
    expected = [None if a < 0 else account_id(a, labels) for a in ordinals.tolist()]
    assert expected[:2] == ["ACC-1", "Acme Ltd"]
    assert account_texts(ordinals, labels).to_pylist() == expected
    invoices = account_texts(ordinals, labels, prefix="INV-3-").to_pylist()
    assert invoices == [None if a < 0 else invoice_id(2, account_id(a, labels)) for a in ordinals]
    assert account_texts(np.zeros(0, dtype=np.int64), {}).to_pylist() == []


def test_sqlite_invoice_rows_made_from_numbers_equal_the_general_ones(tmp_path):
    # On SQLite the store binds each invoice's account number and total and lets SQLite make
    # the ids' texts (Store._sqlite_invoices); the accounts the saga named go the general way,
    # in their place. The rows, in order, must be those the general insert writes.
    from types import SimpleNamespace

    from sqlalchemy import text

    from twin.bss.records import InvoiceBatch
    from twin.store import Store, open_engine

    labels = {3: "Acme Ltd", 5: "ACC-77"}
    account = np.array([0, 1, 3, 4, 5, 9, 12345])
    total = np.array([515, 0, 2231, 7, 99, 1, 10**12])
    batch = SimpleNamespace(
        cycle=1, invoice_account=account, invoice_total=total, account_labels=labels
    )
    batch.account_id = lambda ordinal: InvoiceBatch.account_id(batch, ordinal)
    batch.invoice_id = lambda index: InvoiceBatch.invoice_id(batch, index)
    expected = [
        ("run-1", f"INV-2-{a}", a, 1, int(t))
        for a, t in zip([account_id(int(x), labels) for x in account], total, strict=True)
    ]
    assert expected[2][1:3] == ("INV-2-Acme Ltd", "Acme Ltd")
    engine = open_engine(f"sqlite:///{tmp_path / 'store.sqlite'}")
    with engine.connect() as connection:
        store = Store(connection, "run-1", directory=str(tmp_path), label="x")
        store._sqlite_invoices(batch)  # type: ignore[arg-type]
        rows = connection.execute(
            text("SELECT run_id, invoice_id, account_id, cycle, total_minor FROM invoices")
        ).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == expected
