"""Hostile and broken input: every record ends stored or quarantined with a reason; nothing crashes.

HYPOTHESIS_PROFILE=deep runs the property tests with 1,000 examples each instead of 40.
"""

import json
import random
import tempfile
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness_evals.ingest import TRACE_FORMATS, IngestError, TraceFormat, ingest_file
from harness_evals.ingest.framing import MAX_DEPTH, per_line
from harness_evals.records import Trace
from harness_evals.store import Store
from tests.conftest import SAMPLE, trace, write_jsonl

FIXTURES = Path(__file__).parents[1] / "fixtures"
FORMAT_SAMPLES = {
    "canonical": SAMPLE / "traces.jsonl",
    "openai-chat": SAMPLE / "chat_traces.jsonl",
    "otlp": FIXTURES / "otlp_genai.json",
    "tau-bench": FIXTURES / "tau_bench_airline.json",
    "tau2": FIXTURES / "tau2_telecom.json",
    "mint": FIXTURES / "mint_gsm8k.jsonl",
}


def ingest_bytes(data: bytes, format: str):
    """Ingest into a fresh store; return the report and what the store holds."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input"
        path.write_bytes(data)
        with Store(Path(folder) / "h.duckdb") as store:
            report = ingest_file(store, path, kind="production", format=format)
            traces = store.one("SELECT count(*) FROM traces")[0]
            quarantined = store.one("SELECT count(*) FROM quarantine")[0]
    return report, traces, quarantined


def reasons(report) -> list[tuple[int, str]]:
    return [(q.line, q.reason) for q in report.quarantined]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@given(lines=st.lists(
    st.one_of(
        st.builds(lambda n, text: json.dumps(trace(f"t{n}", text or "x")), st.integers(0, 5), st.text(max_size=30)),
        json_values.map(json.dumps),
        st.dictionaries(st.sampled_from(["trace_id", "timestamp", "input", "output", "steps", "metadata"]),
                        json_values).map(json.dumps),
        st.text(max_size=40).filter(lambda s: "\n" not in s and "\r" not in s),
    ),
    max_size=12,
))
def test_any_jsonl_lines_end_stored_unchanged_or_quarantined(lines):
    data = "".join(line.replace("\r", " ") + "\n" for line in lines).encode()
    report, traces, quarantined = ingest_bytes(data, "canonical")
    records = sum(1 for line in data.decode().split("\n") if line.strip())
    assert report.stored + report.unchanged + len(report.quarantined) == records
    assert (traces, quarantined) == (report.stored, len(report.quarantined))
    assert all(q.reason and "\n" not in q.reason for q in report.quarantined)  # one line per record


@given(format=st.sampled_from(sorted(FORMAT_SAMPLES)), seed=st.integers(0, 2**32 - 1),
       mutation=st.sampled_from(["truncate", "flip", "splice"]))
def test_every_reader_survives_a_mutated_real_file(format, seed, mutation):
    data = bytearray(FORMAT_SAMPLES[format].read_bytes())
    rng = random.Random(seed)
    if mutation == "truncate":
        data = data[: rng.randrange(1, len(data))]
    elif mutation == "flip":
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    else:  # a chunk of the file pasted somewhere else: unbalanced brackets, wrong types
        start = rng.randrange(len(data))
        chunk = data[start : start + rng.randint(1, 200)]
        at = rng.randrange(len(data))
        data = data[:at] + chunk + data[at:]
    report, traces, quarantined = ingest_bytes(bytes(data), format)
    assert (traces, quarantined) == (report.stored, len(report.quarantined))
    assert all(q.reason and "\n" not in q.reason for q in report.quarantined)  # one line per record


def test_the_unmutated_samples_load_with_only_their_known_bad_records_quarantined():
    known_bad = {"otlp": [(1, "no user message in any span (gen_ai.input.messages, llm.input_messages, input.value)")]}
    for format, path in FORMAT_SAMPLES.items():
        report, traces, _ = ingest_bytes(path.read_bytes(), format)
        assert report.stored == traces > 0
        assert reasons(report) == known_bad.get(format, []), format


def test_a_50_mib_record_is_quarantined_without_being_held_whole(store, tmp_path):
    path = tmp_path / "huge.jsonl"
    with path.open("w") as handle:
        handle.write(json.dumps(trace("small-1", "hello")) + "\n")
        handle.write(json.dumps(trace("huge", "x" * (50 * 2**20))) + "\n")
        handle.write(json.dumps(trace("small-2", "bye")) + "\n")
    tracemalloc.start()
    report = ingest_file(store, path, kind="production")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert reasons(report) == [(2, "record is 50.0 MiB, over the 16.0 MiB limit: trim large fields "
                                   "(attachments, base64 blobs) in the exporter")]
    assert report.stored == 2
    assert peak < 40 * 2**20  # one 16 MiB piece of the line at a time, never all 50 MiB


def test_invalid_utf8_deep_nesting_and_lone_surrogates_are_quarantined_with_the_fix(store, tmp_path):
    deep = {"trace_id": "deep", "input": "x", "timestamp": None, "metadata": {}}
    node = deep["metadata"]
    for _ in range(MAX_DEPTH + 5):
        node["a"] = {}
        node = node["a"]
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join([
        json.dumps(trace("ok", "fine")).encode(),
        b'{"trace_id": "latin1", "timestamp": null, "input": "caf\xe9"}',
        json.dumps(deep).encode(),
        b"[" * 100_000,
        b'{"trace_id": "surrogate", "timestamp": null, "input": "bad \\ud800 text"}',
    ]) + b"\n")
    report = ingest_file(store, path, kind="production", format="canonical")
    assert report.stored == 1
    assert reasons(report) == [
        (2, "not valid UTF-8 (byte 0xe9 at offset 55): export the file as UTF-8"),
        (3, f"nested more than {MAX_DEPTH} levels deep: flatten the record in the exporter"),
        (4, f"nested more than {MAX_DEPTH} levels deep: flatten the record in the exporter"),
        (5, "holds a lone UTF-16 surrogate ('bad \\ud800 text'), which is not valid Unicode: fix the exporter's "
            "escaping of non-ASCII text"),
    ]


def test_a_lone_surrogate_in_a_one_document_format_is_quarantined_with_its_raw_text_escaped(store, tmp_path):
    """Found by the deep hypothesis profile: a τ²-bench file spliced through an escaped emoji pair."""
    document = json.loads((FIXTURES / "tau2_telecom.json").read_text())
    document["simulations"][0]["id"] = "broken \udcf6 pair"
    path = tmp_path / "tau2.json"
    path.write_text(json.dumps(document))
    report = ingest_file(store, path, kind="production", format="tau2")
    assert [line for line, _ in reasons(report)] == [1]
    assert reasons(report)[0][1].startswith("holds a lone UTF-16 surrogate ('broken \\udcf6 pair')")
    raw = store.one("SELECT raw FROM quarantine")[0]
    assert '"id": "broken \\udcf6 pair"' in raw  # kept, as its JSON escape


def test_wrong_types_name_the_field(store, tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [
        {"trace_id": 7, "timestamp": None, "input": "x"},
        {"trace_id": "a", "timestamp": None, "input": ["not", "text"]},
        {"trace_id": "b", "timestamp": None, "input": "x", "steps": "search"},
    ])
    report = ingest_file(store, path, kind="production", format="canonical")
    assert [line for line, _ in reasons(report)] == [1, 2, 3]
    assert [reason.split(":")[0] for _, reason in reasons(report)] == ["trace_id", "input", "steps"]


def test_timestamps_in_mixed_formats_and_zones_become_the_same_utc_instant(store, tmp_path):
    stamps = ["2026-11-20T10:00:00Z", "2026-11-20T15:30:00+05:30", "2026-11-20 10:00:00", 1795168800,
              1795168800000, "Fri, 20 Nov 2026 05:00:00 -0500"]
    rows = [{**trace(f"t{i}", "x"), "timestamp": stamp} for i, stamp in enumerate(stamps)]
    rows.append({**trace("bad", "x"), "timestamp": "20/11/2026"})
    report = ingest_file(store, write_jsonl(tmp_path / "t.jsonl", rows), kind="production", format="canonical")
    assert report.stored == 6
    assert reasons(report)[0][1].startswith("timestamp: '20/11/2026' is not a timestamp this reads: use ISO 8601")
    instants = store.con.execute("SELECT DISTINCT epoch(timestamp) FROM traces").fetchall()
    assert instants == [(1795168800.0,)]


def test_an_empty_file_and_a_shapeless_one_are_named(store, tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(IngestError, match="the file is empty"):
        ingest_file(store, tmp_path / "empty.jsonl", kind="production")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(IngestError, match="cannot tell the trace format"):
        ingest_file(store, tmp_path / "list.json", kind="production")


def test_a_file_that_fails_half_way_keeps_whole_batches_and_a_rerun_finishes(store, tmp_path, request):
    rows = [trace(f"t{n:02}", f"request {n}") for n in range(10)]
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    canonical = TRACE_FORMATS.get("canonical").read

    def failing(path):
        for number, parsed in enumerate(canonical(path)):
            if number == 7:
                raise OSError("disk went away")
            yield parsed

    TRACE_FORMATS.register("flaky", TraceFormat("flaky", TRACE_FORMATS.get("canonical").sniff, failing,
                                                "canonical traces, until the disk goes away"))
    request.addfinalizer(lambda: TRACE_FORMATS.unregister("flaky"))
    with pytest.raises(OSError, match="disk went away"):
        ingest_file(store, path, kind="production", format="flaky", batch_records=3)
    assert store.one("SELECT count(*) FROM traces")[0] == 6  # two whole batches, not the half-read third
    assert store.one("SELECT status FROM runs")[0] == "failed"
    report = ingest_file(store, path, kind="production", format="canonical")
    assert (report.stored, report.unchanged) == (4, 6)
    assert store.one("SELECT count(*) FROM traces")[0] == 10


def test_readers_are_only_given_objects(store, tmp_path):
    """A per-line reader never sees a list or a number, so its field access cannot crash."""
    seen = []
    read = per_line(lambda value: seen.append(value) or Trace(trace_id="x", timestamp=None, input="x"))
    parsed = list(read(write_jsonl(tmp_path / "t.jsonl", ["[1]", "3", '"s"', "{}"])))
    assert seen == [{}]
    assert [p.record for p in parsed[:3]] == ["expected a JSON object, got list", "expected a JSON object, got int",
                                              "expected a JSON object, got str"]


@pytest.mark.parametrize("first", ['{"id": "broken', "[1, 2]"])
def test_a_json_lines_file_whose_first_line_is_broken_or_a_list_loses_that_line_only(store, tmp_path, first):
    runs = tmp_path / "runs.jsonl"
    runs.write_text(first + "\n" + (FIXTURES / "langsmith_runs.jsonl").read_text())
    report = ingest_file(store, runs, kind="production")
    assert (report.format, report.stored, [line for line, _ in reasons(report)]) == ("langsmith", 2, [1])
    samples = write_jsonl(tmp_path / "samples.jsonl", [first, {"input": "hi", "ideal": "hello"},
                                                       {"input": "bye", "ideal": "ciao"}])
    report = ingest_file(store, samples, kind="eval")
    assert (report.format, report.stored, [line for line, _ in reasons(report)]) == ("openai-evals", 2, [1])
    assert report.from_line == 1 and ingest_file(store, samples, kind="eval").from_line == 4  # read a line at a time


def test_a_broken_pretty_printed_document_is_still_one_reason(store, tmp_path):
    path = tmp_path / "tau.json"
    path.write_text(json.dumps(json.loads((FIXTURES / "tau_bench_airline.json").read_text()), indent=2)[:-1])
    report = ingest_file(store, path, kind="production", format="tau-bench")
    assert [line for line, _ in reasons(report)] == [1] and reasons(report)[0][1].startswith("not valid JSON")


def test_a_byte_order_mark_before_the_first_line_is_no_part_of_the_record(store, tmp_path):
    path = tmp_path / "traces.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"".join(json.dumps(trace(f"t{n}", "hi")).encode() + b"\n" for n in range(2)))
    report = ingest_file(store, path, kind="production")
    assert (report.format, report.stored, report.quarantined) == ("canonical", 2, [])
    assert ingest_file(store, path, kind="production").from_line == 3
