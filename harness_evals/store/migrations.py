"""The schema, as ordered migrations applied on connect, each in its own transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

import duckdb

from harness_evals.store.errors import StoreError


def _initial_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE runs (
            run_id VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,            -- ingest | mine | label | emit
            started_at TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ,
            status VARCHAR NOT NULL,          -- running | succeeded | failed | interrupted (its process died)
            params JSON,
            summary JSON
        );
        CREATE TABLE traces (
            trace_id VARCHAR PRIMARY KEY,
            content_hash VARCHAR NOT NULL,
            timestamp TIMESTAMPTZ,
            input VARCHAR NOT NULL,
            output VARCHAR NOT NULL,
            steps JSON NOT NULL,
            messages JSON,
            metadata JSON NOT NULL,
            feedback JSON,
            source VARCHAR NOT NULL,
            run_id VARCHAR NOT NULL
        );
        CREATE TABLE eval_cases (
            case_id VARCHAR PRIMARY KEY,
            content_hash VARCHAR NOT NULL,
            input VARCHAR NOT NULL,
            expected JSON,
            metadata JSON NOT NULL,
            source VARCHAR NOT NULL,
            run_id VARCHAR NOT NULL
        );
        CREATE TABLE quarantine (
            source VARCHAR NOT NULL,
            line INTEGER NOT NULL,
            reason VARCHAR NOT NULL,
            raw VARCHAR NOT NULL,
            run_id VARCHAR NOT NULL
        );
        CREATE TABLE embeddings (
            content_hash VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            view VARCHAR NOT NULL,
            vector FLOAT[] NOT NULL,
            run_id VARCHAR NOT NULL,
            PRIMARY KEY (content_hash, model, view)
        );
        CREATE TABLE cluster_assignments (
            run_id VARCHAR NOT NULL,
            item_kind VARCHAR NOT NULL,       -- production | eval
            item_id VARCHAR NOT NULL,
            cluster_id INTEGER NOT NULL,      -- -1 is HDBSCAN noise, kept as data
            outlier_score DOUBLE NOT NULL,
            probability DOUBLE NOT NULL,
            nearest_eval_similarity DOUBLE,   -- production traces only
            PRIMARY KEY (run_id, item_kind, item_id)
        );
        CREATE TABLE cluster_coverage (
            run_id VARCHAR NOT NULL,
            cluster_id INTEGER NOT NULL,
            production_count INTEGER NOT NULL,
            eval_count INTEGER NOT NULL,
            coverage DOUBLE NOT NULL,
            gap_score DOUBLE NOT NULL,
            PRIMARY KEY (run_id, cluster_id)
        );
        CREATE TABLE labelling_queue (
            trace_id VARCHAR PRIMARY KEY,     -- a trace is queued at most once, ever
            run_id VARCHAR NOT NULL,          -- the run that queued it
            cluster_id INTEGER NOT NULL,
            reason VARCHAR NOT NULL,
            priority DOUBLE NOT NULL,
            state VARCHAR NOT NULL,           -- queued | labelled | emitted
            expected JSON,
            verdict VARCHAR,
            notes VARCHAR,
            labeller VARCHAR,
            label_run_id VARCHAR,
            case_id VARCHAR                   -- set when emitted into a suite
        );
        """
    )


def _queue_history(con: duckdb.DuckDBPyConnection) -> None:
    """Every state a queue item passes through, with the run that moved it there."""
    con.execute(
        """
        CREATE TABLE queue_events (
            trace_id VARCHAR NOT NULL,
            state VARCHAR NOT NULL,           -- queued | labelled | skipped | emitted
            run_id VARCHAR NOT NULL,
            happened_at TIMESTAMPTZ NOT NULL
        );
        INSERT INTO queue_events
        SELECT q.trace_id, q.state, coalesce(q.label_run_id, q.run_id), coalesce(r.started_at, now())
        FROM labelling_queue q LEFT JOIN runs r ON r.run_id = coalesce(q.label_run_id, q.run_id);
        """
    )


