"""One renderer for every paper: its tables (paper vs ours, with a verdict per cell), its claims, its figures.

Columns whose experiment ran in this profile come first; the rest are summed up in one line that says what
would run them, so a table of mostly "not run" cells does not hide the few that ran.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
from tabulate import tabulate

from sharebench.benchmarks import paperdata, stats
from sharebench.benchmarks.analysis import scipy_alternative
from sharebench.benchmarks.metrics import get_metric
from sharebench.benchmarks.paperdata import Paper, Table

VERDICT_RULE = (
    "Verdict per cell, ours against the paper's number: *consistent* when the two means differ by at most twice "
    "the standard error of their difference, sqrt(s_paper²/n_paper + s_ours²/n_ours) (n_paper = 10 where the paper "
    "does not say); otherwise *better* / *worse than the paper* by the metric's direction; *cannot tell* with fewer "
    "than 2 runs or no spread printed; *not comparable* when the run is not on the paper's data or budget.")


def summary_row(summary: pd.DataFrame, exp: str, arm: str, metric: str) -> pd.Series | None:
    row = summary[(summary.experiment == exp) & (summary.method == arm) & (summary.metric == metric)]
    return None if row.empty else row.iloc[0]


def fmt_cell(summary: pd.DataFrame, exp: str, method: str, metric: str, scale: float | None = None) -> str:
    """mean ± std (n) in the metric's display unit, or "not run"."""
    r = summary_row(summary, exp, method, metric)
    if r is None:
        return "not run"
    scale = get_metric(metric).scale if scale is None else scale
    digits = 2 if scale != 1.0 else 4
    std = "" if math.isnan(r["std"]) else f" ± {scale * r['std']:.{digits}f}"
    return f"{scale * r['mean']:.{digits}f}{std} ({int(r['n'])})"


def fmt_ref(ref: paperdata.Ref | None) -> str:
    if ref is None:
        return "—"
    return f"{ref.mean:g}" + ("" if ref.std is None else f" ± {ref.std:g}")


def cell_summary(table: Table, row: str, column: str, summary: pd.DataFrame) -> tuple[dict[str, str], str,
                                                                                      pd.Series | None]:
    """A cell's address, the summary key of its metric (`<metric>/<task>` for a per-task cell) and our row for it."""
    a = table.address(row, column)
    key = a["metric"] if "task" not in a else f"{a['metric']}/{a['task']}"
    return a, key, summary_row(summary, a.get("experiment"), a.get("arm"), key)


def cell_with_verdict(paper: Paper, table: Table, row: str, column: str, active: dict[str, Any],
                      summary: pd.DataFrame) -> tuple[str, str, str]:
    """(paper's number, ours, verdict) for one cell."""
    a, key, r = cell_summary(table, row, column, summary)
    exp, arm, metric = a.get("experiment"), a.get("arm"), a["metric"]
    ref = table.paper.get((row, column))
    if r is None:
        return fmt_ref(ref), "—", ""
    verdict = paperdata.cell_verdict(ref, float(r["mean"]), float(r["std"]), int(r["n"]), metric,
                                     paper.comparable(active[exp]))
    return fmt_ref(ref), fmt_cell(summary, exp, arm, key), verdict


def render_table(paper: Paper, table: Table, active: dict[str, Any], summary: pd.DataFrame) -> list[str]:
    ran = [(label, part) for label, part in table.columns if part.get("experiment") in active]
    idle = [(label, part) for label, part in table.columns if part.get("experiment") not in active]
    metric = get_metric(table.metric)
    lines = [f"### {table.title}", ""]
    if ran:
        headers = ["", *[h for label, _ in ran for h in (f"{label}: paper", f"{label}: ours", f"{label}: verdict",
                                                          *[f"{label}: ours ({k.replace('_', ' ')})"
                                                            for k in table.also])]]
        rows = []
        for name, values in table.literature:
            row = [f"{name} (reported)"]
            for label, _ in ran:
                row += ["—" if label not in values else f"{values[label]:g}", "", "", *[""] * len(table.also)]
            rows.append(row)
        for row_label, row_part in table.rows:
            row = [row_label]
            for label, part in ran:
                row += list(cell_with_verdict(paper, table, row_label, label, active, summary))
                exp, arm = part.get("experiment") or row_part.get("experiment"), row_part.get("arm") or part.get("arm")
                row += [fmt_cell(summary, exp, arm, k).replace("not run", "—") for k in table.also]
            rows.append(row)
        lines += [f"{metric.name} ({metric.unit}); ours: mean ± std (n runs).", "",
                  tabulate(rows, headers=headers, tablefmt="github"), ""]
        for label, part in ran:
            e = active[part["experiment"]]
            where = "the paper's data and budget" if paper.comparable(e) else \
                "**not the paper's data or budget**, so its cells are context, not a reproduction"
            lines.append(f"- {label}: experiment `{e.name}` on suite `{e.suite}`, {e.iterations} iterations, "
                         f"{len(e.seeds)} seeds configured: {where}")
    if idle:
        paper_cells = "; ".join(f"{label} (`{part.get('experiment')}`)" for label, part in idle)
        lines.append(f"- Not run in this profile: {paper_cells}. Their paper numbers are in the paper module; "
                     "`dvc exp run -S profile=paper` runs them (GPU).")
    if table.note:
        lines.append(f"- {table.note}")
    return lines + [""]


