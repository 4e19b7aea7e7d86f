"""Banked networks: a stack of routed units (each a bank of K weight slots) and per-task heads.

A backbone is described by a list of `LayerSpec`; `BankedNet` builds one unit per spec with the
number of slots a method asks for. `assignment[t, l]` is the slot task t uses in unit l. Units whose
spec says `shareable=False` (the always-shared CIFAR trunk of the LWS paper, a ResNet stem) have one
slot that every task uses, whatever the method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sharebench.methods.banks import HeadBank, slot_groups
from sharebench.methods.module_units import ModuleUnit, core_parameter_count
from sharebench.methods.norms import NORM_MODES
from sharebench.methods.rowplan import plan_rows
from sharebench.methods.units import BasicBlockUnit, ConvUnit, DenseUnit, PreActUnit, Unit, UpUnit

NORMS = tuple(NORM_MODES)  # bn: per slot; task-bn: per task (domain-specific scale + moments); see norms.py
BN_ONLY_NORMS = ("bn", "task-bn", "none")  # what conv and block units support; preact units support every mode
KINDS = ("conv", "dense", "block", "preact", "up", "module")


@dataclass(frozen=True)
class LayerSpec:
    name: str
    kind: str  # "conv" (conv3x3-BN-ReLU[-pool]) | "dense" (Linear-ReLU) | "block" (ResNet BasicBlock)
    #            | "preact" (pre-activation residual unit) | "up" (transposed conv 4x4 s2 -BN-ReLU, an AE's decoder)
    #            | "module" (copies of `template`, any block: a pretrained network's stage, methods/module_units.py)
    in_features: int
    out_features: int
    batchnorm: bool = False
    pool: bool = False  # 2x2 max-pooling after the unit
    stride: int = 1
    shareable: bool = True  # False: one slot used by every task, for every method
    global_pool: bool = False  # global average pooling after the unit (before the heads)
    activation: bool = True  # conv: ReLU after the unit
    bias: bool | None = None  # conv: a bias (default: when there is no batch norm)
    final_norm: bool = False  # preact: Norm -> ReLU after the unit (the network's last unit)
    kernel: int = 3  # conv: the kernel size (padding 1: 3x3 keeps the size, 4x4 with stride 2 halves it)
    sigmoid: bool = False  # up: the image output (no BN, a sigmoid): the network has no classifier heads
    dropout: float = 0.0  # after the unit (and its global pooling) while training: InceptionV3's before its heads
    template: nn.Module | None = field(default=None, compare=False, repr=False)  # module: the block, with its weights

    def num_params(self) -> int:
        """Weights of one slot (convolution kernels; linear weights and biases; norms not counted)."""
        if self.kind == "module":
            return core_parameter_count(self.template)
        if self.kind in ("conv", "up"):
            return self.in_features * self.out_features * self.kernel ** 2
        if self.kind in ("block", "preact"):
            n = (self.in_features + self.out_features) * self.out_features * 9
            if self.stride != 1 or self.in_features != self.out_features:
                n += self.in_features * self.out_features
            return n
        return self.in_features * self.out_features + self.out_features


def ae9(input_shape: tuple[int, int, int], width: int = 8) -> list[LayerSpec]:
    """Zhang et al.'s "9-layer auto-encoder" for image completion (Sec. 5.3; its details are in the missing
    supplement, so this is specs/zhang.md 2.8's choice): four 4x4 stride-2 convolutions (w, 2w, 4w, 8w channels; BN
    from the second), a 3x3 convolution at H/16, three 4x4 stride-2 transposed convolutions back (4w, 2w, w; BN) and
    a transposed convolution to the image with a sigmoid. Every layer has the same shape in every copy, so all nine
    are tied by the coupling methods; there is no classifier."""
    h, w_px, c = input_shape
    if h % 16 or w_px % 16:
        raise ValueError(f"ae9 needs images whose sides divide by 16, got {h}x{w_px}")
    chans = [width, 2 * width, 4 * width, 8 * width]
    enc = [LayerSpec(f"e{i + 1}", "conv", c if i == 0 else chans[i - 1], chans[i], batchnorm=i > 0, stride=2,
                     kernel=4) for i in range(4)]
    mid = LayerSpec("m", "conv", chans[3], chans[3], batchnorm=True)
    dec = [LayerSpec(f"d{i + 1}", "up", chans[3 - i], chans[2 - i], batchnorm=True) for i in range(3)]
    out = LayerSpec("out", "up", width, c, sigmoid=True)
    return [*enc, mid, *dec, out]


def _conv_stack(c: int, channels: int, n: int, shareable: bool = True) -> list[LayerSpec]:
    return [LayerSpec(f"conv{i + 1}", "conv", c if i == 0 else channels, channels, batchnorm=True, pool=True,
                      shareable=shareable) for i in range(n)]


def dkl_convnet(input_shape: tuple[int, int, int], channels: int = 32, hidden: int = 128) -> list[LayerSpec]:
    """The LWS paper's DKL-MNIST ConvNet (Sec. IV-A): 3 x [conv3x3 (no bias) - BN - ReLU - maxpool2],
    then dense 128 + ReLU; the per-task output layer is added by BankedNet."""
    h, w, c = input_shape
    flat = channels * (h // 8) * (w // 8)
    if flat == 0:
        raise ValueError(f"dkl-convnet needs images of at least 8x8 pixels, got {h}x{w}")
    return [*_conv_stack(c, channels, 3), LayerSpec("fc1", "dense", flat, hidden)]


def ci_cnn(input_shape: tuple[int, int, int], width: float = 1.0) -> list[LayerSpec]:
    """CETL's CI-CNN (Chen et al. 4.1.1; specs/cetl.md 2.1.2): AlexNet's five convolutions and two dense layers with
    3x3 kernels and about 1/2 (convolutions) and 1/4 (dense) of its widths: conv 48-128-192-192-128 with BN, ReLU and
    2x2 max-pooling after the 1st, 2nd and 5th, dense 1024-1024 with dropout 0.5 (3.99 M parameters at 32 px with
    10 classes, < 10% of AlexNet's 61 M). The widths are the spec's choice; the paper gives the ratios only."""
    h, w, c = input_shape
    if h % 8 or w % 8:
        raise ValueError(f"ci-cnn pools three times: image sides must be divisible by 8, got {h}x{w}")
    widths = [max(1, round(n * width)) for n in (48, 128, 192, 192, 128)]
    dense = max(1, round(1024 * width))
    convs = [LayerSpec(f"conv{i + 1}", "conv", c if i == 0 else widths[i - 1], n, batchnorm=True, pool=i in (0, 1, 4))
             for i, n in enumerate(widths)]
    flat = widths[-1] * (h // 8) * (w // 8)
    return [*convs, LayerSpec("fc6", "dense", flat, dense, dropout=0.5),
            LayerSpec("fc7", "dense", dense, dense, dropout=0.5)]


def drcn_digits(input_shape: tuple[int, int, int]) -> list[LayerSpec]:
    """DRCN's digit ConvNet (Ghifary et al. 2016, Sec. 4; CETL's Table 5 follows its settings): conv5x5 100 - pool -
    conv5x5 150 - pool - conv3x3 200 - dense 1024 - dense 1024, ReLU, 32 x 32 gray input (specs/cetl.md 2.1.4:
    recalled from the DRCN paper; its released code uses Dense(1000)). No batch norm, as DRCN."""
    h, w, c = input_shape
    if h % 4 or w % 4:
        raise ValueError(f"drcn-digits pools twice: image sides must be divisible by 4, got {h}x{w}")
    return [LayerSpec("conv1", "conv", c, 100, pool=True, kernel=5),
            LayerSpec("conv2", "conv", 100, 150, pool=True, kernel=5),
            LayerSpec("conv3", "conv", 150, 200),
            LayerSpec("fc4", "dense", 200 * (h // 4) * (w // 4), 1024),
            LayerSpec("fc5", "dense", 1024, 1024)]


def routing_convnet(input_shape: tuple[int, int, int], channels: int = 32, hidden: int = 128,
                    dense_layers: int = 3) -> list[LayerSpec]:
    """The CIFAR-100 network of Routing Networks as used by LWS (Sec. IV-B): 4 x conv-BN-ReLU-pool with
    32 channels, always shared (also in no sharing, as in the released code), then 3 routed dense
    layers of 128 units + ReLU; the per-task Linear(128, 5) is the head."""
    h, w, c = input_shape
    flat = channels * (h // 16) * (w // 16)
    if flat == 0:
        raise ValueError(f"routing-convnet needs images of at least 16x16 pixels, got {h}x{w}")
    dense = [LayerSpec(f"fc{i + 1}", "dense", flat if i == 0 else hidden, hidden) for i in range(dense_layers)]
    return [*_conv_stack(c, channels, 4, shareable=False), *dense]


def slo_convnet(input_shape: tuple[int, int, int], channels: int = 53) -> list[LayerSpec]:
    """The Omniglot network of Soft Layer Ordering as used by LWS (Sec. IV-C): 4 x conv3x3-BN-ReLU-
    maxpool with 53 channels (105 -> 52 -> 26 -> 13 -> 6), all routed; the head is global average
    pooling -> Linear(53, characters), as in the released code."""
    h, w, c = input_shape
    if min(h, w) < 16:
        raise ValueError(f"slo-convnet needs images of at least 16x16 pixels, got {h}x{w}")
    convs = _conv_stack(c, channels, 4)
    last = convs[-1]
    convs[-1] = LayerSpec(last.name, "conv", last.in_features, last.out_features, True, True, global_pool=True)
    return convs


def resnet(input_shape: tuple[int, int, int], unit: str, stem_width: int, widths: list[int],
           units_per_stage: int, stage_strides: list[int], stem_stride: int = 1, stem_norm: bool = True,
           stem_shareable: bool = False, unit_name: str = "stage{stage}.unit{unit}") -> list[LayerSpec]:
    """A ResNet as banked units: a 3x3 stem, then per stage `units_per_stage` residual units of `unit` kind
    ("block": post-activation BasicBlock; "preact": pre-activation unit, the last one carrying the final
    Norm -> ReLU), the first unit of stage s with stride stage_strides[s]; global average pooling at the end.
    Units are named stem and `unit_name` (1-based stage and unit), so sharing can address stages."""
    if unit not in ("block", "preact"):
        raise ValueError(f"resnet unit must be 'block' or 'preact', got {unit!r}")
    if len(widths) != len(stage_strides) or not widths or units_per_stage < 1:
        raise ValueError(f"resnet: need one stride per stage and units_per_stage >= 1; got widths {widths}, "
                         f"strides {stage_strides}, units_per_stage {units_per_stage}")
    c = input_shape[2]
    specs = [LayerSpec("stem", "conv", c, stem_width, batchnorm=stem_norm, stride=stem_stride,
                       shareable=stem_shareable, activation=stem_norm, bias=False if not stem_norm else None)]
    in_ch = stem_width
    for stage, (out_ch, stride) in enumerate(zip(widths, stage_strides)):
        for u in range(units_per_stage):
            specs.append(LayerSpec(unit_name.format(stage=stage + 1, unit=u + 1), unit, in_ch, out_ch, batchnorm=True,
                                   stride=stride if u == 0 else 1))
            in_ch = out_ch
    last = specs[-1]
    specs[-1] = LayerSpec(last.name, last.kind, last.in_features, last.out_features, True, stride=last.stride,
                          global_pool=True, final_norm=unit == "preact")
    return specs


def resnet18(input_shape: tuple[int, int, int], variant: str = "cifar", width: int = 64) -> list[LayerSpec]:
    """ResNet-18 with every BasicBlock a routed unit (LWS Sec. IV-B/C; released code).

    cifar: 3x3 stem with stride 1 and no max-pooling, stages of 2 blocks with strides 1, 2, 2, 2;
    omniglot: 3x3 stem with stride 2 and all four stages with stride 2. The stem is always shared;
    global average pooling before the per-task Linear(8 * width, classes). `width` = 64 is the paper.
    """
    if variant not in ("cifar", "omniglot"):
        raise ValueError(f"resnet18 variant must be 'cifar' or 'omniglot', got {variant!r}")
    stem_stride, strides = (1, [1, 2, 2, 2]) if variant == "cifar" else (2, [2, 2, 2, 2])
    return resnet(input_shape, "block", width, [width * 2 ** s for s in range(4)], 2, strides, stem_stride,
                  unit_name="block{stage}.{unit}")


def resnet26_cifar(input_shape: tuple[int, int, int], width: int = 16) -> list[LayerSpec]:
    """CETL Table 4's teacher (specs/cetl.md 2.1.4): He et al.'s CIFAR ResNet with n = 4, as Yim et al. (FSP) use:
    a 3x3 stem of 16 channels, 3 stages x 4 post-activation BasicBlocks of 16 / 32 / 64 channels (strides 1, 2, 2),
    global average pooling, the classifier: 6n + 2 = 26 weighted layers. The two stage changes use a 1x1 projection
    shortcut (the suite's block unit; He et al.'s CIFAR option A pads with zeros): 2,560 + 384 more weights than
    option A's about 0.37 M."""
    return resnet(input_shape, "block", width, [width, 2 * width, 4 * width], 4, [1, 2, 2],
                  unit_name="stage{stage}.block{unit}")


