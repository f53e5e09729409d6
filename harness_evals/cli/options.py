"""Options more than one command takes, and the help of a flag that overrides a setting."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from harness_evals.cli.invocation import invoked
from harness_evals.config import MineSettings, ReviewSettings, Settings, SuggestSettings, ToolSettings
from harness_evals.redact import RedactionRules


def setting_help(text: str, key: str, *, unset: str = "unset") -> str:
    """The help of a flag that overrides the settings file's `key` ("suite_dir", "mine.budget"),
    with the default as the settings model holds it; `unset` says what a default of None means."""
    section, _, name = key.rpartition(".")
    models = {"": Settings, "mine": MineSettings, "suggest": SuggestSettings, "tools": ToolSettings,
              "review": ReviewSettings, "redact": RedactionRules}
    default = models[section].model_fields[name].default
    return f"{text} [default: {unset if default is None else default}, or {f'[{section}] ' if section else ''}{name}]"


# Eager: parsed before every other option, so the --db callback below can read the file it names.
Config = Annotated[Optional[Path], typer.Option(
    "--config", is_eager=True,
    help="Settings file [default: $HARNESS_EVALS_CONFIG, then ./harness-evals.toml if present]")]


DaskAddress = Annotated[Optional[str], typer.Option(
    "--dask", metavar="ADDRESS",
    help=setting_help("Encode and place into clusters on this Dask scheduler (tcp://host:8786), or 'local'", "dask",
                      unset="in this process"))]


def _layered_db(ctx: typer.Context, db: Optional[Path]) -> Path:
    """Every command's database, layered in one place (`resolve_db_path`): --db, then
    $HARNESS_EVALS_DB, then the settings file's db (the command's --config, else what
    `load_settings` finds), then data/harness.duckdb."""
    with invoked(ctx.params.get("config")) as invocation:
        from harness_evals.store import resolve_db_path

        return resolve_db_path(db, invocation.settings.db)


# A command's `db: Db = None` only tells typer the flag may be left out: the callback fills it in.
Db = Annotated[Path, typer.Option(
    "--db", callback=_layered_db, show_default=False,
    help="DuckDB file [default: $HARNESS_EVALS_DB, then db in the settings file, then data/harness.duckdb]")]
