"""The bulk writer's rows per second of its own time, on a national day's batches.

    python bench/bench_engine.py store-writer [--repeat N] [--base DIR] [--rated]
                                              [--postgres URL] [--postgres-share F]

A national day (scenarios/national.yaml) publishes 96 cell PM batches of 15,000 cells, 96 link
PM batches of 5,206 links and a usage batch of its subscribers with usage (about a million;
``--rated`` adds the BSS's rating of every record, as a billing run has). Those batches are
made here with random counters of the same types and handed to the store's ``write`` one by
one, timing only the bulk records and the end (writing the last rows, closing, committing):
the inventory and subscribers before are not counted.

Each back end is measured in a process of its own, interleaved (old, new, old, new ...):

- ``old SQL (SQLite run dir)``: the store as it was (``--base``, default /work/main): every
  row in twin.sqlite by ``executemany``, run id and cell id as text on every row;
- ``new Parquet (run dir)``: twin.bulk.ParquetSeries, what ``telcotwin run`` writes now;
- ``new SQL (SQLite --store)``: twin.bulk.SqlSeries on a SQLite URL, integer keys;
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


def _rows(bulk: list[Any]) -> int:
    from twin.feed import CellPmBatch, LinkPmBatch, UsageBatch

    return sum(
        CELLS
        if isinstance(r, CellPmBatch)
        else LINKS
        if isinstance(r, LinkPmBatch)
        else len(r.subscriber)
        if isinstance(r, UsageBatch)
        else 0
        for r in bulk
    )


def measure(backend: str, url: str | None, share: float, rated: bool) -> dict[str, Any]:
    """Run in the process of the code measured (old or new): seconds of the bulk writes."""
    from twin.store import Store, open_engine

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
                with engine.begin() as cleanup:
                    from twin.store import _delete_runs_of

                    _delete_runs_of(cleanup, scratch)
        engine.dispose()
        size = sum(p.stat().st_size for p in run_dir.rglob("*") if p.is_file())
    return {"rows": _rows(bulk), "seconds": seconds, "bytes": size}


def _in_process(code: Path, backend: str, url: str | None, share: float, rated: bool) -> dict:
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); sys.path.insert(1, sys.argv[2]); "
        "from store_writer import measure; "
        "print(json.dumps(measure(sys.argv[3], sys.argv[4] or None, float(sys.argv[5]), "
        "sys.argv[6] == '1')))"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(code),
            str(ROOT / "bench"),
            backend,
            url or "",
            str(share),
            "1" if rated else "0",
        ],
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
    base: str, repeat: int, rated: bool, postgres: str | None, postgres_share: float
) -> None:
    old = Path(base).resolve()
    cases = [
        ("old SQL (SQLite run dir)", old, "old", None, 1.0),
        ("new Parquet (run dir)", ROOT, "parquet", None, 1.0),
        ("new SQL (SQLite --store)", ROOT, "sql", None, 1.0),
    ]
    if postgres:  # a schema each: the old and new tables have the same names
        cases += [
            ("old PostgreSQL (executemany)", old, "old", _schema(postgres, "old"), postgres_share),
            ("new PostgreSQL (binary COPY)", ROOT, "sql", _schema(postgres, "new"), postgres_share),
        ]
    results: dict[str, list[dict[str, Any]]] = {name: [] for name, *_ in cases}
    try:
        for _ in range(repeat):  # interleaved: each round runs every case once
            for name, code, backend, url, share in cases:
                results[name].append(_in_process(code, backend, url, share, rated))
    finally:
        if postgres:
            _drop_schemas(postgres)
    load = os.getloadavg()
    kind = "rated usage" if rated else "usage received (no BSS)"
    print(
        f"store writer, national day's bulk batches ({kind}), best of {repeat}, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(f"{'back end':>30} {'rows':>10} {'s':>7} {'rows/s':>11} {'MB':>7} {'x old':>7}")
    old_rate: dict[float, float] = {}
    for name, _code, backend, _url, share in cases:
        best = min(results[name], key=lambda r: r["seconds"])
        rate = best["rows"] / best["seconds"]
        if backend == "old":
            old_rate[share] = rate
        ratio = rate / old_rate.get(share, rate)
        print(
            f"{name:>30} {best['rows']:>10,} {best['seconds']:>7.2f} {rate:>11,.0f} "
            f"{best['bytes'] / 1e6:>7.1f} {ratio:>7.1f}"
        )
