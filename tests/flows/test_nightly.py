"""The nightly flow end to end: real Prefect (test harness), real DuckDB file, real MiniLM model."""

import json
import logging
import re
from collections import Counter

import pytest
from prefect.testing.utilities import prefect_test_harness

from flows import EPHEMERAL_STARTUP_TIMEOUT_SECONDS
from flows.nightly import nightly
from harness_evals.config import MineSettings, Settings, Source
from tests.conftest import SAMPLE

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def prefect_api():
    with prefect_test_harness(server_startup_timeout=EPHEMERAL_STARTUP_TIMEOUT_SECONDS):
        yield


@pytest.fixture
def settings(tmp_path):
    return Settings(
        sources=[Source(path=SAMPLE / "traces.jsonl", kind="production"),
                 Source(path=SAMPLE / "chat_traces.jsonl", kind="production"),
                 Source(path=SAMPLE / "evals.jsonl", kind="eval")],
        labels=[SAMPLE / "labels.jsonl"],
        queue_out=tmp_path / "queue.jsonl",
        suite_dir=tmp_path / "suites",
        mine=MineSettings(budget=20),
    )


def test_two_nights_on_the_sample(settings, tmp_path):
    db = str(tmp_path / "harness.duckdb")
    first = nightly(settings=settings, db=db)

    assert [(r.stored, len(r.quarantined)) for r in first.ingested] == [(200, 0), (80, 0), (25, 0)]
    assert [r.applied for r in first.labels] == [3]
    suite = [json.loads(line) for line in first.emitted.suite_path.read_text().splitlines()]
    assert sorted(case["metadata"]["provenance"]["trace_id"] for case in suite) == [
        "tau2-telecom-001", "tau2-telecom-003", "tau2-telecom-007"
    ]
    assert first.emitted.manifest.version == 1

    mined = first.mined
    # 308 texts, 254 distinct: eval cases repeat production requests, and so do the emitted cases
    assert (mined.traces, mined.eval_cases, mined.embedded) == (280, 28, 254)
    assert len(mined.picks) == 20 == first.queued
    picked = {p.trace_id for p in mined.picks}
    assert not picked & {"tau2-telecom-001", "tau2-telecom-003", "tau2-telecom-007"}
    # the eval set covers none of telecom and 5 of 40 retail tasks: most picks go there; airline picks
    # are requests no eval case is near, or flagged by a silent-failure detector
    assert sum(not trace_id.startswith("tau-airline") for trace_id in picked) >= 12
    queue = {item["trace_id"]: item for item in map(json.loads, settings.queue_out.read_text().splitlines())}
    kinds = Counter()
    for pick in mined.picks:
        shown = queue[pick.trace_id]["nearest_case"]
        if pick.reason.startswith("not covered: "):  # no eval case within the ruler's cosine
            nearest = re.match(rf"not covered: no eval case within {re.escape(mined.ruler.name)} "
                               r"\(the nearest is (\S+), at (\d\.\d\d)\)", pick.reason)
            assert nearest and float(nearest[2]) < mined.covered_similarity
            assert (shown["case_id"], f"{shown['similarity']:.2f}") == (nearest[1], nearest[2])
            kinds["none within"] += 1
        elif pick.reason.startswith(f"not covered ({mined.ruler.name}): "):  # within it, but outside the case's reach
            apart = re.search(r"the nearest eval case (\S+) is at (\d\.\d\d), but this trace is one of \d+ "
                              r"phrasings linked at cosine 0\.70 that the case is not linked to", pick.reason)
            assert apart and float(apart[2]) >= mined.covered_similarity
            assert (shown["case_id"], f"{shown['similarity']:.2f}") == (apart[1], apart[2])
            kinds["out of reach"] += 1
        else:  # covered, and picked for what a detector found
            assert pick.reason.startswith("covered by eval case ") and "; flagged: " in pick.reason
            kinds["covered"] += 1
    assert kinds["none within"] and kinds["out of reach"]  # the default judge, local-reach, draws both lines
    assert set(queue) == picked and len(queue) == len(mined.picks)
    priorities = [item["priority"] for item in queue.values()]
    assert priorities == sorted(priorities, reverse=True)  # exported highest priority first

    second = nightly(settings=settings, db=db)
    assert [r.stored for r in second.ingested] == [0, 0, 0]
    assert [(r.applied, r.unchanged) for r in second.labels] == [(0, 3)]
    assert (second.emitted.new_cases, second.emitted.manifest.version) == (0, 1)
    assert second.mined.embedded == 0
    assert not picked & {p.trace_id for p in second.mined.picks}
    assert (second.mined.mode, second.mined.new_traces) == ("incremental", 0)
    assert (mined.ruler.ruler_id, second.mined.ruler.ruler_id, second.mined.ruler.fresh) == ("r1", "r1", False)

    weekly = nightly(settings=settings, db=db, full=True)
    assert weekly.mined.mode == "full"
    assert {row.event for row in weekly.mined.lineage} <= {"steady", "grew", "shrank", "split", "merged", "new", "gone"}
    assert weekly.mined.emerging == []  # nothing arrived since the night before


