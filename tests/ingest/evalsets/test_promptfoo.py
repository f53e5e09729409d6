"""promptfoo tests, read as promptfoo reads them. The fixtures' tests are as promptfoo 0.121.20
itself parsed them (`promptfoo eval` with the echo provider, each result's `testCase`): the same
vars, the same asserts (`llm-rubric:` in a CSV cell keeps its leading space there too)."""

import textwrap

import pytest
import yaml

from harness_evals.config import Source
from harness_evals.ingest.evalsets.promptfoo import assertion_from_text
from harness_evals.redact import RedactionRules
from harness_evals.store import Store
from harness_evals.suite.export import to_promptfoo
from harness_evals.suite.model import SuiteCase, expected_json
from tests.conftest import write_jsonl
from tests.ingest.test_parquet import write_parquet
from tests.test_cli import invoke, one_error_line

NOT_AS_AN_AI = {"not_contains": ["as an AI"]}  # the defaultTest's assert, on every test


def test_a_config_s_inline_tests_take_its_default_test_and_the_named_var_as_the_request(fixture_copy, ingest_eval):
    report, cases = ingest_eval(fixture_copy("promptfooconfig.yaml"), input_var="question")
    assert (report.format, report.stored, report.quarantined) == ("promptfoo", 4, [])
    assert [{key: case[key] for key in ("input", "expected", "metadata", "messages")} for case in cases] == [
        {"input": "My order 4 arrived broken, I want a refund",
         "expected": {"contains": ["refund"], **NOT_AS_AN_AI, "regex": r"order \d+",
                      "rubric": "Offers a refund and apologises"},
         "metadata": {"category": "refunds", "description": "refund for a broken order", "vars": {"tone": "friendly"},
                      "asserts": [{"type": "javascript", "value": "output.length < 500"}]},
         "messages": None},
        # a var holding a list of texts is one test per item, as promptfoo runs it
        {"input": "Where is my parcel 12?",
         "expected": {"contains": ["parcel", "tracking"], **NOT_AS_AN_AI, "required_tools": ["track_parcel"]},
         "metadata": {"vars": {"tone": "formal"}}, "messages": None},
        {"input": "Where is my parcel 31?",
         "expected": {"contains": ["parcel", "tracking"], **NOT_AS_AN_AI, "required_tools": ["track_parcel"]},
         "metadata": {"vars": {"tone": "formal"}}, "messages": None},
        # an equals on a transformed output, and a similarity, mean no check of ours: kept as they are
        {"input": "Give me my account details as JSON",
         "expected": {**NOT_AS_AN_AI, "json_schema": {"type": "object", "required": ["account_id"]}},
         "metadata": {"vars": {"tone": "friendly"}, "asserts": [
             {"type": "equals", "value": '{"account_id": 7}', "transform": "output.trim()"},
             {"type": "similar", "value": "The account details of account 7", "threshold": 0.8}]},
         "messages": None},
    ]
    assert all(case["id"].startswith("case-") for case in cases) and len({case["id"] for case in cases}) == 4
    assert ingest_eval(fixture_copy("promptfooconfig.yaml"), input_var="question")[0].unchanged == 4


def test_tests_with_several_vars_and_none_named_are_refused_in_one_line_listing_them_and_the_flag(fixture_copy,
                                                                                                tmp_path):
    db = tmp_path / "h.duckdb"
    path = fixture_copy("promptfooconfig.yaml")
    result = invoke("ingest", path, "--kind", "eval", "--db", db)
    assert result.exit_code == 2
    assert one_error_line(result) == (
        f"error: {path}: its tests have several vars (tone, question) and none is named as the request: "
        "pass --input-var NAME (input_var in a [[sources]] entry)")
    with Store(db, read_only=True) as store:
        assert store.one("SELECT count(*) FROM runs") == store.one("SELECT count(*) FROM eval_cases") == (0,)
    result = invoke("ingest", path, "--kind", "eval", "--input-var", "question", "--db", db)
    assert (result.exit_code, f"{path} (eval, promptfoo): 4 stored" in result.output) == (0, True)


def test_a_source_in_the_settings_names_its_var(fixture_copy, tmp_path):
    from flows.nightly import ingest_source

    source = Source(path=fixture_copy("promptfooconfig.yaml"), kind="eval", input_var="question")
    report = ingest_source.fn(str(tmp_path / "h.duckdb"), source, RedactionRules())
    assert (report.format, report.stored) == ("promptfoo", 4)


