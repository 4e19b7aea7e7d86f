"""Weight banks: every shareable layer owns K weight slots; an assignment picks one per task.

Tensors flowing through a banked network are grouped by task: x has shape [T, B, ...] and `slots`
(LongTensor [T]) says which slot each task uses in this layer. Isolated training is slots = 0..T-1,
full sharing is slots = 0 everywhere, and anything in between (partial sharing, an assignment
learned by NES) is just another `slots` vector. Batching never changes the maths: each task's
samples meet exactly the weights its slot holds, and batch-norm statistics are computed per task
(as a loop of per-task forward passes would), see `BankedBatchNorm`.

How the work is batched (measured, see tests/test_benchmark_batching.py):
- dense layers: one `bmm` over all tasks with the gathered weights `weight[slots]`;
- convolutions: all tasks on one slot run as one convolution over their concatenated samples;
  many distinct slots run as one grouped convolution (BankedNet.conv_strategy says when).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

INITS = ("torch", "he-uniform", "glorot-uniform")


def init_slots_(weight: Tensor, bias: Tensor | None, init: str = "torch") -> None:
    """Initialise every slot on its own, with the fan-in of one slot.

    - "torch" (default): exactly what `nn.Conv2d` / `nn.Linear` of the slot's shape do in
      `reset_parameters`: weight kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(fan_in)), bias U(+-1/sqrt(fan_in)).
      The released LWS code never calls an init function, so its layers get this; the LWS paper's
      "uniform He initialization" describes exactly that default (issue 7).
    - "he-uniform": U(+-sqrt(6/fan_in)) (gain sqrt(2)) and zero biases, for a paper that asks for it.
    - "glorot-uniform": U(+-sqrt(6/(fan_in + fan_out))) and zero biases: Keras' defaults (JAE's authors used Keras).
    """
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; known: {', '.join(INITS)}")
    for k in range(weight.shape[0]):
        if init == "torch":
            nn.init.kaiming_uniform_(weight[k], a=math.sqrt(5))
        elif init == "glorot-uniform":
            nn.init.xavier_uniform_(weight[k])
        else:
            nn.init.kaiming_uniform_(weight[k], nonlinearity="relu")
        if bias is not None:
            if init == "torch":
                fan_in, _ = nn.init._calculate_fan_in_and_fan_out(weight[k])
                bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                nn.init.uniform_(bias[k], -bound, bound)
            else:
                nn.init.zeros_(bias[k])


class _SlotConvolution(nn.Module):
    """K slots of one convolution-like layer; `op` is F.conv2d, or F.conv_transpose2d (whose weights hold the input
    channels before the output ones): one slot at a time, or all tasks as one grouped call."""

    op = staticmethod(F.conv2d)

    def __init__(self, num_slots: int, weight_shape: tuple[int, ...], out_channels: int, padding: int, stride: int,
                 bias: bool, init: str):
        super().__init__()
        self.padding, self.stride = padding, stride
        self.weight = nn.Parameter(torch.empty(num_slots, *weight_shape))
        self.bias = nn.Parameter(torch.zeros(num_slots, out_channels)) if bias else None
        init_slots_(self.weight.data, None if self.bias is None else self.bias.data, init)

    @property
    def num_slots(self) -> int:
        return self.weight.shape[0]

    def forward_single(self, x: Tensor, slot: int) -> Tensor:
        """One task's samples [B, C, H, W] through one slot: the reference a loop would use."""
        return self.op(x, self.weight[slot], None if self.bias is None else self.bias[slot],
                       stride=self.stride, padding=self.padding)

    def forward(self, x: Tensor, slots: Tensor) -> Tensor:
        """x [T, B, C, H, W]: one call over all samples when every task uses one slot, else one grouped call with
        the gathered weights (BankedNet decides when that pays off)."""
        T, B = x.shape[:2]
        unique = torch.unique(slots)
        if unique.numel() == 1:
            out = self.forward_single(x.reshape(T * B, *x.shape[2:]), int(unique[0]))
            return out.reshape(T, B, *out.shape[1:])
        w = self.weight[slots].reshape(-1, *self.weight.shape[2:])
        b = None if self.bias is None else self.bias[slots].reshape(-1)
        xg = x.permute(1, 0, 2, 3, 4).reshape(B, -1, *x.shape[3:])
        out = self.op(xg, w, b, stride=self.stride, padding=self.padding, groups=T)
        return out.reshape(B, T, -1, *out.shape[2:]).permute(1, 0, 2, 3, 4)


