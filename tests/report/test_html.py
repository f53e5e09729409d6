"""The nightly report: self-contained, redacted, and clean in a real headless Chromium."""

import re
import shutil
from pathlib import Path

import pytest

from harness_evals.config import ToolSettings
from harness_evals.mine.embed import HashingEmbedder
from harness_evals.ingest import ingest_file
from harness_evals.mine.pipeline import mine
from harness_evals.report.html import write_report
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
                    "Tool use", "Labelling queue"):
        assert f"<h2>{heading}</h2>" in html
    assert html.count("<svg") == 2
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing fetched from anywhere
    assert "<script" not in html
    assert "280</b><span>production traces" in html
    assert "search_direct_flight came back empty, then search_onestop_flight was called with similar arguments" in html
    assert "51%</b><span>of the 280 traces with an outcome failed" in html  # 116 airline, 28 retail and telecom


def test_each_gap_shows_its_regions_failure_rate_as_the_run_counted_it(report_path):
    html = report_path.read_text()
    gaps = html[html.index("<h2>Largest gaps</h2>"):html.index("<h2>Emerging regions</h2>")]
    assert '<th class="n">flagged</th><th class="n">failing</th>' in gaps
    shown = re.findall(r'<td class="n">(\d+)</td>\n<td class="n">(\d+)%(?: of (\d+))?</td>', gaps)
    with Store(report_path.parent / "h.duckdb", read_only=True) as store:
        counted = store.con.execute(
            """SELECT flagged_count, failed_count, outcome_count FROM cluster_coverage
               WHERE run_id = (SELECT run_id FROM runs WHERE kind = 'mine' ORDER BY started_at DESC LIMIT 1)
                     AND gap_score > 0
               ORDER BY gap_score DESC, cluster_id LIMIT 12""").fetchall()
    assert shown == [(str(flagged), str(round(100 * failed / known)), str(known)) for flagged, failed, known in counted]


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


# A notebook that draws its own plots with the svg backend and its own style, then builds the charts.
NOTEBOOK = """
import json, sys
import matplotlib
matplotlib.use("svg")
matplotlib.rcParams["font.size"] = 14
before = {key: str(value) for key, value in matplotlib.rcParams.items()}
from harness_evals.report.html import coverage_map, trend_chart
points = [{"item_kind": "production", "map_x": 0.1, "map_y": 0.2, "covered": True},
          {"item_kind": "production", "map_x": -0.3, "map_y": 0.4, "covered": False},
          {"item_kind": "production", "map_x": None, "map_y": None, "covered": False},
          {"item_kind": "eval", "map_x": 0.0, "map_y": 0.1, "covered": None}]
charts = [coverage_map(points),
          trend_chart([{"run_id": f"r{n}", "ruler": "r1", "ruler_label": "cosine 0.5", "view": "intent",
                        "covered_similarity": 0.5, "covered_traffic": 0.4, "risk_covered_traffic": None}
                       for n in range(2)])]
after = {key: str(value) for key, value in matplotlib.rcParams.items()}
print(json.dumps({"backend": matplotlib.get_backend(), "pyplot": "matplotlib.pyplot" in sys.modules,
                  "changed": sorted(key for key in before if before[key] != after[key]), "charts": charts}))
"""


def test_the_charts_leave_the_callers_matplotlib_backend_and_style_as_they_were():
    import json
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", NOTEBOOK], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.splitlines()[-1])
    assert (seen["backend"], seen["pyplot"], seen["changed"]) == ("svg", False, [])
    coverage, trend = seen["charts"]
    assert coverage.startswith("<svg") and "production, covered (1)" in coverage and "eval cases (1)" in coverage
    assert trend.startswith("<svg") and "risk-weighted" in trend
    assert "font-size: 10px" in coverage and "<text" in coverage  # the report's style holds in its charts: text as text


def test_the_tool_use_section_is_read_with_the_tools_settings(report_path, tmp_path):
    strict = write_report(report_path.parent / "h.duckdb", tmp_path / "strict.html",
                          tools=ToolSettings(min_traces=40))
    html = strict.read_text()
    assert "search_direct_flight came back empty, then search_onestop_flight" in report_path.read_text()
    assert "search_direct_flight came back empty" not in html  # seen in 7 traces: not a pattern at 40
