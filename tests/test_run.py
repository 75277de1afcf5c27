"""Run directories under concurrent runs: a run claims its directory before it simulates, so a
second run into it is refused (the default directory takes the next number).

The first run of each test is a separate process running the reference example for 300 days
(about 40 s); the test waits until it builds aside, so the claim is held, and stops it.
"""

from __future__ import annotations

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