class BankedConv2d(_SlotConvolution):
    im2col_max_fan_in = 9  # forward_nhwc: unfold + matmul up to this many weights per output (one 3x3 channel)

    def __init__(self, num_slots: int, in_channels: int, out_channels: int, kernel_size: int = 3,
                 padding: int = 1, bias: bool = False, stride: int = 1, init: str = "torch"):
        super().__init__(num_slots, (out_channels, in_channels, kernel_size, kernel_size), out_channels, padding,
                         stride, bias, init)

    def forward_nhwc(self, x: Tensor, slot: int, scale: Tensor | None = None) -> Tensor:
        """Samples [N, C, H, W] through one slot, output in channels_last (NHWC) memory format: the CPU path.

        On CPU, max-pooling, ReLU and batch norm run several times faster in NHWC than in NCHW (max-pooling
        13x on 32 channels, measured). oneDNN keeps NHWC when it gets NHWC, except with one input channel,
        where the layouts coincide and it falls back to a slow NCHW kernel: there (at most `im2col_max_fan_in`
        weights per output) the convolution is one matmul over the patches, 1.7x faster and NHWC by construction.
        `scale` [out] multiplies every output channel (eval-mode batch norm folded into the weights)."""
        w = self.weight[slot]
        b = None if self.bias is None else self.bias[slot]
        if scale is not None:
            w = w * scale.view(-1, 1, 1, 1)
            b = None if b is None else b * scale
        if w.shape[1] * w.shape[2] * w.shape[3] <= self.im2col_max_fan_in:
            return self._im2col_nhwc(x, w, b)
        return F.conv2d(x.contiguous(memory_format=torch.channels_last), w, b, stride=self.stride,
                        padding=self.padding)

    def _im2col_nhwc(self, x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
        """Convolution as one matmul over NHWC patches (a strided view of the padded input, copied once);
        the bias is fused into the matmul (addmm)."""
        N, C, H, W = x.shape
        k, s, p = w.shape[-1], self.stride, self.padding
        xp = F.pad(x, (p, p, p, p)) if p else x
        Ho, Wo = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
        sN, sC, sH, sW = xp.stride()
        patches = xp.as_strided((N, Ho, Wo, C, k, k), (sN, sH * s, sW * s, sC, sH, sW)).reshape(N * Ho * Wo, -1)
        w2 = w.reshape(w.shape[0], -1).t()
        out = torch.mm(patches, w2) if b is None else torch.addmm(b, patches, w2)
        return out.view(N, Ho, Wo, -1).permute(0, 3, 1, 2)


class BankedConvTranspose2d(_SlotConvolution):
    """K slots of a transposed convolution (the decoder of an autoencoder): 4x4, stride 2, padding 1 doubles the
    size. Weights [K, in, out, k, k] as `nn.ConvTranspose2d` stores them, so `init="torch"` is its default init."""

    op = staticmethod(F.conv_transpose2d)

    def __init__(self, num_slots: int, in_channels: int, out_channels: int, kernel_size: int = 4, stride: int = 2,
                 padding: int = 1, bias: bool = False, init: str = "torch"):
        super().__init__(num_slots, (in_channels, out_channels, kernel_size, kernel_size), out_channels, padding,
                         stride, bias, init)


class BankedLinear(nn.Module):
    def __init__(self, num_slots: int, in_features: int, out_features: int, bias: bool = True,
                 init: str = "torch"):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_slots, out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(num_slots, out_features)) if bias else None
        init_slots_(self.weight.data, None if self.bias is None else self.bias.data, init)

    @property
    def num_slots(self) -> int:
        return self.weight.shape[0]

    def forward(self, x: Tensor, slots: Tensor) -> Tensor:
        """x [T, B, in] -> [T, B, out]: one batched matmul whatever the assignment."""
        out = torch.bmm(x, self.weight[slots].transpose(1, 2))
        if self.bias is not None:
            out = out + self.bias[slots].unsqueeze(1)
        return out


