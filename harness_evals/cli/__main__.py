"""`python -m harness_evals.cli`, the same as the harness-evals console script."""

from harness_evals.cli import app

app()
