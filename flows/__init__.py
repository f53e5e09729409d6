"""Prefect flows: thin wiring of harness_evals library functions into tasks."""
