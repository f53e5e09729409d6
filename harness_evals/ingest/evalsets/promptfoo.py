"""promptfoo test cases: a `promptfooconfig.yaml` (or `.json`) with inline `tests` and a
`defaultTest`, a tests file (a YAML or JSON list, JSON lines, or Parquet rows), or a tests CSV.

A test is `{description?, vars, assert?, metadata?, options?, ...}`; `defaultTest`'s vars,
asserts, options and metadata apply to every test, as promptfoo merges them. A var holding a list
of strings runs once per item in promptfoo, so it is one case per item here. The request is the
test's single var, or the var named by `--input-var` (`input_var` in a `[[sources]]` entry): a
file whose tests have several vars and none named is refused, listing them. A config's `tests`
may name local files (`file://tests.yaml`, `file://cases/*.csv`), read as if inline; a test's
location is then its position among the config's tests, and `scenarios` come after them (each
test of a scenario once per entry of its `config`, as promptfoo runs them). A test's vars may be files of vars
(`vars: file://vars.yaml`, or a list of paths), and a var's value a file (`file://question.txt`),
read as promptfoo reads them (`_with_vars_files`, `_with_var_files_read`).

Asserts become our checks where one means the same (`CHECKED_ASSERTS`), a number or boolean value
being its text, as promptfoo compares it with the output; promptfoo compares
`contains` case-sensitively and ours do not, and `equals` exactly where ours ignores surrounding
whitespace. Every other assert (and one with a `transform` or `threshold`, which change what is
checked) is kept in metadata under `asserts`. A test whose metadata holds `case_id` and `checks`
(what `suite export --format promptfoo` writes) takes those as its id and checks.

A CSV row is a test as promptfoo's `testCaseFromCsvRow` reads it: each column a var, except
`__expected`/`__expectedN` (an assert, `type:value`, plain text being `equals`), `__description`,
`__prefix`/`__suffix`, `__metric`, `__threshold`, `__providerOutput`, `__metadata:NAME` (`NAME[]`:
comma-separated) and `__config:__expectedN:threshold`.
"""

from __future__ import annotations

import glob
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness_evals.errors import UserError, describe_validation_error
from harness_evals.ingest.evalsets.cases import eval_case, exported_checks, with_fields
from harness_evals.ingest.evalsets.files import (
    CsvRow, csv_rows, document_records, read_a_record_at_a_time, read_structured, syntax_of,
)
from harness_evals.ingest.framing import (
    MAX_RECORD_BYTES, RAW_EXCERPT_CHARS, Parsed, Span, Unreadable, convert, document_text, first_value, problem_with,
    records,
)
from harness_evals.records import EvalCase
from harness_evals.suite.model import Expected, expected_json

NAME = "promptfoo"
CASE_ID_KEY, CHECKS_KEY = "case_id", "checks"  # where our own export puts a case's id and checks
KEPT_ASSERTS = "asserts"  # the metadata key of the asserts no check of ours means
TEST_FILE_SUFFIXES = (".yaml", ".yml", ".json", ".jsonl", ".csv")
# promptfoo's assertion types (BaseAssertionTypesSchema), for reading `type:value` in a CSV cell
ASSERTION_TYPES = (
    "answer-relevance", "bleu", "classifier", "contains", "contains-all", "contains-any", "contains-html",
    "contains-json", "contains-sql", "contains-xml", "context-faithfulness", "context-recall", "context-relevance",
    "conversation-relevance", "cost", "equals", "factuality", "finish-reason", "g-eval", "gleu", "guardrails",
    "human", "icontains", "icontains-all", "icontains-any", "is-html", "is-json", "is-refusal", "is-sql",
    "is-valid-function-call", "is-valid-openai-function-call", "is-valid-openai-tools-call", "is-xml", "javascript",
    "latency", "levenshtein", "llm-rubric", "meteor", "model-graded-closedqa", "model-graded-factuality",
    "moderation", "perplexity", "perplexity-score", "pi", "python", "regex", "rouge-l", "rouge-n", "rouge-s", "ruby",
    "select-best", "similar", "similar:cosine", "similar:dot", "similar:euclidean", "skill-used", "starts-with",
    "tool-call-f1", "trace-error-spans", "trace-span-count", "trace-span-duration", "trajectory:goal-success",
    "trajectory:step-count", "trajectory:tool-args-match", "trajectory:tool-sequence", "trajectory:tool-used",
    "webhook", "word-count",
)
_ASSERTION = re.compile(rf"^(not-)?({'|'.join(map(re.escape, sorted(ASSERTION_TYPES, key=len, reverse=True)))})"
                        r"(?:\((\d+(?:\.\d+)?)\))?(?::([\s\S]*))?$")
