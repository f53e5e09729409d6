"""The nightly report: one self-contained HTML file that opens offline.

Charts are matplotlib drawn to inline SVG: no JavaScript, no CDN, nothing to load, so the page
opens the same from a CI artifact, an email or a laptop on a plane, and text in the charts stays
selectable. Every trace text in it is redacted.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness_evals.config import DetectorSettings, ToolSettings
from harness_evals.report.describe import Namer, describe_clusters
from harness_evals.errors import UserError
from harness_evals.files import write_atomically
from harness_evals.records import NOISE
from harness_evals.redact import Redactor
from harness_evals.store.clusters import map_points
from harness_evals.store.runs import run_summary
from harness_evals.report.workspace import Workspace, coverage_series

COVERED, UNCOVERED, EVAL = "#4c9f70", "#d1495b", "#1f2d3d"

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>harness-evals report, {{ generated }}</title>
<style>
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2d3d; margin: 0 auto;
       max-width: 1100px; padding: 24px; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 19px; margin-top: 36px; border-bottom: 1px solid #dde; }
.meta { color: #667; } .figures { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.figure { background: #f4f6f8; border-radius: 8px; padding: 10px 16px; min-width: 120px; }
.figure b { display: block; font-size: 24px; } .figure span { color: #556; font-size: 13px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; } th, td { text-align: left; padding: 6px 8px;
        border-bottom: 1px solid #e4e7eb; vertical-align: top; } th { background: #f4f6f8; }
td.n { text-align: right; white-space: nowrap; } .tag { background: #fde2e4; color: #a4161a; border-radius: 4px;
       padding: 1px 6px; font-size: 12px; } ul.ex { margin: 0; padding-left: 18px; color: #334; }
svg { max-width: 100%; height: auto; } .charts { display: grid; grid-template-columns: 3fr 2fr; gap: 16px; }
</style></head><body>
<h1>harness-evals: what the eval set misses</h1>
<p class="meta">Store {{ db }} · mining run {{ run.run_id }} ({{ run.mode }} clustering, {{ run.mode_reason }})
 · generated {{ generated }}</p>
<div class="figures">
{% for value, label in figures %}<div class="figure"><b>{{ value }}</b><span>{{ label }}</span></div>{% endfor %}
</div>
<div class="charts"><div><h2>Coverage map</h2>{{ coverage_map | safe }}</div>
<div><h2>Coverage over time</h2>{{ trend_chart | safe }}</div></div>
<h2>Largest gaps</h2>
<table><tr><th>cluster</th><th>about</th><th class="n">traces</th><th class="n">eval cases</th>
<th class="n">covered</th><th class="n">gap</th><th class="n">flagged</th><th class="n">failing</th><th>tools</th>
<th>representative requests</th></tr>
{% for d in gaps %}<tr><td>{{ "none" if d.cluster_id == -1 else d.cluster_id }}{% if d.emerging %}
 <span class="tag">emerging</span>{% endif %}</td><td>{{ d.name }}</td><td class="n">{{ d.size }}</td>
<td class="n">{{ d.eval_count }}</td><td class="n">{{ "%.0f%%" % (100 * d.coverage) }}</td>
<td class="n">{{ "%.1f" % d.gap }}</td><td class="n">{{ d.flagged }}</td>
<td class="n">{% if d.outcome_count %}{{ "%.0f%%" % (100 * d.failure_rate) }} of {{ d.outcome_count }}
{%- else %}–{% endif %}</td>
<td>{{ d.top_tools | join(", ") }}{% if d.error_share %} ({{ "%.0f%%" % (100 * d.error_share) }} with errors){% endif %}</td>
<td><ul class="ex">{% for e in d.examples %}<li>{{ e | truncate(160) }}</li>{% endfor %}</ul></td></tr>
{% endfor %}</table>
<h2>Emerging regions</h2>
{% if emerging %}<table><tr><th>cluster</th><th>about</th><th class="n">traces</th><th class="n">covered</th>
<th>example</th></tr>{% for d in emerging %}<tr><td>{{ d.cluster_id }}</td><td>{{ d.name }}</td>
<td class="n">{{ d.size }}</td><td class="n">{{ "%.0f%%" % (100 * d.coverage) }}</td>
<td>{{ d.examples[0] | truncate(160) if d.examples else "" }}</td></tr>{% endfor %}</table>
{% else %}<p>None tonight: no region is new or growing fast while the eval set misses it.</p>{% endif %}
<h2>Silent-failure flags</h2>
{% if flags %}<table><tr><th>detector</th><th class="n">traces</th></tr>{% for name, count in flags %}
<tr><td>{{ name }}</td><td class="n">{{ count }}</td></tr>{% endfor %}</table>
{% else %}<p>No detector fired.</p>{% endif %}
<h2>Tool use</h2>
{% if tools.findings %}<table><tr><th class="n">traces</th><th>finding</th><th>since</th><th>examples</th></tr>
{% for f in tools.findings[:12] %}<tr><td class="n">{{ f.traces }}</td><td>{{ f.what }}</td>
<td>{{ f.started or "" }}</td><td>{{ f.trace_ids[:3] | join(", ") }}</td></tr>{% endfor %}</table>
{% else %}<p>No tool misuse pattern has shown up in {{ tools.min_traces }} traces yet.</p>{% endif %}
<p class="meta">{% for u in tools.usage[:8] %}{{ u.name }}: {{ u.calls }} calls, {{ "%.0f%%" % (100 * u.error_rate) }}
 failed{% if not loop.last %} · {% endif %}{% endfor %} (harness-evals tools for all of it)</p>
<h2>Labelling queue</h2>
<p>{% for state, count in queue_sizes %}{{ count }} {{ state }}{% if not loop.last %} · {% endif %}{% else %}
The queue is empty.{% endfor %}</p>
{% if queued %}<table><tr><th>trace</th><th class="n">cluster</th><th>why</th><th>request</th></tr>
{% for q in queued %}<tr><td>{{ q.trace_id }}</td><td class="n">{{ q.cluster_id }}</td><td>{{ q.reason }}</td>
<td>{{ q.input | truncate(140) }}</td></tr>{% endfor %}</table>{% endif %}
</body></html>
"""


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg"):]


