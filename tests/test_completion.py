"""Image completion (Zhang et al. task II): fixed holes as labels, the ae9 autoencoder on weight banks, the
completion loss and metrics, the same-initialisation of per-task copies, and one job end to end."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from sharebench.benchmarks.config import resolve_experiment
from sharebench.benchmarks.metrics import evaluate
from sharebench.benchmarks.runner import Job, run_job
from sharebench.datasets.holes import draw_corners, hole_masks, hole_side, positions, with_holes
from sharebench.datasets.suites import build_suite, save_suite
from sharebench.methods import TaskSpec, create_method, get_method, method_names
from sharebench.methods.banks import BankedConvTranspose2d
from sharebench.methods.coupling import mutual_knn_edges, pair_indices
from sharebench.methods.hard_sharing import BankedMethod, completion_loss
from sharebench.methods.networks import BankedNet, backbone_layers
from tests.conftest import MIRROR, needs_mirror

SPEC = TaskSpec(["a", "b", "c"], [positions(16, 16, 6)] * 3, (16, 16, 1), holes=(6, 6, 6))


def batch(seed: int = 0, b: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(3, b, 1, 16, 16, generator=g), torch.randint(0, positions(16, 16, 6), (3, b), generator=g)


def test_holes_are_fixed_squares_decoded_from_the_labels():
    assert (hole_side(16), hole_side(32), hole_side(64)) == (6, 11, 22)
    corners = draw_corners(500, 16, 16, 6, seed=3)
    assert np.array_equal(corners, draw_corners(500, 16, 16, 6, seed=3)) and corners.max() < positions(16, 16, 6)
    masks = hole_masks(torch.from_numpy(corners), 6, 16, 16)
    assert masks.shape == (500, 1, 16, 16) and bool((masks.sum(dim=(1, 2, 3)) == 36).all())
    r, c = 4, 7  # index r * 11 + c: rows 4..9, columns 7..12
    mask = hole_masks(torch.tensor(r * 11 + c), 6, 16, 16)[0]
    rows, cols = torch.nonzero(mask, as_tuple=True)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (4, 9, 7, 12)
    x = torch.ones(1, 1, 16, 16)
    assert float(with_holes(x, torch.tensor([r * 11 + c]), 6).sum()) == 256 - 36


def test_completion_suite_labels_are_the_holes_and_deterministic():
    suite = build_suite("embedded-completion")
    again = build_suite("embedded-completion")
    assert suite.content_hash() == again.content_hash()
    assert all(t.meta["hole"] == 6 and t.num_classes == 121 for t in suite.tasks)
    assert not np.array_equal(suite.tasks[0].y_train[:50], suite.tasks[1].y_train[:50])  # per task draws
    other = build_suite("embedded-completion", hole_seed=1)
    assert not np.array_equal(other.tasks[0].y_train, suite.tasks[0].y_train)


def test_transposed_conv_bank_equals_one_module_per_slot():
    torch.manual_seed(0)
    bank = BankedConvTranspose2d(3, 4, 2, bias=True)
    x, slots = torch.rand(3, 5, 4, 6, 6), torch.tensor([2, 0, 2])
    out = bank(x, slots)
    assert out.shape == (3, 5, 2, 12, 12)
    for t, s in enumerate(slots.tolist()):
        ref = torch.nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1)
        with torch.no_grad():
            ref.weight.copy_(bank.weight[s])
            ref.bias.copy_(bank.bias[s])
        torch.testing.assert_close(out[t], ref(x[t]))


@pytest.mark.parametrize("strategy", ["auto", "per-slot"])
def test_ae9_bank_equals_a_loop_over_tasks(strategy):
    torch.manual_seed(0)
    layers = backbone_layers("ae9", (16, 16, 1), width=4)
    assert [s.name for s in layers] == ["e1", "e2", "e3", "e4", "m", "d1", "d2", "d3", "out"]
    net = BankedNet(layers, [121] * 3, [3] * 9)
    net.conv_strategy = strategy
    ref = copy.deepcopy(net)
    a, tasks, x = torch.tensor([[0] * 9, [1] * 9, [2, 0, 1, 2, 0, 1, 2, 0, 1]]), torch.arange(3), torch.rand(3, 4, 1,
                                                                                                         16, 16)
    out, out_ref = net(x, a, tasks), ref.forward_loop(x, a, tasks)
    assert out.shape == x.shape and bool(((out > 0) & (out < 1)).all())
    torch.testing.assert_close(out, out_ref)
    out.sum().backward()
    out_ref.sum().backward()
    for p, q in zip(net.parameters(), ref.parameters()):
        scale = float(q.grad.abs().max()) + 1e-12  # summation order differs: compare relative to scale
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5 * scale)
    with pytest.raises(ValueError, match="divide by 16"):
        backbone_layers("ae9", (28, 28, 1))


def test_completion_loss_is_the_per_task_mean_of_summed_squared_errors():
    filled, x = torch.zeros(2, 3, 1, 2, 2), torch.ones(2, 3, 1, 2, 2)
    x[1] *= 2
    assert float(completion_loss(filled, x)) == pytest.approx(4 * 1 + 4 * 4)  # per image: 4 pixels


class _CopyInput:
    """A 'method' that returns its input: the hole stays 0, everything else is exact."""

    tasks = SPEC

    def reconstruct(self, x: torch.Tensor, task: int) -> torch.Tensor:
        return x


def test_completion_metrics_by_hand():
    x = torch.full((2, 1, 16, 16), 0.5)
    y = torch.tensor([0, 120])
    data = {"x_test": [x] * 3, "y_test": [y] * 3}
    m = evaluate(_CopyInput(), data, SPEC.names, ["completion_mse", "hole_mse"])
    assert m["hole_mse"] == pytest.approx(0.25)  # the hole is left at 0: (0.5 - 0)^2
    assert m["completion_mse"] == pytest.approx(0.25 * 36 / 256)
    assert m["completion_mse/b"] == m["completion_mse_task_mean"] == m["completion_mse"]


COMPLETION_METHODS = [n for n in method_names() if issubclass(get_method(n), BankedMethod)
                      and get_method(n).COMPLETION]


@pytest.mark.parametrize("name", COMPLETION_METHODS)
def test_banked_methods_train_on_image_completion(name):
    torch.manual_seed(0)
    method = create_method(name, SPEC, "ae9", {}, backbone_options={"width": 4}, total_iterations=4)
    x, y = batch()
    losses = [method.update(x, y, it)["loss"] for it in range(4)]
    assert all(np.isfinite(losses))
    assert method.reconstruct(x[0], 0).shape == x[0].shape
    clone = create_method(name, SPEC, "ae9", {}, backbone_options={"width": 4}, total_iterations=4)
    clone.load_state_dict(copy.deepcopy(method.state_dict()))
    torch.testing.assert_close(clone.reconstruct(x[1], 1), method.reconstruct(x[1], 1))


def test_the_method_sees_only_the_image_around_its_hole():
    torch.manual_seed(0)
    method = create_method("isolated", SPEC, "ae9", {}, backbone_options={"width": 4}, total_iterations=2)
    x, y = batch()
    changed = x.clone()
    changed[hole_masks(y, 6, 16, 16).expand_as(x)] = 0.123  # other pixels inside the holes
    inputs = []
    method.net.register_forward_pre_hook(lambda _m, args: inputs.append(args[0].clone()))
    method.task_loss(x, y, method.all_tasks)
    method.task_loss(changed, y, method.all_tasks)
    assert torch.equal(inputs[0], inputs[1])


def test_classifiers_refuse_completion_suites_and_ae9_refuses_classification():
    with pytest.raises(ValueError, match="image completion"):
        create_method("lws", SPEC, "ae9", {})
    with pytest.raises(ValueError, match="classification"):
        create_method("isolated", TaskSpec(["a"], [10], (16, 16, 1)), "ae9", {})
    with pytest.raises(ValueError, match="outputs images|classifies"):
        create_method("isolated", SPEC, "dkl-convnet", {})


def test_same_init_starts_every_copy_from_slot_zero():
    torch.manual_seed(0)
    spec = TaskSpec(["a", "b", "c"], [10, 10, 10], (16, 16, 1))
    same = create_method("l2", spec, "dkl-convnet", {"same_init": True})
    other = create_method("l2", spec, "dkl-convnet", {})
    for unit in same.net.layers:
        for t in unit.slot_tensors(norm_per_slot=True):
            assert torch.equal(t[1], t[0]) and torch.equal(t[2], t[0])
    assert float(same.penalty().detach()) < 1e-9 < float(other.penalty().detach())
    heads = same.net.head.linear.weight
    assert not torch.equal(heads[0], heads[1])  # per-task heads stay independent


def test_mutual_nearest_neighbours_by_hand():
    # 4 tasks; pairs in order (0,1) (0,2) (0,3) (1,2) (1,3) (2,3); k = 1: each task's single closest
    w = torch.tensor([0.9, 0.1, 0.2, 0.3, 0.4, 0.8])
    assert mutual_knn_edges(w, 4, k=1) == [(0, 1), (2, 3)]
    # k = 2: 0 -> {1, 3}, 1 -> {0, 3}, 2 -> {3, 1}, 3 -> {2, 1}
    assert mutual_knn_edges(w, 4, k=2) == [(0, 1), (1, 3), (2, 3)]
    assert len(pair_indices(4)[0]) == len(w)


def test_a_completion_job_runs_and_records_the_completion_metrics():
    save_suite(build_suite("embedded-completion"))
    raw = {"suite": "embedded-completion", "backbone": "ae9", "backbone_options": {"width": 4}, "reference":
           "isolated", "metrics": ["completion_mse", "hole_mse"],
           "methods": {"isolated": {"same_init": True}, "irls": {"same_init": True}},
           "profiles": {"quick": {"iterations": 10, "eval_interval": 5, "seeds": 1}}}
    exp = resolve_experiment("tiny-completion", raw, "quick", {})
    rec = run_job(Job(exp, "irls", 0), progress=False)
    assert 0 < rec["metrics"]["completion_mse"] < 1 and 0 < rec["metrics"]["hole_mse"] < 1
    assert set(rec["curves"]["metrics"]) >= {"completion_mse", "completion_mse_task_mean", "hole_mse/plain"}
    assert len(rec["method_info"]["mutual_knn_edges"]) == 8  # one graph per adjacent pair of the 9 layers


@needs_mirror("cifar10/data_batch_1.webp", "cifar10/test_batch.webp", "fashion-mnist/t10k-images-idx3-ubyte.gz",
              "mnist/train-images-idx3-ubyte.gz", "usps/usps.t.bz2", "kmnist/t10k-images-idx3-ubyte.gz")
def test_zhang_stand_in_suites_from_the_mirror(monkeypatch):
    """five-domains: five 10-class domains at 28 px grey, 500 training images each, capped tests; cifar10-completion:
    the eight classes in the paper's node order, 500 / 100 images each, 11 px holes."""
    from sharebench.datasets.importer import import_source

    monkeypatch.setenv("SHAREBENCH_MIRROR", str(MIRROR))
    for name in ("cifar10", "fashion-mnist"):
        import_source(name, MIRROR / name)
    five = build_suite("five-domains", test_per_task=200)
    assert [t.name for t in five.tasks] == ["mnist", "kmnist", "fashion-mnist", "usps", "cifar10-grey"]
    assert five.image_shape == (28, 28, 1) and not five.checksum_verified
    assert all(len(t.y_train) == 500 and len(t.y_test) == 200 and t.num_classes == 10 for t in five.tasks)
    assert np.bincount(five.tasks[4].y_train).tolist() == [50] * 10
    comp = build_suite("cifar10-completion", train_per_class=50, test_per_class=10)
    assert [t.name for t in comp.tasks] == ["bird", "dog", "cat", "frog", "automobile", "truck", "airplane", "ship"]
    assert comp.image_shape == (32, 32, 3)
    assert all(t.meta["hole"] == 11 and len(t.y_train) == 50 and len(t.y_test) == 10 for t in comp.tasks)
    larger = build_suite("cifar10-completion", train_per_class=60, test_per_class=10)
    assert np.array_equal(larger.tasks[0].x_train[:50], comp.tasks[0].x_train)  # the first of one permutation