_LIST_VALUED = {"contains-all", "contains-any", "icontains-all", "icontains-any"}
_RAW_VALUED = {"contains-json", "is-json"}
_THRESHOLD_VALUED = {"answer-relevance", "classifier", "context-faithfulness", "context-recall", "context-relevance",
                     "cost", "latency", "levenshtein", "perplexity-score", "perplexity", "rouge-n", "similar",
                     "starts-with"}
_VAR = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}")
_NEUTRAL_ASSERT_KEYS = {"type", "value", "metric", "weight", "description"}  # none changes what passes


def looks_like_promptfoo(value: Any) -> bool:
    """A test (`vars`, `assert`), a config (`tests`, or `prompts` and `providers`), or a CSV that
    has promptfoo's `__` columns or no `input` column (every column is then a var)."""
    if isinstance(value, CsvRow):
        return any(column.startswith("__") for column in value) or "input" not in value
    return isinstance(value, dict) and ("vars" in value or "assert" in value or "tests" in value
                                        or {"prompts", "providers"} <= value.keys())


def read_promptfoo(path: Path, span: Span = Span(), options: Any = None) -> Iterator[Parsed]:
    """Every test as a case. Reads the whole file first, and refuses it (a UserError) before any
    case is stored if the tests have several vars and none is named."""
    input_var = getattr(options, "input_var", None)
    tests = _tests(path)
    if isinstance(tests, Unreadable):
        return iter([Parsed(1, "", tests.reason)])
    tests = [(location, raw, _with_var_files_read(test, path.parent)) for location, raw, test in tests]
    expanded = [(location, raw, combination) for location, raw, test in tests
                for combination in (_combinations(test) if isinstance(test, dict) else [test])]
    if input_var is None and (several := _vars_of_tests_with_several(expanded)):
        raise UserError(f"{path}: its tests have several vars ({', '.join(several)}) and none is named as the "
                        "request: pass --input-var NAME (input_var in a [[sources]] entry)")
    return (Parsed(location, raw, test.reason if isinstance(test, Unreadable)
                   else convert(lambda one: read_test(one, input_var), test)) for location, raw, test in expanded)


MESSAGES_VAR = "messages"


def read_test(test: dict[str, Any], input_var: str | None = None) -> EvalCase:
    """One promptfoo test (defaultTest merged in, vars expanded) as a case."""
    test = dict(test)
    variables = test.pop("vars", None) or {}
    if not isinstance(variables, dict):
        raise ValueError(f"vars: expected an object of variables, got {type(variables).__name__}")
    if not variables:
        raise ValueError("vars: none, and the request is a test's var")
    if input_var is not None and input_var not in variables:
        raise ValueError(f"vars: no {input_var!r} var (its vars: {', '.join(variables)}): give it one, or name "
                         "another with --input-var")
    conversation = variables.get(MESSAGES_VAR) if _is_conversation(variables) and input_var != MESSAGES_VAR else None
    request = input_var or next(name for name in variables if conversation is None or name != MESSAGES_VAR)
    metadata = test.pop("metadata", None) or {}
    if not isinstance(metadata, dict):
        raise ValueError(f"metadata: expected an object, got {type(metadata).__name__}")
    metadata = dict(metadata)
    case_id = metadata.pop(CASE_ID_KEY, None)
    asserts = test.pop("assert", None) or []
    if not isinstance(asserts, list):
        raise ValueError(f"assert: expected a list of asserts, got {type(asserts).__name__}")
    if CHECKS_KEY in metadata:
        expected, unchecked = exported_checks(metadata.pop(CHECKS_KEY), as_json_text=True), []
    else:
        expected, unchecked = checks_of(asserts, variables)
    others = {"vars": {name: value for name, value in variables.items()
                       if name != request and (conversation is None or name != MESSAGES_VAR)} or None,
              KEPT_ASSERTS: unchecked or None, **test}
    return eval_case(id=case_id, input=variables[request], expected=expected,
                     metadata=with_fields(metadata, others, format=NAME), format=NAME, input_field=f"vars.{request}",
                     messages=conversation)


