"""Zhang et al.'s figures and the IRLS facts a reader checks against the paper.

Figure 3: test accuracy over training (a trailing moving average, mean ± std over seeds) with Joint's consistency
term on a second axis and its reweightings marked (claim C-h: accuracy jumps when the consistency loss drops).
Figure 2: the graph of which datasets' middle layers end up tied (mutual 3 nearest neighbours by final IRLS weight),
drawn with the paper's node numbers, the paper's edges beside, edge counts over seeds, and claims G-a / G-b as
exact one-sided Mann-Whitney U tests on per-seed mean weights. IRLS diagnostics: sigma, the weight changes, the
number of reweightings to delta <= 1e-2 (the paper: "4-8 iterations are sufficient").
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu
from tabulate import tabulate

from sharebench.benchmarks.papers.bilen_figures import _save, plt
from sharebench.datasets.suites import load_suite
from sharebench.datasets.zhang_suites import COMPLETION_CLASSES, PAPER_NODES  # after suites.py (it registers them)

# Figure 2 as read off the released teaser2.png (specs/zhang.md 1.5), the paper's 1-based node numbers
PAPER_EDGES = {"encoder": [(2, 3), (2, 8), (3, 7), (6, 7), (6, 8), (7, 8)],
               "decoder": [(2, 3), (2, 6), (2, 7), (3, 8), (6, 7), (7, 8)]}
MIDDLE_PAIRS = {"encoder": ("e2", "e3"), "decoder": ("d2", "d3")}  # specs/zhang.md 7 #20
FIRST_PAIR = ("e1", "e2")
ANALOGUES = [(1, 2), (4, 5), (6, 7)]  # 0-based: dog-cat (dog-wolf), automobile-truck, airplane-ship
PAPER_ROUNDS = (4, 8)


def irls_records(exp, arm: str = "irls") -> list[dict[str, Any]]:
    """The records of Joint's own arm (not its lambda variants), by seed."""
    from sharebench.benchmarks.analysis import load_records

    return sorted((r for r in load_records(exp) if r["method"] == arm), key=lambda r: r["seed"])


def figure3(exp, curves: pd.DataFrame, out: Path, labels: dict[str, str], window: int = 5) -> list[str]:
    metric = "accuracy_task_mean"
    sel = curves[curves.experiment == exp.name]
    if sel.empty or metric not in sel:
        return []
    fig, ax = plt.subplots(figsize=(7.0, 4.2))
    for arm in exp.arms:
        g = sel[sel.method == arm].sort_values("iteration")
        if g.empty:
            continue
        smooth = g.groupby("seed", group_keys=False)[metric].apply(lambda s: s.rolling(window, min_periods=1).mean())
        by_it = (100 * smooth).groupby(g.loc[smooth.index, "iteration"])
        mean, std = by_it.mean(), by_it.std().fillna(0.0)
        ax.plot(mean.index, mean.values, label=labels.get(arm, arm))
        ax.fill_between(mean.index, (mean - std).values, (mean + std).values, alpha=0.15)
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"test accuracy, task mean (%), moving average of {window}")
    joint = sel[sel.method == "irls"]
    if "closs_robust" in joint and joint["closs_robust"].notna().any():
        right = ax.twinx()
        c = joint.groupby("iteration")["closs_robust"].mean().dropna()
        right.plot(c.index, c.values, color="black", linestyle=":", label="Joint: consistency loss (robust)")
        right.set_ylabel("consistency loss of Joint (sum of rho)")
        right.legend(fontsize=7, loc="lower right")
    records = irls_records(exp)
    for it in (records[0]["method_info"].get("reweight_iterations", []) if records else []):
        ax.axvline(it, color="grey", alpha=0.3, linewidth=0.8)
    ax.set_title(f"{exp.name} [{exp.profile}]; grey lines: Joint's reweightings (seed {records[0]['seed']})"
                 if records else f"{exp.name} [{exp.profile}]", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    name = f"figures/{exp.name}-fig3.png"
    _save(fig, out / name)
    return ["### Figure 3: accuracy and the consistency loss over training", "",
            "C-h: \"only when consistency loss drops, there are significant boosts in testing accuracy for Joint\". "
            "Compare by eye; no test is made.", "", f"![Figure 3, {exp.name}]({name})", ""]


def _pair_index(info: dict[str, Any], names: tuple[str, str]) -> int | None:
    pairs = [tuple(p) for p in info.get("pairs", [])]
    return pairs.index(names) if names in pairs else None


def _draw_graph(ax, tasks: list[str], edges: list[tuple[int, int]], title: str) -> None:
    angles = [math.pi / 2 - 2 * math.pi * i / len(tasks) for i in range(len(tasks))]
    xy = [(math.cos(a), math.sin(a)) for a in angles]
    for i, j in edges:
        ax.plot([xy[i][0], xy[j][0]], [xy[i][1], xy[j][1]], color="tab:blue", linewidth=1.5, zorder=1)
    for i, (x, y) in enumerate(xy):
        ax.scatter([x], [y], s=380, color="white", edgecolor="black", zorder=2)
        ax.text(x, y, str(i + 1), ha="center", va="center", fontsize=9, zorder=3)
        ax.text(1.3 * x, 1.3 * y, tasks[i], ha="center", va="center", fontsize=7)
    ax.set_xlim(-1.6, 1.6)
    ax.set_ylim(-1.6, 1.6)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=9)


