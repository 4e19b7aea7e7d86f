"""CETL (Chen et al.): Fisher, relative Fisher against scikit-learn, GFI and DWA by hand, the three stages' schedule
and what each stage may change, the source network through the model store, label hiding in domain adaptation,
resume, and the report section."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from sklearn.metrics import normalized_mutual_info_score
from torch import nn

from sharebench.benchmarks.config import resolve_experiment
from sharebench.benchmarks.runner import Job, record_path, run_job
from sharebench.benchmarks.sampling import Batch, labelled_mask
from sharebench.datasets.suites import build_suite, load_suite, save_suite
from sharebench.methods import TaskSpec, create_method
from sharebench.methods.fisher import (
    dwa_penalty,
    equal_frequency_bins,
    gfi,
    normalized_mutual_information,
    per_sample_sq_grads,
    relative_fisher,
)
from tests.test_runner import strip

SPEC = TaskSpec(["src", "tgt"], [10, 10], (16, 16, 1), ("source", "target"))


# -- Fisher, relative Fisher, GFI, DWA

def test_equal_frequency_bins_are_numpys_quantile_bins():
    g = torch.Generator().manual_seed(0)
    values = torch.rand(33, 6, generator=g)
    values[:12, 2] = 0  # ties (dead units): one bin
    bins = equal_frequency_bins(values, 4)
    for j in range(6):
        column = values[:, j].double().numpy()
        edges = np.quantile(column, [0.25, 0.5, 0.75])
        assert bins[:, j].tolist() == np.searchsorted(edges, column, side="right").tolist()


def test_relative_fisher_is_sklearns_normalised_mutual_information():
    g = torch.Generator().manual_seed(1)
    a = torch.rand(40, 30, generator=g)
    b = 0.6 * a + torch.rand(40, 30, generator=g)
    a[:, :3] = 0  # a constant
    b[:, 2:5] = 0  # b constant (column 2: both)
    b[:, 5] = a[:, 5]  # identical
    ba, bb = equal_frequency_bins(a, 4), equal_frequency_bins(b, 4)
    ours = normalized_mutual_information(ba, bb, 4)
    ref = [normalized_mutual_info_score(ba[:, j].numpy(), bb[:, j].numpy()) for j in range(30)]
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-12)
    assert ours[2] == 1 and ours[0] == 0 and ours[5] == pytest.approx(1)  # sklearn's conventions
    torch.testing.assert_close(relative_fisher(a, b, 4), ours)


def test_gfi_keeps_shared_parameters_with_p_and_private_ones_with_1_minus_p():
    fisher = torch.rand(20000, generator=torch.Generator().manual_seed(2)) + 0.5
    rf = torch.cat([torch.full((10000,), 0.7), torch.full((10000,), 0.2)]).double()
    weights = gfi(fisher, rf, 0.5, 0.9, torch.Generator().manual_seed(0))
    kept = weights > 0
    assert kept[:10000].float().mean() == pytest.approx(0.9, abs=0.01)
    assert kept[10000:].float().mean() == pytest.approx(0.1, abs=0.01)
    torch.testing.assert_close(weights[kept], (fisher / fisher.max())[kept].float())  # F / max F where kept
    again = gfi(fisher, rf, 0.5, 0.9, torch.Generator().manual_seed(0))
    assert torch.equal(weights, again)  # the method's own seeded generator


def test_dwa_is_eq_11_by_hand():
    theta = [torch.tensor([1.0, 2.0]), torch.tensor([[3.0]])]
    anchor, weights = torch.tensor([0.0, 2.0, 1.0]), torch.tensor([0.5, 1.0, 0.25])
    # lambda / 2 * (0.5 * 1 + 1 * 0 + 0.25 * 4) = 10 / 2 * 1.5
    assert float(dwa_penalty(theta, anchor, weights, 10.0)) == pytest.approx(7.5)


def test_per_sample_fisher_equals_a_loop_of_single_sample_gradients():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 3))
    net[1].running_mean.uniform_(-1, 1)
    x, y = torch.randn(6, 5), torch.randint(0, 3, (6,))
    names = [n for n, _ in net.named_parameters()]

    def loss_of(call, xi, yi):
        return nn.functional.cross_entropy(call(xi.unsqueeze(0)), yi.unsqueeze(0))

    got = per_sample_sq_grads(net, names, loss_of, x, y)
    assert net.training  # restored
    net.eval()
    for n in range(6):
        net.zero_grad()
        nn.functional.cross_entropy(net(x[n:n + 1]), y[n:n + 1]).backward()
        expected = torch.cat([p.grad.flatten() for p in net.parameters()]) ** 2
        torch.testing.assert_close(got[n], expected)


# -- the method

def _source(iterations: int = 20):
    torch.manual_seed(0)
    src = create_method("source-only", SPEC, "dkl-convnet", {"schedule": "every"}, total_iterations=iterations)
    g = torch.Generator().manual_seed(5)
    for it in range(iterations):
        src.step({"labelled": _batch(g, 0)}, it)
    return src


def _batch(g: torch.Generator, task: int, labelled: bool = True) -> Batch:
    y = torch.randint(0, 10, (1, 16), generator=g)
    return Batch(torch.rand(1, 16, 1, 16, 16, generator=g), y if labelled else torch.full_like(y, -1),
                 torch.tensor([task]))


def _cetl(variant: str, iterations: int = 18, **hparams):
    torch.manual_seed(0)
    return create_method(variant, SPEC, "dkl-convnet", {"stage_steps": 3, "fisher_samples": 8, **hparams},
                         total_iterations=iterations, models={"source": _source()})


def _state(module: nn.Module) -> list[torch.Tensor]:
    return [t.detach().clone() for t in module.state_dict().values()]


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_the_stages_follow_algorithm_1_and_the_warm_up_variants():
    e, f = _cetl("cetl-e"), _cetl("cetl-f")
    assert [e.stage_at(i)[0] for i in range(9)] == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert [e.stage_at(i)[1] for i in range(4)] == [True, False, False, True]
    # cetl-f / cetl-u: the 2 cycles' stage-1 steps (6) as a warm-up, then stages 2 and 3 only
    assert [f.stage_at(i)[0] for i in range(18)] == [1] * 6 + [2, 2, 2, 3, 3, 3] * 2


@pytest.mark.parametrize("variant", ["cetl-f", "cetl-u", "cetl-e", "cetl-fi", "cetl", "cetl-da"])
def test_each_stage_changes_only_what_the_paper_trains(variant):
    """S never changes; stage 1 moves T1 only; stage 2 moves T2's trunk (and T1, except in cetl-f) but not T2's
    head; stage 3 moves T2 only. The penalties exist from the stage after their GFI."""
    m = _cetl(variant)
    g = torch.Generator().manual_seed(3)
    s0 = _state(m.s)
    for it in range(18):
        stage, _ = m.stage_at(it)
        t1, trunk, head = _state(m.t1), _state(m.t2.trunk), _state(m.t2.head)
        out = m.step({"target": _batch(g, 1, labelled=False), "labelled": _batch(g, 0)}, it)
        moved = (not _same(t1, _state(m.t1)), not _same(trunk, _state(m.t2.trunk)),
                 not _same(head, _state(m.t2.head)))
        expected = {1: (True, False, False), 2: (variant != "cetl-f", True, False), 3: (False, True, True)}[stage]
        assert moved == expected, (it, stage, moved)
        assert f"loss{stage}" in out
    assert _same(s0, _state(m.s))
    if variant in ("cetl-fi", "cetl", "cetl-da"):
        assert set(m.dwa) == {"1", "2", "3"} and "dwa3" in out
        assert all(d["weights"].shape == d["anchor"].shape for d in m.dwa.values())
    else:
        assert m.dwa == {} and "dwa3" not in out
    if variant in ("cetl", "cetl-da"):  # GFI: the relative Fisher of each of the three is recorded
        assert all(0 <= m.describe()["rf"][k]["mean_rf"] <= 1 for k in "123")


def test_stage_2_reproduces_the_snapshot_of_t1_taken_after_stage_1():
    m = _cetl("cetl-e")
    g = torch.Generator().manual_seed(4)
    for it in range(4):  # 3 steps of stage 1, then the first of stage 2
        m.step({"target": _batch(g, 1, False), "labelled": _batch(g, 0)}, it)
        if it == 2:
            after_stage1 = _state(m.t1)
    assert _same(after_stage1, _state(m.t1_snap))


def test_a_state_round_trip_continues_exactly():
    g = torch.Generator().manual_seed(6)
    batches = [{"target": _batch(g, 1, False), "labelled": _batch(g, 0)} for _ in range(18)]
    whole = _cetl("cetl")
    for it in range(18):
        whole.step(batches[it], it)
    part = _cetl("cetl")
    for it in range(10):
        part.step(batches[it], it)
    resumed = _cetl("cetl")
    resumed.load_state_dict(copy.deepcopy(part.state_dict()))
    for it in range(10, 18):
        resumed.step(batches[it], it)
    x = torch.rand(4, 1, 16, 16)
    torch.testing.assert_close(resumed.predict(x, 1), whole.predict(x, 1))
    assert resumed.rf_stats == whole.rf_stats


def test_cetl_needs_one_target_and_a_source_network():
    with pytest.raises(ValueError, match="trained network"):
        create_method("cetl", SPEC, "dkl-convnet")
    with pytest.raises(ValueError, match="role target"):
        create_method("cetl", TaskSpec(["a", "b"], [10, 10], (16, 16, 1)), "dkl-convnet", models={"source": _source(2)})


# -- through the runner

SOURCE = {"suite": "embedded", "backbone": "dkl-convnet", "reference": "source-only", "metrics": ["accuracy"],
          "roles": {"plain": "source", "thick": "target"}, "eval_tasks": ["source", "target"],
          "methods": {"source-only": {"schedule": "every"}}, "batch_per_task": 16,
          "profiles": {"quick": {"iterations": 20, "eval_interval": 10, "seeds": 1}}}
DA = {**SOURCE, "eval_tasks": ["target"], "target_labels": "none",
      "requires": {"source": {"experiment": "src", "arm": "source-only", "seed": 0}},
      "methods": {"cetl": {"method": "cetl-da", "stage_steps": 3, "fisher_samples": 8}}, "reference": "cetl",
      "profiles": {"quick": {"iterations": 18, "eval_interval": 9, "seeds": 1}}}


def _da():
    save_suite(build_suite("embedded"))
    params = {"experiments": {"src": SOURCE, "da": DA}}
    return resolve_experiment("da", DA, "quick", params)


def test_hidden_target_labels_never_reach_cetl_and_a_killed_job_resumes():
    exp = _da()
    first = run_job(Job(exp, "cetl", 0), progress=False)
    assert first["labels_visible"]["thick"] == 0 and "accuracy/thick" in first["metrics"]
    record_path(exp, "cetl", 0).unlink()
    with pytest.raises(KeyboardInterrupt):
        run_job(Job(exp, "cetl", 0), progress=False, stop_after=9)
    resumed = run_job(Job(exp, "cetl", 0), progress=False)
    assert resumed["resumed_from"] == 9 and strip(resumed) == strip(first)
    suite = load_suite("embedded")  # scramble the hidden target labels on disk: the record must not move
    target = next(t for t in suite.tasks if t.name == "thick")
    hidden = ~labelled_mask(target.y_train, "none", exp.label_seed + 1009 * suite.tasks.index(target))
    target.y_train[hidden] = np.random.RandomState(1).randint(0, 10, int(hidden.sum()))
    save_suite(suite)
    record_path(exp, "cetl", 0).unlink()
    again = run_job(Job(_da_resolved_without_saving(), "cetl", 0), progress=False)
    assert again["config"]["suite_hash"] != first["config"]["suite_hash"]
    for key in ("metrics", "curves", "method_info"):
        assert json.dumps(first[key]) == json.dumps(again[key]), key


def _da_resolved_without_saving():
    return resolve_experiment("da", DA, "quick", {"experiments": {"src": SOURCE, "da": DA}})


def test_the_report_section_shows_table_5_with_the_literature_rows():
    from sharebench.benchmarks.papers import cetl

    table = cetl.TABLES[0]
    assert [row for row, _ in table.rows] == ["Source", "CETL_e (no Fisher control)", "CETL_fi (plain Fisher, EWC)",
                                              "CETL"]
    assert table.paper[("CETL", "MN-US")].mean == 92.96 and table.paper[("Source", "US-MN")].mean == 65.77
    assert any(name.startswith("DRCN") and cols["US-MN"] == 88.67 for name, cols in table.literature)
    assert {c.experiment for c in cetl.CLAIMS} == {"cetl-da-mn-us", "cetl-da-us-mn"}


@pytest.mark.parametrize("shape", [(16, 16, 1), (28, 28, 1), (32, 32, 3)])
def test_the_reverse_network_gives_back_the_image_size_also_after_odd_poolings(shape):
    """28 px pools to 14, 7 and 3: the mirror upsamples 3 -> 7 -> 14 -> 28, not 3 -> 6 -> 12 -> 24."""
    from sharebench.methods.cetl_nets import PlainNet, ReverseNet
    from sharebench.methods.networks import backbone_layers

    specs = backbone_layers("dkl-convnet", shape)
    image = ReverseNet(specs, 128, shape)(torch.rand(2, 128))
    assert image.shape == (2, shape[2], shape[0], shape[1]) and 0 <= image.min() and image.max() <= 1
    assert PlainNet(specs, 10).features(torch.rand(2, shape[2], shape[0], shape[1])).shape == (2, 128)