def _is_conversation(variables: dict[str, Any]) -> bool:
    """A `messages` var holding chat messages beside a request var: the case's conversation, as a chat
    prompt (and our export of a multi-turn case) passes it, not a second candidate for the request."""
    messages = variables.get(MESSAGES_VAR)
    return len(variables) > 1 and isinstance(messages, list) and all(
        isinstance(message, dict) and "role" in message for message in messages)


def checks_of(asserts: list[Any], variables: dict[str, Any]) -> tuple[Any, list[Any]]:
    """The checks the asserts mean, as an expected object (None if none), and the asserts that mean
    no check of ours. `{{var}}` in an assert's value is the test's var, as promptfoo renders it."""
    checks: dict[str, Any] = {}
    unchecked = [assertion for assertion in asserts if not _add_check(checks, assertion, variables)]
    if not checks:
        return None, unchecked
    try:
        return expected_json(Expected.model_validate(checks)), unchecked
    except ValidationError as error:
        raise ValueError(f"assert: {describe_validation_error(error)}") from None


CHECKED_ASSERTS = {  # promptfoo's assert type -> our check, for a value of the shape the check takes
    "equals": "equals", "contains": "contains", "icontains": "contains", "contains-all": "contains",
    "icontains-all": "contains", "not-contains": "not_contains", "not-icontains": "not_contains", "regex": "regex",
    "is-json": "json_schema", "llm-rubric": "rubric", "trajectory:tool-used": "required_tools",
    "not-trajectory:tool-used": "forbidden_tools",
}
_SINGLE_CHECKS = {"equals", "regex", "json_schema", "rubric"}  # one per case: a second such assert is kept


def _add_check(checks: dict[str, Any], assertion: Any, variables: dict[str, Any]) -> bool:
    if not isinstance(assertion, dict) or set(assertion) - _NEUTRAL_ASSERT_KEYS:
        return False
    check = CHECKED_ASSERTS.get(assertion.get("type"))
    value = _rendered(assertion.get("value"), variables)
    if check is None or (check in _SINGLE_CHECKS and check in checks):
        return False
    if check == "json_schema":
        schema = _schema(value)
        if schema is None:
            return False
        checks[check] = schema
        return True
    texts = [_text_of(text) for text in (value if isinstance(value, list) else [value])]
    if not (texts and all(isinstance(text, str) for text in texts)):
        return False
    if check in _SINGLE_CHECKS:
        if len(texts) != 1 or (check == "regex" and not _compiles(texts[0])):
            return False
        checks[check] = texts[0]
        return True
    # `not-trajectory:tool-used` with several tools fails only when all were used: no forbidden_tools
    if assertion["type"] in ("contains", "icontains", "not-contains", "not-icontains", "not-trajectory:tool-used") \
            and len(texts) != 1:
        return False
    checks.setdefault(check, []).extend(texts)
    return True


def _rendered(value: Any, variables: dict[str, Any]) -> Any:
    if not isinstance(value, str):
        return value
    return _VAR.sub(lambda match: str(variables[match[1]]) if isinstance(variables.get(match[1]), str | int | float)
                    else match[0], value)


def _text_of(value: Any) -> Any:
    """A number or boolean as the text promptfoo compares with the output (JavaScript's `String`: 4.0 is
    "4"); anything else as it is."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value) if isinstance(value, int | float) else value


def _schema(value: Any) -> dict[str, Any] | None:
    """is-json's schema: none (any JSON), an object, or an object's JSON text."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    return value if isinstance(value, dict) else None


