"""CETL (Chen et al.): Fisher, relative Fisher against scikit-learn, GFI and DWA by hand, the three stages' schedule
and what each stage may change, the source network through the model store, label hiding in domain adaptation,
resume, and the report section."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import normalized_mutual_info_score
from torch import nn

from sharebench.benchmarks.config import experiments, load_params, resolve_experiment
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

REPO = Path(__file__).resolve().parents[1]
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


def test_the_report_section_transcribes_tables_2_to_5_with_their_literature_rows():
    from sharebench.benchmarks.papers import cetl

    table2, table3, table4, table5 = cetl.TABLES
    assert [row for row, _ in table5.rows] == ["Source", "CETL_e (no Fisher control)", "CETL_fi (plain Fisher, EWC)",
                                               "CETL", "released code (MCD-style, no GFI), not the paper"]
    assert table5.paper[("CETL", "MN-US")].mean == 92.96 and table5.paper[("Source", "US-MN")].mean == 65.77
    assert any(name.startswith("DRCN") and cols["US-MN"] == 88.67 for name, cols in table5.literature)
    assert [ref.mean for ref in table2.paper.values()] == [61.29, 62.41, 62.63, 63.97, 64.19, 65.33]
    column = {col: sorted(ref.mean for (_, c), ref in table3.paper.items() if c == col) for _, col in table3.paper}
    assert column[cetl.CIFAR] == [61.29, 61.35, 64.37, 65.14, 65.33, 65.57]
    assert column[cetl.STL] == [60.52, 61.17, 62.30, 62.61, 62.77, 62.98, 65.49]
    assert table3.paper[("CI-CNN trained on CIFAR-100 (STL-10 only)", cetl.STL)].mean == 65.49
    teacher = {col: ref.mean for (row, col), ref in table4.paper.items() if row == "Teacher"}
    assert teacher == {cetl.KD_COLUMN: 91.86, cetl.KD100_COLUMN: 65.23}
    assert any(name.startswith("FSP") and cols == {cetl.KD_COLUMN: 88.70, cetl.KD100_COLUMN: 63.33}
               for name, cols in table4.literature)
    assert table5.paper[("CETL", "ST-CI")].mean == 60.11 and table5.paper[("Source", "CI-ST")].mean == 63.61
    assert {c.experiment for c in cetl.CLAIMS} == {"cetl-tl", "cetl-tl-stl10", "cetl-kd", "cetl-kd-cifar100",
                                                   *cetl.DA}
    assert {(c.a, c.b) for c in cetl.CLAIMS if c.small} == {("cetl-u", "cetl-f"), ("cetl-fi", "cetl-e"),
                                                             ("ft-source", "target-only"), ("ft-vgg16", "target-only")}
    params = load_params(REPO / "params.yaml")
    arms = {}  # every claim names arms its experiment has in some profile
    for profile in ("quick", "small", "paper"):
        for exp in experiments(params, profile)[0]:
            arms.setdefault(exp.name, set()).update(exp.arms)
    for claim in cetl.CLAIMS:
        assert {claim.a, claim.b} <= arms[claim.experiment], claim
    small = {e.name: e for e in experiments(params, "small")[0]}
    assert {"cetl-f", "cetl-u", "cetl-fi", "cetl-rot", "cetl-random", "ft-source"} <= set(small["cetl-tl"].arms)


@pytest.mark.parametrize("shape", [(16, 16, 1), (28, 28, 1), (32, 32, 3)])
def test_the_reverse_network_gives_back_the_image_size_also_after_odd_poolings(shape):
    """28 px pools to 14, 7 and 3: the mirror upsamples 3 -> 7 -> 14 -> 28, not 3 -> 6 -> 12 -> 24."""
    from sharebench.methods.cetl_nets import PlainNet, ReverseNet
    from sharebench.methods.networks import backbone_layers

    specs = backbone_layers("dkl-convnet", shape)
    image = ReverseNet(specs, 128, shape)(torch.rand(2, 128))
    assert image.shape == (2, shape[2], shape[0], shape[1]) and 0 <= image.min() and image.max() <= 1
    assert PlainNet(specs, 10).features(torch.rand(2, shape[2], shape[0], shape[1])).shape == (2, 128)


# -- Tables 2-4: fine-tuning, distillation, coupling at the softmax, sources per arm, Figure 2's quantities

def test_ft_source_starts_from_the_source_trunk_with_a_new_head_and_fine_tunes_all_of_it():
    src = _source()
    ft = create_method("ft-source", SPEC, "dkl-convnet", {"schedule": "every"}, models={"source": src})
    assert _same(_state(src.net.trunk), _state(ft.net.trunk))
    assert ft.hparams["lr"] == 1e-4
    g = torch.Generator().manual_seed(7)
    trunk, s0 = _state(ft.net.trunk), _state(src.net)
    ft.step({"labelled": _batch(g, 1)}, 0)
    assert not _same(trunk, _state(ft.net.trunk)) and _same(s0, _state(src.net))
    with pytest.raises(ValueError, match="does not fit"):
        create_method("ft-source", SPEC, "dkl-convnet", backbone_options={"channels": 8}, models={"source": src})


def test_kd_hinton_is_the_soft_target_loss_by_hand():
    teacher = _source()
    kd = create_method("kd-hinton", SPEC, "dkl-convnet", {"temperature": 2.0, "alpha": 0.7},
                       models={"source": teacher})
    g = torch.Generator().manual_seed(8)
    x, y = torch.rand(6, 1, 16, 16, generator=g), torch.randint(0, 10, (6,), generator=g)
    kd.net.train()
    torch.manual_seed(0)
    got = kd.loss(x, y)
    torch.manual_seed(0)
    s = kd.net(x)
    p_t = torch.softmax(teacher.net(x) / 2, 1)
    by_hand = 0.3 * nn.functional.cross_entropy(s, y) + 0.7 * 4 * (
        p_t * (p_t.log() - torch.log_softmax(s / 2, 1))).sum(1).mean()
    torch.testing.assert_close(got, by_hand)


def test_cetl_coupled_at_the_softmax_decodes_class_probabilities():
    m = _cetl("cetl", couple_at="softmax")
    assert m.t1.fc[0].in_features == 10 and m.describe()["coupling"] == "softmax"
    x = torch.rand(5, 1, 16, 16)
    code = m.path.code(x)
    torch.testing.assert_close(code.sum(1), torch.ones(5))
    torch.testing.assert_close(m.source_code(x), torch.softmax(m.s(x), 1))
    g = torch.Generator().manual_seed(9)
    for it in range(18):  # stage 2 now also moves T2's head (the code is its softmax)
        stage, _ = m.stage_at(it)
        head = _state(m.t2.head)
        m.step({"target": _batch(g, 1, False), "labelled": _batch(g, 0)}, it)
        assert (not _same(head, _state(m.t2.head))) == (stage in (2, 3)), it
    parity = TaskSpec(["src", "tgt"], [10, 2], (16, 16, 1), ("source", "target"))
    with pytest.raises(ValueError, match="2 classes"):
        create_method("cetl", parity, "dkl-convnet", {"couple_at": "softmax"}, models={"source": _source(2)})


def test_the_source_network_arm_evaluates_the_stored_network_unchanged():
    src = _source()
    arm = create_method("source-network", SPEC, "dkl-convnet", models={"source": src})
    x = torch.rand(3, 1, 16, 16)
    assert arm.step({}, 0) == {"loss": 0.0}
    torch.testing.assert_close(arm.predict(x, 1), src.predict(x, 0))


def test_snapshot_gives_stage_means_and_the_bound_terms_and_curves_stay_aligned():
    m = _cetl("cetl-da")
    assert m.snapshot() == {}
    g = torch.Generator().manual_seed(10)
    losses = []
    for it in range(9):
        out = m.step({"target": _batch(g, 1, False), "labelled": _batch(g, 0)}, it)
        losses.append(out["loss"])
    snap = m.snapshot()
    assert snap["cetl_loss3"] == pytest.approx(np.mean(losses[6:9]))
    assert snap["cetl_loss1"] == pytest.approx(np.mean(losses[0:3]))
    terms = [snap[k] for k in ("cetl_rhs_source", "cetl_rhs_cross", "cetl_rhs_recon_s", "cetl_rhs_recon_t")]
    assert all(t >= 0 for t in terms) and snap["cetl_rhs"] == pytest.approx(sum(terms))
    assert "cetl_rhs_source" not in _cetl("cetl").snapshot()  # transfer: S has other classes, no probe yet
    exp = _da()
    rec = run_job(Job(exp, "cetl", 0), progress=False)
    series = rec["curves"]["method"]
    assert all(len(v) == len(rec["curves"]["iteration"]) for v in series.values())
    assert series["cetl_dwa3"][0] is None and series["cetl_dwa3"][-1] is not None  # DWA3 only from cycle 2 on


def test_an_arm_names_its_own_source_and_an_untrained_one_is_never_trained():
    from sharebench.benchmarks.store import model_path

    save_suite(build_suite("embedded"))
    tl = {**SOURCE, "roles": {"noisy-parity": "target"}, "eval_tasks": ["target"], "reference": "cetl",
          "requires": {"source": {"experiment": "src", "arm": "source-only", "seed": 0}},
          "methods": {"cetl": {"stage_steps": 3, "fisher_samples": 8},
                      "cetl-random": {"method": "cetl", "stage_steps": 3, "fisher_samples": 8,
                                      "requires": {"source": {"experiment": "src", "arm": "source-only",
                                                              "untrained": True}}}},
          "profiles": {"quick": {"iterations": 9, "eval_interval": 9, "seeds": 1}}}
    params = {"experiments": {"src": SOURCE, "tl": tl}}
    exp = resolve_experiment("tl", tl, "quick", params)
    src_job = Job(exp.requirements("cetl")["source"].experiment, "source-only", 0)
    assert exp.requirements("cetl-random")["source"].untrained and not exp.requirements("cetl")["source"].untrained
    rec = run_job(Job(exp, "cetl-random", 0), progress=False)
    assert rec["config"]["requires"]["source"]["untrained"] and not model_path(src_job.hash).exists()
    assert run_job(Job(exp, "cetl-random", 0), progress=False)["metrics"] == rec["metrics"]  # one untrained S
    run_job(Job(exp, "cetl", 0), progress=False)
    assert model_path(src_job.hash).exists()
    bad = {**tl, "methods": {"cetl": {"requires": {"source": {"experiment": "src", "arm": "source-only",
                                                               "epochs": 3}}}}}
    with pytest.raises(ValueError, match="unknown key"):
        resolve_experiment("tl", bad, "quick", {"experiments": {"src": SOURCE, "tl": bad}})


def test_method_defaults_reach_the_arms_that_have_the_hyperparameter_and_typos_fail():
    base = {**SOURCE, "roles": {"plain": "target"}, "eval_tasks": ["target"], "reference": "target-only",
            "requires": {"source": {"experiment": "src", "arm": "source-only"}},
            "methods": {"target-only": {}, "teacher": {"method": "source-network"}},
            "method_defaults": {"stage_steps": 7}}
    params = {"experiments": {"src": SOURCE, "kd": base}}
    exp = resolve_experiment("kd", base, "quick", params)
    assert exp.arms["target-only"].hparams["stage_steps"] == 7 and exp.arms["teacher"].hparams == {}
    typo = {**base, "method_defaults": {"stage_stepz": 7}}
    with pytest.raises(ValueError, match="stage_stepz"):
        resolve_experiment("kd", typo, "quick", {"experiments": {"src": SOURCE, "kd": typo}})


def test_the_transfer_suites_keep_the_target_small_and_the_rotation_source_disjoint(monkeypatch):
    from sharebench.datasets import cetl_suites
    from sharebench.datasets.load import Provenance

    def fake(name, split, offline=None):  # image i: every pixel i % 256 but one, i // 256 (rotation-invariant id)
        n = 300 if split == "train" else 50
        x = np.repeat((np.arange(n) % 256).astype(np.uint8)[:, None, None, None], 28, 1).repeat(28, 2)
        x[:, 3, 5, 0] = np.arange(n) // 256
        return {"x": x, "y": np.arange(n) % 10}, Provenance(name, split, "cache", True)

    def ids(images):
        return {tuple(np.sort(img.ravel())[[0, -1]]) for img in images}

    monkeypatch.setattr(cetl_suites, "load_split", fake)
    suite = cetl_suites.build_fashion_transfer(target_train=50, mnist_train=100, rotation_train=120)
    mnist, rot, target = suite.tasks
    assert [t.name for t in suite.tasks] == ["mnist", "fashion-rot", "fashion-s"]
    assert len(target.y_train) == 50 and np.bincount(target.y_train).tolist() == [5] * 10
    assert len(mnist.y_train) == 100 and rot.num_classes == 4 and len(rot.y_train) == 120
    assert not ids(rot.x_train) & ids(target.x_train) and len(ids(rot.x_train)) == 120
    x_rot, k = cetl_suites.rotations(target.x_train[:4], 0)
    for img, turned, r in zip(target.x_train[:4], x_rot, k):
        np.testing.assert_array_equal(np.rot90(img, int(r), axes=(0, 1)), turned)
    cifar = cetl_suites.build_cifar10_s(per_class=5, rotation_train=100)
    assert [t.name for t in cifar.tasks] == ["cifar10-rest", "cifar10-rot", "cifar10-s"]
    rest, rot, target = cifar.tasks
    assert len(target.y_train) == 50 and len(rest.y_train) == 250 and len(target.y_test) == 50
    assert not ids(rest.x_train) & ids(target.x_train) and ids(rot.x_train) <= ids(rest.x_train)
    def rgb_or_gray(name, split, offline=None):
        arrays, prov = fake(name, split)
        if name == "svhn":  # SVHN in colour at 32 px, the others gray at 28
            arrays["x"] = np.repeat(np.pad(arrays["x"], ((0, 0), (2, 2), (2, 2), (0, 0))), 3, axis=3)
        return arrays, prov

    monkeypatch.setattr(cetl_suites, "load_split", rgb_or_gray)
    drcn = build_suite("drcn-svhn-mnist")
    assert [t.name for t in drcn.tasks] == ["svhn", "mnist"] and drcn.image_shape == (32, 32, 1)
    assert len(drcn.tasks[0].y_train) == 300 and len(drcn.tasks[1].y_test) == 50  # complete splits
    monkeypatch.setattr(cetl_suites, "load_split", fake)
    kd = cetl_suites.build_fashion_kd(train=100)
    assert [t.name for t in kd.tasks] == ["fashion"] and len(kd.tasks[0].y_train) == 100


def test_a_small_step_claim_gets_no_verdict():
    from sharebench.benchmarks.paperdata import Claim, claim_verdict

    small = Claim("x", "a", "b", "step", metric="accuracy", small=True)
    assert claim_verdict(small, 0.01, 0.004, True, delta=0.0022).startswith("no verdict")
    assert "+0.22 %" in claim_verdict(small, 0.5, 0.004, True, delta=0.0022)


# -- the released code's variant (MCD-style, no GFI): not the paper's method

def _mcd(**hparams):
    torch.manual_seed(0)
    spec = TaskSpec(["src", "tgt"], [10, 10], (16, 16, 1), ("source", "target"), train_sizes=(64, 48))
    return create_method("cetl-mcd", spec, "dkl-convnet", {"width": 0.125, **hparams})


def test_mcd_epochs_are_a_denoising_pass_then_the_three_step_pairs():
    m = _mcd(max_pairs_per_epoch=2)
    # batch 16: E = 48 // 16 = 3 denoising pairs, then min(3, 2) pairs of steps (a)-(c)
    assert [m.phase_at(i, 16) for i in range(10)] == ["denoise"] * 3 + ["mcd"] * 2 + ["denoise"] * 3 + ["mcd"] * 2
    assert m.g.dim == 384 and m.c1.net[0].out_features == 256  # 3072 and 2048 at width 1/8


def test_mcd_steps_move_what_the_released_code_steps():
    """(b) steps C1, C2, D1, D2 and never G; (c) steps G only; (a) steps all five (the decoders by weight decay
    alone: PyTorch 0.2's zeroed gradients)."""
    m = _mcd(num_k=1)
    g = torch.Generator().manual_seed(11)
    batches = {"source": _batch(g, 0), "target": _batch(g, 1, labelled=False)}
    for it in range(3):  # the denoising pass of the first epoch (E = 48 // 16 = 3)
        m.step(batches, it)
    before = {k: _state(n) for k, n in m.nets.items()}
    calls = []
    for name, opt in m.opts.items():
        original = opt.step
        opt.step = (lambda original=original, name=name: (calls.append(name), original())[1])
    m.step(batches, 3)
    assert calls == ["g", "d1", "d2", "c1", "c2", "c1", "c2", "d1", "d2", "g"]
    moved = {k: not _same(before[k], _state(n)) for k, n in m.nets.items()}
    assert all(moved.values())
    x = torch.rand(4, 1, 16, 16)
    m.set_eval_variant("c1")
    p1 = m.predict(x, 1)
    m.set_eval_variant("")
    torch.testing.assert_close(m.predict(x, 1), p1 + m.c2(m.g(x)))
    assert m.reconstruct(x, 1).shape == x.shape and 0 <= m.reconstruct(x, 1).min()


def test_mcd_discrepancy_is_the_mean_absolute_softmax_difference():
    from sharebench.methods.cetl_mcd import discrepancy

    a, b = torch.randn(3, 10), torch.randn(3, 10)
    expected = (torch.softmax(a, 1) - torch.softmax(b, 1)).abs().mean()
    torch.testing.assert_close(discrepancy(a, b), expected)
    r1, r2 = torch.rand(2, 1, 4, 4), torch.rand(2, 1, 4, 4)  # disc2: the softmax over each image's pixels
    expected = (torch.softmax(r1.reshape(2, 16), 1) - torch.softmax(r2.reshape(2, 16), 1)).abs().mean()
    torch.testing.assert_close(discrepancy(r1, r2), expected)


# -- the paper profile: CI-CNN, ImageNet sources, CIFAR-10-s

def test_drcn_digits_and_its_mirror_keep_the_5x5_kernels():
    from sharebench.methods.cetl_nets import PlainNet, ReverseNet
    from sharebench.methods.networks import backbone_layers

    specs = backbone_layers("drcn-digits", (32, 32, 1))
    net = PlainNet(specs, 10)
    convs = [m for m in net.trunk if isinstance(m, nn.Conv2d)]
    assert [c.weight.shape[0] for c in convs] == [100, 150, 200] and convs[0].kernel_size == (5, 5)
    assert net.features(torch.rand(2, 1, 32, 32)).shape == (2, 1024)
    t1 = ReverseNet(specs, 1024, (32, 32, 1))
    mirrors = [m for m in t1.up if isinstance(m, nn.ConvTranspose2d)]
    assert [m.weight.shape for m in mirrors] == [c.weight.shape for c in reversed(convs)]
    assert t1(torch.rand(2, 1024)).shape == (2, 1, 32, 32)


def test_ci_cnn_has_the_spec_widths_and_under_a_tenth_of_alexnets_parameters():
    from sharebench.methods.cetl_nets import PlainNet, ReverseNet
    from sharebench.methods.networks import backbone_layers

    specs = backbone_layers("ci-cnn", (32, 32, 3))
    assert [s.out_features for s in specs] == [48, 128, 192, 192, 128, 1024, 1024]
    assert [s.pool for s in specs[:5]] == [True, True, False, False, True] and specs[5].in_features == 2048
    net = PlainNet(specs, 10)
    assert sum(p.numel() for p in net.parameters()) == 3_990_138  # specs/cetl.md 2.1.2: 3.99 M, < 6.1 M
    assert ReverseNet(specs, 4096, (32, 32, 3))(torch.rand(2, 4096)).shape == (2, 3, 32, 32)


@pytest.mark.parametrize("name,dim", [("alexnet", 4096), ("resnet18", 512)])
def test_an_imagenet_network_gives_its_penultimate_features_at_224_px(name, dim):
    import torchvision

    from sharebench.methods.cetl_nets import ImageNetSource

    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None).eval()
    source = ImageNetSource(model).eval()
    x = torch.rand(2, 1, 32, 32)  # gray, CIFAR-sized: replicated to RGB and resized
    assert source.feature_dim == dim and source.features(x).shape == (2, dim)
    rgb = torch.nn.functional.interpolate(x.expand(-1, 3, -1, -1), size=(224, 224), mode="bilinear")
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(source(x), model((rgb - mean) / std))
    spec = TaskSpec(["tgt"], [10], (32, 32, 1), ("target",))
    m = create_method("cetl", spec, "ci-cnn", {"stage_steps": 1, "fisher_samples": 2}, total_iterations=3,
                      models={"source": model})
    assert m.s.feature_dim == dim and m.hz[0].out_features == dim  # T2's fc7 (1024) -> S's width
    ft = create_method("ft-source", spec, "ci-cnn", models={"source": model})
    assert ft.net.head.out_features == 10 and all(p.requires_grad for p in ft.net.parameters())
    assert not any(p.requires_grad for p in m.s.parameters()) and model.training is False


