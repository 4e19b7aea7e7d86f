"""The model sizes the papers print (`Paper.printed_parameters`) against the networks the paper profile builds, and
the report's table that sets them beside the runs' own counts."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from sharebench.benchmarks.config import experiments, load_params
from sharebench.benchmarks.paperdata import Paper, PrintedParameters, at_most, printed_count
from sharebench.benchmarks.papers import paper_for, registered_papers
from sharebench.benchmarks.render import printed_sizes
from sharebench.benchmarks.runner import parameter_counts
from sharebench.methods import TaskSpec, create_method
from tests.conftest import REPO

# the suites of the experiments with a printed size, as the runner's TaskSpec sees them (no data needed)
SUITE_SPECS = {
    "digits-mu": (["mnist", "usps"], [10, 10], (28, 28, 1), ((28, 28, 1), (16, 16, 1))),
    "svhn-mnist": (["svhn", "mnist"], [10, 10], (28, 28, 1), ((28, 28, 1), (28, 28, 1))),
    "cifar10-full": (["cifar10"], [10], (32, 32, 3), ((32, 32, 3),)),
    "cifar100-full": (["cifar100"], [100], (32, 32, 3), ((32, 32, 3),)),
}
PRINTED = [(paper.key, name, arm) for paper in registered_papers() for name, p in paper.printed_parameters.items()
           for arm in p.arms]


def test_a_printed_count_allows_what_rounds_to_it():
    p = printed_count("1.36M", "Sec. 4.2", ("a",))
    assert (p.low, p.high) == pytest.approx((1_355_000, 1_365_000))
    assert p.matches(1_361_284) and p.matches(1_355_000) and not p.matches(1_365_000) and not p.matches(1_354_999)
    assert (printed_count("3M", "", ()).low, printed_count("3M", "", ()).high) == (2_500_000, 3_500_000)
    assert printed_count("250K", "", ()).matches(250_400) and not printed_count("250K", "", ()).matches(251_000)
    assert at_most("< 10 %", "", 6e6, ()).matches(0) and not at_most("< 10 %", "", 6e6, ()).matches(6e6)
    with pytest.raises(ValueError, match="not a printed count"):
        printed_count("1.36 million", "", ())


def test_the_papers_print_sizes_for_jae_and_cetl():
    assert {key for key, _, _ in PRINTED} == {"jae", "cetl"}


@pytest.fixture(scope="module")
def paper_profile():
    return {e.name: e for e in experiments(load_params(REPO / "params.yaml"), "paper")[0]}


@pytest.mark.parametrize("key,name,arm", PRINTED)
def test_the_paper_profiles_network_has_the_size_the_paper_prints(paper_profile, key, name, arm):
    """Our network for the arm, as the paper profile configures it, against the paper's print (1.36M and 3M for
    the JAE digit transfers, under 10 % of AlexNet for CETL's CI-CNN student)."""
    exp = paper_profile[name]
    printed = paper_for(key).printed_parameters[name]
    names, classes, shape, native = SUITE_SPECS[exp.suite]
    a = exp.arms[arm]
    roles = tuple(exp.roles.get(n, "task") for n in names)
    spec = TaskSpec(names, classes, shape, roles, native_shapes=native)
    method = create_method(a.method, spec, a.backbone, a.hparams, backbone_options=a.backbone_options,
                           total_iterations=exp.iterations)
    count = parameter_counts(method)["parameters_trainable"]
    assert printed.matches(count), f"{name}/{arm}: {count:,} parameters; the paper prints {printed.text}"


def test_alexnets_count_is_torchvisions():
    import torchvision

    from sharebench.benchmarks.papers.cetl import ALEXNET_PARAMETERS

    assert sum(p.numel() for p in torchvision.models.alexnet().parameters()) == ALEXNET_PARAMETERS


def test_the_report_sets_each_print_beside_the_runs_count():
    paper = Paper("p", "P: t", "", [], printed_parameters={
        "e": PrintedParameters("1.36M parameters", "Sec. 1", 1_355_000, 1_365_000, ("a", "b")),
        "f": printed_count("3M", "Sec. 2", ("a",)), "g": printed_count("1M", "Sec. 3", ("a",))})
    costs = pd.DataFrame([{"experiment": e, "method": m, "seed": s, "parameters_trainable": n}
                          for e, m, n in (("e", "a", 1_361_284), ("e", "b", 1_360_954), ("f", "a", 1_000_000))
                          for s in (0, 1)])
    active = {"e": SimpleNamespace(profile="paper"),
              "f": SimpleNamespace(profile="quick", backbone="jae-mlp", backbone_options={"hidden": [8]})}
    rows = _rows(printed_sizes(paper, active, costs))
    assert rows["`e`"] == ["a, b", "1.36M parameters (Sec. 1)", "1,360,954, 1,361,284", "matches the print"]
    assert rows["`f`"][2:] == [
        "1,000,000", "indicative: profile `quick` (its network: jae-mlp {'hidden': [8]}), outside the print"]
    assert rows["`g`"][2:] == ["", "not run"]
    active["f"].profile = "paper"
    assert _rows(printed_sizes(paper, active, costs))["`f`"][3] == "**differs**"
    active["e"].profile, active["e"].backbone, active["e"].backbone_options = "small", "mlp", {}
    assert _rows(printed_sizes(paper, active, costs))["`e`"][3] == \
        "indicative: profile `small` (its network: mlp), within the print"
    assert printed_sizes(Paper("q", "Q", "", []), active, costs) == []


def _rows(lines: list[str]) -> dict[str, list[str]]:
    """A Markdown table's body rows by their first cell."""
    table = [line for line in "\n".join(lines).splitlines() if line.startswith("| ")]
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in table]
    return {row[0]: row[1:] for row in cells[1:]}
