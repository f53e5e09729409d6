"""Find secrets and personal data, and replace them with typed placeholders that keep text useful.

`Redactor(rules).redact(text)` turns "mail jane@x.io or jane@x.io" into "mail <EMAIL_1> or
<EMAIL_1>"; one `Placeholders` shared over a trace's texts keeps the numbering consistent within
the trace. Detectors run in a fixed order (custom `deny` patterns first, secrets before personal
data) and a later finding that overlaps an earlier one is dropped, so a card number is never
also read as a phone number. Card numbers must pass the Luhn check; phone numbers must be valid
for their region (libphonenumber's metadata, via `phonenumbers`); IP addresses must parse.

Runs on the core install: suites are checked with it in CI jobs that have no mining stack.
"""

from __future__ import annotations

import ipaddress
import json
import re
from functools import partial
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

SECRET_KINDS = ("PRIVATE_KEY", "API_KEY", "TOKEN", "PASSWORD")
PERSONAL_KINDS = ("EMAIL", "CARD", "IP", "PHONE")
KINDS = SECRET_KINDS + PERSONAL_KINDS

PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*_\d+>")

# (kind, pattern): where a pattern has a group, only the group is the finding (the password of
# `password: hunter2`, not the word "password").
SECRET_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("PRIVATE_KEY", re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
        re.DOTALL)),
    ("API_KEY", re.compile(
        r"(?<![A-Za-z0-9])(?:"
        r"(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}"  # AWS access key id
        r"|gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255}"  # GitHub
        r"|glpat-[A-Za-z0-9_-]{20,}"  # GitLab
        r"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
        r"|sk-(?:proj-|ant-(?:api\d\d-)?|svcacct-)?[A-Za-z0-9_-]{20,}"  # OpenAI, Anthropic
        r"|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe
        r"|AIza[0-9A-Za-z_-]{35}"  # Google API key
        r"|hf_[A-Za-z0-9]{30,}"  # Hugging Face
        r"|npm_[A-Za-z0-9]{36}"  # npm
        r"|SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"  # SendGrid
        r"|SK[0-9a-f]{32}"  # Twilio
        r")(?![A-Za-z0-9])")),
    ("TOKEN", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),  # JWT
    ("TOKEN", re.compile(r"\b[Bb]earer\s+([A-Za-z0-9._~+/-]{16,}=*)")),
    ("PASSWORD", re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s:/@]+:([^\s@/]+)@")),  # user:password@host
    ("PASSWORD", re.compile(
        r"(?i)\b(?:aws_secret_access_key|client_secret|api[_-]?key|secret[_-]?key|access[_-]?token|"
        r"auth[_-]?token|passwd|password|passcode|pwd)\b"
        # a value of lower-case letters only is prose ("password is incorrect"), not a password
        r"(?:\s+(?:is|was|=|:)|\s*[:=])\s*[\"']?((?=[^\s\"',;<>]*[^a-z\s\"',;<>.!?])[^\s\"',;<>]{3,}[^\s\"',;<>.!?])")),
]
EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
CARD = re.compile(r"(?<![\w.-])\d(?:[ -]?\d){12,18}(?![\w-]|\.\d)")  # not inside an id, a hash or a decimal
IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)")
IPV6 = re.compile(r"(?<![\w:.])(?=[0-9A-Fa-f]*:[0-9A-Fa-f]*:)(?=[0-9A-Fa-f:]*\d)[0-9A-Fa-f:]{3,39}(?![\w:])")  # checked by ipaddress
PHONE_HINT = re.compile(r"\d(?:\D{0,2}\d){6}")  # seven digits close together: worth asking phonenumbers
# A bare run of digits is a phone number only where the text says so: ids (orders, products) look the same.
PHONE_CONTEXT = re.compile(
    r"(?i)\b(?:call|phone|tel|mobile|cell|sms|text me|whatsapp|fax|contact|reach me|my number|number is)\b"
    r"(?P<between>[^\d]{0,20})$"  # the number follows the word closely, with no other number in between
)
DATE_LIKE = re.compile(r"(?:19|20)\d\d[-/.]\d{1,2}[-/.]\d{1,2}")  # 2024-05-19 reads as a Washington DC number
ID_WORDS = re.compile(r"(?i)\b(?:product|order|item|id|account|reservation|invoice|tracking|ticket|case|ref)\b|#")


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int
    value: str

    @property
    def excerpt(self) -> str:
        """Masked, so a report about a secret does not leak it."""
        return self.value[:3] + "…" + self.value[-2:] if len(self.value) > 6 else "…"


class RedactionRules(BaseModel):
    """`[redact]` in harness-evals.toml."""

    model_config = ConfigDict(extra="forbid")

    kinds: list[str] = Field(default_factory=lambda: list(KINDS))
    allow: list[str] = []  # regexes; a finding that matches one whole is left as it is
    deny: dict[str, str] = {}  # placeholder name -> regex (group 1, if any, is the finding)
    phone_regions: list[str] = ["US"]  # where numbers without a +country code are read
    keep_raw: bool = True  # False: ingest stores redacted text only (`ingest --no-raw`)

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: list[str]) -> list[str]:
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown kinds {unknown}: choose from {', '.join(KINDS)}")
        return kinds

    @field_validator("allow")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            _compile(pattern, "allow")
        return patterns

    @field_validator("deny")
    @classmethod
    def _deny_compiles(cls, patterns: dict[str, str]) -> dict[str, str]:
        for name, pattern in patterns.items():
            if not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
                raise ValueError(f"deny name {name!r} must be upper case, like ORDER_ID: it becomes <{name}_1>")
            _compile(pattern, f"deny.{name}")
        return patterns


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as error:
        raise ValueError(f"{where}: {pattern!r} is not a valid regex: {error}") from error


