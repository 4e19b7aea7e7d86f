"""Bilen & Vedaldi figures a reader compares at a glance: per-domain error by normalisation strategy (Table 4's
rows, per domain) and mean error against the weights each arm uses (Table 3's capacity and sharing rows), every
seed drawn as a dot; and the per-domain count of claim T3-b (deep sharing better than none on 6 of 10 domains)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

NORM_ARMS = ["deep", "bn-universal", "bn-universal@batch", "bn-universal@domain", "in-universal", "in-domain"]


def per_seed(exp) -> pd.DataFrame:
    """The final metrics of every run of the experiment (one row per arm, seed and metric)."""
    from sharebench.benchmarks.analysis import load_records, runs_frame

    return runs_frame(load_records(exp))


def _tasks(runs: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(m.split("/", 1)[1] for m in runs.metric if m.startswith("error/")))


def norm_figure(exp, runs: pd.DataFrame, labels: dict[str, str], path: Path) -> bool:
    """Grouped bars: per domain (and the task mean), the mean error of each normalisation arm, seeds as dots."""
    arms = [a for a in NORM_ARMS if a in set(runs.method)]
    tasks = _tasks(runs)
    if len(arms) < 2 or not tasks:
        return False
    keys = [f"error/{t}" for t in tasks] + ["error_task_mean"]
    width = 0.8 / len(arms)
    fig, ax = plt.subplots(figsize=(max(6.4, 1.2 * len(keys)), 4.2))
    for i, arm in enumerate(arms):
        xs = np.arange(len(keys)) + (i - (len(arms) - 1) / 2) * width
        values = [100 * runs[(runs.method == arm) & (runs.metric == k)].value.to_numpy() for k in keys]
        ax.bar(xs, [v.mean() if len(v) else np.nan for v in values], width, label=labels.get(arm, arm), alpha=0.75)
        for x, v in zip(xs, values):
            ax.plot(np.full(len(v), x), v, "k.", markersize=3)
    ax.set_xticks(np.arange(len(keys)), [*tasks, "task mean"], rotation=20)
    ax.set_ylabel("test error (%)")
    ax.set_title(f"Normalisation strategies per domain, {exp.name} [{exp.profile}]")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    _save(fig, path)
    return True


def capacity_figure(exp, runs: pd.DataFrame, params: dict[str, int], labels: dict[str, str], path: Path) -> bool:
    """Task-mean error against the convolution weights in use (log scale), one dot per seed, the mean as a cross;
    the sharing and capacity arms (the normalisation variants all sit at deep sharing's count: the other figure)."""
    arms = [a for a in dict.fromkeys(runs.method) if params.get(a) and a not in NORM_ARMS[1:]]
    if len(arms) < 2:
        return False
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for arm in arms:
        v = 100 * runs[(runs.method == arm) & (runs.metric == "error_task_mean")].value.to_numpy()
        n = params[arm]
        line = ax.plot(np.full(len(v), n), v, ".", alpha=0.6)[0]
        ax.plot([n], [v.mean()], "x", color=line.get_color(), markersize=9, label=labels.get(arm, arm))
    ax.set_xscale("log")
    ax.set_xlabel("convolution weights in use (log scale)")
    ax.set_ylabel("task-mean test error (%)")
    ax.set_title(f"Error against capacity, {exp.name} [{exp.profile}]")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _save(fig, path)
    return True


def domains_won(runs: pd.DataFrame, a: str, b: str) -> tuple[int, int] | None:
    """On how many domains arm a's mean error is below arm b's (claim T3-b counts 6 of 10 for deep vs none)."""
    tasks = _tasks(runs)
    if not tasks or not {a, b} <= set(runs.method):
        return None
    means = runs[runs.metric.str.startswith("error/")].groupby(["method", "metric"]).value.mean()
    return sum(means[(a, f"error/{t}")] < means[(b, f"error/{t}")] for t in tasks), len(tasks)


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
