"""Zhang et al.'s joint learning by IRLS: the coupling terms, the robust norm, Eq. 7's weights, the schedule."""

from __future__ import annotations

import math

import pytest
import torch

from sharebench.benchmarks.runner import Job, run_job
from sharebench.methods import TaskSpec, create_method
from sharebench.methods.coupling import (
    adjacent_pair_sq_distances,
    eq7_weights,
    geman_mcclure,
    layer_sq_distances,
    max_change,
    median_threshold_weights,
    pair_indices,
    sigma_from,
    weighted_penalty,
)
from tests.test_runner import assert_resumes_exactly, tiny_experiment

SPEC = TaskSpec(["a", "b", "c"], [10, 10, 10], (16, 16, 1))


def _method(name: str, seed: int = 0, iterations: int = 20, **hparams):
    torch.manual_seed(seed)
    return create_method(name, SPEC, "dkl-convnet", hparams, total_iterations=iterations)


def test_pair_distances_are_the_brute_force_sums():
    g = torch.Generator().manual_seed(0)
    w, b = torch.randn(4, 3, 5, generator=g), torch.randn(4, 3, generator=g)
    d = layer_sq_distances([w, b], 4)
    i, j = pair_indices(4)
    for k, (a, c) in enumerate(zip(i.tolist(), j.tolist())):
        assert d[k].item() == pytest.approx(((w[a] - w[c]) ** 2).sum().item() + ((b[a] - b[c]) ** 2).sum().item())
    assert torch.equal(layer_sq_distances([torch.ones(1, 3)], 4), torch.zeros(6))  # hard-shared: one slot
    assert torch.allclose(adjacent_pair_sq_distances([d, 2 * d, 3 * d]), torch.stack([3 * d, 5 * d]))


def test_unit_weights_give_the_l2_baselines_penalty():
    """Eq. 8 with every w = 1 is Eq. 5, which `l2` computes by another formula."""
    for fraction in (0.0, 0.5):
        l2 = _method("l2", hard_shared_fraction=fraction)
        irls = _method("irls", hard_shared_fraction=fraction)
        irls.net.load_state_dict(l2.net.state_dict())
        d2 = irls.pair_sq_distances()
        got = weighted_penalty(d2, torch.ones_like(d2), 10.0)
        assert got.item() == pytest.approx(l2.penalty().item(), rel=1e-5)
        assert irls.penalty().item() == l2.penalty().item()  # the L2 stage is the l2 baseline


def test_the_joint_gradient_is_eq9_for_every_copy():
    """d/d theta_i of sum_{i<j} c_ij ||theta_i - theta_j||^2 = 2 (sum_j c_ij)(theta_i - m_i), m_i the c-weighted mean
    of the other copies (Eq. 9): one simultaneous step is a block-coordinate step for every network."""
    g = torch.Generator().manual_seed(1)
    theta = torch.randn(4, 7, generator=g, dtype=torch.float64, requires_grad=True)
    c = torch.rand(6, generator=g, dtype=torch.float64)
    weighted_penalty(layer_sq_distances([theta], 4).unsqueeze(0), c.unsqueeze(0), 1.0).backward()
    cm = torch.zeros(4, 4, dtype=torch.float64)
    i, j = pair_indices(4)
    cm[i, j], cm[j, i] = c, c
    for k in range(4):
        m = (cm[k].unsqueeze(1) * theta.detach()).sum(0) / cm[k].sum()
        torch.testing.assert_close(theta.grad[k], 2 * cm[k].sum() * (theta.detach()[k] - m))


def test_robust_norm_and_eq7_weights_by_hand():
    x = torch.tensor([0.0, 1.0, 2.0, 100.0], dtype=torch.float64)
    assert geman_mcclure(x, 2.0).tolist() == pytest.approx([0.0, 4 / 5, 2.0, 4 * 1e4 / (4 + 1e4)])
    sigma = torch.tensor([2.0], dtype=torch.float64)
    w = eq7_weights((x ** 2).unsqueeze(0), sigma)
    assert w[0].tolist() == pytest.approx([1.0, 4 / 5, 0.5, 4 / (4 + 1e4)])  # 1 at d = 0, 1/2 at d = sigma
    assert eq7_weights((x ** 2).unsqueeze(0), sigma, "mm")[0].tolist() == pytest.approx((w[0] ** 2).tolist())
    flat = eq7_weights(torch.tensor([[0.0, 0.5]]), torch.tensor([0.0]))  # sigma 0: identical copies only
    assert flat.tolist() == [[1.0, 0.0]]
    with pytest.raises(ValueError, match="weight_rule"):
        eq7_weights(x.unsqueeze(0), sigma, "huber")


def test_sigma_is_the_mean_nearest_neighbour_distance():
    # copies at 0, 1 and 3 on a line: pairs (0,1) = 1, (0,2) = 3, (1,2) = 2; nearest neighbours 1, 1, 2
    d2 = torch.tensor([[1.0, 9.0, 4.0]])
    assert sigma_from(d2, 3).tolist() == pytest.approx([4 / 3])


