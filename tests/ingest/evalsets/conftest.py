import json
import shutil
from pathlib import Path

import pytest

from harness_evals.ingest import ingest_file
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "fixtures"


@pytest.fixture
def fixture_copy(tmp_path):
    """A fixture file copied into the test's folder (with the files it names, if given)."""

    def copy(name: str, *others: str) -> Path:
        for other in others:
            shutil.copy(FIXTURES / other, tmp_path / other)
        return Path(shutil.copy(FIXTURES / name, tmp_path / name))

    return copy


@pytest.fixture
def ingest_eval(store):
    """Ingest an eval set; the report, and the cases of that file in file order, each as
    {id, input, expected, metadata, messages} with the JSON columns decoded."""

    def ingest(path, **options):
        report = ingest_file(store, path, kind="eval", **options)
        rows = store.con.execute("SELECT case_id, input, expected, metadata, messages FROM eval_cases WHERE source = ? "
                                 "ORDER BY rowid", [str(path)]).fetchall()
        cases = [{"id": case_id, "input": text, "expected": _decoded(expected), "metadata": json.loads(metadata),
                  "messages": _decoded(messages)} for case_id, text, expected, metadata, messages in rows]
        return report, cases

    return ingest


def _decoded(value):
    return None if value is None else json.loads(value)