def _trace_flags(con: duckdb.DuckDBPyConnection) -> None:
    """Silent-failure flags per trace and run, and their count per cluster."""
    con.execute(
        """
        CREATE TABLE trace_flags (
            run_id VARCHAR NOT NULL,
            trace_id VARCHAR NOT NULL,
            detector VARCHAR NOT NULL,
            reason VARCHAR NOT NULL,
            PRIMARY KEY (run_id, trace_id, detector)
        );
        ALTER TABLE cluster_coverage ADD COLUMN flagged_count INTEGER NOT NULL DEFAULT 0;
        """
    )


def _cluster_identity(con: duckdb.DuckDBPyConnection) -> None:
    """Stable cluster ids across runs: each run's lineage, the fitted model incremental runs reuse,
    and emerging regions."""
    con.execute(
        """
        CREATE TABLE cluster_lineage (
            run_id VARCHAR NOT NULL,
            cluster_id INTEGER NOT NULL,      -- stable across runs
            event VARCHAR NOT NULL,           -- new | grew | shrank | steady | split | merged | gone
            source_cluster_id INTEGER,        -- split: the parent; merged: one absorbed; gone: where it went
            size INTEGER NOT NULL,
            previous_size INTEGER NOT NULL,
            emerging BOOLEAN NOT NULL,
            centroid FLOAT[],                 -- mean embedding of its production traces
            PRIMARY KEY (run_id, cluster_id)
        );
        CREATE TABLE cluster_models (
            run_id VARCHAR PRIMARY KEY,       -- the full run that fitted it
            model_key VARCHAR NOT NULL,       -- embedder, view and clustering parameters
            fitted_count INTEGER NOT NULL,
            noise_share DOUBLE NOT NULL,
            model BLOB NOT NULL               -- pickled ClusterModel
        );
        ALTER TABLE cluster_coverage ADD COLUMN emerging BOOLEAN NOT NULL DEFAULT false;
        """
    )


def _ingest_watermarks(con: duckdb.DuckDBPyConnection) -> None:
    """How far each JSON-lines source has been read, so a night reads only what was appended."""
    con.execute(
        """
        CREATE TABLE ingest_watermarks (
            source VARCHAR NOT NULL,          -- the file's absolute path
            kind VARCHAR NOT NULL,
            format VARCHAR NOT NULL,
            offset_bytes BIGINT NOT NULL,     -- read up to here: the end of its last complete line
            lines INTEGER NOT NULL,
            fingerprint VARCHAR NOT NULL,     -- of the bytes read: a file rewritten since is read from the start
            run_id VARCHAR NOT NULL,
            PRIMARY KEY (source, kind, format)
        );
        """
    )


def _map_coordinates(con: duckdb.DuckDBPyConnection) -> None:
    """Where each trace and eval case lies on the 2-D coverage map of its run (NULL before)."""
    con.execute(
        """
        ALTER TABLE cluster_assignments ADD COLUMN map_x DOUBLE;
        ALTER TABLE cluster_assignments ADD COLUMN map_y DOUBLE;
        """
    )


def _prompt_assemblies(con: duckdb.DuckDBPyConnection) -> None:
    """One snapshot per distinct assembled prompt, and which one each trace was given, in which release."""
    con.execute(
        """
        CREATE TABLE prompt_assemblies (
            assembly_hash VARCHAR PRIMARY KEY,
            blocks JSON NOT NULL,             -- [{kind, name, text}] in prompt order
            run_id VARCHAR NOT NULL           -- the ingest that first saw it
        );
        CREATE TABLE trace_prompts (
            trace_id VARCHAR PRIMARY KEY,
            assembly_hash VARCHAR NOT NULL,
            release VARCHAR,                  -- metadata release / prompt_version / app_version / service.version
            run_id VARCHAR NOT NULL
        );
        """
    )