CHART_STYLE = {"svg.fonttype": "none", "font.size": 10, "svg.hashsalt": "harness-evals"}


@contextmanager
def _chart(width: float, height: float) -> Iterator[tuple[Any, Any]]:
    """A figure and its axes in the report's style. No pyplot: nothing picks a backend or keeps
    the figure, and the style holds inside the block only, so a notebook's own plots are untouched."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(CHART_STYLE):
        figure = Figure(figsize=(width, height))
        yield figure, figure.subplots()


def coverage_map(points: list[dict[str, Any]]) -> str:
    """Production traces coloured by the coverage judge's verdict (`covered`), eval cases on top."""
    production = [p for p in points if p["item_kind"] == "production" and p["map_x"] is not None]
    evals = [p for p in points if p["item_kind"] == "eval" and p["map_x"] is not None]
    with _chart(6.4, 4.6) as (figure, axes):
        for label, colour, keep in (("covered", COVERED, True), ("not covered", UNCOVERED, False)):
            chosen = [p for p in production if bool(p["covered"]) == keep]
            axes.scatter([p["map_x"] for p in chosen], [p["map_y"] for p in chosen], s=9, alpha=0.7, c=colour,
                         label=f"production, {label} ({len(chosen)})", linewidths=0)
        axes.scatter([p["map_x"] for p in evals], [p["map_y"] for p in evals], s=28, marker="x", c=EVAL,
                     label=f"eval cases ({len(evals)})")
        axes.set_xticks([])
        axes.set_yticks([])
        axes.set_xlabel("first principal component of the embeddings")
        axes.set_ylabel("second")
        axes.legend(loc="best", fontsize=8, frameon=False)
        return _svg(figure)


