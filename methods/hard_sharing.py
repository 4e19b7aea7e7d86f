"""Hard sharing baselines as fixed assignments over weight banks (DESIGN.md, "one mechanism").

- isolated: task t uses slot t in every layer (no sharing; Zhang's Isolated, LWS' no sharing).
- shareall: every task uses slot 0 in every hidden layer, per-task heads (Zhang's Shareall, LWS'
  full sharing); batch norm shared as well.
- deep: every hidden layer shared, with domain-specific batch-norm scale and moments (Bilen &
  Vedaldi's "deep sharing": all but the classifier shared).
- partial: the layers listed in `shared_layers` are shared, the others task-specific (LWS' prior
  sharing is `shared_layers: [0, 1]` on the DKL ConvNet).
All train with Adam on the sum over tasks of each task's mean cross-entropy (equal weighting), as
the LWS code; 16 images per task per step are drawn by the runner.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from sharebench.datasets.holes import with_holes
from sharebench.methods.networks import BankedNet, backbone_layers, final_map_size
from sharebench.methods.norms import EVAL_MOMENTS, BankedNorm, norm_mode
from sharebench.methods.optim import OPTIM_HPARAMS, check_optim_hparams, make_optimizer
from sharebench.methods.registry import Method, register
from sharebench.methods.round_robin import RoundRobinSGD

BLOCK_SCHEDULES = ("simultaneous", "round-robin")  # one step for all datasets | one dataset at a time (Eq. 9)


def multitask_loss(logits: Tensor, y: Tensor) -> Tensor:
    """Sum over tasks of the mean cross-entropy of each task's labelled samples; logits [T, B, C], y [T, B].

    Hidden labels (-1, target tasks) contribute nothing; a task with no label in the batch adds zero."""
    known = y >= 0
    per_sample = F.cross_entropy(logits.flatten(0, 1), y.clamp_min(0).flatten(), reduction="none").reshape(y.shape)
    if bool(known.all()):
        return per_sample.mean(dim=1).sum()
    return ((per_sample * known).sum(dim=1) / known.sum(dim=1).clamp_min(1)).sum()


def completion_loss(filled: Tensor, x: Tensor) -> Tensor:
    """Sum over tasks of each task's mean over images of the squared error summed over pixels,
    (1/|I_i|) sum_I ||I - G(I)||_F^2 (Zhang et al. Sec. 3, task II); filled and x [T, B, C, H, W]."""
    return (filled - x).pow(2).flatten(2).sum(2).mean(1).sum()


class BankedMethod(Method):
    """A BankedNet with a fixed assignment, trained by Adam; subclasses choose the assignment."""

    # eval_moments: evaluate with these normalisation moments, each an evaluation variant (norms.py: universal,
    # domain, batch); empty = the norm mode's own. domains_per_pass: forward and backward this many domains' pure
    # batches at a time and accumulate the gradients (0 = all at once): the same step in less memory (deep-x4 at
    # 64 px on a GPU); exact because every pure batch is normalised with its own statistics.
    # same_init: every per-task copy of a layer starts from the same weights (slot 0's), as the copies of Zhang et
    # al.'s methods all start from one pretrained network (specs/zhang.md 2.9); heads stay independent.
    HPARAMS: ClassVar[dict[str, Any]] = {**OPTIM_HPARAMS, "norm": "bn", "init": "torch", "eval_moments": [],
                                         "domains_per_pass": 0, "same_init": False,
                                         "block_schedule": "simultaneous", "decay_epochs": 0}
    SHARED_HEAD: ClassVar[bool] = False  # one classifier for every task (full sharing)
    PACKABLE: ClassVar[bool] = True  # seeds can train as one packed model (methods/packing.py)
    COMPLETION: ClassVar[bool] = True  # can train on image completion suites (an image-output backbone)
    copies = 1  # how many seeds this model holds (packing.pack sets it; copy_offsets shift their slots)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        check_optim_hparams(self.hparams, f"method {self.name!r}")
        if self.backbone_options.get("width_multiplier") == "inv-sqrt-tasks":
            # equal total parameters: T independent networks of 1/sqrt(T) width ~ one shared network (Bilen T5)
            self.backbone_options["width_multiplier"] = 1.0 / self.tasks.num_tasks ** 0.5
        self.layers = backbone_layers(self.backbone, self.tasks.image_shape, **self.backbone_options)
        self.check_norm_fits()
        self.check_eval_moments()
        self.check_domains_per_pass()
        self.check_block_schedule()
        assignment = self.only_shareable(self.initial_assignment(len(self.layers)))
        slots = [int(assignment[:, layer].max()) + 1 for layer in range(len(self.layers))]
        self.net = BankedNet(self.layers, self.tasks.num_classes, self.slots_per_layer(slots),
                             norm=self.hparams["norm"], init=self.hparams["init"],
                             shared_head=self.SHARED_HEAD).to(self.device)
        if self.tasks.completion and not self.COMPLETION:
            raise ValueError(f"method {self.name!r} classifies and cannot train on image completion tasks")
        if self.net.image_output != self.tasks.completion:
            raise ValueError(f"method {self.name!r}: backbone {self.backbone!r} "
                             f"{'outputs images' if self.net.image_output else 'classifies'}, but the suite's tasks "
                             f"are {'image completion' if self.tasks.completion else 'classification'}")
        if self.hparams["same_init"]:
            self.start_copies_equal()
        self.register_assignment(assignment)
        self.all_tasks = torch.arange(self.tasks.num_tasks, device=self.device)
        self.copy_offsets = torch.zeros(self.tasks.num_tasks, len(self.layers), dtype=torch.long)
        self.optimizer, self.scheduler = self.make_optimizer()

    # -- what subclasses decide
    def initial_assignment(self, num_layers: int) -> Tensor:
        raise NotImplementedError

    def slots_per_layer(self, used: list[int]) -> list[int]:
        return used

    # -- seed packing (methods/packing.py): state beyond the network that a subclass packs and unpacks
    def pack_extra(self, copies: list[Method]) -> None:
        """On the packed model: gather the copies' extra state (LWS: search distributions)."""

    def unpack_extra(self, copy: Method, index: int) -> None:
        """On the packed model: give copy `index` its slice of that state."""

    # -- shared machinery
    def start_copies_equal(self) -> None:
        """`same_init`: every slot of every layer (weights and per-slot BN) becomes a copy of slot 0."""
        for layer, unit in enumerate(self.net.layers):
            for slot in range(1, unit.num_slots):
                self.net.copy_slot(layer, 0, slot)

    def task_loss(self, x: Tensor, y: Tensor, tasks: Tensor) -> Tensor:
        """The summed per-task loss of one step on the tasks `tasks`: cross-entropy, or for image completion
        the squared error of the filled images (the labels are the holes, datasets/holes.py)."""
        if not self.tasks.completion:
            return multitask_loss(self.net(x, self.assignment, tasks), y)
        masked = torch.stack([with_holes(x[i], y[i], self.tasks.holes[int(t)]) for i, t in enumerate(tasks)])
        return completion_loss(self.net(masked, self.assignment, tasks), x)

    def only_shareable(self, assignment: Tensor) -> Tensor:
        """Layers the backbone marks as not shareable (an always-shared trunk) use slot 0 for every task."""
        fixed = [i for i, spec in enumerate(self.layers) if not spec.shareable]
        assignment = assignment.clone()
        assignment[:, fixed] = 0
        return assignment

    def register_assignment(self, assignment: Tensor) -> None:
        self.assignment = assignment.to(self.device)

    def slot_users(self) -> list[Tensor]:
        """Per layer, how many tasks use each slot under the current assignment: [K_l] counts."""
        a = self.assignment.cpu()
        return [torch.bincount(a[:, layer], minlength=unit.num_slots).float()
                for layer, unit in enumerate(self.net.layers)]

    def check_norm_fits(self) -> None:
        """Instance norm needs spatial extent: at a 1x1 map it outputs zeros (specs/bilen.md 2.3)."""
        if norm_mode(self.hparams["norm"]).kind == "in":
            size = final_map_size(self.layers, self.tasks.image_shape)
            if size < 4:
                raise ValueError(f"method {self.name!r}: norm {self.hparams['norm']!r} needs the last stage's maps "
                                 f"to be at least 4x4, this backbone ends at {size}x{size}; fewer strides "
                                 "(backbone_options.stage_strides) or larger images")

    def eval_variants(self) -> list[str]:
        return list(self.hparams["eval_moments"]) or [""]

    def set_eval_variant(self, variant: str) -> None:
        if not variant:
            return
        for m in self.net.modules():
            if isinstance(m, BankedNorm):
                m.eval_moments = variant

    def needs_pure_test_batches(self) -> bool:
        return any(m.eval_moments == "batch" for m in self.net.modules() if isinstance(m, BankedNorm))

    def check_eval_moments(self) -> None:
        moments, mode = self.hparams["eval_moments"], norm_mode(self.hparams["norm"])
        keeps = {"slot": ["universal"], "task": ["domain"], "both": ["universal", "domain"]}.get(mode.moments, [])
        allowed = [*keeps, "batch"] if mode.kind == "bn" else []
        if not isinstance(moments, list) or len(set(moments)) != len(moments) or any(
                m not in EVAL_MOMENTS or m not in allowed for m in moments):
            raise ValueError(f"method {self.name!r}: eval_moments must list distinct choices among {allowed} for norm "
                             f"{self.hparams['norm']!r}, got {moments!r}")

    def check_domains_per_pass(self) -> None:
        per_pass = self.hparams.get("domains_per_pass", 0)
        if not isinstance(per_pass, int) or isinstance(per_pass, bool) or per_pass < 0:
            raise ValueError(f"method {self.name!r}: domains_per_pass must be an integer >= 0 (0 = all domains in one "
                             f"pass), got {per_pass!r}")
        if 0 < per_pass < self.tasks.num_tasks and norm_mode(self.hparams["norm"]).moments == "both":
            raise ValueError(f"method {self.name!r}: norm {self.hparams['norm']!r} updates its universal moments once "
                             "per step from all domains together, so the step cannot be split into passes "
                             "(domains_per_pass)")

    @property
    def round_robin(self) -> bool:
        return self.hparams["block_schedule"] == "round-robin"

    def check_block_schedule(self) -> None:
        h = self.hparams
        if h["block_schedule"] not in BLOCK_SCHEDULES:
            raise ValueError(f"method {self.name!r}: block_schedule must be one of {BLOCK_SCHEDULES}, got "
                             f"{h['block_schedule']!r}")
        epochs = h["decay_epochs"]
        if not isinstance(epochs, int) or epochs < 0 or (epochs and not self.round_robin):
            raise ValueError(f"method {self.name!r}: decay_epochs (per-dataset lr decay) is an integer >= 0 and needs "
                             f"block_schedule 'round-robin', got {h['decay_epochs']!r}")
        if self.round_robin and (h["optimizer"] != "sgd" or h["schedule"] != "constant" or h["warmup"]
                                 or h["norm"] != "bn" or h["domains_per_pass"]):
            raise ValueError(f"method {self.name!r}: block_schedule 'round-robin' is per-dataset momentum SGD "
                             "(optimizer sgd, schedule constant, no warmup; decay by decay_epochs) with batch-norm per "
                             "slot (norm bn) and one pass per dataset (domains_per_pass 0)")

    def domain_passes(self) -> list[slice]:
        per_pass = self.hparams.get("domains_per_pass", 0) or self.tasks.num_tasks
        return [slice(i, i + per_pass) for i in range(0, self.tasks.num_tasks, per_pass)]

    def norm_parameters(self) -> list[torch.nn.Parameter]:
        return [p for unit in self.net.layers for p in unit.norm_parameters()]

    def make_optimizer(self, start: int = 0) -> tuple[torch.optim.Optimizer, Any]:
        if self.round_robin:
            h = self.hparams
            rr = RoundRobinSGD(list(self.net.parameters()), self.tasks.num_tasks, h["lr"], h["momentum"],
                               h["weight_decay"], h["gamma"], h["decay_epochs"], self.tasks.train_sizes)
            rr.steps = [start] * self.tasks.num_tasks  # a phase switch (finetune) continues each dataset's decay
            return rr, rr  # type: ignore[return-value]
        return make_optimizer(self.net.parameters(), self.hparams, self.total_iterations, start,
                              norm_params=self.norm_parameters())

    def optimizer_step(self) -> None:
        self.optimizer.step()
        self.scheduler.step()

    def penalty(self) -> Tensor | None:
        return None

    def task_rows(self, task: int) -> list[Tensor]:
        """Per network parameter, the slots (leading indices) task `task` uses: its slot in each layer, its head."""
        rows: dict[int, Tensor] = {}
        for layer, unit in enumerate(self.net.layers):
            slot = self.assignment[task, layer].view(1).cpu()
            for t in unit.slot_tensors(norm_per_slot=True):
                rows[id(t)] = slot
        if self.net.head is not None:
            for t in self.net.head.linear.parameters():
                rows[id(t)] = self.net.head.task_slot[task].view(1).cpu()
        return [rows[id(p)] for p in self.net.parameters()]

    def update_round_robin(self, x: Tensor, y: Tensor) -> dict[str, float]:
        """Dataset by dataset: its loss plus the coupling penalty, a step of its own optimiser on its own slots
        (Eq. 9's block-coordinate update; methods/round_robin.py)."""
        out = {"loss": 0.0}
        for t in range(self.tasks.num_tasks):
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.task_loss(x[t:t + 1], y[t:t + 1], self.all_tasks[t:t + 1])
            pen = self.penalty()
            (loss if pen is None else loss + pen).backward()
            self.optimizer.step_task(t, self.task_rows(t), batch=x.shape[1])
            out["loss"] += float(loss.detach())
            if pen is not None:
                out["penalty"] = float(pen.detach())
        return out

    def update(self, x: Tensor, y: Tensor, iteration: int) -> dict[str, float]:
        self.net.train()
        if self.round_robin:
            return self.update_round_robin(x, y)
        self.optimizer.zero_grad(set_to_none=True)
        passes = self.domain_passes()
        out = {"loss": 0.0}
        for rows in passes:  # one pass (the default) or gradients accumulated over groups of domains
            loss = self.task_loss(x[rows], y[rows], self.all_tasks[rows])
            out["loss"] += float(loss.detach())
            total = loss
            if rows is passes[-1]:
                pen = self.penalty()
                if pen is not None:
                    total = loss + pen
                    out["penalty"] = float(pen.detach())
            total.backward()
        self.net.average_gradients_over_users(self.slot_users())  # as the released LWS code, for every method
        self.optimizer_step()
        return out

    # On CPU, predict in pieces that stay in cache: 29,500 DKL test images took 5.6 s on one thread in
    # pieces of 2,048 and 2.9 s in pieces of 128 (benchmarks/speed.py: eval_seconds(chunk=...))
    cpu_predict_chunk = 128
    # On CUDA, pieces of at most 2^25 input values (10,922 CIFAR images, 125 at 299 px): a test set of large images
    # in one piece would not fit (InceptionV3's activations), small ones still go in one or two launches
    cuda_predict_values = 2 ** 25

    @torch.no_grad()
    def predict(self, x: Tensor, task: int) -> Tensor:
        self.net.eval()
        t = self.all_tasks[task:task + 1]
        if self.needs_pure_test_batches():  # BN+: the batch given is the batch normalised
            pieces = [x]
        else:
            pieces = x.split(max(1, self.cuda_predict_values // max(1, x[0].numel())) if x.is_cuda
                             else self.cpu_predict_chunk)
        logits = [self.net(piece.unsqueeze(0), self.assignment, t)[0] for piece in pieces]
        return torch.cat(logits)[:, : self.tasks.num_classes[task]]

    @torch.no_grad()
    def reconstruct(self, x: Tensor, task: int) -> Tensor:
        """Images with their holes zeroed [B, C, H, W] -> the network's filled images (image completion)."""
        if not self.net.image_output:
            raise ValueError(f"method {self.name!r} on backbone {self.backbone!r} classifies; reconstruction "
                             "metrics need an image-output backbone (ae9) and a completion suite")
        self.net.eval()
        t = self.all_tasks[task:task + 1]
        return torch.cat([self.net(piece.unsqueeze(0), self.assignment, t)[0]
                          for piece in x.split(self.cpu_predict_chunk)])

    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "assignment": self.assignment.cpu()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.register_assignment(state["assignment"])
        self.optimizer.load_state_dict(state["optimizer"])
        if "scheduler" in state:
            self.scheduler.load_state_dict(state["scheduler"])

    def describe(self) -> dict[str, Any]:
        a = self.assignment.cpu()
        distinct = [len(torch.unique(a[:, layer])) for layer in range(a.shape[1])]
        per_layer = [spec.num_params() for spec in self.layers]
        shared_slots = [int((torch.unique(a[:, layer], return_counts=True)[1] > 1).sum())
                        for layer in range(a.shape[1])]
        return {"layers": self.net.layer_names, "assignment": a.tolist(), "distinct_slots_per_layer": distinct,
                "backbone_options": self.backbone_options,
                "group_sizes": group_sizes(a).tolist(),
                "hidden_params_in_use": int(sum(d * n for d, n in zip(distinct, per_layer))),
                # in slots that two or more tasks use: the shared part of what is in use (the report's cost column)
                "hidden_params_shared": int(sum(k * n for k, n in zip(shared_slots, per_layer)))}


def group_sizes(assignment: Tensor) -> Tensor:
    """[T, L] -> [T, L]: how many tasks (itself included) use the slot task t uses in layer l.
    LWS Figures 3 and 4 histogram these over tasks and runs."""
    same = assignment.unsqueeze(0) == assignment.unsqueeze(1)  # [T, T, L]
    return same.sum(dim=1)


def _isolated(T: int, L: int) -> Tensor:
    return torch.arange(T).unsqueeze(1).repeat(1, L)


@register("isolated")
class Isolated(BankedMethod):
    def initial_assignment(self, num_layers: int) -> Tensor:
        return _isolated(self.tasks.num_tasks, num_layers)


@register("shareall")
class ShareAll(BankedMethod):
    def initial_assignment(self, num_layers: int) -> Tensor:
        return torch.zeros(self.tasks.num_tasks, num_layers, dtype=torch.long)


@register("deep")
class DeepSharing(ShareAll):
    HPARAMS: ClassVar[dict[str, Any]] = {**BankedMethod.HPARAMS, "norm": "task-bn"}


@register("partial")
class PartialSharing(BankedMethod):
    """`shared_layers` lists unit indices; or `shared_stages` (1-based) names the stages of a ResNet whose units
    are shared (Bilen & Vedaldi's partial sharing), with the stem shared when `share_stem`."""

    HPARAMS: ClassVar[dict[str, Any]] = {**BankedMethod.HPARAMS, "shared_layers": [0, 1], "shared_stages": None,
                                         "share_stem": True}

    def shared_layer_indices(self) -> list[int]:
        stages = self.hparams["shared_stages"]
        if stages is None:
            return list(self.hparams["shared_layers"])
        names = [spec.name for spec in self.layers]
        known = sorted({int(n[5:].split(".")[0]) for n in names if n.startswith("stage")})
        if not isinstance(stages, (list, tuple)) or any(s not in known for s in stages):
            raise ValueError(f"method 'partial': shared_stages must list stages among {known}, got {stages!r}")
        chosen = [i for i, n in enumerate(names) if n.startswith("stage") and int(n[5:].split(".")[0]) in stages]
        return ([0] if self.hparams["share_stem"] and names[0] == "stem" else []) + chosen

    def initial_assignment(self, num_layers: int) -> Tensor:
        shared = self.shared_layer_indices()
        if not isinstance(shared, (list, tuple)) or any(
                not isinstance(i, int) or not 0 <= i < num_layers for i in shared):
            raise ValueError(f"method 'partial': shared_layers must be a list of layer indices in "
                             f"0..{num_layers - 1}, got {shared!r}")
        a = _isolated(self.tasks.num_tasks, num_layers)
        a[:, list(shared)] = 0
        return a
