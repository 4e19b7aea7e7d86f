"""Joint autoencoders (Epstein et al.): parameter counts, the one shared layer, gradient routing, units."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sharebench.benchmarks.metrics import get_metric
from sharebench.methods import TaskSpec, create_method
from sharebench.methods.jae import ae_params, jae_params, matching_scale, scaled
from tests.conftest import MIRROR, needs_mirror

HALVES = TaskSpec(["digits-0-4", "digits-5-9"], [5, 5], (28, 28, 1))
MNIST_WIDTHS = [500, 250, 32, 250, 500]
TINY = {"hidden": [16, 8, 4, 8, 16]}


def test_parameter_counts_of_the_mnist_halves_models():
    """specs/jae.md 2.1: AE pair 2.14 M, JAE 4.20 M, JAE-reduced 2.76 M; the built models have these counts."""
    assert round(ae_params([784, 784], MNIST_WIDTHS) / 1e6, 2) == 2.14
    assert round(jae_params([784, 784], MNIST_WIDTHS, 3) / 1e6, 2) == 4.20
    assert scaled(MNIST_WIDTHS, 0.7071) == [354, 177, 23, 177, 354]
    assert round(jae_params([784, 784], scaled(MNIST_WIDTHS, 0.7071), 3) / 1e6, 2) == 2.76
    for name, hparams, expected in [("ae", {}, ae_params([784, 784], MNIST_WIDTHS)),
                                    ("jae", {}, jae_params([784, 784], MNIST_WIDTHS, 3)),
                                    ("jae", {"shared_depth": 1}, jae_params([784, 784], MNIST_WIDTHS, 1))]:
        m = create_method(name, HALVES, "jae-mlp", hparams, backbone_options={"hidden": MNIST_WIDTHS})
        assert m.describe()["params"] == expected, (name, hparams)


def test_match_ae_makes_the_jae_as_large_as_the_ae_pair():
    scale = matching_scale([784, 784], MNIST_WIDTHS, 3)
    assert 0.5 < scale < 0.65  # specs/jae.md: about 0.57
    m = create_method("jae", HALVES, "jae-mlp", {"width_scale": "match-ae"}, backbone_options={"hidden": MNIST_WIDTHS})
    info = m.describe()
    assert abs(info["params"] / info["ae_pair_params"] - 1) < 1e-3


def test_the_shared_layer_is_one_weight_and_only_it_carries_one_tasks_loss_to_the_other():
    torch.manual_seed(0)
    m = create_method("jae", HALVES, "jae-mlp", {}, backbone_options=TINY)
    assert [layer.weight.shape[0] for layer in m.shared.layers] == [2, 2, 1, 2, 2]
    assert [layer.weight.shape[0] for layer in m.private.layers] == [2] * 5
    x = torch.rand(1, 6, 28 * 28)
    loss = (m.decode(x, torch.tensor([0])) - x).pow(2).mean()  # task 0 only
    loss.backward()
    assert m.shared.layers[2].weight.grad.abs().sum() > 0
    for branch in (m.private, m.shared):
        for i, layer in enumerate(branch.layers):
            if layer.weight.shape[0] == 2:
                assert layer.weight.grad[1].abs().sum() == 0, (i, "task 1's own weights moved")
    assert m.output.weight.grad[1].abs().sum() == 0


def test_bad_settings_are_clear_errors():
    with pytest.raises(ValueError, match="shared_depth"):
        create_method("jae", HALVES, "jae-mlp", {"shared_depth": 6}, backbone_options=TINY)
    with pytest.raises(ValueError, match="width_scale"):
        create_method("jae", HALVES, "jae-mlp", {"width_scale": "half"}, backbone_options=TINY)
    with pytest.raises(ValueError, match="builds on backbone"):
        create_method("ae", HALVES, "mlp", {})


def test_recon_sse_is_the_sum_over_pixels_per_image():
    class Blank:
        def reconstruct(self, x, task):
            return torch.zeros_like(x)

    x = torch.ones(3, 1, 4, 4)
    assert get_metric("recon_sse").per_sample(Blank(), x, None, 0).tolist() == [16.0] * 3
    assert get_metric("mse").per_sample(Blank(), x, None, 0).tolist() == [1.0] * 3


def test_training_lowers_the_reconstruction_error_of_both_models():
    spec = TaskSpec(["a", "b"], [5, 5], (8, 8, 1))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 16, 1, 8, 8, generator=g)
    for name in ("ae", "jae"):
        torch.manual_seed(0)
        m = create_method(name, spec, "jae-mlp", {"lr": 1e-2}, backbone_options=TINY, total_iterations=60)
        losses = [m.update(x, torch.zeros(2, 16, dtype=torch.long), it)["loss"] for it in range(60)]
        assert losses[-1] < 0.7 * losses[0], name


def test_embedded_halves_are_two_five_class_digit_tasks():
    from sharebench.datasets.suites import build_suite

    suite = build_suite("embedded-halves")
    assert [t.name for t in suite.tasks] == ["digits-0-4", "digits-5-9"]
    assert all(t.num_classes == 5 and set(t.y_test.tolist()) == set(range(5)) for t in suite.tasks)
    assert sum(len(t.y_train) + len(t.y_test) for t in suite.tasks) == 1797


def test_paper_module_claims_name_arms_of_their_experiments():
    from sharebench.benchmarks.config import experiments, load_params
    from sharebench.benchmarks.papers import jae
    from tests.conftest import REPO

    exps, _ = experiments(load_params(REPO / "params.yaml"), "paper")
    arms = {e.name: set(e.arms) for e in exps if e.benchmark == "jae"}
    assert set(jae.SETTINGS) == set(arms)
    for claim in jae.CLAIMS:
        assert {claim.a, claim.b} <= arms[claim.experiment], claim.text
    for pair, (ae, jae_error, _) in jae.TABLE1.items():  # the printed improvements, within rounding, but D-H / D-S
        assert pair in ("D-H", "D-S") or abs(1 - jae_error / ae - 0.335) < 0.03


@needs_mirror("cifar10/data_batch_1.webp")
def test_cifar10_pairs_are_single_class_tasks_from_the_imported_copy():
    from sharebench.datasets.importer import import_source
    from sharebench.datasets.suites import build_suite

    import_source("cifar10", MIRROR / "cifar10")
    suite = build_suite("cifar10-D-H")
    assert [(t.name, len(t.y_train), len(t.y_test), t.num_classes) for t in suite.tasks] == [
        ("deer", 5000, 1000, 1), ("horse", 5000, 1000, 1)]
    assert not suite.checksum_verified


def test_end_to_end_classification_source_labels_reach_the_shared_layer_not_the_targets_own_weights():
    """Eq. 2 with the target's labels hidden (-1): the source's cross-entropy trains the shared layer W_c and the
    source's weights, never the target's private branch, its own shared-branch layers or its classifier."""
    torch.manual_seed(0)
    m = create_method("jae", HALVES, "jae-mlp", {"classify": True, "recon_weight": 0.0, "lr": 0.1,
                                                 "optimizer": "sgd", "momentum": 0.0}, backbone_options=TINY)
    params = m.parameters()
    before = {id(p): p.detach().clone() for p in params}
    x = torch.rand(2, 6, 1, 28, 28)
    y = torch.stack([torch.randint(0, 5, (6,)), torch.full((6,), -1)])  # target labels hidden
    out = m.update(x, y, 0)
    assert out["ce"] > 0
    assert not torch.equal(m.shared.layers[2].weight.detach(), before[id(m.shared.layers[2].weight)])
    for module in (*m.private.layers, *[lay for lay in m.shared.layers if lay.weight.shape[0] == 2], m.head.linear):
        assert torch.equal(module.weight.detach()[1], before[id(module.weight)][1])
    for module in (*m.private.layers[:3], *m.shared.layers[:2], m.head.linear):  # the source's encoder did move
        assert not torch.equal(module.weight.detach()[0], before[id(module.weight)][0])
    assert m.predict(torch.rand(4, 1, 28, 28), 1).shape == (4, 5)
    with pytest.raises(ValueError, match="classify"):
        create_method("ae", HALVES, "jae-mlp", {}, backbone_options=TINY).predict(torch.rand(2, 1, 28, 28), 0)


@needs_mirror("mnist/train-images-idx3-ubyte.gz")
def test_mnist_halves_for_transfer_have_the_papers_2000_and_500_images(monkeypatch):
    from sharebench.datasets.suites import build_suite

    monkeypatch.setenv("SHAREBENCH_MIRROR", str(MIRROR))
    suite = build_suite("mnist-halves-500-2000")
    assert [(t.name, len(t.y_train), len(t.y_test)) for t in suite.tasks] == [
        ("digits-0-4", 500, 5139), ("digits-5-9", 2000, 4861)]
    counts = np.bincount(suite.tasks[0].y_train)  # stratified: the halves' class proportions
    assert len(counts) == 5 and abs(counts - 100).max() <= 15


def test_each_experiment_is_compared_with_its_own_paper_numbers():
    from sharebench.benchmarks.papers.jae import paper_errors

    assert paper_errors("jae-cifar10-D-H") == {"ae": 20.6, "jae": 13.2, "jae-reduced": 15.6}
    assert paper_errors("jae-mnist-halves") == {"ae": 5.6, "jae": 5.4, "jae-reduced": 5.52}
    assert paper_errors("jae-transfer-04-59") == {}


def _halves_jae(fig2_points: int, semantics=("digits 0-4 as 0-4", "digits 5-9 as 0-4")):
    spec = TaskSpec(["low", "high"], [5, 5], (8, 8, 1), label_semantics=semantics)
    torch.manual_seed(0)
    return create_method("jae", spec, "jae-mlp", {"fig2_points": fig2_points},
                         backbone_options={"hidden": [16, 8, 4, 8, 16]})


def test_fig2_examples_show_each_pair_digits_typical_image_through_each_branch():
    """Fig. 2(b)-(c): the digits of the pairs, each the test image nearest its class mean, reconstructed by the
    whole JAE and by each branch alone (different images), with a saliency map per bottleneck."""
    from sharebench.methods.jae_analysis import from_uint8, typical_image

    g = torch.Generator().manual_seed(1)
    x = [torch.rand(40, 1, 8, 8, generator=g) for _ in range(2)]
    y = [torch.arange(40) % 5 for _ in range(2)]
    jae = _halves_jae(100)
    for it in range(50):  # a little training, so that the branches' outputs differ
        jae.update(torch.stack([x[0][:16], x[1][:16]]), torch.stack([y[0][:16], y[1][:16]]), it)
    art = jae.final_artifacts(x, y)["fig2"]
    assert art["digits"] == [1, 9, 3, 8, 4, 7] and art["shape"] == [8, 8]
    panels = from_uint8(art["panels"], [6, 4, 8, 8])
    saliency = from_uint8(art["saliency"], [6, 2, 8, 8])
    for row, digit in enumerate(art["digits"]):
        t = int(digit >= 5)
        i = typical_image(x[t].numpy(), y[t].numpy(), digit % 5)
        np.testing.assert_allclose(panels[row, 0], x[t][i, 0].numpy(), atol=0.5 / 255)
        full, private, shared = panels[row, 1:]
        assert not np.array_equal(full, private) and not np.array_equal(full, shared)
        assert saliency[row].reshape(2, -1).max(axis=1).tolist() == [1.0, 1.0]
    assert _halves_jae(0).final_artifacts(x, y) == {}  # only when Fig. 2 is asked for
    assert _halves_jae(100, ("digits", "digits")).final_artifacts(x, y) == {}  # only on the MNIST halves
