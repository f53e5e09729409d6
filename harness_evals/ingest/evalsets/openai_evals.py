"""OpenAI Evals samples: JSON lines of `{"input", "ideal", ...}`.

`input` is a chat (the format's recommended form) or a string; `ideal` the reference answer, or a
list of them, whose meaning is the eval class's (`Match`: the answer starts with one, `Includes`:
holds one), so it is kept as the expected answer as given. A model-graded eval's other fields
are kept in metadata. Samples have no id: each case takes one from its content.
"""

from __future__ import annotations

from typing import Any

from harness_evals.ingest.evalsets.cases import eval_case, with_fields
from harness_evals.ingest.evalsets.files import CsvRow
from harness_evals.records import EvalCase

NAME = "openai-evals"


def looks_like_openai_evals(value: Any) -> bool:
    return isinstance(value, dict) and not isinstance(value, CsvRow) and "input" in value and "ideal" in value


def read_openai_evals_sample(record: dict[str, Any]) -> EvalCase:
    others = {key: value for key, value in record.items() if key not in ("input", "ideal")}
    return eval_case(id=None, input=record.get("input"), expected=record.get("ideal"),
                     metadata=with_fields({}, others, format=NAME), format=NAME)
