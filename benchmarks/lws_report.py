"""The LWS paper's section of the report: Tables I-III (paper vs reproduced test error), the paper's
significance claims as one-sided Mann-Whitney U tests with verdicts, Figures 3/4 (how many tasks share
each layer's weight) and Figure 5 (test accuracy over iterations, spread over seeds)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from tabulate import tabulate  # noqa: E402

from sharebench.benchmarks.config import Experiment  # noqa: E402
from sharebench.benchmarks.lws import CLAIMS, LITERATURE, METHOD_LABELS, REFERENCE_NUMBERS, TABLES, Claim  # noqa: E402
from sharebench.benchmarks.report import fmt_cell  # noqa: E402

METHOD_ORDER = ["shareall", "isolated", "partial", "lws"]


def _cell(summary: pd.DataFrame, exp: str, method: str, metric: str) -> str:
    cell = fmt_cell(summary, exp, method, metric)
    return "—" if cell == "not run" else cell


def _paper(exp: str, method: str) -> str:
    ref = REFERENCE_NUMBERS.get(exp, {}).get(method)
    return "—" if ref is None else f"{100 * ref['error']:.2f} ± {100 * ref['error_std']:.2f}"


def results_table(title: str, columns: list[tuple[str, str]], active: dict[str, Experiment],
                  summary: pd.DataFrame) -> list[str]:
    headers = ["method"]
    for label, _ in columns:
        headers += [f"{label}: paper", f"{label}: pooled", f"{label}: task mean"]
    rows = []
    literature = [name for _, exp in columns for name, _ in LITERATURE.get(exp, [])]
    for name in literature:
        row = [f"{name}"]
        for _, exp in columns:
            value = dict(LITERATURE.get(exp, [])).get(name)
            row += ["—" if value is None else f"{100 * value:.1f}", "", ""]
        rows.append(row)
    for method in METHOD_ORDER:
        row = [METHOD_LABELS[method]]
        for _, exp in columns:
            if exp not in active:
                row += [_paper(exp, method), "not run", "not run"]
            else:
                row += [_paper(exp, method), _cell(summary, exp, method, "error"),
                        _cell(summary, exp, method, "error_task_mean")]
        rows.append(row)
    lines = [f"### {title}", "", tabulate(rows, headers=headers, tablefmt="github"), ""]
    for label, exp in columns:
        if exp in active:
            e = active[exp]
            lines.append(f"- {label}: experiment `{exp}` ran here on suite `{e.suite}`, backbone `{e.backbone}`, "
                         f"{e.iterations} iterations, seeds {len(e.seeds)} configured"
                         + ("" if e.suite not in ("embedded", "dkl-mnist-offline") else
                            " — **not the paper's data**, so the paper column is context, not a target"))
        else:
            lines.append(f"- {label}: experiment `{exp}` has no settings for this profile (see params.yaml)")
    return lines + [""]


def claim_verdict(claim: Claim, tests: pd.DataFrame, metric: str) -> tuple[str, str, str]:
    """(p, n, verdict) for one claim on one metric, from tests.csv."""
    sel = tests[(tests.experiment == claim.experiment) & (tests.metric == metric) & (tests.method_a == claim.method_a)
                & (tests.method_b == claim.method_b) & (tests.alternative == "less")]
    if sel.empty or (isinstance(sel.iloc[0]["p"], float) and math.isnan(sel.iloc[0]["p"])):
        return "", "", "not run"
    r = sel.iloc[0]
    n = f"{int(r['n_a'])} vs {int(r['n_b'])}"
    p = f"{r['p']:.3g} (Holm {r['p_holm']:.3g})"
    significant = r["p"] < claim.level
    if claim.significant:
        if significant:
            verdict = "reproduced"
        elif r["p_min"] >= claim.level:
            verdict = f"cannot be tested: n too small to reach p < {claim.level} (p_min {r['p_min']:.3g})"
        else:
            verdict = "**not reproduced**"
    else:
        verdict = "reproduced (not significant)" if not significant else "**contradicted** (significant)"
    return p, n, verdict


def claims_table(tests: pd.DataFrame, active: dict[str, Experiment]) -> list[str]:
    rows = []
    for c in CLAIMS:
        if c.experiment not in active:
            rows.append([c.text, f"`{c.method_a}` < `{c.method_b}`", "", "", "", "not run in this profile"])
            continue
        p_pool, n, verdict = claim_verdict(c, tests, "error")
        p_task, _, verdict_task = claim_verdict(c, tests, "error_task_mean")
        rows.append([c.text, f"`{c.method_a}` < `{c.method_b}`", n, p_pool, p_task,
                     verdict if verdict == verdict_task else f"pooled: {verdict}; task mean: {verdict_task}"])
    return ["### The paper's significance claims", "",
            "One-sided exact Mann-Whitney U on the final test error (alternative: the first method's error is "
            "lower), as the authors' `run_plot.py`; verdict at the paper's level p < 0.01 on the raw p-value "
            "(Holm within the experiment shown beside it).", "",
            tabulate(rows, headers=["claim", "test", "n", "p (pooled error)", "p (task-mean error)", "verdict"],
                     tablefmt="github"), ""]


def sharing_figure(assignments: pd.DataFrame, exp: Experiment, path: Path) -> bool:
    """Figures 3/4: per routed layer, the share of tasks (over all runs) whose weight is shared by exactly t tasks."""
    sel = assignments[(assignments.experiment == exp.name) & (assignments.method == "lws")]
    if sel.empty:
        return False
    layers = sel.drop_duplicates("layer_index").sort_values("layer_index")["layer"].tolist()
    sizes = sorted(sel.group_size.unique())
    share = sel.groupby(["layer", "group_size"]).size().unstack(fill_value=0).reindex(index=layers, columns=sizes,
                                                                                    fill_value=0)
    share = 100 * share.div(share.sum(axis=1), axis=0)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(layers) + 2.5), 4.0))
    bottom = np.zeros(len(layers))
    colors = plt.cm.viridis(np.linspace(0, 1, max(2, len(sizes))))
    for i, t in enumerate(sizes):
        ax.bar(layers, share[t].values, bottom=bottom, color=colors[i], label=f"t = {t}")
        bottom += share[t].values
    ax.set_ylabel("tasks sharing the weight with exactly t tasks (%)")
    ax.set_title(f"{exp.name} [{exp.profile}], {sel.seed.nunique()} runs")
    ax.legend(fontsize=7, ncol=1 if len(sizes) <= 8 else 2, bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def entropy_figure(curves: pd.DataFrame, exp: Experiment, path: Path) -> bool:
    if "entropy" not in curves.columns:
        return False
    sel = curves[(curves.experiment == exp.name) & (curves.method == "lws")].dropna(subset=["entropy"])
    if sel.empty:
        return False
    g = sel.groupby("iteration")["entropy"]
    mean, std = g.mean(), g.std().fillna(0.0)
    fig, ax = plt.subplots(figsize=(5.0, 3.2))
    ax.plot(mean.index, mean.values)
    ax.fill_between(mean.index, (mean - std).values, (mean + std).values, alpha=0.2)
    ax.set_xlabel("iteration")
    ax.set_ylabel("mean routing entropy (nats)")
    ax.set_title(f"{exp.name} [{exp.profile}]")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


FIGURE_NAMES = {"lws-dkl-mnist": "Figure 3", "lws-omniglot-resnet18": "Figure 4"}


def render(exps: list[Experiment], summary: pd.DataFrame, tests: pd.DataFrame, curves: pd.DataFrame,
           assignments: pd.DataFrame, out: Path) -> str:
    active = {e.name: e for e in exps if e.benchmark == "lws"}
    lines = ["## Prellberg & Kramer: learned weight sharing (LWS)", "",
             "Test error % (mean ± std over seeds, n runs). *pooled*: all test images of all tasks together (the "
             "authors' `test/metric`); *task mean*: the mean of the per-task errors. Paper columns are the "
             "paper's numbers; rows marked *reported* are quoted by the paper from other work and not re-run. "
             "No sharing = `isolated`, full sharing = `shareall`, prior sharing = `partial` (the released code's "
             "hand-designed sharing), learned sharing = `lws`.", ""]
    for title, columns in TABLES:
        lines += results_table(title, columns, active, summary)
    lines += claims_table(tests, active)
    lines += ["### Figures 3 and 4: how many tasks share each layer's weight", "",
              "For every routed layer, the share of tasks (over all runs) whose final, most likely weight is shared "
              "by exactly t tasks. The paper shows DKL-MNIST (Figure 3) and Omniglot ResNet18 (Figure 4).", ""]
    for exp in active.values():
        path = out / "figures" / f"{exp.name}-sharing.png"
        if sharing_figure(assignments, exp, path):
            label = FIGURE_NAMES.get(exp.name, "Same plot")
            lines += [f"{label}, `{exp.name}`:", "", f"![sharing groups {exp.name}](figures/{path.name})", ""]
    lines += ["### Figure 5 and the routing entropy", "",
              "Test accuracy against iterations (mean ± std over seeds) for every LWS experiment run here (the paper's "
              "Figure 5 is the CIFAR-100 ResNet18 one), and the mean entropy of the search distribution.", ""]
    for exp in active.values():
        lines += [f"`{exp.name}`:", "", f"![test accuracy {exp.name}](figures/{exp.name}.png)", ""]
        path = out / "figures" / f"{exp.name}-entropy.png"
        if entropy_figure(curves, exp, path):
            lines += [f"![entropy {exp.name}](figures/{path.name})", ""]
    return "\n".join(lines + [""])
