"""Effect sizes, intervals, equivalence and seed planning (benchmarks/stats.py) against scipy, enumeration and
hand-computed values."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import mannwhitneyu, norm

from sharebench.benchmarks import stats


@pytest.mark.parametrize("n_a,n_b", [(1, 1), (2, 3), (3, 3), (4, 2), (5, 5)])
def test_the_null_distribution_of_u_is_the_enumeration_of_rank_sets(n_a, n_b):
    counts = np.zeros(n_a * n_b + 1)
    for ranks in itertools.combinations(range(n_a + n_b), n_a):  # a's ranks among all; U = rank sum - min
        counts[sum(ranks) - n_a * (n_a - 1) // 2] += 1
    np.testing.assert_allclose(stats.u_null_cdf(n_a, n_b), np.cumsum(counts) / counts.sum())


def test_hodges_lehmann_by_hand_and_no_interval_when_the_samples_are_too_small():
    shift, low, high = stats.hodges_lehmann(np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.5]))
    assert shift == pytest.approx(1.75)  # median of 1, 0.5, 2, 1.5, 3, 2.5
    assert (low, high) == (-math.inf, math.inf)  # 3 vs 2: P(U = 0) = 0.1 > 0.025
    # 5 vs 5: P(U <= 2) = 4 / 252 <= 0.025 < P(U <= 3): the 3rd smallest and 3rd largest of the 25 differences
    a, b = np.arange(5.0) * 10, np.arange(5.0)
    diffs = np.sort(np.subtract.outer(a, b).ravel())
    assert stats.hodges_lehmann(a, b)[1:] == (diffs[2], diffs[-3])


def test_the_interval_is_the_set_of_shifts_the_exact_two_sided_test_keeps():
    rng = np.random.default_rng(1)
    for _ in range(20):
        a, b = rng.normal(1, 1, rng.integers(4, 8)), rng.normal(0, 1, rng.integers(4, 8))
        _, low, high = stats.hodges_lehmann(a, b)
        diffs = np.sort(np.subtract.outer(a, b).ravel())
        for d in (diffs[1:] + diffs[:-1]) / 2:  # between two differences: no ties after shifting
            kept = mannwhitneyu(a - d, b, alternative="two-sided", method="exact").pvalue > 0.05
            assert kept == (low < d < high)


def test_tost_shows_equivalence_only_when_both_one_sided_tests_reject():
    a, b = np.array([0.500, 0.501, 0.502, 0.503, 0.504]), np.array([0.498, 0.499, 0.500, 0.501, 0.502])
    assert stats.tost(a, b, margin=0.01) == pytest.approx(1 / 252)  # every difference inside +-0.01
    assert stats.tost(a, b, margin=0.003) > 0.05  # differences up to 0.006: not shown equivalent
    assert stats.tost(a + 0.05, b, margin=0.01) == pytest.approx(1.0)  # far apart: the upper test cannot reject
    assert math.isnan(stats.tost(np.array([]), b, 0.01))


def test_simulated_power_matches_noethers_approximation_and_the_seed_plan_is_the_first_n_that_reaches_it():
    # Noether (1987): n per arm = (z_a + z_b)^2 / (6 (P(X > Y) - 1/2)^2), P(X > Y) = Phi(d / sqrt 2) for normals
    for d in (0.8, 1.0, 1.5):
        noether = (norm.ppf(0.95) + norm.ppf(0.8)) ** 2 / (6 * (norm.cdf(d / math.sqrt(2)) - 0.5) ** 2)
        need = stats.seeds_needed(d)
        assert abs(need - noether) <= max(2, 0.15 * noether), (d, need, noether)
        assert stats.power(need, d) >= 0.8 > stats.power(need - 1, d)
    assert stats.power(3, 5.0) == 0.0  # 3 vs 3 cannot reach p < 0.05: the smallest p is exactly 0.05
    assert stats.seeds_needed(0.1) is None and stats.seeds_needed(-1.0) is None and stats.seeds_needed(math.nan) is None
