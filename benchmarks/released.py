"""The released LWS code's structure, rewritten as its authors wrote it: the yardstick for speed and step checks.

`jprellberg/learned-weight-sharing` builds every routed layer as an `nn.ModuleList` of plain modules, one
per slot (`nn.Sequential(Conv2d, BatchNorm2d, ReLU, MaxPool2d)` or `(Linear, ReLU)`), NCHW, float32, and
trains with Python loops: NES draws one routing per sample and runs every task's batch through it (BN in
eval mode); SGD does the same with a backward pass per (sample, task), then divides each module's
gradient by its expected users (`normalize_weight_gradients`) and takes one Adam step (`Trainer.trainstep`).

`ReleasedNet` is that network, built as a copy of a `BankedNet` (same weights, so the two code bases can be
compared step by step); `ReleasedLWS` is that training step; `ReleasedNet.baseline_step` is the step of the
fixed baselines (no, full and prior sharing). Nothing here is used for training in the suite.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sharebench.methods.lws import nes_update, rank_utilities
from sharebench.methods.networks import BankedNet


def _slot_module(spec, unit, k: int) -> nn.Module:
    """Slot k of a banked unit as the released code's plain module, with the unit's weights."""
    if spec.kind == "conv":
        conv = nn.Conv2d(spec.in_features, spec.out_features, 3, padding=1, bias=False)
        bn = nn.BatchNorm2d(spec.out_features)
        with torch.no_grad():
            conv.weight.copy_(unit.conv.weight[k])
            bn.weight.copy_(unit.norm.weight[k])
            bn.bias.copy_(unit.norm.bias[k])
            bn.running_mean.copy_(unit.norm.running_mean[k])
            bn.running_var.copy_(unit.norm.running_var[k])
        return nn.Sequential(conv, bn, nn.ReLU(), nn.MaxPool2d(2))
    if spec.kind == "dense":
        lin = nn.Linear(spec.in_features, spec.out_features)
        with torch.no_grad():
            lin.weight.copy_(unit.linear.weight[k])
            lin.bias.copy_(unit.linear.bias[k])
        return nn.Sequential(nn.Flatten(), lin, nn.ReLU())
    raise ValueError(f"the released code has no {spec.kind!r} layer")


class ReleasedNet(nn.Module):
    """One plain module per (layer, slot) and one nn.Linear head per task, copied from `net`."""

    def __init__(self, net: BankedNet):
        super().__init__()
        self.slots = nn.ModuleList(
            nn.ModuleList(_slot_module(spec, unit, k) for k in range(unit.num_slots))
            for spec, unit in zip(net.specs, net.layers))
        self.heads = nn.ModuleList()
        for t in range(net.num_tasks):
            head = nn.Linear(net.head.linear.weight.shape[2], int((~net.head.pad_mask[t]).sum()))
            with torch.no_grad():
                head.weight.copy_(net.head.linear.weight[t, : head.out_features])
                head.bias.copy_(net.head.linear.bias[t, : head.out_features])
            self.heads.append(head)

    def forward(self, x: Tensor, task: int, route: list[int]) -> Tensor:
        """x [B, C, H, W] of one task through the modules `route[l]` of every layer."""
        for mods, k in zip(self.slots, route):
            x = mods[k](x)
        return self.heads[task](x)

    def divide_gradients(self, users: list[Tensor], samples: int) -> None:
        """`normalize_weight_gradients`: each slot module's gradient / (its users x samples), heads / samples."""
        with torch.no_grad():
            for mods, per_slot in zip(self.slots, users):
                for mod, n in zip(mods, per_slot.tolist()):
                    for p in mod.parameters():
                        if p.grad is not None:
                            p.grad /= n * samples
            for p in self.heads.parameters():
                if p.grad is not None:
                    p.grad /= samples

    def baseline_step(self, x: Tensor, y: Tensor, assignment: Tensor, optimizer: torch.optim.Optimizer) -> float:
        """A fixed-assignment step (no, full, prior sharing): per task, backward of its mean CE; then every
        module's gradient divided by its number of users; one optimiser step. x [T, B, ...], y [T, B]."""
        self.train()
        optimizer.zero_grad(set_to_none=False)  # PyTorch 1.3's zero_grad (the released code's version)
        total = 0.0
        for t in range(len(self.heads)):
            loss = F.cross_entropy(self(x[t], t, assignment[t].tolist()), y[t])
            loss.backward()
            total += float(loss.detach())
        users = [torch.bincount(assignment[:, layer], minlength=len(mods)).double()
                 for layer, mods in enumerate(self.slots)]
        self.divide_gradients(users, 1)
        optimizer.step()
        return total


class ReleasedLWS:
    """`Trainer.trainstep` of the released code: NES with `nes_samples` routings, then SGD with `sgd_samples`.

    Every layer of `net` is routed (as in the released DKL ConvNet); `probs` [L, T, K] in float64."""

    def __init__(self, net: ReleasedNet, probs: Tensor, nes_samples: int = 8, sgd_samples: int = 8,
                 nes_lr: float = 1e-2, min_prob: float = 1e-3, lr: float = 1e-3):
        self.net, self.probs = net, probs.clone()
        self.nes_samples, self.sgd_samples, self.nes_lr, self.min_prob = nes_samples, sgd_samples, nes_lr, min_prob
        self.optimizer = torch.optim.Adam(net.parameters(), lr=lr)

    def sample(self) -> Tensor:
        """One routing per layer: [L, T] module indices."""
        return torch.distributions.Categorical(probs=self.probs).sample()

    def _pass(self, x: Tensor, y: Tensor, route: Tensor, backward: bool) -> Tensor:
        """The released `_pass_through_model`: every task's batch through the routing; mean loss over tasks."""
        losses = []
        for t in range(x.shape[0]):
            with torch.set_grad_enabled(backward):
                loss = F.cross_entropy(self.net(x[t], t, route[:, t].tolist()), y[t])
            if backward:
                loss.backward()
            losses.append(loss.detach())
        return torch.stack(losses).mean()

    def nes_step(self, x: Tensor, y: Tensor, routes: list[Tensor] | None = None) -> None:
        """`_nes_update_step`; `routes` ([L, T] each) replaces the draws, to compare a step with the suite's."""
        self.net.eval()
        routes = routes if routes is not None else [self.sample() for _ in range(self.nes_samples)]
        fitness = torch.stack([self._pass(x, y, r, backward=False) for r in routes]).double()
        samples = torch.stack(routes)  # [S, L, T]
        self.probs = nes_update(self.probs, samples, rank_utilities(fitness), self.nes_lr, self.min_prob)

    def sgd_step(self, x: Tensor, y: Tensor, routes: list[Tensor] | None = None) -> float:
        """`_sgd_update_step`; `routes` as in `nes_step`."""
        self.optimizer.zero_grad(set_to_none=False)  # PyTorch 1.3's zero_grad: a used module keeps a zero gradient
        self.net.train()
        routes = routes if routes is not None else [self.sample() for _ in range(self.sgd_samples)]
        total = sum(float(self._pass(x, y, route, backward=True)) for route in routes)
        self.net.divide_gradients(list(self.probs.sum(dim=1)), self.sgd_samples)
        self.optimizer.step()
        return total / self.sgd_samples

    def trainstep(self, nes_batch: tuple[Tensor, Tensor], sgd_batch: tuple[Tensor, Tensor]) -> float:
        self.nes_step(*nes_batch)
        return self.sgd_step(*sgd_batch)
