"""The bulk writer's rows per second of its own time, on a national day's batches.

    python bench/bench_engine.py store-writer [--repeat N] [--base DIR] [--scenario FILE]
                                              [--synthetic [--rated]]
                                              [--postgres URL] [--postgres-share F]

A national day (scenarios/national.yaml) publishes 96 cell PM batches of 15,000 cells, 96 link
PM batches of 5,206 links and a usage batch of its subscribers with usage (about a million).
By default the day is simulated once and its batches recorded (``--scenario``); with
``--synthetic`` they are made with random counters of the same shapes and types (``--rated``
adds the BSS's rating of every usage record, as a billing run has). The batches are handed to
the store's ``write`` one by one, timing only the bulk records and the end (writing the last
rows, closing, committing): the run and inventory records before are not counted.

Each back end is measured in a process of its own, interleaved (old, new, old, new ...):

- ``old SQL (SQLite run dir)``: the store as it was (``--base``, default /work/main): every
  row in twin.sqlite by ``executemany``, run id and cell id as text on every row;
- ``new Parquet (run dir)``: twin.bulk.ParquetSeries, what ``telcotwin run`` writes now;
- ``old SQL (SQLite --store)`` and ``new SQL (SQLite --store)``: a SQLite URL given with
  ``--store`` (journal and indexes kept), the new one by twin.bulk.SqlSeries, integer keys;
- with ``--postgres URL``: ``old PostgreSQL`` (executemany) and ``new PostgreSQL`` (binary
  COPY) on ``--postgres-share`` of the batches (the old path is too slow for all of them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CELLS, LINKS, SUBSCRIBERS, INTERVALS, PM_S = 15_000, 5_206, 1_000_000, 96, 900.0


def _batches(share: float, rated: bool) -> tuple[list[Any], list[Any]]:
    """The records before the bulk ones (run, inventory) and the bulk ones, in feed order."""
    import numpy as np

    from twin.bss.records import RatedUsage
    from twin.feed import CellPmBatch, Inventory, LinkPmBatch, RunStarted, UsageBatch

    rng = np.random.default_rng(2027)
    intervals = max(1, round(INTERVALS * share))
    users = max(1, round(SUBSCRIBERS * share))
    before = [
        RunStarted(
            "national", 2027, datetime(2027, 9, 1, tzinfo=UTC), 86400.0, PM_S, 86400.0, "EUR"
        ),
        Inventory(
            node_ids=("core",),
            node_roles=("core",),
            node_lat=np.zeros(1),
            node_lon=np.zeros(1),
            link_ids=tuple(f"l-{i}" for i in range(LINKS)),
            link_a=("core",) * LINKS,
            link_b=("core",) * LINKS,
            link_capacity_mbps=np.full(LINKS, 1000.0),
            link_latency_ms=np.ones(LINKS),
            cell_ids=tuple(f"t-{i // 3}/{i % 3 + 1}" for i in range(CELLS)),
            cell_tower=tuple(f"t-{i // 3}" for i in range(CELLS)),
            cell_voice_channels=np.full(CELLS, 30),
            cell_data_mbps=np.full(CELLS, 150.0),
            subscriber_cell=np.zeros(0, dtype=np.int64),
            product_names=("",),
            subscriber_product=np.zeros(0, dtype=np.int64),
        ),
    ]
    bulk: list[Any] = []

    def counts(n: int) -> Any:
        return rng.poisson(20.0, n).astype(np.int64)

    for i in range(intervals):
        start, end = i * PM_S, (i + 1) * PM_S
        bulk.append(
            CellPmBatch(
                start,
                end,
                *(counts(CELLS) for _ in range(5)),
                rng.random(CELLS) * 20,
                rng.random(CELLS) * 20,
                counts(CELLS),
                *(rng.random(CELLS) * 1e4 for _ in range(2)),
                rng.random(CELLS),
                np.full(CELLS, PM_S),
            )
        )
        bulk.append(
            LinkPmBatch(
                start,
                end,
                *(rng.random(LINKS) * 1e5 for _ in range(2)),
                rng.random(LINKS),
                np.full(LINKS, PM_S),
            )
        )
    subscriber = np.arange(users, dtype=np.int64)
    if rated:
        zeros = np.zeros(users, dtype=np.int64)
        bulk.append(
            RatedUsage(
                0.0,
                86400.0,
                0,
                subscriber,
                np.array([f"SUB-{n + 1}" for n in subscriber], object),
                subscriber,
                counts(users),
                zeros,
                counts(users) * 10**7,
                counts(users),
                zeros,
                counts(users) * 10**6,
                0,
                0,
            )
        )
    bulk.append(
        UsageBatch(0.0, 86400.0, subscriber, rng.random(users) * 600, rng.random(users) * 200)
    )
    return before, bulk


def record(scenario: str, path: Path) -> None:
    """Run ``scenario`` once without a store and pickle the records the store would get: the
    run, the inventory (less its subscribers: not the bulk writer's work) and the bulk ones."""
    import dataclasses
    import pickle

    import numpy as np

    from sim.scenario import load_scenario
    from twin.bss.records import RatedUsage
    from twin.feed import CellPmBatch, Inventory, LinkPmBatch, RunStarted, UsageBatch
    from twin.run import _wire

    loaded = load_scenario(scenario, [])
    wiring = _wire(loaded, Path(scenario).parent, None, Path(scenario).name, None)
    before: list[Any] = []
    bulk: list[Any] = []
    for kind in (RunStarted, Inventory):
        wiring.bus.subscribe(kind, before.append)
    for kind in (CellPmBatch, LinkPmBatch, UsageBatch, RatedUsage):
        wiring.bus.subscribe(kind, bulk.append)
    wiring.simulation.run()
    empty = np.zeros(0, dtype=np.int64)
    before = [
        dataclasses.replace(r, subscriber_cell=empty, subscriber_product=empty)
        if isinstance(r, Inventory)
        else r
        for r in before
    ]
    with path.open("wb") as file:
        pickle.dump((before, bulk), file, protocol=pickle.HIGHEST_PROTOCOL)


def _share(bulk: list[Any], share: float) -> list[Any]:
    """The first ``share`` of the PM intervals and of each usage batch's rows (unrated)."""
    import dataclasses

    from twin.bss.records import RatedUsage
    from twin.feed import CellPmBatch, UsageBatch

    intervals = sum(isinstance(r, CellPmBatch) for r in bulk)
    keep = max(1, round(intervals * share))
    out: list[Any] = []
    seen = 0
    for r in bulk:
        seen += isinstance(r, CellPmBatch)
        if isinstance(r, UsageBatch):
            n = max(1, round(len(r.subscriber) * share))
            fields = ("subscriber", "voice_seconds", "data_mb")
            out.append(dataclasses.replace(r, **{f: getattr(r, f)[:n] for f in fields}))
        elif not isinstance(r, RatedUsage) and seen <= keep:
            out.append(r)
    return out


def _rows(bulk: list[Any]) -> int:
    from twin.feed import CellPmBatch, LinkPmBatch, UsageBatch

    total = 0
    for r in bulk:
        if isinstance(r, CellPmBatch):
            total += len(r.voice_offered)
        elif isinstance(r, LinkPmBatch):
            total += len(r.demand_mb)
        elif isinstance(r, UsageBatch):
            total += len(r.subscriber)
    return total


def measure(backend: str, url: str | None, share: float, rated: bool, recorded: str) -> dict:
    """Run in the process of the code measured (old or new): seconds of the bulk writes."""
    import pickle

    from twin.store import Store, open_engine

    if recorded:
        with open(recorded, "rb") as file:
            before, bulk = pickle.load(file)
        if share < 1.0:
            bulk = _share(bulk, share)
    else:
        before, bulk = _batches(share, rated)
    with tempfile.TemporaryDirectory(prefix="store-writer-") as scratch:
        run_dir = Path(scratch)
        series: Any = None
        if backend == "parquet":
            from twin.bulk import ParquetSeries

            engine = open_engine(f"sqlite:///{run_dir / 'twin.sqlite'}", scratch=True, series=False)
            series = ParquetSeries(run_dir)
        elif url is None:  # a SQLite file: the old run directory's, or a --store
            engine = open_engine(f"sqlite:///{run_dir / 'store.sqlite'}", scratch=backend == "old")
        else:
            engine = open_engine(url)
        run_id = uuid.uuid4().hex
        with engine.connect() as connection:
            transaction = connection.begin()
            extra = {} if series is None else {"series": series}
            store = Store(connection, run_id, directory=scratch, label="bench", **extra)
            for record in before:
                store.write(record)
            started = time.perf_counter()
            for record in bulk:
                store.write(record)
            store.finish()
            if series is not None:
                series.close()
            transaction.commit()
            seconds = time.perf_counter() - started
        if url is not None:  # leave the shared database as it was
            from twin.store import _delete_runs_of

            with engine.begin() as cleanup:
                _delete_runs_of(cleanup, scratch)
        engine.dispose()
        size = sum(p.stat().st_size for p in run_dir.rglob("*") if p.is_file())
    return {"rows": _rows(bulk), "seconds": seconds, "bytes": size}


def _in_process(
    code: Path, backend: str, url: str | None, share: float, rated: bool, recorded: str
) -> dict:
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); sys.path.insert(1, sys.argv[2]); "
        "from store_writer import measure; "
        "print(json.dumps(measure(sys.argv[3], sys.argv[4] or None, float(sys.argv[5]), "
        "sys.argv[6] == '1', sys.argv[7])))"
    )
    arguments = [str(code), str(ROOT / "bench"), backend, url or "", str(share)]
    out = subprocess.run(
        [sys.executable, "-c", script, *arguments, "1" if rated else "0", recorded],
        cwd=code,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(code)},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


