"""Statistics over run records: per-cell mean / std / n, and Mann-Whitney U tests with Holm.

- summary.csv: experiment, method, metric, mean, std (sample, ddof=1), n
- assignments.csv: the final assignment of every run of a learned-sharing method (layer, task, slot,
  group size)
- tests.csv: experiment, metric, method_a, method_b, alternative, U, p, p_holm, n_a, n_b, p_min,
  underpowered, effect (the common-language effect size: the probability that a run of method_a is
  *better* than one of method_b by the metric's direction, ties counting half)
Tests are exact (scipy `mannwhitneyu(method="exact")`), one- or two-sided as each comparison is
declared in params.yaml; `better` / `worse` become `greater` / `less` by the metric's direction; a
paper's claims are added as comparisons. Holm's correction is applied within each family = (experiment, metric,
the comparison's `family` label); equality claims (a `margin`) stay unadjusted (see `mann_whitney_tests`).
`p_min` is the smallest p-value the exact test can give with these n; `underpowered` flags tests
that could never reach p < 0.05, however different the methods.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from sharebench.benchmarks.config import Experiment, config_hash
from sharebench.benchmarks.metrics import get_metric
from sharebench.benchmarks.runner import record_path
from sharebench.benchmarks.stats import hodges_lehmann, tost
from sharebench.datasets.suites import read_suite_meta

log = logging.getLogger(__name__)
ALPHA = 0.05


def load_records(exp: Experiment, results: Path | None = None) -> list[dict[str, Any]]:
    """The records of this experiment's current configuration; stale or missing ones are logged."""
    suite_hash = read_suite_meta(exp.suite)["content_hash"]
    records = []
    for method in exp.methods:
        for seed in exp.seeds:
            path = record_path(exp, method, seed, results)
            if not path.exists():
                log.warning("%s: no record for %s seed %d", exp.name, method, seed)
                continue
            rec = json.loads(path.read_text())
            if rec.get("config_hash") != config_hash(exp.job_config(method, seed, suite_hash)):
                log.warning("%s: record %s is from another configuration or code; ignored", exp.name, path)
                continue
            records.append(rec)
    return records


def method_info_by_arm(exp: Experiment, key: str) -> dict[str, int]:
    """One `method_info` value per arm (from its first record), e.g. the parameters it uses."""
    out: dict[str, int] = {}
    for r in load_records(exp):
        out.setdefault(r["method"], int(r.get("method_info", {}).get(key, 0)))
    return out


def runs_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (run, metric): the final test metrics (`<metric>`, `<metric>_task_mean`, `<metric>/<task>`).
    A run evaluated several ways (`metrics_variants`) also counts as a run of the arm `<arm>@<variant>`."""
    rows = []
    for r in records:
        scored = {r["method"]: r["metrics"], **{f"{r['method']}@{v}": m
                                                for v, m in (r.get("metrics_variants") or {}).items()}}
        for arm, metrics in scored.items():
            base = {"experiment": r["experiment"], "method": arm, "seed": r["seed"]}
            rows += [{**base, "metric": key, "value": value} for key, value in metrics.items()]
    return pd.DataFrame(rows, columns=["experiment", "method", "seed", "metric", "value"])


COST_COLUMNS = ["experiment", "method", "seed", "device", "parameters_trainable", "parameters_frozen",
                "parameters_in_use", "shared_fraction", "train_s_per_step", "wall_time_s"]


def costs_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per run: what it cost (parameters held, seconds per training step, wall time, device). Records
    written before the cost was kept have wall time and device only."""
    rows = [{"experiment": r["experiment"], "method": r["method"], "seed": r["seed"], "device": r.get("device"),
             "wall_time_s": r.get("wall_time_s"), **(r.get("cost") or {})} for r in records]
    return pd.DataFrame(rows, columns=COST_COLUMNS)


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    if runs.empty:
        return pd.DataFrame(columns=["experiment", "method", "metric", "mean", "std", "n"])
    g = runs.groupby(["experiment", "method", "metric"], sort=False)["value"]
    out = g.agg(mean="mean", std=lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else float("nan"),
                n="count").reset_index()
    return out


def min_exact_p(n_a: int, n_b: int, alternative: str) -> float:
    """Smallest p-value of the exact Mann-Whitney U test for these sample sizes."""
    if n_a == 0 or n_b == 0:
        return 1.0
    p = 1.0 / math.comb(n_a + n_b, n_a)
    return min(1.0, 2 * p) if alternative == "two-sided" else p


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    m = len(pvalues)
    order = np.argsort(pvalues)
    adjusted = np.empty(m)
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[idx]))
        adjusted[idx] = running
    return adjusted.tolist()


