"""Seed packing (issue 8's GPU path): S seeds of an arm as one banked model compute what S models would."""

from __future__ import annotations

import pytest
import torch

from sharebench.benchmarks.packed_runs import can_pack, pack_groups, run_packed
from sharebench.benchmarks.runner import Job, checkpoint_path, run_job, run_jobs
from sharebench.methods import TaskSpec, create_method
from sharebench.methods.packing import pack, unpack_into
from tests.test_runner import strip, tiny_experiment

SPEC = TaskSpec(["a", "b", "c"], [10, 26, 10], (28, 28, 1))
ARMS = [("isolated", {}), ("shareall", {}), ("partial", {"shared_layers": [0, 1]}), ("lws", {"num_slots": 3})]


def _copies(name: str, hparams: dict, seeds: int) -> list:
    out = []
    for s in range(seeds):
        torch.manual_seed(s)
        out.append(create_method(name, SPEC, "dkl-convnet", hparams, total_iterations=10))
    return out


def _batches(seeds: int, generator: torch.Generator) -> tuple[list, list]:
    xs = [torch.rand(3, 8, 1, 28, 28, generator=generator, dtype=torch.float64) for _ in range(seeds)]
    ys = [torch.stack([torch.randint(0, k, (8,), generator=generator) for k in SPEC.num_classes])
          for _ in range(seeds)]
    return xs, ys


def _replay(method, draws: list[torch.Tensor]) -> None:
    """Make an LWS method use the given assignment draws instead of sampling."""
    it = iter(draws)
    method.sample = lambda n: next(it)


@pytest.mark.parametrize("name,hparams", ARMS, ids=[a for a, _ in ARMS])
def test_packed_steps_equal_separate_steps(name, hparams):
    """Three steps of a packed model = three steps of each copy alone (float64, same batches, same LWS draws):
    weights, batch-norm moments, Adam's effect, assignments and search distributions."""
    torch.set_default_dtype(torch.float64)
    try:
        S, T = 3, SPEC.num_tasks
        copies = _copies(name, hparams, S)
        alone = _copies(name, hparams, S)  # the same seeds: the same initial weights
        packed = pack(copies)
        g = torch.Generator().manual_seed(0)
        for it in range(3):
            xs, ys = _batches(S, g)
            if name == "lws":
                packed.__dict__.pop("sample", None)
                torch.manual_seed(100 + it)
                draws = [packed.sample(8), packed.sample(8)]  # [n, L, S*T]: copy s owns tasks s*T..s*T+T-1
                for s, m in enumerate(alone):
                    _replay(m, [d[:, :, s * T:(s + 1) * T] for d in draws])
                    m.nes_step(xs[s], ys[s])
                    m.sgd_step(xs[s], ys[s])
                _replay(packed, draws)
                packed.nes_step(torch.cat(xs), torch.cat(ys))
                packed.sgd_step(torch.cat(xs), torch.cat(ys))
            else:
                for s, m in enumerate(alone):
                    m.update(xs[s], ys[s], it)
                packed.update(torch.cat(xs), torch.cat(ys), it)
        unpack_into(packed, copies)
        for m, ref in zip(copies, alone):
            for (key, a), b in zip(m.net.state_dict().items(), ref.net.state_dict().values()):
                torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12, msg=key)
            assert torch.equal(m.assignment.cpu(), ref.assignment.cpu())
            if name == "lws":
                torch.testing.assert_close(m.probs, ref.probs, rtol=1e-12, atol=1e-12)
        assert any(not torch.equal(a, b) for a, b in zip(copies[0].net.state_dict().values(),
                                                          copies[1].net.state_dict().values())
                   if a.is_floating_point())  # the copies really are different models
    finally:
        torch.set_default_dtype(torch.float32)


def test_pack_refuses_what_it_cannot_pack():
    with pytest.raises(ValueError, match="cannot be packed"):
        pack(_copies("l2", {}, 2))
    with pytest.raises(ValueError, match="same method and hyperparameters"):
        pack([*_copies("lws", {"num_slots": 3}, 1), *_copies("lws", {"num_slots": 2}, 1)])


def test_groups_hold_seeds_of_one_arm():
    exp = tiny_experiment({"isolated": {}, "l2": {}})
    jobs = [Job(exp, m, s) for s in range(5) for m in ("isolated", "l2")]
    groups = pack_groups(jobs, 2)
    assert [[(j.method, j.seed) for j in g] for g in groups] == [
        [("isolated", 0), ("isolated", 1)], [("l2", 0)], [("l2", 1)], [("isolated", 2), ("isolated", 3)],
        [("l2", 2)], [("l2", 3)], [("isolated", 4)], [("l2", 4)]]
    assert not can_pack(Job(exp, "l2", 0))
    assert pack_groups(jobs, 1) == [[j] for j in jobs]


def test_packed_baseline_run_gives_the_unpacked_records():
    """A packed isolated / shareall run draws nothing of its own: every seed's record equals its unpacked
    record up to float32 summation order (the same batches, the same initial weights)."""
    exp = tiny_experiment(iterations=10)
    for arm in ("isolated", "shareall"):
        packed = run_packed([Job(exp, arm, 0), Job(exp, arm, 1)], progress=False)
        for seed, rec in enumerate(packed):
            alone = run_job(Job(exp, arm, seed), progress=False)
            assert rec["packed"]["seeds"] == [0, 1] and rec["config_hash"] == alone["config_hash"]
            for a, b in zip(rec["curves"]["metrics"]["accuracy"], alone["curves"]["metrics"]["accuracy"]):
                assert a == pytest.approx(b, abs=2e-3)  # at most one of ~500 test images flips
            assert rec["method_info"]["assignment"] == alone["method_info"]["assignment"]


def test_packed_lws_run_resumes_exactly_and_is_skipped_when_done():
    exp = tiny_experiment({"isolated": {}, "lws": {"num_slots": 2}}, iterations=10)
    jobs = [Job(exp, "lws", 0), Job(exp, "lws", 1)]
    whole = run_packed(jobs, progress=False)
    with pytest.raises(KeyboardInterrupt):
        run_packed(jobs, progress=False, stop_after=5)
    assert any(p.name.endswith(".pt") for p in checkpoint_path("x").parent.iterdir())
    resumed = run_packed(jobs, progress=False)
    assert [r["resumed_from"] for r in resumed] == [5, 5]
    assert [strip(r) for r in resumed] == [strip(r) for r in whole]
    assert whole[0]["curves"]["metrics"]["accuracy"] != whole[1]["curves"]["metrics"]["accuracy"]
    assert run_jobs(jobs, pack=2) == []  # records current: nothing runs
