"""Queries on the coverage rulers (`coverage_rulers`): what a judge calibrated, kept per judge and
embedder, and each refit with its reason."""

from __future__ import annotations

import json
from typing import Any

from harness_evals.records import Calibration, Ruler
from harness_evals.store.connection import Store


def ruler_in_use(store: Store, judge_key: dict[str, Any]) -> Ruler | None:
    """The latest ruler fitted under this judge key; None before the first."""
    row = store.one(
        """SELECT ruler_id, calibration, label, warnings, eval_inputs, reason, fitted_at FROM coverage_rulers
           WHERE judge_key::VARCHAR = ? ORDER BY fitted_at DESC LIMIT 1""",
        [json.dumps(judge_key, sort_keys=True)],
    )
    if row is None:
        return None
    ruler_id, values, label, warnings, inputs, reason, fitted_at = row
    return Ruler(ruler_id, judge_key, Calibration(json.loads(values), label, tuple(json.loads(warnings))),
                 tuple(json.loads(inputs)), reason, fitted_at)


def next_ruler_id(store: Store) -> str:
    return f"r{store.one('SELECT count(*) FROM coverage_rulers')[0] + 1}"


def ruler_labels(store: Store) -> dict[str, str]:
    """ruler_id -> its label, for every ruler of the store."""
    return dict(store.con.execute("SELECT ruler_id, label FROM coverage_rulers").fetchall())
