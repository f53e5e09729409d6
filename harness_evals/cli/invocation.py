"""How a command's body runs: with its flags layered over the settings file, and a mistake the
user can fix reported in one red line with exit code 2."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from harness_evals.cli.output import errors
from harness_evals.config import Settings, load_settings, with_flags
from harness_evals.errors import UserError
from harness_evals.redact import Redactor

MINING_MODULES = {"duckdb", "pyarrow", "numpy", "sklearn", "hdbscan", "prefect", "sentence_transformers", "torch"}


class Invocation:
    """One run of a command. Its settings and redactor are made when the body first asks for them:
    a command that needs neither never reads the settings file, and a refused setting is reported
    where the body asked, after the imports before it."""

    def __init__(self, config: Path | None, flags: dict[str, Any]) -> None:
        self._config = config
        self._flags = flags

    @cached_property
    def settings(self) -> Settings:
        """The settings file (--config, else what `load_settings` finds) with the flags given over it."""
        return with_flags(load_settings(self._config), **self._flags)

    @cached_property
    def redactor(self) -> Redactor:
        """The redactor the settings' [redact] section configures."""
        return Redactor(self.settings.redact)


@contextmanager
def invoked(config: Path | None = None, **flags: Any) -> Iterator[Invocation]:
    """A command's body, e.g. `with invoked(config, queue_out=out) as invocation:`; the flags are
    `with_flags`'s. Errors a user can fix become one red line and exit code 2, not a traceback."""
    try:
        yield Invocation(config, flags)
    except UserError as error:
        errors.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)  # "[redact]" is text, not markup
        raise typer.Exit(code=2) from None
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in MINING_MODULES:
            raise
        errors.print(
            f"[bold red]error:[/] this command needs {error.name}, part of the mining extra: "
            "pip install 'harness-evals[mine]'",
            highlight=False,
        )
        raise typer.Exit(code=2) from None
