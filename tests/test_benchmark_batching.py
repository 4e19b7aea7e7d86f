"""One training step for all tasks: batched over the weight banks vs a Python loop over tasks.

    pytest tests/test_benchmark_batching.py --benchmark-enable --benchmark-group-by=param:case

"keys" is the CPU default (distinct row prefixes in NHWC, methods/rowplan.py); "batched" forces one
convolution per distinct slot (one bmm per dense layer); "grouped" forces one grouped convolution over all
tasks (the CUDA path); "loop" is one forward pass per task. All compute the same thing (tests/test_methods.py
checks it); each group shows the ratios. The suite runs with benchmarks disabled (each step runs once,
so it is still exercised).
"""

from __future__ import annotations

import pytest
import torch

from sharebench.methods.hard_sharing import multitask_loss
from sharebench.methods.networks import BankedNet, backbone_layers

CASES = {  # name -> (tasks, image size, assignment builder)
    "shareall-T5": (5, 16, lambda T, L: torch.zeros(T, L, dtype=torch.long)),
    "isolated-T5": (5, 16, lambda T, L: torch.arange(T)[:, None].repeat(1, L)),
    "shareall-T3-28px": (3, 28, lambda T, L: torch.zeros(T, L, dtype=torch.long)),
    "isolated-T3-28px": (3, 28, lambda T, L: torch.arange(T)[:, None].repeat(1, L)),
    "shareall-T20": (20, 16, lambda T, L: torch.zeros(T, L, dtype=torch.long)),
    "isolated-T20": (20, 16, lambda T, L: torch.arange(T)[:, None].repeat(1, L)),
}


def make_step(case: str, mode: str):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    T, size, build = CASES[case]
    layers = backbone_layers("dkl-convnet", (size, size, 1))
    net = BankedNet(layers, [10] * T, [T] * len(layers))
    net.conv_strategy = {"keys": "keys", "grouped": "grouped"}.get(mode, "per-slot")
    assignment, tasks = build(T, len(layers)), torch.arange(T)
    x, y = torch.rand(T, 16, 1, size, size), torch.randint(0, 10, (T, 16))
    forward = net.forward_loop if mode == "loop" else net

    def step():
        net.zero_grad(set_to_none=True)
        loss = multitask_loss(forward(x, assignment, tasks), y)
        loss.backward()
        return float(loss.detach())

    return step


@pytest.mark.parametrize("mode", ["keys", "batched", "grouped", "loop"])
@pytest.mark.parametrize("case", list(CASES))
def test_training_step(benchmark, case, mode):
    step = make_step(case, mode)
    step()  # warm-up
    loss = benchmark(step)
    assert torch.isfinite(torch.tensor(loss))
