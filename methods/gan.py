"""GANs learned jointly across domains (Zhang et al., task III, Figure 6): one DCGAN per domain, shared or tied.

Each domain has a generator G and a discriminator D (DCGAN, Radford et al.: G = a projection of z to 4w x s x s,
then stride-2 transposed convolutions with BN and ReLU up to the image, a sigmoid output for pixels in [0, 1]; D =
stride-2 4x4 convolutions with LeakyReLU 0.2, BN from the second, a linear logit). Every layer of both networks is a
bank of weight slots, so the suite's sharing schemes apply to each chain separately (specs/zhang.md 2.8: "share all
the network parameters", pairs along each chain, never across G and D):
- `gan-isolated`: one G and D per domain; `gan-shareall`: one G and D for all domains;
- `gan-finetune`: shared for `pretrain_fraction` of the budget, then per-domain copies of both (fresh optimisers);
- `gan-l2`: per-domain copies tied by Eq. 5 (lambda 10) in G and in D; `gan-irls`: tied by the robust norm, IRLS
  on each chain with its own sigma and weights (the same schedule as `irls`).
Per-domain copies start from the same weights (`same_init`). Each iteration: one D step on real and generated
images (non-saturating BCE), then one G step; Adam 2e-4, beta1 0.5 (DCGAN's). Figure 6 is qualitative: the record
keeps 16 samples per domain from a fixed z (`final_artifacts`), and the one metric, `sample_coverage_mse` (not in
the paper), is a diagnostic: how close each test image is to the nearest of 64 samples of its domain.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sharebench.methods.banks import BankedBatchNorm, BankedLinear
from sharebench.methods.coupling import adjacent_pair_sq_distances, layer_sq_distances, weighted_penalty
from sharebench.methods.irls import IRLS_HPARAMS, IRLSSchedule, adjacent_pairs
from sharebench.methods.registry import Method, register
from sharebench.methods.units import ConvUnit, Unit, UpUnit

SAMPLE_SEED = 20190515  # the fixed z of the recorded samples: the same for every method and seed
COVERAGE_SAMPLES = 64


class ProjectUnit(Unit):
    """z -> Linear -> [C, s, s] -> BN -> ReLU: the generator's first layer."""

    def __init__(self, num_slots: int, latent: int, channels: int, size: int, init: str = "torch"):
        super().__init__()
        self.linear = BankedLinear(num_slots, latent, channels * size * size, bias=False, init=init)
        self.norm = BankedBatchNorm(num_slots, channels)
        self.shape = (channels, size, size)

    def forward(self, h: Tensor, slots: Tensor, norm_rows: Tensor) -> Tensor:
        h = self.linear(h, slots)
        return F.relu(self.norm(h.reshape(*h.shape[:2], *self.shape), norm_rows))


class LogitUnit(Unit):
    """[C, s, s] -> one logit per image: the discriminator's last layer."""

    kind = "dense"

    def __init__(self, num_slots: int, in_features: int, init: str = "torch"):
        super().__init__()
        self.linear = BankedLinear(num_slots, in_features, 1, init=init)

    def forward(self, h: Tensor, slots: Tensor, norm_rows: Tensor) -> Tensor:
        return self.linear(h.flatten(2), slots).squeeze(-1)


class Chain(nn.Module):
    """Banked units run one after the other, row r of the batch on slot slots[r, l] of layer l."""

    def __init__(self, units: list[Unit], names: list[str]):
        super().__init__()
        self.layers, self.names = nn.ModuleList(units), names

    def forward(self, h: Tensor, slots: Tensor) -> Tensor:
        for layer, unit in enumerate(self.layers):
            h = unit(h, slots[:, layer], slots[:, layer])
        return h

    def copy_slot(self, src: int, dst: int) -> None:
        with torch.no_grad():
            for unit in self.layers:
                for t in unit.slot_tensors(norm_per_slot=True):
                    t[dst].copy_(t[src])

    def pair_sq_distances(self, tasks: int) -> Tensor:
        """Squared distances of the copies' adjacent layer pairs (Eq. 3): [P, pairs], differentiable."""
        return adjacent_pair_sq_distances([layer_sq_distances(u.core_parameters(), tasks) for u in self.layers])


def dcgan_generator(slots: int, latent: int, width: int, channels: int, size: int, init: str) -> Chain:
    s0 = size // 8
    return Chain([ProjectUnit(slots, latent, 4 * width, s0, init),
                  UpUnit(slots, slots, 4 * width, 2 * width, True, False, init),
                  UpUnit(slots, slots, 2 * width, width, True, False, init),
                  UpUnit(slots, slots, width, channels, False, True, init)], ["project", "up1", "up2", "out"])