def planning_effect(paper: Paper, claim: paperdata.Claim, summary: pd.DataFrame,
                    comparable: bool = True) -> tuple[float, str]:
    """The claim's effect in standard deviations of a run, in the claimed direction, and where it comes from: the
    difference of the paper's two numbers over our runs' pooled spread (the paper's own spread where printed), or,
    where the paper gives no pair of numbers or the run is not on the paper's setting (a stand-in's effect need not
    be the paper's), our own difference (exploratory: chosen after the runs)."""
    m = get_metric(claim.metric)
    rows = [summary_row(summary, claim.experiment, arm, claim.metric) for arm in (claim.a, claim.b)]
    if any(r is None or int(r["n"]) < 2 for r in rows):
        return math.nan, ""
    ref_a, ref_b = (paper.reference(claim.experiment, arm, claim.metric) for arm in (claim.a, claim.b))
    sd = math.sqrt((float(rows[0]["std"]) ** 2 + float(rows[1]["std"]) ** 2) / 2)
    if comparable and ref_a is not None and ref_b is not None:
        if ref_a.std is not None and ref_b.std is not None:
            sd = math.sqrt((ref_a.std ** 2 + ref_b.std ** 2) / 2) / m.scale
        delta, source = (ref_a.mean - ref_b.mean) / m.scale, "paper"
    else:
        delta, source = float(rows[0]["mean"]) - float(rows[1]["mean"]), "ours, exploratory"
    if not sd > 0:
        return math.nan, source
    return (delta if m.higher_is_better else -delta) / sd, source


def paper_effect(paper: Paper, claim: paperdata.Claim) -> float:
    """The claim's effect from the paper alone (its two numbers over their pooled printed spread), in the claimed
    direction; NaN where the paper prints no pair of numbers with spreads. Plans seeds before anything has run."""
    refs = [paper.reference(claim.experiment, arm, claim.metric) for arm in (claim.a, claim.b)]
    if any(r is None or r.std is None for r in refs):
        return math.nan
    sd = math.sqrt((refs[0].std ** 2 + refs[1].std ** 2) / 2)
    if not sd > 0:
        return math.nan
    delta = refs[0].mean - refs[1].mean
    return (delta if get_metric(claim.metric).higher_is_better else -delta) / sd


