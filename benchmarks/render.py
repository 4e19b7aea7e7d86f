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

from sharebench.benchmarks import paperdata
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


def cell_with_verdict(paper: Paper, table: Table, row: str, column: str, active: dict[str, Any],
                      summary: pd.DataFrame) -> tuple[str, str, str]:
    """(paper's number, ours, verdict) for one cell."""
    a = table.address(row, column)
    exp, arm, metric = a.get("experiment"), a.get("arm"), a["metric"]
    key = metric if "task" not in a else f"{metric}/{a['task']}"
    ref = table.paper.get((row, column))
    r = summary_row(summary, exp, arm, key)
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


def claim_row(paper: Paper, claim: paperdata.Claim, tests: pd.DataFrame, active: dict[str, Any]) -> list[str]:
    equality = claim.margin is not None
    metric_info = get_metric(claim.metric)
    test = (f"`{claim.a}` ≈ `{claim.b}` (two-sided, margin ±{metric_info.scale * claim.margin:g} {metric_info.unit})"
            if equality else f"`{claim.a}` better than `{claim.b}`") + f" ({claim.metric})"
    if claim.experiment not in active:
        return [claim.text, test, "", "", "not run in this profile"]
    alternative = "two-sided" if equality else scipy_alternative(claim.metric, "better")
    sel = tests[(tests.experiment == claim.experiment) & (tests.metric == claim.metric)
                & (tests.method_a == claim.a) & (tests.method_b == claim.b) & (tests.alternative == alternative)]
    if "family" in tests:
        sel = sel[sel.family.fillna("") == claim.family]
    if sel.empty or math.isnan(float(sel.iloc[0]["p"])):
        return [claim.text, test, "", "", "not run"]
    r = sel.iloc[0]
    comparable = paper.comparable(active[claim.experiment])
    verdict = paperdata.claim_verdict(claim, float(r["p"]), float(r["p_min"]), comparable,
                                      float(r.get("delta", math.nan)))
    n = f"{int(r['n_a'])} vs {int(r['n_b'])}"
    adjusted = "unadjusted" if equality else f"Holm {r['p_holm']:.3g}" + (f", family {claim.family}"
                                                                           if claim.family else "")
    return [claim.text, test, n, f"{r['p']:.3g} ({adjusted})", verdict]


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
        rows = [claim_row(paper, c, frames["tests"], active) for c in paper.claims]
        lines += ["### The paper's claims", "",
                  "Exact one-sided Mann-Whitney U on the final test metric (alternative: the first arm is better), "
                  "verdict at the paper's level on the raw p-value (Holm within the experiment, metric and family "
                  "beside it). Claims of equality (≈) are two-sided tests, not corrected: *consistent* when the test "
                  "does not reject and the difference of the means is within the stated margin.",
                  "", tabulate(rows, headers=["claim", "test", "n", "p", "verdict"], tablefmt="github"), ""]
    if paper.figures is not None and active:
        lines += paper.figures(active, frames, out)
    return "\n".join(lines + [""])
