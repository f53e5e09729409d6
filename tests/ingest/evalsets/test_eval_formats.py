"""Which format an eval set is in, the one-line refusals when a file fits none or not the one
named, records that fit no format, ids that repeat, and eval-set formats from outside the package."""

import json
import textwrap

import pytest

from harness_evals.errors import UserError
from harness_evals.ingest import IngestError, ingest_file
from harness_evals.ingest.evalsets import EVAL_FORMATS
from harness_evals.store import Store
from tests.conftest import trace, write_jsonl
from tests.test_cli import invoke, one_line_error
from tests.test_registry import harness_evals, install_plugin


@pytest.mark.parametrize(("fixture", "format", "options"), [
    ("promptfooconfig.yaml", "promptfoo", {"input_var": "question"}),
    ("promptfoo_tests.yaml", "promptfoo", {}),
    ("promptfoo_tests.csv", "promptfoo", {}),
    ("inspect_samples.jsonl", "inspect", {}),
    ("inspect_samples.csv", "inspect", {}),
    ("openai_evals_samples.jsonl", "openai-evals", {}),
    ("langfuse_dataset_items.json", "langfuse", {}),
    ("langsmith_examples.jsonl", "langsmith", {}),
    ("braintrust_dataset.jsonl", "braintrust", {}),
    ("deepeval_goldens.json", "deepeval", {}),
])
def test_each_tool_s_eval_set_is_told_from_its_first_record_and_named_works_alike(fixture, format, options, store,
                                                                                  fixture_copy):
    detected = ingest_file(store, fixture_copy(fixture), kind="eval", **options)
    assert (detected.format, detected.quarantined) == (format, [])
    named = ingest_file(store, fixture_copy(fixture), kind="eval", format=format, **options)
    assert (named.stored, named.unchanged + (named.from_line > 1) * detected.stored) == (0, detected.stored)


def test_a_format_named_that_the_file_is_not_is_refused_in_one_line_naming_the_fix(fixture_copy, tmp_path):
    path = fixture_copy("inspect_samples.jsonl")
    result = invoke("ingest", path, "--kind", "eval", "--format", "langfuse", "--db", tmp_path / "h.duckdb")
    assert one_line_error(result) == (
        f"error: {path}: its first record is not langfuse (Langfuse dataset items: {{\"id\", \"input\", "
        "\"expectedOutput\", \"sourceTraceId\", ...}); it looks like inspect: pass --format inspect, or leave "
        "--format out to detect it")
    with Store(tmp_path / "h.duckdb", read_only=True) as store:
        assert store.one("SELECT count(*) FROM runs") == (0,)


def test_a_file_no_format_claims_is_refused_listing_the_formats_and_traces_name_their_kind(tmp_path):
    path = write_jsonl(tmp_path / "evals.jsonl", [{"question": "Where is my parcel?", "answer": "in transit"}])
    result = invoke("ingest", path, "--kind", "eval", "--db", tmp_path / "h.duckdb")
    assert one_line_error(result) == (
        f"error: {path}: cannot tell the eval-set format from its first record; pass --format (promptfoo, "
        "openai-evals, langsmith, langfuse, braintrust, deepeval, inspect, eval-case) or see the README's "
        '"Eval sets read"')
    traces = write_jsonl(tmp_path / "traces.jsonl", [trace("t1", "Where is my parcel?")])
    assert one_line_error(invoke("ingest", traces, "--kind", "eval", "--db", tmp_path / "h.duckdb")).endswith(
        "looks like production traces (canonical), not eval cases: pass --kind production")


