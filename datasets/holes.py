"""Image completion tasks (Zhang et al., Sec. 5.3): every image has one fixed square hole that the method fills.

"For each image, we randomly cropped out a 22x22 square" (64 px images): the hole side scales with the image,
h = round(22 / 64 * H) (6 at 16 px, 11 at 32 px). A completion suite stores each image's hole as its *label*: the
index r * (W - h + 1) + c of the hole's top-left corner (r, c) among all (H - h + 1) x (W - h + 1) positions. The
corners are drawn once, by RandomState(hole_seed + 1000 * task + split) (split 0 = train, 1 = test), so they are
part of the suite's content hash, identical for every method and seed, and reach a training step through the
sampler's indices like any label. The task's side is `meta["hole"]`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

PAPER_HOLE, PAPER_SIZE = 22, 64


def hole_side(size: int) -> int:
    """The paper's 22 px hole at 64 px, scaled to an image side of `size`."""
    return max(1, round(PAPER_HOLE / PAPER_SIZE * size))


def draw_corners(n: int, height: int, width: int, hole: int, seed: int) -> np.ndarray:
    """n hole positions, as corner indices (the labels of a completion task)."""
    rs = np.random.RandomState(seed)
    corners = rs.randint(0, [height - hole + 1, width - hole + 1], size=(n, 2))
    return (corners[:, 0] * (width - hole + 1) + corners[:, 1]).astype(np.int64)


def positions(height: int, width: int, hole: int) -> int:
    """How many corner indices a task has (its `num_classes`)."""
    return (height - hole + 1) * (width - hole + 1)


def hole_masks(corners: Tensor, hole: int, height: int, width: int) -> Tensor:
    """Corner indices [...] -> bool masks [..., 1, H, W], True inside the hole (the pixels the method must fill)."""
    cols = width - hole + 1
    r, c = (corners // cols).unsqueeze(-1), (corners % cols).unsqueeze(-1)
    rows_in = (torch.arange(height, device=corners.device) - r.unsqueeze(-1)).unsqueeze(-1)  # [..., 1, H, 1]
    cols_in = (torch.arange(width, device=corners.device) - c.unsqueeze(-1)).unsqueeze(-2)  # [..., 1, 1, W]
    return ((rows_in >= 0) & (rows_in < hole)) & ((cols_in >= 0) & (cols_in < hole))


def with_holes(x: Tensor, corners: Tensor, hole: int) -> Tensor:
    """Images [..., C, H, W] with their holes set to 0 (what a completion method sees)."""
    return x.masked_fill(hole_masks(corners, hole, x.shape[-2], x.shape[-1]), 0.0)