def resnet38(input_shape: tuple[int, int, int], stem_width: int = 16, widths: tuple[int, ...] = (32, 64, 128, 256),
             units_per_stage: int = 4, stage_strides: tuple[int, ...] = (1, 2, 2, 2),
             width_multiplier: float = 1.0) -> list[LayerSpec]:
    """Bilen & Vedaldi's ResNet-38 (Sec. 4.1) as specs/bilen.md section 2.2 reconstructs it: a bare 3x3 stem of
    16 channels, 4 stages x 4 pre-activation units of 32/64/128/256 channels at 64/32/16/8 px (strides 1, 2, 2, 2),
    a 1x1 projection in each stage's first unit, Norm -> ReLU -> global average pooling, the per-domain FC:
    1 + 32 + 4 + 1 = 38 weighted layers, 5,919,152 convolution weights at 64 px. `width_multiplier` scales the
    stem and every stage (x2, x4: the paper's capacity rows; 1/sqrt(D): equal-parameter isolated networks).
    Every unit, the stem included, is shareable (the paper shares all convolutions in deep sharing)."""
    def scaled(c: int) -> int:
        return max(1, int(round(c * width_multiplier)))
    return resnet(input_shape, "preact", scaled(stem_width), [scaled(w) for w in widths], units_per_stage,
                  list(stage_strides), stem_norm=False, stem_shareable=True)


