"""Pretrain-Finetune (Zhang et al., Sec. 5.1, Baseline IV).

"We first train a joint model from all the datasets by sharing weights. We then fine-tune the
joint model on each dataset independently." Phase 1 (the first `pretrain_fraction` of the
iterations) is shareall; at the switch every task gets its own copy of the shared weights (and of
the shared BN row) and training continues with per-task weights and a fresh Adam state. The paper
does not give the split of the budget; we spend half on each phase (hyperparameter).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from sharebench.methods.hard_sharing import BankedMethod, _isolated
from sharebench.methods.registry import register


@register("finetune")
class PretrainFinetune(BankedMethod):
    HPARAMS: ClassVar[dict[str, Any]] = {**BankedMethod.HPARAMS, "pretrain_fraction": 0.5}
    PACKABLE: ClassVar[bool] = False  # its phase switch rebuilds the assignment of one copy

    def initial_assignment(self, num_layers: int) -> Tensor:
        if not 0.0 <= self.hparams["pretrain_fraction"] <= 1.0:
            raise ValueError(f"finetune: pretrain_fraction must be in [0, 1], got {self.hparams['pretrain_fraction']}")
        return torch.zeros(self.tasks.num_tasks, num_layers, dtype=torch.long)

    def slots_per_layer(self, used: list[int]) -> list[int]:
        return [self.tasks.num_tasks] * len(used)  # room for the per-task copies of phase 2

    @property
    def switch_iteration(self) -> int:
        return int(round(self.hparams["pretrain_fraction"] * self.total_iterations))

    @property
    def finetuning(self) -> bool:
        return bool((self.assignment != 0).any()) or self.tasks.num_tasks == 1

    def start_finetuning(self, iteration: int) -> None:
        for layer in range(len(self.layers)):
            for t in range(1, self.tasks.num_tasks):
                self.net.copy_slot(layer, 0, t)
        self.register_assignment(self.only_shareable(_isolated(self.tasks.num_tasks, len(self.layers))))
        self.optimizer, self.scheduler = self.make_optimizer(start=iteration)

    def update(self, x: Tensor, y: Tensor, iteration: int) -> dict[str, float]:
        if iteration >= self.switch_iteration and not self.finetuning:
            self.start_finetuning(iteration)
        out = super().update(x, y, iteration)
        out["phase"] = 2.0 if self.finetuning else 1.0
        return out
