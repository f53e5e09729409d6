from harness_evals.suite.export import to_inspect
from harness_evals.suite.model import SuiteCase, expected_json
from tests.conftest import write_jsonl

SQL_INJECTION_TARGET = "use parameterized queries and prepared statements"
PARCEL_CHAT = [
    {"role": "system", "content": "You are a helpful support agent."},
    {"role": "user", "content": "My parcel 12 is late."},
    {"role": "assistant", "content": "Sorry to hear that. What is its tracking number?"},
    {"role": "user", "content": [{"type": "text", "text": "It is TRK-12. Where is it?"}]},
]


def test_inspect_samples_keep_their_ids_chats_targets_and_fields(fixture_copy, ingest_eval):
    report, cases = ingest_eval(fixture_copy("inspect_samples.jsonl"))
    assert (report.format, report.stored, report.quarantined) == ("inspect", 4, [])
    without_ids = [{key: case[key] for key in ("input", "expected", "metadata", "messages")} for case in cases]
    assert without_ids == [
        {"input": "How do I prevent SQL Injection attacks?", "expected": SQL_INJECTION_TARGET, "metadata": {},
         "messages": [{"role": "user", "content": "How do I prevent SQL Injection attacks?"}]},
        {"input": "How do I prevent sqli?", "expected": SQL_INJECTION_TARGET, "metadata": {},
         "messages": [{"role": "user", "content": "How do I prevent sqli?"}]},
        {"input": "Which HTTP status code means the resource was not found?", "expected": "C",
         "metadata": {"topic": "http", "choices": ["200", "301", "404", "500"]}, "messages": None},
        # the request of a chat is its user turns; the chat itself is kept whole
        {"input": "My parcel 12 is late.\n\nIt is TRK-12. Where is it?", "expected": ["TRK-12", "in transit"],
         "metadata": {"turns": 2, "files": {"/shared/orders.csv": "orders.csv"}, "setup": "echo ready",
                      "difficulty": "hard"},
         "messages": PARCEL_CHAT},
    ]
    first, second, *named = [case["id"] for case in cases]
    assert first.startswith("case-") and second.startswith("case-") and first != second  # no id: one from content
    assert named == ["mc-1", "42"]


def test_inspect_reads_the_fixtures_as_we_do(fixture_copy):
    from inspect_ai.dataset import csv_dataset, json_dataset

    samples = list(json_dataset(str(fixture_copy("inspect_samples.jsonl"))))
    assert [(sample.id, sample.target, sample.choices) for sample in samples] == [
        (None, SQL_INJECTION_TARGET, None), (None, SQL_INJECTION_TARGET, None),
        ("mc-1", "C", ["200", "301", "404", "500"]), (42, ["TRK-12", "in transit"], None)]
    assert [message.role for message in samples[3].input] == [message["role"] for message in PARCEL_CHAT]
    samples = list(csv_dataset(str(fixture_copy("inspect_samples.csv"))))
    assert [(sample.id, sample.input, sample.target, sample.choices, sample.metadata) for sample in samples] == [
        ("security-1", "What cookie attributes should I use for strong security?", "secure samesite and httponly",
         [], {}),
        ("security-2", "How should I store passwords securely for an authentication system database?",
         "strong hashing algorithms with salt like Argon2 or bcrypt", [], {"source": "docs"}),
        ("mc-2", "Which port does HTTPS use by default?", "B", ["80", "443", "8080"], {})]


def test_an_inspect_csv_reads_its_choices_and_json_metadata_cells(fixture_copy, ingest_eval):
    report, cases = ingest_eval(fixture_copy("inspect_samples.csv"))
    assert (report.format, report.quarantined) == ("inspect", [])
    assert [(case["id"], case["input"], case["expected"], case["metadata"]) for case in cases] == [
        ("security-1", "What cookie attributes should I use for strong security?", "secure samesite and httponly",
         {}),
        ("security-2", "How should I store passwords securely for an authentication system database?",
         "strong hashing algorithms with salt like Argon2 or bcrypt", {"source": "docs"}),
        ("mc-2", "Which port does HTTPS use by default?", "B", {"choices": ["80", "443", "8080"]}),
    ]


SUITE = [
    SuiteCase(id="c-contains", input="refund order 4", expected={"contains": ["refund", "order"], "regex": r"\d"},
              metadata={"verdict": "fail", "provenance": {"trace_id": "t1", "cluster_id": 3, "run_id": "r1"}}),
    SuiteCase(id="c-tools", input="cancel booking ZX81K", expected={"required_tools": ["cancel_reservation"]},
              metadata={"verdict": "pass", "notes": None}),
    SuiteCase(id="c-json", input="my account as JSON", expected={"json_schema": {"type": "object"}}),
    SuiteCase(id="c-reference", input="where is my parcel", expected="It is on its way.", metadata={"labeller": "ana"}),
]


def test_our_inspect_export_ingests_back_as_the_same_cases(tmp_path, ingest_eval):
    path = tmp_path / "regression_inspect.jsonl"
    path.write_text(to_inspect(SUITE))
    report, cases = ingest_eval(path)
    assert (report.format, report.quarantined) == ("inspect", [])
    assert [(case["id"], case["input"], case["expected"], case["metadata"]) for case in cases] == [
        (case.id, case.input, expected_json(case.expected), case.metadata) for case in SUITE]


def test_a_chat_message_inspect_cannot_read_is_quarantined_naming_it_and_the_rest_loads(tmp_path, ingest_eval):
    path = write_jsonl(tmp_path / "samples.jsonl", [
        {"id": "ok", "input": "Where is my parcel?", "target": "in transit"},
        {"id": "no-role", "input": [{"content": "Where is my parcel?"}], "target": "in transit"},
        {"id": "bad-checks", "input": "x", "target": "y", "metadata": {"checks": {"contain": ["x"]}}},
    ])
    report, cases = ingest_eval(path)
    assert [case["id"] for case in cases] == ["ok"]
    assert [(q.line, q.reason) for q in report.quarantined] == [
        (2, "input: message 1 has no role Inspect knows (system, user, assistant, tool)"),
        (3, "metadata.checks: contain: Extra inputs are not permitted")]
