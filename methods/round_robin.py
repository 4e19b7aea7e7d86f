"""One momentum-SGD optimiser per dataset, stepped one dataset at a time (Zhang et al.'s paper profile).

Zhang et al. optimise the joint objective "in a block-coordinate manner": each network in turn, the others fixed
(Eq. 9). Their released code keeps one TF `MomentumOptimizer` per dataset (momentum 0.9, lr 0.01, x0.1 every 60
epochs *of that dataset*, staircase; specs/zhang.md 2.8). `block_schedule: round-robin` does the same on a banked
network: per iteration, for t = 1..T, dataset t's loss (plus the coupling penalty) is back-propagated and only the
slots dataset t uses (its slot in every layer and its head) move, with dataset t's own momentum buffers and learning
rate. A layer shared by several datasets (shareall, the hard-shared prefix of L2Reg 25/50 %, finetune's first phase)
is thus stepped once per dataset per iteration, as separate optimisers over one shared variable do.

The per-dataset rate is lr x gamma^floor(k_t / (decay_epochs x floor(N_t / B))) after k_t steps of dataset t, where
N_t is its training-set size and B the batch (TF's exponential_decay, staircase, applied to the whole momentum
accumulator as TF does). Rows a dataset does not use keep their values, and it holds no buffer for them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


class RoundRobinSGD:
    """Momentum SGD per dataset over stacked (slot-leading) tensors; `step_task(t, rows)` moves rows[i] of tensor i.

    Also stands in for the LR scheduler of the simultaneous path (`step` is a no-op: the rates follow each dataset's
    own step count), so the method's state dict keeps one shape."""

    def __init__(self, params: list[nn.Parameter], tasks: int, lr: float, momentum: float, weight_decay: float,
                 gamma: float, decay_epochs: int, train_sizes: tuple[int, ...]):
        if decay_epochs and len(train_sizes) != tasks:
            raise ValueError("per-dataset lr decay (decay_epochs) needs each dataset's training-set size")
        self.params, self.tasks = params, tasks
        self.lr, self.momentum, self.weight_decay, self.gamma = lr, momentum, weight_decay, gamma
        self.decay_epochs, self.train_sizes = decay_epochs, train_sizes
        self.steps = [0] * tasks
        # per dataset, a momentum buffer for each (tensor, slot) it has stepped: one network's worth per dataset
        self.buffers: list[dict[tuple[int, int], Tensor]] = [{} for _ in range(tasks)]

    def decay_every(self, task: int, batch: int) -> int:
        """Steps of dataset `task` between two decays: decay_epochs x its steps per epoch (0: never)."""
        if not self.decay_epochs:
            return 0
        return self.decay_epochs * max(1, self.train_sizes[task] // batch)

    def task_lr(self, task: int, batch: int) -> float:
        every = self.decay_every(task, batch)
        return self.lr * (self.gamma ** (self.steps[task] // every) if every else 1.0)

    @torch.no_grad()
    def step_task(self, task: int, rows: list[Tensor], batch: int) -> None:
        """One step of dataset `task`: tensor i moves at its slots rows[i] (indices into its leading dimension)."""
        lr = self.task_lr(task, batch)
        buffers = self.buffers[task]
        for i, (p, r) in enumerate(zip(self.params, rows)):
            if p.grad is None:
                continue
            for slot in r.tolist():
                g = p.grad[slot]
                if self.weight_decay:
                    g = g + self.weight_decay * p[slot]
                buf = buffers.get((i, slot))
                buf = buffers[(i, slot)] = g.clone() if buf is None else buf.mul_(self.momentum).add_(g)
                p[slot] -= lr * buf
        self.steps[task] += 1

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None if set_to_none else (p.grad.zero_() if p.grad is not None else None)

    def step(self) -> None:
        """The scheduler's step: nothing (see the class docstring)."""

    def state_dict(self) -> dict[str, Any]:
        return {"steps": list(self.steps), "buffers": [{key: b.clone() for key, b in per_task.items()}
                                                       for per_task in self.buffers]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = list(state["steps"])
        self.buffers = [{key: b.clone().to(self.params[key[0]].device) for key, b in per_task.items()}
                        for per_task in state["buffers"]]
