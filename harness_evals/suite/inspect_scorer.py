"""Our checks inside Inspect AI: a scorer, a task over an exported suite, and an offline mock model.

Imported by Inspect, never by harness-evals itself (it needs `inspect-ai`). The package registers
this module in Inspect's entry-point group `inspect_ai`, so `inspect eval` names its parts:

    inspect eval harness_evals/regression -T dataset=regression_inspect.jsonl --model openai/gpt-4o
    inspect eval harness_evals/regression -T dataset=regression_inspect.jsonl -T mock_answer="..."  # offline

`suite_checks` applies a case's checks (the sample's `metadata.checks`, as `suite export --format
inspect` writes them) to the model's answer, and its tool checks to the tool calls the model made
during the sample: those of assistant messages that did not come with the input. A rubric's grader
gets the case's request (`metadata.input`), as in `suite run`.

Offline: Inspect's `mockllm/model` counts each input's tokens with tiktoken's `o200k_base` when its
output carries no usage (`MockLLM._ensure_default_usage`), and tiktoken downloads that encoding on
first use, so `--model mockllm/model` alone fails without a network. `mockllm_answering` gives
mockllm outputs with their usage set (in characters, not tokens), so no tokenizer is loaded.
"""

from __future__ import annotations

from collections.abc import Callable

from inspect_ai import Task, task
from inspect_ai.dataset import json_dataset
from inspect_ai.model import ChatMessage, ChatMessageAssistant, Model, ModelOutput, ModelUsage, get_model
from inspect_ai.scorer import CORRECT, INCORRECT, NOANSWER, Score, Target, accuracy, scorer
from inspect_ai.solver import TaskState, generate
from pydantic import TypeAdapter

from harness_evals.registry import load_callable
from harness_evals.suite.checks import check_output
from harness_evals.suite.model import ExpectedField
from harness_evals.suite.runner import verdict

EXPECTED = TypeAdapter(ExpectedField)
VERDICT_VALUES = {"passed": CORRECT, "failed": INCORRECT, "skipped": NOANSWER}


def tools_called(state: TaskState) -> list[str]:
    """The tools the model called in this sample: calls in the conversation's input are history."""
    return [call.function for message in state.messages
            if isinstance(message, ChatMessageAssistant) and message.source != "input"
            for call in message.tool_calls or []]


@scorer(metrics=[accuracy()])
def suite_checks(grader: str | None = None):  # noqa: ANN201  Inspect reads the scorer's type from the decorator
    """Apply the sample's harness-evals checks: C when every check passes, I when one fails (the
    explanation names each), N when none could be applied (a rubric without `grader`, a reference
    answer alone). `grader` is `module:function(input, output, rubric) -> bool`, as for `suite run`."""
    grade = load_callable(grader, what="grader") if grader else None

    async def score(state: TaskState, target: Target) -> Score:
        expected = EXPECTED.validate_python(state.metadata["checks"])
        answer = state.output.completion
        # the case's request, as `suite run` gives the grader; Inspect's input_text is the last user
        # message of a conversation (and a dataset exported before the request was carried has only that)
        request = state.metadata.get("input", state.input_text)
        checks = check_output(expected, request=request, output=answer, tool_calls=tools_called(state), grader=grade)
        status = verdict(checks)
        failures = [f"{check.check}: {check.detail}" for check in checks if check.passed is False]
        skipped = [check.detail for check in checks if check.passed is None]
        return Score(value=VERDICT_VALUES[status], answer=answer, explanation="; ".join(failures or skipped) or None,
                     metadata={"checks": [{"check": c.check, "passed": c.passed, "detail": c.detail} for c in checks]})

    return score


Answer = Callable[[list[ChatMessage]], "str | ModelOutput"]


def mockllm_answering(answer: str | Answer) -> Model:
    """Inspect's mockllm, answering `answer` (text, or a function of the input messages giving the
    text or a ModelOutput, e.g. `ModelOutput.for_tool_call`), with each output's usage given in
    characters so that mockllm counts no tokens (see the module docstring)."""

    def output(messages: list[ChatMessage], tools: object, tool_choice: object, config: object) -> ModelOutput:
        given = answer if isinstance(answer, str) else answer(messages)
        result = ModelOutput.from_content("mockllm", given) if isinstance(given, str) else given
        if result.usage is None:
            read = sum(len(message.text) for message in messages)
            result.usage = ModelUsage(input_tokens=read, output_tokens=len(result.completion),
                                      total_tokens=read + len(result.completion))
        return result

    return get_model("mockllm/model", custom_outputs=output)


def suite_task(dataset: str, *, grader: str | None = None, model: Model | None = None) -> Task:
    """An exported suite as an Inspect task: each sample's input to the model, then suite_checks."""
    return Task(dataset=json_dataset(dataset), solver=generate(), scorer=suite_checks(grader=grader), model=model)


@task
def regression(dataset: str, grader: str | None = None, mock_answer: str | None = None) -> Task:
    """`-T dataset=FILE` (from `suite export --format inspect`); `-T grader=module:function` for
    rubrics; `-T mock_answer=TEXT` answers every sample with TEXT offline (mockllm_answering)."""
    return suite_task(dataset, grader=grader, model=mockllm_answering(mock_answer) if mock_answer is not None else None)
