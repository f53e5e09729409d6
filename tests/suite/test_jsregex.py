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
    r"a|b{3}", r"\101", r"[/]", r"}",
    # (?i) reads i, I, İ and ı as one letter in Python, as three in JavaScript: literal, escaped, in classes
    r"(?i)pin", r"(?i)[a-z]+", r"(?i)[^a-z]", r"(?i)[h-j]", r"(?i)[-i]", r"(?i)[i-]", r"(?i)[^-i]",
    r"(?i)\u0131", r"(?i)[\u0130]", r"(?i)\x49n", r"(?i)[^\d]", r"(?i)[a-h]", r"(?i)\111",
    # backreferences to groups that surely took part
    r"^(\")\w+\1$", r"(?:(a)b)+\1", r"(?=(a))\1", r"x|(a)\1", r"(a)(?:b|c)\1",
]
TEXTS = ["PIN", "your pin is", "SPINNER", "order 42", "hello hello", "héllo héllo", "refund", "refund\n",
         "refund\n\n", "a\ntotal: 12\nb", "total: 12\r", "start\nend", "start\rend", "start\u2028end", "ok", "ok\n",
         "café", "caf_", "٤٢", "12", "xxy", "y", "a{}", "]]a", "!?", "é!", "1-2", "Aé😀", "a—b", "tea", "a #-b",
         "aa", "ab", "\0", "\x08", "\x1c", "\x85", "\ufeff", "$12.50", "no refund", "a refund", "bbb", "A", "/", "}",
         "xé", "ﬀ", "i", "I", "\u0130", "\u0131", "p\u0131n", "P\u0130N", "-", "\u0131n", '"abc"', "abc", "aba",
         "ababa", "aa", "xaa", "abca", "acb"]
REFUSED = {r"(?x)a b": "verbose", r"(?i:a)b": "scoped to a group", r"(?-i:a)b": "scoped to a group", r"(a)?(?(1)b|c)": "conditional",
           r"(?>a)": "atomic", r"a*+": "possessive", r"[\W]": "inside a character class", r"(?ai)k": "ASCII letters",
           r"\B\w": "never matches in an empty text",  # Python before 3.14; JavaScript's does
           r'^(")?\w+\1$': "group 1, which may not have taken part", r"(a)|\1b": "may not have taken part",
           r"(?:(a)|b)+\1": "may not have taken part", r"(?!(a))\1": "may not have taken part",
           r"(a)*\1": "may not have taken part", r"(?i)(\w)\1": r"backreference under \(\?i\)",
           r"(?=a)*b": "quantified lookaround", r"a(?!b)+": "quantified lookaround"}


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
