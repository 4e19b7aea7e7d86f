"""Pretrained timm networks as banked backbones (Zhang et al.'s paper profile: one ImageNet InceptionV3 per dataset).

`inception-v3` is timm's `inception_v3.tf_in1k` (the port of the TF-slim `inception_v3_2016_08_28` checkpoint that the
released code loads, specs/zhang.md 2.8) cut into its 16 top-level blocks in forward order, the "layers" whose
adjacent pairs the coupling ties (specs/zhang.md 7, item 10): Conv2d_1a_3x3, 2a, 2b (+ max-pool), 3b_1x1,
4a_3x3 (+ max-pool), Mixed_5b, 5c, 5d, 6a, 6b, 6c, 6d, 6e, 7a, 7b, 7c; then global average pooling, dropout 0.2 (slim's
keep probability 0.8) and per-task linear heads 2048 -> classes. No auxiliary logits (`create_aux_logits=False` in
the released code). Every copy starts from the same weights (the paper's copies all start from one pretrained
network) and keeps its own batch-norm. Inputs: RGB in the network's normalisation (mean = std = 0.5, the
experiment's `input:` block), at least 75 px; input_shape is (H, W, C) as everywhere.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from sharebench.methods.networks import LayerSpec

INCEPTION_BLOCKS = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
                    "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
                    "Mixed_7a", "Mixed_7b", "Mixed_7c"]
POOL_AFTER = {"Conv2d_2b_3x3": "Pool1", "Conv2d_4a_3x3": "Pool2"}  # parameter-free, folded into the block before


def timm_model(name: str, pretrained: bool) -> nn.Module:
    """The timm network, with its ImageNet weights when `pretrained` (offline and not cached: a DataError that names
    the weights and how to provide them, benchmarks/store.py)."""
    if pretrained:
        from sharebench.benchmarks.store import load_pretrained

        return load_pretrained(f"timm:{name}")
    import timm

    return timm.create_model(name, pretrained=False)


def inception_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The 16 blocks of a timm InceptionV3 (pools folded in), in forward order."""
    blocks = []
    for name in INCEPTION_BLOCKS:
        block = getattr(model, name)
        if name in POOL_AFTER:
            block = nn.Sequential(block, getattr(model, POOL_AFTER[name]))
        blocks.append((name, block))
    return blocks


def inception_v3_layers(input_shape: tuple[int, int, int], model: str = "inception_v3.tf_in1k",
                        pretrained: bool = True, dropout: float = 0.2) -> list[LayerSpec]:
    h, w, c = input_shape
    if c != 3 or min(h, w) < 75:
        raise ValueError(f"backbone 'inception-v3' takes RGB images of at least 75 x 75 px, got {input_shape}")
    blocks = inception_blocks(timm_model(model, pretrained))
    layers = []
    with torch.device("meta"):  # shapes only: no arithmetic
        x = torch.zeros(1, c, h, w)
        shapes = []
        for _, block in blocks:
            channels = x.shape[1]
            x = copy.deepcopy(block).to("meta").eval()(x)
            shapes.append((channels, x.shape[1]))
    for index, ((name, block), (c_in, c_out)) in enumerate(zip(blocks, shapes)):
        last = index == len(blocks) - 1
        layers.append(LayerSpec(name, "module", c_in, c_out, batchnorm=True, global_pool=last,
                                dropout=dropout if last else 0.0, template=block))
    return layers