def test_the_paper_profile_transfers_to_cifar10_s_from_torchvision_weights():
    params = load_params(REPO / "params.yaml")
    exp = {e.name: e for e in experiments(params, "paper")[0]}["cetl-tl"]
    assert exp.suite == "cifar10-s" and exp.backbone == "ci-cnn" and exp.iterations == 3 * 79 * 100
    assert exp.requirements("cetl")["source"].pretrained == "torchvision:alexnet"
    assert exp.requirements("ft-vgg16")["source"].pretrained == "torchvision:vgg16"
    assert exp.requirements("target-only") == {}
    assert exp.requirements("cetl-random")["source"].untrained


def test_the_paper_profile_builds_stl10_table_4_and_the_cifar_stl_pairs():
    params = load_params(REPO / "params.yaml")
    paper = {e.name: e for e in experiments(params, "paper")[0]}
    stl = paper["cetl-tl-stl10"]
    assert stl.suite == "stl10" and stl.backbone == "ci-cnn" and stl.iterations == 3 * 40 * 100
    assert stl.requirements("cetl-cicnn-cifar100")["source"].experiment.name == "cetl-source-cifar100"
    assert paper["cetl-source-cifar100"].roles == {"cifar100": "source"}
    for kd, teacher, data in (("cetl-kd", "cetl-teacher", "cifar10"), ("cetl-kd-cifar100", "cetl-teacher-cifar100",
                                                                         "cifar100")):
        assert paper[kd].suite == paper[teacher].suite == f"{data}-full" and paper[kd].backbone == "ci-cnn"
        assert paper[kd].requirements("cetl")["source"].experiment.name == teacher
        assert paper[teacher].backbone == "resnet26-cifar" and paper[teacher].iterations == 64000
        assert paper[teacher].arms["teacher"].hparams["optimizer"] == "sgd"
        augment = paper[kd].input["augment"]
        assert augment == paper[teacher].input["augment"]
        assert (augment["pad_fraction"], augment["flip"]) == (0.125, True)
    for da, source, roles in (("cetl-da-st-ci", "cetl-source-st", {"stl9": "source", "cifar9": "target"}),
                              ("cetl-da-ci-st", "cetl-source-ci", {"cifar9": "source", "stl9": "target"})):
        assert paper[da].suite == "cifar-stl-9" and paper[da].roles == paper[source].roles == roles
        assert paper[da].requirements("cetl")["source"].experiment.name == source and paper[da].target_labels == "none"
    small = {e.name for e in experiments(params, "small")[0]}
    assert not small & {"cetl-tl-stl10", "cetl-kd-cifar100", "cetl-da-st-ci", "cetl-source-cifar100"}


