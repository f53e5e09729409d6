"""Prefect flows: thin wiring of harness_evals library functions into tasks.

Prefect reads its settings when first imported, so the defaults below are set here, before any
flow module imports it; a user's own setting wins.
"""

import os

# Traces are private; nothing about a run leaves the machine unless the user opts in.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Prefect's temporary API server migrates a new database on a machine's first run: 16-22 s on two
# busy cores, past Prefect's default wait of 20 s, which failed two first runs in three.
EPHEMERAL_STARTUP_TIMEOUT_SECONDS = 180
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(EPHEMERAL_STARTUP_TIMEOUT_SECONDS))
