"""How an eval-set file holds its records: JSON lines, a JSON or YAML document, or CSV."""

import json
import textwrap

from harness_evals.ingest.evalsets.files import read_structured
from harness_evals.ingest.framing import Unreadable
from tests.test_cli import invoke, one_line_error

LAUGHS = "".join(f"    a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]\n" for n in range(1, 9))


def test_yaml_aliases_that_stand_for_too_many_values_or_for_themselves_are_refused_in_one_line(tmp_path):
    bomb = tmp_path / "laughs.yaml"  # 500 bytes that stand for 9^9 values once expanded
    bomb.write_text('- vars: {question: hi}\n  options:\n    a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", '
                    '"lol", "lol", "lol"]\n' + LAUGHS)
    reason = ("YAML: its aliases stand for over 100,000 values once expanded (by the alias *a4 at line 8): write the "
              "values out, or alias less")
    assert read_structured(bomb) == Unreadable(reason)
    assert one_line_error(invoke("ingest", bomb, "--kind", "eval", "--db", tmp_path / "h.duckdb")) == (
        f"error: {bomb}: {reason}")
    loop = tmp_path / "loop.yaml"
    loop.write_text("- &test\n  vars: {question: hi}\n  options: [*test]\n")
    assert read_structured(loop) == Unreadable(
        "YAML: the alias *test at line 3 is inside the value it names, which never ends: write the value out")


def test_yaml_anchors_and_merge_keys_within_the_budget_load_as_written(tmp_path):
    tests = tmp_path / "tests.yaml"
    tests.write_text(textwrap.dedent("""\
        - &base
          vars: &vars {question: "What is the refund window?"}
          assert: [&days {type: contains, value: 30 days}]
        - <<: *base
          vars: {<<: *vars, question: "Can I return opened items?"}
          assert: [*days]
    """))
    assert read_structured(tests) == [
        {"vars": {"question": "What is the refund window?"}, "assert": [{"type": "contains", "value": "30 days"}]},
        {"vars": {"question": "Can I return opened items?"}, "assert": [{"type": "contains", "value": "30 days"}]},
    ]


def test_a_byte_order_mark_is_no_part_of_the_first_column_line_or_document(tmp_path, ingest_eval):
    bom = "\ufeff"  # as Excel's "CSV UTF-8" and Windows tools write it
    csv = tmp_path / "samples.csv"
    csv.write_text(bom + "input,target\nWhat is 2+2?,4\n", encoding="utf-8")
    lines = tmp_path / "samples.jsonl"
    lines.write_text(bom + json.dumps({"input": "hi", "ideal": "hello"}) + "\n", encoding="utf-8")
    items = tmp_path / "items.json"
    items.write_text(bom + json.dumps([{"id": "a", "input": "hi", "expectedOutput": "x", "datasetId": "d"}]))
    read = [ingest_eval(path) for path in (csv, lines, items)]
    assert [(report.format, report.stored, report.quarantined) for report, _ in read] == [
        ("inspect", 1, []), ("openai-evals", 1, []), ("langfuse", 1, [])]
    assert [cases[0]["input"] for _, cases in read] == ["What is 2+2?", "hi", "hi"]


def test_a_csv_cell_may_be_as_long_as_a_record_and_a_row_is_located_at_its_own_first_line(tmp_path, ingest_eval):
    path = tmp_path / "samples.csv"
    long_context = "lorem ipsum " * 20_000  # 240 KB, past csv's default limit of 128 KiB a cell
    path.write_text(f'input,target,metadata\n"first\nrow, on two lines",t1,{{bad\n\n{long_context},t2,\n,t3,\n')
    report, cases = ingest_eval(path)
    assert (report.format, [case["input"] for case in cases]) == ("inspect", [long_context])
    assert [(q.line, q.reason.split(":")[0]) for q in report.quarantined] == [(2, "metadata"), (6, "input")]
