"""Inception-style image operations on batches (TF-slim's `inception_preprocessing`, the paper profile of Zhang et
al.: "scale and aspect ratio variation, and image distortion"), vectorised over the batch on its device.

- `random_resized_crops`: slim's `distorted_bounding_box_crop` (area fraction in `area`, aspect ratio w/h in
  `aspect`, at least `min_covered` of the image, up to `attempts` draws, else the whole image) then a bilinear resize
  to size x size (`tf.image.resize_images`, no antialiasing): one affine grid per image, one `grid_sample`.
- `slim_fast_colour`: `distort_color(ordering 0, fast_mode=True)`, slim's default: brightness + delta,
  |delta| <= 32/255, then saturation x U(0.5, 1.5) in HSV, then clip to [0, 1]. (Slim's non-fast mode adds hue and
  contrast in four orders; not built.)
- `central_crop_resize`: slim's eval: the central `fraction` of the image, bilinear to size x size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def sample_boxes(n: int, height: int, width: int, area: tuple[float, float], aspect: tuple[float, float],
                 min_covered: float, generator: torch.Generator, attempts: int = 100) -> Tensor:
    """n crop boxes [n, 4] = (top, left, h, w) in pixels, as slim's distorted_bounding_box_crop draws them (the whole
    image where no draw of `attempts` fits)."""
    lo = max(area[0], min_covered)
    boxes = torch.tensor([[0.0, 0.0, float(height), float(width)]]).repeat(n, 1)
    pending = torch.ones(n, dtype=torch.bool)
    for _ in range(attempts):
        frac = torch.empty(n).uniform_(lo, area[1], generator=generator)
        ratio = torch.exp(torch.empty(n).uniform_(*torch.log(torch.tensor(aspect)).tolist(), generator=generator))
        h = torch.round(torch.sqrt(frac * height * width / ratio))
        w = torch.round(torch.sqrt(frac * height * width * ratio))
        fits = pending & (h <= height) & (w <= width) & (h >= 1) & (w >= 1)
        top = torch.floor(torch.rand(n, generator=generator) * (height - h + 1))
        left = torch.floor(torch.rand(n, generator=generator) * (width - w + 1))
        boxes[fits] = torch.stack([top, left, h, w], dim=1)[fits]
        pending &= ~fits
        if not pending.any():
            break
    return boxes


def crop_resize(x: Tensor, boxes: Tensor, size: int) -> Tensor:
    """x [N, C, H, W] float, boxes [N, 4] (top, left, h, w) -> [N, C, size, size], bilinear (half-pixel centres, as
    TF's resize without align_corners)."""
    n, _, height, width = x.shape
    boxes = boxes.to(x.device, x.dtype)
    top, left, h, w = boxes.unbind(1)
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = w / width
    theta[:, 0, 2] = (2 * left + w) / width - 1
    theta[:, 1, 1] = h / height
    theta[:, 1, 2] = (2 * top + h) / height - 1
    grid = F.affine_grid(theta, [n, x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_resized_crops(x: Tensor, size: int, area: tuple[float, float], aspect: tuple[float, float],
                         min_covered: float, generator: torch.Generator) -> Tensor:
    boxes = sample_boxes(len(x), x.shape[-2], x.shape[-1], area, aspect, min_covered, generator)
    return crop_resize(x, boxes, size)


def central_crop_resize(x: Tensor, fraction: float, size: int) -> Tensor:
    """slim's eval preprocessing: tf.image.central_crop(fraction), then bilinear to size x size."""
    n, _, height, width = x.shape
    h, w = int(height * fraction), int(width * fraction)  # central_crop's arithmetic (offset (H - h) // 2)
    top, left = (height - h) // 2, (width - w) // 2
    out = F.interpolate(x[..., top:top + h, left:left + w], size=(size, size), mode="bilinear",
                        align_corners=False)
    return out


def adjust_saturation(x: Tensor, factor: Tensor) -> Tensor:
    """HSV saturation times `factor` [N] (clipped to [0, 1]), hue and value kept (TF's adjust_saturation): each
    channel's distance below the maximum scales by S'/S."""
    value = x.amax(dim=1, keepdim=True)
    low = x.amin(dim=1, keepdim=True)
    sat = torch.where(value > 0, (value - low) / value.clamp_min(1e-12), torch.zeros_like(value))
    new_sat = (sat * factor.view(-1, 1, 1, 1)).clamp(0, 1)
    scale = torch.where(sat > 0, new_sat / sat.clamp_min(1e-12), torch.ones_like(sat))
    return value - (value - x) * scale


def slim_fast_colour(x: Tensor, generator: torch.Generator) -> Tensor:
    n = len(x)
    delta = torch.empty(n).uniform_(-32 / 255, 32 / 255, generator=generator).to(x.device, x.dtype)
    factor = torch.empty(n).uniform_(0.5, 1.5, generator=generator).to(x.device, x.dtype)
    return adjust_saturation(x + delta.view(-1, 1, 1, 1), factor).clamp(0, 1)