def claim_result(paper: Paper, claim: paperdata.Claim, tests: pd.DataFrame, summary: pd.DataFrame,
                 active: dict[str, Any]) -> dict[str, str]:
    """One claim's row of the claims table, and its scoreboard status."""
    equality = claim.margin is not None
    m = get_metric(claim.metric)
    test = (f"`{claim.a}` ≈ `{claim.b}` (TOST, margin ±{m.scale * claim.margin:g} {m.unit})"
            if equality else f"`{claim.a}` better than `{claim.b}`") + f" ({claim.metric})"
    out = {"claim": claim.text, "test": test, "n": "", "p": "", "effect": "", "seeds": "", "verdict": "not run"}
    if claim.experiment not in active:
        out["verdict"] = "not run in this profile"
    alternative = "two-sided" if equality else scipy_alternative(claim.metric, "better")
    sel = tests[(tests.experiment == claim.experiment) & (tests.metric == claim.metric)
                & (tests.method_a == claim.a) & (tests.method_b == claim.b) & (tests.alternative == alternative)]
    if "family" in tests:
        sel = sel[sel.family.fillna("") == claim.family]
    if claim.experiment in active and not sel.empty and not math.isnan(float(sel.iloc[0]["p"])):
        r = sel.iloc[0]
        comparable = paper.comparable(active[claim.experiment])
        out["verdict"] = paperdata.claim_verdict(claim, float(r["p"]), float(r["p_min"]), comparable,
                                                 float(r.get("delta", math.nan)), float(r.get("p_tost", math.nan)))
        out["n"] = f"{int(r['n_a'])} vs {int(r['n_b'])}"
        adjusted = "unadjusted" if equality else f"Holm {r['p_holm']:.3g}" + (f", family {claim.family}"
                                                                               if claim.family else "")
        out["p"] = f"{r['p']:.3g} ({adjusted})"
        out["effect"] = fmt_effect(r, claim.metric)
        if not equality:
            d, source = planning_effect(paper, claim, summary, comparable)
            need = stats.seeds_needed(d, claim.level) if math.isfinite(d) else None
            out["seeds"] = "" if not source else (
                f"{min(int(r['n_a']), int(r['n_b']))} / " + (f"{need}" if need else "> 50" if d > 0 else "—")
                + f" (d = {d:.2f}, {source})")
    elif not equality and math.isfinite(d := paper_effect(paper, claim)):
        need = stats.seeds_needed(d, claim.level)
        out["seeds"] = f"0 / {need or '> 50'} (d = {d:.2f}, paper's numbers and spreads)"
    out["status"] = paperdata.claim_status(out["verdict"])
    return out


def fmt_effect(r: pd.Series, metric: str) -> str:
    """P(a run of a beats one of b) and the Hodges-Lehmann shift with its exact 95 % interval, display units."""
    m = get_metric(metric)
    if math.isnan(float(r.get("hl_shift", math.nan))):
        return ""
    low, high = (m.scale * float(r[k]) for k in ("hl_low", "hl_high"))
    interval = "[−∞, ∞]" if math.isinf(low) else f"[{low:+.2f}, {high:+.2f}]"
    return f"P(a better) {float(r['effect']):.2f}; shift {m.scale * float(r['hl_shift']):+.2f} {interval}"


CLAIMS_HEADER = ["claim", "test", "n", "p", "effect", "seeds ran / needed", "verdict"]
CLAIMS_RULE = (
    "Exact one-sided Mann-Whitney U on the final test metric (alternative: the first arm is better), verdict at the "
    "paper's level on the raw p-value (Holm within the experiment, metric and family beside it). Claims of equality "
    "(≈) are two one-sided tests (TOST) within the stated margin, not corrected: *equivalent* only when both reject; "
    "a large p alone is *inconclusive*, never a reproduction. Effect: the probability that a run of the first arm "
    "beats one of the second, and the Hodges-Lehmann shift (first minus second, display units) with its exact 95 % "
    "interval. Seeds needed: per arm, for 80 % power at the paper's level to detect the effect d (in standard "
    "deviations of a run; from the paper's two numbers and our runs' spread on the paper's setting, else our own "
    "difference, exploratory; for a claim not run, from the paper's numbers and printed spreads alone), "
    "by simulation of normal runs (benchmarks/stats.py).")


SCOREBOARD_HEADER = ["paper", "claims reproduced", "not reproduced", "inconclusive", "indicative (not the paper's "
                     "setting)", "no verdict (small steps)", "not run", "cells consistent / compared",
                     "cells not comparable", "cells that cannot tell"]


CELL_COLUMNS = ["paper", "table", "row", "column", "experiment", "arm", "metric", "paper_value", "ours", "verdict"]


def cell_verdicts(paper: Paper, active: dict[str, Any], summary: pd.DataFrame) -> list[dict[str, str]]:
    """Every table cell of the paper whose experiment ran: the paper's number, ours, the verdict."""
    rows = []
    for table in paper.tables:
        for row, _ in table.rows:
            for column, _ in table.columns:
                a = table.address(row, column)
                if a.get("experiment") not in active:
                    continue
                theirs, ours, verdict = cell_with_verdict(paper, table, row, column, active, summary)
                rows.append({"paper": paper.key, "table": table.title, "row": row, "column": column,
                             "experiment": a["experiment"], "arm": a.get("arm", ""), "metric": a["metric"],
                             "paper_value": theirs, "ours": ours, "verdict": verdict})
    return rows