def _mean_weight(info: dict[str, Any], index: int, tasks: int, pairs: list[tuple[int, int]] | None = None) -> float:
    """The mean final weight of adjacent pair `index` over the task pairs i < j (or the ones listed)."""
    from sharebench.methods.coupling import pair_indices

    w = info["final_weights"][index]
    order = list(zip(*[t.tolist() for t in pair_indices(tasks)]))
    chosen = [w[order.index(p)] for p in pairs] if pairs else w
    return float(np.mean(chosen))


def _g_tests(records: list[dict[str, Any]], tasks: list[str]) -> list[list[str]]:
    """G-a and G-b as one-sided exact Mann-Whitney U on per-seed mean weights (n = seeds)."""
    infos = [r["method_info"] for r in records]
    first = [_pair_index(i, FIRST_PAIR) for i in infos]
    middle = [[_pair_index(i, m) for m in MIDDLE_PAIRS.values()] for i in infos]
    rows = []
    if len(infos) >= 2 and None not in first and all(None not in m for m in middle):
        a = [_mean_weight(i, f, len(tasks)) for i, f in zip(infos, first)]
        b = [float(np.mean([_mean_weight(i, p, len(tasks)) for p in m])) for i, m in zip(infos, middle)]
        p = mannwhitneyu(a, b, alternative="greater", method="exact").pvalue
        rows.append(["G-a: the first layers are shared by all (mean weight, pair e1-e2 > the middle pairs)",
                     f"{np.mean(a):.3f} vs {np.mean(b):.3f}", f"{p:.3g}", "consistent" if p < 0.05 else "not shown"])
    if len(infos) >= 2 and [n for n, _ in COMPLETION_CLASSES] == tasks:
        others = [p for p in zip(*np.triu_indices(len(tasks), 1)) if tuple(int(v) for v in p) not in ANALOGUES]
        others = [(int(i), int(j)) for i, j in others]
        a = [float(np.mean([_mean_weight(i, k, len(tasks), ANALOGUES) for k in range(len(i["final_weights"]))]))
             for i in infos]
        b = [float(np.mean([_mean_weight(i, k, len(tasks), others) for k in range(len(i["final_weights"]))]))
             for i in infos]
        p = mannwhitneyu(a, b, alternative="greater", method="exact").pvalue
        rows.append(["G-b: similar datasets share more (mean weight of dog-cat, automobile-truck, airplane-ship > "
                     "the other pairs, over all layer pairs)", f"{np.mean(a):.3f} vs {np.mean(b):.3f}", f"{p:.3g}",
                     "consistent" if p < 0.05 else "not shown"])
    return rows


