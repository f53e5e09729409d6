import json

from tests.ingest.evalsets.conftest import FIXTURES


def test_braintrust_records_keep_their_ids_tags_and_braintrust_s_own_fields(fixture_copy, ingest_eval):
    report, cases = ingest_eval(fixture_copy("braintrust_dataset.jsonl"))
    assert (report.format, report.stored, report.quarantined) == ("braintrust", 2, [])
    assert cases == [
        {"id": "bt-7f3a", "input": "question: What is the baggage allowance on a basic economy ticket?\nfare: basic",
         "expected": "One personal item; carry-on and checked bags cost extra.", "messages": None,
         "metadata": {"source": "faq", "_xact_id": "1000194581235416329", "created": "2026-11-15T08:30:12.512Z",
                      "dataset_id": "4b2c9e51-0d77-4a3e-9b43-81c5b0f1f0aa",
                      "project_id": "c8f6e1a2-33d4-4e5f-8a9b-0c1d2e3f4a5b",
                      "span_id": "9e1b5f3c-7a24-4d8e-a6b0-2c9f8e7d6c5b",
                      "root_span_id": "9e1b5f3c-7a24-4d8e-a6b0-2c9f8e7d6c5b", "is_root": True,
                      "tags": ["baggage", "pricing"],
                      "input": {"question": "What is the baggage allowance on a basic economy ticket?",
                                "fare": "basic"}}},
        {"id": "bt-81c0", "input": "Cancel my booking ZX81K", "expected": {"tool": "cancel_reservation",
                                                                           "booking": "ZX81K"},
         "messages": None,
         "metadata": {"_xact_id": "1000194581235416330", "created": "2026-11-15T08:31:40.004Z",
                      "dataset_id": "4b2c9e51-0d77-4a3e-9b43-81c5b0f1f0aa",
                      "project_id": "c8f6e1a2-33d4-4e5f-8a9b-0c1d2e3f4a5b",
                      "span_id": "d41f8a2e-6b39-4c07-9e15-7a8b6c5d4e3f",
                      "root_span_id": "d41f8a2e-6b39-4c07-9e15-7a8b6c5d4e3f", "is_root": True, "tags": []}},
    ]


def test_a_page_of_the_fetch_api_s_events_reads_as_the_records_it_holds(fixture_copy, tmp_path, ingest_eval):
    events = [json.loads(line) for line in (FIXTURES / "braintrust_dataset.jsonl").read_text().splitlines()]
    page = tmp_path / "fetch.json"  # POST /v1/dataset/{id}/fetch, as the API answers it
    page.write_text(json.dumps({"events": events, "cursor": "Zm9vYmFy"}, indent=2))
    report, cases = ingest_eval(page)
    assert (report.format, report.quarantined, [case["id"] for case in cases]) == ("braintrust", [], ["bt-7f3a",
                                                                                                    "bt-81c0"])
    assert ingest_eval(fixture_copy("braintrust_dataset.jsonl"))[0].unchanged == 2  # the same records, line by line
