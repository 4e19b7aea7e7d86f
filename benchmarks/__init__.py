"""Experiments, jobs, statistics and the report (one module per paper as they arrive)."""

__version__ = "0.1.0"
