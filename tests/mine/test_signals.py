import pytest

from harness_evals.errors import UserError
from harness_evals.mine.signals import DETECTORS, DetectorSettings, RequiredToolRule, TraceRecord, detect, signature

SETTINGS = DetectorSettings(max_steps=4, required_tools=[RequiredToolRule(when=r"\brefund\b", require="issue_refund")])


def trace(output="Done.", steps=(), request="hello", metadata=None, feedback=None):
    return TraceRecord("t", request, output, list(steps), metadata or {}, feedback)


def fired(record, settings=SETTINGS):
    return [name for name, _ in detect(record, settings)]


def tool(name, result="ok", error=None, **arguments):
    return {"type": "tool_call", "name": name, "arguments": arguments, "result": result, "error": error}


@pytest.mark.parametrize(("record", "expected"), [
    # a tool error, then an answer that does not mention it
    (trace("Your booking is confirmed.", [tool("book", error="timeout")]), ["error_then_confident_answer"]),
    (trace("Sorry, booking failed; please retry.", [tool("book", error="timeout")]), []),
    # the same call three times in a row
    (trace(steps=[tool("search", q="x")] * 3), ["repeated_call"]),
    (trace(steps=[tool("search", q="x"), tool("search", q="y"), tool("search", q="x")]), []),
    # cut off by the harness, or by the step limit
    (trace(metadata={"ended_by": "max_steps"}), ["cut_off"]),
    (trace(steps=[tool("a"), tool("b"), tool("c"), tool("d"), tool("e")]), ["cut_off"]),
    (trace(metadata={"ended_by": "user_stop"}), []),
    # a rule: refund requests must call issue_refund
    (trace(request="I want a refund", steps=[tool("lookup")]), ["required_tool_missing"]),
    (trace(request="I want a refund", steps=[tool("issue_refund")]), []),
    # refusal
    (trace("I'm sorry, but I can't help with that."), ["refusal"]),
    (trace("I can help with that."), []),
    # an empty result answered as if it had content, unless retried or acknowledged or a quiet tool
    (trace("Your order ships tomorrow.", [tool("get_order", result="[]")]), ["empty_result_used"]),
    (trace("Your order ships tomorrow.", [tool("get_order", result="[]"), tool("get_order", result="{...}")]), []),
    (trace("No order was found.", [tool("get_order", result="[]")]), []),
    (trace("Your order ships tomorrow.", [tool("think", result="")]), []),
    # negative feedback
    (trace(feedback={"score": 0, "comment": "wrong order"}), ["negative_feedback"]),
    (trace(feedback={"rating": "thumbs_down"}), ["negative_feedback"]),
    (trace(feedback={"score": 1}), []),
])
def test_each_detector_fires_on_its_failure_and_not_on_the_healthy_twin(record, expected):
    assert fired(record) == expected


def test_reasons_say_what_happened():
    assert detect(trace("Booked.", [tool("book", error="timeout")]), SETTINGS) == [
        ("error_then_confident_answer", "book failed, and the final answer does not say so")
    ]
    assert detect(trace(feedback={"score": 0, "comment": "wrong order"}), SETTINGS) == [
        ("negative_feedback", "user feedback 0: wrong order")
    ]


def test_the_signature_counts_tools_subagents_errors_and_repeats():
    steps = [{"type": "llm_call", "name": "gpt"}, tool("a"), tool("a"), {"type": "subagent_call", "name": "pay"},
             tool("b", error="x")]
    assert signature(steps, {"latency_ms": 12.5}) == signature(steps, {"latency_ms": 12.5})
    sig = signature(steps, {"latency_ms": 12.5})
    assert (sig.tools, sig.subagents, sig.steps, sig.errors, sig.longest_repeat, sig.latency_ms) == (
        ("a", "a", "b"), ("pay",), 5, 1, 2, 12.5
    )


def test_detectors_can_be_switched_off_and_unknown_ones_are_refused():
    only = DetectorSettings(enabled=["refusal"])
    assert fired(trace("I'm sorry, but I can't help with that.", [tool("x", error="e")]), only) == ["refusal"]
    with pytest.raises(UserError, match="^unknown detector 'vibes': choose one of error_then_confident_answer, "
                                        "repeated_call, .*, negative_feedback, or name a module:function$"):
        detect(trace(), DetectorSettings(enabled=["refusal", "vibes"]))
    assert DetectorSettings().enabled == DETECTORS.names()