def test_reweighting_stops_when_the_largest_change_is_small(monkeypatch):
    """A scripted run of distances whose weights change by 0.5, 0.2, 0.05, then 0.005: converged at k = 4."""
    m = _method("irls", iterations=100)
    sigma = 1.0
    targets = [0.5, 0.7, 0.75, 0.755]  # the weight of every pair after each reweighting
    d2s = [torch.full_like(m.weights, sigma ** 2 / t - sigma ** 2) for t in targets]
    m.schedule.sigma = torch.full((m.weights.shape[0],), sigma, dtype=torch.float64)
    monkeypatch.setattr(m, "pair_sq_distances", lambda: d2s[m.k])
    for k in range(4):
        m.reweight(10 + k)
        assert m.phase == ("converged" if k == 3 else "irls")
    assert m.history["deltas"] == pytest.approx([0.5, 0.2, 0.05, 0.005])
    assert max_change(m.weights, torch.full_like(m.weights, 0.755)) < 1e-12


def test_irls_is_the_l2_baseline_until_the_first_reweighting():
    l2, irls = _method("l2"), _method("irls")
    g = torch.Generator().manual_seed(2)
    for it in range(irls.start):
        x, y = torch.rand(3, 8, 1, 16, 16, generator=g), torch.randint(0, 10, (3, 8), generator=g)
        assert irls.update(x, y, it)["penalty"] == l2.update(x, y, it)["penalty"]
    for a, b in zip(irls.net.state_dict().values(), l2.net.state_dict().values()):
        assert torch.equal(a, b)
    assert irls.k == 0 and irls.sigma is None


def test_an_irls_job_records_its_reweightings_and_resumes_across_one():
    exp = tiny_experiment({"isolated": {}, "irls": {"max_reweights": 4}}, iterations=12)
    whole = run_job(Job(exp, "irls", 0), progress=False)
    info = whole["method_info"]
    assert info["reweight_iterations"][0] == 1 and len(info["sigma"]) == len(info["pairs"]) == 3
    assert 1 <= info["k"] <= 4 and info["irls_phase"] in ("irls", "converged", "stopped")
    assert len(info["weights_history"]) == info["k"] == len(info["delta_history"])
    assert all(0 < w <= 1 for row in info["final_weights"] for w in row)
    assert whole["curves"]["method"]["closs_robust"][0] is None  # no sigma before the first reweighting
    assert not math.isnan(whole["curves"]["method"]["closs_robust"][-1])
    assert_resumes_exactly(exp, "irls", whole, 5)


def test_bad_irls_settings_are_clear_errors():
    with pytest.raises(ValueError, match="init_fraction"):
        _method("irls", init_fraction=1.0)


@pytest.mark.parametrize("tasks,expected", [
    (2, [0.0]), (3, [0.5, 0.0, 0.0]), (5, [1, 1, 1, 0.5] + [0] * 6), (8, [1] * 12 + [0] * 16)])
def test_released_code_weights_are_the_median_threshold(tasks, expected):
    """specs/zhang.md 6's vectors: distinct distances, pairs ranked ascending; numpy's median over all T^2 entries,
    the zero diagonal included. The ranks are scattered over the pairs to check that order does not matter."""
    n = tasks * (tasks - 1) // 2
    ranks = torch.randperm(n, generator=torch.Generator().manual_seed(tasks))
    w = median_threshold_weights((ranks + 1).double(), tasks)
    assert w.tolist() == [float(expected[r]) for r in ranks.tolist()]


def test_released_code_variant_ties_tensors_then_fixes_weights_and_restarts():
    m = _method("irls-code", iterations=40)
    initial = {k: v.clone() for k, v in m.net.state_dict().items()}
    g = torch.Generator().manual_seed(3)
    x, y = torch.rand(3, 8, 1, 16, 16, generator=g), torch.randint(0, 10, (3, 8), generator=g)
    brute = sum(0.5 * 0.005 * ((t[a] - t[b]) ** 2).sum() for t in m.tied_tensors() for a, b in ((0, 1), (0, 2), (1, 2)))
    assert m.penalty().item() == pytest.approx(brute.item(), rel=1e-5)  # phase A: every w = 1, (mu / 2) ||.||^2
    assert len(m.tied_tensors()) == 3 + 2  # three conv weights (no bias under BN), the dense weight and bias
    m.update(x, y, 0)
    assert any(not torch.equal(v, initial[k]) for k, v in m.net.state_dict().items())
    m.update(x, y, m.start)  # the switch: weights fixed, every copy back to its initial state, then one step
    assert m.switched and set(m.weights.flatten().tolist()) <= {0.0, 0.5, 1.0}
    m.switch(m.start)  # again, to look at the state right after a restart
    assert all(torch.equal(v, initial[k]) for k, v in m.net.state_dict().items())
    assert m.describe()["variant"] == "released code, not the paper"
