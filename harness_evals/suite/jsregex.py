"""Python `re` patterns as JavaScript RegExps with the same meaning, for promptfoo's assertions.

`to_javascript(pattern)` gives `(source, flags)` for `new RegExp(source, flags)` that matches
exactly where `re.search(pattern, text)` does, or raises Untranslatable saying why. The RegExp is
in Unicode mode (`u`); what differs between the two engines is rewritten:

- `\\w`, `\\d`, `\\b` are Unicode in Python, ASCII in JavaScript: written as `\\p{...}` classes
  (Python's `\\w` is exactly `[\\p{L}\\p{N}_]` and `\\d` is `\\p{Nd}`, by its own Unicode tables);
  `\\s` is written as the characters Python counts as space.
- `.` (no `s` flag) excludes only `\\n` in Python, also `\\r`, U+2028 and U+2029 in JavaScript:
  written `[^\\n]`. `$` matches before a final `\\n` in Python; `^`/`$` with `m` see only `\\n` as
  a line break. `\\A`, `\\Z` have no JavaScript spelling: written as lookarounds.
- Python-only syntax: `(?P<name>...)` → `(?<name>...)`, `(?P=name)` → `\\k<name>`, `(?#...)`
  dropped, leading inline flags `(?i)` `(?m)` `(?s)` `(?a)` become RegExp flags (or ASCII classes),
  `\\U0001F600` / `\\N{NAME}` / octal escapes become `\\u{...}`, `{,n}` becomes `{0,n}`; a literal
  `{`, `}` or `]` and escaped punctuation JavaScript does not accept in Unicode mode are escaped
  its way.
- `(?i)` folds i, I, İ and ı together in Python; JavaScript's `i` keeps İ and ı apart (and from
  i, I): where the pattern matches one of them, the translation matches all four.

Refused: the verbose flag `(?x)`, `(?a)` with `(?i)`, flags scoped to a group (`(?i:...)`, `(?-i:...)`: Node 20
has no RegExp modifiers), conditional groups `(?(1)...)`, atomic groups and possessive
quantifiers, `\\W`/`\\D`/`\\S` inside a character class, the locale flag, `\\B` (Python before 3.14
never matches it in an empty text, JavaScript does), and where the two engines read the same
syntax apart (_read_apart): a backreference to a group that may not have taken part (Python's then
fails, JavaScript's matches the empty text), a backreference under `(?i)`, and a quantified
lookaround (a JavaScript syntax error).
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from re import _parser  # re's own parser: the checks of _read_apart see the pattern exactly as re.search does

WORD = r"\p{L}\p{N}_"
DIGIT = r"\p{Nd}"
ASCII_WORD = "A-Za-z0-9_"
ASCII_DIGIT = "0-9"
ASCII_SPACE = r"\t\n\v\f\r "
JS_SYNTAX = set("^$\\.*+?()[]{}|/")
CLASS_ESCAPE = set("\\]^-[")
QUANTIFIER = re.compile(r"\{(\d*)(,(\d*))?\}")
FOLDED_TOGETHER = "Ii\u0130\u0131"  # what Python's (?i) reads as one letter, JavaScript's i as three
FOLDED = "[Ii\\u0130\\u0131]"


class Untranslatable(ValueError):
    """A Python pattern with no JavaScript RegExp of the same meaning; the message says why."""


@functools.cache
def python_space() -> str:
    """Python's `\\s` for text, as the body of a JavaScript character class."""
    spaces = [code for code in range(sys.maxunicode + 1) if re.match(r"\s", chr(code))]
    return "".join(_code(code) for code in spaces)


def _code(code: int) -> str:
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\u{{{code:x}}}"


def _literal(char: str, *, in_class: bool) -> str:
    """A character as a literal in Unicode-mode JavaScript, escaped where it would be syntax."""
    if in_class:
        return "\\" + char if char in CLASS_ESCAPE else char
    return "\\" + char if char in JS_SYNTAX else char


def to_javascript(pattern: str) -> tuple[str, str]:
    try:
        re.compile(pattern)
    except re.error as error:
        raise Untranslatable(f"it does not compile in Python: {error}") from None
    flags, position = _leading_flags(pattern)
    translator = _Translator(pattern, position, ascii="a" in flags, dotall="s" in flags, multiline="m" in flags,
                             ignorecase="i" in flags)
    source = translator.run()
    _read_apart(_parser.parse(pattern), ignorecase="i" in flags)
    return source, "u" + ("i" if "i" in flags else "")


