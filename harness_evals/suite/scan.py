"""Find secrets and personal data in case text before a suite is shared.

A deliberately small set of high-precision patterns; card numbers must pass the Luhn check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PATTERNS: dict[str, re.Pattern[str]] = {
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    "aws access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "github token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"),
    "api key": re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}\b"),
    "password in url": re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s:/@]+:[^\s@/]+@"),
    "email": re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
    "card number": re.compile(r"\b(?:\d[ -]?){12,18}\d\b"),
}


@dataclass(frozen=True)
class Finding:
    kind: str
    excerpt: str  # masked: the finding must not leak through the report itself


def _luhn(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _mask(text: str) -> str:
    return text[:3] + "…" + text[-2:] if len(text) > 6 else "…"


def find_sensitive(text: str) -> list[Finding]:
    """Findings in pattern order; a match inside an earlier finding (the host of a URL
    with a password, say) is not reported again."""
    findings, taken = [], []
    for kind, pattern in PATTERNS.items():
        for match in pattern.finditer(text):
            value = match.group(0)
            if kind == "card number":
                digits = re.sub(r"\D", "", value)
                if not 13 <= len(digits) <= 19 or not _luhn(digits):
                    continue
            if any(start < match.end() and match.start() < end for start, end in taken):
                continue
            taken.append(match.span())
            findings.append(Finding(kind, _mask(value)))
    return findings
