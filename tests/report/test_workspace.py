import json

import pytest

from harness_evals import Workspace
from harness_evals.mine.embed import HashingEmbedder
from harness_evals.errors import UserError
from harness_evals.ingest import ingest_file
from harness_evals.mine.pipeline import mine
from harness_evals.store import Store
from tests.conftest import topic_traces, write_jsonl


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "h.duckdb"
    with Store(path) as store:
        ingest_file(store, write_jsonl(tmp_path / "t.jsonl", topic_traces()), kind="production")
        mine(store, budget=3, embedder=HashingEmbedder(64), min_cluster_size=3, dimensions=8, covered_similarity=0.6)
    return path


def test_a_notebook_reads_runs_clusters_assignments_and_the_queue(db):
    with Workspace(db) as workspace:
        assert workspace.runs().column("kind").to_pylist() == ["ingest", "mine"]
        assert sum(workspace.clusters().column("production_count").to_pylist()) == 24
        assert workspace.assignments().num_rows == 24
        queue = workspace.queue()
        assert queue.num_rows == 3 and set(queue.column("state").to_pylist()) == {"queued"}
        assert workspace.flags().column_names == ["trace_id", "detector", "reason", "cluster_id"]
        assert workspace.trend().num_rows == 1 and workspace.summary()["traces"] == 24
        assert sum(d.size for d in workspace.describe()) == 24
        assert set(workspace.lineage().column("event").to_pylist()) == {"new"}


def test_labelling_needs_a_writable_workspace_and_then_works_like_an_import(db):
    with Workspace(db) as workspace:
        trace_id = workspace.queue().column("trace_id")[0].as_py()
        with pytest.raises(UserError, match="read-only"):
            workspace.label(trace_id, {"contains": ["x"]})
    with Workspace(db, writable=True) as workspace:
        assert workspace.label(trace_id, {"contains": ["reset"]}, verdict="fail", labeller="ana").applied == 1
        with pytest.raises(UserError, match="already labelled differently"):
            workspace.label(trace_id, "something else")
        assert workspace.queue("labelled").column("trace_id").to_pylist() == [trace_id]
        assert workspace.queue(None).num_rows == 3


def test_trace_text_is_redacted_unless_raw_is_asked_for(tmp_path):
    path = tmp_path / "h.duckdb"
    with Store(path) as store:
        rows = [{**row, "input": f"{row['input']} from ana@example.com"} for row in topic_traces()]
        ingest_file(store, write_jsonl(tmp_path / "t.jsonl", rows), kind="production")
        mine(store, budget=3, embedder=HashingEmbedder(64), min_cluster_size=3, dimensions=8, covered_similarity=0.6)
    with Workspace(path) as workspace:
        assert all(text.endswith("from <EMAIL_1>") for text in workspace.queue().column("input").to_pylist())
        assert all(text.endswith("from <EMAIL_1>") for text in workspace.assignments().column("input").to_pylist())
        assert all(text.endswith("ana@example.com") for text in workspace.queue(raw=True).column("input").to_pylist())
        queue = workspace.queue()
        assert queue.column_names[-7:] == ["conversation", "steps", "flags", "outcome", "nearest_case", "suggested",
                                           "suggested_from"]
        for request, conversation in zip(queue.column("input").to_pylist(), queue.column("conversation").to_pylist()):
            assert json.loads(conversation)[0] == {"role": "user", "text": request}  # numbered like the request
        assert "ana@example.com" in json.dumps(workspace.queue(raw=True).column("conversation").to_pylist())
