"""Learned weight sharing (LWS): NES over per-layer weight assignments + SGD on the weights.

Prellberg & Kramer, "Learned Weight Sharing for Deep Multi-Task Learning by Natural Evolution Strategy
and Stochastic Gradient Descent" (Algorithm 1). Every routed layer owns K weight slots; a search
distribution holds, for every (routed layer, task), a categorical over the K slots in expectation
parameters (probabilities), initialised to 1/K. Each iteration:

1. NES step on its own batch, batch norm in eval mode: sample lambda_pi assignments, fitness = the
   mean multi-task loss of each (one scalar per assignment), rank-based utilities (Eq. 12), natural
   gradient T(a) - pi (Eq. 29) averaged with the utilities (Eq. 11), p += eta_pi * that, then clamp
   at 0.001 and renormalise (Sec. IV; released code `update_routing_probs`).
2. SGD step on a fresh batch: lambda_theta sampled assignments, the gradients of every (sample, task)
   loss summed (Eq. 13), then each weight's gradient divided by its expected number of users:
   a routed slot by lambda_theta * sum_t p[t, slot], an always-shared layer by lambda_theta * T, a head
   by lambda_theta (released code `normalize_weight_gradients`); one Adam step (lr 1e-3).
3. Inference with the most likely assignment, argmax_k p (Sec. III-E).

Speed: all lambda samples x T tasks of a step run as lambda*T rows through `BankedNet.forward_rows`
(tasks repeated, one assignment row each), i.e. a few batched kernels per layer, not lambda*T passes.
Rows are ordered sample-major, so batch-norm running moments are updated in the order of the released
code's loop. `samples_per_pass` splits the samples into passes (gradients accumulate) when lambda*T
rows of large images do not fit in memory (Omniglot at 105 px); the result is the same.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from sharebench.methods.hard_sharing import BankedMethod
from sharebench.methods.registry import Method, register


def rank_utilities(losses: Tensor) -> Tensor:
    """Eq. 12: u_i = 2 (rank(l_i) - 1) / (lambda - 1) - 1 with ranks in descending loss order, so the
    lowest loss gets +1 and the highest -1 (ties broken by sample order)."""
    n = losses.numel()
    if n < 2:
        raise ValueError("rank-based utilities need at least 2 samples")
    order = torch.argsort(losses, descending=True, stable=True)
    ranks = torch.empty(n, dtype=torch.float64)
    ranks[order] = torch.arange(1, n + 1, dtype=torch.float64)
    return 2.0 * (ranks - 1.0) / (n - 1.0) - 1.0


def nes_update(probs: Tensor, samples: Tensor, utilities: Tensor, lr: float, min_prob: float) -> Tensor:
    """One natural-gradient step on expectation parameters (Eqs. 11 and 29).

    probs [L, T, K]; samples [S, L, T] (slot indices); utilities [S], or [S, T] when the tasks belong to
    packed copies with their own rankings. Returns the new probabilities, clamped at `min_prob` and
    renormalised per (layer, task).
    """
    onehot = F.one_hot(samples, probs.shape[-1]).to(probs.dtype)  # [S, L, T, K]
    u = utilities.to(probs.dtype)
    u = u.view(u.shape[0], 1, u.shape[1] if u.ndim == 2 else 1, 1)
    grad = (u * (onehot - probs.unsqueeze(0))).mean(dim=0)
    new = (probs + lr * grad).clamp_min(min_prob)
    return new / new.sum(dim=-1, keepdim=True)


def entropy(probs: Tensor) -> Tensor:
    """Entropy (nats) of every categorical: [..., K] -> [...]."""
    return -(probs * probs.clamp_min(1e-12).log()).sum(dim=-1)


@register("lws")
class LearnedWeightSharing(BankedMethod):
    COMPLETION: ClassVar[bool] = False  # its NES fitness is the classification loss
    HPARAMS: ClassVar[dict[str, Any]] = {  # Adam 1e-3 (eta_theta); BN belongs to the slot (module), as in the
        # released code; torch.nn default init per slot (the released code calls no init); LWS splits its own
        # passes by samples (samples_per_pass), not by domains
        **{k: v for k, v in BankedMethod.HPARAMS.items() if k != "domains_per_pass"},
        "num_slots": 0,        # K; 0 = one slot per task
        "nes_lr": 1e-2,        # eta_pi
        "nes_samples": 8,      # lambda_pi
        "sgd_samples": 8,      # lambda_theta
        "min_prob": 0.001,     # clamp after each NES update
        "samples_per_pass": 0,  # NES / SGD samples per forward(/backward) pass; 0 = all at once
    }
    # two consecutive batches of one stream: one for NES, one for SGD (released code `trainstep`)
    STREAMS: ClassVar[dict[str, str]] = {"nes": "all", "sgd": "all"}

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._check_hparams()
        self.routed = [i for i, spec in enumerate(self.layers) if spec.shareable]
        if not self.routed:
            raise ValueError(f"lws: backbone {self.backbone!r} has no shareable layer to route")
        T, K = self.tasks.num_tasks, self.num_slots
        self.probs = torch.full((len(self.routed), T, K), 1.0 / K, dtype=torch.float64)  # CPU: sampling RNG
        self.register_assignment(self.most_likely_assignment())

    def _check_hparams(self) -> None:
        h = self.hparams
        problems = []
        if h["nes_samples"] < 2 or h["sgd_samples"] < 1:
            problems.append("nes_samples must be >= 2 and sgd_samples >= 1")
        if not 0 <= h["min_prob"] < 1 or h["nes_lr"] <= 0:
            problems.append("need 0 <= min_prob < 1 and nes_lr > 0")
        if h["samples_per_pass"] < 0:
            problems.append("samples_per_pass must be >= 0")
        if h["norm"] != "bn":
            problems.append("norm must be 'bn' (batch norm belongs to the weight slot)")
        if problems:
            raise ValueError(f"method 'lws': {'; '.join(problems)}")

    @property
    def num_slots(self) -> int:
        return self.hparams["num_slots"] or self.tasks_per_copy

    def initial_assignment(self, num_layers: int) -> Tensor:
        return torch.zeros(self.tasks.num_tasks, num_layers, dtype=torch.long)

    def slots_per_layer(self, used: list[int]) -> list[int]:
        if self.hparams["num_slots"] < 0:
            raise ValueError(f"method 'lws': num_slots must be >= 0, got {self.hparams['num_slots']}")
        return [self.num_slots if spec.shareable else 1 for spec in self.layers]

    # -- the search distribution
    def expand(self, routed_slots: Tensor) -> Tensor:
        """[..., T, L_routed] -> [..., T, L] with slot 0 in the layers that are not routed, shifted to each
        task's copy of the bank when seeds are packed (`copy_offsets`; zero otherwise)."""
        full = torch.zeros(*routed_slots.shape[:-1], len(self.layers), dtype=torch.long)
        full[..., self.routed] = routed_slots
        return full + self.copy_offsets

    def sample(self, n: int) -> Tensor:
        """n assignments from p(a | pi): [n, L_routed, T] slot indices (torch's CPU generator)."""
        L, T, K = self.probs.shape
        draws = torch.multinomial(self.probs.reshape(-1, K), n, replacement=True)  # [L*T, n]
        return draws.reshape(L, T, n).permute(2, 0, 1).contiguous()

    def most_likely_assignment(self) -> Tensor:
        return self.expand(self.probs.argmax(dim=-1).T)

    def _rows(self, samples: Tensor) -> tuple[Tensor, Tensor]:
        """Sampled assignments [S, L_routed, T] -> assignment rows [S*T, L] and their tasks [S*T]."""
        S = samples.shape[0]
        rows = self.expand(samples.permute(0, 2, 1)).reshape(S * self.tasks.num_tasks, len(self.layers))
        return rows.to(self.device), self.all_tasks.repeat(S)

    def _row_losses(self, x: Tensor, y: Tensor, samples: Tensor) -> Tensor:
        """Mean cross-entropy of every (sample, task) row: [S, T]."""
        S = samples.shape[0]
        rows, tasks = self._rows(samples)
        logits = self.net.forward_rows(x, rows, tasks, row_inputs=tasks)
        ce = F.cross_entropy(logits.flatten(0, 1), y.repeat(S, 1).flatten(), reduction="none")
        return ce.reshape(S, *y.shape).mean(dim=2)

    # -- Algorithm 1
    def step(self, batches: dict[str, Any], iteration: int) -> dict[str, float]:
        nes = self.nes_step(batches["nes"].x, batches["nes"].y)
        out = self.sgd_step(batches["sgd"].x, batches["sgd"].y)
        return {**out, **nes}

    def update(self, x: Tensor, y: Tensor, iteration: int) -> dict[str, float]:
        """Both steps on one batch (for callers with a single batch; training uses `step`)."""
        nes = self.nes_step(x, y)
        return {**self.sgd_step(x, y), **nes}

    @torch.no_grad()
    def nes_step(self, x: Tensor, y: Tensor) -> dict[str, float]:
        """StepNES (Algorithm 1, lines 3-13): BN in eval mode, fitness = mean loss over tasks."""
        self.net.eval()
        samples = self.sample(self.hparams["nes_samples"])
        per_pass = self.hparams["samples_per_pass"] or len(samples)
        fitness = torch.cat([self._row_losses(x, y, samples[i:i + per_pass]).view(-1, self.copies,
                                                                                  self.tasks_per_copy).mean(dim=2)
                             for i in range(0, len(samples), per_pass)]).double().cpu()  # [S, copies]
        # each packed copy ranks its own samples; its tasks share its utilities
        u = torch.stack([rank_utilities(fitness[:, c]) for c in range(self.copies)], dim=1)
        u = u.repeat_interleave(self.tasks_per_copy, dim=1)
        self.probs = nes_update(self.probs, samples, u, self.hparams["nes_lr"], self.hparams["min_prob"])
        self.register_assignment(self.most_likely_assignment())
        return {"nes_fitness": float(fitness.mean())}

    def sgd_step(self, x: Tensor, y: Tensor) -> dict[str, float]:
        """StepSGD (lines 14-22): gradients of all sampled assignments, normalised per user, one Adam step."""
        self.net.train()
        S = self.hparams["sgd_samples"]
        samples = self.sample(S)
        per_pass = self.hparams["samples_per_pass"] or S
        self.optimizer.zero_grad(set_to_none=False)
        total = 0.0
        for start in range(0, S, per_pass):
            chunk = samples[start:start + per_pass]
            loss = self._row_losses(x, y, chunk).sum()
            loss.backward()
            total += float(loss.detach())
        self.normalize_gradients(S)
        self.optimizer_step()
        return {"loss": total / S}

    def normalize_gradients(self, num_samples: int) -> None:
        """Each parameter's gradient becomes the average over its (expected) users: a routed slot divided
        by lambda_theta * sum_t p[t, slot], an always-shared layer by lambda_theta * T, a head by lambda_theta."""
        L, _, K = self.probs.shape
        T = self.tasks_per_copy
        # [L_routed, copies * K]: expected tasks per slot, each copy's slots counting its own tasks
        users = self.probs.view(L, self.copies, T, K).sum(dim=2).reshape(L, self.copies * K)
        routed_index = {layer: i for i, layer in enumerate(self.routed)}
        per_layer = [users[routed_index[layer]] if layer in routed_index
                     else torch.full((self.copies,), float(T)) for layer in range(len(self.layers))]
        self.net.average_gradients_over_users(per_layer, num_samples)

    @property
    def tasks_per_copy(self) -> int:
        return self.tasks.num_tasks // self.copies

    # -- seed packing: the search distributions are stacked along the task axis
    def pack_extra(self, copies: list[Method]) -> None:
        self.probs = torch.cat([m.probs for m in copies], dim=1)

    def unpack_extra(self, copy: Method, index: int) -> None:
        T = self.tasks_per_copy
        copy.probs = self.probs[:, index * T:(index + 1) * T].clone()

    # -- records
    def snapshot(self) -> dict[str, float]:
        a = self.most_likely_assignment()
        return {"entropy": float(entropy(self.probs).mean()),
                "distinct_slots": int(sum(len(torch.unique(a[:, layer])) for layer in self.routed))}

    def describe(self) -> dict[str, Any]:
        h = entropy(self.probs)
        return {**super().describe(), "routed_layers": [self.layers[i].name for i in self.routed],
                "num_slots": self.num_slots, "probabilities": self.probs.round(decimals=5).tolist(),
                "entropy_mean": float(h.mean()), "entropy_per_layer": h.mean(dim=1).tolist(),
                "max_entropy": math.log(self.num_slots)}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "probs": self.probs.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.probs = state["probs"].clone()


