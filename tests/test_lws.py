"""LWS (Prellberg & Kramer): the NES maths, and the batched step against the released code's loop."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from sharebench.benchmarks.sampling import Batch
from sharebench.methods import TaskSpec, create_method
from sharebench.methods.lws import entropy, nes_update, rank_utilities
from tests.test_methods import TINY
from tests.test_methods import tiny_batch as batch

SPEC = TINY


def streams(nes: tuple, sgd: tuple) -> dict[str, Batch]:
    """LWS' two streams for one iteration: a batch for the NES step and one for the SGD step."""
    return {"nes": Batch(*nes, torch.arange(len(nes[0]))), "sgd": Batch(*sgd, torch.arange(len(sgd[0])))}


def test_rank_utilities_follow_eq_12():
    u = rank_utilities(torch.tensor([0.5, 2.0, 1.0, 0.1], dtype=torch.float64))
    # ranks in descending loss order: 2.0 -> 1, 1.0 -> 2, 0.5 -> 3, 0.1 -> 4; u = 2 (r - 1) / 3 - 1
    assert u.tolist() == pytest.approx([1 / 3, -1.0, -1 / 3, 1.0])
    assert rank_utilities(torch.tensor([3.0, 3.0])).tolist() == [-1.0, 1.0]  # ties: sample order
    with pytest.raises(ValueError, match="at least 2"):
        rank_utilities(torch.tensor([1.0]))


def test_nes_update_by_hand():
    probs = torch.full((1, 1, 3), 1 / 3, dtype=torch.float64)
    samples = torch.tensor([[[0]], [[2]]])  # two samples: slot 0 (best), slot 2 (worst)
    u = torch.tensor([1.0, -1.0], dtype=torch.float64)
    new = nes_update(probs, samples, u, lr=0.3, min_prob=0.0)
    # grad = mean(u_i (onehot_i - p)) = ([1,0,0] - [0,0,1]) / 2 = [0.5, 0, -0.5]
    assert new[0, 0].tolist() == pytest.approx([1 / 3 + 0.15, 1 / 3, 1 / 3 - 0.15])
    # large steps are clamped at min_prob and renormalised
    big = nes_update(probs, samples, u, lr=10.0, min_prob=0.001)
    assert big[0, 0].min() > 0 and big.sum().item() == pytest.approx(1.0)
    assert big[0, 0, 2] == pytest.approx(0.001 / (1 / 3 + 5 + 1 / 3 + 0.001))


def test_nes_moves_probability_to_the_slot_with_lower_loss():
    torch.manual_seed(0)
    probs = torch.full((2, 3, 4), 0.25, dtype=torch.float64)
    for _ in range(300):  # toy fitness: the number of (layer, task) entries not on slot 1
        samples = torch.multinomial(probs.reshape(-1, 4), 8, replacement=True).reshape(2, 3, 8).permute(2, 0, 1)
        fitness = (samples != 1).sum(dim=(1, 2)).double() + 0.01 * torch.rand(8, dtype=torch.float64)
        probs = nes_update(probs, samples, rank_utilities(fitness), 0.1, 0.001)
    assert (probs.argmax(-1) == 1).all()
    assert entropy(probs).max() < 0.5 * math.log(4)


def reference_sgd_gradients(method, x, y, samples):
    """The released code's SGD step: for each sample, for each task, backward of that task's mean CE
    through its own forward pass; then the gradient normalisation by expected users."""
    net = method.net
    net.train()
    net.zero_grad(set_to_none=False)
    for s in range(samples.shape[0]):
        a = method.expand(samples[s].T)
        for t in range(SPEC.num_tasks):
            logits = net.forward(x[t:t + 1], a, torch.tensor([t]))
            F.cross_entropy(logits[0], y[t]).backward()
    method.normalize_gradients(samples.shape[0])
    return {n: p.grad.clone() for n, p in net.named_parameters()}


@pytest.mark.parametrize("backbone", ["dkl-convnet", "mlp"])
def test_batched_sgd_step_equals_the_loop_of_the_released_code(backbone):
    torch.manual_seed(0)
    m = create_method("lws", SPEC, backbone)
    m.probs = torch.softmax(torch.randn(m.probs.shape, dtype=torch.float64), -1)  # a non-uniform distribution
    ref = copy.deepcopy(m)
    x, y = batch()
    torch.manual_seed(1)
    m.sgd_step(x, y)  # draws its samples first, then steps Adam
    torch.manual_seed(1)
    samples = ref.sample(ref.hparams["sgd_samples"])
    expected = reference_sgd_gradients(ref, x, y, samples)
    for name, p in m.net.named_parameters():
        torch.testing.assert_close(p.grad, expected[name], rtol=1e-4, atol=1e-6, msg=name)
    for (name, b), (_, b_ref) in zip(m.net.named_buffers(), ref.net.named_buffers()):
        torch.testing.assert_close(b, b_ref, rtol=1e-5, atol=1e-6, msg=name)  # BN moments, same order


