"""harness-evals: mine production agent traces for the long tail the eval set misses."""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Workspace"]


def __getattr__(name: str) -> Any:
    # Lazy: the Workspace needs the mining extra; the core install (suites) must import without it.
    if name == "Workspace":
        from harness_evals.report.workspace import Workspace

        return Workspace
    raise AttributeError(f"module 'harness_evals' has no attribute {name!r}")
