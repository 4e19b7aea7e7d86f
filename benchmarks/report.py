"""report/index.md (+ a self-contained index.html): the scoreboard, every registered paper's section (one
renderer), then per experiment a table of its declared metrics with the paper's number where the paper has one,
and a curve figure."""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from tabulate import tabulate  # noqa: E402

from sharebench.benchmarks.analysis import ALPHA, COST_COLUMNS, load_records, runs_frame  # noqa: E402
from sharebench.benchmarks.config import Experiment  # noqa: E402
from sharebench.benchmarks.html_report import write_html  # noqa: E402
from sharebench.benchmarks.metrics import get_metric  # noqa: E402
from sharebench.benchmarks.papers import paper_for, registered_papers  # noqa: E402
from sharebench.benchmarks.render import fmt_cell, fmt_ref, render_paper, render_scoreboard  # noqa: E402
from sharebench.datasets.atomic import atomic_write_text  # noqa: E402
from sharebench.datasets.suites import read_suite_meta  # noqa: E402


def fmt_p(tests: pd.DataFrame, exp: Experiment, method: str, metric: str) -> str:
    if method == exp.reference:
        return "(reference)"
    sel = tests[(tests.experiment == exp.name) & (tests.metric == metric) & (tests.method_a == method)
                & (tests.method_b == exp.reference) & (tests.alternative == "two-sided")]
    if sel.empty or math.isnan(sel.iloc[0]["p"]):
        return ""
    r = sel.iloc[0]
    flag = " †" if r["underpowered"] else ""
    star = " *" if r["p_holm"] < ALPHA else ""
    return f"{r['p']:.3g} / {r['p_holm']:.3g}{star}{flag}"


def curve_figure(curves: pd.DataFrame, exp: Experiment, path: Path) -> None:
    """Each arm's mean test curve with a band of ± one standard deviation over seeds, and every seed's final
    value as a dot."""
    metric = exp.primary_metric
    m_info = get_metric(metric)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    sel = curves[curves.experiment == exp.name]
    for arm in exp.arms:
        m = sel[sel.method == arm]
        if m.empty or metric not in m:
            continue
        g = m.groupby("iteration")[metric]
        mean, std = g.mean(), g.std().fillna(0.0)
        ax.plot(mean.index, m_info.scale * mean.values, label=f"{arm} (n={m.seed.nunique()})")
        band = ax.fill_between(mean.index, m_info.scale * (mean - std).values, m_info.scale * (mean + std).values,
                               alpha=0.2)
        last = m[m.iteration == m.iteration.max()]  # every seed's final value, as a dot
        ax.scatter(last.iteration, m_info.scale * last[metric], s=12, color=band.get_facecolor()[0][:3], zorder=3)
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"test {metric} ({m_info.unit})")
    ax.set_title(f"{exp.title} [{exp.profile}]")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fmt_cost(costs: pd.DataFrame, exp: str, arm: str) -> list[str]:
    """Parameters (trainable, + frozen), median seconds per training step, median wall time per run, device."""
    sel = costs[(costs.experiment == exp) & (costs.method == arm)]
    if sel.empty:
        return ["", "", ""]
    params = sel.parameters_trainable.dropna()
    frozen = sel.parameters_frozen.dropna()
    held = "" if params.empty else f"{int(params.iloc[0]):,}" + (
        f" (+{int(frozen.iloc[0]):,} frozen)" if not frozen.empty and frozen.iloc[0] else "")
    in_use = sel.parameters_in_use.dropna() if "parameters_in_use" in sel else pd.Series(dtype=float)
    if not in_use.empty:  # a weight bank: the median over seeds of what the tasks use and the part they share
        held += (f"; in use {int(in_use.median()):,}, shared {100 * sel.shared_fraction.dropna().median():.0f} %")
    step = sel.train_s_per_step.dropna()
    per_step = "" if step.empty else f"{1000 * step.median():.2f} ms"
    devices = ", ".join(sorted({str(d) for d in sel.device.dropna()}))
    return [held, per_step, f"{sel.wall_time_s.median():.1f} s ({devices})"]


COST_HEADERS = ["parameters", "per step", "wall / run (device)"]


