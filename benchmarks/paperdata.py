"""Papers as data: a paper's tables (its numbers as printed), literature rows, claims, settings and figures.

A table's rows and columns each give part of a cell's address ({experiment, arm, metric, task}); a cell's
address is the union of its row's and its column's parts, so transposed tables (arms x tasks, sources x
targets) need no new code. One renderer (`render.py`) draws every paper.

Verdict of a reproduced cell against the paper's number (the rule printed in the report):
- not comparable: the run is not on the paper's data or budget (`Paper.settings`);
- cannot tell: fewer than 2 runs of ours, or the paper prints no spread;
- consistent: |ours - paper| <= 2 * sqrt(s_paper^2 / n_paper + s_ours^2 / n_ours) (means within about two
  standard errors of their difference; n_paper = 10 when the paper does not say);
- otherwise better / worse than the paper, by the metric's direction.
Claims are exact one-sided Mann-Whitney U tests at the paper's level; on data or budgets that are not the
paper's they are shown as indicative, never as "not reproduced".
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sharebench.benchmarks.metrics import get_metric

DEFAULT_PAPER_N = 10


@dataclass(frozen=True)
class Ref:
    """A number as the paper prints it (in the metric's display unit, e.g. % error), with spread and n if given."""

    mean: float
    std: float | None = None
    n: int | None = None


@dataclass(frozen=True)
class Table:
    title: str
    metric: str  # the metric key the paper's numbers are comparable to, e.g. "error"
    rows: list[tuple[str, dict[str, str]]]  # label, address part
    columns: list[tuple[str, dict[str, str]]]
    paper: dict[tuple[str, str], Ref]  # (row label, column label) -> the paper's number
    literature: list[tuple[str, dict[str, float]]] = field(default_factory=list)  # reported rows: column -> value
    also: list[str] = field(default_factory=list)  # further metric keys shown beside ours (e.g. task mean)
    note: str = ""

    def address(self, row: str, column: str) -> dict[str, str]:
        parts = dict(dict(self.rows)[row])
        parts.update(dict(self.columns)[column])
        parts.setdefault("metric", self.metric)
        return parts


@dataclass(frozen=True)
class Claim:
    """A comparison the paper states: `a` better than `b` at `level` (significant=True), or not significantly;
    or, with a `margin`, that a and b are about equal (two-sided test not rejected and |mean a - mean b| within the
    margin, in the metric's raw units). Holm's correction runs within `family`; a metric ending in `_task_mean`
    or naming a task is tested as given, otherwise pooled and task mean both."""

    experiment: str
    a: str
    b: str
    text: str
    significant: bool = True
    metric: str = "error"
    level: float = 0.05
    margin: float | None = None
    family: str = ""
    small: bool = False  # a step the paper itself calls small: tested and shown with its effect, no verdict

    @property
    def metrics(self) -> list[str]:
        if self.metric.endswith("_task_mean") or "/" in self.metric:
            return [self.metric]
        return [self.metric, f"{self.metric}_task_mean"]


@dataclass(frozen=True)
class PrintedParameters:
    """A model size the paper prints, kept as the range of counts the print allows (`printed_count`, `at_most`),
    for the arms whose networks are that model."""

    text: str  # as the paper prints it, e.g. "1.36M parameters"
    where: str  # e.g. "Sec. 4.3"
    low: float
    high: float
    arms: tuple[str, ...]

    def matches(self, count: float) -> bool:
        return self.low <= count < self.high


_SUFFIX = {"": 1.0, "K": 1e3, "M": 1e6}


def printed_count(printed: str, where: str, arms: tuple[str, ...]) -> PrintedParameters:
    """A count printed to some digits: "1.36M" allows [1.355M, 1.365M), "3M" allows [2.5M, 3.5M)."""
    match = re.fullmatch(r"(\d+)(?:\.(\d+))?([KM]?)", printed)
    if match is None:
        raise ValueError(f"not a printed count: {printed!r} (e.g. '1.36M', '3M', '250K')")
    unit = _SUFFIX[match[3]]
    half = 0.5 * unit * 10.0 ** -len(match[2] or "")
    value = float(f"{match[1]}.{match[2] or 0}") * unit
    return PrintedParameters(f"{printed} parameters", where, value - half, value + half, arms)


def at_most(text: str, where: str, high: float, arms: tuple[str, ...]) -> PrintedParameters:
    """A bound the paper prints instead of a count, e.g. "less than 10 % of AlexNet's parameters"."""
    return PrintedParameters(text, where, 0.0, high, arms)


@dataclass
class Paper:
    key: str  # the `benchmark:` value of its experiments in params.yaml
    title: str
    source: str  # where the numbers come from
    tables: list[Table]
    claims: list[Claim] = field(default_factory=list)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # experiment -> the paper's suite, iterations
    labels: dict[str, str] = field(default_factory=dict)  # arm -> the paper's name for it
    intro: str = ""
    figures: Callable[..., list[str]] | None = None  # (active experiments, frames, out folder) -> markdown lines
    printed_parameters: dict[str, PrintedParameters] = field(default_factory=dict)  # experiment -> the paper's size

    def comparable(self, exp: Any) -> bool:
        """Whether a run of this experiment is on the paper's data and budget."""
        s = self.settings.get(exp.name)
        return bool(s) and all(getattr(exp, k) == v for k, v in s.items())

    def reference(self, experiment: str, arm: str, metric: str) -> Ref | None:
        for table in self.tables:
            for (row, col), ref in table.paper.items():
                a = table.address(row, col)
                if a.get("experiment") == experiment and a.get("arm") == arm and a["metric"] == metric \
                        and "task" not in a:
                    return ref
        return None


def cell_verdict(ref: Ref | None, mean: float, std: float, n: int, metric: str, comparable: bool) -> str:
    """Our mean/std/n (fractions, as in summary.csv) against the paper's printed number (display units)."""
    if ref is None or n == 0:
        return ""
    if not comparable:
        return "not comparable"
    if n < 2 or ref.std is None:
        return "cannot tell"
    m = get_metric(metric)
    ours, ours_std = m.scale * mean, m.scale * std
    se = math.sqrt(ref.std ** 2 / (ref.n or DEFAULT_PAPER_N) + ours_std ** 2 / n)
    if abs(ours - ref.mean) <= 2 * se:
        return "consistent"
    return "better than the paper" if m.better(ours, ref.mean) else "worse than the paper"


def claim_verdict(claim: Claim, p: float, p_min: float, comparable: bool, delta: float = math.nan,
                  p_tost: float = math.nan) -> str:
    """The verdict of one claim from its test (p, the smallest p its n allows, the difference of the means, and for
    an equality claim the TOST p within its margin). `claim_status` sorts these strings for the scoreboard."""
    significant = p < claim.level
    if claim.small:
        m = get_metric(claim.metric)
        return (f"no verdict (a step the paper calls small): difference of the means {m.scale * delta:+.2f} {m.unit}, "
                f"{'significant' if significant else 'not significant'} at {claim.level}")
    if claim.margin is not None:
        m = get_metric(claim.metric)
        margin = f"margin ±{m.scale * claim.margin:g} {m.unit}"
        if p_tost < claim.level:
            verdict = f"equivalent (TOST p {p_tost:.3g} < {claim.level}, {margin})"
        elif significant:
            verdict = f"**not reproduced** (a significant difference: {m.scale * delta:+.2f} {m.unit})"
        elif p_min / 2 >= claim.level:  # TOST's smallest p is the one-sided test's
            verdict = f"cannot be tested: n too small for an equivalence test at {claim.level}"
        else:
            verdict = (f"inconclusive: no significant difference, but equivalence within the {margin} not shown "
                       f"(TOST p {p_tost:.3g}; absence of evidence is not evidence)")
    elif claim.significant:
        if significant:
            verdict = "reproduced"
        elif p_min >= claim.level:
            verdict = f"cannot be tested: n too small to reach p < {claim.level} (p_min {p_min:.3g})"
        else:
            verdict = "**not reproduced**"
    else:
        verdict = ("inconclusive: not contradicted (not significant), but no margin is stated, so equivalence is not "
                   "tested" if not significant else "**contradicted** (significant)")
    return verdict if comparable else f"indicative (not the paper's data or budget): {verdict}"


CLAIM_STATUSES = ("reproduced", "not reproduced", "inconclusive", "indicative", "no verdict", "not run")


def claim_status(verdict: str) -> str:
    """The scoreboard's bucket of a verdict string from `claim_verdict` (or the renderer's "not run")."""
    if verdict.startswith("indicative"):
        return "indicative"
    if verdict.startswith(("reproduced", "equivalent")):
        return "reproduced"
    if verdict.startswith(("**not reproduced", "**contradicted")):
        return "not reproduced"
    if verdict.startswith(("cannot be tested", "inconclusive")):
        return "inconclusive"
    if verdict.startswith("no verdict"):
        return "no verdict"
    return "not run"
