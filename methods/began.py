"""BEGAN learned jointly across domains (Zhang et al., task III, Figure 6's second and third groups).

The paper's groups G2 (black dresses + CelebA) and G3 (Oxford flowers + CUB birds + CelebA) use BEGAN (Berthelot,
Schumm & Metz 2017), where "we share the auto-encoders across different domains". As for DCGAN (methods/gan.py),
every layer of the generator and of the discriminator is a bank of weight slots, and the sharing schemes act on each
chain separately (`began-isolated`, `-shareall`, `-finetune`, `-l2`, `-irls`; pairs never cross G and D).

BEGAN (Berthelot et al., Sec. 3 and Fig. 1; the layout of the widely used carpedm20 implementation):
- the discriminator is an autoencoder, L(v) = mean |v - D(v)| (Eq. 1 with eta = 1, the L1 norm);
- D loss L(x) - k_t L(G(z)), G loss L(G(z)), k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1) (Eq. 4);
  the convergence measure M = L(x) + |gamma L(x) - L(G(z))| (Eq. 5) is logged;
- decoder (and generator): z (h = 64) -> linear 8 x 8 x n -> blocks of two 3x3 convolutions with ELU, a nearest
  x2 upsampling between blocks, up to the image -> a 3x3 convolution to the channels; encoder: a 3x3 convolution,
  blocks of two 3x3 convolutions with ELU and n, 2n, 3n, ... channels, a stride-2 3x3 convolution between blocks,
  a linear map to h; no batch norm anywhere; images in [-1, 1];
- gamma 0.5, lambda_k 1e-3, Adam 1e-4 (beta1 0.5, as carpedm20), n = 128 at 64 px (specs/zhang.md 2.8).
Choices where neither paper speaks: one k_t per domain (each domain's GAN balances its own game; under `shareall`
the one shared GAN still keeps a k per domain), a constant learning rate (BEGAN halves it when M stalls).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from sharebench.methods.banks import BankedConv2d, BankedLinear
from sharebench.methods.gan import Chain, JointGAN
from sharebench.methods.irls import IRLS_HPARAMS
from sharebench.methods.registry import register
from sharebench.methods.units import Unit


class EluBlock(Unit):
    """Two (or `convs`) 3x3 convolutions each followed by ELU; then `resample`: "up" (nearest x2), "down" (a
    stride-2 3x3 convolution to `down_channels`, ELU) or none."""

    def __init__(self, num_slots: int, in_ch: int, out_ch: int, resample: str = "", down_channels: int = 0,
                 convs: int = 2, init: str = "torch"):
        super().__init__()
        widths = [in_ch] + [out_ch] * convs
        self.convs = torch.nn.ModuleList(BankedConv2d(num_slots, a, b, bias=True, init=init)
                                         for a, b in zip(widths, widths[1:]))
        self.down = BankedConv2d(num_slots, out_ch, down_channels, bias=True, stride=2, init=init) \
            if resample == "down" else None
        self.resample = resample

    def forward(self, h: Tensor, slots: Tensor, norm_rows: Tensor) -> Tensor:
        for conv in self.convs:
            h = F.elu(conv(h, slots))
        if self.down is not None:
            h = F.elu(self.down(h, slots))
        elif self.resample == "up":
            n, B = h.shape[:2]
            h = F.interpolate(h.flatten(0, 1), scale_factor=2, mode="nearest")
            h = h.reshape(n, B, *h.shape[1:])
        return h


class LinearUnit(Unit):
    """A linear map without activation: `to_shape` reshapes its output to [C, s, s] (the decoder's first layer),
    else inputs are flattened (the encoder's last layer)."""

    kind = "dense"

    def __init__(self, num_slots: int, in_features: int, out_features: int, to_shape: tuple[int, ...] = (),
                 init: str = "torch"):
        super().__init__()
        self.linear = BankedLinear(num_slots, in_features, out_features, init=init)
        self.to_shape = to_shape

    def forward(self, h: Tensor, slots: Tensor, norm_rows: Tensor) -> Tensor:
        h = self.linear(h.flatten(2), slots)
        return h.reshape(*h.shape[:2], *self.to_shape) if self.to_shape else h


class OutConv(Unit):
    """The image: a 3x3 convolution to the channels, no activation."""

    def __init__(self, num_slots: int, in_ch: int, channels: int, init: str = "torch"):
        super().__init__()
        self.conv = BankedConv2d(num_slots, in_ch, channels, bias=True, init=init)

    def forward(self, h: Tensor, slots: Tensor, norm_rows: Tensor) -> Tensor:
        return self.conv(h, slots)


def _blocks(size: int) -> int:
    """Blocks from 8 px to `size` (a power of two >= 16): 8 -> 16 -> ... one resampling between two blocks."""
    return int(math.log2(size)) - 2


def began_decoder(slots: int, latent: int, width: int, channels: int, size: int, init: str,
                  prefix: str = "") -> tuple[list[Unit], list[str]]:
    n = _blocks(size)
    units: list[Unit] = [LinearUnit(slots, latent, width * 64, (width, 8, 8), init)]
    units += [EluBlock(slots, width, width, "up" if b < n - 1 else "", init=init) for b in range(n)]
    units.append(OutConv(slots, width, channels, init))
    return units, [f"{prefix}fc", *[f"{prefix}block{b + 1}" for b in range(n)], f"{prefix}out"]


def began_generator(slots: int, latent: int, width: int, channels: int, size: int, init: str) -> Chain:
    return Chain(*began_decoder(slots, latent, width, channels, size, init))


def began_discriminator(slots: int, latent: int, width: int, channels: int, size: int, init: str) -> Chain:
    """The autoencoder D: encoder (n, 2n, ... channels, stride-2 between blocks, linear to h), then a decoder."""
    n = _blocks(size)
    units: list[Unit] = [EluBlock(slots, channels, width, convs=1, init=init)]  # the first 3x3 convolution, ELU
    names = ["enc_in"]
    for b in range(n):
        last = b == n - 1
        units.append(EluBlock(slots, width * (b + 1) if b else width, width * (b + 1), "" if last else "down",
                              width * (b + 2), init=init))
        names.append(f"enc_block{b + 1}")
    units.append(LinearUnit(slots, width * n * 64, latent, init=init))
    names.append("enc_fc")
    dec, dec_names = began_decoder(slots, latent, width, channels, size, init, prefix="dec_")
    return Chain(units + dec, names + dec_names)


class JointBEGAN(JointGAN):
    BACKBONES: ClassVar[tuple[str, ...]] = ("began",)
    CODE_MODULES: ClassVar[tuple[str, ...]] = ("sharebench.methods.coupling", "sharebench.methods.irls",
                                               "sharebench.methods.gan")
    HPARAMS: ClassVar[dict[str, Any]] = {"lr": 1e-4, "beta1": 0.5, "latent": 64, "width": 128, "gamma": 0.5,
                                         "lambda_k": 1e-3, "lambda": 10.0, "same_init": True,
                                         "pretrain_fraction": 0.5, "init": "torch", **IRLS_HPARAMS}

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.k = torch.zeros(self.tasks.num_tasks, device=self.device)  # k_0 = 0 (BEGAN)
        self._last: tuple[Tensor, Tensor] | None = None

    def build_chains(self, slots: int, channels: int, size: int) -> tuple[Chain, Chain]:
        if size < 16 or size & (size - 1):
            raise ValueError(f"method {self.name!r}: BEGAN needs square images whose side is a power of two "
                             f">= 16, got {size}")
        h = self.hparams
        return (began_generator(slots, h["latent"], h["width"], channels, size, h["init"]),
                began_discriminator(slots, h["latent"], h["width"], channels, size, h["init"]))

    def from_pixels(self, x: Tensor) -> Tensor:
        return x * 2 - 1

    def to_pixels(self, images: Tensor) -> Tensor:
        return ((images + 1) / 2).clamp(0, 1)

    def reconstruction_loss(self, v: Tensor) -> Tensor:
        """L(v) = mean |v - D(v)| per domain: [T]."""
        return (v - self.d(v, self.slots)).abs().flatten(2).mean(dim=2).mean(dim=1)

    def d_loss(self, x: Tensor, z: Tensor) -> Tensor:
        real = self.reconstruction_loss(x)
        fake = self.reconstruction_loss(self.g(z, self.slots).detach())
        self._last = (real.detach(), fake.detach())
        return (real - self.k * fake).sum()

    def g_loss(self, z: Tensor) -> Tensor:
        return self.reconstruction_loss(self.g(z, self.slots)).sum()

    def after_step(self) -> dict[str, float]:
        """Eq. 4's proportional control of k_t, per domain, from this iteration's D-step losses."""
        real, fake = self._last
        balance = self.hparams["gamma"] * real - fake
        self.k = (self.k + self.hparams["lambda_k"] * balance).clamp(0, 1)
        return {"k_mean": float(self.k.mean()), "convergence_m": float((real + balance.abs()).sum())}

    def snapshot(self) -> dict[str, float | None]:
        return {**super().snapshot(), **{f"k_{n}": float(k) for n, k in zip(self.tasks.names, self.k)}}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "k": self.k.cpu()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.k = state["k"].to(self.device)


for _sharing in ("isolated", "shareall", "finetune", "l2", "irls"):
    register(f"began-{_sharing}")(type(f"JointBEGAN_{_sharing}", (JointBEGAN,), {"SHARING": _sharing}))