def test_samples_per_pass_gives_the_same_gradients():
    torch.manual_seed(0)
    a = create_method("lws", SPEC, "dkl-convnet")
    b = create_method("lws", SPEC, "dkl-convnet", {"samples_per_pass": 3})
    b.net.load_state_dict(a.net.state_dict())
    batches = streams(batch(0), batch(1))
    torch.manual_seed(5)
    a.step(batches, 0)
    torch.manual_seed(5)
    b.step(batches, 0)
    torch.testing.assert_close(a.probs, b.probs)  # the NES fitness, computed in passes, ranks the same
    for (n, p), (_, q) in zip(a.net.named_parameters(), b.net.named_parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6, msg=n)


def test_nes_fitness_is_the_mean_loss_of_each_assignment_in_eval_mode():
    torch.manual_seed(0)
    m = create_method("lws", SPEC, "dkl-convnet")
    x, y = batch()
    samples = m.sample(4)
    m.net.eval()
    with torch.no_grad():
        losses = m._row_losses(x, y, samples)
        for s in range(4):
            a = m.expand(samples[s].T)
            for t in range(SPEC.num_tasks):
                ce = F.cross_entropy(m.net.forward(x[t:t + 1], a, torch.tensor([t]))[0], y[t])
                assert losses[s, t].item() == pytest.approx(ce.item(), rel=1e-5)


def test_gradient_normalisation_uses_expected_users():
    torch.manual_seed(0)
    m = create_method("lws", SPEC, "mlp")
    m.probs[0] = torch.tensor([[1.0, 0.0, 0.0]] * 3, dtype=torch.float64)  # layer 0: all tasks on slot 0
    for p in m.net.parameters():
        p.grad = torch.ones_like(p)
    m.normalize_gradients(2)
    w = m.net.layers[0].linear.weight.grad
    assert w[0].unique().tolist() == [pytest.approx(1 / (3 * 2))]  # 3 expected users x 2 samples
    assert m.net.head.linear.weight.grad.unique().tolist() == [0.5]


def test_training_learns_an_assignment_and_records_it():
    torch.manual_seed(0)
    m = create_method("lws", SPEC, "dkl-convnet", {"nes_lr": 0.1})
    x, y = batch()
    h0 = m.snapshot()["entropy"]
    for it in range(30):
        out = m.step(streams(batch(2 * it), batch(2 * it + 1)), it)
        assert math.isfinite(out["loss"])
    assert m.snapshot()["entropy"] < h0 == pytest.approx(math.log(3))
    d = m.describe()
    assert d["routed_layers"] == ["conv1", "conv2", "conv3", "fc1"]
    assert torch.tensor(d["probabilities"]).shape == (4, 3, 3)
    assert d["assignment"] == m.most_likely_assignment().tolist()
    assert len(d["group_sizes"]) == 3


def test_unshareable_trunk_is_never_routed():
    spec = TaskSpec(["a", "b"], [5, 5], (16, 16, 3))
    m = create_method("lws", spec, "routing-convnet", {"num_slots": 4})
    assert m.routed == [4, 5, 6] and m.probs.shape == (3, 2, 4)
    assert [u.conv.weight.shape[0] for u in list(m.net.layers)[:4]] == [1, 1, 1, 1]
    iso = create_method("isolated", spec, "routing-convnet")
    assert iso.describe()["distinct_slots_per_layer"] == [1, 1, 1, 1, 2, 2, 2]


@pytest.mark.parametrize("bad", [{"nes_samples": 1}, {"norm": "task-bn"}, {"min_prob": 1.5}, {"num_slots": -2}])
def test_bad_hyperparameters_are_rejected(bad):
    with pytest.raises(ValueError, match="lws"):
        create_method("lws", SPEC, "mlp", bad)


BACKBONE_CASES = [("routing-convnet", (16, 16, 3), {}), ("slo-convnet", (20, 20, 1), {}),
                  ("resnet18", (16, 16, 3), {"variant": "cifar", "width": 4}),
                  ("resnet18", (24, 24, 1), {"variant": "omniglot", "width": 4})]


