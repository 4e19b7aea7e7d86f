"""Routed units: the pieces of a banked network that an assignment picks a slot for.

A unit holds K slots of one layer (or of one residual block) and maps h [n, B, ...] to the next
activation, given `slots` [n] (which slot each row of tasks uses) and `norm_rows` [n] (which batch-norm
row: the slot, or the task for domain-specific BN). Every tensor a slot owns has the slot as its
leading dimension, so a method can treat a slot's weights as one unit (copy it, scale its gradient).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sharebench.methods.banks import SLOT_LAYERS, BankedBatchNorm, BankedConv2d, BankedConvTranspose2d, BankedLinear
from sharebench.methods.norms import BankedNorm
from sharebench.methods.rowplan import KeyLayer


def _maybe_norm(num_rows: int, channels: int, enabled: bool) -> BankedBatchNorm | None:
    return BankedBatchNorm(num_rows, channels) if enabled else None


class Unit(nn.Module):
    kind = "conv"  # "conv" units may be run per slot group; "dense" units always run as one bmm
    supports_keys = False  # has forward_keys (the CPU path over distinct row prefixes, methods/rowplan.py)

    @property
    def num_slots(self) -> int:
        return next(m for m in self.modules() if isinstance(m, SLOT_LAYERS)).num_slots

    def norm_parameters(self) -> list[nn.Parameter]:
        """The normalisation scales and shifts (exempt from weight decay when `decay_norms` is false)."""
        return [p for m in self.modules() if isinstance(m, (BankedBatchNorm, BankedNorm)) for p in m.parameters()]

    def core_parameters(self) -> list[nn.Parameter]:
        """The layer weights (not the batch-norm scale and shift): what soft sharing ties together."""
        norm_ids = {id(p) for p in self.norm_parameters()}
        return [p for p in self.parameters() if id(p) not in norm_ids]

    def slot_tensors(self, norm_per_slot: bool) -> list[Tensor]:
        """Every parameter and buffer indexed by slot (BN rows only when BN is per slot)."""
        out = []
        for m in self.modules():
            if isinstance(m, BankedBatchNorm):
                if norm_per_slot:
                    out += [m.weight, m.bias, m.running_mean, m.running_var]
            elif isinstance(m, BankedNorm):
                out += m.slot_tensors()
            elif isinstance(m, SLOT_LAYERS):
                out += [p for p in m.parameters(recurse=False)]
        return out


class ConvUnit(Unit):
    """conv3x3 (or `kernel` x `kernel`, padding 1) -> BN -> ReLU -> (maxpool 2); without BN the convolution has a
    bias unless `bias=False`, and `activation=False` drops the ReLU (a pre-activation ResNet's stem is a bare
    convolution). A 4x4 kernel with stride 2 halves the size (an autoencoder's encoder)."""

    supports_keys = True

    def __init__(self, num_slots: int, norm_rows: int, in_ch: int, out_ch: int, batchnorm: bool, pool: bool,
                 stride: int = 1, init: str = "torch", activation: bool = True, bias: bool | None = None,
                 kernel: int = 3, leak: float = 0.0):
        super().__init__()
        self.conv = BankedConv2d(num_slots, in_ch, out_ch, kernel_size=kernel, bias=not batchnorm if bias is None
                                 else bias, stride=stride, init=init)
        self.norm = _maybe_norm(norm_rows, out_ch, batchnorm)
        self.pool, self.activation, self.leak = pool, activation, leak

    def _relu(self, h: Tensor) -> Tensor:
        """ReLU, or LeakyReLU with slope `leak` (a DCGAN discriminator)."""
        if not self.activation:
            return h
        return F.leaky_relu(h, self.leak) if self.leak else F.relu(h)

    def forward(self, h: Tensor, slots: Tensor, norm_rows: Tensor) -> Tensor:
        h = self.conv(h, slots)
        if self.norm is not None:
            h = self.norm(h, norm_rows)
        h = self._relu(h)
        if self.pool:
            n, B = h.shape[:2]
            h = F.max_pool2d(h.flatten(0, 1), 2)
            h = h.reshape(n, B, *h.shape[1:])
        return h

    def forward_keys(self, inputs: list[Tensor], layer: KeyLayer) -> list[Tensor]:
        """The CPU path: every key of `layer` from its parent's activation [B, C, H, W], in NHWC.

        One convolution per slot over the concatenated parents; batch norm per key in training (its own
        statistics, as a separate forward pass would have), per slot in eval mode; max-pooling *before* ReLU,
        which is the same function with the same gradient (max commutes with a monotone map; where the max is
        <= 0 both give zero gradient) on a quarter of the elements."""
        outs: list[Tensor] = [inputs[0]] * layer.num_keys
        stats: dict[int, tuple[Tensor, Tensor]] = {}  # key -> batch mean and variance (training)
        for slot, keys in layer.keys_by_slot():
            parents = [inputs[layer.parent[k]] for k in keys]
            batch = parents[0].shape[0]
            h = torch.cat(parents) if len(parents) > 1 else parents[0]
            for piece_keys, out, shift in self._conv_and_norm(h, slot, keys, [layer.norm_row[k] for k in keys],
                                                              stats):
                if self.pool:
                    out = F.max_pool2d(out, 2)
                if shift is not None:  # a per-channel constant commutes with max-pooling: add it to fewer pixels
                    out = out + shift.view(-1, 1, 1)
                for k, part in zip(piece_keys, self._relu(out).split(batch)):
                    outs[k] = part
        if stats:
            per_row = [stats[k] for k in layer.row_key]
            self.norm.fold_running_moments(layer.row_norm_rows(), torch.stack([m for m, _ in per_row]),
                                           torch.stack([v for _, v in per_row]))
        return outs

    def _conv_and_norm(self, h: Tensor, slot: int, keys: list[int], rows: list[int],
                       stats: dict[int, tuple[Tensor, Tensor]]) -> list[tuple[list[int], Tensor, Tensor | None]]:
        """Convolution and batch norm of the concatenated keys on one slot, as (keys, output, shift) pieces,
        `shift` being a per-channel constant still to add.

        Eval mode with one BN row folds the norm's scale into the weights and returns its shift; training
        normalises each key's batch with its own statistics and records them in `stats`."""
        if self.norm is None:
            return [(keys, self.conv.forward_nhwc(h, slot), None)]
        if not self.training and len(set(rows)) == 1:
            scale, shift = self.norm.eval_affine(rows[0])
            return [(keys, self.conv.forward_nhwc(h, slot, scale), shift)]
        parts = self.conv.forward_nhwc(h, slot).split(len(h) // len(keys))
        if not self.training:
            return [([k], self.norm.forward_eval(part, r), None) for k, r, part in zip(keys, rows, parts)]
        pieces = []
        for k, r, part in zip(keys, rows, parts):
            out, mean, var = self.norm.forward_batch(part, r)
            stats[k] = (mean, var)
            pieces.append(([k], out, None))
        return pieces


class UpUnit(Unit):
    """Transposed conv 4x4, stride 2 (doubles the size) -> BN -> ReLU; the image output (`sigmoid`) has no BN and
    ends in a sigmoid, pixels in [0, 1]. Run per slot group (no CPU row-prefix path)."""

    def __init__(self, num_slots: int, norm_rows: int, in_ch: int, out_ch: int, batchnorm: bool, sigmoid: bool,
                 init: str = "torch"):
        super().__init__()
        self.conv = BankedConvTranspose2d(num_slots, in_ch, out_ch, bias=not batchnorm, init=init)
        self.norm = _maybe_norm(norm_rows, out_ch, batchnorm)
        self.sigmoid = sigmoid

    def forward(self, h: Tensor, slots: Tensor, norm_rows: Tensor) -> Tensor:
        h = self.conv(h, slots)
        if self.norm is not None:
            h = self.norm(h, norm_rows)
        return torch.sigmoid(h) if self.sigmoid else F.relu(h)


class DenseUnit(Unit):
    """Linear -> ReLU; always one batched matmul over all rows."""

    kind = "dense"
    supports_keys = True

    def __init__(self, num_slots: int, in_features: int, out_features: int, init: str = "torch"):
        super().__init__()
        self.linear = BankedLinear(num_slots, in_features, out_features, init=init)

    def forward(self, h: Tensor, slots: Tensor, norm_rows: Tensor) -> Tensor:
        return F.relu(self.linear(h.flatten(2) if h.ndim > 3 else h, slots))

    def forward_keys(self, inputs: list[Tensor], layer: KeyLayer) -> list[Tensor]:
        """Every key at once: one bmm over the stacked parents (flattened in NCHW order, as nn.Flatten)."""
        h = torch.stack([inputs[p].flatten(1) for p in layer.parent])
        slots = torch.tensor(layer.slot, device=h.device)
        return list(self.forward(h, slots, slots).unbind(0))


class BasicBlockUnit(Unit):
    """A ResNet BasicBlock (He et al. 2016) as one routed unit: conv3x3(stride)-BN-ReLU-conv3x3-BN plus
    the shortcut (conv1x1(stride)-BN when the shape changes), then ReLU. LWS routes the whole block."""

    def __init__(self, num_slots: int, norm_rows: int, in_ch: int, out_ch: int, stride: int, batchnorm: bool = True,
                 init: str = "torch"):
        super().__init__()
        self.conv1 = BankedConv2d(num_slots, in_ch, out_ch, stride=stride, bias=not batchnorm, init=init)
        self.norm1 = _maybe_norm(norm_rows, out_ch, batchnorm)
        self.conv2 = BankedConv2d(num_slots, out_ch, out_ch, bias=not batchnorm, init=init)
        self.norm2 = _maybe_norm(norm_rows, out_ch, batchnorm)
        self.shortcut = self.shortcut_norm = None
        if stride != 1 or in_ch != out_ch:
            self.shortcut = BankedConv2d(num_slots, in_ch, out_ch, kernel_size=1, padding=0, stride=stride,
                                         bias=not batchnorm, init=init)
            self.shortcut_norm = _maybe_norm(norm_rows, out_ch, batchnorm)

    @staticmethod
    def _bn(norm: BankedBatchNorm | None, h: Tensor, rows: Tensor) -> Tensor:
        return h if norm is None else norm(h, rows)

    def forward(self, h: Tensor, slots: Tensor, norm_rows: Tensor) -> Tensor:
        out = F.relu(self._bn(self.norm1, self.conv1(h, slots), norm_rows))
        out = self._bn(self.norm2, self.conv2(out, slots), norm_rows)
        short = h if self.shortcut is None else self._bn(self.shortcut_norm, self.shortcut(h, slots), norm_rows)
        return F.relu(out + short)


class PreActUnit(Unit):
    """A pre-activation residual unit (He et al. 2016b, "Identity mappings"; Bilen & Vedaldi's ResNet-38):

        a = ReLU(Norm1(h)); r = conv3x3(a, stride); r = conv3x3(ReLU(Norm2(r)))
        out = r + (h, or conv1x1(a, stride) when the shape changes)

    and, for the last unit of the network (`final_norm`), ReLU(Norm(out)) before global pooling. Convolutions
    have no bias; every Norm is a `BankedNorm` in the network's mode (BN or IN, universal or domain rows)."""

    def __init__(self, num_slots: int, num_tasks: int, in_ch: int, out_ch: int, stride: int, norm: str,
                 final_norm: bool = False, init: str = "torch"):
        super().__init__()
        self.norm1 = BankedNorm(norm, num_slots, num_tasks, in_ch)
        self.conv1 = BankedConv2d(num_slots, in_ch, out_ch, stride=stride, init=init)
        self.norm2 = BankedNorm(norm, num_slots, num_tasks, out_ch)
        self.conv2 = BankedConv2d(num_slots, out_ch, out_ch, init=init)
        self.shortcut = None
        if stride != 1 or in_ch != out_ch:
            self.shortcut = BankedConv2d(num_slots, in_ch, out_ch, kernel_size=1, padding=0, stride=stride, init=init)
        self.final = BankedNorm(norm, num_slots, num_tasks, out_ch) if final_norm else None

    def forward(self, h: Tensor, slots: Tensor, norm_rows: Tensor) -> Tensor:
        a = F.relu(self.norm1(h, slots, norm_rows))
        r = self.conv2(F.relu(self.norm2(self.conv1(a, slots), slots, norm_rows)), slots)
        out = r + (h if self.shortcut is None else self.shortcut(a, slots))
        return out if self.final is None else F.relu(self.final(out, slots, norm_rows))
