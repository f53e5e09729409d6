"""Emit labelled traces as a versioned regression suite that CI runs.

The suite is one JSONL file, cases sorted by id, plus a manifest with its version and content
hash. A trace with a conversation becomes a multi-turn case (`case_messages`): the conversation
up to the agent's turn under test. A case id depends only on the trace and its label, so re-emitting without new labels
writes the same bytes and keeps the version. The store records each version of a suite name
(`suite_versions`): a version is one content, whichever folder it is written to. Emitted cases
join the eval set in the store: the next mining run counts their region as covered.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness_evals.errors import UserError
from harness_evals.files import write_atomically
from harness_evals.label.queue import record_events, turns_of
from harness_evals.records import EMITTED_SOURCE, EvalCase, content_hash
from harness_evals.redact import Placeholders, Redactor
from harness_evals.store import Store
from harness_evals.store.queue import labels_for_suite, mark_emitted
from harness_evals.store.suites import suite_version_of, suite_versions
from harness_evals.store.traces import eval_inputs_outside
from harness_evals.suite.model import SUITE_FORMAT, Message, SuiteCase, expected_json


def case_id_for(trace_id: str, expected_json: str) -> str:
    key = f"{trace_id}\n{json.dumps(json.loads(expected_json), sort_keys=True)}"
    return "case-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def as_eval_case(case: SuiteCase) -> EvalCase:
    """The case as the eval set holds it: hashed so, ingesting the suite file or its Inspect export
    finds it unchanged."""
    return EvalCase(id=case.id, input=case.input, expected=expected_json(case.expected), metadata=case.metadata,
                    messages=None if case.messages is None else case.conversation())


@dataclass(frozen=True)
class SuiteManifest:
    format: str
    name: str
    version: int
    cases: int
    sha256: str


@dataclass(frozen=True)
class EmitReport:
    manifest: SuiteManifest
    suite_path: Path
    new_cases: int
    skipped_duplicates: int  # labelled traces whose request is already an eval case


class EmitError(UserError):
    """A case would carry a secret or personal data into the suite; nothing was written."""


def emit_suite(store: Store, out_dir: str | Path, *, name: str = "regression", redactor: Redactor | None = None) -> EmitReport:
    """The request and notes are redacted; a label (written by a person, checked by CI) that holds
    a secret or personal data is refused, naming the case, since redacting it would change the check."""
    redactor = redactor or Redactor()
    rows = labels_for_suite(store)
    suite_source = f"{EMITTED_SOURCE}{name}"
    existing_inputs = eval_inputs_outside(store, suite_source)
    cases, newly_emitted, skipped, leaks = [], [], 0, []
    for trace_id, expected, verdict, notes, labeller, cluster_id, run_id, stored_case_id, request, messages in rows:
        placeholders = Placeholders()
        redacted_request = redactor.redact(request, placeholders)
        conversation = case_messages(json.loads(messages) if messages else None, request)
        if request in existing_inputs or redacted_request in existing_inputs:  # eval sets ingested --no-raw
            skipped += 1
            continue
        case_id = stored_case_id or case_id_for(trace_id, expected)
        leaks += [f"{case_id} (trace {trace_id}): expected holds {f.kind} ({f.excerpt})"
                  for f in redactor.find_in(json.loads(expected))]
        case = SuiteCase(
            id=case_id,
            input=redacted_request,
            expected=json.loads(expected),
            messages=conversation and [_redacted(message, redactor, placeholders) for message in conversation],
            metadata={
                "verdict": verdict,
                "notes": notes and redactor.redact(notes, placeholders),
                "labeller": labeller and redactor.redact(labeller, placeholders),  # Label Studio gives an email
                "provenance": {"trace_id": trace_id, "cluster_id": cluster_id, "run_id": run_id},
            },
        )
        cases.append(case)
        if case_id != stored_case_id:
            newly_emitted.append((trace_id, case))
    if leaks:
        raise EmitError(
            f"{len(leaks)} labels hold secrets or personal data, so no suite was written: " + "; ".join(leaks)
            + ". Rewrite those labels (queue import --replace), or allow the values under [redact] allow"
        )
    cases.sort(key=lambda case: case.id)
    body = "".join(case.to_json_line() for case in cases)
    digest = hashlib.sha256(body.encode()).hexdigest()

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    suite_path = out_dir / f"{name}.jsonl"
    manifest_path = out_dir / f"{name}.manifest.json"
    version, recorded = _version_of(store, name, digest, manifest_path)
    manifest = SuiteManifest(format=SUITE_FORMAT, name=name, version=version, cases=len(cases), sha256=digest)
    write_atomically(suite_path, body.encode())
    write_atomically(manifest_path, (json.dumps(asdict(manifest), indent=2) + "\n").encode())

    if newly_emitted or not recorded:
        with store.run("emit", {"out": str(out_dir), "name": name}) as run, store.transaction():
            if not recorded:
                store.insert("suite_versions", {"name": [name], "version": [version], "sha256": [digest],
                                                "cases": [len(cases)], "path": [str(suite_path)],
                                                "run_id": [run.run_id]})
            mark_emitted(store, [(trace_id, case.id) for trace_id, case in newly_emitted])
            record_events(store, [trace_id for trace_id, _ in newly_emitted], state="emitted", run_id=run.run_id)
            store.insert("eval_cases", {
                "case_id": [case.id for _, case in newly_emitted],
                "content_hash": [content_hash(as_eval_case(case)) for _, case in newly_emitted],
                "input": [case.input for _, case in newly_emitted],
                "expected": [json.dumps(expected_json(case.expected), sort_keys=True) for _, case in newly_emitted],
                "metadata": [json.dumps(case.metadata, sort_keys=True) for _, case in newly_emitted],
                "messages": [None if case.messages is None else json.dumps(case.conversation()) for _, case in newly_emitted],
                "source": [suite_source] * len(newly_emitted),
                "run_id": [run.run_id] * len(newly_emitted),
            })
            run.summary = {"new_cases": len(newly_emitted), "version": version}
    return EmitReport(manifest, suite_path, len(newly_emitted), skipped)


def case_messages(messages: list[Any] | None, request: str) -> list[Message] | None:
    """The conversation up to the agent's turn under test, or None for a single-turn trace.

    The turn under test is the agent's last turn that calls a tool, or, if it calls none, its last
    answer: what a labeller's tool checks and answer checks are about. An agent's turn is its
    messages and the results of its own calls, up to the next user message (a user who runs tools,
    as in τ²-bench's telecom domain, keeps those calls and results on the user's side). The kept
    messages are everything before that turn, as `label.queue.turns_of` reads them (no system
    prompt), in the roles a case keeps (user, assistant, tool). A trace whose kept messages are just
    its request is single-turn: None.
    """
    if not messages:
        return None
    turns = turns_of(messages)
    agents, caller = [], None
    for turn in turns:
        if turn["tool_calls"]:
            caller = turn["role"]
        agents.append(turn["role"] == "assistant" or (turn["role"] == "tool" and caller == "assistant"))
    starts = [i for i, by_agent in enumerate(agents) if by_agent and (i == 0 or not agents[i - 1])]
    spans = [(start, next((end for end in range(start, len(turns)) if not agents[end]), len(turns)))
             for start in starts]
    calling = [start for start, end in spans if any(turn["tool_calls"] for turn in turns[start:end])]
    answering = [start for start, end in spans if any(turn["text"].strip() for turn in turns[start:end])]
    cut = (calling or answering or [len(turns)])[-1]
    kept = [turn for turn in turns[:cut] if turn["role"] in ("user", "assistant", "tool")]
    while kept and kept[-1]["role"] == "assistant":  # what came between them was in a role left out
        kept.pop()
    if not kept or (len(kept) == 1 and kept[0]["role"] == "user" and kept[0]["text"] == request):
        return None
    return [Message(role=turn["role"], content=turn["text"], tool_calls=turn["tool_calls"],
                    tool_call_id=turn["tool_call_id"]) for turn in kept]


def _redacted(message: Message, redactor: Redactor, placeholders: Placeholders) -> Message:
    """Its text and its calls' arguments redacted, numbered with the rest of the case."""
    return message.model_copy(update={
        "content": redactor.redact(message.content, placeholders),
        "tool_calls": [call.model_copy(update={"arguments": redactor.redact_value(call.arguments, placeholders)})
                       for call in message.tool_calls]})


def _version_of(store: Store, name: str, digest: str, manifest_path: Path) -> tuple[int, bool]:
    """The version of this content of the suite, and whether the store has recorded it already.

    A content the store has recorded keeps its version in any folder. A new one takes the next
    number after every version of the name the store recorded and the one in the folder's
    manifest: a manifest written before the store kept versions (or by another store) is never
    numbered backwards, and its version is taken over if it holds this very content.
    """
    known = suite_version_of(store, name, digest)
    if known is not None:
        return known, True
    taken = suite_versions(store, name)
    in_folder = _manifest_in(manifest_path, name)
    if in_folder and in_folder.sha256 == digest and in_folder.version not in taken:
        return in_folder.version, False
    return max([*taken, in_folder.version if in_folder else 0]) + 1, False


def _manifest_in(path: Path, name: str) -> SuiteManifest | None:
    """The manifest already at `path`, if it is one of this suite's."""
    if not path.exists():
        return None
    try:
        manifest = SuiteManifest(**json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as error:  # not JSON, or not a manifest's fields
        raise EmitError(f"{path}: not a suite manifest ({error}): move it away, and emit again") from None
    return manifest if manifest.name == name else None
