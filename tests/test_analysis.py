"""Statistics against hand-checked values."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from sharebench.benchmarks.analysis import holm, mann_whitney_tests, min_exact_p, summarize
from sharebench.benchmarks.config import Comparison, Experiment


def runs(values: dict[str, list[float]], metric: str = "accuracy") -> pd.DataFrame:
    return pd.DataFrame([{"experiment": "e", "method": m, "seed": i, "metric": metric, "value": v}
                         for m, vs in values.items() for i, v in enumerate(vs)])


def experiment(*comparisons: Comparison) -> Experiment:
    return Experiment("e", "quick", "embedded", {}, "mlp", {}, {"a": {}, "b": {}, "c": {}}, 10, 5, [0], 16, "b",
                      list(comparisons))


def test_summary_mean_std_n():
    s = summarize(runs({"a": [1.0, 2.0, 3.0, 4.0]}))
    row = s.iloc[0]
    assert (row["mean"], row["n"]) == (2.5, 4)
    assert row["std"] == pytest.approx(math.sqrt(5 / 3))  # sample std, ddof = 1


def test_exact_mann_whitney_by_hand():
    # a entirely below b, 5 vs 5: U_a = 0; P(U <= 0) = 1 / C(10, 5) = 1/252
    df = runs({"a": [1, 2, 3, 4, 5], "b": [6, 7, 8, 9, 10]})
    t = mann_whitney_tests(experiment(Comparison("accuracy", "a", "b", "less"),
                                      Comparison("accuracy", "a", "b", "two-sided"),
                                      Comparison("accuracy", "a", "b", "greater")), df)
    assert t["U"].tolist() == [0.0, 0.0, 0.0]
    assert t["p"].tolist() == pytest.approx([1 / 252, 2 / 252, 1.0])
    assert t["effect"].tolist() == [0.0, 0.0, 0.0]


def test_mann_whitney_with_one_overlap():
    # a = {1,2,3}, b = {2.5, 4, 5}: pairs with a > b: none; U_a = 1 (3 > 2.5). P(U <= 1) = 2/20
    t = mann_whitney_tests(experiment(Comparison("accuracy", "a", "b", "less")),
                           runs({"a": [1, 2, 3], "b": [2.5, 4, 5]}))
    assert t.loc[0, "U"] == 1.0 and t.loc[0, "p"] == pytest.approx(2 / 20)
    assert t.loc[0, "p_min"] == pytest.approx(1 / 20)


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 with m = 3: 0.03, 0.06, max(0.06, 0.04) = 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_holm_applied_within_metric_family():
    df = pd.concat([runs({"a": [1, 2, 3, 4, 5], "b": [6, 7, 8, 9, 10], "c": [1, 2, 3, 4, 5]}),
                    runs({"a": [1, 2, 3, 4, 5], "b": [6, 7, 8, 9, 10]}, metric="mse")])
    t = mann_whitney_tests(experiment(Comparison("accuracy", "a", "b", "two-sided"),
                                      Comparison("accuracy", "c", "b", "two-sided"),
                                      Comparison("mse", "a", "b", "two-sided")), df)
    assert t["p_holm"].tolist() == pytest.approx([4 / 252, 4 / 252, 2 / 252])


def test_underpowered_flag():
    assert min_exact_p(3, 3, "two-sided") == pytest.approx(0.1)
    assert min_exact_p(4, 4, "less") == pytest.approx(1 / 70)
    t = mann_whitney_tests(experiment(Comparison("accuracy", "a", "b", "two-sided")),
                           runs({"a": [1, 2, 3], "b": [4, 5, 6]}))
    assert bool(t.loc[0, "underpowered"]) and t.loc[0, "p"] == pytest.approx(0.1)
    t = mann_whitney_tests(experiment(Comparison("accuracy", "a", "b", "two-sided")),
                           runs({"a": [1, 2, 3, 4], "b": [5, 6, 7, 8]}))
    assert not bool(t.loc[0, "underpowered"])
