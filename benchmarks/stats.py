"""Effect sizes, intervals, equivalence and seed planning beside the exact Mann-Whitney U tests (analysis.py).

- `hodges_lehmann`: the shift of a over b, the median of all pairwise differences a_i - b_j, with the exact
  distribution-free interval (Lehmann 1975; Hollander & Wolfe ch. 4): the k-th smallest and k-th largest
  differences, k the largest count with P(U < k) <= alpha / 2 under the null. It is exactly the set of shifts d for
  which the two-sided exact test of a - d against b does not reject (tested against scipy).
- `tost`: two one-sided exact tests of equivalence within +-margin (Schuirmann's TOST on the shift): equivalent
  when both reject at alpha, i.e. the 1 - 2 alpha interval lies inside the margin. Absence of a significant
  difference is not evidence of equivalence; this is.
- `seeds_needed`: the smallest number of seeds per arm at which the exact one-sided test at `level` detects a shift
  of `effect` standard deviations with the wanted power, for normal runs, by simulation (seeded, so the report is
  reproducible); `power` is the simulated power at one n.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.stats import mannwhitneyu


@functools.lru_cache(maxsize=256)
def u_null_cdf(n_a: int, n_b: int) -> np.ndarray:
    """P(U <= u), u = 0 .. n_a n_b, for the exact null distribution of Mann-Whitney's U without ties: counts of
    the arrangements by the recurrence f(n, m, u) = f(n - 1, m, u - m) + f(n, m - 1, u)."""
    counts = np.zeros((n_a + 1, n_b + 1, n_a * n_b + 1))
    counts[0, :, 0] = counts[:, 0, 0] = 1
    for n in range(1, n_a + 1):
        for m in range(1, n_b + 1):
            counts[n, m, m:] += counts[n - 1, m, : n_a * n_b + 1 - m]
            counts[n, m] += counts[n, m - 1]
    dist = counts[n_a, n_b] / math.comb(n_a + n_b, n_a)
    return np.cumsum(dist)


def _critical_k(n_a: int, n_b: int, alpha_one_side: float) -> int:
    """The largest k with P(U <= k - 1) <= alpha_one_side (0: no interval can exclude anything)."""
    cdf = u_null_cdf(n_a, n_b)
    return int(np.searchsorted(cdf, alpha_one_side, side="right"))


def hodges_lehmann(a: np.ndarray, b: np.ndarray, alpha: float = 0.05) -> tuple[float, float, float]:
    """(shift, low, high): the Hodges-Lehmann shift of a over b and its exact two-sided 1 - alpha interval
    (infinite ends when the samples are too small for any interval at that level)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if not len(a) or not len(b):
        return math.nan, math.nan, math.nan
    diffs = np.sort(np.subtract.outer(a, b).ravel())
    k = _critical_k(len(a), len(b), alpha / 2)
    if k == 0:
        return float(np.median(diffs)), -math.inf, math.inf
    return float(np.median(diffs)), float(diffs[k - 1]), float(diffs[len(diffs) - k])


def tost(a: np.ndarray, b: np.ndarray, margin: float) -> float:
    """The TOST p-value for |shift of a over b| < margin: the larger of the exact one-sided p-values of
    "shift > -margin" and "shift < margin"."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if not len(a) or not len(b):
        return math.nan
    above = mannwhitneyu(a + margin, b, alternative="greater", method="exact").pvalue
    below = mannwhitneyu(a - margin, b, alternative="less", method="exact").pvalue
    return float(max(above, below))


def power(n: int, effect: float, level: float = 0.05, sims: int = 2000, seed: int = 0) -> float:
    """Simulated power of the exact one-sided test (a greater) with n runs per arm, a shifted by `effect`
    standard deviations of normal runs."""
    tail = 1 - np.concatenate([[0.0], u_null_cdf(n, n)[:-1]])  # tail[u] = P(U >= u) under the null
    rejects = tail < level - 1e-12  # p < level, as the verdicts read it
    if not rejects.any():
        return 0.0
    reject_from = int(np.argmax(rejects))  # the smallest U that rejects
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((sims, n)) + effect
    b = rng.standard_normal((sims, n))
    u = (a[:, :, None] > b[:, None, :]).sum(axis=(1, 2))
    return float((u >= reject_from).mean())


@functools.lru_cache(maxsize=1024)
def _seeds_needed(effect: float, level: float, target: float, n_max: int) -> int | None:
    lo, hi = 2, n_max
    if power(hi, effect, level) < target:
        return None
    while lo < hi:  # power grows with n: bisect
        mid = (lo + hi) // 2
        if power(mid, effect, level) >= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


def seeds_needed(effect: float, level: float = 0.05, target: float = 0.8, n_max: int = 50) -> int | None:
    """Seeds per arm for `target` power at `level` (one-sided exact test) to detect a shift of `effect` standard
    deviations; None when even n_max does not reach it, or the effect is not in the claimed direction."""
    if not math.isfinite(effect) or effect <= 0:
        return None
    return _seeds_needed(round(effect, 2), level, target, n_max)
