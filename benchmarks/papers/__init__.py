"""The registered papers: every module in this package that defines `PAPER` (a `paperdata.Paper`).

A new paper is one module here; the report, the analysis (its claims become tests) and the generic
experiment sections find it by its key, which its experiments name with `benchmark:` in params.yaml.
"""

from __future__ import annotations

import importlib
import pkgutil

from sharebench.benchmarks.paperdata import Paper


def registered_papers() -> list[Paper]:
    papers = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if isinstance(getattr(module, "PAPER", None), Paper):
            papers.append(module.PAPER)
    return papers


def paper_for(benchmark: str) -> Paper | None:
    return next((p for p in registered_papers() if p.key == benchmark), None)