def test_records_that_fit_no_format_are_quarantined_by_line_and_exit_codes_say_how_much_loaded(tmp_path):
    db = tmp_path / "h.duckdb"
    path = write_jsonl(tmp_path / "samples.jsonl", [
        {"id": "s1", "input": "Where is my parcel?", "target": "in transit"},
        {"id": "s2", "question": "What is the fee?"},
        ["not", "a", "record"],
        {"id": "s3", "input": "Cancel booking ZX81K", "target": "cancelled"},
    ])
    result = invoke("ingest", path, "--kind", "eval", "--db", db)
    assert result.exit_code == 1, result.output
    assert f"{path} (eval, inspect): 2 stored, 0 unchanged, 2 quarantined: a partial load" in result.output
    assert "line 2: input: missing: give the case its request there" in result.output
    assert "line 3: expected a JSON object, got list" in result.output

    nothing = write_jsonl(tmp_path / "nothing.jsonl", [{"id": "s9", "input": "", "target": "x"}])
    assert one_line_error(invoke("ingest", nothing, "--kind", "eval", "--db", db)) == (
        f"error: {nothing}: nothing stored: all 1 records were quarantined: input: no text: give the case its request "
        "there (the mining views embed text); fix the records and ingest again (each reason is in the quarantine "
        "table)")
    clean = write_jsonl(tmp_path / "clean.jsonl", [{"id": "s4", "input": "Reset my password", "target": "reset"}])
    assert invoke("ingest", clean, "--kind", "eval", "--db", db).exit_code == 0


def test_an_id_repeating_in_a_file_with_other_content_is_quarantined_naming_both_lines(tmp_path, store):
    items = [{"id": "item-1", "input": {"country": "Italy"}, "expectedOutput": "Rome"},
             {"id": "item-2", "input": {"country": "Japan"}, "expectedOutput": "Tokyo"},
             {"id": "item-1", "input": {"country": "Italy"}, "expectedOutput": "Rome"},  # the same item again
             {"id": "item-1", "input": {"country": "France"}, "expectedOutput": "Paris"}]
    path = tmp_path / "items.json"
    path.write_text(json.dumps({"data": items, "meta": {"page": 1}}))
    report = ingest_file(store, path, kind="eval", batch_records=2)  # the first item-1 is in an earlier batch
    assert (report.format, report.stored, report.unchanged) == ("langfuse", 2, 1)
    assert [(q.line, q.reason) for q in report.quarantined] == [
        (4, "id 'item-1' repeats that of line 1 with different content: give one of them a new id (line 1's is kept)")]
    assert store.con.execute("SELECT case_id, input FROM eval_cases ORDER BY 1").fetchall() == [
        ("item-1", "Italy"), ("item-2", "Japan")]
    again = write_jsonl(tmp_path / "more.jsonl", [items[3]])  # another file: the stored one is what it differs from
    assert ingest_file(store, again, kind="eval").quarantined[0].reason.startswith(
        "id 'item-1' is already stored with different content")


def test_input_var_is_for_promptfoo_tests_only(fixture_copy, store):
    with pytest.raises(IngestError, match="inspect has no vars: leave it out$"):
        ingest_file(store, fixture_copy("inspect_samples.jsonl"), kind="eval", input_var="question")
    with pytest.raises(IngestError, match="it is for --kind eval$"):
        ingest_file(store, write_jsonl(fixture_copy("inspect_samples.jsonl").with_name("t.jsonl"),
                                       [trace("t1", "x")]), kind="production", input_var="question")
    with pytest.raises(UserError, match="^unknown eval-set format 'csv': choose one of promptfoo, openai-evals, "):
        ingest_file(store, fixture_copy("inspect_samples.jsonl"), kind="eval", format="csv")


SUPPORT_DESK = '''
    """A team's own eval sheet: one ticket per line, the expected reply beside it."""

    from harness_evals.ingest.evalsets import EvalFormat
    from harness_evals.ingest.evalsets.cases import eval_case
    from harness_evals.ingest.evalsets.files import per_record


    def looks_like_ticket(value):
        return isinstance(value, dict) and "ticket" in value and "reply" in value


    def read_ticket(record):
        return eval_case(id=record.get("ref"), input=record["ticket"], expected=record["reply"],
                         metadata={"queue": record.get("queue")}, format="support-desk")


    TICKETS = EvalFormat("support-desk", looks_like_ticket, per_record(read_ticket), "JSON lines of {ticket, reply}",
                         resumable=True)
'''
TICKETS = [{"ref": "T-1", "ticket": "My parcel 12 is late", "reply": "It ships today", "queue": "shipping"},
           {"ref": "T-2", "ticket": "Refund order 4", "reply": "Refunded", "queue": "billing"}]


