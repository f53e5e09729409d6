"""One column spec per table, which `Store.insert` writes rows by."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa


@dataclass(frozen=True)
class TableSpec:
    """A table's columns, named as the migrations leave them, with the Arrow type its rows are
    built with (JSON columns are text). Rows are written by column name (`Store.insert`), so a
    column added by a migration is one more entry here, and no caller depends on column order."""

    name: str
    columns: dict[str, pa.DataType]

    def rows(self, columns: Mapping[str, Any]) -> pa.Table:
        """An Arrow table of `columns` (each a list, a NumPy or an Arrow array), typed as this table's;
        the columns left out take their default, or NULL, when inserted."""
        unknown = [name for name in columns if name not in self.columns]
        if unknown:
            raise ValueError(_mismatch(self.name, list(self.columns), unknown=unknown))
        return pa.table({name: _typed(values, self.columns[name]) for name, values in columns.items()})


def _typed(values: Any, arrow_type: pa.DataType) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values if values.type.equals(arrow_type) else values.cast(arrow_type)
    return pa.array(values, arrow_type)


def _mismatch(table: str, columns: Sequence[str], *, unknown: Sequence[str] = (), missing: Sequence[str] = ()) -> str:
    """Why rows do not fit `table`: the message of the error Store.insert and TableSpec.rows raise."""
    problems = [f"it has no column {', '.join(unknown)}"] if unknown else []
    problems += [f"the rows lack {', '.join(missing)}, which cannot be NULL"] if missing else []
    return f"cannot insert into {table}: {'; '.join(problems)} (its columns: {', '.join(columns)})"


_TEXT, _JSON, _INTEGER, _DOUBLE = pa.string(), pa.string(), pa.int32(), pa.float64()
_TIMESTAMP, _VECTOR = pa.timestamp("us", tz="UTC"), pa.list_(pa.float32())

TABLES: dict[str, TableSpec] = {spec.name: spec for spec in [
    TableSpec("runs", {"run_id": _TEXT, "kind": _TEXT, "started_at": _TIMESTAMP, "finished_at": _TIMESTAMP,
                       "status": _TEXT, "params": _JSON, "summary": _JSON}),
    TableSpec("traces", {"trace_id": _TEXT, "content_hash": _TEXT, "timestamp": _TIMESTAMP, "input": _TEXT,
                         "output": _TEXT, "steps": _JSON, "messages": _JSON, "metadata": _JSON, "feedback": _JSON,
                         "source": _TEXT, "run_id": _TEXT}),
    TableSpec("eval_cases", {"case_id": _TEXT, "content_hash": _TEXT, "input": _TEXT, "expected": _JSON,
                             "metadata": _JSON, "source": _TEXT, "run_id": _TEXT, "messages": _JSON}),
    TableSpec("quarantine", {"source": _TEXT, "line": _INTEGER, "reason": _TEXT, "raw": _TEXT, "run_id": _TEXT}),
    TableSpec("embeddings", {"content_hash": _TEXT, "model": _TEXT, "view": _TEXT, "vector": _VECTOR,
                             "run_id": _TEXT}),
    TableSpec("cluster_assignments", {"run_id": _TEXT, "item_kind": _TEXT, "item_id": _TEXT, "cluster_id": _INTEGER,
                                      "outlier_score": _DOUBLE, "probability": _DOUBLE,
                                      "nearest_eval_similarity": _DOUBLE, "map_x": _DOUBLE, "map_y": _DOUBLE,
                                      "covered": pa.bool_(), "covering_case_id": _TEXT,
                                      "nearest_case_id": _TEXT}),
    TableSpec("cluster_coverage", {"run_id": _TEXT, "cluster_id": _INTEGER, "production_count": _INTEGER,
                                   "eval_count": _INTEGER, "coverage": _DOUBLE, "gap_score": _DOUBLE,
                                   "flagged_count": _INTEGER, "emerging": pa.bool_(), "outcome_count": _INTEGER,
                                   "failed_count": _INTEGER, "failure_rate": _DOUBLE}),
    TableSpec("labelling_queue", {"trace_id": _TEXT, "run_id": _TEXT, "cluster_id": _INTEGER, "reason": _TEXT,
                                  "priority": _DOUBLE, "state": _TEXT, "expected": _JSON, "verdict": _TEXT,
                                  "notes": _TEXT, "labeller": _TEXT, "label_run_id": _TEXT, "case_id": _TEXT,
                                  "covered_by": _TEXT}),
    TableSpec("queue_events", {"trace_id": _TEXT, "state": _TEXT, "run_id": _TEXT, "happened_at": _TIMESTAMP}),
    TableSpec("trace_flags", {"run_id": _TEXT, "trace_id": _TEXT, "detector": _TEXT, "reason": _TEXT}),
    TableSpec("cluster_lineage", {"run_id": _TEXT, "cluster_id": _INTEGER, "event": _TEXT,
                                  "source_cluster_id": _INTEGER, "size": _INTEGER, "previous_size": _INTEGER,
                                  "emerging": pa.bool_(), "centroid": _VECTOR}),
    TableSpec("cluster_models", {"run_id": _TEXT, "model_key": _TEXT, "fitted_count": _INTEGER,
                                 "noise_share": _DOUBLE, "stable_ids": _JSON, "state": pa.binary()}),
    TableSpec("ingest_watermarks", {"source": _TEXT, "kind": _TEXT, "format": _TEXT, "offset_bytes": pa.int64(),
                                    "lines": _INTEGER, "fingerprint": _TEXT, "run_id": _TEXT}),
    TableSpec("prompt_assemblies", {"assembly_hash": _TEXT, "blocks": _JSON, "run_id": _TEXT}),
    TableSpec("trace_prompts", {"trace_id": _TEXT, "assembly_hash": _TEXT, "release": _TEXT, "run_id": _TEXT}),
    TableSpec("view_texts", {"trace_id": _TEXT, "view": _TEXT, "settings_key": _TEXT, "text": _TEXT,
                             "run_id": _TEXT}),
    TableSpec("suite_versions", {"name": _TEXT, "version": _INTEGER, "sha256": _TEXT, "cases": _INTEGER,
                                 "path": _TEXT, "run_id": _TEXT}),
    TableSpec("trace_tools", {"trace_id": _TEXT, "tools": _JSON, "run_id": _TEXT}),
    TableSpec("coverage_rulers", {"ruler_id": _TEXT, "judge_key": _JSON, "calibration": _JSON, "label": _TEXT,
                                  "warnings": _JSON, "eval_count": _INTEGER, "eval_inputs": _JSON, "reason": _TEXT,
                                  "fitted_at": _TIMESTAMP, "run_id": _TEXT}),
]}
"""One spec per table the migrations make (schema_migrations aside, which apply_migrations writes)."""