def scipy_alternative(metric: str, alternative: str) -> str:
    """`better` / `worse` (a than b) as scipy's `greater` / `less`, by the metric's direction."""
    if alternative not in ("better", "worse"):
        return alternative
    higher = get_metric(metric).higher_is_better
    return "greater" if (alternative == "better") == higher else "less"


TEST_COLUMNS = ["experiment", "metric", "method_a", "method_b", "alternative", "U", "p", "p_holm", "n_a", "n_b",
                "p_min", "underpowered", "effect", "family", "margin", "delta", "hl_shift", "hl_low", "hl_high",
                "p_tost", "consistent"]


def mann_whitney_tests(exp: Experiment, runs: pd.DataFrame) -> pd.DataFrame:
    """One row per comparison. Holm's correction runs within (metric, family). Beside each p: `effect`, the
    probability that a run of a beats one of b (by the metric's direction), and the Hodges-Lehmann shift of a over b
    with its exact 95 % interval (`hl_*`, raw units; stats.py). An equality claim (with a margin) is not a
    discovery: its p is left unadjusted, `p_tost` is the equivalence test within the margin, and it is
    `consistent` when that test rejects non-equivalence at ALPHA."""
    rows = []
    for c in exp.comparisons:
        sel = runs[(runs.experiment == exp.name) & (runs.metric == c.metric)]
        a = sel[sel.method == c.method_a]["value"].to_numpy()
        b = sel[sel.method == c.method_b]["value"].to_numpy()
        alternative = scipy_alternative(c.metric, c.alternative)
        row = {"experiment": exp.name, "metric": c.metric, "method_a": c.method_a, "method_b": c.method_b,
               "alternative": alternative, "n_a": len(a), "n_b": len(b),
               "p_min": min_exact_p(len(a), len(b), alternative), "family": c.family,
               "margin": float("nan") if c.margin is None else c.margin}
        if len(a) and len(b):
            res = mannwhitneyu(a, b, alternative=alternative, method="exact")
            share_above = float(res.statistic) / (len(a) * len(b))  # P(a > b), ties half
            effect = share_above if get_metric(c.metric).higher_is_better else 1.0 - share_above
            shift, low, high = hodges_lehmann(a, b)
            row.update(U=float(res.statistic), p=float(res.pvalue), effect=effect, delta=float(a.mean() - b.mean()),
                       hl_shift=shift, hl_low=low, hl_high=high)
            if c.margin is not None:
                row["p_tost"] = tost(a, b, c.margin)
        else:
            row.update(U=float("nan"), p=float("nan"), effect=float("nan"), delta=float("nan"))
        row["underpowered"] = row["p_min"] >= ALPHA
        if c.margin is not None:
            row["p_holm"] = row["p"]
            row["consistent"] = bool(row["p_tost"] < ALPHA) if "p_tost" in row else None
        rows.append(row)
    df = pd.DataFrame(rows, columns=TEST_COLUMNS)
    discoveries = df[df.margin.isna()] if len(df) else df
    for _key, idx in discoveries.groupby(["metric", "family"]).groups.items():
        valid = [i for i in idx if not math.isnan(df.at[i, "p"])]
        for i, adj in zip(valid, holm([df.at[i, "p"] for i in valid])):
            df.at[i, "p_holm"] = adj
    return df


def with_claims(exp: Experiment) -> Experiment:
    """The experiment with its paper's claims added as comparisons (a better than b), unless declared already."""
    import dataclasses

    from sharebench.benchmarks.config import Comparison
    from sharebench.benchmarks.papers import paper_for

    paper = paper_for(exp.benchmark)
    if paper is None:
        return exp
    have = {(c.metric, c.method_a, c.method_b, scipy_alternative(c.metric, c.alternative), c.family)
            for c in exp.comparisons}
    extra = []
    for claim in paper.claims:
        if claim.experiment != exp.name or not (_has_arm(exp, claim.a) and _has_arm(exp, claim.b)):
            continue
        alternative = "two-sided" if claim.margin is not None else "better"
        for metric in claim.metrics:
            key = (metric, claim.a, claim.b, scipy_alternative(metric, alternative), claim.family)
            if key not in have:
                extra.append(Comparison(metric, claim.a, claim.b, alternative, claim.family, claim.margin))
                have.add(key)
    return dataclasses.replace(exp, comparisons=[*exp.comparisons, *extra])


