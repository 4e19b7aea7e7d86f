"""Named metrics that know their direction, the method output they read, their unit and scale.

A record stores, per declared metric, the value pooled over all evaluated test samples (`<metric>`),
the mean of the per-task values (`<metric>_task_mean`) and each task's value (`<metric>/<task>`).
A comparison's alternative and its effect size follow from the metric's direction, so reconstruction
error and accuracy need no special case anywhere downstream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sharebench.datasets.holes import hole_masks


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    output: str  # the method call it reads: "predict" (logits), "reconstruct" or "generate" (images)
    unit: str  # how the report shows it, after multiplying by `scale`
    scale: float
    description: str
    per_sample: Callable[[Any, Tensor, Tensor, int], Tensor]  # (method, x, y, task) -> [B] values
    complement_of: str | None = None  # error = 1 - accuracy: computed from it, not by a second pass

    def better(self, a: float, b: float) -> bool:
        return a > b if self.higher_is_better else a < b


def _correct(method: Any, x: Tensor, y: Tensor, task: int) -> Tensor:
    return (method.predict(x, task).argmax(1) == y).double()


def _squared_error(method: Any, x: Tensor, y: Tensor, task: int) -> Tensor:
    return (method.reconstruct(x, task) - x).pow(2).flatten(1).mean(1).double()


def _sum_squared_error(method: Any, x: Tensor, y: Tensor, task: int) -> Tensor:
    return (method.reconstruct(x, task) - x).pow(2).flatten(1).sum(1).double()


HOLE_FRACTION = 0.5  # masked MSE: a centred square hole of half the image side


def hole_mask(x: Tensor) -> Tensor:
    """[B, C, H, W] -> bool mask of the centred square hole (True = hidden from the method)."""
    h, w = x.shape[-2:]
    dh, dw = max(1, int(h * HOLE_FRACTION)), max(1, int(w * HOLE_FRACTION))
    mask = torch.zeros(h, w, dtype=torch.bool, device=x.device)
    mask[(h - dh) // 2:(h - dh) // 2 + dh, (w - dw) // 2:(w - dw) // 2 + dw] = True
    return mask.expand_as(x)


def _masked_squared_error(method: Any, x: Tensor, y: Tensor, task: int) -> Tensor:
    mask = hole_mask(x)
    filled = method.reconstruct(x.masked_fill(mask, 0.0), task)
    return ((filled - x).pow(2) * mask).flatten(1).sum(1).double() / mask[0].sum()


def _filled(method: Any, x: Tensor, y: Tensor, task: int) -> tuple[Tensor, Tensor]:
    """Image completion: the method's filling of each image's own hole (the label, datasets/holes.py) and the mask."""
    mask = hole_masks(y, method.tasks.holes[task], x.shape[-2], x.shape[-1]).expand_as(x)
    return method.reconstruct(x.masked_fill(mask, 0.0), task), mask


def _completion_squared_error(method: Any, x: Tensor, y: Tensor, task: int) -> Tensor:
    filled, _ = _filled(method, x, y, task)
    return (filled - x).pow(2).flatten(1).mean(1).double()


def _hole_squared_error(method: Any, x: Tensor, y: Tensor, task: int) -> Tensor:
    filled, mask = _filled(method, x, y, task)
    return ((filled - x).pow(2) * mask).flatten(1).sum(1).double() / mask.flatten(1).sum(1)


def _nearest_sample_error(method: Any, x: Tensor, y: Tensor, task: int) -> Tensor:
    """Per test image: the per-pixel squared error to the nearest of the method's samples of its domain."""
    samples = method.generate(task).to(x.dtype)
    d = (x.flatten(1).unsqueeze(1) - samples.flatten(1).unsqueeze(0)).pow(2).mean(dim=2)  # [B, S]
    return d.min(dim=1).values.double()


