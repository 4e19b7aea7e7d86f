"""CETL's networks (Chen et al.): a plain classifier built from a backbone's layer list, and its reverse decoder.

CETL has one network per role, not weight banks: S (the source CNN, frozen), T1 (the "reverse target CNN", a
decoder from a coupling vector to the image) and T2 (the target CNN). `PlainNet` builds S and T2 from any backbone
made of `conv` / `dense` LayerSpecs (dkl-convnet in the quick and small profiles); `ReverseNet` mirrors that list
(specs/cetl.md 2.1.3): the head's mirror and the dense layers reversed, then for every convolution in reverse a
nearest x2 upsampling where the encoder pooled ("unpooling": no pooling switches exist for S) and a 3x3 transposed
convolution with the mirrored channels, BN and ReLU, the last one to the image channels with a sigmoid (pixels in
[0, 1]).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sharebench.methods.networks import LayerSpec

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class BasicBlock(nn.Module):
    """He et al.'s post-activation BasicBlock: conv3x3(stride)-BN-ReLU-conv3x3-BN, plus the input (a 1x1
    projection with BN where the shape changes), then ReLU. Convolutions He-initialised (normal, fan_out), as
    torchvision's ResNets; only Table 4's teacher (resnet26-cifar) is made of these."""

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(),
                                  nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False), nn.BatchNorm2d(out_ch))
        self.shortcut = (nn.Identity() if stride == 1 and in_ch == out_ch else
                         nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch)))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class PlainNet(nn.Module):
    """trunk (the layer list) -> features (the penultimate vector) -> head -> logits."""

    def __init__(self, specs: list[LayerSpec], num_classes: int):
        super().__init__()
        layers: list[nn.Module] = []
        flat = False
        for s in specs:
            if s.kind == "conv":
                bias = (not s.batchnorm) if s.bias is None else s.bias
                layers.append(nn.Conv2d(s.in_features, s.out_features, s.kernel, stride=s.stride,
                                        padding=(s.kernel - 1) // 2, bias=bias))  # 3x3: 1, 5x5: 2 (size kept)
                layers += [nn.BatchNorm2d(s.out_features)] if s.batchnorm else []
                layers += [nn.ReLU()] if s.activation else []
                layers += [nn.MaxPool2d(2)] if s.pool else []
            elif s.kind == "block":
                layers.append(BasicBlock(s.in_features, s.out_features, s.stride))
            elif s.kind == "dense":
                if not flat:
                    layers.append(nn.Flatten())
                    flat = True
                layers += [nn.Linear(s.in_features, s.out_features), nn.ReLU()]
                layers += [nn.Dropout(s.dropout)] if s.dropout else []
            else:
                raise ValueError(f"CETL's networks are built from conv, block and dense layers; {s.name!r} is "
                                 f"{s.kind!r}")
            if s.global_pool:
                layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
                flat = True
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Linear(specs[-1].out_features, num_classes)
        self.feature_dim = specs[-1].out_features

    def features(self, x: Tensor) -> Tensor:
        return self.trunk(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


class ReverseNet(nn.Module):
    """T1: a coupling vector of `in_dim` -> an image of `image_shape` (H, W, C), the mirror of `specs`."""

    def __init__(self, specs: list[LayerSpec], in_dim: int, image_shape: tuple[int, int, int]):
        super().__init__()
        convs = [s for s in specs if s.kind == "conv"]
        dense = [s for s in specs if s.kind == "dense"]
        if not convs or not dense:
            raise ValueError("CETL's reverse network mirrors a backbone of convolutions followed by dense layers")
        sizes = [tuple(image_shape[:2])]  # the spatial size at each convolution's input, then at the end
        for s in convs:
            h, w = ((d - 1) // s.stride + 1 for d in sizes[-1])
            sizes.append((h // 2, w // 2) if s.pool else (h, w))
        self.shape = (convs[-1].out_features, *sizes[-1])
        if dense[0].in_features != self.shape[0] * self.shape[1] * self.shape[2]:
            raise ValueError(f"CETL's reverse network: the first dense layer takes {dense[0].in_features} inputs, the "
                             f"convolutions give {self.shape}")
        fc: list[nn.Module] = [nn.Linear(in_dim, dense[-1].out_features), nn.ReLU()]  # the head's mirror
        for s in reversed(dense):
            fc += [nn.Linear(s.out_features, s.in_features), nn.ReLU()]
        self.fc = nn.Sequential(*fc)
        up: list[nn.Module] = []
        for i, s in enumerate(reversed(convs)):
            before, after = sizes[len(convs) - 1 - i], sizes[len(convs) - i]
            up += [nn.Upsample(size=before, mode="nearest")] if before != after else []  # "unpooling" (7 -> 14 too)
            last = i == len(convs) - 1
            k = s.kernel if s.kernel % 2 else 3  # the mirrored kernel (odd sizes keep the size at stride 1)
            up.append(nn.ConvTranspose2d(s.out_features, s.in_features, k, stride=1, padding=(k - 1) // 2))
            up += [nn.Sigmoid()] if last else [nn.BatchNorm2d(s.in_features), nn.ReLU()]
        self.up = nn.Sequential(*up)

    def forward(self, z: Tensor) -> Tensor:
        return self.up(self.fc(z).reshape(len(z), *self.shape))


class ImageNetSource(nn.Module):
    """An ImageNet network (torchvision / timm, the paper profile's S) seen as CETL needs it: images in [0, 1] of any
    size and 1 or 3 channels are resized (bilinear) to `size`, gray ones replicated to RGB, normalised with ImageNet's
    mean and std; `features` is the input of the last linear layer (AlexNet / VGG-16 fc7 4096, GoogLeNet pool5 1024,
    ResNet-50 2048), `head` that layer (1,000 classes)."""

    def __init__(self, model: nn.Module, size: int = 224):
        super().__init__()
        self.body = copy.deepcopy(model)
        name, last = [(n, m) for n, m in self.body.named_modules() if isinstance(m, nn.Linear)][-1]
        parent = self.body.get_submodule(name.rpartition(".")[0]) if "." in name else self.body
        setattr(parent, name.rpartition(".")[2], nn.Identity())
        self.head, self.feature_dim, self.size = last, last.in_features, size
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def features(self, x: Tensor) -> Tensor:
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        out = self.body((x - self.mean) / self.std)
        return getattr(out, "logits", out)  # GoogLeNet in train mode returns a namedtuple

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))