def _has_arm(exp: Experiment, label: str) -> bool:
    """An arm of the experiment, or `<arm>@<variant>` of an arm evaluated several ways."""
    arm, _, variant = label.partition("@")
    return arm in exp.arms and (not variant or variant in (exp.arms[arm].hparams.get("eval_moments") or []))


def curves_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Pooled and task-mean metrics per evaluation, plus the method's own scalars (LWS: routing `entropy`)."""
    rows = []
    for r in records:
        c = r["curves"]
        series = {k: v for k, v in c["metrics"].items() if "/" not in k}
        series.update(c.get("method", {}))
        for i, it in enumerate(c["iteration"]):
            row = {"experiment": r["experiment"], "method": r["method"], "seed": r["seed"], "iteration": it}
            row.update({key: values[i] for key, values in series.items() if i < len(values)})
            rows.append(row)
    keys = sorted({k for r in records for k in [*r["curves"]["metrics"], *r["curves"].get("method", {})]
                   if "/" not in k})
    return pd.DataFrame(rows, columns=["experiment", "method", "seed", "iteration", *keys])


def assignments_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Final learned assignments: one row per (run, routed layer, task) with the slot and the size of
    the group of tasks sharing it (LWS Figures 3 and 4)."""
    rows = []
    for r in records:
        info = r.get("method_info", {})
        if "probabilities" not in info:
            continue
        for layer_index, layer in enumerate(info["layers"]):
            if layer not in info["routed_layers"]:
                continue
            for task, slots in enumerate(info["assignment"]):
                rows.append({"experiment": r["experiment"], "method": r["method"], "seed": r["seed"], "layer": layer,
                             "layer_index": layer_index, "task": task, "slot": slots[layer_index],
                             "group_size": info["group_sizes"][task][layer_index]})
    return pd.DataFrame(rows, columns=["experiment", "method", "seed", "layer", "layer_index", "task", "slot",
                                       "group_size"])


def analyze(exps: list[Experiment], out: Path) -> dict[str, pd.DataFrame]:
    """Write summary.csv, tests.csv, curves.csv, assignments.csv, costs.csv and metrics.json under `out`; return
    the frames."""
    all_records = {e.name: load_records(e) for e in exps}
    records = [r for recs in all_records.values() for r in recs]
    runs = runs_frame(records)
    summary = summarize(runs)
    tests = pd.concat([mann_whitney_tests(with_claims(e), runs) for e in exps], ignore_index=True) if exps \
        else pd.DataFrame()
    curves = curves_frame(records)
    assignments = assignments_frame(records)
    costs = costs_frame(records)
    out.mkdir(parents=True, exist_ok=True)
    costs.to_csv(out / "costs.csv", index=False)
    assignments.to_csv(out / "assignments.csv", index=False)
    summary.to_csv(out / "summary.csv", index=False)
    tests.to_csv(out / "tests.csv", index=False)
    curves.to_csv(out / "curves.csv", index=False)
    metrics: dict[str, Any] = {}
    for exp in exps:  # each experiment's declared metrics, pooled and task mean
        keys = [k for m in exp.metrics for k in (m, f"{m}_task_mean")]
        sel = summary[(summary.experiment == exp.name) & summary.metric.isin(keys)]
        for row in sel.itertuples():
            metrics.setdefault(row.experiment, {}).setdefault(row.method, {})[f"{row.metric}_mean"] = row.mean
            metrics[row.experiment][row.method][f"{row.metric}_std"] = row.std
            metrics[row.experiment][row.method]["n"] = int(row.n)
    plots = out / "plots"
    for exp in exps:  # `dvc plots`: the primary metric over iterations, per arm
        sel = curves[curves.experiment == exp.name]
        keys = [exp.primary_metric, f"{exp.primary_metric}_task_mean"]
        for method, m in sel.groupby("method"):
            folder = plots / exp.name
            folder.mkdir(parents=True, exist_ok=True)
            m.groupby("iteration")[keys].mean().reset_index().rename(
                columns={exp.primary_metric: "value", keys[1]: "value_task_mean"}).to_csv(
                folder / f"{method}.csv", index=False)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
    return {"summary": summary, "tests": tests, "curves": curves, "runs": runs, "assignments": assignments,
            "costs": costs}