def scoreboard_row(paper: Paper, exps: list[Any], frames: dict[str, pd.DataFrame]) -> list[Any]:
    """One paper's line of the scoreboard: its claims by verdict, its table cells by verdict."""
    active = {e.name: e for e in exps if e.benchmark == paper.key}
    results = [claim_result(paper, c, frames["tests"], frames["summary"], active) for c in paper.claims]
    statuses = [r["status"] for r in results]
    inner = [paperdata.claim_status(r["verdict"].partition(": ")[2]) for r in results if r["status"] == "indicative"]
    indicative = f"{len(inner)}" + (f" ({inner.count('reproduced')} hold, {inner.count('not reproduced')} do not, "
                                    f"{inner.count('inconclusive')} inconclusive)" if inner else "")
    cells = [c["verdict"] for c in cell_verdicts(paper, active, frames["summary"])]
    compared = [v for v in cells if v == "consistent" or v.endswith("than the paper")]
    counts = [indicative if s == "indicative" else statuses.count(s) for s in paperdata.CLAIM_STATUSES]
    return [paper.title.split(":")[0], *counts,
            f"{compared.count('consistent')} / {len(compared)}", cells.count("not comparable"),
            cells.count("cannot tell")]


def render_scoreboard(papers: list[Paper], exps: list[Any], frames: dict[str, pd.DataFrame]) -> list[str]:
    rows = [scoreboard_row(p, exps, frames) for p in papers]
    return ["## Scoreboard", "",
            "One row per paper: its claims by verdict (rules in each paper's section), and its table cells against the "
            "paper's numbers (*consistent* within two standard errors of the difference; *not comparable* when the "
            "run is not on the paper's data or budget; *cannot tell* when either side has no spread).", "",
            tabulate(rows, headers=SCOREBOARD_HEADER, tablefmt="github"), ""]