def _compiles(pattern: str) -> bool:
    """promptfoo's regexes are JavaScript's: one Python cannot compile stays an assert."""
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _combinations(test: dict[str, Any]) -> list[dict[str, Any]]:
    """The test once per combination of its list vars' items, as promptfoo runs it (a list whose
    first item is not text is one value). A var's name is text, as a JavaScript object's keys are
    (YAML reads `1:` as a number)."""
    variables = test.get("vars")
    if not isinstance(variables, dict):
        return [test]
    combinations: list[dict[str, Any]] = [{}]
    for name, value in variables.items():
        values = value if isinstance(value, list) and value and isinstance(value[0], str) else [value]
        combinations = [{**combination, str(name): item} for combination in combinations for item in values]
    return [{**test, "vars": combination} for combination in combinations]


def _vars_of_tests_with_several(tests: list[tuple[int, str, Any]]) -> list[str]:
    names: dict[str, None] = {}
    for _, _, test in tests:
        variables = test.get("vars") if isinstance(test, dict) else None
        if isinstance(variables, dict) and len(variables) - _is_conversation(variables) > 1:
            names.update(dict.fromkeys(variables))
    return list(names)


Test = dict[str, Any] | Unreadable  # a test, or why a record is not one


def _tests(path: Path) -> list[tuple[int, str, Test]] | Unreadable:
    """(location, raw excerpt, test) of each test of the file, its vars files read (`_with_vars_files`)
    and defaultTest merged in."""
    here = path.parent
    if read_a_record_at_a_time(path) and not _is_config(first_value(path)):  # a config may be JSON on one line
        return [(line, raw.rstrip("\n")[:RAW_EXCERPT_CHARS], _with_vars_files(_checked(value), here))
                for line, raw, value in records(path)]
    if syntax_of(path) == "csv":
        rows = csv_rows(path)
        return rows if isinstance(rows, Unreadable) else [(line, _excerpt(row), _row_test(row)) for line, row in rows]
    document = read_structured(path)
    if isinstance(document, Unreadable):
        return document
    if not _is_config(document):
        return [(position, _excerpt(value), _with_vars_files(_checked(value), here))
                for position, value in enumerate(document_records(document), start=1)]
    default = _default_test(document.get("defaultTest"), path)
    tests = [test for entry in _entries(document.get("tests"), path) for test in entry]
    tests += _scenario_tests(document.get("scenarios"), path)
    return [(position, _excerpt(test), _merged(default, test) if isinstance(test, dict) else test)
            for position, test in enumerate(tests, start=1)]


def _with_vars_files(test: Test, here: Path) -> Test:
    """The test with its vars read from the files it names (`vars: file://vars.yaml`, or a list of
    paths, globs too, each file's vars over the ones before), relative to the folder of the file that
    holds the test, as promptfoo reads them; or why they cannot be read."""
    if isinstance(test, Unreadable) or not isinstance(test.get("vars"), str | list):
        return test
    variables: dict[str, Any] = {}
    for reference in [test["vars"]] if isinstance(test["vars"], str) else test["vars"]:
        if not isinstance(reference, str):
            return Unreadable(f"vars: a list of vars files holds a {type(reference).__name__}: name each file by "
                              "its path, or give the vars as an object")
        files = sorted(glob.glob(str(here / reference.removeprefix("file://"))))
        if not files:
            return Unreadable(f"vars: {reference!r} is no file: write its path relative to {here}")
        for file in files:
            read = read_structured(Path(file))
            if isinstance(read, Unreadable) or not isinstance(read, dict):
                why = read.reason if isinstance(read, Unreadable) else f"holds a {type(read).__name__}"
                return Unreadable(f"vars: {reference!r}: {file} {why}, not an object of vars")
            variables.update(read)
    return {**test, "vars": variables}


SCRIPT_SUFFIXES = (".js", ".ts", ".mjs", ".cjs", ".py")  # a var file:// to one is the value the script returns
NOT_TEXT_SUFFIXES = (".pdf", ".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".svg", ".mp4", ".webm", ".ogg", ".mov",
                     ".avi", ".wmv", ".mkv", ".m4v")  # promptfoo passes these as extracted text or base64


