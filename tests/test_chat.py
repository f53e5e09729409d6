from harness_evals.chat import message_text


def test_text_parts_count_typed_or_not_and_other_parts_do_not():
    content = [{"type": "text", "text": "Be brief."}, {"type": "input_text", "text": "Policy: refunds need a receipt."},
               {"text": "Untyped part."}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}, "stray"]
    assert message_text(content) == "Be brief.\nPolicy: refunds need a receipt.\nUntyped part."
    assert (message_text("plain"), message_text(None), message_text({"text": "not a list"})) == ("plain", "", "")
