"""How an eval-set file holds its records: JSON lines, a JSON or YAML document, or CSV."""

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
