"""Normalisation layers whose scale/bias and moments are chosen separately (Bilen & Vedaldi, Sec. 3, Table 4).

A `NormMode` says what normalises (batch norm or instance norm) and which rows the affine parameters (s, b)
and the running moments (mu, sigma) live in: one row per weight *slot* ("universal" in the paper: a layer
shared by every domain has one set) or one row per *task* ("domain-specific"). `BankedNorm` implements every
mode over the banked layout x [n, B, C, H, W], where row i of the n rows is one task's pure batch using slot
`slots[i]`:

- training batch statistics are always per row (pure batches, as the paper's round-robin training), so the
  modes that differ only in their moments train identically;
- running moments follow PyTorch's rule (momentum 0.1, unbiased variance). Task rows are updated per batch in
  row order; the universal rows of `bn-shared-affine` by the mean rule r <- (1 - m) r + m mean_d(moment_d)
  over the domains that used the slot in the step (the equal-weight average that multi-GPU training with one
  domain per GPU would give; the paper does not say, specs/bilen.md A12);
- evaluation reads the moments `eval_moments` names: `domain` (task rows), `universal` (slot rows) or `batch`
  (BN+: the test batch's own statistics, buffers untouched).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class NormMode:
    kind: str  # "bn" | "in" | "none"
    affine: str  # "slot" | "task"
    moments: str  # "slot" | "task" | "both" (BN with task rows and universal slot rows) | "none"
    eval_moments: str  # default moments at test time: "universal" | "domain"


NORM_MODES: dict[str, NormMode] = {
    "bn": NormMode("bn", "slot", "slot", "universal"),  # scale and moments per slot (LWS' BN)
    "task-bn": NormMode("bn", "task", "task", "domain"),  # domain-specific (s, b) and (mu, sigma): Bilen's choice
    "bn-shared-affine": NormMode("bn", "slot", "both", "universal"),  # Table 4 rows 1-3 (one training)
    "in": NormMode("in", "slot", "none", "universal"),  # instance norm + universal scale (Table 4 row 5)
    "task-in": NormMode("in", "task", "none", "universal"),  # instance norm + domain scale (Table 4 row 6)
    "none": NormMode("none", "slot", "none", "universal"),
}
EVAL_MOMENTS = ("universal", "domain", "batch")


def norm_mode(name: str) -> NormMode:
    if name not in NORM_MODES:
        raise ValueError(f"unknown norm {name!r}; known: {', '.join(NORM_MODES)}")
    return NORM_MODES[name]


class BankedNorm(nn.Module):
    """One normalisation layer of a banked unit, in any `NormMode` (see the module docstring)."""

    def __init__(self, mode: str, num_slots: int, num_tasks: int, channels: int, momentum: float = 0.1,
                 eps: float = 1e-5):
        super().__init__()
        self.mode, self.spec = mode, norm_mode(mode)
        self.momentum, self.eps = momentum, eps
        self.eval_moments = "domain" if self.spec.moments == "task" else "universal"
        affine_rows = num_slots if self.spec.affine == "slot" else num_tasks
        self.weight = nn.Parameter(torch.ones(affine_rows, channels))
        self.bias = nn.Parameter(torch.zeros(affine_rows, channels))
        if self.spec.moments in ("slot", "both"):
            self.register_buffer("slot_mean", torch.zeros(num_slots, channels))
            self.register_buffer("slot_var", torch.ones(num_slots, channels))
        if self.spec.moments in ("task", "both"):
            self.register_buffer("task_mean", torch.zeros(num_tasks, channels))
            self.register_buffer("task_var", torch.ones(num_tasks, channels))

    def slot_tensors(self) -> list[Tensor]:
        """The tensors indexed by slot (to copy a slot or scale its gradient by its number of users)."""
        out = [self.weight, self.bias] if self.spec.affine == "slot" else []
        if self.spec.moments in ("slot", "both"):
            out += [self.slot_mean, self.slot_var]
        return out

    def forward(self, x: Tensor, slots: Tensor, tasks: Tensor) -> Tensor:
        """x [n, B, C, H, W]; row i is task tasks[i]'s pure batch on slot slots[i]."""
        if self.spec.kind == "none":
            return x
        n, B, C = x.shape[:3]
        affine = slots if self.spec.affine == "slot" else tasks
        weight, bias = self.weight[affine], self.bias[affine]  # [n, C]
        if self.spec.kind == "in":
            out = F.instance_norm(x.reshape(n * B, C, *x.shape[3:]), eps=self.eps).reshape(x.shape)
            return out * weight.view(n, 1, C, 1, 1) + bias.view(n, 1, C, 1, 1)
        if self.training or self.eval_moments == "batch":
            out, mean, var = self._batch_stats_norm(x, weight, bias)
            if self.training:
                self._update_moments(slots, tasks, mean, var)
            return out
        mean, var = self._stored_moments(slots, tasks)
        scale = weight * torch.rsqrt(var + self.eps)
        shift = bias - mean * scale
        return x * scale.view(n, 1, C, 1, 1) + shift.view(n, 1, C, 1, 1)

    def _batch_stats_norm(self, x: Tensor, weight: Tensor, bias: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Batch norm with each row's own statistics: [n, B, C, ...] viewed as [B, n*C, ...], so every (row,
        channel) is one batch-norm channel. Returns the output and the per-row mean and unbiased variance
        (scratch buffers with momentum 1 receive exactly those)."""
        n, B, C = x.shape[:3]
        xb = x.transpose(0, 1).reshape(B, n * C, *x.shape[3:])
        mean, var = x.new_zeros(n * C), x.new_ones(n * C)
        out = F.batch_norm(xb, mean, var, weight.reshape(-1), bias.reshape(-1), True, 1.0, self.eps)
        return out.reshape(B, n, C, *x.shape[3:]).transpose(0, 1), mean.view(n, C), var.view(n, C)

    def _stored_moments(self, slots: Tensor, tasks: Tensor) -> tuple[Tensor, Tensor]:
        if self.eval_moments == "domain":
            if self.spec.moments not in ("task", "both"):
                raise ValueError(f"norm {self.mode!r} keeps no domain-specific moments")
            return self.task_mean[tasks], self.task_var[tasks]
        if self.spec.moments not in ("slot", "both"):
            raise ValueError(f"norm {self.mode!r} keeps no universal moments")
        return self.slot_mean[slots], self.slot_var[slots]

    @torch.no_grad()
    def _update_moments(self, slots: Tensor, tasks: Tensor, mean: Tensor, var: Tensor) -> None:
        m = self.momentum
        if self.spec.moments == "slot":
            _fold_in_order(self.slot_mean, self.slot_var, slots.tolist(), mean, var, m)
        if self.spec.moments in ("task", "both"):
            _fold_in_order(self.task_mean, self.task_var, tasks.tolist(), mean, var, m)
        if self.spec.moments == "both":  # universal rows: the mean rule, once per step
            for slot in torch.unique(slots).tolist():
                users = slots == slot
                self.slot_mean[slot].mul_(1 - m).add_(m * mean[users].mean(0))
                self.slot_var[slot].mul_(1 - m).add_(m * var[users].mean(0))


def _fold_in_order(run_mean: Tensor, run_var: Tensor, rows: list[int], mean: Tensor, var: Tensor, m: float) -> None:
    """PyTorch's running-moment update once per batch, in row order (a loop of separate forward passes)."""
    for i, r in enumerate(rows):
        run_mean[r].mul_(1 - m).add_(m * mean[i])
        run_var[r].mul_(1 - m).add_(m * var[i])