def final_map_size(layers: list[LayerSpec], input_shape: tuple[int, int, int]) -> int:
    """The spatial size in front of the last unit's pooling (strides and max-pools applied)."""
    size = min(input_shape[:2])
    for spec in layers:
        if spec.kind == "dense":
            break
        size = (size + spec.stride - 1) // spec.stride
        if spec.pool:
            size //= 2
    return size


def mlp(input_shape: tuple[int, int, int], hidden: tuple[int, ...] = (256, 256)) -> list[LayerSpec]:
    h, w, c = input_shape
    sizes = [h * w * c, *hidden]
    return [LayerSpec(f"fc{i + 1}", "dense", sizes[i], sizes[i + 1]) for i in range(len(hidden))]


def jae_mlp(input_shape: tuple[int, int, int], hidden: tuple[int, ...] = (500, 250, 32, 250, 500)) -> list[LayerSpec]:
    """One fully connected branch of a joint autoencoder (methods/jae.py builds the branches itself): d -> hidden."""
    return mlp(input_shape, hidden)


def inception_v3(input_shape: tuple[int, int, int], **options: object) -> list[LayerSpec]:
    """timm's InceptionV3 as 16 blocks (methods/pretrained_backbones.py); imported when asked for (timm)."""
    from sharebench.methods.pretrained_backbones import inception_v3_layers

    return inception_v3_layers(input_shape, **options)


