from harness_evals.mine.views import VIEWS, TraceText, outcome_view, shared_lines, trajectory_view, without_lines

STEPS = (
    {"type": "llm_call", "name": "gpt-4o"},
    {"type": "tool_call", "name": "get_user", "arguments": {"user_id": "u1"}},
    {"type": "tool_call", "name": "search", "arguments": {"origin": "JFK", "date": "x"}, "error": "timeout"},
    {"type": "subagent_call", "name": "payments"},
    {"type": "tool_call", "name": "notify", "arguments": "not json"},
)


def test_the_trajectory_view_is_the_shape_of_the_tool_sequence():
    assert trajectory_view(TraceText("q", "a", STEPS)) == (
        "get_user(user_id) → search(date,origin) ✗ → agent:payments() → notify()"
    )
    assert trajectory_view(TraceText("q")) == "no tool calls"


def test_intent_and_outcome_views_fold_whitespace():
    assert VIEWS.get("intent")(TraceText("  book\n a   flight ")) == "book a flight"
    assert outcome_view(TraceText("q", " done.\n")) == "done."
    assert outcome_view(TraceText("q", "")) == "no answer"


def test_template_lines_most_requests_share_are_left_out_of_the_intent():
    template = "You are the ACME support bot.\nAnswer politely.\nCustomer says: {q}"
    requests = [template.format(q=q) for q in ("refund order 4", "where is my parcel", "reset my password",
                                                "cancel my plan", "change my address")] + ["just a question"]
    shared = shared_lines(requests)
    assert shared == {"You are the ACME support bot.", "Answer politely."}
    assert [without_lines(text, shared) for text in requests[:2]] == ["Customer says: refund order 4",
                                                                      "Customer says: where is my parcel"]
    assert without_lines("You are the ACME support bot.", shared) == "You are the ACME support bot."  # nothing else
    assert shared_lines(requests[:4]) == frozenset()  # four requests are too few to call anything a template