def reported_vs_reproduced(paper: Paper, active: dict[str, Any], summary: pd.DataFrame, out: Path) -> list[str]:
    """A scatter of every cell that has both the paper's number and ours: x the paper's, y ours (± one standard
    deviation over seeds), the diagonal for agreement; cells off the paper's setting hollow."""
    import matplotlib.pyplot as plt

    points = []
    for table in paper.tables:
        for (row, column), ref in table.paper.items():
            a, _, r = cell_summary(table, row, column, summary)
            if a.get("experiment") in active and r is not None:
                scale = get_metric(a["metric"]).scale
                points.append((ref.mean, scale * float(r["mean"]), scale * float(r["std"]) if r["n"] > 1 else 0.0,
                               paper.comparable(active[a["experiment"]])))
    if not points:
        return []
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    for comparable in (True, False):
        sel = [p for p in points if p[3] == comparable]
        if sel:
            x, y, err, _ = zip(*sel)
            ax.errorbar(x, y, yerr=err, fmt="o", mfc="C0" if comparable else "none", color="C0", ms=5, capsize=2,
                        label="the paper's setting" if comparable else "another setting (indicative)")
    low = min(min(p[0], p[1] - p[2]) for p in points)
    high = max(max(p[0], p[1] + p[2]) for p in points)
    ax.plot([low, high], [low, high], color="0.5", lw=1, ls="--")
    ax.set_xlabel("paper")
    ax.set_ylabel("ours (mean ± std)")
    ax.set_title(f"{paper.title.split(':')[0]}: reported vs reproduced", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "figures" / f"{paper.key}-reported-vs-reproduced.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [f"![{paper.key}: reported vs reproduced](figures/{path.name})", ""]


def held_parameters(costs: pd.DataFrame | None, experiment: str, arm: str) -> int | None:
    """The trainable parameters an arm's networks hold (the same for every seed of a run configuration)."""
    if costs is None or costs.empty:
        return None
    sel = costs[(costs.experiment == experiment) & (costs.method == arm)].parameters_trainable.dropna()
    return None if sel.empty else int(sel.iloc[0])


def printed_sizes(paper: Paper, active: dict[str, Any], costs: pd.DataFrame | None) -> list[str]:
    """The model sizes the paper prints against the trainable parameters of the arms that are that model, one row
    per experiment; outside the paper profile the networks are the profile's own, so the row is indicative."""
    if not paper.printed_parameters:
        return []
    rows = []
    for name, printed in paper.printed_parameters.items():
        exp = active.get(name)
        counts = sorted({c for arm in printed.arms if (c := held_parameters(costs, name, arm)) is not None})
        if exp is None or not counts:
            verdict = "not run" + ("" if exp is None else " (no cost recorded)")
        elif exp.profile != "paper":
            within = "within" if all(printed.matches(c) for c in counts) else "outside"
            verdict = (f"indicative: profile `{exp.profile}` (its network: {exp.backbone}"
                       f"{' ' + str(exp.backbone_options) if exp.backbone_options else ''}), {within} the print")
        else:
            verdict = "matches the print" if all(printed.matches(c) for c in counts) else "**differs**"
        rows.append([f"`{name}`", ", ".join(printed.arms), f"{printed.text} ({printed.where})",
                     ", ".join(f"{c:,}" for c in counts), verdict])
    return ["### Model size against the paper's print", "",
            "The parameters the paper prints for its models, against the trainable parameters our arms hold "
            "(from the runs' records; tests/test_printed_parameters.py builds the paper profile's networks and "
            "checks them against the same print).", "",
            tabulate(rows, headers=["experiment", "arms", "paper", "ours", "verdict"], tablefmt="github"), ""]


def provenance_and_deviations(paper: Paper, active: dict[str, Any]) -> list[str]:
    """Where this section's numbers come from (profile, data verified or imported, code version) and how each
    run departs from the paper's setting (its data and budget against the paper module's settings)."""
    from sharebench.benchmarks.provenance import code_version
    from sharebench.datasets.suites import read_suite_meta

    lines = ["### Provenance and deviations from the paper", ""]
    profiles = sorted({e.profile for e in active.values()})
    lines.append(f"- profile {', '.join(f'`{p}`' for p in profiles)}; code {code_version()}")
    for exp in active.values():
        try:
            verified = "checksum-verified" if read_suite_meta(exp.suite)["checksum_verified"] else \
                "**imported, not checksum-verified**"
        except Exception:  # noqa: BLE001 (a suite not prepared here: the report still renders)
            verified = "not prepared here"
        wanted = paper.settings.get(exp.name, {})
        departures = [f"{key} `{getattr(exp, key)}` (paper: `{value}`)" for key, value in wanted.items()
                      if getattr(exp, key) != value]
        where = ("the paper's setting" if wanted and not departures else
                 "departs: " + "; ".join(departures) if departures else "no paper setting recorded: indicative")
        lines.append(f"- `{exp.name}`: suite `{exp.suite}` ({verified}), {exp.iterations} iterations, "
                     f"{len(exp.seeds)} seeds; {where}")
    lines.append("- the choices where the paper is silent and the cells it seems to misprint are in the table notes "
                 "above and in the paper module's docstring")
    return lines + [""]


def render_paper(paper: Paper, exps: list[Any], frames: dict[str, pd.DataFrame], out: Path) -> str:
    active = {e.name: e for e in exps if e.benchmark == paper.key}
    lines = [f"## {paper.title}", "", f"Paper numbers: {paper.source}.", ""]
    if paper.intro:
        lines += [paper.intro, ""]
    if paper.labels:
        lines += ["Arms: " + ", ".join(f"{label} = `{arm}`" for arm, label in paper.labels.items()) + ".", ""]
    lines += [VERDICT_RULE, ""]
    for table in paper.tables:
        lines += render_table(paper, table, active, frames["summary"])
    if paper.claims:
        results = [claim_result(paper, c, frames["tests"], frames["summary"], active) for c in paper.claims]
        rows = [[r[k] for k in ("claim", "test", "n", "p", "effect", "seeds", "verdict")] for r in results]
        lines += ["### The paper's claims", "", CLAIMS_RULE, "",
                  tabulate(rows, headers=CLAIMS_HEADER, tablefmt="github"), ""]
    lines += printed_sizes(paper, active, frames.get("costs"))
    if active:
        lines += reported_vs_reproduced(paper, active, frames["summary"], out)
        lines += provenance_and_deviations(paper, active)
    if paper.figures is not None and active:
        lines += paper.figures(active, frames, out)
    return "\n".join(lines + [""])