def dcgan(input_shape: tuple[int, int, int], **_: object) -> list[LayerSpec]:
    """DCGAN's generator and discriminator are two chains, built by the gan-* methods (methods/gan.py)."""
    raise ValueError("backbone 'dcgan' is a generator and a discriminator; only the gan-* methods build it")


def began(input_shape: tuple[int, int, int], **_: object) -> list[LayerSpec]:
    """BEGAN's generator and autoencoder discriminator are two chains, built by the began-* methods."""
    raise ValueError("backbone 'began' is a generator and an autoencoder discriminator; only the began-* methods "
                     "build it")


BACKBONES: dict[str, Callable[..., list[LayerSpec]]] = {
    "dkl-convnet": dkl_convnet, "ci-cnn": ci_cnn, "drcn-digits": drcn_digits, "routing-convnet": routing_convnet,
    "slo-convnet": slo_convnet,
    "resnet18": resnet18, "resnet26-cifar": resnet26_cifar, "resnet38": resnet38,
    "mlp": mlp, "jae-mlp": jae_mlp, "ae9": ae9,
    "dcgan": dcgan, "began": began, "inception-v3": inception_v3}


def backbone_layers(name: str, input_shape: tuple[int, int, int], **options) -> list[LayerSpec]:
    if name not in BACKBONES:
        raise KeyError(f"unknown backbone {name!r}; known: {', '.join(sorted(BACKBONES))}")
    return BACKBONES[name](tuple(input_shape), **options)