def _view_texts(con: duckdb.DuckDBPyConnection) -> None:
    """Each trace's redacted view text, kept so a night redacts only the traces it has not seen."""
    con.execute(
        """
        CREATE TABLE view_texts (
            trace_id VARCHAR NOT NULL,
            view VARCHAR NOT NULL,
            settings_key VARCHAR NOT NULL,    -- hash of the redaction rules and template lines it was made under
            text VARCHAR NOT NULL,            -- what is embedded
            run_id VARCHAR NOT NULL,
            PRIMARY KEY (trace_id, view, settings_key)
        );
        """
    )


def _suite_versions(con: duckdb.DuckDBPyConnection) -> None:
    """Each version of each emitted suite, so a version means one content per suite name and store,
    whichever folder it is written to."""
    con.execute(
        """
        CREATE TABLE suite_versions (
            name VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            sha256 VARCHAR NOT NULL,          -- of the suite file's bytes
            cases INTEGER NOT NULL,
            path VARCHAR NOT NULL,            -- the suite file it was first written to
            run_id VARCHAR NOT NULL,          -- the emit run that recorded it
            PRIMARY KEY (name, version),
            UNIQUE (name, sha256)
        );
        """
    )


def _coverage_verdicts(con: duckdb.DuckDBPyConnection) -> None:
    """The coverage judge's verdict per trace, stored beside its score, so nothing downstream judges
    again. An earlier run's verdict is what its report drew: similarity at or above the covered
    similarity of its summary; which case covered a trace was not kept (NULL)."""
    con.execute(
        """
        ALTER TABLE cluster_assignments ADD COLUMN covered BOOLEAN;          -- production traces only
        ALTER TABLE cluster_assignments ADD COLUMN covering_case_id VARCHAR; -- the eval case that covers it
        UPDATE cluster_assignments a SET covered = a.nearest_eval_similarity >= (r.summary->>'$.covered_similarity')::DOUBLE
        FROM runs r WHERE r.run_id = a.run_id AND a.item_kind = 'production';
        """
    )


def _cluster_fits_as_arrays(con: duckdb.DuckDBPyConnection) -> None:
    """Fitted clusterings kept as a clusterer's own bytes (PCA + HDBSCAN: a JSON header and NumPy
    arrays) instead of a pickled ClusterModel. The pickled fits are dropped, not converted: reading
    them needs the class layout that wrote them. The next run of each view and clustering refits,
    with the reason "no earlier fit to extend", and keeps its cluster ids (matched to that earlier
    run's assignments, which stay)."""
    con.execute(
        """
        DROP TABLE cluster_models;
        CREATE TABLE cluster_models (
            run_id VARCHAR PRIMARY KEY,       -- the full run that fitted it
            model_key VARCHAR NOT NULL,       -- embedder, view and the clusterer's parameters
            fitted_count INTEGER NOT NULL,
            noise_share DOUBLE NOT NULL,
            stable_ids JSON NOT NULL,         -- [[the fit's own label, its stable cluster id], ...]
            state BLOB NOT NULL               -- the clusterer's own (PCA + HDBSCAN: a JSON header and NumPy arrays, npz)
        );
        """
    )


def _coverage_rulers(con: duckdb.DuckDBPyConnection) -> None:
    """What a coverage judge calibrated from the eval set, kept so that every run's coverage is
    measured with the same ruler until it is refitted; each refit is a row with its reason. Runs
    before this judged with a threshold of their own (their summary's covered_similarity) and name
    no ruler."""
    con.execute(
        """
        CREATE TABLE coverage_rulers (
            ruler_id VARCHAR PRIMARY KEY,     -- r1, r2, ... in the order they were fitted
            judge_key JSON NOT NULL,          -- the judge's parameters and the embedder: one ruler in use per key
            calibration JSON NOT NULL,        -- the values the judge's verdicts read, e.g. {"threshold": 0.52}
            label VARCHAR NOT NULL,           -- how figures name it, e.g. "cosine 0.52"
            warnings JSON NOT NULL,           -- a bound hit, too few eval cases: what to do
            eval_count INTEGER NOT NULL,
            eval_inputs JSON NOT NULL,        -- a digest of each eval case it was fitted on
            reason VARCHAR NOT NULL,          -- why it was fitted: the first, asked, the eval set changed
            fitted_at TIMESTAMPTZ NOT NULL,
            run_id VARCHAR NOT NULL           -- the mining run that fitted it
        );
        """
    )