def test_the_zhang_section_draws_figure_2_and_the_irls_diagnostics(tmp_path):
    """Two tiny irls runs of the completion experiment: the Figure 2 graphs, the edge counts over seeds, G-a and the
    reweighting table reach the report."""
    from sharebench.benchmarks.analysis import curves_frame, load_records, runs_frame, summarize
    from sharebench.benchmarks.config import experiments, load_params
    from sharebench.benchmarks.papers import zhang
    from tests.conftest import REPO

    params = load_params(REPO / "params.yaml")
    params["experiments"]["zhang-completion"]["profiles"]["quick"].update(iterations=10, eval_interval=5, seeds=2)
    params["experiments"]["zhang-completion"]["backbone_options"] = {"width": 4}
    exp = next(e for e in experiments(params, "quick")[0] if e.name == "zhang-completion")
    save_suite(build_suite("embedded-completion"))
    for seed in exp.seeds:
        run_job(Job(exp, "irls", seed), progress=False)
    records = load_records(exp)
    runs = runs_frame(records)
    frames = {"runs": runs, "curves": curves_frame(records), "summary": summarize(runs)}
    text = "\n".join(zhang.figures({exp.name: exp}, frames, tmp_path))
    assert (tmp_path / "figures" / "zhang-completion-fig2.png").exists()
    assert "Nodes, ours: 1 plain, 2 inverted" in text and "2-3, 2-8, 3-7, 6-7, 6-8, 7-8" in text
    assert "(2/2)" in text or "(1/2)" in text  # edges counted over the two seeds
    assert "G-a: the first layers are shared by all" in text
    assert "### IRLS diagnostics, `zhang-completion`" in text and "delta per reweighting" in text
    assert "Deviations from the paper" in text


