"""DeepEval goldens, as `EvaluationDataset.save_as(file_type="json")` writes them (a JSON list;
`"jsonl"`: one per line): `{input, expected_output, expected_tools, context, retrieval_context,
additional_metadata, actual_output, tools_called, comments, name, source_file,
custom_column_key_values}`.

`expected_output` is a reference answer; `expected_tools` (DeepEval's `ToolCall`s) become the
`required_tools` check, the calls as given staying in metadata with their parameters.
`additional_metadata` is the case's metadata and every other field is kept beside it. A
multi-turn `ConversationalGolden` (`scenario`, `turns`) has no input to read.
"""

from __future__ import annotations

from typing import Any

from harness_evals.ingest.evalsets.cases import eval_case, with_fields
from harness_evals.ingest.evalsets.files import CsvRow
from harness_evals.records import EvalCase
from harness_evals.suite.model import Expected, expected_json

NAME = "deepeval"
GOLDEN_FIELDS = ("expected_output", "actual_output", "retrieval_context", "expected_tools", "tools_called",
                 "additional_metadata", "custom_column_key_values", "source_file")


def looks_like_deepeval(value: Any) -> bool:
    return (isinstance(value, dict) and not isinstance(value, CsvRow) and ("input" in value or "scenario" in value)
            and any(key in value for key in GOLDEN_FIELDS))


def read_deepeval_golden(record: dict[str, Any]) -> EvalCase:
    if record.get("input") is None and "scenario" in record:
        raise ValueError("input: none: a multi-turn ConversationalGolden (scenario, turns) is not read; "
                         "write its request as a golden's input")
    expected_output, expected_tools = record.get("expected_output"), record.get("expected_tools")
    expected: Any = expected_output
    if expected_tools:
        if not isinstance(expected_tools, list) or not all(isinstance(tool, dict) and isinstance(tool.get("name"), str)
                                                           for tool in expected_tools):
            raise ValueError("expected_tools: expected a list of tool calls, each with a name")
        expected = expected_json(Expected(reference=expected_output,
                                          required_tools=list(dict.fromkeys(tool["name"] for tool in expected_tools))))
    others = {key: value for key, value in record.items()
              if key not in ("input", "expected_output", "additional_metadata")}
    return eval_case(id=None, input=record.get("input"), expected=expected,
                     metadata=with_fields(record.get("additional_metadata"), others, format=NAME), format=NAME)
