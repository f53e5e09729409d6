"""The release reading list: the traces of a release that went through what it changed, and no other."""

import json
import re

import pytest

from harness_evals.errors import UserError
from harness_evals.ingest import ingest_file
from harness_evals.report.review import queue_reading_list, reading_list, write_reading_list
from harness_evals.store import Store
from harness_evals.store.queue import waiting_items
from tests.conftest import write_jsonl
from tests.report.test_tools import FOUND, SYSTEM, chat, mining_run
from tests.test_cli import invoke

WITHOUT_POLICY = SYSTEM.replace("\n# Policy\nNever share card numbers.", "")
assert WITHOUT_POLICY != SYSTEM
BEFORE, AFTER = "2026.11.1", "2026.11.2"
LOOKUP = [("lookup_order", {"order_id": "#W1"}, FOUND)]


def later(trace_id: str, calls: list = LOOKUP, **given) -> dict:
    return chat(trace_id, calls, release=AFTER, created="2026-11-21T10:00:00Z", **given)


@pytest.fixture
def two_releases(store, tmp_path):
    """2026.11.2 drops the Policy block for part of its traffic; the rest keeps 2026.11.1's prompt."""
    rows = [chat(f"a{n}", LOOKUP, release=BEFORE) for n in range(10)]
    rows += [later(f"dropped-{n}", system=WITHOUT_POLICY,
                   request=f"my card 4242 4242 4242 4242 was charged twice, mail jane.doe@example.com ({n})")
             for n in range(4)]
    rows += [later(f"kept-{n}") for n in range(3)]
    ingest_file(store, write_jsonl(tmp_path / "chat.jsonl", rows), kind="production")
    return store


def test_the_list_holds_the_traces_that_got_the_changed_prompt_and_none_that_did_not(two_releases):
    reading = reading_list(two_releases, release=AFTER)
    assert (reading.previous_release, reading.candidates) == (BEFORE, 4)
    assert [item.trace_id for item in reading.readings] == [f"dropped-{n}" for n in range(4)]
    assert {tuple(item.reasons) for item in reading.readings} == {("its prompt changed in 2026.11.2: dropped Policy",)}
    assert len(reading.changes) == 1 and reading.changes[0].endswith("(4 traces): dropped Policy")


def test_traces_that_went_through_a_shift_or_are_in_a_new_region_are_listed_flagged_first_across_regions(two_releases,
                                                                                                   tmp_path):
    failing = [("lookup_order", {"order_id": "#W1"}, "Error: timeout")]
    ingest_file(two_releases, write_jsonl(tmp_path / "more.jsonl", [later(f"failing-{n}", failing) for n in range(6)]),
                kind="production")
    clusters = {f"a{n}": 1 for n in range(10)} | {f"kept-{n}": 1 for n in range(3)}
    clusters |= {f"dropped-{n}": 2 for n in range(4)} | {f"failing-{n}": 3 for n in range(6)}
    run_id = mining_run(two_releases, clusters)
    two_releases.insert("trace_flags", {"run_id": [run_id], "trace_id": ["failing-5"],
                                        "detector": ["error_then_confident_answer"], "reason": ["lookup_order failed"]})
    reading = reading_list(two_releases, release=AFTER, n=5)
    assert reading.candidates == 4 + 6  # kept-* call the tool that shifted, but none of their calls failed
    assert [(item.trace_id, item.cluster_id, item.flags) for item in reading.readings] == [
        ("failing-5", 3, ["error_then_confident_answer"]),  # flagged first
        ("dropped-0", 2, []), ("failing-0", 3, []), ("dropped-1", 2, []), ("failing-1", 3, [])]  # a region at a time
    shifted = ("went through a shift of lookup_order: lookup_order fails in 6 of 13 traces calling it in 2026.11.2, "
               "against 0 of 10 in 2026.11.1")
    assert reading.readings[0].reasons == [shifted, "in region 3, new since 2026.11.2 (6 traces, none before)"]
    assert reading.readings[1].reasons == ["its prompt changed in 2026.11.2: dropped Policy",
                                           "in region 2, new since 2026.11.2 (4 traces, none before)"]
    assert reading.changes[1:] == ["lookup_order fails in 6 of 13 traces calling it in 2026.11.2, against 0 of 10 in "
                                   "2026.11.1",
                                   "region 2 is new since 2026.11.2: 4 traces of 2026.11.2, none before",
                                   "region 3 is new since 2026.11.2: 6 traces of 2026.11.2, none before"]


