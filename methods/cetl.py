"""Coupled end-to-end transfer learning with generalised Fisher information (Chen, Zhang & Dong, CVPR 2018).

Networks (methods/cetl_nets.py): S, the source CNN, trained elsewhere and frozen (from the model store: the
experiment `requires: {source: ...}`); T1, a decoder from S's penultimate features to the image; T2, the target CNN,
whose penultimate features feed T1 through a coupling head h_z (identity when the widths agree). Algorithm 1 in
cycles of three stages of `stage_steps` steps each (specs/cetl.md 2.4):
1. T1 learns to reconstruct target images from S: |T1(S(x_t)) - x_t|^2 (Eq. 2), plus DWA2 from the cycle before;
2. T1 o T2 learns to reproduce what T1 o S reconstructs, the target being the output of T1 as it was at the end
   of stage 1 (Eq. 5): T2 (trunk and h_z) takes loss2, T1 takes loss2 + DWA1 ("we use loss2 to update T2 and loss2
   with DWA1 to update T1");
3. T2 learns to classify labelled images (Eq. 4: the target's in transfer, the source's in domain adaptation,
   Algorithm 1 line 17) plus DWA3 on its trunk.
GFI1 is computed at the start of stage 2 (T1; L_a = Eq. 2, L_b = Eq. 5), GFI2 and GFI3 at the start of stage 3
(T1; L_a = Eq. 5, L_b = Eq. 2; T2's trunk: L_a = Eq. 5, L_b = Eq. 4), each from the first `fisher_samples` images of
that step's batches (methods/fisher.py). The Table 2 variants are one method with switches:
- `cetl-f`: stage 1 only as a warm-up (as many stage-1 steps as the iterative variants take in all), then stages 2
  and 3 with T1 fixed; `cetl-u`: the same with T1 updated in stage 2; both reproduce the warm-up's snapshot;
- `cetl-e`: the three stages iterated, no penalty; `cetl-fi`: with EWC's Fisher penalty; `cetl`: with GFI (DWA).
Baselines: `target-only` (T2 classifying the labelled target alone) and `source-only` (S: the same network trained on
the labelled source and evaluated on the target); with `schedule: cetl` both take a classification step exactly
where CETL's stage 3 does, so every arm gets the same number of classification steps. Optimiser: one Adam per
network, persistent across stages, lr 2e-4, weight decay 5e-4 (the released code's; the paper gives none).
The `-da` methods draw their labelled batch from the source tasks (domain adaptation: target labels hidden).
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sharebench.benchmarks.sampling import parse_stream
from sharebench.methods.cetl_nets import ImageNetSource, PlainNet, ReverseNet
from sharebench.methods.fisher import dwa_penalty, flat_params, gfi, normalised, per_sample_sq_grads, relative_fisher
from sharebench.methods.networks import backbone_layers
from sharebench.methods.optim import OPTIM_HPARAMS, check_optim_hparams, lr_factor, make_optimizer
from sharebench.methods.registry import Method, register

VARIANTS = ("cetl-f", "cetl-u", "cetl-e", "cetl-fi", "cetl")


def _flat(batch) -> tuple[Tensor, Tensor]:
    """A stream's [T', B, ...] batch as [T' B, ...] images and labels."""
    return batch.x.reshape(-1, *batch.x.shape[2:]), batch.y.reshape(-1)


class ClassifierMethod(Method):
    """One PlainNet trained by cross-entropy on one labelled stream; `schedule: cetl` steps only where CETL's stage 3
    does (every third block of `stage_steps` iterations), `every` at every iteration. Adam by default; `optimizer:
    sgd` with `lr_schedule: step` at `milestones` (fractions of the iterations) is He et al.'s CIFAR recipe for
    Table 4's ResNet-26 teacher (methods/optim.py; the lr follows the iteration, not the number of steps taken)."""

    STREAMS: ClassVar[dict[str, str]] = {"labelled": "target:labelled"}
    CODE_MODULES: ClassVar[tuple[str, ...]] = ("sharebench.methods.cetl_nets",)
    HPARAMS: ClassVar[dict[str, Any]] = {"lr": 2e-4, "weight_decay": 5e-4, "schedule": "cetl", "stage_steps": 20,
                                         "optimizer": "adam", "momentum": 0.9, "lr_schedule": "constant",
                                         "milestones": [], "gamma": 0.1}

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.hparams["schedule"] not in ("cetl", "every"):
            raise ValueError(f"method {self.name!r}: schedule must be 'cetl' or 'every', got "
                             f"{self.hparams['schedule']!r}")
        h, w, c = self.tasks.image_shape
        role = parse_stream(self.STREAMS["labelled"])[0]
        classes = {self.tasks.num_classes[t] for t in self.tasks.with_role(role)}
        if len(classes) != 1:
            raise ValueError(f"method {self.name!r} trains on the {role} task(s) of one label space; the suite's "
                             f"roles {self.tasks.roles or '(none)'} give {sorted(classes)} classes")
        specs = backbone_layers(self.backbone, (h, w, c), **self.backbone_options)
        self.net_classes = classes.pop()
        self.net = PlainNet(specs, self.net_classes).to(self.device)
        self.use_optimizer(self.net.parameters())

    def use_optimizer(self, params) -> None:
        """The optimiser and lr schedule of `params` from the hyperparameters (a checked configuration)."""
        h = {**OPTIM_HPARAMS, **{k: self.hparams[k] for k in ("lr", "weight_decay", "optimizer", "momentum",
                                                              "milestones", "gamma")},
             "schedule": self.hparams["lr_schedule"]}
        check_optim_hparams(h, f"method {self.name!r}")
        self.opt, _ = make_optimizer(params, h, self.total_iterations)
        self.lr_at = lr_factor(h, self.total_iterations)  # set from the iteration each step: nothing to resume

    def classifies_at(self, iteration: int) -> bool:
        return self.hparams["schedule"] == "every" or (iteration // self.hparams["stage_steps"]) % 3 == 2

    def step(self, batches: dict[str, Any], iteration: int) -> dict[str, float]:
        for group in self.opt.param_groups:
            group["lr"] = self.hparams["lr"] * self.lr_at(iteration)
        if not self.classifies_at(iteration):
            return {"loss": 0.0}
        x, y = _flat(batches["labelled"])
        self.net.train()
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(x, y)
        loss.backward()
        self.opt.step()
        return {"loss": float(loss.detach())}

    def loss(self, x: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(self.net(x), y)

    @torch.no_grad()
    def predict(self, x: Tensor, task: int) -> Tensor:
        self.net.eval()
        return self.net(x)

    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])


@register("target-only")
class TargetOnly(ClassifierMethod):
    """Tables 2 and 3's Baseline, Table 4's Student: the target CNN trained on the labelled target alone."""


@register("source-only")
class SourceOnly(ClassifierMethod):
    """Table 5's Source row, and the source network S handed to CETL: trained on the labelled source tasks,
    evaluated on the target."""

    STREAMS: ClassVar[dict[str, str]] = {"labelled": "source:labelled"}
    HPARAMS: ClassVar[dict[str, Any]] = {**ClassifierMethod.HPARAMS, "lr": 1e-3, "weight_decay": 0.0}


def source_network(models: dict[str, Any]) -> PlainNet | ImageNetSource:
    """The network `source`: a method's `net` from the model store, or pretrained ImageNet weights (the paper
    profile's `requires: {source: {pretrained: torchvision:alexnet}}`) seen through ImageNetSource."""
    source = models["source"]
    net = getattr(source, "net", source)
    return net if isinstance(net, (PlainNet, ImageNetSource)) else ImageNetSource(net)


def frozen_source(models: dict[str, Any], device: torch.device) -> PlainNet | ImageNetSource:
    """The source network in eval mode, without gradients."""
    net = source_network(models).to(device).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


@register("ft-source")
class FineTuneSource(ClassifierMethod):
    """Table 3's FT-VGG: the source network with its last layer replaced by a new one for the target's classes, the
    whole network fine-tuned on the labelled target (Adam 1e-4; specs/cetl.md 2.4.2, A17). The source must have
    the arm's backbone (the trunk's weights are copied)."""

    REQUIRES: ClassVar[tuple[str, ...]] = ("source",)
    HPARAMS: ClassVar[dict[str, Any]] = {**ClassifierMethod.HPARAMS, "lr": 1e-4}

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        source = source_network(self.models)
        if isinstance(source, ImageNetSource):  # FT-VGG: the ImageNet network itself, its last layer replaced
            self.net = copy.deepcopy(source).requires_grad_(True)
            self.net.head = nn.Linear(source.feature_dim, self.net_classes)
            self.net.to(self.device)
            self.use_optimizer(self.net.parameters())
            return
        try:
            self.net.trunk.load_state_dict(source.trunk.state_dict())
        except RuntimeError as err:
            raise ValueError(f"method {self.name!r}: the source network's trunk does not fit backbone "
                             f"{self.backbone!r} {self.backbone_options or ''}: {str(err).splitlines()[0]}") from None


@register("kd-hinton")
class HintonDistillation(ClassifierMethod):
    """Table 4's KD row (Hinton et al.): the student (the arm's backbone) learns the labelled target from
    (1 - alpha) CE + alpha T^2 KL(softmax(teacher / T) || softmax(student / T)), the teacher being the model store's
    `source`, frozen. T = 4, alpha = 0.9 (specs/cetl.md A20; the paper gives neither)."""

    REQUIRES: ClassVar[tuple[str, ...]] = ("source",)
    HPARAMS: ClassVar[dict[str, Any]] = {**ClassifierMethod.HPARAMS, "temperature": 4.0, "alpha": 0.9}

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.teacher = frozen_source(self.models, self.device)

    def loss(self, x: Tensor, y: Tensor) -> Tensor:
        t, a = self.hparams["temperature"], self.hparams["alpha"]
        logits = self.net(x)
        with torch.no_grad():
            soft = F.softmax(self.teacher(x) / t, dim=1)
        kd = F.kl_div(F.log_softmax(logits / t, dim=1), soft, reduction="batchmean")
        return (1 - a) * F.cross_entropy(logits, y) + a * t * t * kd


@register("source-network")
class SourceNetwork(Method):
    """The model store's `source` network itself, evaluated on the target and never trained further: Table 4's
    Teacher row beside the students it taught (every seed gives the same number)."""

    REQUIRES: ClassVar[tuple[str, ...]] = ("source",)
    STREAMS: ClassVar[dict[str, str]] = {}

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.net = frozen_source(self.models, self.device)

    def step(self, batches: dict[str, Any], iteration: int) -> dict[str, float]:
        return {"loss": 0.0}

    @torch.no_grad()
    def predict(self, x: Tensor, task: int) -> Tensor:
        return self.net(x)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class CouplingPath(nn.Module):
    """x -> T1(z_T2(x)): T1 o T2, the path of Eq. 5. z_T2 is h_z(T2's penultimate features), or T2's softmax output
    when coupling at the softmax (knowledge distillation, specs/cetl.md 2.1.1)."""

    def __init__(self, t2: PlainNet, hz: nn.Module, t1: ReverseNet, softmax: bool = False):
        super().__init__()
        self.t2, self.hz, self.t1, self.softmax = t2, hz, t1, softmax

    def code(self, x: Tensor) -> Tensor:
        return F.softmax(self.t2(x), dim=1) if self.softmax else self.hz(self.t2.features(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.t1(self.code(x))


def _mse(call, x: Tensor, target: Tensor) -> Tensor:
    return ((call(x) - target) ** 2).mean()


def _ce(call, x: Tensor, y: Tensor) -> Tensor:
    return F.cross_entropy(call(x.unsqueeze(0)), y.unsqueeze(0))


def _mse_one(call, x: Tensor, target: Tensor) -> Tensor:
    return _mse(call, x.unsqueeze(0), target.unsqueeze(0))


class CETL(Method):
    VARIANT: ClassVar[str] = "cetl"
    REQUIRES: ClassVar[tuple[str, ...]] = ("source",)
    BACKBONES: ClassVar[tuple[str, ...]] = ("dkl-convnet", "ci-cnn", "drcn-digits")  # T1 mirrors conv, then dense
    STREAMS: ClassVar[dict[str, str]] = {"target": "target", "labelled": "target:labelled"}
    CODE_MODULES: ClassVar[tuple[str, ...]] = ("sharebench.methods.cetl_nets", "sharebench.methods.fisher")
    HPARAMS: ClassVar[dict[str, Any]] = {"lr": 2e-4, "weight_decay": 5e-4, "stage_steps": 20, "lambda_dwa": 100.0,
                                         "u": 0.5, "p": 0.9, "fisher_samples": 32, "rf_bins": 4, "mask_seed": 0,
                                         "couple_at": "penultimate"}

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        h, w, c = self.tasks.image_shape
        targets = self.tasks.with_role("target")
        if len(targets) != 1:
            raise ValueError(f"method {self.name!r} needs exactly one task with role target, got roles "
                             f"{self.tasks.roles or '(none)'}")
        self.target = targets[0]
        if self.hparams["couple_at"] not in ("penultimate", "softmax"):
            raise ValueError(f"method {self.name!r}: couple_at must be 'penultimate' or 'softmax', got "
                             f"{self.hparams['couple_at']!r}")
        self.softmax = self.hparams["couple_at"] == "softmax"
        self.s = frozen_source(self.models, self.device)
        specs = backbone_layers(self.backbone, (h, w, c), **self.backbone_options)
        classes = self.tasks.num_classes[self.target]
        self.t2 = PlainNet(specs, classes).to(self.device)
        if self.softmax and self.s.head.out_features != classes:
            raise ValueError(f"method {self.name!r}: coupling at the softmax needs a source (teacher) of the target's "
                             f"{classes} classes, it has {self.s.head.out_features}")
        d_s = classes if self.softmax else self.s.feature_dim
        self.hz = (nn.Identity() if self.softmax or d_s == self.t2.feature_dim else
                   nn.Sequential(nn.Linear(self.t2.feature_dim, d_s), nn.ReLU())).to(self.device)
        self.t1 = ReverseNet(specs, d_s, (h, w, c)).to(self.device)
        self.path = CouplingPath(self.t2, self.hz, self.t1, self.softmax)
        hp = self.hparams
        self.opt_t1 = torch.optim.Adam(self.t1.parameters(), hp["lr"], weight_decay=hp["weight_decay"])
        self.opt_t2 = torch.optim.Adam([*self.t2.parameters(), *self.hz.parameters()], hp["lr"],
                                       weight_decay=hp["weight_decay"])
        self.t1_snap: ReverseNet | None = None
        self.dwa: dict[str, dict[str, Tensor]] = {}  # "1", "2", "3" -> {"weights", "anchor"}
        self.rf_stats: dict[str, dict[str, float]] = {}
        self.generator = torch.Generator().manual_seed(hp["mask_seed"])
        self.stage_losses: dict[str, list[float]] = {}  # loss1..3, dwa1..3 -> [sum, steps] over the current stage
        self.probe: dict[str, Tensor] = {}  # the first step's batches: Figure 2's bound terms are measured on them

    # -- the schedule
    @property
    def warmup_only(self) -> bool:
        return self.VARIANT in ("cetl-f", "cetl-u")

    def stage_at(self, iteration: int) -> tuple[int, bool]:
        """(stage 1, 2 or 3, whether this is the stage's first step)."""
        k = self.hparams["stage_steps"]
        if not self.warmup_only:
            pos = iteration % (3 * k)
            return pos // k + 1, pos % k == 0
        warmup = max(1, self.total_iterations // (3 * k)) * k  # the stage-1 steps the iterative variants take
        if iteration < warmup:
            return 1, iteration == 0
        pos = (iteration - warmup) % (2 * k)
        return pos // k + 2, pos % k == 0

    # -- the losses
    def source_code(self, x: Tensor) -> Tensor:
        """z_S(x): S's penultimate features, or its softmax output (a teacher's soft targets, T = 1)."""
        with torch.no_grad():
            return F.softmax(self.s(x), dim=1) if self.softmax else self.s.features(x)

    def _penalty(self, key: str, params: list[Tensor]) -> Tensor | None:
        if key not in self.dwa:
            return None
        d = self.dwa[key]
        return dwa_penalty(params, d["anchor"], d["weights"], self.hparams["lambda_dwa"])

    def _remember(self, key: str, anchor: list[Tensor], loss_a: tuple, loss_b: tuple) -> None:
        """GFI (for cetl-fi, plain Fisher) of the parameters `anchor` w.r.t. loss a, relative to loss b, anchored at
        their current values. Each loss is (module, parameter names in `anchor`'s order, per-sample loss, inputs)."""
        f_a = per_sample_sq_grads(*loss_a[:3], *loss_a[3])
        if self.VARIANT == "cetl-fi":
            weights = normalised(f_a.mean(0))
        else:
            f_b = per_sample_sq_grads(*loss_b[:3], *loss_b[3])
            rf = relative_fisher(f_a, f_b, self.hparams["rf_bins"])
            weights = gfi(f_a.mean(0), rf, self.hparams["u"], self.hparams["p"], self.generator)
            self.rf_stats[key] = {"mean_rf": float(rf.mean()),
                                  "shared_share": float((rf >= self.hparams["u"]).float().mean())}
        self.dwa[key] = {"weights": weights.detach(), "anchor": flat_params([p.detach() for p in anchor]).clone()}

    @property
    def remembers(self) -> bool:
        return self.VARIANT in ("cetl-fi", "cetl")

    def _codes(self, x_t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The first `fisher_samples` target images, S's code of them, T2's code and the stage-1 reconstruction."""
        x = x_t[: self.hparams["fisher_samples"]]
        z_s = self.source_code(x)
        with torch.no_grad():
            return x, z_s, self.path.code(x), self.t1_snap(z_s)

    def start_stage2(self, x_t: Tensor) -> None:
        if self.t1_snap is None or not self.warmup_only:
            self.t1_snap = copy.deepcopy(self.t1).eval()
        if self.remembers:
            x, z_s, z_2, target = self._codes(x_t)
            names = [n for n, _ in self.t1.named_parameters()]
            self._remember("1", list(self.t1.parameters()), (self.t1, names, _mse_one, (z_s, x)),
                           (self.t1, names, _mse_one, (z_2, target)))

    def start_stage3(self, x_t: Tensor, x_l: Tensor, y_l: Tensor) -> None:
        if not self.remembers:
            return
        x, z_s, z_2, target = self._codes(x_t)
        names = [n for n, _ in self.t1.named_parameters()]
        self._remember("2", list(self.t1.parameters()), (self.t1, names, _mse_one, (z_2, target)),
                       (self.t1, names, _mse_one, (z_s, x)))
        n = min(len(x), len(x_l))
        trunk = [f"trunk.{name}" for name, _ in self.t2.trunk.named_parameters()]
        self._remember("3", list(self.t2.trunk.parameters()),
                       (self.path, [f"t2.{name}" for name in trunk], _mse_one, (x[:n], target[:n])),
                       (self.t2, trunk, _ce, (x_l[:n], y_l[:n])))

    # -- one step
    def step(self, batches: dict[str, Any], iteration: int) -> dict[str, float]:
        stage, first = self.stage_at(iteration)
        self._keep_probe(batches)
        x_t, _ = _flat(batches["target"])
        self.t1.train()
        self.t2.train()
        if stage == 1:
            loss = ((self.t1(self.source_code(x_t)) - x_t) ** 2).mean()  # Eq. 2
            pen = self._penalty("2", list(self.t1.parameters()))
            self.opt_t1.zero_grad(set_to_none=True)
            (loss if pen is None else loss + pen).backward()
            self.opt_t1.step()
        elif stage == 2:
            if first or self.t1_snap is None:
                self.start_stage2(x_t)
            if self.VARIANT == "cetl-f":  # T1 fixed: its batch-norm statistics too
                self.t1.eval()
            with torch.no_grad():
                target = self.t1_snap(self.source_code(x_t))  # "recons1"
            loss = ((self.path(x_t) - target) ** 2).mean()  # Eq. 5
            pen = self._penalty("1", list(self.t1.parameters()))
            self.opt_t1.zero_grad(set_to_none=True)
            self.opt_t2.zero_grad(set_to_none=True)
            (loss if pen is None else loss + pen).backward()  # the penalty reaches T1 only
            self.opt_t2.step()
            if self.VARIANT != "cetl-f":  # cetl-f: T1 fixed, T2 still learns through it
                self.opt_t1.step()
        else:
            x_l, y_l = _flat(batches["labelled"])
            if first:
                self.start_stage3(x_t, x_l, y_l)
            loss = F.cross_entropy(self.t2(x_l), y_l)  # Eq. 4
            pen = self._penalty("3", list(self.t2.trunk.parameters()))
            self.opt_t2.zero_grad(set_to_none=True)
            (loss if pen is None else loss + pen).backward()
            self.opt_t2.step()
        out = {"loss": float(loss.detach()), f"loss{stage}": float(loss.detach())}
        dwa = f"dwa{ {1: 2, 2: 1, 3: 3}[stage] }"
        if pen is not None:
            out[dwa] = float(pen.detach())
        self._accumulate(out, first, (f"loss{stage}", dwa))
        return out

    def _accumulate(self, out: dict[str, float], first: bool, keys: tuple[str, ...]) -> None:
        """Means of the stage's loss and DWA over its steps (a stage's first step starts them afresh)."""
        for key in keys:
            if first or key not in self.stage_losses:
                self.stage_losses[key] = [0.0, 0]
            if key in out:
                self.stage_losses[key][0] += out[key]
                self.stage_losses[key][1] += 1

    def _keep_probe(self, batches: dict[str, Any]) -> None:
        if not self.probe:
            x_t, _ = _flat(batches["target"])
            x_l, y_l = _flat(batches["labelled"])
            self.probe = {"x_t": x_t[:64].clone(), "x_l": x_l[:64].clone(), "y_l": y_l[:64].clone()}

    # -- outputs
    @torch.no_grad()
    def predict(self, x: Tensor, task: int) -> Tensor:
        self.t2.eval()
        return self.t2(x)

    @torch.no_grad()
    def reconstruct(self, x: Tensor, task: int) -> Tensor:
        """T1 o T2 (x): what the target network's features decode to."""
        self.path.eval()
        return self.path(x)

    def snapshot(self) -> dict[str, float]:
        """Figure 2's quantities: each stage's loss and DWA averaged over the stage's last run of steps, and
        computable terms of Eq. 14's right-hand side on the first step's batches (specs/cetl.md 2.6): 3 E|T1 o S(x)
        - x| and 2 E|T1 o T2(x) - x| (per-image L2 norms, which bound the sup over 1-Lipschitz f), and where S shares
        the target's classes (domain adaptation) S's error on the labelled source batch and 2 E 1/2 |p_T2 - p_S|_1.
        Their sum is `cetl_rhs`; the left-hand side is the target test error of the same evaluation."""
        out = {f"cetl_{k}": s / n for k, (s, n) in self.stage_losses.items() if n}
        if not self.probe:
            return out
        self.t1.eval()
        self.t2.eval()
        with torch.no_grad():
            x = self.probe["x_t"]
            z_s = self.source_code(x)
            recon_s = (self.t1(z_s) - x).flatten(1).norm(dim=1).mean()
            recon_t = (self.path(x) - x).flatten(1).norm(dim=1).mean()
            out.update(cetl_rhs_recon_s=3 * float(recon_s), cetl_rhs_recon_t=2 * float(recon_t))
            logits_s, logits_t = self.s(x), self.t2(x)
            if logits_s.shape[1] == logits_t.shape[1] and self.STREAMS["labelled"].startswith("source"):
                cross = 0.5 * (F.softmax(logits_t, 1) - F.softmax(logits_s, 1)).abs().sum(1).mean()
                source_error = (self.s(self.probe["x_l"]).argmax(1) != self.probe["y_l"]).float().mean()
                out.update(cetl_rhs_source=float(source_error), cetl_rhs_cross=2 * float(cross))
        out["cetl_rhs"] = sum(v for k, v in out.items() if k.startswith("cetl_rhs_"))
        return out

    def describe(self) -> dict[str, Any]:
        return {"variant": self.VARIANT, "rf": self.rf_stats,
                "coupling": "softmax" if self.softmax else "identity" if isinstance(self.hz, nn.Identity) else "linear",
                "params": {"t1": sum(p.numel() for p in self.t1.parameters()),
                           "t2": sum(p.numel() for p in self.t2.parameters())}}

    def state_dict(self) -> dict[str, Any]:
        return {"t1": self.t1.state_dict(), "t2": self.t2.state_dict(), "hz": self.hz.state_dict(),
                "opt_t1": self.opt_t1.state_dict(), "opt_t2": self.opt_t2.state_dict(),
                "t1_snap": None if self.t1_snap is None else self.t1_snap.state_dict(),
                "dwa": self.dwa, "rf": self.rf_stats, "generator": self.generator.get_state(),
                "stage_losses": self.stage_losses, "probe": self.probe}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.t1.load_state_dict(state["t1"])
        self.t2.load_state_dict(state["t2"])
        self.hz.load_state_dict(state["hz"])
        self.opt_t1.load_state_dict(state["opt_t1"])
        self.opt_t2.load_state_dict(state["opt_t2"])
        self.t1_snap = None
        if state["t1_snap"] is not None:
            self.t1_snap = copy.deepcopy(self.t1).eval()
            self.t1_snap.load_state_dict(state["t1_snap"])
        self.dwa = {k: {n: t.to(self.device) for n, t in d.items()} for k, d in state["dwa"].items()}
        self.rf_stats = dict(state["rf"])
        self.generator.set_state(state["generator"])
        self.stage_losses = {k: list(v) for k, v in state["stage_losses"].items()}
        self.probe = {k: t.to(self.device) for k, t in state["probe"].items()}


for _variant in VARIANTS:
    register(_variant)(type(f"CETL_{_variant}", (CETL,), {"VARIANT": _variant}))
    register(f"{_variant}-da")(type(f"CETL_{_variant}_da", (CETL,), {
        "VARIANT": _variant, "STREAMS": {"target": "target", "labelled": "source:labelled"}}))
