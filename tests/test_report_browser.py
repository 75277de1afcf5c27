"""The capacity report in a real browser: headless Chromium (Debian's package, driven by
Playwright; nothing downloads a browser) opens the page as a planner would from a mail, with
no network, and every figure shows.

Skipped outside CI when there is no Chromium (tests/conftest.py: ``chromium_path``); under CI
``.ci/chromium`` provides it and a missing one fails the test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, chromium_path
from twin.cli import main

# What the browser may do: nothing on the network, no sandbox (CI runs as root), no GPU.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def chromium() -> str:
    return chromium_path()


@pytest.fixture(scope="module")
def report_page(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "report"
    assert main(["report", str(EXAMPLE), "--out", str(out)]) == 0
    return out / "capacity_report.html"


def test_report_opens_with_no_errors_and_every_figure_rendered(chromium, report_page, tmp_path):
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report_page.as_uri(), wait_until="load")
            figures = page.evaluate(
                """() => Array.from(document.querySelectorAll('figure img')).map(img => {
                    const box = img.getBoundingClientRect();
                    return {alt: img.alt, complete: img.complete, natural: img.naturalWidth,
                            width: box.width, height: box.height};
                })"""
            )
            above = page.locator("tr.above td").first.inner_text()
            page.screenshot(path=str(tmp_path / "capacity_report.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    # the page and its data: URLs only, nothing fetched from anywhere
    assert all(u.startswith(("file://", "data:")) for u in requests), requests
    assert len(figures) == 5  # map, heat map, blocking, exhaustion, links
    for figure in figures:
        assert figure["complete"] and figure["natural"] > 0, figure
        assert figure["width"] > 100 and figure["height"] > 100, figure
    assert above == "t-n3/1"  # the first row highlighted: the cell above the GoS