def test_the_reading_file_is_redacted_jsonl_and_one_offline_html_page(two_releases, tmp_path):
    reading = reading_list(two_releases, release=AFTER)
    jsonl, html = write_reading_list(two_releases, reading, tmp_path / "review")
    assert (jsonl.name, html.name) == ("2026.11.2.jsonl", "2026.11.2.html")
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [(r["position"], r["trace_id"], r["release"]) for r in records] == [
        (n + 1, f"dropped-{n}", AFTER) for n in range(4)]
    assert records[0]["input"] == "my card <CARD_1> was charged twice, mail <EMAIL_1> (0)"
    assert records[0]["messages"][1]["content"] == records[0]["input"]  # numbered alike across the trace
    assert records[0]["steps"][0]["name"] == "lookup_order"
    page = html.read_text()
    assert "4242" not in page and "jane.doe" not in page and "&lt;EMAIL_1&gt;" in page
    assert "→ lookup_order(" in page and "dropped Policy" in page
    assert "<script" not in page and not re.search(r"""(src|href)=["']?(https?:)?//""", page)


def test_queueing_the_list_enters_each_trace_once_ever(two_releases):
    reading = reading_list(two_releases, release=AFTER)
    with two_releases.run("review", {}) as run:
        assert queue_reading_list(two_releases, reading, run_id=run.run_id) == 4
    with two_releases.run("review", {}) as run:
        assert queue_reading_list(two_releases, reading, run_id=run.run_id) == 0
    items = waiting_items(two_releases)
    assert [(item["trace_id"], item["cluster_id"]) for item in items] == [(f"dropped-{n}", -1) for n in range(4)]
    assert items[0]["reason"] == "review of 2026.11.2: its prompt changed in 2026.11.2: dropped Policy"


def test_the_first_release_has_nothing_to_compare_with(two_releases):
    with pytest.raises(UserError, match=r"release '2026.11.1' is the first in the store \(2026.11.1, 2026.11.2\)"):
        reading_list(two_releases, release=BEFORE)


def test_the_review_command_writes_the_list_and_queues_it_when_asked(two_releases, tmp_path):
    db = two_releases.path
    two_releases.close()
    result = invoke("review", "--release", AFTER, "--n", "2", "--out", tmp_path / "out", "--db", db)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"2026.11.2 against 2026.11.1: 4 traces went through what changed; 2 to read -> "
                                    f"{tmp_path / 'out' / '2026.11.2.jsonl'}")
    assert "  1. dropped-0 (no region): its prompt changed in 2026.11.2: dropped Policy" in result.output
    with Store(db, read_only=True) as store:
        assert waiting_items(store) == []
    result = invoke("review", "--release", AFTER, "--out", tmp_path / "out", "--queue", "--db", db)
    assert result.exit_code == 0, result.output
    assert "queued 4" in result.output
    with Store(db, read_only=True) as store:
        assert len(waiting_items(store)) == 4
        assert store.one("SELECT status, summary->>'$.queued' FROM runs WHERE kind = 'review'") == ("succeeded", "4")
    result = invoke("review", "--release", "2026.10", "--db", db)
    assert (result.exit_code, result.output.strip()) == (
        2, "error: no trace of release '2026.10'; releases: 2026.11.1, 2026.11.2")


def test_a_queued_reading_belongs_to_the_mining_run_whose_regions_it_names(two_releases, tmp_path):
    run_id = mining_run(two_releases, {f"dropped-{n}": 2 for n in range(4)})
    db = two_releases.path
    two_releases.close()
    result = invoke("review", "--release", AFTER, "--out", tmp_path / "out", "--queue", "--db", db)
    assert result.exit_code == 0, result.output
    with Store(db, read_only=True) as store:
        # the queue's draft checks look a region up in the run that queued the trace
        assert store.con.execute("SELECT DISTINCT run_id, cluster_id FROM labelling_queue").fetchall() == [(run_id, 2)]
