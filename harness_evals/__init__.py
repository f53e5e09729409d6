"""harness-evals: mine production agent traces for the long tail the eval set misses."""

__version__ = "0.1.0"