def figure2(exp, out: Path) -> list[str]:
    records = irls_records(exp)
    if not records:
        return []
    tasks = [t["name"] for t in records[0]["suite"]["tasks"]]
    info = records[0]["method_info"]
    indices = {side: _pair_index(info, names) for side, names in MIDDLE_PAIRS.items()}
    if None in indices.values():
        return []
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 4.4))
    for ax, (side, p) in zip(axes, indices.items()):
        edges = [tuple(e) for e in info["mutual_knn_edges"][p]]
        _draw_graph(ax, tasks, edges, f"{side} middle layers ({'-'.join(MIDDLE_PAIRS[side])}), seed "
                                      f"{records[0]['seed']}")
    name = f"figures/{exp.name}-fig2.png"
    _save(fig, out / name)
    counts = []
    for side, p in indices.items():
        tally: dict[tuple[int, int], int] = {}
        for r in records:
            for e in r["method_info"]["mutual_knn_edges"][p]:
                tally[tuple(e)] = tally.get(tuple(e), 0) + 1
        ours = ", ".join(f"{i + 1}-{j + 1} ({n}/{len(records)})" for (i, j), n in sorted(tally.items()))
        paper = ", ".join(f"{i}-{j}" for i, j in PAPER_EDGES[side])
        counts.append([side, ours or "none", paper])
    nodes = ", ".join(f"{i + 1} {t}" for i, t in enumerate(tasks))
    paper_nodes = ", ".join(f"{i + 1} {t}" for i, t in enumerate(PAPER_NODES))
    lines = ["### Figure 2: which datasets' layers are tied", "",
             "An edge joins two datasets when each is among the other's 3 largest final IRLS weights (mutual 3 nearest "
             "neighbours) at the middle layers of the encoder and of the decoder (the paper does not define "
             "\"most influential\" or \"middle\": specs/zhang.md 7 #19-20).", "",
             f"Nodes, ours: {nodes}. The paper's: {paper_nodes}.", "",
             f"![Figure 2, {exp.name}]({name})", "",
             tabulate(counts, headers=["layers", f"ours: edges (seeds with it, of {len(records)})",
                                       "paper (teaser2.png)"], tablefmt="github"), ""]
    name = f"figures/{exp.name}-weights.png"
    weights_heatmaps(records, tasks, out / name)
    lines += ["The final IRLS weight of every pair of datasets at every adjacent layer pair, mean over seeds (1 = "
              "tied as by L2; near 0 = the robust norm has let the two copies go; G-a expects the first pairs near "
              "1):", "", f"![IRLS weights, {exp.name}]({name})", ""]
    tests = _g_tests(records, tasks)
    if tests:
        lines += ["Exact one-sided Mann-Whitney U on per-seed mean weights (level 0.05):", "",
                  tabulate(tests, headers=["claim", "means", "p", "verdict"], tablefmt="github"), ""]
    return lines