def _with_var_files_read(test: Test, base: Path) -> Test:
    """The test with each var whose value is `file://PATH` holding what promptfoo renders it as, relative
    to `base` (the config's folder): a text file's text, trimmed; a YAML file's value as JSON text; a glob,
    each file it matches (one test per file). A script's value, a PDF or a media file are not read:
    the test is refused saying so."""
    if isinstance(test, Unreadable) or not isinstance(test.get("vars"), dict):
        return test
    variables: dict[Any, Any] = {}
    try:
        for name, value in test["vars"].items():
            if isinstance(value, list):
                variables[name] = [_var_file(name, item, base) if _is_file_reference(item) else item for item in value]
            elif _is_file_reference(value) and glob.has_magic(value):
                files = sorted(glob.glob(str(base / value.removeprefix("file://"))))
                if not files:
                    raise ValueError(f"vars.{name}: {value!r} matches no file: write its path relative to {base}")
                variables[name] = [_var_file(name, f"file://{file}", base) for file in files]
            else:
                variables[name] = _var_file(name, value, base) if _is_file_reference(value) else value
    except ValueError as error:
        return Unreadable(str(error))
    return {**test, "vars": variables}


def _is_file_reference(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("file://")


def _var_file(name: Any, reference: str, base: Path) -> str:
    path = base / reference.removeprefix("file://")
    suffix = path.suffix.lower()
    if suffix.partition(":")[0] in SCRIPT_SUFFIXES:  # `file://vars.py:get_var` names a function in it
        raise ValueError(f"vars.{name}: {reference!r} is a script, which promptfoo runs for the var's value: put the "
                         "value it returns in the test")
    if suffix in NOT_TEXT_SUFFIXES:
        raise ValueError(f"vars.{name}: {reference!r} is not text (promptfoo passes it as extracted text or base64): "
                         "put the text the case is about in the test")
    if not path.is_file():
        raise ValueError(f"vars.{name}: {reference!r} is no file: write its path relative to {base}")
    if path.stat().st_size > MAX_RECORD_BYTES:
        raise ValueError(f"vars.{name}: {reference!r} is over the {MAX_RECORD_BYTES // 2**20} MiB a record may hold")
    if suffix in (".yaml", ".yml"):
        value = read_structured(path)
        if isinstance(value, Unreadable):
            raise ValueError(f"vars.{name}: {reference!r}: {value.reason}")
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)  # JSON.stringify's
    text = document_text(path)
    if isinstance(text, Unreadable):
        raise ValueError(f"vars.{name}: {reference!r}: {text.reason}")
    return text.strip()


CONFIG_FIELDS = ("tests", "scenarios", "prompts", "providers", "defaultTest")


def _is_config(document: Any) -> bool:
    return isinstance(document, dict) and any(field in document for field in CONFIG_FIELDS) \
        and "vars" not in document


def _checked(value: Any) -> Test:
    if isinstance(value, Unreadable):
        return value
    problem = problem_with(value)
    if problem:
        return Unreadable(problem)
    return value if isinstance(value, dict) else \
        Unreadable(f"expected a test (an object with vars), got {type(value).__name__}")


def _row_test(row: CsvRow) -> Test:
    try:
        return test_of_row(row)
    except ValueError as error:
        return Unreadable(str(error))


def _excerpt(value: Any) -> str:
    return json.dumps(value, ensure_ascii=problem_with(value) is not None, default=str)[:RAW_EXCERPT_CHARS]


def _entries(tests: Any, config: Path) -> Iterator[list[Any]]:
    """A config's `tests`: inline tests, and local test files named `file://PATH` (globs too)."""
    for entry in tests if isinstance(tests, list) else [] if tests is None else [tests]:
        yield _referenced_tests(entry, config) if isinstance(entry, str) else [_with_vars_files(_checked(entry),
                                                                                                config.parent)]


