"""Do two sets of records of one experiment agree? (packed vs unpacked, GPU vs CPU, one precision vs another)

    python -m sharebench.benchmarks.compare_runs RESULTS_A RESULTS_B -e lws-dkl-mnist --profile small

For every arm found under both result folders (`<folder>/runs/<experiment>/<profile>/<arm>/seed-*.json`), the
two-sided exact Mann-Whitney U test between the two sets' final values of a metric, and the difference of the
means in points. Issue 8's criterion for a faster path: p >= 0.05 and |difference| <= 0.5 points, per arm.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.stats import mannwhitneyu

MAX_POINTS = 0.5
ALPHA = 0.05


def final_values(results: Path, experiment: str, profile: str, metric: str) -> dict[str, list[float]]:
    """Arm -> the metric's final value of every seed's record."""
    out: dict[str, list[float]] = {}
    for path in sorted((results / "runs" / experiment / profile).glob("*/seed-*.json")):
        out.setdefault(path.parent.name, []).append(float(json.loads(path.read_text())["metrics"][metric]))
    return out


def compare(a: dict[str, list[float]], b: dict[str, list[float]]) -> list[dict[str, object]]:
    rows = []
    for arm in sorted(set(a) & set(b)):
        x, y = np.asarray(a[arm]) * 100, np.asarray(b[arm]) * 100
        p = float(mannwhitneyu(x, y, alternative="two-sided", method="exact").pvalue)
        diff = float(x.mean() - y.mean())
        rows.append({"arm": arm, "n_a": len(x), "n_b": len(y), "mean_a": float(x.mean()), "std_a": float(x.std(ddof=1)),
                     "mean_b": float(y.mean()), "std_b": float(y.std(ddof=1)), "diff_points": diff, "p_two_sided": p,
                     "agree": p >= ALPHA and abs(diff) <= MAX_POINTS})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--experiment", "-e", required=True)
    parser.add_argument("--profile", default="small")
    parser.add_argument("--metric", default="error")
    args = parser.parse_args()
    rows = compare(*(final_values(r, args.experiment, args.profile, args.metric) for r in (args.a, args.b)))
    if not rows:
        print("no arm has records in both folders")
        return 1
    print(f"| arm | n | {args.metric} % A | {args.metric} % B | A - B, points | two-sided p | agree |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['arm']} | {r['n_a']} / {r['n_b']} | {r['mean_a']:.2f} ± {r['std_a']:.2f} | "
              f"{r['mean_b']:.2f} ± {r['std_b']:.2f} | {r['diff_points']:+.2f} | {r['p_two_sided']:.3f} | "
              f"{'yes' if r['agree'] else 'NO'} |")
    return 0 if all(r["agree"] for r in rows) else 2


if __name__ == "__main__":
    raise SystemExit(main())
