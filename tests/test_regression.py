"""Regression check: the quick profile's numbers against committed expected values.

Runs the first seed of every quick experiment and arm (the other seeds run the same code; the whole quick
profile took 7 of the suite's 12 minutes) and fails when a final test accuracy drifts more than TOLERANCE
(absolute, as a fraction), or a reconstruction or completion error more than RELATIVE_TOLERANCE of its value, from
tests/golden/quick-summary.csv, or when a cell appears or disappears. On one machine a job is bit-for-bit
deterministic (tests/test_runner.py); across CPUs and library builds float rounding may flip a few of the 720 test
images, hence a tolerance rather than equality. The report is rendered from these one-seed records too, which
exercises every section's handling of too few seeds.

The tolerance of a cell also follows its spread over seeds: `seed_std` in the golden file is the standard
deviation over the quick profile's seeds from a complete quick run (`dvc repro`'s results/summary.csv), and a cell
may drift by SPREAD_FACTOR of it when that is more than the fixed tolerance (a change smaller than the seed noise
is not a regression; one larger always fails).

One-sided where a claim is directional: for a cell in a paper's claim "a better than b" (`paperdata.Claim`, not an
equality claim), a drift against the claim (a worse, or b better) may be only ONE_SIDED_FACTOR (1.645, the
one-sided 5 % normal quantile) standard deviations, against SPREAD_FACTOR (2, about the two-sided 5 % quantile)
in the other direction: the check is stricter where a regression would weaken what the report concludes. A cell
in claims pulling both ways, or in none, keeps the two-sided tolerance.

Regenerate after an intended change (and say why in the commit):
    SHAREBENCH_UPDATE_GOLDEN=1 pytest tests/test_regression.py
and, to refresh the seed spread, point SHAREBENCH_GOLDEN_SPREAD at the summary.csv of a complete quick run.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sharebench.benchmarks.analysis import analyze
from sharebench.benchmarks.config import experiments, load_params
from sharebench.benchmarks.report import write_report
from sharebench.benchmarks.runner import Job, run_jobs
from sharebench.datasets.suites import build_suite, save_suite
from tests.conftest import REPO

GOLDEN = REPO / "tests" / "golden" / "quick-summary.csv"
TOLERANCE = 0.02
METRICS = ["accuracy", "accuracy_task_mean", "recon_sse_task_mean", "completion_mse_task_mean"]
RELATIVE_TOLERANCE = 0.05  # reconstruction errors (not fractions): 5 % of the expected value
SPREAD_FACTOR = 2.0  # a drift within two standard deviations over seeds is seed noise
ONE_SIDED_FACTOR = 1.645  # ... and within 1.645 against a directional claim (one-sided)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[pd.DataFrame, Path]:
    """The first seed of every quick experiment and arm, analysed and rendered: (summary, report folder)."""
    tmp_path = tmp_path_factory.mktemp("quick")
    params = load_params(REPO / "params.yaml")
    exps = [dataclasses.replace(e, seeds=e.seeds[:1]) for e in experiments(params, "quick")[0]]
    for suite in {e.suite for e in exps}:
        save_suite(build_suite(suite, **(params.get("suites", {}).get(suite) or {})))
    jobs = [Job(e, m, s) for e in exps for m in e.methods for s in e.seeds]
    assert run_jobs(jobs, n_parallel=2) == []
    summary = analyze(exps, tmp_path / "out")["summary"]
    # the report renders every paper's section from these records (its figures read per-seed values)
    assert write_report(exps, [], tmp_path / "out", tmp_path / "report", "quick").exists()
    return summary, tmp_path / "report"


@pytest.mark.slow
def test_the_quick_report_in_a_browser_shows_the_scoreboard_every_paper_and_every_figure(quick_run):
    from tests.browser import read_page, rendered_dom

    _, report = quick_run
    page = read_page(rendered_dom(report / "index.html"))
    assert page.body.get("data-ready") == "1" and page.body.get("data-broken-images") == "0"
    assert page.body.get("data-page-overflow") == "false"  # wide tables scroll in their own box
    assert len(page.images) >= 20 and all(src.startswith("data:image/") for src in page.images)
    scoreboard = [t for t in page.tables if t[0] == "scoreboard"]
    assert len(scoreboard) == 1 and scoreboard[0][1][0] == "paper"
    papers = [row[0] for row in scoreboard[0][2]]
    assert len(papers) == 5 and all(int(row[4].split()[0]) > 0 for row in scoreboard[0][2]), papers  # indicative
    assert all(rows for _, _, rows in page.tables)  # no empty table


@pytest.mark.slow
def test_quick_profile_matches_golden(quick_run):
    summary, _ = quick_run
    got = summary[summary.metric.isin(METRICS)][["experiment", "method", "metric", "mean", "n"]]
    if os.environ.get("SHAREBENCH_UPDATE_GOLDEN"):
        spread_from = os.environ.get("SHAREBENCH_GOLDEN_SPREAD")
        old = pd.read_csv(GOLDEN) if GOLDEN.exists() else pd.DataFrame(columns=["experiment", "method", "metric"])
        spread = pd.read_csv(spread_from)[["experiment", "method", "metric", "std"]] if spread_from else \
            old.reindex(columns=["experiment", "method", "metric", "seed_std"]).rename(columns={"seed_std": "std"})
        got = got.merge(spread.rename(columns={"std": "seed_std"}), on=["experiment", "method", "metric"], how="left")
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        got.to_csv(GOLDEN, index=False, float_format="%.6f")
        pytest.skip(f"golden values rewritten to {GOLDEN}")
    expected = pd.read_csv(GOLDEN)
    merged = expected.merge(got, on=["experiment", "method", "metric"], how="outer", suffixes=("_expected", "_got"),
                            indicator=True)
    regenerate = "regenerate after an intended change: SHAREBENCH_UPDATE_GOLDEN=1 pytest tests/test_regression.py"
    missing = merged[merged["_merge"] != "both"]
    assert missing.empty, "cells appear or disappear (left_only: only in the golden file):\n" + \
        missing[["experiment", "method", "metric", "_merge"]].to_string(index=False) + f"\n{regenerate}"
    assert (merged.n_expected == merged.n_got).all()
    low, high = allowed_drift(merged, claim_directions())
    drift = merged.mean_got - merged.mean_expected
    bad = merged[(drift < -low) | (drift > high)]
    lines = [f"{r.experiment} / arm {r.method} / {r.metric}: golden {r.mean_expected:.6f}, now {r.mean_got:.6f} "
             f"(drift {r.mean_got - r.mean_expected:+.6f}, allowed -{low[i]:.4g} / +{high[i]:.4g})"
             for i, r in zip(bad.index, bad.itertuples())]
    assert bad.empty, "quick-profile numbers drifted beyond the tolerance:\n" + "\n".join(lines) + f"\n{regenerate}"


def claim_directions() -> dict[tuple[str, str, str], int]:
    """(experiment, arm, metric) -> the sign of a change that works against the papers' directional claims
    (+1: an increase does, -1: a decrease does, 0: claims pull both ways). A claim on error also holds for
    accuracy (its complement), with each metric's own direction."""
    from sharebench.benchmarks.metrics import METRICS as REGISTRY
    from sharebench.benchmarks.papers import registered_papers

    signs: dict[tuple[str, str, str], set[int]] = {}
    for paper in registered_papers():
        for claim in paper.claims:
            if not claim.significant or claim.margin is not None:
                continue  # "not significantly better" and equality claims have no direction
            for name in claim.metrics:
                base, suffix, _ = name.partition("_task_mean")
                if base not in REGISTRY:
                    continue  # a metric naming one task: not in the golden file
                keys = [base] + ([REGISTRY[base].complement_of] if REGISTRY[base].complement_of else [])
                for key in keys:
                    worse = -1 if REGISTRY[key].higher_is_better else 1  # the sign of "gets worse" in this metric
                    signs.setdefault((claim.experiment, claim.a, key + suffix), set()).add(worse)
                    signs.setdefault((claim.experiment, claim.b, key + suffix), set()).add(-worse)
    return {k: (v.pop() if len(v) == 1 else 0) for k, v in signs.items()}


