"""The labelling queue through a real Label Studio server and back, in each of its export forms.

Run by hand (Label Studio is not a project dependency: install it in a venv of its own):

    python3 -m venv /tmp/ls-venv && /tmp/ls-venv/bin/pip install label-studio==1.23.2
    python benchmarks/labelstudio_roundtrip.py --label-studio /tmp/ls-venv/bin/label-studio [--write-fixtures]

It builds a store of five short agent traces (chat messages with tool calls, a call id that
repeats, a failed step) and one eval case, queues them, exports the
queue as Label Studio tasks, serves Label Studio on 127.0.0.1 (a fresh data folder, stopped at the
end), creates a project with the queue's labelling config (Label Studio validates it), imports the
tasks, annotates them as a labeller would (checks as JSON, a text answer with notes, a skip, an
older and a newer annotation on one task, one covered by the eval case), exports JSON, JSON_MIN and CSV, and
imports each export into its own copy of the store. It prints the labels each import stored and
exits 1 unless all three are the same and as annotated. `--write-fixtures` saves the three exports
under tests/fixtures/ (with the traces, labelstudio_traces.jsonl) for
tests/label/test_label_studio_exports.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness_evals.ingest import ingest_file  # noqa: E402
from harness_evals.label.labels import import_labels  # noqa: E402
from harness_evals.label.queue import LABEL_STUDIO_CONFIG, enqueue, export_queue  # noqa: E402
from harness_evals.records import QueuePick  # noqa: E402
from harness_evals.store import Store  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures"  # --write-fixtures saves the exports here
LABELLER = "ana@example.com"
EXPORTS = {"JSON": "labelstudio_export.json", "JSON_MIN": "labelstudio_export_min.json",
           "CSV": "labelstudio_export.csv"}


def agent_trace(trace_id: str, request: str, tool: str, result: str, answer: str) -> dict:
    call = {"id": "call_1", "type": "function", "function": {"name": tool, "arguments": '{"order": "W1"}'}}
    return {"trace_id": trace_id, "timestamp": "2026-11-20T10:00:00Z", "input": request, "output": answer,
            "messages": [{"role": "system", "content": "You are a support agent."},
                         {"role": "user", "content": request},
                         {"role": "assistant", "content": None, "tool_calls": [call]},
                         {"role": "tool", "tool_call_id": "call_1", "content": result},
                         {"role": "user", "content": "And the other one?"},
                         {"role": "assistant", "content": None, "tool_calls": [call]},  # the same call id again
                         {"role": "tool", "tool_call_id": "call_1", "content": result},
                         {"role": "assistant", "content": answer}],
            "steps": [{"name": tool, "arguments": {"order": "W1"}, "result": result},
                      {"name": tool, "arguments": {"order": "W1"}, "result": result,
                       "error": result if result.startswith("Error") else None}],
            "metadata": {"reward": 0.0}}


TRACES = [agent_trace("t1", "Book me the 9am flight to Seattle.", "book_reservation",
                      "Error: payment amount does not add up", "Your flight is booked."),
          agent_trace("t2", "What is the change fee?", "get_reservation_details", '{"fee": 50}', "The fee is 50 USD."),
          agent_trace("t3", "hello?", "get_user_details", '{"name": "Mia"}', "Hi Mia."),
          agent_trace("t4", "Cancel order W1.", "cancel_order", '{"status": "cancelled"}', "Order W1 is cancelled."),
          agent_trace("t5", "Please cancel W1.", "cancel_order", '{"status": "cancelled"}', "Done.")]
EVAL_CASES = [{"id": "e-cancel", "input": "Cancel my order."}]  # t5 is labelled covered by it

def build_store(path: Path, folder: Path) -> list[str]:
    """A store with TRACES queued; their ids in queue order."""
    traces = folder / "traces.jsonl"
    traces.write_text("".join(json.dumps(trace) + "\n" for trace in TRACES))
    evals = folder / "evals.jsonl"
    evals.write_text("".join(json.dumps(case) + "\n" for case in EVAL_CASES))
    with Store(path) as store:
        ingest_file(store, traces, kind="production")
        ingest_file(store, evals, kind="eval")
        trace_ids = [trace["trace_id"] for trace in TRACES]
        enqueue(store, [QueuePick(trace_id, 1, "cluster 1", float(len(trace_ids) - n))
                        for n, trace_id in enumerate(trace_ids)], run_id="run-1")
    return trace_ids


def annotations_for(trace_ids: list[str]) -> dict[str, list[dict]]:
    """What the labeller does to each task, in order (several annotations: the last is newest)."""
    def result(verdict: str | None = None, expected: str | None = None, notes: str | None = None,
               covered_by: str | None = None) -> list[dict]:
        made = []
        if verdict:
            made.append({"from_name": "verdict", "to_name": "conversation", "type": "choices",
                         "value": {"choices": [verdict]}})
        for name, text in (("expected", expected), ("notes", notes), ("covered_by", covered_by)):
            if text:
                made.append({"from_name": name, "to_name": "conversation", "type": "textarea",
                             "value": {"text": [text]}})
        return made

    first, second, third, fourth, fifth = trace_ids[:5]
    return {
        first: [result("fail", '{"required_tools": ["book_reservation"], "not_contains": ["booked"]}')],
        second: [result("pass", "Tells the user the fee first.\nThen asks to confirm.", "a two-line answer")],
        third: [result("skip")],
        fourth: [result("fail", '{"contains": ["older"]}'), result("pass", '{"contains": ["newer"]}')],
        fifth: [result(covered_by="e-cancel")],
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LabelStudio:
    """A Label Studio server on 127.0.0.1 with a fresh data folder and one user."""

    def __init__(self, executable: str, folder: Path) -> None:
        self.port, self.token = free_port(), "harness-evals-roundtrip-token"
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true", "LABEL_STUDIO_BASE_DATA_DIR": str(folder),
               "NO_PROXY": "127.0.0.1", "DJANGO_DB": "sqlite"}
        folder.mkdir(parents=True, exist_ok=True)
        self.log = (folder / "server.log").open("w")
        self.process = subprocess.Popen(
            [executable, "start", "--no-browser", "--host", "127.0.0.1", "--port", str(self.port),
             "--data-dir", str(folder), "--username", LABELLER, "--password", "roundtrip-password",
             "--user-token", self.token, "--agree-fix-sqlite"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        for _ in range(240):  # migrations on first start take a while
            try:
                self.call("GET", "/api/version")
                return
            except (urllib.error.URLError, ConnectionError):
                if self.process.poll() is not None:
                    raise SystemExit(f"Label Studio exited with {self.process.returncode}: see {folder / 'server.log'}")
                time.sleep(1)
        raise SystemExit(f"Label Studio did not answer in 240 s: see {folder / 'server.log'}")

    def call(self, method: str, path: str, body: object = None) -> bytes:
        request = urllib.request.Request(self.url + path, method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Authorization": f"Token {self.token}",
                                                  "Content-Type": "application/json"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
        with opener.open(request, timeout=120) as response:
            return response.read()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def stored_labels(path: Path) -> list[tuple]:
    with Store(path) as store:
        return store.con.execute("SELECT trace_id, state, expected, verdict, notes, labeller, covered_by "
                                 "FROM labelling_queue ORDER BY trace_id").fetchall()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label-studio", default=shutil.which("label-studio"), help="the label-studio executable")
    parser.add_argument("--write-fixtures", action="store_true", help="save the three exports under tests/fixtures/")
    args = parser.parse_args()
    if not args.label_studio:
        parser.error("no label-studio executable: install label-studio in a venv and pass --label-studio")

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        store_path = folder / "harness.duckdb"
        trace_ids = build_store(store_path, folder)
        with Store(store_path) as store:
            export_queue(store, folder / "tasks.json", format="labelstudio")
        server = LabelStudio(args.label_studio, folder / "label-studio")
        try:
            version = json.loads(server.call("GET", "/api/version")).get("release")
            project = json.loads(server.call("POST", "/api/projects", {"title": "harness-evals roundtrip",
                                                                      "label_config": LABEL_STUDIO_CONFIG}))
            server.call("POST", f"/api/projects/{project['id']}/import",
                        json.loads((folder / "tasks.json").read_text()))
            tasks = json.loads(server.call("GET", f"/api/tasks?project={project['id']}&page_size=100"))["tasks"]
            by_trace = {task["data"]["trace_id"]: task["id"] for task in tasks}
            for trace_id, annotated in annotations_for(trace_ids).items():
                for made in annotated:
                    server.call("POST", f"/api/tasks/{by_trace[trace_id]}/annotations", {"result": made})
                    time.sleep(1.1)  # newer by created_at, which the flat exports sort by
            user_id = str(json.loads(server.call("GET", "/api/current-user/whoami"))["id"])
            exports = {("export", kind): server.call("GET", f"/api/projects/{project['id']}/export?exportType={kind}")
                       for kind in EXPORTS}
            exports |= {("snapshot", kind): body for kind, body in snapshot_exports(server, project["id"]).items()}
        finally:
            server.stop()

        results = {}
        for (how, kind), body in exports.items():
            copy = folder / f"{how}-{kind}.duckdb"
            shutil.copy(store_path, copy)
            export_path = folder / f"{how}-{EXPORTS[kind]}"
            export_path.write_bytes(body)
            with Store(copy) as store:
                report = import_labels(store, export_path)
            results[how, kind] = stored_labels(copy)
            print(f"{how} {kind}: applied {report.applied}, skipped {report.skipped}, covered {report.covered}, "
                  f"blank {report.blank}, "
                  f"refused {[(r.line, r.reason) for r in report.refused]}")
            if args.write_fixtures:
                shutil.copy(folder / "traces.jsonl", FIXTURES / "labelstudio_traces.jsonl")
                (FIXTURES / (EXPORTS[kind] if how == "export" else EXPORTS[kind].replace("export", "snapshot"))
                 ).write_bytes(body)

    print(f"Label Studio {version}: the labels each export stored")
    ok = True
    for how, labeller in (("export", user_id), ("snapshot", LABELLER)):
        for row in results[how, "JSON"]:
            print("  ", how, row)
        same = results[how, "JSON"] == results[how, "JSON_MIN"] == results[how, "CSV"]
        first, second, third, fourth, fifth = trace_ids[:5]
        annotated = {(row[0], row[1], row[3], row[5], row[6]) for row in results[how, "JSON"]} == {
            (first, "labelled", "fail", labeller, None), (second, "labelled", "pass", labeller, None),
            (third, "skipped", None, labeller, None), (fourth, "labelled", "pass", labeller, None),
            (fifth, "covered", None, labeller, "e-cancel")}
        print(f"{how}: JSON, JSON_MIN and CSV stored the same labels" if same
              else f"{how}: the forms stored DIFFERENT labels")
        print(f"{how}: as annotated, labeller {labeller}" if annotated else f"{how}: NOT as annotated")
        ok = ok and same and annotated
    return 0 if ok else 1


def snapshot_exports(server: LabelStudio, project: int) -> dict[str, bytes]:
    """The three forms of one export snapshot made with the annotator expanded (its email)."""
    snapshot = json.loads(server.call("POST", f"/api/projects/{project}/exports/", {
        "title": "with annotators", "serialization_options": {"annotations__completed_by": {"only_id": False}}}))
    for kind in EXPORTS:
        if kind != "JSON":
            server.call("POST", f"/api/projects/{project}/exports/{snapshot['id']}/convert", {"export_type": kind})
    bodies = {}
    for kind in EXPORTS:
        for _ in range(120):
            try:
                bodies[kind] = server.call("GET", f"/api/projects/{project}/exports/{snapshot['id']}/download"
                                                  f"?exportType={kind}")
                break
            except urllib.error.HTTPError:  # still converting
                time.sleep(1)
    return bodies


if __name__ == "__main__":
    sys.exit(main())