def test_a_test_without_the_named_var_is_quarantined_and_the_rest_loads(tmp_path, ingest_eval):
    path = tmp_path / "tests.yaml"
    path.write_text(yaml.safe_dump([{"vars": {"question": "Where is parcel 12?", "tone": "formal"}},
                                    {"vars": {"query": "Where is parcel 31?", "tone": "formal"}}]))
    report, cases = ingest_eval(path, input_var="question")
    assert [case["input"] for case in cases] == ["Where is parcel 12?"]
    assert [(q.line, q.reason) for q in report.quarantined] == [
        (2, "vars: no 'question' var (its vars: query, tone): give it one, or name another with --input-var")]


def test_a_tests_file_s_single_var_is_the_request(fixture_copy, ingest_eval):
    report, cases = ingest_eval(fixture_copy("promptfoo_tests.yaml"))
    assert [{key: case[key] for key in ("input", "expected", "metadata")} for case in cases] == [
        {"input": "What is the capital of France?", "expected": {"contains": ["Paris"]}, "metadata": {}},
        {"input": "What is 2 + 2?", "expected": {"equals": "4", "json_schema": {}},  # is-json: the answer is JSON
         "metadata": {"description": "arithmetic"}},
        {"input": "Reset my password, please", "expected": None, "metadata": {"category": "account"}},
    ]


def test_a_tests_csv_reads_its_vars_expected_and_metadata_columns(fixture_copy, ingest_eval):
    report, cases = ingest_eval(fixture_copy("promptfoo_tests.csv"))
    assert report.quarantined == []
    assert [{key: case[key] for key in ("input", "expected", "metadata")} for case in cases] == [
        {"input": "What is 2+2?", "expected": {"equals": "4", "contains": ["four"]},
         "metadata": {"category": "math", "tags": ["arithmetic", "easy"], "description": "Basic math"}},
        {"input": "What's the weather?", "expected": {"rubric": " Provides weather information"},
         "metadata": {"category": "weather", "asserts": [{"type": "python", "value": "len(output) < 200"}]}},
        {"input": "Calculate 5 * 6", "expected": {"equals": "30", "not_contains": ["error"]},  # no type: equals
         "metadata": {"tags": ["arithmetic,multiplication"]}},  # an escaped comma stays in its item
    ]


@pytest.mark.parametrize(("cell", "assertion"), [
    ("Paris", {"type": "equals", "value": "Paris"}),
    ("Note: it is Paris", {"type": "equals", "value": "Note: it is Paris"}),  # no promptfoo type before the colon
    ("icontains-any: refund, credit", {"type": "icontains-any", "value": ["refund", "credit"]}),
    ("not-regex: ^Sorry", {"type": "not-regex", "value": "^Sorry"}),
    ("similar(0.9):The capital is Paris", {"type": "similar", "value": "The capital is Paris", "threshold": 0.9}),
    ("is-json", {"type": "is-json", "value": None}),
    ("fn: output.length < 10", {"type": "javascript", "value": "output.length < 10"}),
    ("file://checks/grade.py:score", {"type": "python", "value": "checks/grade.py:score"}),
])
def test_an_expected_cell_is_read_as_promptfoo_reads_it(cell, assertion):
    assert assertion_from_text(cell) == assertion


SUITE = [
    SuiteCase(id="c-contains", input="refund order 4", expected={"contains": ["refund"], "not_contains": ["sorry"],
                                                                  "regex": r"order \d"}),
    SuiteCase(id="c-equals", input="what is the fee", expected={"equals": "5 euros", "rubric": "is polite"}),
    SuiteCase(id="c-json", input="my account as JSON", expected={"json_schema": {"type": "object"}}),
    SuiteCase(id="c-tools", input="cancel booking ZX81K",
              expected={"required_tools": ["cancel_reservation"], "forbidden_tools": ["transfer_to_human"]}),
    SuiteCase(id="c-reference", input="where is my parcel", expected="It is on its way."),
]


def test_our_promptfoo_export_ingests_back_as_the_same_cases_alone_and_through_a_config(tmp_path, ingest_eval):
    (tmp_path / "tests.yaml").write_text(to_promptfoo(SUITE))
    (tmp_path / "promptfooconfig.yaml").write_text('prompts: ["{{input}}"]\nproviders: ["echo"]\n'
                                                   "tests: file://tests.yaml\n")
    report, cases = ingest_eval(tmp_path / "tests.yaml")
    assert (report.format, report.quarantined) == ("promptfoo", [])
    assert [(case["id"], case["input"], case["expected"]) for case in cases] == [
        (case.id, case.input, expected_json(case.expected)) for case in SUITE]
    report, _ = ingest_eval(tmp_path / "promptfooconfig.yaml")  # the same ids with the same content
    assert (report.stored, report.unchanged, report.quarantined) == (0, len(SUITE), [])


