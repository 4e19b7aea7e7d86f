"""Regression check: the quick profile's numbers against committed expected values.

Runs the first seed of every quick experiment and arm (the other seeds run the same code; the whole quick
profile took 7 of the suite's 12 minutes) and fails when a final test accuracy drifts more than TOLERANCE
(absolute, as a fraction), or a reconstruction or completion error more than RELATIVE_TOLERANCE of its value, from
tests/golden/quick-summary.csv, or when a cell appears or disappears. On one machine a job is bit-for-bit
deterministic (tests/test_runner.py); across CPUs and library builds float rounding may flip a few of the 720 test
images, hence a tolerance rather than equality. The report is rendered from these one-seed records too, which
exercises every section's handling of too few seeds.

Regenerate after an intended change (and say why in the commit):
    SHAREBENCH_UPDATE_GOLDEN=1 pytest tests/test_regression.py
"""

from __future__ import annotations

import dataclasses
import os

import pandas as pd
import pytest

from sharebench.benchmarks.analysis import analyze
from sharebench.benchmarks.config import experiments, load_params
from sharebench.benchmarks.report import write_report
from sharebench.benchmarks.runner import Job, run_jobs
from sharebench.datasets.suites import build_suite, save_suite
from tests.conftest import REPO

pytestmark = pytest.mark.slow
GOLDEN = REPO / "tests" / "golden" / "quick-summary.csv"
TOLERANCE = 0.02
METRICS = ["accuracy", "accuracy_task_mean", "recon_sse_task_mean", "completion_mse_task_mean"]
RELATIVE_TOLERANCE = 0.05  # reconstruction errors (not fractions): 5 % of the expected value


def test_quick_profile_matches_golden(tmp_path):
    params = load_params(REPO / "params.yaml")
    exps = [dataclasses.replace(e, seeds=e.seeds[:1]) for e in experiments(params, "quick")[0]]
    for suite in {e.suite for e in exps}:
        save_suite(build_suite(suite, **(params.get("suites", {}).get(suite) or {})))
    jobs = [Job(e, m, s) for e in exps for m in e.methods for s in e.seeds]
    assert run_jobs(jobs, n_parallel=2) == []
    summary = analyze(exps, tmp_path / "out")["summary"]
    # the report renders every paper's section from these records (its figures read per-seed values)
    assert write_report(exps, [], tmp_path / "out", tmp_path / "report", "quick").exists()
    got = summary[summary.metric.isin(METRICS)][["experiment", "method", "metric", "mean", "n"]]
    if os.environ.get("SHAREBENCH_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        got.to_csv(GOLDEN, index=False, float_format="%.6f")
        pytest.skip(f"golden values rewritten to {GOLDEN}")
    expected = pd.read_csv(GOLDEN)
    merged = expected.merge(got, on=["experiment", "method", "metric"], how="outer", suffixes=("_expected", "_got"),
                            indicator=True)
    assert (merged["_merge"] == "both").all(), f"cells differ:\n{merged[merged['_merge'] != 'both']}"
    assert (merged.n_expected == merged.n_got).all()
    drift = (merged.mean_got - merged.mean_expected).abs()
    allowed = merged.mean_expected.abs() * RELATIVE_TOLERANCE
    bad = merged[drift > allowed.where(~merged.metric.str.startswith("accuracy"), TOLERANCE)]
    assert bad.empty, f"quick-profile numbers drifted more than {TOLERANCE}:\n{bad.to_string()}"
