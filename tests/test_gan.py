"""Joint GANs (Zhang et al. task III, Figure 6): the sharing schemes on both networks, isolation of the copies, the
coupling and IRLS on each chain, fixed-z samples, the coverage diagnostic, and a job that resumes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sharebench.benchmarks.config import resolve_experiment
from sharebench.benchmarks.metrics import evaluate
from sharebench.benchmarks.runner import Job, run_job
from sharebench.datasets.suites import build_suite, save_suite
from sharebench.methods import TaskSpec, create_method
from tests.test_runner import assert_resumes_exactly

SPEC = TaskSpec(["a", "b", "c"], [10, 10, 10], (16, 16, 1))


def _gan(name: str, iterations: int = 10, seed: int = 0, **hparams):
    torch.manual_seed(seed)
    return create_method(name, SPEC, "dcgan", {"width": 4, "latent": 8, **hparams}, total_iterations=iterations)


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(3, 6, 1, 16, 16, generator=g), torch.zeros(3, 6, dtype=torch.long)


def _slot(chain, slot: int) -> list[torch.Tensor]:
    return [t[slot].clone() for unit in chain.layers for t in unit.slot_tensors(norm_per_slot=True)]


def test_sharing_schemes_lay_out_the_slots_of_both_networks():
    iso, shared = _gan("gan-isolated"), _gan("gan-shareall")
    assert iso.slots.tolist() == [[0] * 4, [1] * 4, [2] * 4] and shared.slots.eq(0).all()
    assert iso.g.layers[0].num_slots == 3 and shared.d.layers[0].num_slots == 1
    for chain in (iso.g, iso.d):  # same_init: every copy starts as slot 0
        assert all(torch.equal(a, b) for a, b in zip(_slot(chain, 0), _slot(chain, 2)))
    fine = _gan("gan-finetune", iterations=4)
    x, y = _batch()
    for it in range(2):
        fine.update(x, y, it)
    assert fine.slots.eq(0).all() and not fine.finetuning
    fine.update(x, y, 2)  # the switch at round(0.5 * 4): copies of the shared networks, then one step each
    assert fine.finetuning and fine.slots[:, 0].tolist() == [0, 1, 2]


def test_isolated_copies_do_not_see_the_other_domains():
    """Domain 0's generator and discriminator are the same whatever domain 1's images are."""
    a, b = _gan("gan-isolated"), _gan("gan-isolated")
    x, y = _batch()
    other = x.clone()
    other[1] = torch.rand_like(other[1])
    for it in range(3):
        torch.manual_seed(it)
        a.update(x, y, it)
        torch.manual_seed(it)
        b.update(other, y, it)
    for chain_a, chain_b in ((a.g, b.g), (a.d, b.d)):
        assert all(torch.equal(p, q) for p, q in zip(_slot(chain_a, 0), _slot(chain_b, 0)))
        assert not all(torch.equal(p, q) for p, q in zip(_slot(chain_a, 1), _slot(chain_b, 1)))


def test_l2_and_irls_couple_each_chain_and_irls_reweights_both():
    l2 = _gan("gan-l2", same_init=False)
    assert float(l2.penalty("g").detach()) > 0 and float(l2.penalty("d").detach()) > 0
    assert _gan("gan-isolated").penalty("g") is None
    irls = _gan("gan-irls", iterations=20)
    x, y = _batch()
    for it in range(20):
        out = irls.update(x, y, it)
    assert {"penalty_g", "penalty_d"} <= set(out)
    info = irls.describe()
    for chain in ("g", "d"):
        s = info[f"irls_{chain}"]
        assert s["reweight_iterations"][0] == 2 and s["k"] >= 1 and len(s["sigma"]) == 3  # 4 layers, 3 pairs
        assert all(0 < w <= 1 for row in s["final_weights"] for w in row)
    assert info["irls_g"]["pairs"][0] == ["project", "up1"] and info["irls_d"]["pairs"][-1] == ["conv3", "logit"]


def test_samples_come_from_a_fixed_z_and_leave_the_running_moments_alone():
    gan = _gan("gan-irls")
    before = {k: v.clone() for k, v in gan.g.state_dict().items()}
    first, again = gan.generate(1, 5), gan.generate(1, 5)
    assert first.shape == (5, 1, 16, 16) and torch.equal(first, again)
    assert all(torch.equal(before[k], v) for k, v in gan.g.state_dict().items())
    samples = gan.final_artifacts([], [])["samples"]
    assert set(samples) == {"a", "b", "c"} and np.asarray(samples["a"]).shape == (16, 16, 16, 1)


class _Fixed:
    """A 'generator' whose samples are all-0 and all-1 images."""

    def generate(self, task: int, n: int = 64) -> torch.Tensor:
        return torch.stack([torch.zeros(1, 2, 2), torch.ones(1, 2, 2)])


def test_coverage_is_the_error_to_the_nearest_sample():
    x = torch.tensor([0.25, 0.5, 1.0]).view(3, 1, 1, 1).expand(3, 1, 2, 2)
    m = evaluate(_Fixed(), {"x_test": [x], "y_test": [torch.zeros(3)]}, ["a"], ["sample_coverage_mse"])
    assert m["sample_coverage_mse"] == pytest.approx((0.25 ** 2 + 0.5 ** 2 + 0.0) / 3)


def test_bad_image_sizes_are_refused():
    with pytest.raises(ValueError, match="divides by 8"):
        create_method("gan-isolated", TaskSpec(["a"], [10], (20, 20, 1)), "dcgan", {})


def test_a_gan_job_records_samples_and_resumes_across_the_finetune_switch(tmp_path):
    save_suite(build_suite("embedded"))
    raw = {"suite": "embedded", "backbone": "dcgan", "reference": "gan-isolated", "metrics": ["sample_coverage_mse"],
           "methods": {"gan-isolated": {"width": 4}, "gan-finetune": {"width": 4}},
           "profiles": {"quick": {"iterations": 8, "eval_interval": 2, "seeds": 1}}}
    exp = resolve_experiment("tiny-gan", raw, "quick", {})
    whole = run_job(Job(exp, "gan-finetune", 0), progress=False)
    assert 0 < whole["metrics"]["sample_coverage_mse"] < 1 and len(whole["artifacts"]["samples"]) == 5
    assert_resumes_exactly(exp, "gan-finetune", whole, 6)
    from sharebench.benchmarks.papers import zhang, zhang_figures

    text = "\n".join(zhang_figures.figure6(exp, tmp_path, zhang.LABELS))
    assert "### Figure 6: samples, `tiny-gan`" in text
    assert (tmp_path / "figures" / "tiny-gan-fig6.png").stat().st_size > 1000
