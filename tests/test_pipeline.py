"""The whole pipeline through DVC on a reduced quick profile, in a scratch copy of the project."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def reduced_params() -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    exp = params["experiments"]["baselines-digits"]
    exp["methods"] = {"isolated": {}, "shareall": {}, "finetune": {"pretrain_fraction": 0.5}}
    exp["profiles"]["quick"] = {"iterations": 20, "eval_interval": 10, "seeds": 2}
    lws = params["experiments"]["lws-dkl-mnist"]
    lws["methods"] = {"isolated": {}, "lws": lws["methods"]["lws"]}
    lws["profiles"]["quick"] = {"suite": "embedded", "iterations": 10, "eval_interval": 5, "seeds": 2}
    cetl = [name for name in params["experiments"] if name.startswith("cetl-")]
    for name in ("bilen-table2", "bilen-domains", "jae-mnist-halves", "jae-transfer-04-59", "jae-transfer-59-04",
                 "zhang-classification", "zhang-completion", *cetl):
        # exercised by the regression test; listed as not run here
        params["experiments"][name].setdefault("profiles", {})["quick"] = None
    params["train_jobs"] = 1
    return params


def run(cmd: list[str], cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHAREBENCH_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["SHAREBENCH_OFFLINE"] = "1"
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    for folder in ("datasets", "methods", "benchmarks"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    (root / "params.yaml").write_text(yaml.safe_dump(reduced_params(), sort_keys=False))
    run(["dvc", "init", "--no-scm", "-q"], root)
    run(["dvc", "config", "core.analytics", "false"], root)
    return root


def test_dvc_repro_end_to_end(project: Path):
    run(["dvc", "repro"], project)
    index = (project / "report" / "index.md").read_text()
    for method in ("isolated", "shareall", "finetune"):
        assert f"| {method}" in index
    assert "baselines-mnist" in index  # listed as not run in this profile
    assert (project / "report" / "figures" / "baselines-digits.png").stat().st_size > 1000
    page = (project / "report" / "index.html").read_text()
    links = re.findall(r'href="([^"#]+\.csv)"', page)  # the page's "Data" links resolve from where it lies
    assert len(links) == 4 and all((project / "report" / link).is_file() for link in links), links
    assert "Table I: test error" in index and "Learned sharing" in index and "not run in this profile" in index
    assert (project / "report" / "figures" / "lws-dkl-mnist-sharing.png").stat().st_size > 1000
    assignments = pd.read_csv(project / "results" / "assignments.csv")
    assert set(assignments.method) == {"lws"} and assignments.seed.nunique() == 2
    summary = pd.read_csv(project / "results" / "summary.csv")
    acc = summary[summary.metric == "accuracy"]
    digits = acc[acc.experiment == "baselines-digits"]
    assert sorted(digits.method) == ["finetune", "isolated", "shareall"] and set(acc.n) == {2}
    tests = pd.read_csv(project / "results" / "tests.csv")
    assert set(tests.method_b) == {"isolated"} and tests.underpowered.all()  # 2 vs 2 can never reach 0.05
    metrics = json.loads(run(["dvc", "metrics", "show", "--json"], project))
    assert "baselines-digits" in json.dumps(metrics)
    run(["dvc", "plots", "show", "-o", "plots-html"], project)
    assert (project / "plots-html" / "index.html").exists()

    # changing one method's settings retrains that method only
    records = project / "results" / "runs" / "baselines-digits" / "quick"
    before = {p.relative_to(records): json.loads(p.read_text())["finished_at"] for p in records.rglob("*.json")}
    params = reduced_params()
    params["experiments"]["baselines-digits"]["methods"]["shareall"] = {"lr": 0.002}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = run(["dvc", "repro"], project)
    assert "8 already done, 2 to run" in out  # one train stage: both experiments
    after = {p.relative_to(records): json.loads(p.read_text()) for p in records.rglob("*.json")}
    for path, finished in before.items():
        changed = after[path]["finished_at"] != finished
        assert changed == (path.parts[0] == "shareall"), path
    assert after[Path("shareall/seed-0.json")]["hparams_resolved"]["lr"] == 0.002
