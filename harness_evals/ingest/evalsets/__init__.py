"""Eval sets in the formats of the tools teams already use, each read by one module here and named
in one registry, EVAL_FORMATS (README, "Eval sets read").

A format is sniffed from the file's first record (`files.first_record`: a JSON value, or a
`files.CsvRow`), most specific first, or named with `--format`. Its reader turns each record into
an `EvalCase` through `cases.eval_case`: the request rendered as text by the one rendering
(`cases.input_text`), a chat's messages kept, a stable id from the content where the record has
none, and every field the format does not map kept in metadata.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from harness_evals.ingest.evalsets import (
    braintrust, deepeval, inspect_ai, langfuse, langsmith, native, openai_evals, promptfoo,
)
from harness_evals.ingest.evalsets.files import per_record
from harness_evals.ingest.framing import Parsed
from harness_evals.registry import Registry


@dataclass(frozen=True)
class ReadOptions:
    """What the user tells a reader beyond the file: the promptfoo var that is the request."""

    input_var: str | None = None


@dataclass(frozen=True)
class EvalFormat:
    """A file format of eval cases. One from outside the package is an EvalFormat object, named by
    an entry point in `harness_evals.eval_formats` or as `--format module:NAME`; its reader takes
    (path, span, ReadOptions) and yields `framing.Parsed` records of `records.EvalCase`
    (`files.per_record(parse)` makes one from a per-record parser)."""

    name: str
    sniff: Callable[[Any], bool]  # given the file's first record: a JSON value, or a files.CsvRow
    read: Callable[..., Iterator[Parsed]]
    shape: str  # what a file of this format holds, for the message that it holds something else
    resumable: bool = False  # a JSON-lines file of it can be read on from where the last ingest stopped
    reads_input_var: bool = False  # `--input-var` means something to it


# Most specific first: sniffing stops at the first format that claims the first record. A format
# from outside the package is sniffed after the built-in ones but before the catch-all, ours.
EVAL_FORMATS: Registry[EvalFormat] = Registry("eval-set format", "harness_evals.eval_formats", {
    f.name: f
    for f in (
        EvalFormat(promptfoo.NAME, promptfoo.looks_like_promptfoo, promptfoo.read_promptfoo,
                   "promptfoo tests: a promptfooconfig with tests, a YAML/JSON list of {vars, assert}, or a CSV of "
                   "vars and __expected columns", reads_input_var=True),
        EvalFormat(openai_evals.NAME, openai_evals.looks_like_openai_evals,
                   per_record(openai_evals.read_openai_evals_sample), 'OpenAI Evals samples: {"input", "ideal"}',
                   resumable=True),
        EvalFormat(langsmith.NAME, langsmith.looks_like_langsmith, per_record(langsmith.read_langsmith_example),
                   'LangSmith examples: {"id", "inputs": {...}, "outputs": {...}}', resumable=True),
        EvalFormat(langfuse.NAME, langfuse.looks_like_langfuse, per_record(langfuse.read_langfuse_item),
                   'Langfuse dataset items: {"id", "input", "expectedOutput", "sourceTraceId", ...}', resumable=True),
        EvalFormat(braintrust.NAME, braintrust.looks_like_braintrust, per_record(braintrust.read_braintrust_record),
                   'Braintrust dataset records: {"id", "input", "expected", "tags", "_xact_id", ...}', resumable=True),
        EvalFormat(deepeval.NAME, deepeval.looks_like_deepeval, per_record(deepeval.read_deepeval_golden),
                   'DeepEval goldens: a JSON list of {"input", "expected_output", "expected_tools", ...}',
                   resumable=True),
        EvalFormat(inspect_ai.NAME, inspect_ai.looks_like_inspect, per_record(inspect_ai.read_inspect_sample),
                   'Inspect AI samples: {"input": text or messages, "target", "id", "choices", ...}, or a CSV of them',
                   resumable=True),
        EvalFormat(native.NAME, native.looks_like_eval_case, per_record(native.read_eval_case),
                   'eval cases: {"id", "input", "expected"?, "metadata"?}', resumable=True),
    )
}, instance_of=EvalFormat, also=["auto (detect it from the first record)"])
CATCH_ALL_EVAL_FORMAT = native.NAME


def eval_format_claiming(value: Any) -> str | None:
    """The first eval-set format, in sniffing order, that claims a file's first record."""
    # sorted is stable: the catch-all goes last, the rest keep their order
    formats = sorted(EVAL_FORMATS.items(), key=lambda item: item[0] == CATCH_ALL_EVAL_FORMAT)
    return next((name for name, eval_format in formats if claims(eval_format, value)), None)


def claims(eval_format: EvalFormat, value: Any) -> bool:
    try:
        return bool(eval_format.sniff(value))
    except (TypeError, AttributeError, KeyError, IndexError):  # a value of a shape no sniffer expects
        return False
