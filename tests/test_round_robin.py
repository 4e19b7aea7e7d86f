"""`block_schedule: round-robin` (Zhang et al.'s block-coordinate updates with one momentum SGD per dataset, the
released code's optimiser): against independent torch SGD, against a hand-run sequence, the per-dataset decay, and
an exact resume."""

from __future__ import annotations

import copy

import pytest
import torch

from sharebench.methods.registry import TaskSpec, create_method

SPEC = TaskSpec(["a", "b"], [3, 4], (8, 8, 1), train_sizes=(64, 256))
RR = {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "block_schedule": "round-robin"}


def batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(2, 8, 1, 8, 8, generator=g), torch.randint(0, 3, (2, 8), generator=g)


def method(name: str, hparams: dict):
    torch.manual_seed(0)
    return create_method(name, SPEC, "dkl-convnet", {"same_init": True, **hparams},
                         backbone_options={"channels": 4, "hidden": 8})


def test_isolated_round_robin_is_each_dataset_s_own_momentum_sgd():
    """Isolated copies never interact, so stepping them in turn equals one simultaneous torch SGD step."""
    rr, plain = method("isolated", RR), method("isolated", {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9})
    for it in range(3):
        x, y = batch(it)
        rr.update(x, y, it)
        plain.update(x, y, it)
    start = method("isolated", RR).net.parameters()
    assert all(not torch.equal(a, b) for a, b in zip(rr.net.parameters(), start))  # every tensor moved
    for a, b in zip(rr.net.parameters(), plain.net.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_shareall_takes_one_step_per_dataset_in_turn():
    """One shared network: dataset a's step, then dataset b's from the moved weights (Gauss-Seidel), by hand."""
    rr = method("shareall", RR)
    ref = copy.deepcopy(rr.net)
    x, y = batch(0)
    rr.update(x, y, 0)
    tasks = torch.arange(2)
    for t in (0, 1):
        ref.zero_grad()
        logits = ref(x[t:t + 1], rr.assignment, tasks[t:t + 1])
        torch.nn.functional.cross_entropy(logits[0, :, : SPEC.num_classes[t]], y[t]).backward()
        with torch.no_grad():
            for p in ref.parameters():
                if p.grad is not None:
                    p -= 0.05 * p.grad  # first step: the momentum buffer is the gradient
    for a, b in zip(rr.net.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_each_dataset_decays_after_its_own_epochs():
    """decay_epochs 1 with batch 8: dataset a (64 images) decays every 8 of its steps, b (256) every 32."""
    m = method("isolated", {**RR, "decay_epochs": 1, "gamma": 0.1})
    for it in range(9):
        m.update(*batch(it), it)
    assert m.optimizer.task_lr(0, 8) == pytest.approx(0.005) and m.optimizer.task_lr(1, 8) == pytest.approx(0.05)


def test_l2_round_robin_resumes_exactly():
    m = method("l2", RR)
    for it in range(2):
        m.update(*batch(it), it)
    state = copy.deepcopy(m.state_dict())
    m.update(*batch(2), 2)
    resumed = method("l2", RR)
    resumed.load_state_dict(state)
    resumed.update(*batch(2), 2)
    for a, b in zip(m.net.parameters(), resumed.net.parameters()):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("bad", [{"block_schedule": "gauss"}, {"block_schedule": "round-robin"},
                                 {**RR, "schedule": "step"}, {"optimizer": "sgd", "decay_epochs": 3}])
def test_round_robin_refuses_what_it_does_not_do(bad):
    with pytest.raises(ValueError, match="block_schedule|decay_epochs"):
        method("l2", bad)
