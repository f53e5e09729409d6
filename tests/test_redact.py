import pytest
from pydantic import ValidationError

from harness_evals.redact import Placeholders, RedactionRules, Redactor


def kinds(text: str, rules: RedactionRules | None = None) -> list[tuple[str, str]]:
    return [(f.kind, f.value) for f in Redactor(rules).find(text)]


@pytest.mark.parametrize(("text", "expected"), [
    ("key AKIAIOSFODNN7EXAMPLE here", [("API_KEY", "AKIAIOSFODNN7EXAMPLE")]),
    ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789", [("API_KEY", "ghp_abcdefghijklmnopqrstuvwxyz0123456789")]),
    ("OPENAI_KEY=sk-proj-abcdefghijklmnopqrstuvwx1234", [("API_KEY", "sk-proj-abcdefghijklmnopqrstuvwx1234")]),
    ("stripe sk_live_abcdefghijklmnop1234", [("API_KEY", "sk_live_abcdefghijklmnop1234")]),
    ("postgres://admin:hunter2@db.internal/app", [("PASSWORD", "hunter2")]),
    ("my password is Tr0ub4dor&3 ok", [("PASSWORD", "Tr0ub4dor&3")]),
    ("Authorization: Bearer abcdefghijklmnop0123456789", [("TOKEN", "abcdefghijklmnop0123456789")]),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk",
     [("TOKEN", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk")]),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY----- done",
     [("PRIVATE_KEY", "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----")]),
    ("mail jane.doe+tag@example.co.uk.", [("EMAIL", "jane.doe+tag@example.co.uk")]),
    ("card 4111-1111-1111-1111 please", [("CARD", "4111-1111-1111-1111")]),
    ("call +44 20 7946 0958 or (415) 555-2671", [("PHONE", "+44 20 7946 0958"), ("PHONE", "(415) 555-2671")]),
    ("text me at 4155550132 tonight", [("PHONE", "4155550132")]),
    ("from 192.168.1.20. and 2001:db8::1", [("IP", "192.168.1.20"), ("IP", "2001:db8::1")]),
])
def test_each_kind_is_found_with_its_exact_span(text, expected):
    assert kinds(text) == expected


@pytest.mark.parametrize("text", [
    "card 4111 1111 1111 1112 fails Luhn",
    "order 1234567890123 and reservation #W2378156 for user mia_li_3668",
    "version 1.2.3 at 12:30:45, std::vector, 10.0.0.300",
    "the password field is empty",  # a word after "is" shorter than four characters is not a password
    "flight HAT170 on 2024-05-16, 3 bags, $1,234.56",
    "refund amount 113.71000000000004 to the gift card",  # a float's digits pass Luhn by chance
    "commit e048f6cac48703990941661f9e225f72980d459e",
    "Return on 2024-05-19/20, items: Electric Kettle (7602931732) and product 9013366374",
    "My passcode was denied. The password is incorrect.",
])
def test_ordinary_agent_text_is_left_alone(text):
    assert kinds(text) == []


def test_placeholders_are_typed_and_consistent_within_a_trace():
    redactor, placeholders = Redactor(), Placeholders()
    first = redactor.redact("mail ana@example.com, or bo@example.com", placeholders)
    second = redactor.redact("ana@example.com said card 4111111111111111", placeholders)
    assert first == "mail <EMAIL_1>, or <EMAIL_2>"
    assert second == "<EMAIL_1> said card <CARD_1>"
    assert redactor.redact(second) == second  # placeholders are never redacted again


def test_json_values_are_redacted_inside_and_ordinary_keys_kept():
    record = {"input": "I am ana@example.com", "steps": [{"arguments": {"email": "ana@example.com"}}], "trace_id": "t1"}
    assert Redactor().redact_fields(record, ("input", "steps")) == {
        "input": "I am <EMAIL_1>", "steps": [{"arguments": {"email": "<EMAIL_1>"}}], "trace_id": "t1",
    }


def test_numbers_and_keys_in_json_values_are_redacted_and_a_value_is_read_after_its_key():
    arguments = {"card": 4111111111111111, "phone": 14155552671, "amount": 12.5, "quantity": 2, "gift": True,
                 "order": 4155552671}  # an order id with a phone number's digits: no word says phone
    result = {"jane.doe@example.com": {"role": "owner", "card": "4111111111111111"}}
    placeholders = Placeholders()
    assert Redactor().redact_value(arguments, placeholders) == {
        "card": "<CARD_1>", "phone": "<PHONE_1>", "amount": 12.5, "quantity": 2, "gift": True, "order": 4155552671}
    assert Redactor().redact_value(result, placeholders) == {"<EMAIL_1>": {"role": "owner", "card": "<CARD_1>"}}
    assert [f.kind for f in Redactor().find_in([arguments, result])] == ["CARD", "PHONE", "EMAIL", "CARD"]


def test_allow_and_deny_patterns_and_kinds_are_configurable():
    rules = RedactionRules(allow=[r"support@acme\.com"], deny={"ORDER_ID": r"#(W\d{7})"}, kinds=["EMAIL"])
    text = "write support@acme.com or ana@example.com about #W2378156, card 4111111111111111"
    assert Redactor(rules).redact(text) == "write support@acme.com or <EMAIL_1> about #<ORDER_ID_1>, card 4111111111111111"


def test_bad_rules_name_the_field_and_the_fix():
    with pytest.raises(ValidationError, match="unknown kinds \\['SSN'\\]"):
        RedactionRules(kinds=["SSN"])
    with pytest.raises(ValidationError, match="allow: '\\(' is not a valid regex"):
        RedactionRules(allow=["("])
    with pytest.raises(ValidationError, match="must be upper case, like ORDER_ID"):
        RedactionRules(deny={"order": "x"})


def test_a_finding_excerpt_does_not_leak_the_value():
    [finding] = Redactor().find("key AKIAIOSFODNN7EXAMPLE")
    assert finding.excerpt == "AKI…LE"
