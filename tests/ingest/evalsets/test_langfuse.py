import json


def test_langfuse_dataset_items_from_an_api_page_keep_their_ids_expected_output_and_source_trace(fixture_copy,
                                                                                                ingest_eval):
    report, cases = ingest_eval(fixture_copy("langfuse_dataset_items.json"))
    assert (report.format, report.stored, report.quarantined) == ("langfuse", 2, [])
    assert cases == [
        {"id": "item-capital-italy", "input": "Italy", "expected": "Rome", "messages": None,
         "metadata": {"difficulty": "easy", "status": "ACTIVE", "sourceTraceId": "0af7651916cd43dd8448eb211c80319c",
                      "sourceObservationId": "b7ad6b7169203331", "datasetId": "cm4mh1jzf0004s4d2ycj5nh8e",
                      "datasetName": "capital_cities", "createdAt": "2026-11-18T09:12:44.123Z",
                      "updatedAt": "2026-11-18T09:12:44.123Z", "input": {"country": "Italy"}}},
        # an input of several fields is one line per field; the object itself is kept
        {"id": "item-refund-policy",
         "input": "question: Can I return a gift without the receipt?\nlocale: en-GB\nchannel: chat",
         "expected": {"answer": "Yes, for store credit, within 30 days.", "cites": ["returns-policy"]},
         "messages": None,
         "metadata": {"status": "ARCHIVED", "datasetId": "cm4mh1jzf0004s4d2ycj5nh8e", "datasetName": "capital_cities",
                      "createdAt": "2026-11-19T14:03:10.000Z", "updatedAt": "2026-11-20T08:00:00.000Z",
                      "input": {"question": "Can I return a gift without the receipt?", "locale": "en-GB",
                                "channel": "chat"}}},
    ]


def test_langfuse_items_as_json_lines_read_on_from_where_the_last_ingest_stopped(fixture_copy, tmp_path, ingest_eval):
    items = json.loads(fixture_copy("langfuse_dataset_items.json").read_text())["data"]
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps(items[0]) + "\n")
    assert ingest_eval(path)[0].stored == 1
    with path.open("a") as handle:
        handle.write(json.dumps(items[1]) + "\n")
    report, cases = ingest_eval(path)
    assert (report.format, report.from_line, report.stored) == ("langfuse", 2, 1)
    assert [case["id"] for case in cases] == ["item-capital-italy", "item-refund-policy"]
