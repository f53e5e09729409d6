"""Settings, from harness-evals.toml: the one place that holds their defaults.

Layers, weakest first: the defaults of the models below, the settings file, the command's flags.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from harness_evals.errors import UserError, describe_validation_error
from harness_evals.redact import RedactionRules
from harness_evals.mine.signals import DetectorSettings
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo

CONFIG_FILE = Path("harness-evals.toml")
CONFIG_ENV_VAR = "HARNESS_EVALS_CONFIG"
DASK_EXTRA_HINT = "pip install 'harness-evals[mine,dask]'"


class ConfigError(UserError):
    """The settings file is unreadable or invalid; the message names the file and the field."""


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path
    kind: Literal["production", "eval"] = "production"  # also `ingest`'s defaults
    format: str = "auto"
    input_var: str | None = None  # the var of a promptfoo test that is the request, when its tests have several


class MineSettings(BaseModel):
    """The descriptions are the `mine` command's help and explain a refused value."""

    model_config = ConfigDict(extra="forbid")

    budget: int = Field(default=20, ge=0, description="At most this many traces are queued for labelling")
    embedder: str = Field(default="minilm", description=(
        "minilm (the packaged model), minilm-int8 (faster), hashing (no model, for dry runs), "
        "st:FOLDER (a sentence-transformers model saved in FOLDER), or a plugin's (README, Extending)"))
    view: str = Field(default="intent", description=(
        "Which text of a trace to embed: intent, trajectory, outcome, or a plugin's (README, Extending)"))
    min_cluster_size: int = Field(default=5, ge=2, description=(
        "HDBSCAN's smallest cluster: fewer traces this close together are noise"))
    dimensions: int = Field(default=16, ge=2, description=(
        "PCA dimensions the embeddings are reduced to before clustering"))
    covered_similarity: float | None = Field(  # None: calibrated from the eval set's own spacing
        default=None, gt=-1, le=1, description="Cosine similarity at which an eval case covers a trace")
    seed: int = Field(default=0, description="Seed for every random choice")
    clusterer: str = Field(default="pca-hdbscan", description=(
        "What groups traces into regions: pca-hdbscan (PCA to --dimensions, then HDBSCAN), or a plugin's "
        "(README, Extending)"))
    coverage_judge: str = Field(default="local-reach", description=(
        "What says whether an eval case covers a trace: local-reach (its nearest case within "
        "--covered-similarity, and only in that case's own structure of the traffic), nearest-eval-case "
        "(within --covered-similarity, however far the traffic around it reaches), or a plugin's (README, "
        "Extending)"))
    ruler_refit_share: float = Field(default=0.2, gt=0, le=1, description=(
        "The coverage ruler is refitted when this share of the eval set it was fitted on has changed "
        "(cases added, removed or reworded); otherwise every run measures with the same ruler"))
    detectors: DetectorSettings = DetectorSettings()


class SuggestSettings(BaseModel):
    """The draft checks each queued item comes with (label.suggest); the descriptions are `queue export`'s help."""

    model_config = ConfigDict(extra="forbid")

    min_successful: int = Field(default=3, ge=1, description=(
        "Suggest tool checks and a reference only from a region with at least this many other successful traces"))
    required_share: float = Field(default=0.75, gt=0, le=1, description=(
        "Suggest a tool as required when at least this share of the region's successful traces call it"))


class ToolSettings(BaseModel):
    """`[tools]`: what the tool report (and the reading list's shifts) call a pattern."""

    model_config = ConfigDict(extra="forbid")

    min_traces: int = Field(default=3, ge=1, description=(
        "A pattern is reported once it has shown up in this many traces: once is an accident"))
    significance: float = Field(default=0.05, gt=0, lt=1, description=(
        "False discovery rate of the reach, error-shape and release-shift tests (Fisher's exact test)"))