def _eval_case_messages(con: duckdb.DuckDBPyConnection) -> None:
    """A chat eval case's messages, as its source gave them (Inspect, OpenAI Evals, LangSmith): the
    `input` beside them stays the text the mining views embed. Cases stored before have none (NULL)."""
    con.execute("ALTER TABLE eval_cases ADD COLUMN messages JSON")


def _region_outcomes(con: duckdb.DuckDBPyConnection) -> None:
    """Each region's outcomes beside its coverage: its traces with a reward, success flag or
    feedback score, the ones of them that failed, and that share. Runs before this did not count
    outcomes: NULL, not 0."""
    con.execute(
        """
        ALTER TABLE cluster_coverage ADD COLUMN outcome_count INTEGER;  -- production traces with an outcome
        ALTER TABLE cluster_coverage ADD COLUMN failed_count INTEGER;   -- of those, the failed (suggest.succeeded)
        ALTER TABLE cluster_coverage ADD COLUMN failure_rate DOUBLE;    -- failed / with an outcome; NULL: none has one
        """
    )


def _trace_tools(con: duckdb.DuckDBPyConnection) -> None:
    """The agent's calls of each trace by name, kept once mining has read the trace whole, so that
    every run checks them against the eval cases (path_differs) without reading the trace again: a
    stored trace never changes under its id. The first run after this reads each trace once more."""
    con.execute(
        """
        CREATE TABLE trace_tools (
            trace_id VARCHAR PRIMARY KEY,
            tools JSON NOT NULL,              -- signals.agent_tools: the agent's calls by name, each once, in order
            run_id VARCHAR NOT NULL           -- the mining run that read the trace
        );
        """
    )


def _labelled_reach(con: duckdb.DuckDBPyConnection) -> None:
    """What a labeller can say of a queued trace besides a case of its own: that an eval case already
    covers it (state `covered`, `covered_by` that case), which later runs read as evidence of that
    case's reach; and, so that the labeller sees which case to compare with, each production trace's
    nearest eval case, covering or not. Runs before this kept only the covering case (NULL here)."""
    con.execute(
        """
        ALTER TABLE labelling_queue ADD COLUMN covered_by VARCHAR;       -- state 'covered': the eval case that covers it
        ALTER TABLE cluster_assignments ADD COLUMN nearest_case_id VARCHAR; -- production traces: covering or not
        """
    )


MIGRATIONS: list[Callable[[duckdb.DuckDBPyConnection], None]] = [
    _initial_schema, _queue_history, _trace_flags, _cluster_identity, _ingest_watermarks, _map_coordinates,
    _prompt_assemblies, _view_texts, _suite_versions, _coverage_verdicts, _cluster_fits_as_arrays, _coverage_rulers,
    _eval_case_messages, _region_outcomes, _trace_tools, _labelled_reach,
]
"""Ordered schema changes. Append only: a released migration is never edited or reordered."""


def apply_migrations(con: duckdb.DuckDBPyConnection, upto: int | None = None) -> int:
    """Apply pending migrations in order, each in its own transaction; return how many ran."""
    con.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMPTZ)")
    applied = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    if applied and max(applied) > len(MIGRATIONS):
        raise StoreError(
            f"the database is at schema version {max(applied)}, newer than this harness-evals "
            f"knows ({len(MIGRATIONS)}): upgrade harness-evals"
        )
    ran = 0
    for version, migration in enumerate(MIGRATIONS[:upto], start=1):
        if version in applied:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            migration(con)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                [version, migration.__name__.lstrip("_"), datetime.now(timezone.utc)],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        ran += 1
    return ran
