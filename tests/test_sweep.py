"""Sweeps on Dask distributed: the same numbers as running each replication alone, failures
that stop nothing, resuming, intervals that shrink like 1/sqrt(N), and a cluster started by
`dask scheduler` and `dask worker`.

The scenario is one tower with one cell of 8 voice channels and 300 subscribers making one call
an hour of 90 s mean over 4 hours on a flat profile: 7.5 E offered, an Erlang loss system
(blocking about 0.2), 1,200 call attempts expected per run. A run takes a few hundredths of a
second, so the cluster's start (once per module, two workers of one thread each) is most of the
time.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from sim.scenario import ScenarioError, apply_overrides, parse_scenario
from twin.cli import main
from twin.run import simulate
from twin.sweep import (
    ParameterSet,
    ReplicationResult,
    flatten_metrics,
    interval,
    parameter_sets,
    replication_seed,
    run_replication,
    run_sweep,
    statistics,
    sweep,
)

distributed = pytest.importorskip("distributed")

CALLS = "traffic.voice.busy_hour_calls"


def erlang_cell(duration: str = "4h") -> dict[str, Any]:
    """One tower, one cell of 8 channels, 300 subscribers x 1 call/h x 90 s = 7.5 E, flat."""
    return {
        "name": "erlang-cell",
        "seed": 11,
        "start": "2027-01-01T00:00:00Z",
        "duration": duration,
        "pm_interval": "15m",
        "network": {
            "defaults": {"cells": 1, "voice_channels": 8, "data_mbps": 100},
            "nodes": [{"id": "core", "role": "core"}, {"id": "t1", "role": "tower"}],
            "links": [{"id": "l1", "a": "t1", "b": "core", "capacity_mbps": 100_000}],
        },
        "subscribers": {"count": 300},
        "traffic": {
            "daily_profile": [1.0] * 24,
            "voice": {"busy_hour_calls": 1.0, "mean_duration": "90s"},
            "data": {"busy_hour_sessions": 0.0, "mean_volume_mb": 10.0},
        },
    }


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """One LocalCluster for the module: two worker processes of one thread (a 2-core machine)."""
    import logging

    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # no fixed port: other clusters may run here
        silence_logs=logging.ERROR,
    )
    dask_client = distributed.Client(cluster, set_as_default=False)
    yield dask_client
    dask_client.close()
    cluster.close()


def fail_replication_1(scenario: Any, seed: int, **options: Any) -> ReplicationResult:
    """A replication task that raises in replication 1 of every set, and runs the others."""
    if seed == replication_seed(scenario.seed, 1):
        raise RuntimeError("injected failure in replication 1")
    return run_replication(scenario, seed, **options)


def slow_from_replication_2(scenario: Any, seed: int, **options: Any) -> ReplicationResult:
    """A replication task that takes a second longer from replication 2 on, so that a sweep can
    be interrupted while replications 0 and 1 are finished and the others are not."""
    if seed in {replication_seed(scenario.seed, r) for r in range(2, 10)}:
        time.sleep(1.0)
    return run_replication(scenario, seed, **options)


def test_replication_i_is_child_i_of_the_scenario_seed_sequence() -> None:
    # SeedSequence(seed).spawn(n)[i] for any n > i: a sweep's seeds do not depend on its size
    for replication in (0, 1, 5):
        child = np.random.SeedSequence(11).spawn(8)[replication]
        expected = int(child.generate_state(1, np.uint64)[0]) >> 1
        assert replication_seed(11, replication) == expected
    seeds = {replication_seed(11, i) for i in range(100)}
    assert len(seeds) == 100 and max(seeds) < 2**63  # distinct, and a valid --seed


def test_a_sweep_gives_the_same_metrics_as_running_each_replication_alone(
    client: Any, tmp_path: Path
) -> None:
    raw = erlang_cell()
    frame = sweep(raw, 3, set={CALLS: [1.0, 1.5, 1.0]}, client=client, out=tmp_path / "out")
    assert sorted(set(frame["set"])) == [0, 1, 2]
    for set_index, calls in enumerate((1.0, 1.5, 1.0)):
        scenario = parse_scenario(apply_overrides(copy.deepcopy(raw), [f"{CALLS}={calls}"], "x"))
        for replication in range(3):
            seed = replication_seed(11, replication)
            alone = flatten_metrics(simulate(scenario, seed=seed))
            rows = frame[(frame["set"] == set_index) & (frame["replication"] == replication)]
            assert set(rows["seed"]) == {seed}  # replication i has the same seed in every set
            assert set(rows[CALLS]) == {calls}
            assert dict(zip(rows["metric"], rows["value"], strict=True)) == alone
    # the CSV on disk holds the same rows
    on_disk = (tmp_path / "out" / "sweep.csv").read_text().splitlines()
    assert on_disk[0] == f"set,label,{CALLS},replication,seed,metric,value"
    assert len(on_disk) == 1 + len(frame)
    # sets 0 and 2 are the same scenario on the same seeds: every paired difference is exactly 0
    summary = json.loads((tmp_path / "out" / "sweep.json").read_text())
    same = summary["metrics"]["voice.blocked"]["differences"][1]
    assert (same["set"], same["against"], same["n"]) == (2, 0, 3)
    assert (same["mean"], same["sd"], same["width"]) == (0.0, 0.0, 0.0)
    assert "common random numbers" in summary["common_random_numbers"]


def test_variants_are_parameter_sets_compared_with_the_base_on_common_random_numbers(
    client: Any, tmp_path: Path
) -> None:
    # The Erlang cell as written (8 channels) and a variant with 12: each replication of the
    # variant runs on the seed of the same replication of the base, so the paired difference
    # in blocking is the difference on the very same calls, and the variant's runs are those
    # of the variant's scenario run alone (sim.variants builds it).
    raw = erlang_cell()
    raw["variants"] = [{"name": "twelve", "set": {"network.defaults.voice_channels": 12}}]
    path = _write(tmp_path, raw)
    frame = sweep(
        path, 3, set={CALLS: [1.0, 1.5]}, client=client, metrics=["voice.*"], variants=True
    )
    assert list(frame.columns) == [
        "set", "label", "variant", CALLS, "replication", "seed", "metric", "value"
    ]  # fmt: skip
    labels = frame.drop_duplicates("set").set_index("set")["label"].to_dict()
    assert labels == {
        0: f"variant=base, {CALLS}=1.0",
        1: f"variant=base, {CALLS}=1.5",
        2: f"variant=twelve, {CALLS}=1.0",
        3: f"variant=twelve, {CALLS}=1.5",
    }
    twelve = copy.deepcopy(raw)
    del twelve["variants"]
    twelve["network"]["defaults"]["voice_channels"] = 12
    alone = flatten_metrics(
        simulate(
            parse_scenario(apply_overrides(twelve, [f"{CALLS}=1.5"], "x")),
            seed=replication_seed(11, 2),
        )
    )
    rows = frame[(frame["set"] == 3) & (frame["replication"] == 2)]
    assert dict(zip(rows["metric"], rows["value"], strict=True)) == {
        k: v for k, v in alone.items() if k.startswith("voice.")
    }
    # 12 channels block less than 8 on the same calls: every paired difference is negative
    blocking = frame[frame["metric"] == "voice.blocking"].pivot(
        index="replication", columns="set", values="value"
    )
    assert (blocking[2] < blocking[0]).all() and (blocking[3] < blocking[1]).all()
    differences = frame.attrs["summary"]["metrics"]["voice.blocking"]["differences"]
    assert [d["set"] for d in differences] == [1, 2, 3] and differences[1]["mean"] < 0


def test_target_ci_on_a_metric_no_run_has_is_bad_input_and_keeps_the_runs(
    client: Any, tmp_path: Path
) -> None:
    # the metric's name is only known from the runs' summaries: the first round runs, then the
    # sweep stops with one line instead of stopping "reached: false" with exit status 0
    with pytest.raises(ScenarioError) as error:
        run_sweep(
            erlang_cell(),
            replications=2,
            client=client,
            out=tmp_path / "out",
            target_ci=("voice.blokcing", 0.01),
            max_replications=4,
        )
    assert [str(p) for p in error.value.problems] == [
        f"--target-ci: no metric 'voice.blokcing' in the runs' summaries (e.g. voice.blocking); "
        f"the replications run are kept in {tmp_path / 'out'}/"
    ]
    assert len(list((tmp_path / "out" / "rows").glob("*.json"))) == 2


def test_paired_differences_are_intervals_of_the_per_replication_differences(
    client: Any, tmp_path: Path
) -> None:
    path = _write(tmp_path, erlang_cell())  # from a file, as a notebook would call it
    frame = sweep(path, 4, set={CALLS: [1.0, 1.5]}, client=client, metrics=["voice.*"])
    assert list(frame.columns) == [
        "set", "label", CALLS, "replication", "seed", "metric", "value"
    ]  # fmt: skip
    assert len(frame) == 2 * 4 * 7  # sets x replications x metrics
    blocking = frame[frame["metric"] == "voice.blocking"].pivot(
        index="replication", columns="set", values="value"
    )
    by_hand = interval(list(blocking[1] - blocking[0]))
    difference = frame.attrs["summary"]["metrics"]["voice.blocking"]["differences"][0]
    assert difference == {"set": 1, "against": 0, **by_hand}
    assert set(frame["metric"]) == {
        "voice.offered",
        "voice.carried",
        "voice.blocked",
        "voice.failed",
        "voice.dropped",
        "voice.minutes",
        "voice.blocking",
    }


def test_a_replication_that_raises_is_reported_and_does_not_stop_the_others(
    client: Any, tmp_path: Path
) -> None:
    result = run_sweep(
        erlang_cell(),
        replications=4,
        sets=[(CALLS, ["1.0", "1.5"])],
        client=client,
        out=tmp_path / "out",
        metrics=["voice.blocking"],
        replicate=fail_replication_1,
    )
    assert sorted((f.set, f.replication) for f in result.failures) == [(0, 1), (1, 1)]
    assert all(
        f.error == "RuntimeError: injected failure in replication 1" for f in result.failures
    )
    assert sorted(set(zip(result.frame["set"], result.frame["replication"], strict=True))) == [
        (0, 0), (0, 2), (0, 3), (1, 0), (1, 2), (1, 3)
    ]  # fmt: skip
    summary = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert [s["finished"] for s in summary["sets"]] == [3, 3]
    assert [s["failed"] for s in summary["sets"]] == [1, 1]
    assert {f["seed"] for f in summary["failed"]} == {replication_seed(11, 1)}
    assert summary["metrics"]["voice.blocking"]["sets"][0]["n"] == 3


def test_resuming_after_an_interruption_runs_only_the_missing_replications(
    client: Any, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    options: dict[str, Any] = {
        "replications": 6,
        "sets": [(CALLS, ["1.0", "1.5"])],
        "client": client,
        "out": out,
        "metrics": ["voice.*"],
    }

    def interrupt(state: Any) -> None:
        if state.done >= 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(erlang_cell(), progress=interrupt, replicate=slow_from_replication_2, **options)
    kept = sorted(p.name for p in (out / "rows").glob("set*-rep*.json"))
    assert 3 <= len(kept) < 12
    assert not (out / "sweep.csv").exists()  # merged only at the end
    before = {name: (out / "rows" / name).read_bytes() for name in kept}

    resumed = run_sweep(erlang_cell(), **options)
    assert not resumed.failures, resumed.failures
    assert resumed.reused == len(kept)
    ran = {f"set{s}-rep{r}.json" for s, r in resumed.run_seconds}
    assert ran.isdisjoint(kept) and len(ran) == 12 - len(kept)
    assert all((out / "rows" / name).read_bytes() == data for name, data in before.items())
    # the same rows as a sweep never interrupted
    whole = run_sweep(erlang_cell(), **{**options, "out": tmp_path / "whole"})
    assert resumed.frame.equals(whole.frame)
    assert resumed.summary == whole.summary


def test_keep_runs_keeps_each_replication_s_run_directory(client: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_sweep(erlang_cell(), replications=2, client=client, out=out, keep_runs=True)
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["set0-rep0", "set0-rep1"]
    summary = json.loads((out / "runs" / "set0-rep1" / "summary.json").read_text())
    assert summary["seed"] == replication_seed(11, 1)
    assert (out / "runs" / "set0-rep1" / "twin.sqlite").exists()
    rows = result.frame[result.frame["replication"] == 1]
    assert dict(zip(rows["metric"], rows["value"], strict=True)) == flatten_metrics(summary)


def test_a_rerun_with_more_replications_adds_only_the_new_ones(client: Any, tmp_path: Path) -> None:
    options: dict[str, Any] = {"client": client, "out": tmp_path / "out", "metrics": ["voice.*"]}
    run_sweep(erlang_cell(), replications=2, **options)
    more = run_sweep(erlang_cell(), replications=5, **options)
    assert more.reused == 2
    assert sorted(more.run_seconds) == [(0, 2), (0, 3), (0, 4)]
    assert more.summary["metrics"]["voice.offered"]["sets"][0]["n"] == 5


def test_the_interval_shrinks_like_one_over_root_n_on_an_erlang_cell(client: Any) -> None:
    """192 replications: the 95% interval of 192 against the mean interval of 16 disjoint
    blocks of 12. Student t: width = 2 t(0.975, N-1) sd / sqrt(N), so the ratio should be
    t(191)/t(11) x sqrt(12/192) / c4(12) = 1.97246/2.20099 x 0.25 / 0.97756 = 0.22919
    (c4(12) = E[sd]/sigma for 12 normal values; the mean of 16 block widths estimates
    2 t(11) c4(12) sigma / sqrt(12)). Offered call attempts are Poisson with mean 1,200 (300
    subscribers x 1 call/h x 4 h), so their sd is known exactly: sqrt(1200) = 34.64."""
    result = run_sweep(
        erlang_cell(), replications=192, client=client, metrics=["voice.blocking", "voice.offered"]
    )
    assert not result.failures
    sets = [ParameterSet(0, (), (), parse_scenario(erlang_cell()))]
    rows = [
        {"set": 0, "replication": r, "metrics": dict(g[["metric", "value"]].values)}
        for r, g in result.frame.groupby("replication")
    ]
    for metric in ("voice.blocking", "voice.offered"):
        whole = result.summary["metrics"][metric]["sets"][0]
        assert whole["n"] == 192
        blocks = []
        for block in range(16):
            chosen = [
                {**row, "replication": row["replication"] - 12 * block}
                for row in rows
                if 12 * block <= row["replication"] < 12 * (block + 1)
            ]
            blocks.append(statistics(chosen, sets, 12)[metric]["sets"][0]["width"])
        ratio = whole["width"] / np.mean(blocks)
        assert ratio == pytest.approx(0.22919, rel=0.15), metric
    offered = result.summary["metrics"]["voice.offered"]["sets"][0]
    assert offered["mean"] == pytest.approx(1200, abs=3 * 34.64 / np.sqrt(192) * 2)
    # sd of 192 values against the known sigma: within the chi-square 99.9% band [0.86, 1.16]
    assert 0.86 * 34.64 < offered["sd"] < 1.16 * 34.64
    assert offered["width"] == pytest.approx(2 * 1.97246 * offered["sd"] / np.sqrt(192), rel=1e-5)


def test_twenty_replications_over_two_values_give_intervals_that_shrink(client: Any) -> None:
    """The issue's check: 20 replications of each of two call rates; the intervals of each set
    and of their paired difference narrow from 5 to 10 and to 20 replications."""
    result = run_sweep(
        erlang_cell(),
        replications=20,
        sets=[(CALLS, ["1.0", "1.5"])],
        client=client,
        metrics=["voice.blocking"],
    )
    sets = parameter_sets(erlang_cell(), [(CALLS, ["1.0", "1.5"])], "x")
    rows = [
        {"set": s, "replication": r, "metrics": {"voice.blocking": v}}
        for s, r, v in result.frame[["set", "replication", "value"]].itertuples(index=False)
    ]
    widths = []
    for n in (5, 10, 20):
        entry = statistics(rows, sets, n)["voice.blocking"]
        widths.append([e["width"] for e in entry["sets"]] + [entry["differences"][0]["width"]])
    # expected ratios t(9)/t(4) x sqrt(5/10) = 0.576 and t(19)/t(4) x sqrt(5/20) = 0.377, times
    # the ratio of two sample sds, which for 5 values is noisy: so a margin, not equality
    five, ten, twenty = widths
    assert all(b < a for a, b in zip(five, ten, strict=True)), widths
    assert all(c < 0.7 * a for a, c in zip(five, twenty, strict=True)), widths
    assert result.summary["metrics"]["voice.blocking"]["sets"][0]["width"] == widths[-1][0]


def test_target_ci_adds_replications_until_the_interval_is_narrow_enough(client: Any) -> None:
    result = run_sweep(
        erlang_cell(),
        replications=4,
        client=client,
        metrics=["voice.blocking"],
        target_ci=("voice.blocking", 0.02),
        max_replications=60,
    )
    entry = result.summary["metrics"]["voice.blocking"]["sets"][0]
    assert entry["width"] <= 0.02 < entry["width"] * np.sqrt(entry["n"] / 4)  # needed more than 4
    assert 4 < entry["n"] < 60
    assert result.summary["target_ci"] == {
        "metric": "voice.blocking",
        "width": 0.02,
        "max_replications": 60,
        "reached": True,
    }
    capped = run_sweep(
        erlang_cell(),
        replications=3,
        client=client,
        metrics=["voice.blocking"],
        target_ci=("voice.blocking", 0.0001),
        max_replications=5,
    )
    assert capped.summary["replications"] == 5
    assert capped.summary["target_ci"]["reached"] is False


# --- the command: bad input, a cluster started by `dask scheduler` and `dask worker`, a kill ---


def _write(tmp_path: Path, raw: dict[str, Any]) -> Path:
    path = tmp_path / "cell.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        (
            ["--set", "traffic.voice.busy_hour_cals=1,2"],
            "cell.yaml: traffic.voice.busy_hour_cals: unknown key",
        ),
        (
            ["--set", "traffic.voice.busy_hour_calls="],
            "cell.yaml: traffic.voice.busy_hour_calls: --set traffic.voice.busy_hour_calls=: the "
            "value list is empty or has an empty value",
        ),
        (
            ["--set", "nothing.here=1,2"],
            "cell.yaml: nothing.here: --set names a key path that is not in the scenario",
        ),
        (
            ["--set", "traffic.voice.busy_hour_calls=1,-1"],
            "cell.yaml: traffic.voice.busy_hour_calls: Input should be greater than or equal to 0 "
            "(with --set traffic.voice.busy_hour_calls=-1)",
        ),
        (["--replications", "0"], "--replications: must be at least 1, not 0"),
        (["--variants"], "cell.yaml: variants: --variants: the scenario has no variants to sweep"),
        (
            ["--scheduler", "garbage"],
            "--scheduler: 'garbage' is not a scheduler address such as tcp://HOST:8786",
        ),
        (
            ["--target-ci", "voice.blocking=0.01"],
            "--target-ci: needs --max-replications, the limit",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_started(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], line: str
) -> None:
    path = _write(tmp_path, erlang_cell())
    argv = ["sweep", str(path), "--replications", "3", "--out", str(tmp_path / "out"), *extra]
    if "--replications" in extra:
        argv[2:4] = []
    assert main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [line]
    assert sorted(os.listdir(tmp_path)) == ["cell.yaml"]


def test_an_unreachable_scheduler_is_bad_input_before_the_directory_is_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("twin.sweep.CONNECT_TIMEOUT_S", 1.0)  # 5 s by default
    path = _write(tmp_path, erlang_cell())
    address = f"tcp://127.0.0.1:{_free_port()}"
    argv = ["sweep", str(path), "--replications", "3", "--out", str(tmp_path / "out")]
    assert main([*argv, "--scheduler", address]) == 2
    (err,) = capsys.readouterr().err.splitlines()
    assert err.startswith(f"--scheduler: cannot reach the Dask scheduler {address}")
    assert sorted(os.listdir(tmp_path)) == ["cell.yaml"]


def test_without_dask_the_command_says_how_to_install_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed: ImportError
    path = _write(tmp_path, erlang_cell())
    assert main(["sweep", str(path), "--replications", "2", "--out", str(tmp_path / "o")]) == 1
    assert capsys.readouterr().err == (
        "telcotwin sweep needs Dask and pandas: pip install -e '.[sweep]'\n"
    )


@pytest.fixture(scope="module")
def dask_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A scheduler and a worker (two processes of one thread) started as `dask scheduler` and
    `dask worker` on a free port, each in a process group of its own, killed group and all at
    the end (they hold nothing worth a graceful stop; their scratch space is a temporary
    folder)."""
    dask = str(Path(sys.executable).parent / "dask")
    scratch = str(tmp_path_factory.mktemp("dask-scratch"))
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
             "--no-dashboard"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            cwd=scratch,
        ),
        subprocess.Popen(
            [dask, "worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard",
             "--death-timeout", "60", "--local-directory", scratch],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            cwd=scratch,
        ),
    ]  # fmt: skip
    try:
        with distributed.Client(address, timeout=60, set_as_default=False) as probe:
            probe.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for process in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for process in started:
            deadline = time.monotonic() + 10
            while _group_alive(process.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not _group_alive(process.pid)  # nothing of the group left running


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_sweep_runs_on_a_cluster_of_dask_scheduler_and_dask_worker(
    dask_processes: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, erlang_cell())
    out = tmp_path / "out"
    argv = ["sweep", str(path), "--replications", "3", "--set", f"{CALLS}=1,1.5", "--quiet"]
    assert main([*argv, "--out", str(out), "--scheduler", dask_processes]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"wrote {out}/ (sweep.csv, sweep.json): 6 replications run, 0 reused, 0 failed"
    ]
    # the same numbers as a run of replication 2 alone
    summary = json.loads((out / "sweep.json").read_text())
    rows = [json.loads(p.read_text()) for p in (out / "rows").glob("set1-rep2.json")]
    scenario = parse_scenario(apply_overrides(erlang_cell(), [f"{CALLS}=1.5"], "x"))
    alone = simulate(scenario, seed=replication_seed(11, 2))
    assert rows[0]["metrics"] == flatten_metrics(alone)
    assert summary["metrics"]["voice.offered"]["sets"][1]["n"] == 3


def test_a_killed_sweep_resumes_with_only_the_replications_it_had_not_finished(
    dask_processes: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a simulated day a replication (about 0.3 s each), so the kill comes midway
    path = _write(tmp_path, erlang_cell(duration="1d"))
    out = tmp_path / "out"
    argv = ["sweep", str(path), "--replications", "6", "--set", f"{CALLS}=1,1.5", "--quiet"]
    argv += ["--out", str(out), "--scheduler", dask_processes, "--metrics", "voice.*"]
    process = subprocess.Popen([sys.executable, "-m", "twin.cli", *argv], cwd=tmp_path)
    deadline = time.monotonic() + 120
    while len(list((out / "rows").glob("set*-rep*.json"))) < 3:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    process.kill()
    process.wait()
    kept = sorted(p.name for p in (out / "rows").glob("set*-rep*.json"))
    assert 3 <= len(kept) < 12, "the sweep finished before it was killed: make runs longer"
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"wrote {out}/ (sweep.csv, sweep.json): {12 - len(kept)} replications run, "
        f"{len(kept)} reused, 0 failed"
    ]
    summary = json.loads((out / "sweep.json").read_text())
    assert [s["finished"] for s in summary["sets"]] == [6, 6]


def test_a_directory_holding_another_sweep_is_refused(client: Any, tmp_path: Path) -> None:
    run_sweep(erlang_cell(), replications=2, client=client, out=tmp_path / "out")
    with pytest.raises(ScenarioError) as raised:
        run_sweep(
            erlang_cell(),
            replications=2,
            sets=[(CALLS, ["2"])],
            client=client,
            out=tmp_path / "out",
        )
    assert [str(p) for p in raised.value.problems] == [
        f"{tmp_path / 'out'}: --out: holds another sweep (other scenario, --set values or "
        "--metrics); choose another --out"
    ]
