"""Every notebook runs top to bottom on a store like the one `make run` fills."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from harness_evals.mine.embed import HashingEmbedder
from harness_evals.ingest import ingest_file
from harness_evals.label.labels import import_labels
from harness_evals.mine.pipeline import mine
from harness_evals.store import Store
from tests.conftest import REPO, SAMPLE

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> Path:
    """The bundled sample, mined on two nights (the fast embedder: the notebooks test the notebooks)."""
    db = tmp_path_factory.mktemp("notebooks") / "harness.duckdb"
    with Store(db) as store:
        ingest_file(store, SAMPLE / "traces.jsonl", kind="production")
        ingest_file(store, SAMPLE / "evals.jsonl", kind="eval")
        mine(store, budget=10, embedder=HashingEmbedder(128))
        ingest_file(store, SAMPLE / "chat_traces.jsonl", kind="production")
        import_labels(store, SAMPLE / "labels.jsonl")
        mine(store, budget=10, embedder=HashingEmbedder(128))
    return db


def test_there_are_notebooks_for_gaps_the_queue_and_trends():
    assert [path.stem for path in NOTEBOOKS] == ["01_clusters_and_gaps", "02_labelling_queue", "03_coverage_over_time"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_the_notebook_runs_top_to_bottom(path, sample_db, monkeypatch):
    monkeypatch.setenv("HARNESS_EVALS_DB", str(sample_db))
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [output for cell in notebook.cells for output in cell.get("outputs", []) if output.output_type == "error"]
    assert errors == []
    assert all(cell.outputs for cell in notebook.cells if cell.cell_type == "code")  # every cell shows something
