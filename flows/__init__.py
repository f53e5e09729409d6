"""Prefect flows: thin wiring of harness_evals library functions into tasks."""

import os

# Traces are private; nothing about a run leaves the machine unless the user opts in.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