def test_a_multi_turn_case_of_our_promptfoo_export_keeps_its_conversation(tmp_path, ingest_eval):
    case = SuiteCase(id="case-roaming", input="my phone has no data abroad", expected={"required_tools": ["enable_roaming"]},
                     messages=[{"role": "user", "content": "my phone has no data abroad"},
                               {"role": "assistant", "content": "Which line?"}, {"role": "user", "content": "the 2002 one"}])
    (tmp_path / "tests.yaml").write_text(to_promptfoo([case]))
    report, [stored] = ingest_eval(tmp_path / "tests.yaml")  # vars input and messages: no --input-var needed
    assert (report.quarantined, stored["id"], stored["input"]) == ([], "case-roaming", "my phone has no data abroad")
    assert [(m["role"], m["content"]) for m in stored["messages"]] == [
        ("user", "my phone has no data abroad"), ("assistant", "Which line?"), ("user", "the 2002 one")]
    assert "vars" not in stored["metadata"]


def test_tests_a_config_generates_are_refused_naming_the_fix(tmp_path):
    path = tmp_path / "promptfooconfig.yaml"
    path.write_text('prompts: ["{{input}}"]\ntests: file://generate_tests.py:create_tests\n')
    result = invoke("ingest", path, "--kind", "eval", "--db", tmp_path / "h.duckdb")
    assert result.exit_code == 2
    assert one_error_line(result) == (
        f"error: {path}: its tests 'file://generate_tests.py:create_tests' are not local test files (.yaml, .yml, "
        ".json, .jsonl, .csv): write the tests out as one (a generator's or a dataset's) and ingest that file")


def test_promptfoo_json_lines_read_one_test_a_line(tmp_path, ingest_eval):
    path = write_jsonl(tmp_path / "tests.jsonl", [
        {"vars": {"x": "5 + 3"}, "assert": [{"type": "equals", "value": "8"}]}, "{broken",
        {"vars": {"x": "10 + 7"}, "assert": [{"type": "equals", "value": "17"}]}])
    report, cases = ingest_eval(path)
    assert [(case["input"], case["expected"]) for case in cases] == [("5 + 3", {"equals": "8"}),
                                                                      ("10 + 7", {"equals": "17"})]
    assert [q.line for q in report.quarantined] == [2]


def test_promptfoo_tests_in_parquet_read_one_test_a_row(tmp_path, ingest_eval):
    path = write_parquet(tmp_path / "tests.parquet", [
        {"vars": {"question": "What is the refund window?"}, "assert": [{"type": "contains", "value": "30 days"}]},
        {"vars": {"question": "Where is my parcel?"}, "assert": [{"type": "contains", "value": "transit"}]}])
    report, cases = ingest_eval(path)
    assert (report.format, report.quarantined) == ("promptfoo", [])
    assert [(case["input"], case["expected"]) for case in cases] == [
        ("What is the refund window?", {"contains": ["30 days"]}), ("Where is my parcel?", {"contains": ["transit"]})]


def test_a_default_test_or_tests_file_that_is_not_there_is_refused_in_one_line(tmp_path):
    config = tmp_path / "promptfooconfig.yaml"
    config.write_text("prompts: ['{{question}}']\ndefaultTest: file://missing_default.yaml\n"
                      "tests:\n  - vars: {question: hi}\n")
    result = invoke("ingest", config, "--kind", "eval", "--db", tmp_path / "h.duckdb")
    assert result.exit_code == 2
    assert one_error_line(result) == (
        f"error: {config}: its defaultTest 'file://missing_default.yaml' is not a file: write the path relative to "
        "the config, or the default test inline")
    config.write_text("prompts: ['{{question}}']\ntests: file://nothing_here.yaml\n")
    assert one_error_line(invoke("ingest", config, "--kind", "eval", "--db", tmp_path / "h.duckdb")) == (
        f"error: {config}: its tests 'file://nothing_here.yaml': no such file: write the path relative to the config")


