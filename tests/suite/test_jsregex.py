"""Python patterns and their JavaScript translations match the same texts (differential, in Node)."""

import json
import re
import shutil
import subprocess

import pytest

from harness_evals.suite.jsregex import Untranslatable, to_javascript

PATTERNS = [
    r"(?i)\bPIN\b", r"order (?P<number>\d+)", r"(?P<word>\w+) (?P=word)", r"^refund$", r"(?m)^total: \d+$",
    r"(?s)start.end", r"start.end", r"\Aok\Z", r"caf\w", r"\d{2,}", r"x{,2}y", r"a{}", r"[]a]+", r"[^\w\s]+",
    r"[\d-]+", r"\x41\u00e9\U0001F600", r"\N{EM DASH}", r"(?#a comment)tea", r"\ \#\-", r"(\w)\1", r"\0",
    r"[\b]", r"\s+", r"\S+", r"(?a)\w+", r"\W", r"(?<=\$)\d+", r"(?<!no )refund", r"\$\d+(?:\.\d\d)?",
    r"a|b{3}", r"\101", r"[/]", r"}", r"\B\w",
]
TEXTS = ["PIN", "your pin is", "SPINNER", "order 42", "hello hello", "héllo héllo", "refund", "refund\n",
         "refund\n\n", "a\ntotal: 12\nb", "total: 12\r", "start\nend", "start\rend", "start\u2028end", "ok", "ok\n",
         "café", "caf_", "٤٢", "12", "xxy", "y", "a{}", "]]a", "!?", "é!", "1-2", "Aé😀", "a—b", "tea", "a #-b",
         "aa", "ab", "\0", "\x08", "\x1c", "\x85", "\ufeff", "$12.50", "no refund", "a refund", "bbb", "A", "/", "}",
         "xé", "ﬀ"]
REFUSED = {r"(?x)a b": "verbose", r"(?i:a)b": "scoped to a group", r"(?-i:a)b": "scoped to a group", r"(a)?(?(1)b|c)": "conditional",
           r"(?>a)": "atomic", r"a*+": "possessive", r"[\W]": "inside a character class", r"(?ai)k": "ASCII letters"}


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.skip("node is not installed")
    return found


def test_each_translation_matches_where_python_matches(node):
    translated = [to_javascript(pattern) for pattern in PATTERNS]
    script = ("const [cases, texts] = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "console.log(JSON.stringify(cases.map(([s, f]) => texts.map(t => new RegExp(s, f).test(t)))));")
    result = subprocess.run([node, "-e", script], input=json.dumps([translated, TEXTS]), capture_output=True,
                            text=True, timeout=60, check=True)
    javascript = json.loads(result.stdout)
    differing = [(pattern, text) for pattern, row in zip(PATTERNS, javascript) for text, matched in zip(TEXTS, row)
                 if matched != (re.search(pattern, text) is not None)]
    assert differing == []


@pytest.mark.parametrize(("pattern", "reason"), REFUSED.items())
def test_a_pattern_without_a_javascript_form_is_refused_with_the_reason(pattern, reason):
    with pytest.raises(Untranslatable, match=reason):
        to_javascript(pattern)