_SCHEMAS = {"old": "bench_store_writer_old", "new": "bench_store_writer_new"}


def _schema(url: str, which: str) -> str:
    """``url`` with a schema of the bench's own first on the search path (created here)."""
    from sqlalchemy import create_engine, make_url, text

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {_SCHEMAS[which]}"))
    engine.dispose()
    options = {"options": f"-csearch_path={_SCHEMAS[which]}"}
    return make_url(url).update_query_dict(options).render_as_string(hide_password=False)


def _drop_schemas(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as connection:
        for schema in _SCHEMAS.values():
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    engine.dispose()


def bench_store_writer(
    base: str,
    repeat: int,
    rated: bool,
    postgres: str | None,
    postgres_share: float,
    scenario: str | None,
) -> None:
    """Print each back end's rows/s (best of ``repeat``, interleaved) and its ratio to old."""
    old = Path(base).resolve()
    cases = [
        ("old SQL (SQLite run dir)", old, "old", None, 1.0),
        ("new Parquet (run dir)", ROOT, "parquet", None, 1.0),
        ("old SQL (SQLite --store)", old, "old-store", None, 1.0),
        ("new SQL (SQLite --store)", ROOT, "sql", None, 1.0),
    ]
    with tempfile.TemporaryDirectory(prefix="store-writer-records-") as scratch:
        recorded = ""
        if scenario:
            recorded = str(Path(scratch) / "records.pickle")
            started = time.perf_counter()
            record(scenario, Path(recorded))
            print(f"{scenario}: simulated and recorded in {time.perf_counter() - started:.1f} s")
        if postgres:  # a schema each: the old and new tables have the same names
            cases += [
                ("old PostgreSQL (executemany)", old, "old", _schema(postgres, "old"), 0.0),
                ("new PostgreSQL (binary COPY)", ROOT, "sql", _schema(postgres, "new"), 0.0),
            ]
        results: dict[str, list[dict[str, Any]]] = {name: [] for name, *_ in cases}
        try:
            for _ in range(repeat):  # interleaved: each round runs every case once
                for name, code, backend, url, share in cases:
                    share = share or postgres_share
                    run = _in_process(code, backend, url, share, rated, recorded)
                    results[name].append(run)
        finally:
            if postgres:
                _drop_schemas(postgres)
    load = os.getloadavg()
    kind = f"recorded from {scenario}" if scenario else "synthetic, national shapes"
    kind += ", rated usage" if rated and not scenario else ""
    print(
        f"store writer, a day's bulk batches ({kind}), best of {repeat}, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(f"{'back end':>30} {'rows':>10} {'s':>7} {'rows/s':>11} {'MB':>7} {'x old':>7}")
    old_rate: dict[str, float] = {}
    for name, _code, backend, url, _share in cases:
        best = min(results[name], key=lambda r: r["seconds"])
        rate = best["rows"] / best["seconds"]
        # each new back end against the old one it replaces
        group = "postgres" if url else "store" if backend in ("old-store", "sql") else "run dir"
        if backend.startswith("old"):
            old_rate[group] = rate
        ratio = rate / old_rate.get(group, rate)
        print(
            f"{name:>30} {best['rows']:>10,} {best['seconds']:>7.2f} {rate:>11,.0f} "
            f"{best['bytes'] / 1e6:>7.1f} {ratio:>7.1f}"
        )
