"""Settings for the nightly run, from harness-evals.toml (or built-in defaults on the sample)."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Literal

from harness_evals.errors import UserError, describe_validation_error
from harness_evals.redact import RedactionRules
from harness_evals.signals import DetectorSettings
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

CONFIG_FILE = Path("harness-evals.toml")
CONFIG_ENV_VAR = "HARNESS_EVALS_CONFIG"
DASK_EXTRA_HINT = "pip install 'harness-evals[mine,dask]'"


class ConfigError(UserError):
    """The settings file is unreadable or invalid; the message names the file and the field."""


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path
    kind: Literal["production", "eval"]
    format: str = "auto"


class MineSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    budget: int = Field(default=20, ge=0)
    embedder: str = "minilm"
    view: str = "intent"
    min_cluster_size: int = Field(default=5, ge=2)
    dimensions: int = Field(default=16, ge=2)
    covered_similarity: float | None = Field(default=None, gt=-1, le=1)  # None: calibrated
    seed: int = 0
    detectors: DetectorSettings = DetectorSettings()


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    db: Path | None = None  # None: --db, then $HARNESS_EVALS_DB, then data/harness.duckdb
    sources: list[Source] = [
        Source(path=Path("data/sample/traces.jsonl"), kind="production"),
        Source(path=Path("data/sample/chat_traces.jsonl"), kind="production"),
        Source(path=Path("data/sample/evals.jsonl"), kind="eval"),
    ]
    labels: list[Path] = [Path("data/sample/labels.jsonl")]
    queue_out: Path = Path("data/queue.jsonl")
    report_out: Path = Path("data/report.html")
    namer: str | None = None  # module:function(keywords, examples) -> a cluster name, e.g. an LLM call
    suite_dir: Path = Path("data/suites")
    suite_name: str = "regression"
    schedule: str = "0 2 * * *"  # the nightly run: extends the last fit unless it has gone stale
    full_schedule: str = "0 3 * * 0"  # the weekly run that refits the clusters on everything
    mine: MineSettings = MineSettings()
    redact: RedactionRules = RedactionRules()
    prompt_contract: Path | None = None  # TOML or YAML (harness_evals.prompts.PromptContract); flags feed sampling
    # Encoding and cluster placement on a Dask cluster: its scheduler's address (tcp://host:8786),
    # or "local" for a temporary cluster on this machine. None: in this process.
    dask: str | None = None

    @field_validator("dask")
    @classmethod
    def _dask_address(cls, value: str | None) -> str | None:
        if value is not None and value != "local" and not re.fullmatch(r"[a-z]+://\S+", value):
            raise ValueError(f"give a Dask scheduler's address such as tcp://10.0.0.5:8786, or local; got {value!r}")
        return value


def load_settings(path: str | Path | None = None) -> Settings:
    """--config wins, then $HARNESS_EVALS_CONFIG, then ./harness-evals.toml, then the defaults."""
    chosen = Path(path or os.environ.get(CONFIG_ENV_VAR) or CONFIG_FILE)
    if not chosen.exists():
        if path or os.environ.get(CONFIG_ENV_VAR):
            raise ConfigError(f"{chosen}: no such settings file")
        return Settings()
    try:
        return Settings.model_validate(tomllib.loads(chosen.read_text()))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{chosen}: not valid TOML: {error}") from error
    except ValidationError as error:
        raise ConfigError(f"{chosen}: {describe_validation_error(error)}") from error