class Placeholders:
    """Numbering per kind, shared over one trace's texts: the same value gets the same placeholder."""

    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        self._counts: Counter[str] = Counter()

    def __call__(self, kind: str, value: str) -> str:
        key = (kind, value)
        if key not in self._by_value:
            self._counts[kind] += 1
            self._by_value[key] = f"<{kind}_{self._counts[kind]}>"
        return self._by_value[key]


def _luhn(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _matches(pattern: re.Pattern[str], text: str) -> Iterator[tuple[int, int]]:
    for match in pattern.finditer(text):
        yield match.span(1) if pattern.groups else match.span()


def _says_phone(before: str) -> bool:
    context = PHONE_CONTEXT.search(before)
    return context is not None and not ID_WORDS.search(context["between"])


def _cards(text: str) -> Iterator[tuple[int, int]]:
    for start, end in _matches(CARD, text):
        digits = re.sub(r"\D", "", text[start:end])
        if 13 <= len(digits) <= 19 and _luhn(digits):
            yield start, end


def _scalar_text(value: Any) -> str | None:
    """The text of a string or a number as JSON writes it; None for anything else (true, null)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return json.dumps(value)
    return None


def _key_context(key: str | None) -> str:
    """What precedes a value under `key` in its JSON text, for detectors that read context (a
    bare run of digits is a phone number after "phone")."""
    return "" if key is None else f"{key}: "


def _ips(text: str) -> Iterator[tuple[int, int]]:
    for pattern in (IPV4, IPV6):
        for start, end in _matches(pattern, text):
            try:
                ipaddress.ip_address(text[start:end])
            except ValueError:
                continue
            yield start, end


class Redactor:
    """Compiled rules. `find` lists findings; `redact` replaces them; both are pure given the rules."""

    def __init__(self, rules: RedactionRules | None = None) -> None:
        self.rules = rules or RedactionRules()
        self._allow = [re.compile(p) for p in self.rules.allow]
        detectors: list[tuple[str, Callable[[str], Iterator[tuple[int, int]]]]] = [
            (name, partial(_matches, re.compile(pattern))) for name, pattern in self.rules.deny.items()
        ]
        detectors += [(kind, partial(_matches, pattern)) for kind, pattern in SECRET_PATTERNS]
        detectors += [("EMAIL", partial(_matches, EMAIL)), ("CARD", _cards), ("IP", _ips), ("PHONE", self._phones)]
        enabled = set(self.rules.kinds) | set(self.rules.deny)
        self._detectors = [(kind, find) for kind, find in detectors if kind in enabled]

    def _phones(self, text: str) -> Iterator[tuple[int, int]]:
        if not PHONE_HINT.search(text):
            return
        import phonenumbers  # its metadata takes a moment to load: only when digits are there

        for region in self.rules.phone_regions:
            for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
                digits = match.raw_string.strip("()[]")
                if DATE_LIKE.match(digits):
                    continue
                if digits.isdigit() and not _says_phone(text[max(0, match.start - 40):match.start]):
                    continue
                yield match.start, match.end

    def find(self, text: str, *, after: str = "") -> list[Finding]:
        """Findings in `text`; `after` is what precedes it (a key), read as context only."""
        findings: list[Finding] = []
        for kind, detect in self._detectors:
            for start, end in detect(after + text):
                if start < len(after):  # in the context, or reaching into it: not this text's
                    continue
                start, end = start - len(after), end - len(after)
                value = text[start:end]
                if start == end or PLACEHOLDER.fullmatch(value) or any(a.fullmatch(value) for a in self._allow):
                    continue
                if any(f.start < end and start < f.end for f in findings):
                    continue
                findings.append(Finding(kind, start, end, value))
        return sorted(findings, key=lambda f: f.start)

    def find_in(self, value: Any, *, key: str | None = None) -> list[Finding]:
        """Findings in every string, number (its decimal text) and dict key inside a JSON-like
        value; a value is read after its key (`phone: 14155552671`), as its JSON text reads."""
        if isinstance(value, dict):
            return [finding for name, item in value.items()
                    for finding in (*self.find(name), *self.find_in(item, key=name))]
        if isinstance(value, list):
            return [finding for item in value for finding in self.find_in(item)]
        text = _scalar_text(value)
        return [] if text is None else self.find(text, after=_key_context(key))

    def redact(self, text: str, placeholders: Placeholders | None = None, *, after: str = "") -> str:
        placeholders = placeholders or Placeholders()
        pieces, position = [], 0
        for finding in self.find(text, after=after):
            pieces += [text[position:finding.start], placeholders(finding.kind, finding.value)]
            position = finding.end
        pieces.append(text[position:])
        return "".join(pieces)

    def redact_value(self, value: Any, placeholders: Placeholders, *, key: str | None = None) -> Any:
        """Every string, number and dict key inside a JSON-like value, each value read after its
        key (find_in). A number is redacted through its decimal text: a card or phone number sent
        as a JSON number becomes its placeholder (a string), any other number stays a number."""
        if isinstance(value, dict):
            return {self.redact(name, placeholders): self.redact_value(item, placeholders, key=name)
                    for name, item in value.items()}
        if isinstance(value, list):
            return [self.redact_value(item, placeholders) for item in value]
        text = _scalar_text(value)
        if text is None:
            return value
        redacted = self.redact(text, placeholders, after=_key_context(key))
        return redacted if isinstance(value, str) or redacted != text else value

    def redact_fields(self, record: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
        """A copy of the record with the named fields redacted, numbered consistently across them."""
        placeholders = Placeholders()
        return {key: self.redact_value(value, placeholders) if key in fields else value
                for key, value in record.items()}

