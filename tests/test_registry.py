"""Swappable parts from outside the package: a Python entry point or module:function where a name is
expected, and one unknown-name message that lists every choice."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness_evals.errors import UserError
from harness_evals.registry import Registry
from harness_evals.store import Store
from harness_evals.suite.export import SUITE_FORMATS, export_suite
from tests.conftest import REPO, topic_traces, trace, write_jsonl
from tests.parts_from_outside import answer_in_capitals, to_markdown
from tests.test_cli import invoke, one_line_error

WIDGETS = "harness_evals_tests.widgets"  # a group no installed package declares


def install_plugin(site: Path, name: str, group: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """What `pip install` leaves for a package that declares entry points: its modules and a
    `*.dist-info` folder with `entry_points.txt`, on a sys.path entry (importlib.metadata reads that)."""
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()))
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))


def test_a_part_is_registered_by_decorator_or_named_as_module_function_and_an_unknown_name_lists_the_choices():
    widgets = Registry("widget", WIDGETS, {"plain": str.strip}, also=["auto (guess from the text)"])

    @widgets.register("capitals")
    def capitals(text):
        return text.upper()

    assert widgets.names() == ["plain", "capitals"]
    assert widgets.get("capitals") is capitals
    assert widgets.get("tests.parts_from_outside:answer_in_capitals") is answer_in_capitals
    with pytest.raises(UserError) as unknown:
        widgets.get("bold")
    assert str(unknown.value) == ("unknown widget 'bold': choose one of plain, capitals, auto (guess from the text), "
                                  "or name a module:function")
    with pytest.raises(UserError, match="^widget 'tests.parts_from_outside:bold': tests.parts_from_outside has no "
                                        "function bold$"):
        widgets.get("tests.parts_from_outside:bold")
    with pytest.raises(ValueError, match="registered already"):
        widgets.register("capitals", str.upper)
    widgets.unregister("capitals")
    assert widgets.names() == ["plain"]


def test_an_entry_point_is_listed_on_the_first_lookup_and_imported_only_when_it_is_named(tmp_path, monkeypatch):
    site = tmp_path / "site-packages"
    install_plugin(site, "acme_widgets", WIDGETS, {"exclaim": "acme_widgets:exclaim", "count": "acme_widgets:COUNT",
                                                  "broken": "acme_broken:widget"}, {
        "acme_widgets": "COUNT = 3\n\ndef exclaim(text):\n    return text + '!'\n",
        "acme_broken": "import acme_dependency_nobody_installed\n",
    })
    monkeypatch.syspath_prepend(str(site))
    for module in ("acme_widgets", "acme_broken"):
        monkeypatch.delitem(sys.modules, module, raising=False)  # removed again after the test
    widgets = Registry("widget", WIDGETS, {"plain": str.strip})

    assert widgets.names() == ["plain", "exclaim", "count", "broken"]
    assert "acme_widgets" not in sys.modules
    assert widgets.get("exclaim")("refund issued") == "refund issued!"
    with pytest.raises(UserError, match=r"^widget 'count' \(entry point acme_widgets:COUNT in harness_evals_tests"
                                        r"\.widgets\): it is a int, not a function$"):
        widgets.get("count")
    with pytest.raises(UserError, match=r"^widget 'broken' \(entry point acme_broken:widget in harness_evals_tests"
                                        r"\.widgets\): cannot load it: No module named 'acme_dependency_nobody_installed'"
                                        "; fix or uninstall the package that declares it$"):
        widgets.get("broken")
    with pytest.raises(UserError, match="entry point exclaim = acme_widgets:exclaim in harness_evals_tests.widgets "
                                        "takes the name of a widget registered already"):
        Registry("widget", WIDGETS, {"exclaim": str.strip}).get("exclaim")


def test_a_detector_named_as_module_function_in_the_settings_flags_traces_in_mine(tmp_path):
    db, config = tmp_path / "h.duckdb", tmp_path / "harness-evals.toml"
    rows = topic_traces() + [
        trace("shout-1", "where is my parcel 77", output="YOUR PARCEL IS LOST. STOP ASKING."),
        trace("shout-2", "refund order 12 please", output="NO REFUND FOR YOU!"),
        trace("refused-1", "reset the password on account 5", output="I'm sorry, but I can't help with that."),
    ]
    invoke("ingest", write_jsonl(tmp_path / "t.jsonl", rows), "--db", db)
    config.write_text('[mine]\nembedder = "hashing"\nbudget = 2\nmin_cluster_size = 3\n\n[mine.detectors]\n'
                      'enabled = ["refusal", "tests.parts_from_outside:answer_in_capitals"]\n')
    result = invoke("mine", "--config", config, "--db", db)
    assert result.exit_code == 0, result.output
    with Store(db, read_only=True) as store:
        assert store.con.execute("SELECT trace_id, detector, reason FROM trace_flags ORDER BY 1").fetchall() == [
            ("refused-1", "refusal", "the agent refused"),
            ("shout-1", "tests.parts_from_outside:answer_in_capitals", "the answer is in capitals (26 letters)"),
            ("shout-2", "tests.parts_from_outside:answer_in_capitals", "the answer is in capitals (14 letters)"),
        ]
    listed = invoke("flags", "--detector", "tests.parts_from_outside:answer_in_capitals", "--db", db)
    assert "2 flags (tests.parts_from_outside:answer_in_capitals 2)" in listed.output



def test_a_clusterer_and_a_coverage_judge_named_in_the_settings_are_the_ones_mine_uses(tmp_path):
    db, config = tmp_path / "h.duckdb", tmp_path / "harness-evals.toml"
    invoke("ingest", write_jsonl(tmp_path / "t.jsonl", topic_traces(per_topic=4)), "--db", db)
    evals = [{"id": "case-parcel", "input": "where is my parcel"}, {"id": "case-refund", "input": "refund order 2 to my card"}]
    invoke("ingest", write_jsonl(tmp_path / "e.jsonl", evals), "--kind", "eval", "--db", db)
    config.write_text('[mine]\nembedder = "hashing"\nbudget = 2\n'
                      'clusterer = "tests.parts_from_outside:one_region"\n'
                      'coverage_judge = "tests.parts_from_outside:word_for_word"\n')
    result = invoke("mine", "--config", config, "--db", db)
    assert result.exit_code == 0, result.output
    with Store(db, read_only=True) as store:
        placed = store.con.execute("SELECT DISTINCT cluster_id FROM cluster_assignments").fetchall()
        covered = store.con.execute("SELECT item_id, covering_case_id FROM cluster_assignments "
                                    "WHERE item_kind = 'production' AND covered ORDER BY 1").fetchall()
        params = json.loads(store.one("SELECT params FROM runs WHERE kind = 'mine'")[0])
    assert placed == [(0,)]  # the one region, eval cases included
    assert covered == [("refund-2", "case-refund"), ("shipping-0", "case-parcel"), ("shipping-3", "case-parcel")]
    assert params["clusterer"] == "one-region"
    unknown = invoke("mine", "--config", config, "--db", db, "--clusterer", "kmeans")
    assert one_line_error(unknown) == ("error: unknown clusterer 'kmeans': choose one of pca-hdbscan, "
                                       "or name a module:function")

def harness_evals(*args, site: Path) -> subprocess.CompletedProcess:
    """The CLI in a new process with the plugin installed in `site`, as after `pip install` (a
    registry reads its entry points once per process)."""
    env = {**os.environ, "PYTHONPATH": str(site), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "harness_evals.cli", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


ACME_TRACES = '''
    """A team's own log format: one conversation per line, its turns by speaker."""

    from harness_evals.ingest import TraceFormat
    from harness_evals.ingest.framing import per_line
    from harness_evals.records import Trace


    def looks_like_acme(value):
        return isinstance(value, dict) and "conversation_id" in value and "turns" in value


    def read_acme(record):
        turns = record["turns"]
        return Trace(trace_id=record["conversation_id"], timestamp=record.get("started_at"),
                     input=next(turn["text"] for turn in turns if turn["speaker"] == "customer"),
                     output=next(turn["text"] for turn in reversed(turns) if turn["speaker"] == "bot"),
                     metadata={"channel": record.get("channel")})


    ACME_LOGS = TraceFormat("acme", looks_like_acme, per_line(read_acme), "JSON lines of {conversation_id, turns}",
                            resumable=True)
