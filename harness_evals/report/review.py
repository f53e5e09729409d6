"""The release reading list: the trajectories after a release that went through what it changed.

The day after a release (a new prompt block, tool or constraint), read thirty trajectories that
went through it. `reading_list(store, release=R)` picks them from R's traces: those given an
assembled prompt that changed from the release before (a block or tool definition added, dropped
or edited: `diff_releases` over the stored assemblies), those that went through a tool whose
behaviour shifted in R (the tool report's `shift` findings: a trace showing the behaviour that grew
more common, a failing call or a repeat, say; or calling the tool, where it grew rarer), and those
in a region new since R (in the latest mining run, a region with traces of R and none of a release
before it). Flagged traces come first, spread across regions; each says why it was chosen.
`write_reading_list` writes the list as JSONL and as one self-contained HTML page, both redacted;
`queue_reading_list` puts it into the labelling queue, which a trace enters once ever.
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness_evals.chat import message_text
from harness_evals.config import ReviewSettings
from harness_evals.errors import UserError
from harness_evals.files import write_atomically
from harness_evals.label.queue import already_queued, enqueue
from harness_evals.mine.signals import DetectorSettings
from harness_evals.prompts.snapshots import block_changes
from harness_evals.records import NOISE, QueuePick
from harness_evals.redact import Redactor
from harness_evals.report.tools import DEFAULTS as TOOL_DEFAULTS
from harness_evals.report.tools import (
    TracedCalls,
    previous_release,
    read_calls,
    release_order,
    release_shifts,
    shows,
)
from harness_evals.store import Store
from harness_evals.store.tools import is_mining_run, trace_documents

DEFAULTS = ReviewSettings()  # the settings model holds the defaults
READ_TEXT = ("input", "output", "steps", "messages", "metadata", "feedback")  # redacted, numbered across the trace


@dataclass(frozen=True)
class Reading:
    """One trajectory on the list, and why it is there."""

    trace_id: str
    cluster_id: int | None  # its region in the latest mining run; None: not placed yet
    flags: list[str]  # the detectors that flagged it there
    reasons: list[str]


@dataclass(frozen=True)
class ReadingList:
    release: str
    previous_release: str
    changes: list[str]  # what changed in the release, one line each
    candidates: int  # traces of the release that went through a change
    readings: list[Reading]  # in reading order
    run_id: str | None = None  # the mining run whose regions and flags it read; None: no run yet


def reading_list(store: Store, *, release: str, n: int = DEFAULTS.n, run_id: str | None = None,
                 min_traces: int = TOOL_DEFAULTS.min_traces, significance: float = TOOL_DEFAULTS.significance,
                 detectors: DetectorSettings | None = None, redactor: Redactor | None = None) -> ReadingList:
    """The `n` trajectories of `release` to read, against the release before it. Regions and flags
    are a mining run's (the latest by default); every stored trace of the release is a candidate.
    What changed and why each was chosen quote prompt blocks and tool findings: redacted."""
    detectors = detectors or DetectorSettings()
    redact = (redactor or Redactor()).redact
    if run_id is not None and not is_mining_run(store, run_id):
        raise UserError(f"no mining run {run_id!r} in this store: `harness-evals status` lists the runs")
    run_id = run_id or store.latest_run_id("mine")
    traffic = read_calls(store, run_id=run_id, placed_only=False, detectors=detectors)
    before = previous_release(traffic, release)
    if before is None:
        raise UserError(f"release {release!r} is the first in the store ({', '.join(release_order(traffic))}): there "
                        "is no release before it to say what it changed")
    of_release = [trace for trace in traffic if trace.release == release]
    reasons: dict[str, list[str]] = {trace.trace_id: [] for trace in of_release}
    changes = []

    prompts = block_changes(store, before=before, after=release)
    for digest, changed in prompts.items():
        given = [trace for trace in of_release if trace.assembly == digest]
        changes.append(f"prompt {digest[:12]} ({len(given)} traces): {', '.join(changed) or 'reordered'}")
        for trace in given:
            reasons[trace.trace_id].append(f"its prompt changed in {release}: {', '.join(changed) or 'reordered'}")

    shifts = release_shifts(traffic, release=release, before=before, min_traces=min_traces,
                            significance=significance, quiet_tools=detectors.quiet_tools)
    changes += [shift.what for shift in shifts]
    for trace in of_release:
        reasons[trace.trace_id] += [f"went through a shift of {shift.tools[0]}: {shift.what}" for shift in shifts
                                    if shows(trace, shift, quiet_tools=detectors.quiet_tools)]

    for cluster_id, count in _new_regions(traffic, release).items():
        changes.append(f"region {cluster_id} is new since {release}: {count} traces of {release}, none before")
        for trace in of_release:
            if trace.cluster_id == cluster_id:
                reasons[trace.trace_id].append(f"in region {cluster_id}, new since {release} ({count} traces, none "
                                               "before)")

    chosen = [trace for trace in of_release if reasons[trace.trace_id]]
    readings = [Reading(trace.trace_id, trace.cluster_id, trace.flags, [redact(why) for why in reasons[trace.trace_id]])
                for trace in _spread(chosen, reasons, n)]
    return ReadingList(release, before, [redact(line) for line in changes], len(chosen), readings, run_id)


def _new_regions(traffic: list[TracedCalls], release: str) -> dict[int, int]:
    """Region -> its traces of `release`, for each region with traces of it and none of an earlier release."""
    order = release_order(traffic)
    earlier = set(order[:order.index(release)])
    of_release: dict[int, int] = {}
    old = set()
    for trace in traffic:
        if trace.cluster_id is None or trace.cluster_id == NOISE:
            continue
        if trace.release == release:
            of_release[trace.cluster_id] = of_release.get(trace.cluster_id, 0) + 1
        elif trace.release in earlier:
            old.add(trace.cluster_id)
    return {cluster_id: count for cluster_id, count in sorted(of_release.items()) if cluster_id not in old}


def _spread(chosen: list[TracedCalls], reasons: dict[str, list[str]], n: int) -> list[TracedCalls]:
    """At most `n`, flagged ones first, then the rest, each tier taken one region at a time (the
    region with the most telling trace first); within a region, the traces with the most reasons first."""
    def rank(trace: TracedCalls) -> tuple[Any, ...]:
        return -len(reasons[trace.trace_id]), trace.trace_id

    picked: list[TracedCalls] = []
    for flagged in (True, False):
        regions: dict[int | None, list[TracedCalls]] = {}
        for trace in sorted((t for t in chosen if bool(t.flags) == flagged), key=rank):
            regions.setdefault(trace.cluster_id, []).append(trace)
        queues = [deque(members) for _, members in sorted(regions.items(), key=lambda item: rank(item[1][0]))]
        while queues and len(picked) < n:
            for queue in queues:
                if queue and len(picked) < n:
                    picked.append(queue.popleft())
            queues = [queue for queue in queues if queue]
    return picked


# ---- writing it out -----------------------------------------------------------------------------

def reading_records(store: Store, reading: ReadingList, *, redactor: Redactor | None = None) -> list[dict[str, Any]]:
    """Each trajectory on the list whole, as the reading file holds it: redacted."""
    redactor = redactor or Redactor()
    documents = trace_documents(store, [item.trace_id for item in reading.readings])
    records = []
    for position, item in enumerate(reading.readings, start=1):
        document = documents[item.trace_id]
        record = {
            "position": position, "trace_id": item.trace_id, "release": reading.release,
            "cluster_id": item.cluster_id, "flags": item.flags, "reasons": item.reasons,
            "timestamp": document["timestamp"], "input": document["input"], "output": document["output"],
            **{name: json.loads(document[name] or "null") for name in ("steps", "messages", "metadata", "feedback")},
        }
        records.append(redactor.redact_fields(record, READ_TEXT))
    return records


def write_reading_list(store: Store, reading: ReadingList, out_dir: str | Path, *,
                       redactor: Redactor | None = None) -> tuple[Path, Path]:
    """`<release>.jsonl` and `<release>.html` in `out_dir`, each written whole or not at all."""
    records = reading_records(store, reading, redactor=redactor)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^\w.-]+", "_", reading.release)
    jsonl, html = out_dir / f"{stem}.jsonl", out_dir / f"{stem}.html"
    write_atomically(jsonl, "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))
    write_atomically(html, render_reading_list(reading, records))
    return jsonl, html


def queue_reading_list(store: Store, reading: ReadingList, *, run_id: str) -> int:
    """Queue the list's traces for labelling, in reading order (priority 2 falling to 1: each stands
    for itself); a trace queued before, ever, is left where it is. How many were queued. `run_id`:
    the mining run the list read (its regions are what the queue's draft checks look up), else the
    run that queues them."""
    queued = already_queued(store)
    count = len(reading.readings)
    picks = [QueuePick(item.trace_id, NOISE if item.cluster_id is None else item.cluster_id,
                       f"review of {reading.release}: {'; '.join(item.reasons)}", 1 + (count - position) / count)
             for position, item in enumerate(reading.readings) if item.trace_id not in queued]
    with store.transaction():
        enqueue(store, picks, run_id=run_id)
    return len(picks)


def _calls_in(message: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, arguments as text) of each tool call a chat message makes (OpenAI's or τ²-bench's shape)."""
    calls = []
    for call in message.get("tool_calls") or []:
        function = (call.get("function") or call) if isinstance(call, dict) else {}
        arguments = function.get("arguments")
        calls.append((str(function.get("name")), arguments if isinstance(arguments, str) else
                      json.dumps(arguments, indent=1, ensure_ascii=False)))
    return calls


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, indent=1, ensure_ascii=False)


