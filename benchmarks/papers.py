"""Which benchmark module serves an experiment (its `benchmark:` key in params.yaml)."""

from __future__ import annotations

import importlib
from types import ModuleType

BENCHMARKS = {"baselines": "sharebench.benchmarks.baselines", "lws": "sharebench.benchmarks.lws"}


def benchmark_module(name: str) -> ModuleType:
    if name not in BENCHMARKS:
        raise KeyError(f"unknown benchmark {name!r}; known: {', '.join(sorted(BENCHMARKS))}")
    return importlib.import_module(BENCHMARKS[name])


def reference_number(benchmark: str, experiment: str, method: str, metric: str) -> float | None:
    return benchmark_module(benchmark).REFERENCE_NUMBERS.get(experiment, {}).get(method, {}).get(metric)