'''


def conversation(conversation_id, request, answer, channel="chat"):
    return {"conversation_id": conversation_id, "started_at": "2026-11-20T10:00:00Z", "channel": channel,
            "turns": [{"speaker": "customer", "text": request}, {"speaker": "bot", "text": answer}]}


def test_a_trace_format_from_an_entry_point_ingests_by_its_name_and_by_its_sniffer(tmp_path):
    site, db = tmp_path / "site-packages", tmp_path / "h.duckdb"
    install_plugin(site, "acme_traces", "harness_evals.trace_formats", {"acme": "acme_traces:ACME_LOGS"},
                   {"acme_traces": ACME_TRACES})
    named = write_jsonl(tmp_path / "monday.jsonl", [
        json.dumps(conversation("c-1", "where is my parcel 4", "It left the depot today.")),
        json.dumps(conversation("c-2", "refund order 9", "Refund issued.", channel="email")),
    ])
    result = harness_evals("ingest", named, "--format", "acme", "--db", db, site=site)
    assert result.returncode == 0, result.stderr
    assert f"{named} (production, acme): 2 stored, 0 unchanged, 0 quarantined" in result.stdout

    detected = write_jsonl(tmp_path / "tuesday.jsonl", [  # c-1 again, with another answer: a reused id
        json.dumps(conversation("c-1", "where is my parcel 4", "It is lost.")),
        json.dumps(conversation("c-3", "reset my password", "Done, check your inbox.")),
    ])
    result = harness_evals("ingest", detected, "--db", db, site=site)
    assert result.returncode == 1, result.stderr
    assert f"{detected} (production, acme): 1 stored, 0 unchanged, 1 quarantined" in result.stdout
    assert "line 1: id 'c-1' is already stored with different content" in result.stderr
    with Store(db, read_only=True) as store:
        assert store.con.execute("SELECT trace_id, input, output, metadata->>'channel' FROM traces ORDER BY 1"
                                 ).fetchall() == [("c-1", "where is my parcel 4", "It left the depot today.", "chat"),
                                                  ("c-2", "refund order 9", "Refund issued.", "email"),
                                                  ("c-3", "reset my password", "Done, check your inbox.", "chat")]

    result = harness_evals("ingest", named, "--format", "acme-v2", "--db", db, site=site)
    assert (result.returncode, result.stderr) == (2, (
        "error: unknown trace format 'acme-v2': choose one of otlp, tau-bench, tau2, mint, langfuse, langsmith, "
        "phoenix, openai-chat, canonical, acme, auto (detect it from the first record), or name a module:function\n"))


def test_a_queue_format_named_as_module_function_writes_the_queue(tmp_path):
    db = tmp_path / "h.duckdb"
    invoke("ingest", write_jsonl(tmp_path / "t.jsonl", topic_traces()), "--db", db)
    invoke("mine", "--budget", 3, "--embedder", "hashing", "--min-cluster-size", 3, "--db", db)
    result = invoke("queue", "export", "--format", "tests.parts_from_outside:write_tsv", "--out", tmp_path / "q.tsv",
                    "--db", db)
    assert "wrote 3 queued traces" in result.output, result.output
    with Store(db, read_only=True) as store:
        queued = dict(store.con.execute("SELECT q.trace_id, t.input FROM labelling_queue q JOIN traces t USING "
                                        "(trace_id)").fetchall())
    header, *lines = (tmp_path / "q.tsv").read_text().splitlines()
    assert header == "trace_id\tinput\texpected"
    assert {line.split("\t")[0]: line.split("\t")[1] for line in lines} == queued


SUITE = [{"id": "c1", "input": "refund order 4", "expected": {"contains": ["refund"]}, "metadata": {"verdict": "fail"}},
         {"id": "c2", "input": "where is my parcel", "expected": "It is on its way", "metadata": {}}]
MARKDOWN = ('| id | input | metadata |\n|---|---|---|\n| c1 | refund order 4 | {"verdict": "fail"} |\n'
            "| c2 | where is my parcel | {} |\n")


def test_a_suite_format_from_outside_is_reached_by_the_python_api_and_the_cli(tmp_path, request):
    SUITE_FORMATS.register("markdown", to_markdown)
    request.addfinalizer(lambda: SUITE_FORMATS.unregister("markdown"))
    suite = write_jsonl(tmp_path / "regression.jsonl", SUITE)
    assert export_suite(suite, tmp_path / "api.md", format="markdown") == 2
    by_name = invoke("suite", "export", suite, "--format", "markdown", "--out", tmp_path / "by-name.md")
    by_spec = invoke("suite", "export", suite, "--format", "tests.parts_from_outside:to_markdown",
                     "--out", tmp_path / "by-spec.md")
    assert "wrote 2 cases" in by_name.output and "wrote 2 cases" in by_spec.output, by_name.output + by_spec.output
    assert {(tmp_path / name).read_text() for name in ("api.md", "by-name.md", "by-spec.md")} == {MARKDOWN}


@pytest.mark.parametrize("command, message", [
    (["mine", "--view", "vibes"],
     "unknown view 'vibes': choose one of intent, trajectory, outcome, or name a module:function"),
    (["mine", "--view", "tests.parts_from_outside:vibes"],
     "view 'tests.parts_from_outside:vibes': tests.parts_from_outside has no function vibes"),
    (["mine", "--embedder", "bert"],
     "unknown embedder 'bert': choose one of minilm, minilm-int8, hashing, st:FOLDER (a sentence-transformers model "
     "saved in a local folder), or name a module:function"),
    (["queue", "export", "--format", "xlsx"],
     "unknown queue format 'xlsx': choose one of jsonl, csv, labelstudio, or name a module:function"),
    (["queue", "import", "{labels}", "--format", "xlsx"],
     "unknown label format 'xlsx': choose one of jsonl, csv, labelstudio, auto (by the file's extension), or name a "
     "module:function"),
    (["suite", "export", "{suite}", "--format", "junit", "--out", "{out}"],
     "unknown suite format 'junit': choose one of inspect, promptfoo, or name a module:function"),
])
def test_an_unknown_name_is_one_line_that_lists_every_choice(tmp_path, command, message):
    files = {"labels": write_jsonl(tmp_path / "labels.jsonl", [{"trace_id": "a", "expected": "refund"}]),
             "suite": write_jsonl(tmp_path / "regression.jsonl", SUITE), "out": tmp_path / "out.txt"}
    args = [str(arg).format(**files) for arg in command]
    with Store(tmp_path / "h.duckdb"):  # an empty store: the name is refused before anything is read
        pass
    db = ["--db", tmp_path / "h.duckdb"] if command[0] in ("mine", "queue") else []
    assert one_line_error(invoke(*args, *db)) == f"error: {message}"
    assert not (tmp_path / "out.txt").exists()