def render_reading_list(reading: ReadingList, records: list[dict[str, Any]]) -> str:
    """One HTML page that opens offline: what changed, then each trajectory in full."""
    from jinja2 import Environment

    environment = Environment(autoescape=True)
    environment.filters.update(text=message_text, calls=_calls_in, shown=_shown)
    return environment.from_string(TEMPLATE).render(
        reading=reading, records=records, generated=f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")


TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Reading list for {{ reading.release }}</title>
<style>
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2d3d; margin: 0 auto;
       max-width: 1000px; padding: 24px; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 40px; border-bottom: 1px solid #dde; }
.meta { color: #667; } .why { background: #f4f6f8; border-radius: 6px; padding: 6px 12px 6px 28px; }
.tag { background: #fde2e4; color: #a4161a; border-radius: 4px; padding: 1px 6px; font-size: 12px; }
.turn { margin: 8px 0; padding: 6px 10px; border-left: 3px solid #ccd; } .turn b { font-size: 13px; color: #556; }
.user { border-color: #4c9f70; } .assistant { border-color: #1f6fb2; } .tool { border-color: #999; }
.system, .developer { border-color: #d1a000; } .failed { border-color: #d1495b; background: #fdf3f4; }
pre { white-space: pre-wrap; word-break: break-word; margin: 4px 0; font-size: 13px; max-height: 24em;
      overflow: auto; background: #fafbfc; padding: 4px 6px; }
</style></head><body>
<h1>Reading list for {{ reading.release }}</h1>
<p class="meta">{{ records | length }} of the {{ reading.candidates }} traces of {{ reading.release }} that went
through what changed since {{ reading.previous_release }} · flagged ones first, spread across regions · text
redacted · generated {{ generated }}</p>
<h2>What changed</h2>
<ul>{% for line in reading.changes %}<li>{{ line }}</li>{% else %}<li>Nothing that a trace went through.</li>
{% endfor %}</ul>
{% for r in records %}
<h2 id="{{ r.trace_id }}">{{ r.position }}. {{ r.trace_id }}</h2>
<p class="meta">{{ "region %s" % r.cluster_id if r.cluster_id not in (none, -1) else "in no region" }}
{% if r.timestamp %} · {{ r.timestamp }}{% endif %}
{% for flag in r.flags %} <span class="tag">{{ flag }}</span>{% endfor %}</p>
<ul class="why">{% for reason in r.reasons %}<li>{{ reason }}</li>{% endfor %}</ul>
{% if r.messages %}
{% for m in r.messages %}<div class="turn {{ m.role }}{% if m.error %} failed{% endif %}">
{% if m.role in ("system", "developer") %}<details><summary><b>{{ m.role }}</b></summary>
<pre>{{ m.content | text }}</pre></details>{% else %}<b>{{ m.role }}</b>
{% if m.content %}<pre>{{ m.content | text }}</pre>{% endif %}{% endif %}
{% for name, arguments in m | calls %}<pre>→ {{ name }}({{ arguments }})</pre>{% endfor %}</div>{% endfor %}
{% else %}
<div class="turn user"><b>request</b><pre>{{ r.input }}</pre></div>
{% for s in r.steps %}<div class="turn tool{% if s.error %} failed{% endif %}"><b>{{ s.type }}: {{ s.name }}</b>
<pre>{{ s.arguments | shown }}</pre>{% if s.error %}<pre>error: {{ s.error | shown }}</pre>
{% elif s.result is not none %}<pre>{{ s.result | shown }}</pre>{% endif %}</div>{% endfor %}
<div class="turn assistant"><b>answer</b><pre>{{ r.output }}</pre></div>
{% endif %}
{% endfor %}
</body></html>
"""