def test_an_eval_set_format_named_as_module_function_reads_the_file(tmp_path, store, monkeypatch):
    (tmp_path / "support_desk.py").write_text(textwrap.dedent(SUPPORT_DESK))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(__import__("sys").modules, "support_desk", raising=False)
    report = ingest_file(store, write_jsonl(tmp_path / "tickets.jsonl", TICKETS), kind="eval",
                         format="support_desk:TICKETS")
    assert (report.format, report.stored) == ("support_desk:TICKETS", 2)
    assert store.con.execute("SELECT case_id, input, expected, metadata FROM eval_cases ORDER BY 1").fetchall() == [
        ("T-1", "My parcel 12 is late", '"It ships today"', '{"queue": "shipping"}'),
        ("T-2", "Refund order 4", '"Refunded"', '{"queue": "billing"}')]


def test_an_eval_set_format_from_an_entry_point_is_named_and_sniffed(tmp_path):
    site, db = tmp_path / "site-packages", tmp_path / "h.duckdb"
    install_plugin(site, "support_desk", "harness_evals.eval_formats", {"support-desk": "support_desk:TICKETS"},
                   {"support_desk": SUPPORT_DESK})
    path = write_jsonl(tmp_path / "tickets.jsonl", TICKETS)
    result = harness_evals("ingest", path, "--kind", "eval", "--db", db, site=site)
    assert result.returncode == 0, result.stderr
    assert f"{path} (eval, support-desk): 2 stored, 0 unchanged, 0 quarantined" in result.stdout
    assert "support-desk" not in EVAL_FORMATS.names()  # this process did not install it


def test_worker_processes_store_an_eval_set_as_one_process_does_naming_a_repeated_id_alike(tmp_path):
    samples = [{"id": f"s{n:03}", "input": f"Where is my parcel {n}?", "target": "in transit"} for n in range(120)]
    samples[90] = {**samples[30], "target": "lost"}  # s030 again, in another piece, with other content
    path = write_jsonl(tmp_path / "samples.jsonl", samples)
    results = []
    for workers in (1, 2):
        with Store(tmp_path / f"{workers}.duckdb") as store:
            report = ingest_file(store, path, kind="eval", workers=workers, parallel_min_bytes=0, chunk_bytes=2000)
            results.append(((report.stored, [(q.line, q.reason) for q in report.quarantined]),
                            store.con.execute("SELECT * EXCLUDE (run_id) FROM eval_cases ORDER BY 1").fetchall()))
    assert results[0] == results[1]
    assert results[0][0] == (119, [(91, "id 's030' repeats that of line 31 with different content: give one of them "
                                        "a new id (line 31's is kept)")])


def test_no_raw_redacts_a_chat_eval_case_s_messages_as_well_as_its_input(tmp_path, store):
    from harness_evals.redact import Redactor

    path = write_jsonl(tmp_path / "samples.jsonl", [{"id": "s1", "target": "resent", "input": [
        {"role": "system", "content": "Support agent."},
        {"role": "user", "content": "Resend the invoice to ana@example.com please"}]}])
    ingest_file(store, path, kind="eval", redactor=Redactor())
    assert store.one("SELECT input, messages FROM eval_cases") == (
        "Resend the invoice to <EMAIL_1> please",
        '[{"role": "system", "content": "Support agent."}, '
        '{"role": "user", "content": "Resend the invoice to <EMAIL_1> please"}]')


def test_a_repeated_id_names_the_line_kept_whether_stored_now_or_found_unchanged_never_a_quarantined_one(tmp_path,
                                                                                                         store):
    rome, paris, tokyo = ({"id": "item-1", "input": city, "expectedOutput": city}
                          for city in ("Rome", "Paris", "Tokyo"))
    ingest_file(store, write_jsonl(tmp_path / "monday.jsonl", [rome]), kind="eval")
    unchanged_first = ingest_file(store, write_jsonl(tmp_path / "tuesday.jsonl", [rome, paris]), kind="eval")
    assert [(q.line, q.reason) for q in unchanged_first.quarantined] == [
        (2, "id 'item-1' repeats that of line 1 with different content: give one of them a new id (line 1's is kept)")]
    refused_first = ingest_file(store, write_jsonl(tmp_path / "wednesday.jsonl", [paris, tokyo]), kind="eval")
    assert [q.reason.split(";")[0] for q in refused_first.quarantined] == [
        "id 'item-1' is already stored with different content"] * 2
