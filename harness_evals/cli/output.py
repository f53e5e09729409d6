"""What the commands print: the consoles, and the reports more than one command prints."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

PARTIAL_INGEST_EXIT = 1  # some records quarantined, the rest stored; 2 (a UserError) when nothing is stored


def print_ingest(report) -> None:
    colour = "yellow" if report.quarantined else "green"
    console.print(
        f"[{colour}]{report.source}[/] ({report.kind}, {report.format}): {report.stored} stored, "
        f"{report.unchanged} unchanged, {len(report.quarantined)} quarantined"
        + (f" (read on from line {report.from_line}: the lines before were ingested already)"
           if report.from_line > 1 else "")
        + (": a partial load, the quarantined records are not stored (reasons below and in the quarantine table)"
           if report.quarantined else ""),
        highlight=False,
    )
    print_refused(report.quarantined)


def print_refused(items, limit: int = 20) -> None:
    for item in items[:limit]:
        errors.print(f"  line {item.line}: {item.reason}", highlight=False, markup=False)
    if len(items) > limit:
        errors.print(f"  … and {len(items) - limit} more", highlight=False)


def print_mine(report, limit: int = 10) -> None:
    console.print(
        f"mine run {report.run_id}: {report.traces} traces, {report.eval_cases} eval cases; "
        f"embedded {report.embedded} new texts ({report.cached} cached); {report.clusters} clusters, "
        f"{report.noise} traces in no cluster; eval set covers {report.covered_traffic:.0%} of traffic "
        f"(within {report.ruler.name})",
        highlight=False,
    )
    if report.ruler.fresh:
        console.print(f"ruler {report.ruler.ruler_id} fitted: {report.ruler.reason}", highlight=False)
    for warning in report.ruler.calibration.warnings:
        errors.print(f"warning: ruler {report.ruler.ruler_id}: {warning}", highlight=False, markup=False)
    with_outcome, failed, failure_rate = report.outcomes
    if with_outcome:
        console.print(f"outcomes: {failed} of the {with_outcome} traces with a reward, success flag or feedback score "
                      f"failed ({failure_rate:.0%}); the queue weighs regions that fail more often", highlight=False)
    console.print(f"{report.mode} clustering: {report.mode_reason}; {report.new_traces} traces new since the last run; "
                  f"emerging regions: {', '.join(map(str, report.emerging)) or 'none'}", highlight=False)
    table = Table(title="Largest coverage gaps")
    for column in ("cluster", "production", "eval cases", "covered", "gap", "flagged", "failing", "queued now"):
        table.add_column(column, justify="right")
    queued = {}
    for pick in report.picks:
        queued[pick.cluster_id] = queued.get(pick.cluster_id, 0) + 1
    for row in report.coverage[:limit]:
        name = "noise" if row.cluster_id == -1 else f"{row.cluster_id}{' (emerging)' if row.emerging else ''}"
        table.add_row(name, str(row.production_count), str(row.eval_count), f"{row.coverage:.0%}",
                      f"{row.gap_score:.1f}", str(row.flagged_count), failing(row.failed_count, row.outcome_count),
                      str(queued.get(row.cluster_id, 0)))
    console.print(table)
    console.print(f"queued {len(report.picks)} traces for labelling", highlight=False)


def failing(failed: int | None, with_outcome: int | None) -> str:
    """A failure rate and what it rests on, "70% of 20"; "–" with no outcome to count (or none counted)."""
    return f"{failed / with_outcome:.0%} of {with_outcome}" if with_outcome else "–"


def print_emit(report) -> None:
    manifest = report.manifest
    console.print(
        f"suite {manifest.name} v{manifest.version}: {manifest.cases} cases ({report.new_cases} new, "
        f"{report.skipped_duplicates} already in the eval set) -> {report.suite_path}",
        highlight=False,
    )
