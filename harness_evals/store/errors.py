"""What goes wrong with a store, said as one line the user can act on."""

from __future__ import annotations

from harness_evals.errors import UserError


class StoreError(UserError):
    """The database cannot be used as asked; the message says how to fix it."""


class StoreBusy(StoreError):
    """Another process has the database open, and DuckDB lets no second process in beside a writer."""

    def __init__(self, message: str, writer_pid: int | None) -> None:
        super().__init__(message)
        self.writer_pid = writer_pid
