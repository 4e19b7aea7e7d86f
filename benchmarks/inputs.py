"""An experiment's input pipeline: per-domain whitening and training augmentation on batches.

Without an `input:` block, images are floats in [0, 1] (the LWS and Zhang papers' only preprocessing) and nothing
here runs. With one (Bilen & Vedaldi Sec. 4.1: "Each dataset is also whitened, by subtracting its mean and dividing
it by its standard deviation per channel"; training augmentation "as in [18]"):

    input: {normalize: per-domain, augment: {pad_fraction: 0.125, flip: true, no_flip: [mnist, ...]}}

- `normalize: per-domain`: each task's per-channel mean and std over its *training* images, in [0, 1] units
  (the test split never enters them), applied to its training and test images;
- `augment`: each training image is zero-padded by pad_fraction x its side (zero = the domain mean after
  whitening), randomly cropped back to its size, and flipped left-right with probability 1/2 unless its task is
  in `no_flip` (digits and characters; specs/bilen.md A18). Test images are not augmented.

Training images stay uint8 until a batch is drawn (a 64 px suite is 4x smaller so), and the random crops and
flips come from the pipeline's own generator, seeded by the job and saved in checkpoints, so a resumed job
draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

NORMALIZE = ("none", "per-domain")
AUGMENT_KEYS = {"pad_fraction", "flip", "no_flip"}


def check_input_config(raw: Any) -> dict[str, Any]:
    """The validated `input:` block ({} when absent); ValueError names the bad key."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or set(raw) - {"normalize", "augment"}:
        raise ValueError(f"want a mapping with keys normalize, augment; got {raw!r}")
    normalize = raw.get("normalize", "none")
    if normalize not in NORMALIZE:
        raise ValueError(f"normalize must be one of {NORMALIZE}, got {normalize!r}")
    augment = raw.get("augment") or {}
    if not isinstance(augment, dict) or set(augment) - AUGMENT_KEYS:
        raise ValueError(f"augment: known keys {sorted(AUGMENT_KEYS)}, got {augment!r}")
    pad = augment.get("pad_fraction", 0.0)
    if not isinstance(pad, (int, float)) or not 0 <= pad <= 0.5:
        raise ValueError(f"augment.pad_fraction must be in [0, 0.5], got {pad!r}")
    no_flip = augment.get("no_flip", [])
    if not isinstance(no_flip, list) or not all(isinstance(n, str) for n in no_flip):
        raise ValueError(f"augment.no_flip must be a list of task names, got {no_flip!r}")
    return {"normalize": normalize, "augment": {"pad_fraction": float(pad), "flip": bool(augment.get("flip", False)),
                                                "no_flip": list(no_flip)}} if augment else {"normalize": normalize}


def channel_stats(x_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std (population) of uint8 [N, H, W, C] images, in [0, 1] units (float64)."""
    x = x_train.reshape(-1, x_train.shape[-1]).astype(np.float64) / 255.0
    return x.mean(0), np.maximum(x.std(0), 1e-8)


class InputPipeline:
    """Whitening and augmentation for one job (see the module docstring)."""

    def __init__(self, config: dict[str, Any], x_train: list[np.ndarray], names: list[str], seed: int,
                 device: torch.device):
        self.config, self.device = config, device
        stats = [channel_stats(x) for x in x_train] if config.get("normalize") == "per-domain" else []
        self.mean = [torch.tensor(m, dtype=torch.float32, device=device).view(-1, 1, 1) for m, _ in stats]
        self.std = [torch.tensor(s, dtype=torch.float32, device=device).view(-1, 1, 1) for _, s in stats]
        augment = config.get("augment") or {}
        self.pad_fraction = augment.get("pad_fraction", 0.0)
        self.flips = torch.tensor([bool(augment.get("flip")) and n not in augment.get("no_flip", []) for n in names])
        self.generator = torch.Generator().manual_seed(seed + 104729)

    def stats(self) -> list[dict[str, list[float]]]:
        """The whitening statistics, for the record."""
        return [{"mean": m.flatten().tolist(), "std": s.flatten().tolist()} for m, s in zip(self.mean, self.std)]

    def whiten(self, x: Tensor, task: int) -> Tensor:
        """uint8 [..., C, H, W] of one task -> float, whitened when asked (else [0, 1])."""
        out = x.float().div_(255.0)
        return (out - self.mean[task]) / self.std[task] if self.mean else out

    def test(self, x: Tensor, task: int) -> Tensor:
        return self.whiten(x, task)

    def train(self, x: Tensor, tasks: Tensor) -> Tensor:
        """uint8 [T', B, C, H, W] for `tasks` [T'] -> the augmented float batch."""
        out = torch.stack([self.whiten(x[i], int(t)) for i, t in enumerate(tasks.tolist())])
        T, B, C, H, W = out.shape
        pad = int(round(self.pad_fraction * min(H, W)))
        if pad:
            out = _random_crops(out.flatten(0, 1), pad, self.generator).view(T, B, C, H, W)
        flip_task = self.flips[tasks.cpu()]
        if bool(flip_task.any()):
            coin = (torch.rand(T, B, generator=self.generator) < 0.5) & flip_task.unsqueeze(1)
            out = torch.where(coin.to(out.device).view(T, B, 1, 1, 1), out.flip(-1), out)
        return out

    def state(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])


def _random_crops(x: Tensor, pad: int, generator: torch.Generator) -> Tensor:
    """Zero-pad [N, C, H, W] by `pad` and take one random H x W crop per image (two gathers, no loop)."""
    N, C, H, W = x.shape
    offsets = torch.randint(0, 2 * pad + 1, (2, N), generator=generator).to(x.device)
    padded = F.pad(x, (pad, pad, pad, pad))
    rows = (offsets[0].view(N, 1) + torch.arange(H, device=x.device)).view(N, 1, H, 1).expand(N, C, H, W + 2 * pad)
    padded = padded.gather(2, rows)
    cols = (offsets[1].view(N, 1) + torch.arange(W, device=x.device)).view(N, 1, 1, W).expand(N, C, H, W)
    return padded.gather(3, cols)
