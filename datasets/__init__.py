"""Data: official sources (download, verify, parse) and the task suites built from them."""

from sharebench.datasets.errors import ChecksumError, DataError, MissingDataError
from sharebench.datasets.suites import Suite, Task, build_suite, load_suite, suite_names

__all__ = [
    "ChecksumError",
    "DataError",
    "MissingDataError",
    "Suite",
    "Task",
    "build_suite",
    "load_suite",
    "suite_names",
]