def dcgan_discriminator(slots: int, width: int, channels: int, size: int, init: str) -> Chain:
    def conv(c_in: int, c_out: int, bn: bool) -> ConvUnit:
        return ConvUnit(slots, slots, c_in, c_out, bn, False, stride=2, init=init, kernel=4, leak=0.2)
    return Chain([conv(channels, width, False), conv(width, 2 * width, True), conv(2 * width, 4 * width, True),
                  LogitUnit(slots, 4 * width * (size // 8) ** 2, init)], ["conv1", "conv2", "conv3", "logit"])


def _bce(logits: Tensor, real: bool) -> Tensor:
    """Sum over domains of the mean binary cross-entropy of [T, B] logits against one target."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(dim=1).sum()


class JointGAN(Method):
    SHARING: ClassVar[str] = "isolated"
    BACKBONES: ClassVar[tuple[str, ...]] = ("dcgan",)
    CODE_MODULES: ClassVar[tuple[str, ...]] = ("sharebench.methods.coupling", "sharebench.methods.irls")
    HPARAMS: ClassVar[dict[str, Any]] = {"lr": 2e-4, "beta1": 0.5, "latent": 64, "width": 16, "lambda": 10.0,
                                         "same_init": True, "pretrain_fraction": 0.5, "init": "torch",
                                         **IRLS_HPARAMS}

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        h, (height, width, channels) = self.hparams, self.tasks.image_shape
        if height != width or height % 8 or height < 16:
            raise ValueError(f"method {self.name!r}: DCGAN needs square images whose side divides by 8 (>= 16), "
                             f"got {height}x{width}")
        T = self.tasks.num_tasks
        slots = 1 if self.SHARING == "shareall" else T
        self.g, self.d = (chain.to(self.device) for chain in self.build_chains(slots, channels, height))
        if h["same_init"]:
            for chain in (self.g, self.d):
                for s in range(1, slots):
                    chain.copy_slot(0, s)
        self.depth = max(len(self.g.layers), len(self.d.layers))  # columns of `slots`: a chain reads its first ones
        shared = self.SHARING in ("shareall", "finetune")
        self.slots = torch.zeros(T, self.depth, dtype=torch.long) if shared else \
            torch.arange(T).unsqueeze(1).repeat(1, self.depth)
        self.slots = self.slots.to(self.device)
        self.finetuning = False
        self.opt_g, self.opt_d = self._optimizers()
        self.schedules = {}
        if self.SHARING == "irls":
            self.schedules = {name: IRLSSchedule(chain.pair_sq_distances(T).shape, h, self.total_iterations, T,
                                                 self.name) for name, chain in self.chains().items()}
        self.fixed_z = torch.randn(T, COVERAGE_SAMPLES, h["latent"],
                                   generator=torch.Generator().manual_seed(SAMPLE_SEED)).to(self.device)

    def build_chains(self, slots: int, channels: int, size: int) -> tuple[Chain, Chain]:
        """The generator and the discriminator, each layer a bank of `slots` slots."""
        h = self.hparams
        return (dcgan_generator(slots, h["latent"], h["width"], channels, size, h["init"]),
                dcgan_discriminator(slots, h["width"], channels, size, h["init"]))

    def chains(self) -> dict[str, Chain]:
        return {"g": self.g, "d": self.d}

    def _optimizers(self) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        betas = (self.hparams["beta1"], 0.999)
        return (torch.optim.Adam(self.g.parameters(), self.hparams["lr"], betas=betas),
                torch.optim.Adam(self.d.parameters(), self.hparams["lr"], betas=betas))

    # -- sharing
    def start_finetuning(self) -> None:
        """Pretrain-finetune: every domain continues from the shared networks in its own copies, fresh optimisers."""
        for chain in (self.g, self.d):
            for s in range(1, self.tasks.num_tasks):
                chain.copy_slot(0, s)
        self.slots = torch.arange(self.tasks.num_tasks, device=self.device).unsqueeze(1).repeat(1, self.depth)
        self.finetuning = True
        self.opt_g, self.opt_d = self._optimizers()

    def penalty(self, name: str) -> Tensor | None:
        """lambda * sum_p sum_{i<j} w_ijp d_ijp^2 on one chain (w = 1: Eq. 5; IRLS weights: Eq. 8)."""
        if self.SHARING not in ("l2", "irls"):
            return None
        d2 = self.chains()[name].pair_sq_distances(self.tasks.num_tasks)
        schedule = self.schedules.get(name)
        weights = torch.ones_like(d2) if schedule is None else schedule.weights
        return weighted_penalty(d2, weights, self.hparams["lambda"])

    def update(self, x: Tensor, y: Tensor, iteration: int) -> dict[str, float]:
        """One D step, then one G step, each on its own loss plus its chain's coupling."""
        if self.SHARING == "finetune" and not self.finetuning and \
                iteration >= round(self.hparams["pretrain_fraction"] * self.total_iterations):
            self.start_finetuning()
        for name, schedule in self.schedules.items():
            if schedule.due(iteration):
                with torch.no_grad():
                    schedule.reweight(self.chains()[name].pair_sq_distances(self.tasks.num_tasks), iteration)
        self.g.train()
        self.d.train()
        x = self.from_pixels(x)
        z = torch.randn(x.shape[0], x.shape[1], self.hparams["latent"], device=self.device)
        out = {}
        for name, opt, loss_fn in (("d", self.opt_d, lambda: self.d_loss(x, z)), ("g", self.opt_g,
                                                                                  lambda: self.g_loss(z))):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn()
            pen = self.penalty(name)
            (loss if pen is None else loss + pen).backward()
            opt.step()
            out[f"loss_{name}"] = float(loss.detach())
            if pen is not None:
                out[f"penalty_{name}"] = float(pen.detach())
        out["loss"] = out["loss_d"] + out["loss_g"]
        return {**out, **self.after_step()}

    # -- the adversarial game (DCGAN's non-saturating BCE; methods/began.py overrides these)
    def from_pixels(self, x: Tensor) -> Tensor:
        """Training images as the networks see them (pixels in [0, 1] here: G ends in a sigmoid)."""
        return x

    def to_pixels(self, images: Tensor) -> Tensor:
        """Generator outputs back to pixels in [0, 1]."""
        return images

    def d_loss(self, x: Tensor, z: Tensor) -> Tensor:
        return _bce(self.d(x, self.slots), True) + _bce(self.d(self.g(z, self.slots).detach(), self.slots), False)

    def g_loss(self, z: Tensor) -> Tensor:
        return _bce(self.d(self.g(z, self.slots), self.slots), True)

    def after_step(self) -> dict[str, float]:
        """Bookkeeping after both steps (BEGAN's k update); extra losses to log."""
        return {}

    # -- outputs
    @torch.no_grad()
    def generate(self, task: int, n: int = COVERAGE_SAMPLES) -> Tensor:
        """n images of domain `task` from the fixed z, BN on the batch's own statistics (as in training), the
        running buffers left untouched: [n, C, H, W]."""
        buffers = {k: v.clone() for k, v in self.g.state_dict().items() if "running" in k}
        self.g.train()
        images = self.g(self.fixed_z[task:task + 1, :n], self.slots[task:task + 1])[0]
        self.g.load_state_dict(buffers, strict=False)
        return self.to_pixels(images)

    def final_artifacts(self, x_test: list[Tensor], y_test: list[Tensor]) -> dict[str, Any]:
        """Figure 6: 16 samples per domain from the fixed z, as uint8 [16, H, W, C]."""
        return {"samples": {name: (self.generate(t, 16) * 255).round().byte().permute(0, 2, 3, 1).cpu().tolist()
                            for t, name in enumerate(self.tasks.names)}}

    def snapshot(self) -> dict[str, float | None]:
        if not self.schedules:
            return {}
        return {f"mean_weight_{n}": float(s.weights.mean()) for n, s in self.schedules.items()}

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sharing": self.SHARING, "slots": self.slots.cpu().tolist(),
                               "params": sum(p.numel() for p in [*self.g.parameters(), *self.d.parameters()])}
        for name, s in self.schedules.items():
            out[f"irls_{name}"] = s.describe(adjacent_pairs(self.chains()[name].names))
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"g": self.g.state_dict(), "d": self.d.state_dict(), "opt_g": self.opt_g.state_dict(),
                "opt_d": self.opt_d.state_dict(), "slots": self.slots.cpu(), "finetuning": self.finetuning,
                "schedules": {n: s.state_dict() for n, s in self.schedules.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.g.load_state_dict(state["g"])
        self.d.load_state_dict(state["d"])
        self.slots, self.finetuning = state["slots"].to(self.device), state["finetuning"]
        if self.finetuning:
            self.opt_g, self.opt_d = self._optimizers()
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        for name, s in state["schedules"].items():
            self.schedules[name].load_state_dict(s)


for _sharing in ("isolated", "shareall", "finetune", "l2", "irls"):
    register(f"gan-{_sharing}")(type(f"JointGAN_{_sharing}", (JointGAN,), {"SHARING": _sharing}))
