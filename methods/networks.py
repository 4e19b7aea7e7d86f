"""Banked networks: a stack of routed hidden layers (each a weight bank) and per-task heads.

A backbone is described by a list of `LayerSpec`; `BankedNet` builds one bank per hidden layer
with the number of slots a method asks for. `assignment[t, l]` is the slot task t uses in layer l.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sharebench.methods.banks import BankedBatchNorm, BankedConv2d, BankedLinear, HeadBank, slot_groups

NORMS = ("bn", "task-bn", "none")  # bn: per slot; task-bn: per task (domain-specific scale + moments)


@dataclass(frozen=True)
class LayerSpec:
    name: str
    kind: str  # "conv" | "dense"
    in_features: int
    out_features: int
    batchnorm: bool = False
    pool: bool = False

    def num_params(self) -> int:
        if self.kind == "conv":
            return self.in_features * self.out_features * 9
        return self.in_features * self.out_features + self.out_features


def dkl_convnet(input_shape: tuple[int, int, int], channels: int = 32, hidden: int = 128) -> list[LayerSpec]:
    """The LWS paper's DKL-MNIST ConvNet (Sec. IV-A): 3 x [conv3x3 (no bias) - BN - ReLU - maxpool2],
    then dense 128 + ReLU; the per-task output layer is added by BankedNet."""
    h, w, c = input_shape
    convs = [LayerSpec(f"conv{i + 1}", "conv", c if i == 0 else channels, channels, batchnorm=True, pool=True)
             for i in range(3)]
    flat = channels * (h // 8) * (w // 8)
    if flat == 0:
        raise ValueError(f"dkl-convnet needs images of at least 8x8 pixels, got {h}x{w}")
    return [*convs, LayerSpec("fc1", "dense", flat, hidden)]


def mlp(input_shape: tuple[int, int, int], hidden: tuple[int, ...] = (256, 256)) -> list[LayerSpec]:
    h, w, c = input_shape
    sizes = [h * w * c, *hidden]
    return [LayerSpec(f"fc{i + 1}", "dense", sizes[i], sizes[i + 1]) for i in range(len(hidden))]


BACKBONES: dict[str, Callable[..., list[LayerSpec]]] = {"dkl-convnet": dkl_convnet, "mlp": mlp}


def backbone_layers(name: str, input_shape: tuple[int, int, int], **options) -> list[LayerSpec]:
    if name not in BACKBONES:
        raise KeyError(f"unknown backbone {name!r}; known: {', '.join(sorted(BACKBONES))}")
    return BACKBONES[name](tuple(input_shape), **options)


class BankedNet(nn.Module):
    # "auto": one grouped convolution on CUDA, and on CPU when at least `grouped_min_slots` slots are
    # distinct; otherwise one convolution per distinct slot. "grouped" / "per-slot" force one.
    # Measured on 2 CPU cores (tests/test_benchmark_batching.py, 16 px, B=16): grouped was 1.3-1.4x
    # slower than per-slot with 3-5 distinct slots and 1.4x faster with 20.
    conv_strategy = "auto"
    grouped_min_slots = 10

    def __init__(self, layers: list[LayerSpec], num_classes: list[int], slots_per_layer: list[int],
                 norm: str = "bn"):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}; known: {', '.join(NORMS)}")
        if len(slots_per_layer) != len(layers):
            raise ValueError(f"{len(layers)} layers but {len(slots_per_layer)} slot counts")
        self.specs, self.norm, self.num_tasks = layers, norm, len(num_classes)
        self.layers = nn.ModuleList()
        self.norms = nn.ModuleList()
        for spec, k in zip(layers, slots_per_layer):
            if spec.kind == "conv":
                self.layers.append(BankedConv2d(k, spec.in_features, spec.out_features, bias=not spec.batchnorm))
            else:
                self.layers.append(BankedLinear(k, spec.in_features, spec.out_features))
            rows = k if norm == "bn" else self.num_tasks
            use_bn = spec.batchnorm and norm != "none"
            self.norms.append(BankedBatchNorm(rows, spec.out_features) if use_bn else nn.Identity())
        self.head = HeadBank(layers[-1].out_features, num_classes)

    @property
    def layer_names(self) -> list[str]:
        return [s.name for s in self.specs]

    def _norm_rows(self, slots: Tensor, tasks: Tensor) -> Tensor:
        return slots if self.norm == "bn" else tasks

    def forward(self, x: Tensor, assignment: Tensor, tasks: Tensor) -> Tensor:
        """x [T', B, C, H, W] for the tasks `tasks` [T'] -> logits [T', B, max classes] (padding = -inf).

        `assignment` is the full [T, L] table; rows are picked by `tasks`. Dense layers run as one
        bmm over all tasks. A convolutional layer runs once per distinct slot (conv, norm, ReLU and
        pooling on the concatenated samples of the tasks using it); on CUDA, as one grouped
        convolution over all tasks.
        """
        h = x
        for layer_index, spec in enumerate(self.specs):
            slots = assignment[tasks, layer_index]
            if spec.kind == "dense":
                h = self._unit(layer_index, h.flatten(2) if h.ndim > 3 else h, slots, tasks)
            elif self.conv_strategy == "grouped" or (self.conv_strategy == "auto" and (
                    h.is_cuda or len(torch.unique(slots)) >= self.grouped_min_slots)):
                h = self._unit(layer_index, h, slots, tasks)
            else:
                groups, in_order = slot_groups(slots)
                outs = [self._unit(layer_index, h[sel], slots[sel], tasks[sel]) for _, sel in groups]
                h = torch.cat(outs) if len(outs) > 1 else outs[0]
                if not in_order:
                    order = torch.cat([torch.arange(len(tasks))[sel] for _, sel in groups])
                    h = h.index_select(0, torch.argsort(order).to(h.device))
        if h.ndim > 3:
            h = h.flatten(2)
        return self.head(h, tasks)

    def _unit(self, layer_index: int, h: Tensor, slots: Tensor, tasks: Tensor) -> Tensor:
        """Layer -> norm -> ReLU -> pool for the tasks in h [n, B, ...]."""
        spec, norm = self.specs[layer_index], self.norms[layer_index]
        h = self.layers[layer_index](h, slots)
        if isinstance(norm, BankedBatchNorm):
            h = norm(h, self._norm_rows(slots, tasks))
        h = F.relu(h)
        if spec.pool:
            n, B = h.shape[:2]
            h = F.max_pool2d(h.flatten(0, 1), 2)
            h = h.reshape(n, B, *h.shape[1:])
        return h

    def forward_loop(self, x: Tensor, assignment: Tensor, tasks: Tensor) -> Tensor:
        """The straightforward reference: one forward pass per task, as a Python loop.

        Used to check that `forward` computes the same thing and to benchmark the batching.
        """
        outs = []
        for i in range(len(tasks)):
            outs.append(self.forward(x[i:i + 1], assignment, tasks[i:i + 1]))
        return torch.cat(outs)

    def copy_slot(self, layer: int, src: int, dst: int) -> None:
        """Copy one slot's weights (and its BN row, when BN is per slot) into another slot."""
        with torch.no_grad():
            for p in self.layers[layer].parameters():
                p[dst].copy_(p[src])
            norm = self.norms[layer]
            if self.norm == "bn" and isinstance(norm, BankedBatchNorm):
                for t in (norm.weight, norm.bias, norm.running_mean, norm.running_var):
                    t[dst].copy_(t[src])