def test_resnet26_is_he_et_als_cifar_network_and_the_teacher_takes_its_step_schedule():
    from sharebench.methods.cetl_nets import PlainNet
    from sharebench.methods.networks import backbone_layers

    net = PlainNet(backbone_layers("resnet26-cifar", (32, 32, 3)), 10)
    main_path = [m for name, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))
                 and "shortcut" not in name]
    assert len(main_path) == 26 and sum(p.numel() for p in net.parameters()) == 369_690  # about 0.37 M
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    spec = TaskSpec(["tgt"], [10], (32, 32, 3), ("target",))
    teacher = create_method("target-only", spec, "resnet26-cifar",
                            {"schedule": "every", "optimizer": "sgd", "lr": 0.1, "weight_decay": 1e-4,
                             "lr_schedule": "step", "milestones": [0.5, 0.75]}, total_iterations=8)
    assert isinstance(teacher.opt, torch.optim.SGD) and teacher.opt.defaults["momentum"] == 0.9
    g = torch.Generator().manual_seed(0)
    lrs = []
    for it in range(8):
        batch = Batch(torch.rand(1, 4, 3, 32, 32, generator=g), torch.randint(0, 10, (1, 4), generator=g),
                      torch.tensor([0]))
        teacher.step({"labelled": batch}, it)
        lrs.append(teacher.opt.param_groups[0]["lr"])
    assert lrs == pytest.approx([0.1] * 4 + [0.01] * 2 + [0.001] * 2)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        create_method("target-only", spec, "resnet26-cifar", {"optimizer": "lbfgs"}, total_iterations=8)