def experiment_section(exp: Experiment, summary: pd.DataFrame, tests: pd.DataFrame, curves: pd.DataFrame,
                       out: Path, costs: pd.DataFrame | None = None) -> str:
    meta = read_suite_meta(exp.suite)
    paper = paper_for(exp.benchmark)
    rows = []
    headers = ["arm", "method"]
    for metric in exp.metrics:
        unit = get_metric(metric).unit
        headers += [f"{metric} {unit} (pooled)", f"{metric} {unit} (task mean)"]
        if metric == exp.primary_metric:
            headers.append(f"p vs {exp.reference} (pooled)")
    headers += [f"paper ({exp.primary_metric})", *COST_HEADERS]
    costs = pd.DataFrame(columns=COST_COLUMNS) if costs is None else costs
    for arm in exp.arms.values():
        row = [arm.label, arm.method]
        for metric in exp.metrics:
            row += [fmt_cell(summary, exp.name, arm.label, metric),
                    fmt_cell(summary, exp.name, arm.label, f"{metric}_task_mean")]
            if metric == exp.primary_metric:
                row.append(fmt_p(tests, exp, arm.label, metric))
        ref = None if paper is None else paper.reference(exp.name, arm.label, exp.primary_metric)
        row.append("" if ref is None else fmt_ref(ref) + ("" if paper.comparable(exp) else " (other setting)"))
        cost = fmt_cost(costs, exp.name, arm.label)
        printed = None if paper is None else paper.printed_parameters.get(exp.name)
        if printed is not None and arm.label in printed.arms:
            cost[0] += f"; paper: {printed.text}"
        rows.append(row + cost)
    figure = out / "figures" / f"{exp.name}.png"
    curve_figure(curves, exp, figure)
    verified = "yes" if meta["checksum_verified"] else "**no**: some data were imported (see notes)"
    evaluated = [t for t in meta["tasks"] if not exp.eval_tasks or t["name"] in exp.eval_tasks
                 or exp.roles.get(t["name"], "task") in exp.eval_tasks]
    lines = [f"## {exp.title}", "", exp.description, "",
             f"- experiment `{exp.name}`, profile `{exp.profile}`; suite `{exp.suite}` "
             f"({', '.join(t['name'] for t in meta['tasks'])}; hash `{meta['content_hash'][:12]}`), "
             f"{exp.iterations} iterations, {exp.batch_per_task} images per task per step, evaluation every "
             f"{exp.eval_interval}, seeds {exp.seeds[0]}..{exp.seeds[-1]}",
             "- arms: " + "; ".join(f"`{a.label}` = `{a.method}` on `{a.backbone}`"
                                    + (f" {a.hparams}" if a.hparams else "")
                                    + (f", target labels {a.target_labels}" if a.target_labels is not None else "")
                                    for a in exp.arms.values()),
             f"- data checksum-verified: {verified}"]
    if exp.roles:
        lines.append(f"- task roles: {exp.roles}; target training labels visible: {exp.target_labels}")
    lines += [f"- note: {n}" for n in meta["notes"]]
    first = exp.primary_metric
    per_task = [[arm] + [fmt_cell(summary, exp.name, arm, f"{first}/{t['name']}") for t in evaluated]
                for arm in exp.arms]
    lines += ["", "Final test metrics, mean ± std over seeds (n). p: exact two-sided Mann-Whitney U against "
              f"the reference, raw / Holm-adjusted within the experiment and metric; * p_holm < {ALPHA}; "
              "† n too small for the test ever to reach p < 0.05. Cost: the parameters the arm's networks hold "
              "(trainable; frozen ones such as a stored source beside; for a weight bank the hidden parameters in "
              "the slots the tasks use and the share of them two or more tasks use), the median time of a training "
              "step (evaluations excluded) and the median wall time of a run, with the device.", "",
              tabulate(rows, headers=headers, tablefmt="github"), "",
              f"Per task, {first} (test images: " + ", ".join(f"{t['name']} {t['n_test']}" for t in evaluated) + "):",
              "", tabulate(per_task, headers=["arm"] + [t["name"] for t in evaluated], tablefmt="github"), "",
              f"![test {first} vs iterations](figures/{figure.name})", ""]
    return "\n".join(lines)


def _read(path: Path, columns: list[str]) -> pd.DataFrame:
    return pd.read_csv(path) if path.exists() and path.stat().st_size > 1 else pd.DataFrame(columns=columns)


def write_report(exps: list[Experiment], skipped: list[str], results: Path, out: Path, profile: str) -> Path:
    records = [r for exp in exps for r in load_records(exp)]
    frames = {"summary": pd.read_csv(results / "summary.csv"),
              "tests": _read(results / "tests.csv", ["experiment", "metric", "method_a", "method_b", "alternative",
                                                     "p", "p_holm", "p_min", "underpowered", "n_a", "n_b"]),
              "curves": pd.read_csv(results / "curves.csv"),
              "costs": _read(results / "costs.csv", COST_COLUMNS),
              "assignments": _read(results / "assignments.csv", ["experiment", "method", "seed", "layer",
                                                                 "layer_index", "task", "slot", "group_size"]),
              # every run's final metrics, for figures with a dot per seed and tests within an arm (JAE Fig. 2)
              "runs": runs_frame(records),
              # small non-scalar results of a run (the JAE's Fig. 2 example images), one row per run and name
              "artifacts": pd.DataFrame([{"experiment": r["experiment"], "method": r["method"], "seed": r["seed"],
                                          "name": name, "data": data} for r in records
                                         for name, data in r.get("artifacts", {}).items()],
                                        columns=["experiment", "method", "seed", "name", "data"])}
    out.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    data = ", ".join(f"[{name}]({os.path.relpath(results / name, out)})"
                     for name in ("summary.csv", "tests.csv", "curves.csv", "costs.csv"))
    parts = ["# sharebench report", "", f"Profile `{profile}`, generated {stamp}. Numbers come from the run "
             "records in `results/runs/`; statistics from `results/summary.csv` and `results/tests.csv`.", "",
             f"Data: {data}.", ""]
    # per-experiment sections first: they draw the curve figures the paper sections link to
    sections = [experiment_section(exp, frames["summary"], frames["tests"], frames["curves"], out, frames["costs"])
                for exp in exps]
    papers = [paper for paper in registered_papers() if any(e.benchmark == paper.key for e in exps)]
    parts += render_scoreboard(papers, exps, frames)
    for paper in papers:
        parts.append(render_paper(paper, exps, frames, out))
    parts += sections
    if skipped:
        parts += ["## Not run in this profile", ""]
        parts += [f"- `{name}`: no settings for profile `{profile}` (see params.yaml)" for name in skipped]
        parts.append("")
    index = atomic_write_text(out / "index.md", "\n".join(parts))
    write_html(out / "index.html", "\n".join(parts))
    atomic_write_text(out / "report.json", json.dumps({"profile": profile, "experiments": [e.name for e in exps],
                                                      "skipped": skipped}, indent=2))
    return index