def test_a_number_in_an_assert_is_the_check_of_its_text_and_a_var_named_by_a_number_is_named_by_its_text(
        tmp_path, ingest_eval):
    asserts = tmp_path / "asserts.yaml"
    asserts.write_text("- vars: {question: 'What is 2 + 2?'}\n"
                       "  assert: [{type: equals, value: 4}, {type: contains, value: 4.0}, {type: icontains-all, "
                       "value: [2, true]}]\n")
    report, cases = ingest_eval(asserts)
    assert (report.quarantined, cases[0]["expected"]) == ([], {"equals": "4", "contains": ["4", "2", "true"]})
    numbered = tmp_path / "numbered.yaml"
    numbered.write_text("- vars: {1: 'What is 3 + 3?', 2: six}\n")
    assert one_error_line(invoke("ingest", numbered, "--kind", "eval", "--db", tmp_path / "h.duckdb")).endswith(
        "its tests have several vars (1, 2) and none is named as the request: pass --input-var NAME (input_var in "
        "a [[sources]] entry)")
    report, cases = ingest_eval(numbered, input_var="1")
    assert (report.quarantined, cases[0]["input"], cases[0]["metadata"]) == ([], "What is 3 + 3?",
                                                                           {"vars": {"2": "six"}})


def test_vars_files_and_file_var_values_are_read_as_promptfoo_reads_them(tmp_path, ingest_eval):
    (tmp_path / "vars1.yaml").write_text("question: What is the refund window?\ntone: friendly\n")
    (tmp_path / "vars2.yaml").write_text("tone: formal\n")
    (tmp_path / "q.txt").write_text("How do I reset my password?\n")
    (tmp_path / "order.yaml").write_text("id: 4\nitems: [mug]\n")
    (tmp_path / "docs").mkdir()
    for name, text in (("a.md", "Where is my parcel?"), ("b.md", "Can I change my address?")):
        (tmp_path / "docs" / name).write_text(text)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "tests.yaml").write_text("- vars: file://sub_vars.yaml\n")  # relative to its own file
    (tmp_path / "sub" / "sub_vars.yaml").write_text("question: Do you ship to Norway?\n")
    config = tmp_path / "promptfooconfig.yaml"
    config.write_text(textwrap.dedent("""\
        prompts: ['{{question}}']
        tests:
          - vars: file://vars1.yaml
            assert: [{type: contains, value: 30 days}]
          - vars: [vars1.yaml, vars2.yaml]
          - vars: {question: file://q.txt}
          - vars: {question: 'Order {{order}}', order: file://order.yaml}
          - vars: {question: file://docs/*.md}
          - file://sub/tests.yaml
          - vars: {question: file://make_question.py:get_var}
          - vars: file://missing.yaml
    """))
    report, cases = ingest_eval(config, input_var="question")
    assert [(case["input"], case["metadata"].get("vars")) for case in cases] == [
        ("What is the refund window?", {"tone": "friendly"}), ("What is the refund window?", {"tone": "formal"}),
        ("How do I reset my password?", None), ("Order {{order}}", {"order": '{"id":4,"items":["mug"]}'}),
        ("Where is my parcel?", None), ("Can I change my address?", None), ("Do you ship to Norway?", None)]
    assert [(q.line, q.reason) for q in report.quarantined] == [
        (7, "vars.question: 'file://make_question.py:get_var' is a script, which promptfoo runs for the var's value: "
            "put the value it returns in the test"),
        (8, f"vars: 'file://missing.yaml' is no file: write its path relative to {tmp_path}")]


def test_a_scenario_s_tests_run_once_per_entry_of_its_config_after_the_config_s_tests(tmp_path, ingest_eval):
    (tmp_path / "more.yaml").write_text("config: [{vars: {language: Spanish}}]\ntests: [{vars: {question: 'Hola?'}}]\n")
    config = tmp_path / "promptfooconfig.yaml"
    config.write_text(textwrap.dedent("""\
        prompts: ['Answer in {{language}}: {{question}}']
        defaultTest: {assert: [{type: not-contains, value: as an AI}]}
        tests: [{vars: {question: "Hello?", language: English}}]
        scenarios:
          - config:
              - vars: {language: French}
                assert: [{type: contains, value: colis}]
                metadata: {market: fr}
              - vars: {language: German}
            tests:
              - vars: {question: "Where is my parcel?"}
                assert: [{type: icontains, value: parcel}]
                metadata: {topic: shipping}
          - file://more.yaml
    """))
    report, cases = ingest_eval(config, input_var="question")
    assert report.quarantined == []
    assert [(case["input"], case["expected"], case["metadata"]) for case in cases] == [
        ("Hello?", NOT_AS_AN_AI, {"vars": {"language": "English"}}),
        ("Where is my parcel?", {"contains": ["colis", "parcel"], **NOT_AS_AN_AI},
         {"market": "fr", "topic": "shipping", "vars": {"language": "French"}}),
        ("Where is my parcel?", {"contains": ["parcel"], **NOT_AS_AN_AI},
         {"topic": "shipping", "vars": {"language": "German"}}),
        ("Hola?", NOT_AS_AN_AI, {"vars": {"language": "Spanish"}})]