METRICS: dict[str, Metric] = {m.name: m for m in [
    Metric("accuracy", True, "predict", "%", 100.0, "share of test images classified correctly", _correct),
    Metric("error", False, "predict", "%", 100.0, "share of test images misclassified (1 - accuracy)",
           lambda *a: 1.0 - _correct(*a), complement_of="accuracy"),
    Metric("mse", False, "reconstruct", "MSE", 1.0, "mean squared reconstruction error per pixel, images in [0, 1]",
           _squared_error),
    Metric("recon_sse", False, "reconstruct", "SSE", 1.0, "sum of squared reconstruction errors per image, pixels "
           "in [0, 1] (the unit the JAE paper's numbers fit, specs/jae.md 2.5)", _sum_squared_error),
    Metric("masked_mse", False, "reconstruct", "MSE", 1.0,
           "mean squared error over a centred square hole (half the side) that the method must fill",
           _masked_squared_error),
    Metric("completion_mse", False, "reconstruct", "MSE", 1.0,
           "image completion: mean squared error per pixel over the whole image, after the method fills the image's "
           "own hole (Zhang et al. Fig. 5's reconstruction loss; pixels in [0, 1])", _completion_squared_error),
    Metric("hole_mse", False, "reconstruct", "MSE", 1.0,
           "image completion: mean squared error per pixel inside the hole only", _hole_squared_error),
    Metric("sample_coverage_mse", False, "generate", "MSE", 1.0,
           "generative models (not in Zhang et al., whose GAN results are pictures): per test image, the per-pixel "
           "squared error to the nearest of 64 samples of its domain from a fixed z; lower = the samples cover the "
           "test images better", _nearest_sample_error),
]}


def get_metric(name: str) -> Metric:
    """`error`, `error_task_mean` and `error/<task>` all name the metric `error`."""
    base = name.split("/")[0].removesuffix("_task_mean")
    if base not in METRICS:
        raise KeyError(f"unknown metric {base!r}; known: {', '.join(METRICS)}")
    return METRICS[base]


def check_method_outputs(metrics: list[str], method_cls: type, where: str) -> None:
    """A metric that reads an output the method does not produce is a configuration error."""
    from sharebench.methods.registry import Method

    for name in metrics:
        output = get_metric(name).output
        if getattr(method_cls, output) is getattr(Method, output):
            raise ValueError(f"{where}: metric {name!r} reads `{output}`, which method {method_cls.name!r} "
                             f"does not produce")


def eval_batches(n: int, chunk: int, pure_batch: int | None) -> list[slice | Tensor]:
    """How a test set of n images is fed: slices of `chunk` (order irrelevant), or, when predictions depend on the
    batch (BN+), a fixed permutation (RandomState(0), the same for every method and seed) split into
    ceil(n / pure_batch) near-equal batches, so that there is no tiny last batch (specs/bilen.md 2.3)."""
    if pure_batch is None:
        return [slice(i, i + chunk) for i in range(0, n, chunk)]
    order = np.random.RandomState(0).permutation(n)
    return [torch.from_numpy(part) for part in np.array_split(order, max(1, -(-n // pure_batch)))]


@torch.no_grad()
def evaluate(method: Any, data: dict[str, list[Tensor]], names: list[str], metrics: list[str],
             tasks: list[int] | None = None, chunk: int = 2048, pure_batch: int | None = None) -> dict[str, float]:
    """Every metric on the test split of `tasks` (default all): pooled over samples, task mean, per task.
    `pure_batch`: feed each task's images in fixed batches of about that size (`eval_batches`)."""
    tasks = list(range(len(names))) if tasks is None else tasks
    out: dict[str, float] = {}
    # a complement (error) after its base (accuracy), whatever the declared order: one pass over the test set
    for name in sorted(metrics, key=lambda n: METRICS[n].complement_of in metrics):
        metric = METRICS[name]
        if metric.complement_of in out:
            base = metric.complement_of
            out.update({key.replace(base, name, 1): 1.0 - v for key, v in list(out.items()) if key.split("/")[0]
                        .removesuffix("_task_mean") == base})
            continue
        sums, counts = [], []
        for t in tasks:
            x, y = data["x_test"][t], data["y_test"][t]
            total = sum(float(metric.per_sample(method, x[b], y[b], t).sum())
                        for b in eval_batches(len(y), chunk, pure_batch))
            sums.append(total)
            counts.append(len(y))
            out[f"{name}/{names[t]}"] = total / len(y)
        out[name] = sum(sums) / sum(counts)
        out[f"{name}_task_mean"] = float(np.mean([s / c for s, c in zip(sums, counts)]))
    return out
