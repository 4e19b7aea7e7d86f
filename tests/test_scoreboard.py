"""The scoreboard: one row per paper, its claims counted by verdict and its cells by verdict."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from sharebench.benchmarks.paperdata import Claim, Paper, Ref, Table
from sharebench.benchmarks.render import SCOREBOARD_HEADER, scoreboard_row


def _frames():
    summary = pd.DataFrame([
        {"experiment": "e", "method": m, "metric": "accuracy", "mean": v, "std": 0.01, "n": 5}
        for m, v in (("a", 0.90), ("b", 0.80), ("c", 0.85))])
    tests = pd.DataFrame([
        {"experiment": "e", "metric": "accuracy", "method_a": a, "method_b": b, "alternative": alt, "p": p,
         "p_holm": p, "p_min": 1 / 252, "n_a": 5, "n_b": 5, "family": "", "delta": d, "effect": 1.0, "hl_shift": d,
         "hl_low": d - 0.01, "hl_high": d + 0.01, "p_tost": pt}
        for a, b, alt, p, d, pt in (("a", "b", "greater", 1 / 252, 0.1, float("nan")),
                                    ("c", "b", "greater", 0.3, 0.05, float("nan")),
                                    ("a", "c", "two-sided", 0.4, 0.05, 0.6))])
    return {"summary": summary, "tests": tests}


def _paper(settings):
    table = Table("T", "accuracy", [("A", {"arm": "a"}), ("B", {"arm": "b"})], [("col", {"experiment": "e"})],
                  {("A", "col"): Ref(90.5, 1.0, 5), ("B", "col"): Ref(70.0, 1.0, 5)})
    claims = [Claim("e", "a", "b", "a > b", metric="accuracy"), Claim("e", "c", "b", "c > b", metric="accuracy"),
              Claim("e", "a", "c", "a = c", metric="accuracy", margin=0.01),
              Claim("other", "a", "b", "elsewhere", metric="accuracy")]
    return Paper("p", "Paper: title", "tables", [table], claims, settings=settings)


def test_the_scoreboard_counts_claims_and_cells_by_verdict():
    exp = SimpleNamespace(name="e", benchmark="p", suite="real")
    row = dict(zip(SCOREBOARD_HEADER, scoreboard_row(_paper({"e": {"suite": "real"}}), [exp], _frames())))
    assert row["paper"] == "Paper" and row["claims reproduced"] == 1 and row["not reproduced"] == 1
    assert row["inconclusive"] == 1 and row["not run"] == 1  # TOST p 0.6: equivalence not shown
    assert row["cells consistent / compared"] == "1 / 2"  # 90 vs 90.5 within 2 SE; 80 vs 70 is not


def test_off_the_papers_setting_every_claim_is_indicative_with_what_it_would_say():
    exp = SimpleNamespace(name="e", benchmark="p", suite="stand-in")
    row = dict(zip(SCOREBOARD_HEADER, scoreboard_row(_paper({"e": {"suite": "real"}}), [exp], _frames())))
    assert row["indicative (not the paper's setting)"] == "3 (1 hold, 1 do not, 1 inconclusive)"
    assert row["claims reproduced"] == 0 and row["cells not comparable"] == 2


def test_a_paper_section_draws_reported_against_reproduced_and_lists_its_departures(tmp_path):
    from sharebench.benchmarks.render import render_paper

    exp = SimpleNamespace(name="e", benchmark="p", suite="stand-in", profile="quick", iterations=100, seeds=[0, 1])
    text = render_paper(_paper({"e": {"suite": "real"}}), [exp], _frames(), tmp_path)
    assert (tmp_path / "figures" / "p-reported-vs-reproduced.png").stat().st_size > 1000
    assert "figures/p-reported-vs-reproduced.png" in text
    assert "`e`: suite `stand-in` (not prepared here), 100 iterations, 2 seeds; departs: suite `stand-in` " \
           "(paper: `real`)" in text
    assert "seeds ran / needed" in text and "shift +10.00 [+9.00, +11.00]" in text  # display units (x 100)


def test_seed_planning_takes_the_papers_effect_only_on_the_papers_setting():
    from sharebench.benchmarks.render import planning_effect

    paper, summary = _paper({}), _frames()["summary"]
    claim = paper.claims[0]  # a (paper 90.5 ± 1.0) better than b (70.0 ± 1.0); ours 0.90 vs 0.80, std 0.01
    d, source = planning_effect(paper, claim, summary, comparable=True)
    assert source == "paper" and abs(d - 20.5) < 1e-9  # (90.5 - 70.0) % over the paper's own spread of 1 %
    d, source = planning_effect(paper, claim, summary, comparable=False)
    assert source == "ours, exploratory" and abs(d - 10.0) < 1e-9  # a stand-in's own difference


def test_a_claim_not_run_is_planned_from_the_papers_numbers_and_spreads_alone():
    from sharebench.benchmarks.render import claim_result

    paper, frames = _paper({}), _frames()
    planned = claim_result(paper, paper.claims[0], frames["tests"], frames["summary"], active={})
    assert planned["verdict"] == "not run in this profile"
    # d = 20.5: n = 3 cannot reach p < 0.05 with the exact test (its smallest p is 1/20), n = 4 always does
    assert planned["seeds"] == "0 / 4 (d = 20.50, paper's numbers and spreads)"
    unplanned = claim_result(paper, paper.claims[3], frames["tests"], frames["summary"], active={})
    assert unplanned["seeds"] == ""  # no paper numbers for experiment `other`


def test_check_fails_on_a_paper_setting_cell_that_is_not_consistent_and_names_it(tmp_path, caplog):
    from sharebench.benchmarks.cli import main

    def summary(lws_error: float) -> None:
        rows = [{"experiment": "lws-omniglot", "method": arm, "metric": "error", "mean": mean, "std": 0.01, "n": 10}
                for arm, mean in (("shareall", 0.2085), ("isolated", 0.2352), ("lws", lws_error))]
        pd.DataFrame(rows).to_csv(tmp_path / "summary.csv", index=False)

    args = ["check", "--profile", "paper", "-e", "lws-omniglot", "--results", str(tmp_path)]
    summary(0.1931)  # the paper's three numbers
    assert main(args) == 0
    cells = pd.read_csv(tmp_path / "cell-verdicts.csv")
    assert (cells[cells.ours != "—"].verdict == "consistent").sum() == 3
    summary(0.30)  # learned sharing at 30 % error: far worse than the paper's 19.31 ± 2.54
    assert main(args) == 1
    assert "Learned sharing" in caplog.text and "worse than the paper" in caplog.text
