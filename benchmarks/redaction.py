"""Redaction benchmark: recall and precision per kind on a labelled set built from templates.

Run by hand: .venv/bin/python benchmarks/redaction.py [--n 5000] [--seed 0]

The set: agent-trace sentences (support requests, tool arguments, logs, config dumps) with slots
filled by generated values whose kind and span are known: API keys of nine providers, JWTs,
bearer tokens, private keys, passwords in URLs and in prose, emails, phone numbers (US national
formats, and international ones from libphonenumber's example numbers for 20 regions), card
numbers (Visa, Mastercard, Amex, Discover; spaced, dashed, bare), IPv4 and IPv6. Each sentence
also carries hard negatives: order and reservation ids, tracking numbers, Luhn-failing card-like
numbers, prices, dates, times, versions, UUIDs, git hashes, zip codes.

A gold value counts as found when a finding of the same kind covers it whole; a finding counts
as correct when it lies inside a gold value of its kind. Separately, the count of findings on
real text that holds none of these (CLINC150 and Banking77 requests, ../shared/corpora) shows
false positives on the kind of text production traces are made of.
"""

from __future__ import annotations

import argparse
import csv
import random
import string
import time
from collections import Counter
from pathlib import Path

import phonenumbers

from harness_evals.redact import Redactor

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
REGIONS = ["US", "GB", "DE", "FR", "IN", "BR", "JP", "AU", "CA", "ES", "IT", "NL", "MX", "SG", "ZA", "SE", "PL",
           "IE", "CH", "NZ"]


