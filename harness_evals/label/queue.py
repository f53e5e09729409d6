"""The labelling queue: a mining run's picks enter it, and it goes out for labelling.

A trace enters the queue once, ever, and moves queued → labelled → emitted, or queued → skipped;
each move is recorded in `queue_events` with its run. QUEUE_FORMATS write the queue (JSONL, CSV,
Label Studio tasks); a format from outside the package is an entry point in
`harness_evals.queue_formats`, or `module:function`. Labels come back through `label.labels`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from harness_evals.records import QueuePick
from harness_evals.redact import Redactor
from harness_evals.registry import Registry
from harness_evals.store import Store
from harness_evals.store.queue import queued_trace_ids, waiting_items

FIELDS_TO_FILL = ("expected", "verdict", "notes", "skip")
EXPORTED_TEXT = ("input", "output", "metadata")
LABEL_STUDIO_CONFIG = """<View>
  <Header value="$reason"/>
  <Text name="input" value="$input"/>
  <Text name="output" value="$output"/>
  <Choices name="verdict" toName="input" choice="single">
    <Choice value="pass"/><Choice value="fail"/><Choice value="skip"/>
  </Choices>
  <TextArea name="expected" toName="input" placeholder="What should the agent have done? Text, or a JSON object of checks"/>
  <TextArea name="notes" toName="input"/>
</View>"""


def already_queued(store: Store) -> set[str]:
    return queued_trace_ids(store)


def record_events(store: Store, trace_ids: Sequence[str], *, state: str, run_id: str) -> None:
    count = len(trace_ids)
    store.insert("queue_events", {"trace_id": list(trace_ids), "state": [state] * count, "run_id": [run_id] * count,
                                  "happened_at": [datetime.now(timezone.utc)] * count})


def enqueue(store: Store, picks: Sequence[QueuePick], *, run_id: str) -> None:
    """Add picks in state `queued` (the label columns are left NULL). Call inside the run's transaction."""
    count = len(picks)
    store.insert("labelling_queue", {
        "trace_id": [p.trace_id for p in picks],
        "run_id": [run_id] * count,
        "cluster_id": [p.cluster_id for p in picks],
        "reason": [p.reason for p in picks],
        "priority": [p.priority for p in picks],
        "state": ["queued"] * count,
    })
    record_events(store, [p.trace_id for p in picks], state="queued", run_id=run_id)


def queued_items(store: Store) -> list[dict[str, Any]]:
    """Every queued trace, highest priority first, with the fields a labeller fills in left empty."""
    items = []
    for item in waiting_items(store):
        item["priority"] = round(item["priority"], 4)
        item["metadata"] = json.loads(item["metadata"])
        items.append({**item, **dict.fromkeys(FIELDS_TO_FILL)})
    return items


def _write_jsonl(items: list[dict[str, Any]], handle: TextIO) -> None:
    handle.writelines(json.dumps(item, ensure_ascii=False) + "\n" for item in items)


def _write_csv(items: list[dict[str, Any]], handle: TextIO) -> None:
    writer = csv.DictWriter(handle, fieldnames=list(items[0]) if items else ["trace_id", *FIELDS_TO_FILL])
    writer.writeheader()
    writer.writerows({**item, "metadata": json.dumps(item["metadata"], ensure_ascii=False)} for item in items)


def _write_label_studio(items: list[dict[str, Any]], handle: TextIO) -> None:
    """Label Studio tasks: import with LABEL_STUDIO_CONFIG as the labelling interface."""
    tasks = [{"data": {k: v for k, v in item.items() if k not in FIELDS_TO_FILL}} for item in items]
    json.dump(tasks, handle, ensure_ascii=False, indent=1)


# A queue format writes the queued items (queued_items, redacted) to a UTF-8 text file opened with newline="".
QueueWriter = Callable[[list[dict[str, Any]], TextIO], None]
QUEUE_FORMATS: Registry[QueueWriter] = Registry("queue format", "harness_evals.queue_formats", {
    "jsonl": _write_jsonl, "csv": _write_csv, "labelstudio": _write_label_studio})


def export_queue(store: Store, out: str | Path, *, format: str = "jsonl", redactor: Redactor | None = None) -> int:
    """Write the queue for labelling; the same file, filled in, is what `import_labels` reads.

    Text is redacted (default rules unless `redactor` says otherwise): the file leaves the store."""
    write = QUEUE_FORMATS.get(format)
    redactor = redactor or Redactor()
    items = [redactor.redact_fields(item, EXPORTED_TEXT) for item in queued_items(store)]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as handle:
        write(items, handle)
    return len(items)
