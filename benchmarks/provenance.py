"""Which code made a record: a hash of the source files that compute a job's numbers.

A job's configuration hash includes this fingerprint, so a record (or checkpoint, or stored model)
made by other code for the job is never reused silently: `train` retrains it and says why. The files
are the method's own modules (its class and every base class in sharebench, and the helper modules it names in
`CODE_MODULES`), the networks, banks and
optimisers they build on, the runner, sampling, metrics and suite building. Editing `lws.py` retrains
LWS only; editing the banks retrains every banked method. (benchopt hashes each solver's file the same way.)
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from pathlib import Path

SHARED_MODULES = ["sharebench.methods.banks", "sharebench.methods.units", "sharebench.methods.networks",
                  "sharebench.methods.registry", "sharebench.methods.optim", "sharebench.benchmarks.runner",
                  "sharebench.benchmarks.sampling", "sharebench.benchmarks.metrics", "sharebench.benchmarks.store",
                  "sharebench.datasets.suites", "sharebench.benchmarks.inputs", "sharebench.methods.norms",
                  "sharebench.benchmarks.packed_runs", "sharebench.methods.packing", "sharebench.methods.module_units",
                  "sharebench.methods.pretrained_backbones", "sharebench.methods.round_robin",
                  "sharebench.benchmarks.image_ops", "sharebench.datasets.holes", "sharebench.methods.rowplan"]


def method_modules(method: str) -> list[str]:
    from sharebench.methods import get_method

    cls = get_method(method)
    own = {c.__module__ for c in cls.__mro__ if c.__module__.startswith("sharebench.")}
    return sorted(own | set(getattr(cls, "CODE_MODULES", ())))


@functools.cache
def _file_digest(module: str) -> tuple[str, str]:
    import importlib

    path = Path(inspect.getsourcefile(importlib.import_module(module)) or "")
    return path.name, hashlib.md5(path.read_bytes()).hexdigest()


def code_fingerprint(method: str) -> str:
    """md5 over the (module, file md5) pairs of the code a job of this method runs."""
    modules = sorted(set(method_modules(method)) | set(SHARED_MODULES))
    text = "\n".join(f"{m} {_file_digest(m)[1]}" for m in modules)
    return hashlib.md5(text.encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """The git commit of the checkout the package runs from (with "+ uncommitted changes" when the tree is
    dirty), else the package version: the report says which code made it."""
    import subprocess

    from sharebench.benchmarks import __version__

    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"sharebench {__version__} (not a git checkout)"
    return f"commit `{commit}`" + (" + uncommitted changes" if dirty else "")