def test_the_lambda_table_compares_joint_at_three_lambdas():
    import pandas as pd

    from sharebench.benchmarks.config import experiments, load_params
    from sharebench.benchmarks.papers import zhang
    from tests.conftest import REPO

    exp = next(e for e in experiments(load_params(REPO / "params.yaml"), "small")[0] if e.name == zhang.CLASSIFICATION)
    assert {"irls-code", "irls-lambda1", "irls-lambda100"} <= set(exp.arms)
    assert exp.arms["irls-lambda100"].hparams["lambda"] == 100.0 and exp.arms["irls-lambda100"].method == "irls"
    runs = pd.DataFrame([{"experiment": exp.name, "method": arm, "seed": s, "metric": "accuracy_task_mean",
                          "value": 0.8 + 0.01 * s + (0.1 if arm == "irls" else 0.0)} for arm in zhang.LAMBDAS
                         for s in range(5)])
    text = "\n".join(zhang._lambda_table(exp, runs))
    assert "|       10 | 92.00 ± 1.58 (5) | (reference)" in text and "0.00794" in text  # 5 vs 5, fully separated
    assert "Spread of the means over the three values: 10.00 points" in text


def test_a_metric_the_banked_network_cannot_produce_is_a_config_error():
    from sharebench.benchmarks.config import ConfigError

    raw = {"suite": "embedded-completion", "backbone": "ae9", "reference": "isolated", "metrics": ["accuracy"],
           "methods": {"isolated": {}}, "profiles": {"quick": {"iterations": 4, "eval_interval": 2, "seeds": 1}}}
    with pytest.raises(ConfigError, match="reads `predict`.*backbone 'ae9'"):
        resolve_experiment("bad", raw, "quick", {})
    raw.update(backbone="dkl-convnet", metrics=["completion_mse"])
    with pytest.raises(ConfigError, match="reads `reconstruct`"):
        resolve_experiment("bad", raw, "quick", {})


