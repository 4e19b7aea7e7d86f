"""The fixed top-level folders must not shadow common packages (`datasets` is Hugging Face's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_import_datasets_is_not_ours_even_from_the_repo_root(tmp_path: Path):
    """A stand-in regular `datasets` package on the path wins over our folder, run from the repo root."""
    fake = tmp_path / "site" / "datasets"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("WHO = 'the installed datasets package'\n")
    code = "import datasets, sharebench.datasets.suites as s; print(datasets.WHO); print(s.__name__)"
    env = {"PYTHONPATH": str(tmp_path / "site"), "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[:4] == ["the", "installed", "datasets", "package"]
    assert "sharebench.datasets.suites" in out.stdout


def test_only_sharebench_is_installed_at_top_level():
    import tomllib

    tool = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert all(name.startswith("sharebench.") for name in tool["packages"])
    assert set(tool["package-dir"]) == set(tool["packages"])
    assert not (REPO / "datasets" / "__init__.py").exists()  # a namespace portion never wins over a package