class ReviewSettings(BaseModel):
    """`[review]`: the reading list of a release."""

    model_config = ConfigDict(extra="forbid")

    n: int = Field(default=30, ge=1, description="Trajectories on the reading list")
    out: Path = Path("data/review")  # <release>.jsonl and <release>.html are written here


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    db: Path | None = None  # under --db and $HARNESS_EVALS_DB; None: data/harness.duckdb (store.resolve_db_path)
    # What a run reads: none by default, so a run never quietly reads files it was not given (`make
    # run` names the bundled sample with --config data/sample/harness-evals.toml).
    sources: list[Source] = []
    labels: list[Path] = []
    queue_out: Path = Path("data/queue.jsonl")
    report_out: Path = Path("data/report.html")
    namer: str | None = None  # module:function(keywords, examples) -> a cluster name, e.g. an LLM call
    suite_dir: Path = Path("data/suites")
    suite_name: str = "regression"
    schedule: str = "0 2 * * *"  # the nightly run: extends the last fit unless it has gone stale
    full_schedule: str = "0 3 * * 0"  # the weekly run that refits the clusters on everything
    mine: MineSettings = MineSettings()
    suggest: SuggestSettings = SuggestSettings()
    tools: ToolSettings = ToolSettings()
    review: ReviewSettings = ReviewSettings()
    redact: RedactionRules = RedactionRules()
    prompt_contract: Path | None = None  # TOML or YAML (harness_evals.prompts.assembly.PromptContract); flags feed sampling
    # Encoding and cluster placement on a Dask cluster: its scheduler's address (tcp://host:8786),
    # or "local" for a temporary cluster on this machine. None: in this process.
    dask: str | None = None

    @field_validator("dask")
    @classmethod
    def _dask_address(cls, value: str | None) -> str | None:
        if value is not None and value != "local" and not re.fullmatch(r"[a-z]+://\S+", value):
            raise ValueError(f"give a Dask scheduler's address such as tcp://10.0.0.5:8786, or local; got {value!r}")
        return value


def settings_file(path: str | Path | None = None) -> Path:
    """--config wins, then $HARNESS_EVALS_CONFIG, then ./harness-evals.toml (which may not exist)."""
    return Path(path or os.environ.get(CONFIG_ENV_VAR) or CONFIG_FILE)


def load_settings(path: str | Path | None = None) -> Settings:
    """The settings file's values over the defaults (`settings_file`); none there: the defaults."""
    chosen = settings_file(path)
    if not chosen.exists():
        if path or os.environ.get(CONFIG_ENV_VAR):
            raise ConfigError(f"{chosen}: no such settings file")
        return Settings()
    try:
        return Settings.model_validate(tomllib.loads(chosen.read_text()))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{chosen}: not valid TOML: {error}") from error
    except ValidationError as error:
        raise ConfigError(f"{chosen}: {describe_validation_error(error, explain=_out_of_range)}") from error


def with_flags(settings: Settings, **flags: Any) -> Settings:
    """`settings` with each flag that was given (not None) in place of the file's value or the
    default; a section's flags come as a dict, e.g. mine={"budget": 3}. The values pass the same
    checks as the file's, and a refusal names the flag."""
    layered = settings.model_dump()
    for key, value in flags.items():
        if isinstance(value, dict):
            layered[key] = {**layered[key], **{name: given for name, given in value.items() if given is not None}}
        elif value is not None:
            layered[key] = value
    try:
        return Settings.model_validate(layered)
    except ValidationError as error:  # the file's values passed when it was read: a flag is wrong
        raise ConfigError(describe_validation_error(
            error, where=lambda location: "--" + str(location[-1]).replace("_", "-"), explain=_out_of_range)) from None


def check_inputs(settings: Settings, config: str | Path | None = None) -> None:
    """Before a run starts anything (Prefect alone takes seconds): with no sources it says how to
    configure them, and a source or label file that is not there is named."""
    chosen = settings_file(config)
    if not settings.sources:
        where = f"{chosen} lists none: add them to it" if chosen.exists() else \
            f"add them to ./{CONFIG_FILE} (or a file you pass with --config)"
        raise ConfigError(
            f"no sources to read: {where}, one [[sources]] table per file or all on one line before any [section]: "
            'sources = [{ path = "traces.jsonl", kind = "production" }, { path = "evals.jsonl", kind = "eval" }]'
        )
    inputs = [("source", source.path) for source in settings.sources] + [("labels", path) for path in settings.labels]
    for what, path in inputs:
        if not path.exists():
            raise ConfigError(f"{path}: no such file (a {what} file in {chosen}): fix the path there, or remove it")


_RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def _out_of_range(problem: dict[str, Any]) -> str | None:
    """A value out of range, explained by its field: the range it must be in, and what it means."""
    field = _field_at(problem["loc"])
    if problem["type"] in _RANGE_ERRORS and field is not None and field.description:
        return f"{problem['input']} is out of range: it must be {_allowed_range(field)}. {field.description}"
    return None


def _field_at(where: tuple[Any, ...]) -> FieldInfo | None:
    """The field a validation error's location names, through nested settings models."""
    model: Any = Settings
    field = None
    for part in where:
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            return None
        field = fields[part]
        model = field.annotation
    return field


def _allowed_range(field: FieldInfo) -> str:
    """'above -1 and at most 1', from the field's constraints."""
    words = {"gt": "above", "ge": "at least", "lt": "below", "le": "at most"}
    return " and ".join(f"{word} {getattr(constraint, bound)}" for constraint in field.metadata
                        for bound, word in words.items() if getattr(constraint, bound, None) is not None)
