"""The harness-evals command line: one module per command group, each command registered here in
the order `--help` lists them. Heavy imports happen inside the commands that need them: the CLI
starts fast, and the `suite` commands work on the core install."""

from __future__ import annotations

import typer

from harness_evals.cli import ingest, mine, prompts, queue, run, store, suite, tools

# Help is plain text: as rich markup, "[default: 20, or [mine] budget]" would vanish as a tag.
app = typer.Typer(
    help="Mine production agent traces for what the eval set misses.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)
app.command()(ingest.ingest)
app.command(name="mine")(mine.mine_command)
app.command()(mine.flags)
app.command()(tools.tools)
app.command()(tools.review)
app.command()(suite.emit)
app.command()(run.run)
app.command(name="report")(run.report_command)
app.command()(store.status)
app.command(name="export")(store.export_command)
app.command()(store.restore)
app.command()(run.serve)
app.add_typer(queue.queue_app, name="queue")
app.add_typer(suite.suite_app, name="suite")
app.add_typer(prompts.prompts_app, name="prompts")