def _referenced_tests(reference: str, config: Path) -> list[Test]:
    pattern = reference.removeprefix("file://")
    files = sorted(glob.glob(str(config.parent / pattern))) if reference.startswith("file://") else []
    if not files and reference.startswith("file://") and pattern.lower().endswith(TEST_FILE_SUFFIXES):
        raise UserError(f"{config}: its tests {reference!r}: no such file: write the path relative to the config")
    if not files or not all(file.lower().endswith(TEST_FILE_SUFFIXES) for file in files):
        raise UserError(f"{config}: its tests {reference!r} are not local test files ({', '.join(TEST_FILE_SUFFIXES)}):"
                        " write the tests out as one (a generator's or a dataset's) and ingest that file")
    tests: list[Test] = []
    for file in files:
        read = _tests(Path(file))
        if isinstance(read, Unreadable):
            raise UserError(f"{file} (tests of {config}): {read.reason}")
        tests += [test for _, _, test in read]
    return tests


def _scenario_tests(scenarios: Any, config: Path) -> list[Test]:
    """A config's `scenarios` as the tests promptfoo runs of them, after its `tests`: each of a scenario's
    tests (one empty test if it has none) once per entry of its `config`. A scenario may be named as a
    local file (`file://scenarios.yaml`, holding one or a list)."""
    tests: list[Test] = []
    for scenario in scenarios if isinstance(scenarios, list) else [] if scenarios is None else [scenarios]:
        for one in _scenarios_of(scenario, config):
            entries = one.get("config") or []
            if not isinstance(entries, list):
                raise UserError(f"{config}: a scenario's config is not a list of vars, asserts and metadata")
            scenario_tests = [test for entry in _entries(one.get("tests") or [{}], config) for test in entry]
            tests += [_scenario_test(_with_vars_files(_checked(entry), config.parent), test)
                      for entry in entries for test in scenario_tests]
    return tests


def _scenarios_of(scenario: Any, config: Path) -> list[dict[str, Any]]:
    if _is_file_reference(scenario):
        file = config.parent / scenario.removeprefix("file://")
        read = read_structured(file) if file.is_file() else Unreadable("no such file")
        if isinstance(read, Unreadable):
            raise UserError(f"{config}: its scenarios {scenario!r}: {read.reason}: write the path relative to the "
                            "config")
        scenario = read
    found = scenario if isinstance(scenario, list) else [scenario]
    if not all(isinstance(one, dict) for one in found):
        raise UserError(f"{config}: a scenario is not an object of config and tests, as promptfoo reads them")
    return found


def _scenario_test(entry: Test, test: Test) -> Test:
    """A scenario's test under one entry of its config, as promptfoo merges them: vars and metadata
    merged (the test's win), asserts concatenated, any other field the test's; the entry's options are
    not kept, as promptfoo keeps only the test's."""
    if isinstance(entry, Unreadable) or isinstance(test, Unreadable):
        return entry if isinstance(entry, Unreadable) else test
    merged = {**{key: value for key, value in entry.items() if key != "options"}, **test}
    for key in ("vars", "metadata"):
        parts = [part.get(key) or {} for part in (entry, test)]
        if not all(isinstance(part, dict) for part in parts):
            return Unreadable(f"{key}: expected an object in the scenario's config and test")
        merged[key] = {**parts[0], **parts[1]}
    merged["assert"] = [*(entry.get("assert") or []), *(test.get("assert") or [])]
    return merged


def _default_test(default: Any, config: Path) -> dict[str, Any]:
    if isinstance(default, str) and default.startswith("file://"):
        file = config.parent / default.removeprefix("file://")
        if not file.is_file():
            raise UserError(f"{config}: its defaultTest {default!r} is not a file: write the path relative to the "
                            "config, or the default test inline")
        default = read_structured(file)
        if isinstance(default, Unreadable):
            raise UserError(f"{config}: its defaultTest file: {default.reason}")
    if default is None:
        return {}
    if not isinstance(default, dict):
        raise UserError(f"{config}: defaultTest is not an object of vars, assert, options and metadata")
    default = _with_vars_files(default, config.parent)
    if isinstance(default, Unreadable):
        raise UserError(f"{config}: its defaultTest: {default.reason}")
    return default