def _chars(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits


def api_key(rng: random.Random) -> str:
    return rng.choice([
        lambda: "AKIA" + _chars(rng, UPPER_DIGITS, 16),
        lambda: "ghp_" + _chars(rng, ALNUM, 36),
        lambda: "github_pat_" + _chars(rng, ALNUM + "_", 82),
        lambda: "sk-proj-" + _chars(rng, ALNUM + "-_", 48),
        lambda: "sk-ant-api03-" + _chars(rng, ALNUM + "-_", 93),
        lambda: "sk_live_" + _chars(rng, ALNUM, 24),
        lambda: "xoxb-" + "-".join(_chars(rng, string.digits, 12) for _ in range(2)) + "-" + _chars(rng, ALNUM, 24),
        lambda: "AIza" + _chars(rng, ALNUM + "-_", 35),
        lambda: "glpat-" + _chars(rng, ALNUM + "-_", 20),
        lambda: "hf_" + _chars(rng, ALNUM, 34),
    ])()


def jwt(rng: random.Random) -> str:
    return "eyJhbGciOiJIUzI1NiJ9.eyJ" + _chars(rng, ALNUM + "-_", 40) + "." + _chars(rng, ALNUM + "-_", 43)


def private_key(rng: random.Random) -> str:
    kind = rng.choice(["RSA ", "EC ", "OPENSSH ", ""])
    body = "\n".join(_chars(rng, ALNUM + "+/", 64) for _ in range(rng.randint(2, 5)))
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"


def password(rng: random.Random) -> str:
    return _chars(rng, ALNUM, rng.randint(6, 10)) + rng.choice(["!", "#", "$", "%", ""]) + str(rng.randint(1, 99))


def email(rng: random.Random) -> str:
    first, last = rng.choice(["ana", "li", "omar", "jean-luc", "mia", "o.brien"]), rng.choice(["smith", "wu", "diallo"])
    user = rng.choice([f"{first}.{last}", f"{first}{rng.randint(1, 9999)}", f"{first}+{rng.choice(['shop', 'x'])}",
                       f"{first}_{last}"])
    domain = rng.choice(["example.com", "mail.co.uk", "corp.example.org", "uni-bonn.de", "gmail.com", "acme.io"])
    return f"{user}@{domain}"


def phone(rng: random.Random) -> str:
    if rng.random() < 0.5:
        area, line = rng.choice(["212", "415", "312", "617", "206"]), f"{rng.randint(200, 999)}{rng.randint(0, 9999):04}"
        return rng.choice([f"({area}) {line[:3]}-{line[3:]}", f"{area}-{line[:3]}-{line[3:]}", f"{area}{line}",
                           f"{area}.{line[:3]}.{line[3:]}", f"+1 {area} {line[:3]} {line[3:]}", f"1-{area}-{line[:3]}-{line[3:]}"])
    number = phonenumbers.example_number_for_type(rng.choice(REGIONS), rng.choice(
        [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]))
    style = rng.choice([phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.E164])
    return phonenumbers.format_number(number, style)


def _luhn_complete(digits: str) -> str:
    for check in string.digits:
        candidate = digits + check
        total = sum(int(d) * (2 if i % 2 else 1) - (9 if int(d) * (2 if i % 2 else 1) > 9 else 0)
                    for i, d in enumerate(reversed(candidate)))
        if total % 10 == 0:
            return candidate
    raise AssertionError


def card(rng: random.Random, *, valid: bool = True) -> str:
    prefix, length = rng.choice([("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15), ("6011", 16)])
    digits = _luhn_complete(prefix + _chars(rng, string.digits, length - len(prefix) - 1))
    if not valid:
        digits = digits[:-1] + str((int(digits[-1]) + 1) % 10)
    groups = [digits[i:i + 4] for i in range(0, len(digits), 4)] if length == 16 else [digits[:4], digits[4:10], digits[10:]]
    return rng.choice([" ".join(groups), "-".join(groups), digits])


def ip(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return ".".join(str(rng.randint(1, 254)) for _ in range(4))
    groups = [f"{rng.randint(0, 65535):x}" for _ in range(8)]
    return rng.choice([":".join(groups), rng.choice(["2001:db8::", "fe80::", "2a02:6b8::"]) + ":".join(groups[:3])])


NEGATIVES = [
    lambda r: f"order #W{r.randint(1000000, 9999999)}", lambda r: f"reservation {_chars(r, UPPER_DIGITS, 6)}",
    lambda r: f"tracking 1Z{_chars(r, UPPER_DIGITS, 16)}", lambda r: f"card-like {card(r, valid=False)}",
    lambda r: f"${r.randint(1, 9999)}.{r.randint(0, 99):02}", lambda r: f"on 2026-{r.randint(1, 12):02}-{r.randint(1, 28):02}",
    lambda r: f"at {r.randint(0, 23):02}:{r.randint(0, 59):02}:{r.randint(0, 59):02}",
    lambda r: f"version {r.randint(0, 9)}.{r.randint(0, 30)}.{r.randint(0, 99)}",
    lambda r: f"request {r.getrandbits(128):032x}"[:8 + 36], lambda r: f"commit {r.getrandbits(160):040x}",
    lambda r: f"zip {r.randint(10000, 99999)}", lambda r: f"user mia_li_{r.randint(1000, 9999)}",
    lambda r: f"flight HAT{r.randint(100, 299)}", lambda r: f"{r.randint(2, 9)} passengers, {r.randint(1, 5)} bags",
    lambda r: f"product {r.randint(10**9, 10**10 - 1)}",  # ten digits, like an item id
]

TEMPLATES = {
    "API_KEY": ["my key is {v}, can you check why the call fails", "export OPENAI_API_KEY={v}", "Authorization header: {v}",
                '{{"api_key": "{v}", "region": "eu"}}'],
    "TOKEN": ["Authorization: Bearer {v}", "the session token {v} expired"],
    "PRIVATE_KEY": ["here is the deploy key:\n{v}\nplease add it", "{v}"],
    "PASSWORD": ["my password is {v} but it fails", "password: {v}", "connect to postgres://admin:{v}@db.internal:5432/app",
                 "login failed for pwd={v}"],
    "EMAIL": ["please send the receipt to {v}", "contact: {v}", '{{"email": "{v}"}}', "my email is {v}."],
    "PHONE": ["call me at {v} after 5", "phone: {v}", "my number is {v}.", '{{"phone": "{v}"}}'],
    "CARD": ["charge my card {v} please", "card number {v}, exp 09/28", '{{"card": "{v}", "cvv": "***"}}'],
    "IP": ["request from {v} was blocked", "ssh to {v} failed", "client_ip={v}"],
}
GENERATORS = {"API_KEY": api_key, "TOKEN": lambda r: r.choice([jwt(r), _chars(r, ALNUM, 32)]), "PRIVATE_KEY": private_key,
              "PASSWORD": password, "EMAIL": email, "PHONE": phone, "CARD": card, "IP": ip}


def labelled_set(n: int, seed: int) -> list[tuple[str, list[tuple[str, int, int]]]]:
    rng = random.Random(seed)
    examples = []
    for _ in range(n):
        kind = rng.choice(list(TEMPLATES))
        value = GENERATORS[kind](rng)
        if kind == "TOKEN" and not value.startswith("eyJ"):
            template = "Authorization: Bearer {v}"
        else:
            template = rng.choice(TEMPLATES[kind])
        sentence = template.format(v=value)
        start = sentence.index(value)
        noise = ", ".join(rng.choice(NEGATIVES)(rng) for _ in range(rng.randint(1, 3)))
        text = f"{noise}; {sentence}" if rng.random() < 0.5 else f"{sentence} ({noise})"
        offset = text.index(sentence)
        examples.append((text, [(kind, offset + start, offset + start + len(value))]))
    return examples


def real_texts() -> list[str]:
    texts = []
    for name in ("clinc150", "banking77"):
        for path in sorted((CORPORA / name).rglob("*.csv")) + sorted((CORPORA / name).rglob("*.json*")):
            if path.suffix == ".csv":
                with path.open(newline="", encoding="utf-8") as handle:
                    texts += [row[0] for row in csv.reader(handle) if row]
    return texts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    redactor = Redactor()
    examples = labelled_set(args.n, args.seed)
    found, gold_count, correct, predicted = Counter(), Counter(), Counter(), Counter()
    misses, false_hits = [], []
    start = time.perf_counter()
    for text, gold in examples:
        findings = redactor.find(text)
        for kind, begin, end in gold:
            gold_count[kind] += 1
            if any(f.kind == kind and f.start <= begin and end <= f.end for f in findings):
                found[kind] += 1
            else:
                misses.append((kind, text))
        for finding in findings:
            predicted[finding.kind] += 1
            if any(kind == finding.kind and begin <= finding.start and finding.end <= end for kind, begin, end in gold):
                correct[finding.kind] += 1
            else:
                false_hits.append((finding.kind, finding.value, text))
    seconds = time.perf_counter() - start

    print(f"{len(examples)} labelled texts, seed {args.seed}, {len(examples) / seconds:,.0f} texts/s\n")
    print("| kind | gold | recall | precision |\n|---|---|---|---|")
    for kind in TEMPLATES:
        precision = correct[kind] / predicted[kind] if predicted[kind] else float("nan")
        print(f"| {kind} | {gold_count[kind]} | {found[kind] / gold_count[kind]:.3f} | {precision:.3f} |")
    for kind, text in misses[:8]:
        print(f"missed {kind}: {text!r}")
    for kind, value, text in false_hits[:8]:
        print(f"false {kind} {value!r} in {text!r}")

    texts = real_texts()
    if texts:
        hits = Counter()
        examples_of = {}
        for text in texts:
            for finding in redactor.find(text):
                hits[finding.kind] += 1
                examples_of.setdefault(finding.kind, text)
        print(f"\nreal requests with no personal data (CLINC150 + Banking77, {len(texts):,} texts): "
              f"{sum(hits.values())} findings {dict(hits)}")
        for kind, text in examples_of.items():
            print(f"  e.g. {kind}: {text!r}")


if __name__ == "__main__":
    main()
