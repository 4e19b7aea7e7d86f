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

Inception-style inputs (Zhang et al.'s paper profile, TF-slim's `inception_preprocessing`; benchmarks/image_ops.py):

    input: {normalize: inception, test_crop: {fraction: 0.875, size: 299},
            augment: {resized_crop: {size: 299}, flip: true, colour: slim-fast}}

- `normalize: inception`: (x - 0.5) / 0.5 per channel, the [-1, 1] range of the TF-slim checkpoints;
- `resized_crop`: a random box of `area` (default [0.05, 1]) of the image, at least `min_covered` (0.1) of it, aspect
  ratio in `aspect` ([0.75, 1.33]), resized to `size`; `colour: slim-fast`: random brightness and saturation;
- `test_crop`: test images are the central `fraction` resized to `size` (slim's evaluation).
The crop, flip and colour run on [0, 1] images; the normalisation comes last.

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

from sharebench.benchmarks.image_ops import central_crop_resize, random_resized_crops, slim_fast_colour

NORMALIZE = ("none", "per-domain", "inception")
AUGMENT_KEYS = {"pad_fraction", "flip", "no_flip", "resized_crop", "colour"}
RESIZED_CROP = {"size": 299, "area": [0.05, 1.0], "aspect": [0.75, 1.33], "min_covered": 0.1}
COLOURS = ("none", "slim-fast")


def check_input_config(raw: Any) -> dict[str, Any]:
    """The validated `input:` block ({} when absent); ValueError names the bad key."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or set(raw) - {"normalize", "augment", "test_crop"}:
        raise ValueError(f"want a mapping with keys normalize, augment, test_crop; got {raw!r}")
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
    out: dict[str, Any] = {"normalize": normalize}
    if augment:
        out["augment"] = {"pad_fraction": float(pad), "flip": bool(augment.get("flip", False)),
                          "no_flip": list(no_flip)}
        out["augment"].update(_inception_augment(augment))
    if "test_crop" in raw:
        crop = raw["test_crop"]
        if not isinstance(crop, dict) or set(crop) != {"fraction", "size"} or not 0 < crop["fraction"] <= 1 \
                or int(crop["size"]) < 1:
            raise ValueError(f"test_crop wants {{fraction: (0, 1], size: pixels}}, got {crop!r}")
        out["test_crop"] = {"fraction": float(crop["fraction"]), "size": int(crop["size"])}
    return out


def _inception_augment(augment: dict[str, Any]) -> dict[str, Any]:
    """The validated resized_crop and colour keys (only those given, so older configurations keep their hash)."""
    out: dict[str, Any] = {}
    if "resized_crop" in augment:
        crop = augment["resized_crop"]
        if not isinstance(crop, dict) or set(crop) - set(RESIZED_CROP):
            raise ValueError(f"augment.resized_crop: known keys {sorted(RESIZED_CROP)}, got {crop!r}")
        crop = {**RESIZED_CROP, **crop}
        if not (0 < crop["area"][0] <= crop["area"][1] <= 1 and 0 < crop["aspect"][0] <= crop["aspect"][1]
                and 0 <= crop["min_covered"] <= 1 and int(crop["size"]) >= 1):
            raise ValueError(f"augment.resized_crop: need 0 < area <= 1, 0 < aspect[0] <= aspect[1], "
                             f"0 <= min_covered <= 1 and a size; got {crop!r}")
        out["resized_crop"] = {"size": int(crop["size"]), "area": [float(a) for a in crop["area"]],
                               "aspect": [float(a) for a in crop["aspect"]], "min_covered": float(crop["min_covered"])}
    if "colour" in augment:
        if augment["colour"] not in COLOURS:
            raise ValueError(f"augment.colour must be one of {COLOURS}, got {augment['colour']!r}")
        out["colour"] = augment["colour"]
    return out


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
        self.resized_crop, self.colour = augment.get("resized_crop"), augment.get("colour", "none")
        self.test_crop = config.get("test_crop")
        self.flips = torch.tensor([bool(augment.get("flip")) and n not in augment.get("no_flip", []) for n in names])
        self.generator = torch.Generator().manual_seed(seed + 104729)

    def stats(self) -> list[dict[str, list[float]]]:
        """The whitening statistics, for the record."""
        return [{"mean": m.flatten().tolist(), "std": s.flatten().tolist()} for m, s in zip(self.mean, self.std)]

    def whiten(self, x: Tensor, task: int) -> Tensor:
        """uint8 [..., C, H, W] of one task -> float, whitened when asked (else [0, 1])."""
        return self.normalize(x.float().div_(255.0), task)

    def normalize(self, x: Tensor, task: int) -> Tensor:
        """[0, 1] images of one task -> the network's input range."""
        if self.config.get("normalize") == "inception":
            return (x - 0.5) / 0.5
        return (x - self.mean[task]) / self.std[task] if self.mean else x

    def test(self, x: Tensor, task: int) -> Tensor:
        if self.test_crop:
            crop = self.test_crop
            return self.normalize(central_crop_resize(x.float().div_(255.0), crop["fraction"], crop["size"]), task)
        return self.whiten(x, task)

    def train(self, x: Tensor, tasks: Tensor) -> Tensor:
        """uint8 [T', B, C, H, W] for `tasks` [T'] -> the augmented float batch."""
        if self.resized_crop:
            return self.inception_train(x, tasks)
        out = torch.stack([self.whiten(x[i], int(t)) for i, t in enumerate(tasks.tolist())])
        T, B, C, H, W = out.shape
        pad = int(round(self.pad_fraction * min(H, W)))
        if pad:
            out = _random_crops(out.flatten(0, 1), pad, self.generator).view(T, B, C, H, W)
        return self.random_flips(out, tasks)

    def random_flips(self, out: Tensor, tasks: Tensor) -> Tensor:
        """Each image [T', B, ...] mirrored with probability 1/2 where its task may be flipped."""
        T, B = out.shape[:2]
        flip_task = self.flips[tasks.cpu()]
        if bool(flip_task.any()):
            coin = (torch.rand(T, B, generator=self.generator) < 0.5) & flip_task.unsqueeze(1)
            out = torch.where(coin.to(out.device).view(T, B, 1, 1, 1), out.flip(-1), out)
        return out

    def inception_train(self, x: Tensor, tasks: Tensor) -> Tensor:
        """Random resized crop, flip, colour distortion on [0, 1] images, then the normalisation (slim's order)."""
        T, B = x.shape[:2]
        crop = self.resized_crop
        flat = random_resized_crops(x.flatten(0, 1).float().div_(255.0), crop["size"], tuple(crop["area"]),
                                    tuple(crop["aspect"]), crop["min_covered"], self.generator)
        out = self.random_flips(flat.view(T, B, *flat.shape[1:]), tasks)
        if self.colour == "slim-fast":
            out = slim_fast_colour(out.flatten(0, 1), self.generator).view(out.shape)
        return torch.stack([self.normalize(out[i], int(t)) for i, t in enumerate(tasks.tolist())])

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
