"""JAE figures and the comparisons with quoted literature that no test over seeds can make.

Fig. 3(a)-(b): target accuracy against labelled target images per digit (every seed a dot, the mean a line), the
target-only baseline, the literature's zero-label results as horizontal lines, the paper's own 50-per-digit number
as a star. Fig. 3(d): target accuracy over training with the freeze marked. Claims C-L1 / C-L2 compare with single
quoted numbers: shown as the count of our seeds above each (specs/jae.md 5: not Mann-Whitney testable).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from sharebench.benchmarks.papers.bilen_figures import _save, plt


def _k(arm: str, prefix: str) -> int | None:
    m = re.fullmatch(rf"{prefix}-k(\d+)", arm)
    return int(m.group(1)) if m else None


def final_accuracy(runs: pd.DataFrame, exp_name: str) -> pd.DataFrame:
    return runs[(runs.experiment == exp_name) & (runs.metric == "accuracy")]


def labels_figure(exp, runs: pd.DataFrame, literature: list[tuple[str, float]], paper_at_50: float,
                  path: Path) -> bool:
    """Accuracy (%) against k for the JAE and the target alone; literature lines; the paper's star at k = 50."""
    acc = final_accuracy(runs, exp.name)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    drawn = False
    for prefix, style in (("jae", "o-"), ("target-only", "s--")):
        arms = sorted((k, a) for a in set(acc.method) if (k := _k(a, prefix)) is not None)
        if not arms:
            continue
        drawn = True
        ks = [k for k, _ in arms]
        values = [100 * acc[acc.method == a].value.to_numpy() for _, a in arms]
        line = ax.plot(ks, [v.mean() for v in values], style, label=f"{prefix} (mean over seeds)")[0]
        for k, v in zip(ks, values):
            ax.plot([k] * len(v), v, ".", color=line.get_color(), alpha=0.5)
    if not drawn:
        plt.close(fig)
        return False
    for i, (name, value) in enumerate(literature):
        ax.axhline(value, color=f"C{i + 2}", linestyle=":", linewidth=1)
        ax.text(1, value, f" {name}", fontsize=6, va="bottom", color=f"C{i + 2}")
    ax.plot([50], [paper_at_50], "*", markersize=12, color="k", label=f"paper, JAE at 50 per digit ({paper_at_50})")
    ax.set_xscale("log")
    ax.set_xticks([5, 10, 25, 50], ["5", "10", "25", "50"])
    ax.set_xlabel("labelled target images per digit")
    ax.set_ylabel("target test accuracy (%)")
    ax.set_title(f"{exp.title.split(':')[0]}: {exp.name} [{exp.profile}]", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    _save(fig, path)
    return True


def freeze_figure(exp, curves: pd.DataFrame, freeze_at: int, path: Path) -> bool:
    """Target accuracy over iterations: after the freeze only the source reconstruction trains (continue), nothing
    trains (stop); the ordinary run with the same labels for reference (the paper's green curve)."""
    sel = curves[(curves.experiment == exp.name) & curves.method.isin(["fig3d-continue", "fig3d-stop", "jae-k50"])]
    if sel.empty or "accuracy" not in sel:
        return False
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for arm, group in sel.groupby("method"):
        mean = group.groupby("iteration").accuracy.mean()
        ax.plot(mean.index, 100 * mean.to_numpy(), "o-", markersize=3, label=arm)
    ax.axvline(freeze_at, color="k", linestyle=":", label=f"freeze (iteration {freeze_at})")
    ax.set_xlabel("iteration")
    ax.set_ylabel("target test accuracy (%)")
    ax.set_title(f"Fig. 3(d): transfer through the source's reconstruction, {exp.name} [{exp.profile}]", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _save(fig, path)
    return True


def against_quoted(exp, runs: pd.DataFrame, quoted: list[tuple[str, float]]) -> list[str]:
    """Per labelled-budget arm: mean ± std and how many of our seeds beat each quoted number."""
    acc = final_accuracy(runs, exp.name)
    arms = sorted((k, a) for a in set(acc.method) if (k := _k(a, "jae")) is not None)
    if not arms:
        return []
    rows = []
    for _, arm in arms:
        v = 100 * acc[acc.method == arm].value.to_numpy()
        rows.append([arm, f"{v.mean():.1f} ± {v.std(ddof=1) if len(v) > 1 else float('nan'):.1f} ({len(v)})",
                     *[f"{int((v > q).sum())} / {len(v)}" for _, q in quoted]])
    return [f"Our seeds above the quoted results, `{exp.name}` (C-L1 / C-L2; single numbers, so no test over seeds):",
            "", tabulate(rows, headers=["arm", "accuracy %", *[f"> {name} {q}" for name, q in quoted]],
                         tablefmt="github"), ""]


def branch_examples_figure(artifact: dict, title: str, path: Path) -> bool:
    """Fig. 2(b)-(c) from one JAE run's `fig2` artifact: per digit, the original, the reconstructions (full JAE,
    private branch alone, shared branch alone) and the top 10 % saliency pixels of each bottleneck's peak unit
    in red over the digit."""
    import numpy as np

    from sharebench.methods.jae_analysis import from_uint8

    digits, shape = artifact["digits"], artifact["shape"]
    panels = from_uint8(artifact["panels"], [len(digits), len(artifact["panel_names"]), *shape])
    saliency = from_uint8(artifact["saliency"], [len(digits), len(artifact["saliency_names"]), *shape])
    names = artifact["panel_names"] + [f"{n} code: salient 10 %" for n in artifact["saliency_names"]]
    fig, axes = plt.subplots(len(digits), len(names), figsize=(1.25 * len(names), 1.25 * len(digits)))
    for row, digit in enumerate(digits):
        original = panels[row, 0]
        for col in range(len(names)):
            ax = axes[row, col]
            if col < panels.shape[1]:
                ax.imshow(panels[row, col], cmap="gray", vmin=0, vmax=1)
            else:
                s = saliency[row, col - panels.shape[1]]
                rgb = np.stack([original] * 3, axis=-1) * 0.6
                top = s >= np.quantile(s, 0.9)
                rgb[top] = [1.0, 0.0, 0.0]
                ax.imshow(rgb)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(names[col], fontsize=6)
        axes[row, 0].set_ylabel(str(digit), rotation=0, labelpad=10)
    fig.suptitle(title, fontsize=8)
    _save(fig, path)
    return True