def test_the_stl10_suites_are_32_px_and_the_cifar_stl_pairs_share_nine_classes_by_name(monkeypatch):
    from sharebench.datasets import cetl_suites
    from sharebench.datasets.load import Provenance
    from sharebench.datasets.parsers import STL10_CLASSES

    cifar10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    sizes = {"stl10": 96, "cifar10": 32, "cifar100": 32}

    def fake(name, split, offline=None):
        n = 40 if split == "train" else 20
        classes = 100 if name == "cifar100" else 10
        x = np.random.RandomState(0).randint(0, 256, (n, sizes[name], sizes[name], 3)).astype(np.uint8)
        return {"x": x, "y": np.arange(n) % classes}, Provenance(name, split, "cache", True)

    monkeypatch.setattr(cetl_suites, "load_split", fake)
    stl = cetl_suites.build_stl10()
    assert [(t.name, t.num_classes, t.x_train.shape[1:]) for t in stl.tasks] == [
        ("cifar100", 100, (32, 32, 3)), ("stl10", 10, (32, 32, 3))]
    pairs = cetl_suites.build_cifar_stl_9()
    stl9, cifar9 = pairs.tasks
    assert (stl9.name, cifar9.name, stl9.num_classes) == ("stl9", "cifar9", 9)
    assert len(stl9.y_train) == len(cifar9.y_train) == 36 and stl9.x_test.shape[1:] == (32, 32, 3)
    for names, mapping in ((STL10_CLASSES, cetl_suites.STL_TO_SHARED), (cifar10, cetl_suites.CIFAR_TO_SHARED)):
        assert sorted(mapping.values()) == list(range(9))
        for original, shared in mapping.items():
            assert names[original].replace("automobile", "car") == cetl_suites.SHARED_CLASSES[shared]
        assert {"frog", "monkey"} & {names[i] for i in mapping} == set()


