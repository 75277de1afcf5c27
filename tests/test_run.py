"""Run directories under concurrent and killed runs: a run claims its directory before it
simulates, so a second run into it is refused (the default directory takes the next number),
and what a killed run leaves beside its directory is removed by the next run into the parent.

The first run of each test is a separate process running the reference example for 300 days
(about 40 s); the test waits until it builds aside, so the claim is held, and stops it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE
from twin.cli import main

DEFAULT_OUT = "metro-evening-fiber-cut-seed20270301"  # runs/<scenario name>-seed<seed>
LONG = ("--set", "duration=300d")


@pytest.fixture
def metro(tmp_path: Path) -> Path:
    path = tmp_path / "metro.yaml"
    path.write_bytes(EXAMPLE.read_bytes())
    return path


@pytest.fixture
def start_long_run():
    """Start ``telcotwin run`` of 300 simulated days in another process; any still running
    when the test ends (a failed assertion) is killed."""
    started: list[subprocess.Popen[str]] = []

    def start(metro: Path, *extra: str) -> subprocess.Popen[str]:
        argv = [sys.executable, "-m", "twin.cli", "run", str(metro), "--quiet", *LONG, *extra]
        started.append(subprocess.Popen(argv, cwd=metro.parent, stderr=subprocess.PIPE, text=True))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _wait_until_building(parent: Path, process: subprocess.Popen[str]) -> Path:
    """Return the hidden partial folder once ``process`` has created it in ``parent``."""
    deadline = time.monotonic() + 60
    while True:
        partial = list(parent.glob(".*.partial")) if parent.is_dir() else []
        if partial:
            return partial[0]
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)


def _stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    return process.returncode, err


def test_a_run_into_a_directory_another_run_is_writing_is_refused_with_or_without_force(
    metro, tmp_path, capsys, start_long_run
):
    out = tmp_path / "out"
    first = start_long_run(metro, "--out", str(out))
    _wait_until_building(tmp_path, first)
    for force in ([], ["--force"]):
        assert main(["run", str(metro), "--out", str(out), "--quiet", *force]) == 2
        assert capsys.readouterr().err == (
            f"{out}: another run is writing it (pid {first.pid}); choose another --out\n"
        )
    # the refusals left the first run alone: stopped, it cleans up as ever
    assert _stop(first) == (130, "interrupted: nothing written\n")
    assert os.listdir(tmp_path) == ["metro.yaml"]


def test_a_default_run_beside_one_writing_the_default_directory_takes_the_next_number(
    metro, tmp_path, capsys, monkeypatch, start_long_run
):
    monkeypatch.chdir(tmp_path)
    first = start_long_run(metro)
    _wait_until_building(tmp_path / "runs", first)
    assert main(["run", str(metro), "--quiet"]) == 0
    assert capsys.readouterr().out.startswith(f"wrote runs/{DEFAULT_OUT}-2/ ")
    assert _stop(first) == (130, "interrupted: nothing written\n")
    assert os.listdir(tmp_path / "runs") == [f"{DEFAULT_OUT}-2"]


def test_the_partial_folder_of_a_killed_run_is_removed_by_the_next_run_into_the_parent(
    metro, tmp_path, capsys, start_long_run
):
    killed = start_long_run(metro, "--out", str(tmp_path / "killed"))
    partial = _wait_until_building(tmp_path, killed)
    killed.kill()  # SIGKILL: no cleanup in the killed process
    killed.communicate(timeout=60)
    assert partial.is_dir()
    assert main(["run", str(metro), "--out", str(tmp_path / "next"), "--quiet"]) == 0
    assert capsys.readouterr().err == (
        f"{partial}: removed: left by a run that is gone (pid {killed.pid})\n"
    )
    assert sorted(os.listdir(tmp_path)) == ["metro.yaml", "next"]


def test_a_partial_folder_of_an_earlier_version_is_removed_and_named(metro, tmp_path, capsys):
    # Before claims, the partial folder had a random part and no lock beside it.
    partial = tmp_path / ".national.k3j9x_2q.partial"
    partial.mkdir()
    (partial / "twin.sqlite").write_bytes(b"SQLite format 3\x00 cut short")
    assert main(["run", str(metro), "--out", str(tmp_path / "next"), "--quiet"]) == 0
    assert capsys.readouterr().err == f"{partial}: removed: left by a run that is gone\n"
    assert sorted(os.listdir(tmp_path)) == ["metro.yaml", "next"]


def _fake_run(folder: Path, seed: int) -> None:
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps({"seed": seed}))


def test_a_run_killed_between_retiring_and_replacing_a_directory_gets_it_back(
    metro, tmp_path, capsys
):
    # --force moves the old run aside, moves the new one in, then deletes the old: a kill
    # between the two moves leaves the old run as .out.replaced and the new as .out.partial.
    _fake_run(tmp_path / ".out.replaced", seed=1)
    _fake_run(tmp_path / ".out.partial", seed=2)
    assert main(["run", str(metro), "--out", str(tmp_path / "next"), "--quiet"]) == 0
    assert capsys.readouterr().err.splitlines() == [
        f"{tmp_path / 'out'}: restored: the run replacing it was stopped before it completed",
        f"{tmp_path / '.out.partial'}: removed: left by a run that is gone",
    ]
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == {"seed": 1}
    assert sorted(os.listdir(tmp_path)) == ["metro.yaml", "next", "out"]


def test_a_lock_left_by_a_killed_run_does_not_hold_its_directory(metro, tmp_path, capsys):
    # What the lock says is not trusted, only whether it is held: pid 1 is alive on any machine.
    (tmp_path / ".out.lock").write_text("telcotwin run, pid 1\n")
    _fake_run(tmp_path / ".out.partial", seed=2)
    assert main(["run", str(metro), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert capsys.readouterr().err == (
        f"{tmp_path / '.out.partial'}: removed: left by a run that is gone (pid 1)\n"
    )
    assert sorted(os.listdir(tmp_path)) == ["metro.yaml", "out"]