class BankedNet(nn.Module):
    # "auto": on CPU the row-prefix path (`_forward_keys`) when every unit has `forward_keys`; otherwise one
    # grouped convolution on CUDA, and on CPU when at least `grouped_min_slots` slots are distinct, else one
    # convolution per distinct slot. "keys" / "grouped" / "per-slot" force one (tests compare them).
    # Measured on 2 CPU cores (tests/test_benchmark_batching.py, 16 px, B=16): grouped was 1.3-1.4x
    # slower than per-slot with 3-5 distinct slots and 1.4x faster with 20. For the ae9 autoencoder (one thread,
    # isolated) grouped was faster: 19 vs 30 ms per step (5 tasks, 16 px, B=16, width 8) and 40 vs 52 ms (8 tasks,
    # 32 px RGB, B=8), so image-output networks always group.
    conv_strategy = "auto"
    grouped_min_slots = 10

    def __init__(self, layers: list[LayerSpec], num_classes: list[int], slots_per_layer: list[int],
                 norm: str = "bn", init: str = "torch", shared_head: bool = False):
        super().__init__()
        self.init = init
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}; known: {', '.join(NORMS)}")
        if len(slots_per_layer) != len(layers):
            raise ValueError(f"{len(layers)} layers but {len(slots_per_layer)} slot counts")
        if norm not in BN_ONLY_NORMS and any(s.kind in ("conv", "block") and s.batchnorm for s in layers):
            raise ValueError(f"norm {norm!r} needs a backbone of pre-activation units (resnet38); this one has "
                             f"batch-norm conv/block units, which support {', '.join(BN_ONLY_NORMS)}")
        last = layers[-1]
        if last.kind != "dense" and not last.global_pool and not last.sigmoid:
            raise ValueError("the last hidden layer must be dense, end in global pooling, or output an image")
        self.specs, self.norm, self.num_tasks = layers, norm, len(num_classes)
        self.layers = nn.ModuleList(self._build_unit(spec, k) for spec, k in zip(layers, slots_per_layer))
        # an image output (completion) has no classifier: forward returns the images
        self.head = None if last.sigmoid else HeadBank(last.out_features, num_classes, init=init, shared=shared_head)

    @property
    def image_output(self) -> bool:
        return self.head is None

    def _build_unit(self, spec: LayerSpec, k: int) -> Unit:
        if spec.kind not in KINDS:
            raise ValueError(f"layer {spec.name}: unknown kind {spec.kind!r}; known: {KINDS}")
        rows = k if self.norm == "bn" else self.num_tasks
        if spec.kind == "module":
            if self.norm != "bn" or spec.template is None:
                raise ValueError(f"layer {spec.name}: a module unit needs its template and keeps the block's own "
                                 f"batch-norm per slot (norm 'bn'), got norm {self.norm!r}")
            return ModuleUnit(k, spec.template)
        if spec.kind == "dense":
            return DenseUnit(k, spec.in_features, spec.out_features, init=self.init)
        if spec.kind == "up":
            return UpUnit(k, rows, spec.in_features, spec.out_features, spec.batchnorm and self.norm != "none",
                          spec.sigmoid, init=self.init)
        if spec.kind == "preact":
            return PreActUnit(k, self.num_tasks, spec.in_features, spec.out_features, spec.stride, self.norm,
                              spec.final_norm, init=self.init)
        if spec.kind == "block":
            return BasicBlockUnit(k, rows, spec.in_features, spec.out_features, spec.stride, self.norm != "none",
                                  init=self.init)
        return ConvUnit(k, rows, spec.in_features, spec.out_features, spec.batchnorm and self.norm != "none",
                        spec.pool, spec.stride, init=self.init, activation=spec.activation, bias=spec.bias,
                        kernel=spec.kernel)

    @property
    def layer_names(self) -> list[str]:
        return [s.name for s in self.specs]

    def forward(self, x: Tensor, assignment: Tensor, tasks: Tensor) -> Tensor:
        """x [T', B, C, H, W] for the tasks `tasks` [T'] -> logits [T', B, max classes] (padding = -inf).

        `assignment` is the full [T, L] table; rows are picked by `tasks`."""
        return self.forward_rows(x, assignment[tasks], tasks)

    def forward_rows(self, x: Tensor, row_slots: Tensor, tasks: Tensor, row_inputs: Tensor | None = None) -> Tensor:
        """Like `forward`, with one assignment row per row: row_slots [R, L], tasks [R] -> logits [R, B, C].

        Row r reads the input batch x[row_inputs[r]] (default: x[r]). LWS stacks its sampled assignments
        this way (lambda samples x T tasks as lambda*T rows over T input batches), so every sample and task
        of a step runs in the same few kernels.

        On CPU (units with `forward_keys`), each distinct prefix of (input, slots) is computed once
        (`methods/rowplan.py`), in NHWC, with one convolution per slot. Otherwise (CUDA, ResNet blocks)
        dense units run as one bmm over all rows and a convolutional unit once per distinct slot on the
        concatenated rows using it, or as one grouped convolution (on CUDA, or with many distinct slots).
        """
        if self._keys_path(x):
            return self._forward_keys(x, row_slots, tasks, row_inputs)
        h = x if row_inputs is None else x.index_select(0, row_inputs.to(x.device))
        norm_rows_all = self._norm_rows(row_slots, tasks)
        for index, (spec, unit) in enumerate(zip(self.specs, self.layers)):
            slots, norm_rows = row_slots[:, index], norm_rows_all[:, index]
            if unit.kind == "dense" or self._grouped(h, slots):
                h = unit(h, slots, norm_rows)
            else:
                h = self._per_slot(unit, h, slots, norm_rows)
            if spec.global_pool:
                h = h.mean(dim=(-2, -1))
            if spec.dropout:
                h = F.dropout(h, spec.dropout, self.training)
        if self.head is None:
            return h
        if h.ndim > 3:
            h = h.flatten(2)
        return self.head(h, tasks)

    def _keys_path(self, x: Tensor) -> bool:
        if self.conv_strategy not in ("auto", "keys") or not all(unit.supports_keys for unit in self.layers) \
                or any(spec.dropout for spec in self.specs):  # the row-prefix path has no dropout
            return False
        return self.conv_strategy == "keys" or not x.is_cuda

    def _norm_rows(self, row_slots: Tensor, tasks: Tensor) -> Tensor:
        """The batch-norm row of every (row, layer): the slot, or the task for domain-specific BN."""
        return row_slots if self.norm == "bn" else tasks.unsqueeze(1).expand_as(row_slots)

    def _forward_keys(self, x: Tensor, row_slots: Tensor, tasks: Tensor, row_inputs: Tensor | None) -> Tensor:
        row_inputs_list = list(range(len(tasks))) if row_inputs is None else row_inputs.tolist()
        plan = plan_rows(row_inputs_list, row_slots.tolist(), self._norm_rows(row_slots, tasks).tolist())
        acts = list(x.unbind(0))
        for spec, unit, layer in zip(self.specs, self.layers, plan):
            acts = unit.forward_keys(acts, layer)
            if spec.global_pool:
                acts = [a.mean(dim=(-2, -1)) for a in acts]
        last = plan[-1].row_key
        key_rows = [0] * len(acts)  # one row per key, to know its task
        for r, k in enumerate(last):
            key_rows[k] = r
        logits = self.head(torch.stack([a.flatten(1) for a in acts]), tasks[key_rows])
        return logits if last == list(range(len(last))) else logits[torch.tensor(last, device=logits.device)]

    def _grouped(self, h: Tensor, slots: Tensor) -> bool:
        if self.conv_strategy != "auto":
            return self.conv_strategy == "grouped"
        if h.is_cuda or self.image_output:  # the autoencoder of ae9 (16 px, 5 tasks): 19 vs 30 ms per step on CPU
            return True
        distinct = len(torch.unique(slots))
        return distinct >= self.grouped_min_slots and len(slots) < 2 * distinct

    @staticmethod
    def _per_slot(unit: Unit, h: Tensor, slots: Tensor, norm_rows: Tensor) -> Tensor:
        """Run the unit once per distinct slot on the concatenated rows using it.

        Rows are sorted by slot once (a stable permutation, so BN running moments keep the row order
        within a slot; skipped when they are already grouped, as in full sharing or isolated), split into
        contiguous groups (`split`, whose backward is one concatenation rather than a zero-filled
        buffer per group), run, concatenated and put back in order."""
        groups, in_order = slot_groups(slots)
        sizes = [(sel.stop - sel.start) if isinstance(sel, slice) else len(sel) for _, sel in groups]
        order = None
        if not in_order:
            order = torch.cat([torch.arange(len(slots))[sel] for _, sel in groups]).to(h.device)
            h, slots, norm_rows = h.index_select(0, order), slots[order], norm_rows[order]
        outs = [unit(hp, sp, rp) for hp, sp, rp in zip(h.split(sizes), slots.split(sizes), norm_rows.split(sizes))]
        out = torch.cat(outs) if len(outs) > 1 else outs[0]
        return out if order is None else out.index_select(0, torch.argsort(order))

    def forward_loop(self, x: Tensor, assignment: Tensor, tasks: Tensor) -> Tensor:
        """The straightforward reference: one forward pass per task, as a Python loop.

        Used to check that `forward` computes the same thing and to benchmark the batching.
        """
        outs = []
        for i in range(len(tasks)):
            outs.append(self.forward(x[i:i + 1], assignment, tasks[i:i + 1]))
        return torch.cat(outs)

    @torch.no_grad()
    def average_gradients_over_users(self, users_per_layer: list[Tensor], samples: int = 1) -> None:
        """Divide each slot's gradient by (its number of users) x `samples`, and each head's by `samples`.

        The released LWS code does this for every module (`normalize_weight_gradients`): a layer shared by
        T tasks gets its summed gradient divided by T, so that every parameter's gradient is the average
        over its users. `users_per_layer[l]` [K_l] may be fractional (LWS: expected users sum_t p).
        Batch-norm rows that belong to a task (domain-specific BN) have one user each; a shared classifier has
        every task as its user.
        """
        ref = next(self.parameters())
        for unit, users in zip(self.layers, users_per_layer):
            div = users.to(ref.device, ref.dtype).clamp_min(1e-12) * samples
            per_slot = {id(t) for t in unit.slot_tensors(norm_per_slot=self.norm == "bn")}
            for p in unit.parameters():
                if p.grad is None:
                    continue
                if id(p) in per_slot:
                    p.grad.div_(div.view(-1, *([1] * (p.ndim - 1))))
                elif samples != 1:
                    p.grad.div_(samples)
        if self.head is None:
            return
        head_div = self.head.slot_users().to(self.head.linear.weight.dtype) * samples
        if bool((head_div != 1).any()):
            for p in self.head.linear.parameters():
                if p.grad is not None:
                    p.grad.div_(head_div.view(-1, *([1] * (p.ndim - 1))))

    def copy_slot(self, layer: int, src: int, dst: int) -> None:
        """Copy one slot's weights (and its BN rows, when BN is per slot) into another slot."""
        with torch.no_grad():
            for t in self.layers[layer].slot_tensors(norm_per_slot=self.norm == "bn"):
                t[dst].copy_(t[src])
