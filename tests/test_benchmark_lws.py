"""One LWS training iteration (NES step + SGD step): batched over the weight banks vs the released
code's loop over samples and tasks.

    pytest tests/test_benchmark_lws.py --benchmark-enable --benchmark-group-by=param:case

"batched" is `LearnedWeightSharing.step`: all lambda samples x T tasks as lambda*T rows in a few kernels per
layer. "loop" is the straightforward implementation of Algorithm 1 as in the authors' code: one forward
pass per (sample, task) for NES, one forward and backward pass per (sample, task) for SGD. Both then do
the same NES update, gradient normalisation and Adam step. tests/test_lws.py checks they compute the
same gradients. The suite runs with benchmarks disabled (each step runs once).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sharebench.benchmarks.sampling import Batch
from sharebench.methods import TaskSpec, create_method
from sharebench.methods.lws import nes_update, rank_utilities

CASES = {  # name -> (tasks, slots K, image size)
    "dkl-T3-K3-28px": (3, 3, 28),
    "quick-T5-K3-16px": (5, 3, 16),
    "T20-K20-16px": (20, 20, 16),
}


def loop_step(m, batches) -> float:
    """Algorithm 1 as a Python loop over samples and tasks (the released code's structure)."""
    (xn, yn), (xs, ys) = batches
    T, tasks = m.tasks.num_tasks, torch.arange(m.tasks.num_tasks)
    m.net.eval()
    samples = m.sample(m.hparams["nes_samples"])
    with torch.no_grad():
        fitness = torch.stack([
            torch.stack([F.cross_entropy(m.net.forward(xn[t:t + 1], m.expand(s.T), tasks[t:t + 1])[0], yn[t])
                         for t in range(T)]).mean() for s in samples]).double()
    m.probs = nes_update(m.probs, samples, rank_utilities(fitness), m.hparams["nes_lr"], m.hparams["min_prob"])
    m.net.train()
    samples = m.sample(m.hparams["sgd_samples"])
    m.optimizer.zero_grad(set_to_none=False)
    total = 0.0
    for s in samples:
        a = m.expand(s.T)
        for t in range(T):
            loss = F.cross_entropy(m.net.forward(xs[t:t + 1], a, tasks[t:t + 1])[0], ys[t])
            loss.backward()
            total += float(loss.detach())
    m.normalize_gradients(len(samples))
    m.optimizer.step()
    return total / len(samples)


def make_step(case: str, mode: str):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    T, K, size = CASES[case]
    m = create_method("lws", TaskSpec([f"t{i}" for i in range(T)], [10] * T, (size, size, 1)), "dkl-convnet",
                      {"num_slots": K})
    batches = [(torch.rand(T, 16, 1, size, size), torch.randint(0, 10, (T, 16))) for _ in range(2)]
    if mode == "loop":
        return lambda: loop_step(m, batches)
    streams = {name: Batch(x, y, torch.arange(T)) for name, (x, y) in zip(("nes", "sgd"), batches)}
    return lambda: m.step(streams, 0)["loss"]


@pytest.mark.parametrize("mode", ["batched", "loop"])
@pytest.mark.parametrize("case", list(CASES))
def test_lws_training_step(benchmark, case, mode):
    step = make_step(case, mode)
    step()  # warm-up
    loss = benchmark(step)
    assert torch.isfinite(torch.tensor(loss))