def test_figure_4_cells_get_verdicts_only_on_the_paper_s_datasets():
    from types import SimpleNamespace

    import pandas as pd

    from sharebench.benchmarks.papers import zhang

    rows = [("irls", "birds", 0.80, 0.02), ("irls", "dogs", 0.80, 0.01), ("isolated", "birds", 0.781, float("nan"))]
    summary = pd.DataFrame([{"experiment": "zhang-classification", "method": m, "metric": f"accuracy/{t}",
                             "mean": mean, "std": std, "n": 5} for m, t, mean, std in rows])
    paper = SimpleNamespace(name="zhang-classification", suite="fine-grained-5")
    text = "\n".join(zhang._cell_verdicts(paper, summary, ["birds", "dogs"]))
    # Joint on Birds: 80.00 vs 81.08 (within 2 points); on Dogs 80.00 vs 84.31 (beyond 2 points and 2 std = 2)
    assert "-1.08 consistent" in text and "-4.31 **differs**" in text and "+0.04 consistent" in text
    assert "3 of 3 cells run are consistent" not in text and "2 of 3 cells run" in text
    stand_in = SimpleNamespace(name="zhang-classification", suite="five-domains")
    assert zhang._cell_verdicts(stand_in, summary, ["birds", "dogs"]) == []
