"""L2-regularised joint training (Zhang et al., Baseline II, Eq. 5), with optional hard sharing.

Every task keeps its own copy of the hidden layers; copies are pulled together by

    lambda * sum_{i<j} sum_l || (theta_i^l, theta_i^{l+1}) - (theta_j^l, theta_j^{l+1}) ||^2   (Eq. 5)

over adjacent pairs of hidden layers (a layer that is hard-shared contributes zero distance).
lambda = 10 as in the paper ("we choose lambda = 10 for all the experiments"); the released code
uses 0.005 * 1/2 ||.||^2 per tensor instead (official-code-notes A). Output layers are never tied
(their shapes differ), and batch-norm parameters are not tied (as in the released code).

`l2-25` / `l2-50` are the paper's "L2Reg with 25% / 50% weight shared in the first few layers": the
leading layers whose parameter share is closest to the target are hard-shared and the rest tied;
the share actually obtained is recorded (`describe()`), since layer boundaries rarely fall on 25%.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from sharebench.methods.hard_sharing import BankedMethod, _isolated
from sharebench.methods.networks import LayerSpec
from sharebench.methods.registry import register


def hard_shared_prefix(layers: list[LayerSpec], fraction: float) -> int:
    """Number of leading layers whose parameter share is closest to `fraction` (ties: fewer)."""
    counts = [spec.num_params() for spec in layers]
    total, best, best_gap, cum = sum(counts), 0, abs(fraction), 0
    for p, c in enumerate(counts, start=1):
        cum += c
        gap = abs(cum / total - fraction)
        if gap < best_gap - 1e-12:
            best, best_gap = p, gap
    return best


def pairwise_sq_distance(bank: Tensor) -> Tensor:
    """sum_{i<j} ||bank_i - bank_j||^2 computed stably as T * sum_i ||bank_i - mean||^2."""
    flat = bank.flatten(1)
    return flat.shape[0] * (flat - flat.mean(dim=0, keepdim=True)).pow(2).sum()


@register("l2")
class L2Reg(BankedMethod):
    HPARAMS: ClassVar[dict[str, Any]] = {**BankedMethod.HPARAMS, "lambda": 10.0,
                                         "hard_shared_fraction": 0.0}
    PACKABLE: ClassVar[bool] = False  # its penalty compares every slot of a bank, which would tie the copies

    def initial_assignment(self, num_layers: int) -> Tensor:
        frac = self.hparams["hard_shared_fraction"]
        if not 0.0 <= frac <= 1.0 or self.hparams["lambda"] < 0:
            raise ValueError(f"{self.name}: need 0 <= hard_shared_fraction <= 1 and lambda >= 0, "
                             f"got {frac} and {self.hparams['lambda']}")
        self.num_hard_shared = hard_shared_prefix(self.layers, frac)
        a = _isolated(self.tasks.num_tasks, num_layers)
        a[:, : self.num_hard_shared] = 0
        return a

    def layer_distances(self) -> list[Tensor]:
        zero = torch.zeros((), device=self.device)
        return [zero if i < self.num_hard_shared
                else sum(pairwise_sq_distance(p) for p in layer.core_parameters())
                for i, layer in enumerate(self.net.layers)]

    def penalty(self) -> Tensor:
        d = self.layer_distances()
        pairs = [d[i] + d[i + 1] for i in range(len(d) - 1)] or d
        return self.hparams["lambda"] * torch.stack(pairs).sum()

    def describe(self) -> dict[str, Any]:
        counts = [spec.num_params() for spec in self.layers]
        share = sum(counts[: self.num_hard_shared]) / sum(counts)
        return {**super().describe(), "hard_shared_layers": self.net.layer_names[: self.num_hard_shared],
                "hard_shared_param_fraction": round(share, 4)}


@register("l2-25")
class L2Reg25(L2Reg):
    HPARAMS: ClassVar[dict[str, Any]] = {**L2Reg.HPARAMS, "hard_shared_fraction": 0.25}


@register("l2-50")
class L2Reg50(L2Reg):
    HPARAMS: ClassVar[dict[str, Any]] = {**L2Reg.HPARAMS, "hard_shared_fraction": 0.5}
