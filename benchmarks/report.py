"""report/index.md (+ index.html): per experiment a table (tabulate) and a curve figure (matplotlib)."""

from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from tabulate import tabulate  # noqa: E402

from sharebench.benchmarks.analysis import ALPHA  # noqa: E402
from sharebench.benchmarks.config import Experiment  # noqa: E402
from sharebench.benchmarks.papers import reference_number  # noqa: E402
from sharebench.datasets.suites import read_suite_meta  # noqa: E402


def fmt_cell(summary: pd.DataFrame, exp: str, method: str, metric: str, scale: float = 100.0) -> str:
    row = summary[(summary.experiment == exp) & (summary.method == method) & (summary.metric == metric)]
    if row.empty:
        return "not run"
    r = row.iloc[0]
    std = "" if math.isnan(r["std"]) else f" ± {scale * r['std']:.2f}"
    return f"{scale * r['mean']:.2f}{std} ({int(r['n'])})"


def fmt_p(tests: pd.DataFrame, exp: Experiment, method: str, metric: str) -> str:
    if method == exp.reference:
        return "(reference)"
    sel = tests[(tests.experiment == exp.name) & (tests.metric == metric) & (tests.method_a == method)
                & (tests.method_b == exp.reference)]
    if sel.empty or math.isnan(sel.iloc[0]["p"]):
        return ""
    r = sel.iloc[0]
    flag = " †" if r["underpowered"] else ""
    star = " *" if r["p_holm"] < ALPHA else ""
    return f"{r['p']:.3g} / {r['p_holm']:.3g}{star}{flag}"


def curve_figure(curves: pd.DataFrame, exp: Experiment, path: Path, metric: str = "accuracy") -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    sel = curves[curves.experiment == exp.name]
    for method in exp.methods:
        m = sel[sel.method == method]
        if m.empty:
            continue
        g = m.groupby("iteration")[metric]
        mean, std = g.mean(), g.std().fillna(0.0)
        ax.plot(mean.index, 100 * mean.values, label=f"{method} (n={m.seed.nunique()})")
        ax.fill_between(mean.index, 100 * (mean - std).values, 100 * (mean + std).values, alpha=0.2)
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"test {metric.replace('_', ' ')} (%)")
    ax.set_title(f"{exp.title} [{exp.profile}]")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def experiment_section(exp: Experiment, summary: pd.DataFrame, tests: pd.DataFrame, curves: pd.DataFrame,
                       out: Path) -> str:
    meta = read_suite_meta(exp.suite)
    rows = []
    for method in exp.methods:
        paper = reference_number(exp.benchmark, exp.name, method, "accuracy")
        rows.append([method, fmt_cell(summary, exp.name, method, "accuracy"),
                     fmt_cell(summary, exp.name, method, "accuracy_task_mean"),
                     fmt_p(tests, exp, method, "accuracy"), fmt_p(tests, exp, method, "accuracy_task_mean"),
                     "" if paper is None else f"{100 * paper:.2f}"])
    headers = ["method", "accuracy % (pooled)", "accuracy % (task mean)", f"p vs {exp.reference} (pooled)",
               f"p vs {exp.reference} (task mean)", "paper"]
    figure = out / "figures" / f"{exp.name}.png"
    curve_figure(curves, exp, figure)
    verified = "yes" if meta["checksum_verified"] else "**no**: some data were imported (see notes)"
    lines = [f"## {exp.title}", "", exp.description, "",
             f"- experiment `{exp.name}`, profile `{exp.profile}`; suite `{exp.suite}` "
             f"({', '.join(t['name'] for t in meta['tasks'])}; hash `{meta['content_hash'][:12]}`), "
             f"backbone `{exp.backbone}`, {exp.iterations} iterations, {exp.batch_per_task} images per task "
             f"per step, evaluation every {exp.eval_interval}, seeds {exp.seeds[0]}..{exp.seeds[-1]}",
             f"- data checksum-verified: {verified}"]
    lines += [f"- note: {n}" for n in meta["notes"]]
    per_task = [[method] + [fmt_cell(summary, exp.name, method, f"accuracy/{t['name']}") for t in meta["tasks"]]
                for method in exp.methods]
    lines += ["", "Final test accuracy, mean ± std over seeds (n). p: exact two-sided Mann-Whitney U against "
              f"the reference, raw / Holm-adjusted within the experiment and metric; * p_holm < {ALPHA}; "
              "† n too small for the test ever to reach p < 0.05.", "",
              tabulate(rows, headers=headers, tablefmt="github"), "",
              "Per task (test images: " + ", ".join(f"{t['name']} {t['n_test']}" for t in meta["tasks"]) + "):", "",
              tabulate(per_task, headers=["method"] + [t["name"] for t in meta["tasks"]], tablefmt="github"), "",
              f"![test accuracy vs iterations](figures/{figure.name})", ""]
    return "\n".join(lines)


def write_report(exps: list[Experiment], skipped: list[str], results: Path, out: Path, profile: str) -> Path:
    summary = pd.read_csv(results / "summary.csv")
    tests = pd.read_csv(results / "tests.csv") if (results / "tests.csv").stat().st_size > 1 else pd.DataFrame(
        columns=["experiment", "metric", "method_a", "method_b", "p", "p_holm", "underpowered"])
    curves = pd.read_csv(results / "curves.csv")
    out.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = ["# sharebench report", "", f"Profile `{profile}`, generated {stamp}. Numbers come from the run "
             "records in `results/runs/`; statistics from `results/summary.csv` and `results/tests.csv`.", ""]
    # per-experiment sections first: they draw the curve figures the paper sections link to
    sections = [experiment_section(exp, summary, tests, curves, out) for exp in exps]
    if any(e.benchmark == "lws" for e in exps):
        from sharebench.benchmarks import lws_report

        path = results / "assignments.csv"
        assignments = pd.read_csv(path) if path.exists() and path.stat().st_size > 1 else pd.DataFrame(
            columns=["experiment", "method", "seed", "layer", "layer_index", "task", "slot", "group_size"])
        parts.append(lws_report.render(exps, summary, tests, curves, assignments, out))
    parts += sections
    if skipped:
        parts += ["## Not run in this profile", ""]
        parts += [f"- `{name}`: no settings for profile `{profile}` (see params.yaml)" for name in skipped]
        parts.append("")
    index = out / "index.md"
    index.write_text("\n".join(parts))
    _write_html(out / "index.html", parts)
    (out / "report.json").write_text(json.dumps({"profile": profile, "experiments": [e.name for e in exps],
                                                 "skipped": skipped}, indent=2))
    return index


def _write_html(path: Path, md_parts: list[str]) -> None:
    """A dependency-free HTML rendering: headings, lists, github tables and images."""
    import html
    import re

    body = []
    for line in "\n".join(md_parts).splitlines():
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{html.escape(line.lstrip('# '))}</h{level}>")
        elif line.startswith("!["):
            src = re.search(r"\((.*)\)", line).group(1)
            body.append(f'<img src="{html.escape(src)}" width="640">')
        elif line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if all(set(c) <= set("-: ") for c in cells):
                continue
            body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
        elif line.startswith("- "):
            body.append(f"<li>{html.escape(line[2:])}</li>")
        elif line:
            body.append(f"<p>{html.escape(line)}</p>")
    text = "\n".join(body)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)
    text = re.sub(r"((?:<tr>.*</tr>\n?)+)", r"<table border=1>\n\1</table>\n", text)
    path.write_text(f"<!doctype html><meta charset=utf-8><title>sharebench report</title>\n{text}\n")