def _read_apart(items: _parser.SubPattern | list, *, ignorecase: bool, taken: frozenset[int] = frozenset()
                ) -> frozenset[int]:
    """Raise Untranslatable where JavaScript reads this syntax otherwise than Python (the module
    docstring says where). `taken`: the groups that have surely taken part before `items`; the
    groups that surely have after them."""
    for op, argument in items:
        if op is _parser.GROUPREF:
            if ignorecase:
                raise Untranslatable("a backreference under (?i): Python folds i, I, İ and ı together, JavaScript "
                                     "does not, and what the group holds is only known at matching")
            if argument not in taken:
                raise Untranslatable(f"the backreference to group {argument}, which may not have taken part: "
                                     "Python's then fails, JavaScript's matches the empty text")
        elif op is _parser.SUBPATTERN:
            group, _, _, inner = argument
            taken = _read_apart(inner, ignorecase=ignorecase, taken=taken) | ({group} if group else set())
        elif op is _parser.BRANCH:
            branches = [_read_apart(branch, ignorecase=ignorecase, taken=taken) for branch in argument[1]]
            taken = frozenset.intersection(*branches)
        elif op in (_parser.MAX_REPEAT, _parser.MIN_REPEAT):
            low, _, inner = argument
            if len(inner) == 1 and inner[0][0] in (_parser.ASSERT, _parser.ASSERT_NOT):
                raise Untranslatable("a quantified lookaround is a syntax error in JavaScript: leave the quantifier "
                                     "out")
            # JavaScript clears a repeated group's captures each time round: only what each round sets counts
            after = _read_apart(inner, ignorecase=ignorecase, taken=taken)
            taken = after if low > 0 else taken
        elif op is _parser.ASSERT:
            taken = _read_apart(argument[1], ignorecase=ignorecase, taken=taken)
        elif op is _parser.ASSERT_NOT:  # a lookaround that must fail leaves no group set
            _read_apart(argument[1], ignorecase=ignorecase, taken=taken)
    return taken


def _leading_flags(pattern: str) -> tuple[set[str], int]:
    flags: set[str] = set()
    position = 0
    while (found := re.match(r"\(\?([aiLmsux]+)\)", pattern[position:])):
        flags |= set(found.group(1))
        position += found.end()
    if "x" in flags:
        raise Untranslatable("the verbose flag (?x) has no JavaScript form: write the pattern without it")
    if "L" in flags:
        raise Untranslatable("the locale flag (?L) has no JavaScript form")
    if {"a", "i"} <= flags:
        raise Untranslatable("(?a) with (?i) folds only ASCII letters in Python; JavaScript's i folds all of Unicode")
    return flags, position