SLOT_LAYERS = (BankedConv2d, BankedConvTranspose2d, BankedLinear)  # modules whose tensors lead with the slot


class BankedBatchNorm(nn.Module):
    """Batch norm whose affine parameters and running moments live in K rows, one per slot or task.

    Training statistics are always computed per task group (over B and the spatial dims), so a
    batched step equals a loop of per-task forward passes through `nn.BatchNorm`. Running moments
    are updated in task order with PyTorch's rule (unbiased variance, momentum 0.1), again exactly
    as the loop would.
    """

    max_views = 8  # up to this many tasks per call, CPU uses per-task calls (measured faster)

    def __init__(self, num_rows: int, channels: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.weight = nn.Parameter(torch.ones(num_rows, channels))
        self.bias = nn.Parameter(torch.zeros(num_rows, channels))
        self.register_buffer("running_mean", torch.zeros(num_rows, channels))
        self.register_buffer("running_var", torch.ones(num_rows, channels))

    def forward(self, x: Tensor, rows: Tensor) -> Tensor:
        """x [T, B, C, ...] with `rows` [T] -> normalised x, via one fused batch-norm call.

        Viewing x as [B, T*C, ...] makes every (task, channel) pair its own batch-norm channel,
        so the statistics are per task. Running moments: the fused call returns each task's batch moments
        s_t, and `fold_running_moments` applies them in task order, as the sequential updates of a loop of
        per-task forward passes would when tasks share a row (one vectorised update: with seeds packed
        on a GPU a step has hundreds of rows).
        """
        T, B, C = x.shape[:3]
        if T == 1:  # one task: plain batch norm on its samples, no layout change needed
            return self._single(x[0], int(rows[0])).unsqueeze(0)
        if not x.is_cuda and T <= self.max_views:  # CPU: per-task calls on views beat a transpose
            return torch.stack([self._single(x[t], r) for t, r in enumerate(rows.tolist())])
        xb = x.transpose(0, 1).reshape(B, T * C, *x.shape[3:])
        weight, bias = self.weight[rows].reshape(-1), self.bias[rows].reshape(-1)
        if self.training:
            # momentum 1 on scratch buffers leaves exactly each task's batch mean and unbiased variance in them
            mean_t, var_t = self.running_mean.new_zeros(T * C), self.running_var.new_zeros(T * C)
            out = F.batch_norm(xb, mean_t, var_t, weight, bias, True, 1.0, self.eps)
            self.fold_running_moments(rows.tolist(), mean_t.view(T, C), var_t.view(T, C))
        else:
            out = F.batch_norm(xb, self.running_mean[rows].reshape(-1), self.running_var[rows].reshape(-1),
                               weight, bias, False, 0.0, self.eps)
        return out.reshape(B, T, C, *x.shape[3:]).transpose(0, 1)

    def forward_eval(self, x: Tensor, row: int) -> Tensor:
        """Eval mode, any memory format: the running moments of `row`."""
        return F.batch_norm(x, self.running_mean[row], self.running_var[row], self.weight[row], self.bias[row],
                            False, 0.0, self.eps)

    def eval_affine(self, row: int) -> tuple[Tensor, Tensor]:
        """Eval mode as y = scale * x + shift per channel, to fold into the preceding convolution."""
        scale = self.weight[row] * torch.rsqrt(self.running_var[row] + self.eps)
        return scale, self.bias[row] - self.running_mean[row] * scale

    def forward_batch(self, x: Tensor, row: int) -> tuple[Tensor, Tensor, Tensor]:
        """Train mode on one batch [B, C, ...] (any memory format) with the affine parameters of `row`,
        without touching the running moments: returns the output and the batch mean and unbiased variance,
        for `fold_running_moments` (a scratch buffer with momentum 1 receives exactly those)."""
        mean, var = self.running_mean.new_zeros(x.shape[1]), self.running_var.new_zeros(x.shape[1])
        out = F.batch_norm(x, mean, var, self.weight[row], self.bias[row], True, 1.0, self.eps)
        return out, mean, var

    @torch.no_grad()
    def fold_running_moments(self, rows: list[int], means: Tensor, variances: Tensor) -> None:
        """Apply PyTorch's update r = (1 - m) r + m s once per batch, in order: batch i used row `rows[i]`
        and had moments means[i], variances[i] [n, C]. Vectorised: a row used c times decays by (1 - m)^c
        and batch i enters with weight m (1 - m)^(later uses of its row), as the sequential loop would."""
        keep = 1.0 - self.momentum
        later, seen = [0] * len(rows), {}
        for i in range(len(rows) - 1, -1, -1):
            later[i] = seen.get(rows[i], 0)
            seen[rows[i]] = later[i] + 1
        like = {"dtype": means.dtype, "device": means.device}
        weight = torch.tensor([self.momentum * keep ** n for n in later], **like).unsqueeze(1)
        decay = torch.tensor([keep ** seen.get(r, 0) for r in range(self.running_mean.shape[0])], **like)
        index = torch.tensor(rows, device=means.device)
        for buffer, stats in ((self.running_mean, means), (self.running_var, variances)):
            buffer.mul_(decay.unsqueeze(1)).index_add_(0, index, weight * stats)

    def _single(self, x: Tensor, row: int) -> Tensor:
        if not self.training:
            return self.forward_eval(x, row)
        mean, var = self.running_mean[row].clone(), self.running_var[row].clone()
        out = F.batch_norm(x, mean, var, self.weight[row], self.bias[row], True, self.momentum, self.eps)
        with torch.no_grad():
            self.running_mean[row] = mean
            self.running_var[row] = var
        return out


def slot_groups(slots: Tensor) -> tuple[list[tuple[int, slice | Tensor]], bool]:
    """Tasks grouped by slot, in order of first use: a slice where the group is a contiguous run
    of tasks (a view, no copy), else an index tensor; and whether the groups are already in task
    order (then re-assembling is a plain concatenation)."""
    members: dict[int, list[int]] = {}
    for task, slot in enumerate(slots.tolist()):
        members.setdefault(slot, []).append(task)
    groups: list[tuple[int, slice | Tensor]] = []
    order: list[int] = []
    for slot, idx in members.items():
        contiguous = idx == list(range(idx[0], idx[-1] + 1))
        groups.append((slot, slice(idx[0], idx[-1] + 1) if contiguous
                       else torch.tensor(idx, device=slots.device)))
        order += idx
    return groups, order == sorted(order)


class HeadBank(nn.Module):
    """Per-task output layers of different widths, padded to the widest and masked.

    Padding rows get no gradient (their logits are -inf), and the init depends on fan-in only, so
    each task's head is distributed exactly like a separate nn.Linear(in, classes_t). `shared`: one output
    layer for every task (Bilen & Vedaldi's full sharing), which needs equal class counts.
    """

    def __init__(self, in_features: int, num_classes: list[int], init: str = "torch", shared: bool = False):
        super().__init__()
        if shared and len(set(num_classes)) != 1:
            raise ValueError(f"a shared classifier needs every task to have the same number of classes, got "
                             f"{num_classes}")
        self.linear = BankedLinear(1 if shared else len(num_classes), in_features, max(num_classes), init=init)
        mask = torch.zeros(len(num_classes), max(num_classes), dtype=torch.bool)
        for t, c in enumerate(num_classes):
            mask[t, c:] = True
        self.register_buffer("pad_mask", mask)
        self.register_buffer("task_slot", torch.zeros(len(num_classes), dtype=torch.long) if shared
                             else torch.arange(len(num_classes)))

    def slot_users(self) -> Tensor:
        """How many tasks use each output layer: [slots]."""
        return torch.bincount(self.task_slot, minlength=self.linear.num_slots)

    def forward(self, x: Tensor, tasks: Tensor) -> Tensor:
        return self.linear(x, self.task_slot[tasks]).masked_fill(self.pad_mask[tasks].unsqueeze(1), -math.inf)