@pytest.mark.parametrize("name,shape,options", BACKBONE_CASES)
def test_lws_backbones_batched_equal_the_loop(name, shape, options):
    from sharebench.methods.networks import BankedNet, backbone_layers

    torch.manual_seed(0)
    layers = backbone_layers(name, shape, **options)
    T, K = 4, 3
    slots = [K if s.shareable else 1 for s in layers]
    net = BankedNet(layers, [5, 3, 5, 2], slots)
    ref = copy.deepcopy(net)
    a = torch.randint(0, K, (T, len(layers)))
    a[:, [i for i, s in enumerate(layers) if not s.shareable]] = 0
    h, w, c = shape
    x, tasks = torch.rand(T, 3, c, h, w), torch.arange(T)
    out, out_ref = net(x, a, tasks), ref.forward_loop(x, a, tasks)
    finite = torch.isfinite(out_ref)
    torch.testing.assert_close(out[finite], out_ref[finite], rtol=1e-4, atol=1e-5)
    for b, b_ref in zip(net.buffers(), ref.buffers()):
        torch.testing.assert_close(b, b_ref, rtol=1e-4, atol=1e-5)


def test_resnet18_has_the_papers_size():
    from sharebench.methods.networks import backbone_layers

    layers = backbone_layers("resnet18", (32, 32, 3), variant="cifar")
    assert [s.name for s in layers][:3] == ["stem", "block1.1", "block1.2"] and len(layers) == 9
    blocks = sum(s.num_params() for s in layers if s.kind == "block")
    # ResNet-18 body: about 11M weights; full sharing ~11M, no sharing 20x (paper: 11M vs 223M)
    assert 10.5e6 < blocks + layers[0].num_params() < 11.3e6
    assert backbone_layers("resnet18", (105, 105, 1), variant="omniglot")[0].stride == 2


@pytest.mark.parametrize("p,p_min,expected", [(0.003, 1e-5, "reproduced"), (0.2, 1e-5, "**not reproduced**"),
                                              (0.05, 0.05, "cannot be tested")])
def test_claim_verdicts(p, p_min, expected):
    from sharebench.benchmarks.paperdata import claim_verdict
    from sharebench.benchmarks.papers.lws import CLAIMS

    assert claim_verdict(CLAIMS[0], p, p_min, comparable=True).startswith(expected)
    assert claim_verdict(CLAIMS[0], p, p_min, comparable=False).startswith("indicative")


def test_not_significant_claim_is_contradicted_by_a_small_p():
    from sharebench.benchmarks.paperdata import Claim, claim_verdict

    claim = Claim("lws-dkl-mnist", "lws", "isolated", "no difference", significant=False, level=0.01)
    assert claim_verdict(claim, 0.001, 1e-5, True).startswith("**contradicted**")
    assert claim_verdict(claim, 0.3, 1e-5, True).startswith("inconclusive: not contradicted")  # no margin: no TOST


def test_an_equality_claim_needs_the_equivalence_test_not_just_a_large_p():
    from sharebench.benchmarks.paperdata import claim_status, claim_verdict
    from sharebench.benchmarks.papers.lws import CLAIMS

    equal = next(c for c in CLAIMS if c.margin is not None)
    assert claim_verdict(equal, 0.4, 1e-5, True, delta=0.002, p_tost=0.003).startswith("equivalent")
    shown_nothing = claim_verdict(equal, 0.4, 1e-5, True, delta=0.002, p_tost=0.2)
    assert shown_nothing.startswith("inconclusive") and claim_status(shown_nothing) == "inconclusive"
    assert claim_status(claim_verdict(equal, 0.001, 1e-5, True, delta=0.03, p_tost=0.9)) == "not reproduced"
    assert claim_status(claim_verdict(equal, 0.4, 1e-5, False, delta=0.0, p_tost=0.001)) == "indicative"


def test_reference_numbers_are_the_papers_tables():
    from sharebench.benchmarks.papers.lws import PAPER

    assert PAPER.reference("lws-dkl-mnist", "lws", "error").mean == pytest.approx(11.83)
    assert PAPER.reference("lws-cifar100", "isolated", "error").mean == pytest.approx(36.50)
    assert PAPER.reference("lws-omniglot", "lws", "error").std == pytest.approx(2.54)
    assert PAPER.reference("lws-omniglot", "partial", "error") is None  # the paper prints no prior sharing