class _Translator:
    def __init__(self, pattern: str, position: int, *, ascii: bool, dotall: bool, multiline: bool,
                 ignorecase: bool) -> None:
        self.pattern, self.position = pattern, position
        self.ascii, self.dotall, self.multiline, self.ignorecase = ascii, dotall, multiline, ignorecase
        self.word = ASCII_WORD if ascii else WORD
        self.digit = ASCII_DIGIT if ascii else DIGIT
        self.space = ASCII_SPACE if ascii else python_space()
        self.out: list[str] = []

    def run(self) -> str:
        while self.position < len(self.pattern):
            self._next()
        return "".join(self.out)

    def _take(self, count: int = 1) -> str:
        text = self.pattern[self.position:self.position + count]
        self.position += count
        return text

    def _peek(self, text: str) -> bool:
        return self.pattern.startswith(text, self.position)

    def _next(self) -> None:
        char = self.pattern[self.position]
        if char == "\\":
            self.out.append(self._escape(in_class=False))
        elif char == "[":
            self.out.append(self._class())
        elif char == "(":
            self.out.append(self._group())
        elif char == ".":
            self._take()
            self.out.append(r"[\s\S]" if self.dotall else r"[^\n]")
        elif char == "^":
            self._take()
            self.out.append(r"(?:^|(?<=\n))" if self.multiline else "^")
        elif char == "$":
            self._take()
            self.out.append(r"(?=\n|$)" if self.multiline else r"(?=\n?$)")
        elif char == "{":
            self.out.append(self._brace())
        elif char in "*+?":
            self._take()
            if self._peek("+"):
                raise Untranslatable("possessive quantifiers (*+, ++, ?+) have no JavaScript form")
            self.out.append(char)
        elif char in "}]":
            self._take()
            self.out.append("\\" + char)
        else:
            self.out.append(self._char(ord(self._take()), in_class=False, escaped=False))

    def _char(self, code: int, *, in_class: bool, escaped: bool = True) -> str:
        """A character of the pattern; outside a class under (?i), one of FOLDED_TOGETHER is all four
        (a class gets them in _class)."""
        if self.ignorecase and not in_class and chr(code) in FOLDED_TOGETHER:
            return FOLDED
        return _code(code) if escaped else chr(code)

    def _brace(self) -> str:
        found = QUANTIFIER.match(self.pattern, self.position)
        if not found or (found.group(1) == "" and found.group(2) is None):
            self._take()
            return r"\{"  # Python reads a brace that starts no quantifier (`{}`, `{x}`) as a literal
        self.position = found.end()
        if self._peek("+"):
            raise Untranslatable("possessive quantifiers ({m,n}+) have no JavaScript form")
        low = found.group(1) or "0"
        return "{" + low + ("" if found.group(2) is None else "," + (found.group(3) or "")) + "}"

    def _group(self) -> str:
        self._take()
        if not self._peek("?"):
            return "("
        for python, javascript in (("?:", "(?:"), ("?=", "(?="), ("?!", "(?!"), ("?<=", "(?<="), ("?<!", "(?<!")):
            if self._peek(python):
                self._take(len(python))
                return javascript
        if self._peek("?P<") or self._peek("?<"):
            self._take(3 if self._peek("?P<") else 2)
            end = self.pattern.index(">", self.position)
            name = self._take(end - self.position)
            self._take()
            if not re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$]*", name):
                raise Untranslatable(f"the group name {name!r} is not a JavaScript identifier")
            return f"(?<{name}>"
        if self._peek("?P="):
            self._take(3)
            end = self.pattern.index(")", self.position)
            name = self._take(end - self.position)
            self._take()
            return rf"\k<{name}>"
        if self._peek("?#"):
            self.position = self.pattern.index(")", self.position) + 1
            return ""
        if self._peek("?("):
            raise Untranslatable("conditional groups (?(id)yes|no) have no JavaScript form")
        if self._peek("?>"):
            raise Untranslatable("atomic groups (?>...) have no JavaScript form")
        raise Untranslatable("inline flags inside the pattern, or scoped to a group ((?i:...)), have no JavaScript "
                             "form in Node 20: put global flags at the start")

    def _class(self) -> str:
        self._take()
        out = ["["]
        negated = self._peek("^")
        if negated:
            out.append(self._take())
        body = self.position
        first = True
        while not self._peek("]") or first:
            if self.position >= len(self.pattern):
                raise Untranslatable("an unterminated character class")
            char = self.pattern[self.position]
            if char == "\\":
                out.append(self._escape(in_class=True))
            else:
                self._take()
                out.append("-" if char == "-" else _literal(char, in_class=True))
            first = False
        translated = "".join(out) + "]"
        # Under (?i) Python's class holds all of FOLDED_TOGETHER or none: JavaScript's gets them apart,
        # beside it (inside, they could end up in a range)
        if self.ignorecase and re.fullmatch(f"(?i)[{self.pattern[body:self.position]}]", "i"):
            translated = f"(?!{FOLDED}){translated}" if negated else f"(?:{translated}|{FOLDED})"
        self._take()
        return translated

    def _escape(self, *, in_class: bool) -> str:
        self._take()
        char = self._take()
        negated = {"W": self.word, "D": self.digit, "S": self.space}
        classes = {"w": self.word, "d": self.digit, "s": self.space}
        if char in classes:
            return classes[char] if in_class else f"[{classes[char]}]"
        if char in negated:
            if in_class:
                raise Untranslatable(f"\\{char} inside a character class has no JavaScript form in Unicode mode")
            return f"[^{negated[char]}]"
        if char == "b" and not in_class:
            word = f"[{self.word}]"
            return f"(?:(?<={word})(?!{word})|(?<!{word})(?={word}))"
        if char == "B":
            raise Untranslatable("\\B never matches in an empty text in Python (before 3.14), and does in JavaScript")
        if char == "b":
            return r"\u{8}"
        if char == "A":
            return r"(?<![\s\S])"
        if char == "Z":
            return r"(?![\s\S])"
        if char in "fnrtv":
            return "\\" + char
        if char == "x":
            return self._char(int(self._take(2), 16), in_class=in_class)
        if char == "u":
            return self._char(int(self._take(4), 16), in_class=in_class)
        if char == "U":
            return self._char(int(self._take(8), 16), in_class=in_class)
        if char == "N":
            end = self.pattern.index("}", self.position)
            name = self._take(end - self.position + 1)[1:-1]
            return self._char(ord(unicodedata.lookup(name)), in_class=in_class)
        if char == "a":
            return _code(7)
        if char.isdigit():
            return self._number(char, in_class=in_class)
        return _literal(char, in_class=in_class)

    def _number(self, first: str, *, in_class: bool) -> str:
        """Python's rule: `\\0` and three octal digits are a character (as is any number in a
        class); otherwise one or two digits are a backreference."""
        following = self.pattern[self.position:self.position + 2]
        octal = "01234567"
        if first == "0" or in_class:
            digits = first
            while len(digits) < 3 and self.pattern[self.position:self.position + 1] and \
                    self.pattern[self.position] in octal:
                digits += self._take()
            return self._char(int(digits, 8), in_class=in_class)
        if first in octal and len(following) == 2 and all(c in octal for c in following):
            return self._char(int(first + self._take(2), 8), in_class=in_class)
        if following[:1].isdigit():
            return "\\" + first + self._take()
        return "\\" + first