def weights_heatmaps(records: list[dict[str, Any]], tasks: list[str], path: Path) -> None:
    import torch

    from sharebench.methods.coupling import pair_matrix

    info = records[0]["method_info"]
    mean = np.mean([r["method_info"]["final_weights"] for r in records], axis=0)  # [P, pairs]
    cols = min(4, len(mean))
    rows = -(-len(mean) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.5 * rows), squeeze=False)
    for ax in axes.flat[len(mean):]:
        ax.axis("off")
    for ax, w, names in zip(axes.flat, mean, info["pairs"]):
        m = pair_matrix(torch.tensor(w), len(tasks)).numpy()
        np.fill_diagonal(m, np.nan)
        image = ax.imshow(m, vmin=0, vmax=1, cmap="viridis")
        ax.set_title("-".join(names), fontsize=8)
        ax.set_xticks(range(len(tasks)), [str(i + 1) for i in range(len(tasks))], fontsize=6)
        ax.set_yticks(range(len(tasks)), [str(i + 1) for i in range(len(tasks))], fontsize=6)
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.6, label="final IRLS weight (mean over seeds)")
    fig.suptitle(f"{len(records)} seed(s); datasets numbered as in Figure 2", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def irls_diagnostics(exp) -> list[str]:
    records = irls_records(exp)
    if not records:
        return []
    rows = []
    for r in records:
        i = r["method_info"]
        deltas = ", ".join(f"{d:.3g}" for d in i.get("delta_history", []))
        rows.append([r["seed"], i.get("k"), i.get("irls_phase"), deltas])
    info = records[0]["method_info"]
    sigma = ", ".join(f"{'-'.join(p)} {s:.3g}" for p, s in zip(info.get("pairs", []), info.get("sigma") or []))
    converged = [i["method_info"].get("converged") and PAPER_ROUNDS[0] <= i["method_info"]["k"] <= PAPER_ROUNDS[1]
                 for i in records]
    verdict = "consistent" if all(converged) else \
        f"not consistent ({len(converged) - sum(converged)} of {len(converged)} seeds outside 4-8 or not converged)"
    return [f"### IRLS diagnostics, `{exp.name}`", "",
            "Reweightings per seed (k), how IRLS ended (converged: delta <= 1e-2; stopped: the suite's limit of 8 "
            "rounds reached first) and delta = the largest weight change at each reweighting (the first against "
            "w = 1). The paper: \"4-8 iterations are sufficient\".", "",
            tabulate(rows, headers=["seed", "k", "end", "delta per reweighting"], tablefmt="github"), "",
            f"Converged within 4-8 reweightings in every seed: **{verdict}**.", "",
            f"sigma per adjacent pair (seed {records[0]['seed']}): {sigma}.", ""]


GAN_ROWS = [f"{kind}-{s}" for kind in ("gan", "began") for s in ("isolated", "shareall", "finetune", "l2", "irls")]
# Figure 6's rows, top to bottom (DCGAN's, then BEGAN's)


def figure6(exp, out: Path, labels: dict[str, str], per_domain: int = 4) -> list[str]:
    """Figure 6: real test images per domain on top, then 4 samples per domain from each method (first seed, the
    fixed z). Qualitative, as in the paper."""
    from sharebench.benchmarks.analysis import load_records

    records = {r["method"]: r for r in sorted(load_records(exp), key=lambda r: -r["seed"]) if "artifacts" in r}
    arms = [a for a in GAN_ROWS if a in records] + [a for a in records if a not in GAN_ROWS]
    if not arms:
        return []
    suite = load_suite(exp.suite)
    domains = [t.name for t in suite.tasks]
    rows = [("real (test)", [t.x_test[:per_domain] for t in suite.tasks])]
    rows += [(labels.get(a, a), [np.asarray(records[a]["artifacts"]["samples"][d], dtype=np.uint8)[:per_domain]
                                 for d in domains]) for a in arms]
    fig, axes = plt.subplots(len(rows), len(domains), figsize=(1.1 * per_domain * len(domains) + 1.2,
                                                               1.2 * len(rows) + 0.4), squeeze=False)
    for r, (label, per) in enumerate(rows):
        for c, images in enumerate(per):
            strip = np.concatenate(list(images), axis=1)
            ax = axes[r][c]
            ax.imshow(strip.squeeze(-1) if strip.shape[-1] == 1 else strip, cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
            if r == 0:
                ax.set_title(domains[c], fontsize=8)
    name = f"figures/{exp.name}-fig6.png"
    _save(fig, out / name)
    return [f"### Figure 6: samples, `{exp.name}`", "",
            "Rows as in the paper's Figure 6 (isolated, shared, pretrain-finetune, L2, ours) below real test images; "
            "4 samples per domain from one fixed z, the first seed. The paper's claims are qualitative: ours gives "
            "\"the best general results\" (Q-a), isolated \"easily overfits\" on the small set (Q-b), shared "
            "networks \"interpolate across different categories\" (Q-c), L2 gives \"overly smooth images\" (Q-e). "
            "Compare by eye; the coverage metric in the table above (the distance of each test image to the nearest "
            "of 64 samples of its domain) is a diagnostic, not the paper's.", "", f"![Figure 6, {exp.name}]({name})",
            ""]
