"""The SQL of a Parquet backup: DuckDB's EXPORT DATABASE out of a store, and its tables loaded back
into a new database file."""

from __future__ import annotations

from pathlib import Path

import duckdb

from harness_evals.store.connection import Store


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [row[0] for row in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1"
    ).fetchall()]


def export_database(store: Store, folder: Path) -> None:
    """schema.sql, load.sql and one Parquet file per table into `folder`."""
    store.con.execute(f"EXPORT DATABASE {_quoted(folder)} (FORMAT parquet)")


def row_counts(store: Store) -> dict[str, int]:
    """The rows of each table, by table name."""
    return {table: store.one(f'SELECT count(*) FROM "{table}"')[0] for table in _tables(store.con)}


def schema_version(store: Store) -> int | None:
    return store.one("SELECT max(version) FROM schema_migrations")[0]


def create_schema(con: duckdb.DuckDBPyConnection, schema_sql: str) -> None:
    """Run an exported schema.sql on `con`."""
    con.execute(schema_sql)


def load_parquet(con: duckdb.DuckDBPyConnection, table: str, parquet: Path) -> int:
    """Append the rows of an exported table's Parquet file to `table`; return the rows it holds now."""
    con.execute(f'INSERT INTO "{table}" SELECT * FROM read_parquet({_quoted(parquet)})')
    return con.execute(f'SELECT count(*) FROM "{table}"').fetchall()[0][0]