def test_the_bundled_prefect_yaml_deploys_this_flow_with_parameters_it_takes():
    import inspect

    import yaml

    from tests.conftest import REPO

    config = yaml.safe_load((REPO / "prefect.yaml").read_text())
    taken = set(inspect.signature(nightly.fn).parameters)
    for deployment in config["deployments"]:
        assert deployment["entrypoint"] == "flows/nightly.py:nightly"
        assert set(deployment["parameters"]) <= taken
    assert {d["name"]: d["parameters"] for d in config["deployments"]} == {"nightly": {}, "weekly-full": {"full": True}}


def test_a_mistake_to_fix_is_not_retried_but_io_trouble_is(settings, tmp_path, monkeypatch):
    from prefect.states import Failed

    import flows.nightly as nightly_module
    from harness_evals.ingest import IngestError

    calls = []
    ingest = nightly_module.ingest_file
    monkeypatch.setattr(nightly_module, "ingest_file", lambda *args, **kwargs: calls.append(args[1]) or ingest(*args, **kwargs))
    settings.sources = [Source(path=tmp_path / "gone.jsonl", kind="production")]
    with pytest.raises(IngestError, match="gone.jsonl: no such file"):
        nightly(settings=settings, db=str(tmp_path / "h.duckdb"))
    assert calls == [tmp_path / "gone.jsonl"]  # once: the retries are for I/O trouble
    assert nightly_module.unless_user_error(None, None, Failed(data=OSError("disk went away")))


@pytest.mark.parametrize("mistake", ["a source file gone", "nothing to mine", "a namer that is not there"])
def test_a_mistake_to_fix_ends_the_run_failed_with_its_message_and_no_traceback(mistake, settings, tmp_path):
    if mistake == "a source file gone":  # found by an ingest task
        settings.sources = [Source(path=tmp_path / "gone.jsonl", kind="production")]
        message = f"{tmp_path / 'gone.jsonl'}: no such file"
    elif mistake == "nothing to mine":  # found by the mining subflow
        settings.sources, settings.labels = [], []
        message = "no production traces in the store: run `harness-evals ingest PATH --kind production` first"
    else:  # found before anything runs
        settings.namer = "no_such_module:name"
        message = "namer 'no_such_module:name': cannot import no_such_module: No module named 'no_such_module'"
    tracebacks = TracebackRecords()
    logging.getLogger("prefect").addHandler(tracebacks)  # flow and task run logs end there
    try:
        state = nightly(settings=settings, db=str(tmp_path / "h.duckdb"), return_state=True)
    finally:
        logging.getLogger("prefect").removeHandler(tracebacks)
    assert state.is_failed()
    assert state.message == message  # not "Flow run encountered an exception: ..."
    assert tracebacks.logged == []


class TracebackRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.logged: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.logged.append(record.getMessage())
