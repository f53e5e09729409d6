"""How a command's body runs: a mistake the user can fix is one red line and exit code 2."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.markup import escape

from harness_evals.cli.output import errors
from harness_evals.errors import UserError

MINING_MODULES = {"duckdb", "pyarrow", "numpy", "sklearn", "hdbscan", "prefect", "sentence_transformers", "torch"}


@contextmanager
def reported_errors() -> Iterator[None]:
    """Errors a user can fix become one red line and exit code 2, not a traceback."""
    try:
        yield
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