def allowed_drift(cells: pd.DataFrame, directions: dict[tuple[str, str, str], int]) -> tuple[pd.Series, pd.Series]:
    """The drift each cell may show downwards and upwards: the fixed tolerance (float noise across machines), or
    the seed spread times SPREAD_FACTOR, or ONE_SIDED_FACTOR against a directional claim, whichever is larger."""
    fixed = (cells.mean_expected.abs() * RELATIVE_TOLERANCE).where(~cells.metric.str.startswith("accuracy"),
                                                                    TOLERANCE)
    spread = cells["seed_std"].fillna(0.0) if "seed_std" in cells else pd.Series(0.0, index=cells.index)
    against = pd.Series([directions.get((r.experiment, r.method, r.metric), 0) for r in cells.itertuples()],
                        index=cells.index)
    low = np.maximum(fixed, spread * np.where(against == -1, ONE_SIDED_FACTOR, SPREAD_FACTOR))
    high = np.maximum(fixed, spread * np.where(against == 1, ONE_SIDED_FACTOR, SPREAD_FACTOR))
    return pd.Series(low, index=cells.index), pd.Series(high, index=cells.index)


def test_the_tolerance_is_one_sided_against_a_directional_claim():
    directions = claim_directions()
    # "LWS is significantly better than isolated" on DKL-MNIST: LWS losing accuracy, or isolated gaining, is against it
    assert directions[("lws-dkl-mnist", "lws", "accuracy")] == -1
    assert directions[("lws-dkl-mnist", "lws", "error_task_mean")] == 1
    assert directions[("lws-dkl-mnist", "isolated", "accuracy")] == 1
    cells = pd.DataFrame({"experiment": ["e"] * 4, "method": ["a", "b", "c", "a"],
                          "metric": ["accuracy", "accuracy", "accuracy", "recon_sse_task_mean"],
                          "mean_expected": [0.8, 0.8, 0.8, 10.0], "seed_std": [0.05, 0.05, 0.05, 0.01]})
    low, high = allowed_drift(cells, {("e", "a", "accuracy"): -1, ("e", "b", "accuracy"): 1})
    assert low[0] == pytest.approx(1.645 * 0.05) and high[0] == pytest.approx(0.1)
    assert low[1] == pytest.approx(0.1) and high[1] == pytest.approx(1.645 * 0.05)
    assert low[2] == high[2] == pytest.approx(0.1)  # in no directional claim: two-sided
    assert low[3] == high[3] == pytest.approx(0.5)  # a small spread: the fixed 5 % floor
