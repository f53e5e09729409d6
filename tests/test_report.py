"""The nightly report: self-contained, redacted, and clean in a real headless Chromium."""

import re
import shutil
from pathlib import Path

import pytest

from harness_evals.embed import HashingEmbedder
from harness_evals.ingest import ingest_file
from harness_evals.pipeline import mine
from harness_evals.report import write_report
from harness_evals.store import Store
from tests.conftest import REPO, SAMPLE

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="module")
def report_path(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    with Store(folder / "h.duckdb") as store:
        for name in ("traces.jsonl", "chat_traces.jsonl"):
            ingest_file(store, SAMPLE / name, kind="production")
        ingest_file(store, SAMPLE / "evals.jsonl", kind="eval")
        for full in (True, False):
            mine(store, budget=10, embedder=HashingEmbedder(128), full=full)
    return write_report(folder / "h.duckdb", folder / "report.html")


def test_the_report_is_one_offline_file_with_every_section(report_path):
    html = report_path.read_text()
    for heading in ("Coverage map", "Coverage over time", "Largest gaps", "Emerging regions", "Silent-failure flags",
                    "Labelling queue"):
        assert f"<h2>{heading}</h2>" in html
    assert html.count("<svg") == 2
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing fetched from anywhere
    assert "<script" not in html
    assert "280</b><span>production traces" in html


def test_the_report_loads_in_chromium_without_console_errors_and_is_screenshotted(report_path):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is needed for this test: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    problems, requests = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda message: problems.append(message.text) if message.type in ("error", "warning") else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(report_path.as_uri())
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "report.png", full_page=True)
        title = page.title()
        rows = page.locator("table").first.locator("tr").count()
        browser.close()
    assert problems == []
    assert requests == [report_path.as_uri()]
    assert title.startswith("harness-evals report")
    assert rows > 1
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