def trend_chart(trend: list[dict[str, Any]]) -> str:
    """Coverage run after run, one line per ruler and view (`coverage_series`): a change of ruler
    starts a new line instead of a jump."""
    position = {row["run_id"]: number for number, row in enumerate(trend, start=1)}
    with _chart(4.4, 3.2) as (figure, axes):
        for series, rows in coverage_series(trend):
            runs = [position[row["run_id"]] for row in rows]
            line, = axes.plot(runs, [100 * (row["covered_traffic"] or 0) for row in rows], marker="o",
                              label=f"{series.view}, ruler {series.ruler}")
            axes.plot(runs, [100 * (row["risk_covered_traffic"] or 0) for row in rows], marker="s", linestyle=":",
                      c=line.get_color(), label="  risk-weighted")
        axes.set_ylim(0, 100)
        axes.set_xticks(list(position.values()))
        axes.set_xlabel("mining run")
        axes.set_ylabel("% covered by the eval set")
        axes.legend(fontsize=7, frameon=False)
        return _svg(figure)


def build_report(workspace: Workspace, *, run_id: str | None = None, namer: Namer | None = None,
                 tools: ToolSettings | None = None, detectors: DetectorSettings | None = None) -> str:
    """The report's page. `tools` and `detectors` are the settings its Tool use section is read with."""
    from jinja2 import Environment

    store = workspace.store
    run_id = workspace.mine_run(run_id)
    summary = run_summary(store, run_id)
    descriptions = describe_clusters(store, run_id, redactor=workspace.redactor, namer=namer)
    queue_sizes = sorted(workspace.queue_sizes().items())
    queued = workspace.queue().to_pylist()[:10]
    flags = Counter(workspace.flags(run_id).column("detector").to_pylist()).most_common()
    points = map_points(store, run_id)
    trend = workspace.trend().to_pylist()
    clusters = [d for d in descriptions if d.cluster_id != NOISE]
    figures = [
        (summary.get("traces", 0), "production traces"),
        (f"{summary.get('covered_traffic', 0):.0%}", "of traffic covered by the eval set, within "
         + (f"{summary['ruler_label']}, ruler {summary['ruler']}" if summary.get("ruler")
            else f"cosine {summary.get('covered_similarity', 0):.2f}")),
        (f"{summary.get('risk_covered_traffic', 0):.0%}", "covered, flagged traces weighing 3x"),
        (len(clusters), "regions"),
        (sum(d.size for d in descriptions if d.cluster_id == NOISE), "traces in no region"),
        (len(summary.get("emerging", [])), "emerging regions"),
        (summary.get("flagged", 0), "traces flagged"),
        *([(f"{summary['failure_rate']:.0%}", f"of the {summary['outcome_traces']} traces with an outcome failed")]
          if summary.get("outcome_traces") else []),
        (summary.get("queued", 0), "queued tonight"),
    ]
    return Environment(autoescape=True).from_string(TEMPLATE).render(
        db=store.path, generated=f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        run={"run_id": run_id, "mode": summary.get("mode", "full"), "mode_reason": summary.get("mode_reason", "")},
        figures=figures,
        coverage_map=coverage_map(points),
        trend_chart=trend_chart(trend),
        gaps=[d for d in descriptions if d.gap > 0][:12], emerging=[d for d in descriptions if d.emerging],
        flags=flags, queue_sizes=queue_sizes, queued=queued,
        tools=workspace.tools(run_id, **dict(tools or ToolSettings()), detectors=detectors),
    )


def write_report(db: str | Path | None, out: str | Path, *, redactor: Redactor | None = None,
                 namer: Namer | None = None, tools: ToolSettings | None = None,
                 detectors: DetectorSettings | None = None) -> Path:
    """Build the report of the latest mining run and write it atomically to `out`."""
    out = Path(out)
    with Workspace(db, redaction=redactor.rules if redactor else None) as workspace:
        if workspace.store.latest_run_id("mine") is None:
            raise UserError("no mining run in this store yet: run `harness-evals mine` first")
        html = build_report(workspace, namer=namer, tools=tools, detectors=detectors)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(out, html)
    return out
