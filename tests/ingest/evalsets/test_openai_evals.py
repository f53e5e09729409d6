def test_openai_evals_samples_keep_their_chat_and_ideal_and_take_ids_from_content(fixture_copy, ingest_eval):
    path = fixture_copy("openai_evals_samples.jsonl")
    report, cases = ingest_eval(path)
    assert (report.format, report.stored, report.quarantined) == ("openai-evals", 3, [])
    assert [(case["input"], case["expected"], case["metadata"], [m["role"] for m in case["messages"]])
            for case in cases] == [
        ("Once upon a ", "time", {}, ["system", "user"]),
        # few-shot examples are system messages named example_user: the request is the one user message
        ("Who is the girl who plays eleven in stranger things?", ["Millie Bobby Brown"], {},
         ["system", "system", "system", "system", "system", "user"]),
        # a question put in a system message, with no user message: that message is the request
        ("Which word does NOT belong with the others? A. index B. glossary C. chapter D. book", "D. book", {},
         ["system"]),
    ]
    assert cases[1]["messages"][1] == {"role": "system", "content": "What's the capital of France?",
                                       "name": "example_user"}
    assert all(case["id"].startswith("case-") for case in cases)
    again = ingest_eval(path)[0]  # the same ids: nothing changes
    assert (again.stored, again.unchanged, again.quarantined) == (0, 0, [])  # read on from the watermark
    copy = path.with_name("copy.jsonl")
    copy.write_bytes(path.read_bytes())
    assert ingest_eval(copy)[0].unchanged == 3  # another file with the same samples: the same ids
