"""Shared fixtures: an isolated data/results root per test, the shared mirror when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MIRROR = Path(os.environ.get("SHAREBENCH_TEST_MIRROR", REPO.parent / "shared" / "datasets"))


@pytest.fixture(autouse=True)
def isolated_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own data and results folders, offline, and no mirror unless it asks."""
    monkeypatch.setenv("SHAREBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("SHAREBENCH_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("SHAREBENCH_OFFLINE", "1")
    monkeypatch.delenv("SHAREBENCH_MIRROR", raising=False)
    return tmp_path


def mirror_has(*relative: str) -> bool:
    return all((MIRROR / r).exists() for r in relative)


def needs_mirror(*relative: str):
    """Skip (with the reason) when the shared mirror lacks a file, as in a fresh user checkout."""
    return pytest.mark.skipif(not mirror_has(*relative),
                              reason=f"mirror {MIRROR} lacks {', '.join(relative)}")