def _merged(default: dict[str, Any], test: dict[str, Any]) -> dict[str, Any]:
    """The test with defaultTest applied, as promptfoo does: vars, options and metadata merged (the
    test's win), asserts concatenated, any other default field where the test has none."""
    if not default:
        return test
    merged = {**default, **test}
    for key in ("vars", "options", "metadata"):
        if isinstance(default.get(key), dict) and isinstance(test.get(key, {}), dict):
            merged[key] = {**default[key], **test.get(key, {})}
    merged["assert"] = [*(default.get("assert") or []), *(test.get("assert") or [])]
    return merged


def test_of_row(row: CsvRow) -> dict[str, Any]:
    """A CSV row as the test promptfoo's `testCaseFromCsvRow` makes of it."""
    variables: dict[str, Any] = {}
    asserts: list[dict[str, Any]] = []
    test: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    options: dict[str, Any] = {}
    configs: dict[int, dict[str, Any]] = {}
    for column, cell in row.items():
        column, cell = (column or "").strip(), cell or ""
        if column.startswith("__expected"):
            if cell.strip():
                asserts.append(assertion_from_text(cell.strip()))
        elif column in ("__prefix", "__suffix"):
            options[column[2:]] = cell
        elif column in ("__description", "__providerOutput", "__metric"):
            if cell:
                test[column[2:]] = cell
        elif column == "__threshold":
            if cell.strip():
                test["threshold"] = _number(cell, column)
        elif column.startswith("__metadata:"):
            key = column.removeprefix("__metadata:")
            if cell.strip() and key.endswith("[]"):
                metadata[key[:-2]] = [item.strip().replace("\\,", ",") for item in re.split(r"(?<!\\),", cell)]
            elif cell.strip():
                metadata[key] = cell
        elif column.startswith("__config:"):
            if cell.strip():
                target, _, key = column.removeprefix("__config:").partition(":")
                index = 0 if target == "__expected" else _number(target.removeprefix("__expected"), column) - 1
                configs.setdefault(int(index), {})[key] = _number(cell, column)
        elif column == "__metadata":  # promptfoo ignores a __metadata column without a key; it is kept
            if cell.strip():
                metadata[column] = cell
        else:
            variables[column] = cell
    metric = test.pop("metric", None)
    for index, assertion in enumerate(asserts):
        if metric is not None:
            assertion["metric"] = metric
        assertion.update(configs.get(index, {}))
    return {"vars": variables, "assert": asserts, **({"options": options} if options else {}), **test,
            **({"metadata": metadata} if metadata else {})}


def assertion_from_text(text: str) -> dict[str, Any]:
    """A `__expected` cell as promptfoo's `assertionFromString` reads it."""
    for prefixes, kind in ((("javascript:", "fn:", "eval:"), "javascript"), (("python:",), "python")):
        for prefix in prefixes:
            if text.startswith(prefix):
                return {"type": kind, "value": text[len(prefix):].strip()}
    for prefix in ("grade:", "llm-rubric:"):
        if text.startswith(prefix):
            return {"type": "llm-rubric", "value": text[len(prefix):]}
    if text.startswith("file://"):
        script = text[len("file://"):]
        if script.endswith(".py") or ".py:" in script:
            return {"type": "python", "value": script.strip()}
        if re.search(r"\.(js|ts|mjs|cjs)(:|$)", script):
            return {"type": "javascript", "value": script.strip()}
    match = _ASSERTION.match(text)
    if match is None:
        return {"type": "equals", "value": text}
    negated, kind, threshold, value = match.groups()
    assertion: dict[str, Any] = {"type": f"{negated or ''}{kind}"}
    if kind in _LIST_VALUED:
        assertion["value"] = [item.strip() for item in value.split(",")] if value else value
    elif kind in _RAW_VALUED:
        assertion["value"] = value
    else:
        assertion["value"] = value.strip() if value is not None else None
    if kind in _THRESHOLD_VALUED:
        assertion["threshold"] = float(threshold) if threshold else 0.8 if kind == "similar" else 0.75
    return assertion


def _number(cell: str, column: str) -> float:
    try:
        return float(cell)
    except ValueError:
        raise ValueError(f"{column}: {cell!r} is not a number") from None
