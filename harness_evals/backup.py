"""Back the store up as Parquet files, and restore it into a new database file.

`export_parquet` writes DuckDB's own EXPORT DATABASE (schema.sql, one Parquet file per table) and
a manifest with the schema version and row counts. It writes into a temporary folder renamed
into place at the end, so a crash never leaves a half backup under the name. `restore_parquet`
builds a new file from the backup, checks every table's count against the manifest, and only
then moves it to the path asked for; it never writes over an existing database.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb

from harness_evals.errors import UserError
from harness_evals.store import MIGRATIONS, Store
from harness_evals.store.backup import create_schema, export_database, load_parquet, row_counts, schema_version
from harness_evals.store.connection import in_transaction

MANIFEST = "manifest.json"


class BackupError(UserError):
    """A backup cannot be written or restored as asked; the message says how to fix it."""


def export_parquet(store: Store, out_dir: str | Path) -> dict[str, int]:
    """Every table of the store as Parquet in `out_dir` (new or empty); returns rows per table."""
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise BackupError(f"{out_dir} is not empty: back up into a new folder")
    partial = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    export_database(store, partial)
    counts = row_counts(store)
    manifest = {"schema_version": schema_version(store), "tables": counts}
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (partial / "load.sql").unlink()  # it names the temporary folder; restore_parquet reads the tables itself
    if out_dir.exists():
        out_dir.rmdir()
    os.replace(partial, out_dir)
    return counts


def restore_parquet(backup_dir: str | Path, db: str | Path) -> dict[str, int]:
    """A new database file at `db` from a backup; returns rows per table."""
    backup_dir, db = Path(backup_dir), Path(db)
    manifest_path = backup_dir / MANIFEST
    if not manifest_path.is_file():
        raise BackupError(f"{backup_dir} has no {MANIFEST}: point at a folder written by `harness-evals export --parquet`")
    if db.exists():
        raise BackupError(f"{db} already exists: restore into a new --db path, then swap the files if you mean to")
    manifest = json.loads(manifest_path.read_text())
    if manifest["schema_version"] > len(MIGRATIONS):
        raise BackupError(
            f"the backup is at schema version {manifest['schema_version']}, newer than this harness-evals knows "
            f"({len(MIGRATIONS)}): upgrade harness-evals"
        )
    partial = db.with_name(db.name + ".partial")
    partial.unlink(missing_ok=True)
    db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(partial))
    try:
        with in_transaction(con):
            create_schema(con, (backup_dir / "schema.sql").read_text())
            for table, expected in manifest["tables"].items():
                restored = load_parquet(con, table, backup_dir / f"{table}.parquet")
                if restored != expected:
                    raise BackupError(f"{table}: the backup holds {restored} rows, its manifest says {expected}: "
                                      "it is damaged")
    except BaseException:
        con.close()
        partial.unlink(missing_ok=True)
        raise
    con.close()
    os.replace(partial, db)
    with Store(db):  # a backup from an older version is migrated now, not at first use
        pass
    return manifest["tables"]
