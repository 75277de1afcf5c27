"""CI runs exactly the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_ci_runs_exactly_the_readmes_test_command():
    blocks = re.findall(r"```sh\n(.*?)\n```", (ROOT / "README.md").read_text(), re.DOTALL)
    run_scenario, run_tests = blocks[:2]
    assert "\n" not in run_scenario and "\n" not in run_tests  # one line each
    assert (ROOT / ".ci" / "run").read_text().rstrip("\n").splitlines()[-1] == run_tests
    assert "bash .ci/postgres" in run_tests
    assert 'TELCOTWIN_TEST_CHROMIUM="$(bash .ci/chromium)"' in run_tests
