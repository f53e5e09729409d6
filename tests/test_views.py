from harness_evals.views import TraceText, get_view, outcome_view, trajectory_view

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
    assert get_view("intent")(TraceText("  book\n a   flight ")) == "book a flight"
    assert outcome_view(TraceText("q", " done.\n")) == "done."
    assert outcome_view(TraceText("q", "")) == "no answer"
