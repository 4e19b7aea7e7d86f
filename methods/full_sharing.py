"""Full sharing (Bilen & Vedaldi, Sec. 4.1, Table 2): every layer shared, the classifier included.

"We randomly pair digits with objects": output unit k of the one shared classifier serves one class of every
domain. Domains whose labels are digits (suite metadata `label_semantics: digits`) keep the identity, so digit k
uses output k in every digit domain (the literal reading: digits are paired with objects); every other domain
gets the permutation RandomState(pairing_seed + task index) (specs/bilen.md A15). Normalisation stays
domain-specific (the caption's "domain-specific scale and bias"), as in deep sharing. The shared classifier's
gradient is the mean over domains, like every shared weight (usage normalisation).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from sharebench.methods.hard_sharing import DeepSharing
from sharebench.methods.registry import TaskSpec, register


def class_pairing(tasks: TaskSpec, seed: int) -> list[list[int]]:
    """Per task, pairing[t][c] = the shared output that task t's class c is trained on."""
    pairing = []
    for t, k in enumerate(tasks.num_classes):
        digits = t < len(tasks.label_semantics) and tasks.label_semantics[t] == "digits"
        perm = np.arange(k) if digits else np.random.RandomState(seed + t).permutation(k)
        pairing.append([int(c) for c in perm])
    return pairing


@register("full")
class FullSharing(DeepSharing):
    HPARAMS: ClassVar[dict[str, Any]] = {**DeepSharing.HPARAMS, "pairing_seed": 0}
    SHARED_HEAD: ClassVar[bool] = True
    COMPLETION: ClassVar[bool] = False

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.pairing = class_pairing(self.tasks, int(self.hparams["pairing_seed"]))
        self.pairing_table = torch.tensor(self.pairing, device=self.device)  # [T, K]

    def update(self, x: Tensor, y: Tensor, iteration: int) -> dict[str, float]:
        paired = torch.gather(self.pairing_table, 1, y.clamp_min(0))
        return super().update(x, paired.masked_fill(y < 0, -1), iteration)

    @torch.no_grad()
    def predict(self, x: Tensor, task: int) -> Tensor:
        """Logits in the domain's own label order: class c reads shared output pairing[task][c]."""
        return super().predict(x, task)[:, self.pairing_table[task]]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "class_pairing": self.pairing}
