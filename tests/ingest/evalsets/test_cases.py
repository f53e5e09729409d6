import pytest

from harness_evals.ingest.evalsets.cases import eval_case, input_text, with_fields

CHAT = [{"role": "system", "content": "You are the airline's assistant."},
        {"role": "user", "content": "I need to move my flight to Friday."},
        {"role": "assistant", "content": "Which booking is it?"},
        {"role": "user", "content": [{"type": "text", "text": "Booking ZX81K."}, {"type": "image", "image": "x.png"}]}]


@pytest.mark.parametrize(("value", "text"), [
    ("Refund order 4", "Refund order 4"),
    (CHAT, "I need to move my flight to Friday.\n\nBooking ZX81K."),  # the user's turns only
    ([{"role": "system", "content": "Which word is not a book's part? A. index B. book"}],
     "Which word is not a book's part? A. index B. book"),  # OpenAI Evals: a question in a system message
    ({"question": "How do I change my email?"}, "How do I change my email?"),
    ({"messages": CHAT}, "I need to move my flight to Friday.\n\nBooking ZX81K."),
    ({"question": "Can I return a gift?", "locale": "en-GB", "order": {"id": 4, "items": 2}},
     'question: Can I return a gift?\nlocale: en-GB\norder: {"id": 4, "items": 2}'),
    ({"history": CHAT[:2], "question": "And on Saturday?"},
     "history: I need to move my flight to Friday.\nquestion: And on Saturday?"),
    (["parcel 12", {"carrier": "DHL"}, 3], 'parcel 12\n{"carrier": "DHL"}\n3'),
    (42, "42"),
])
def test_a_structured_input_is_embedded_through_one_rendering(value, text):
    assert input_text(value) == text


def test_a_chat_keeps_its_messages_and_another_structured_input_is_kept_in_metadata():
    chat = eval_case(id="c1", input=CHAT, metadata={}, format="test")
    assert (chat.input, chat.messages, chat.metadata) == (
        "I need to move my flight to Friday.\n\nBooking ZX81K.", CHAT, {})
    wrapped = eval_case(id="c2", input={"messages": CHAT}, metadata={}, format="test", input_field="inputs")
    assert (wrapped.messages, wrapped.metadata) == (CHAT, {"inputs": {"messages": CHAT}})
    fields = eval_case(id="c3", input={"question": "Can I return a gift?", "locale": "en-GB"}, metadata={"input": 1},
                       format="test")
    assert (fields.messages, fields.metadata) == (
        None, {"input": 1, "test.input": {"question": "Can I return a gift?", "locale": "en-GB"}})


def test_a_case_without_an_id_takes_one_from_its_content():
    def case_id(**content):
        return eval_case(id=None, format="test", **{"metadata": {}, **content}).id

    first = case_id(input="Refund order 4", expected="refunded")
    assert first.startswith("case-") and len(first) == len("case-") + 16
    assert case_id(input="Refund order 4", expected="refunded") == first
    assert case_id(input=[{"role": "user", "content": "Refund order 4"}], expected="refunded") != first  # messages too
    assert case_id(input="Refund order 4", expected="refused") != first
    assert case_id(input="Refund order 4", expected="refunded", metadata={"suite": "smoke"}) != first
    assert eval_case(id=7, input="x", metadata={}, format="test").id == "7"


@pytest.mark.parametrize("value", [None, "", "   ", [], {}, {"question": None}])
def test_an_input_with_no_text_is_refused_naming_the_field(value):
    with pytest.raises(ValueError, match="^vars.question: "):
        eval_case(id="c1", input=value, metadata={}, format="test", input_field="vars.question")


def test_other_fields_join_the_metadata_and_one_it_names_already_keeps_both():
    assert with_fields({"source": "faq", "tags": "mine"}, {"tags": ["a"], "created": None, "span_id": "s1"},
                       format="braintrust") == {"source": "faq", "tags": "mine", "braintrust.tags": ["a"],
                                                "span_id": "s1"}
    assert with_fields(["not", "an", "object"], {}, format="langfuse") == {"metadata": ["not", "an", "object"]}


def test_mining_embeds_a_chat_eval_case_by_its_rendered_request(store, tmp_path):
    import json

    from harness_evals.ingest import ingest_file
    from harness_evals.mine.embed import HashingEmbedder
    from harness_evals.mine.pipeline import mine
    from tests.conftest import topic_traces, write_jsonl

    ingest_file(store, write_jsonl(tmp_path / "t.jsonl", topic_traces()), kind="production")
    path = tmp_path / "examples.jsonl"  # LangSmith chat examples: the refund requests are the user turns
    path.write_text("".join(json.dumps({"id": f"ex-{n}", "inputs": {"messages": [
        {"role": "system", "content": "You are the shop's assistant, " + "always polite, " * 20},
        {"role": "user", "content": request}]}, "outputs": {"answer": "refunded"}}) + "\n"
        for n, request in enumerate(["I want a refund for order 3", "please refund my order 5 it arrived broken",
                                     "refund order 9 to my card"])))
    ingest_file(store, path, kind="eval")
    mine(store, budget=0, embedder=HashingEmbedder(64), min_cluster_size=3, dimensions=8, covered_similarity=0.6)
    covered = store.con.execute("SELECT item_id FROM cluster_assignments WHERE covered ORDER BY 1").fetchall()
    assert {row[0] for row in covered} == {f"refund-{n}" for n in range(8)}  # the system prompt is not the request