def test_figure_2_draws_the_normalised_curves_and_counts_the_seeds_where_the_bound_holds(tmp_path):
    import pandas as pd

    from sharebench.benchmarks.papers import cetl_figures

    rows = []
    for seed, gap in ((0, 0.3), (1, -0.1)):  # seed 1's LHS exceeds its RHS at the last evaluation
        for i, it in enumerate((60, 120, 180)):
            acc = 0.5 + 0.1 * i
            rows.append({"experiment": "da", "method": "cetl", "seed": seed, "iteration": it,
                         "accuracy_task_mean": acc, "cetl_loss3": 1.0 / (i + 1), "cetl_dwa1": [0.1, 0.3, 0.2][i],
                         "cetl_rhs_source": 0.1, "cetl_rhs": (1 - acc) + (gap if i == 2 else 0.3)})
    curves = pd.DataFrame(rows)
    assert cetl_figures.bound_check(curves.assign(lhs=1 - curves.accuracy_task_mean)) == (1, 2)
    norm = cetl_figures._normalised_mean(curves, "cetl_dwa1")
    assert norm.tolist() == pytest.approx([1 / 3, 1.0, 2 / 3])  # each seed over its own maximum, then the mean

    class Exp:
        arms, profile = {"cetl": None}, "quick"

    lines = cetl_figures.figure2({"da": Exp()}, curves, tmp_path, {"cetl": "CETL"})
    assert (tmp_path / "figures" / "da-figure2.png").stat().st_size > 1000
    assert any("in 1 of 2 seeds" in line for line in lines)


def test_a_stored_source_counts_as_frozen_parameters_and_t1_t2_as_trainable():
    from sharebench.benchmarks.runner import parameter_counts

    m = _cetl("cetl")
    counts = parameter_counts(m)
    source = sum(p.numel() for p in m.s.parameters())
    assert counts["parameters_frozen"] == source > 0
    assert counts["parameters_trainable"] == sum(p.numel() for net in (m.t1, m.t2, m.hz) for p in net.parameters())
