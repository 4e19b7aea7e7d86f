"""Joint autoencoders (Epstein, Meir & Michaeli 2018, Sec. 3) and the autoencoder baseline they are compared with.

Every task has two fully connected branches of the same shape, a private one P_i and a shared one S_i:
d_i -> h1 -> h2 -> b -> h2 -> h1 (ReLU everywhere, the bottleneck included). In the shared branches the layer that
produces hidden layer `shared_depth` (3 = the bottleneck, the paper's default) is one weight used by every task;
the tops of both branches are concatenated and a per-task linear layer reconstructs the input (Fig. 1: "the top
layers of dimension 500 are concatenated to a layer of dimension 1000, which directly reconstructs the 784
input"). The loss is Eq. 1: the sum over tasks of each task's reconstruction loss (per-pixel mean squared error,
`recon_weight` w_r = 1).

With `classify: true` every task also gets a linear classifier on its code (concat(z_p, z_s) for the JAE, the
AE's bottleneck for `ae`), trained end to end with the reconstruction (Eq. 2, Fig. 1(c)): cross-entropy on the
labels the runner shows in the batch (hidden target labels are -1 and count for nothing), `ce_weight` w_c = 1.

The baseline `ae` is one autoencoder per task with the branch's shape and the JAE's cumulative bottleneck
(hidden [h1, h2, 2b, h2, h1]), trained on the same batches. `width_scale` narrows every JAE layer: 0.7071 is the
paper's JAE-reduced ("reducing the size of each layer by sqrt(2)"), `match-ae` the common factor that makes the
JAE exactly as large as the AE pair (the sqrt(2) rule does not: specs/jae.md 1.12).

Where the paper is silent (its supplement is lost; specs/jae.md 2.1-2.3): sigmoid outputs, Keras' Glorot-uniform
weights and zero biases, Adam at 1e-3, all tasks in every step.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sharebench.methods.banks import BankedLinear, HeadBank
from sharebench.methods.hard_sharing import multitask_loss
from sharebench.methods.optim import OPTIM_HPARAMS, check_optim_hparams, make_optimizer
from sharebench.methods.registry import Method, register


def scaled(hidden: list[int], scale: float) -> list[int]:
    return [max(1, round(w * scale)) for w in hidden]


def stack_params(d: int, hidden: list[int]) -> int:
    """Weights and biases of one branch d -> hidden[0] -> ... -> hidden[-1]."""
    sizes = [d, *hidden]
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def jae_params(dims: list[int], hidden: list[int], shared_depth: int) -> int:
    """A private and a shared branch per task (input sizes `dims`; the shared layer counted once) and one output
    layer 2 h1 -> d per task."""
    sizes = [dims[0], *hidden]
    shared_layer = sizes[shared_depth - 1] * sizes[shared_depth] + sizes[shared_depth]
    return sum(2 * stack_params(d, hidden) + 2 * hidden[-1] * d + d for d in dims) - (len(dims) - 1) * shared_layer


def ae_widths(hidden: list[int]) -> list[int]:
    """The AE's branch: the JAE branch with the cumulative bottleneck (private + shared codes)."""
    middle = len(hidden) // 2
    return [*hidden[:middle], 2 * hidden[middle], *hidden[middle + 1:]]


def ae_params(dims: list[int], hidden: list[int]) -> int:
    return sum(stack_params(d, ae_widths(hidden)) + hidden[-1] * d + d for d in dims)


def matching_scale(dims: list[int], hidden: list[int], shared_depth: int) -> float:
    """The common width factor whose (rounded) JAE has the AE pair's parameter count, closest over a fine grid."""
    target = ae_params(dims, hidden)
    grid = [i / 10000 for i in range(1000, 10001)]
    return min(grid, key=lambda s: abs(jae_params(dims, scaled(hidden, s), shared_depth) - target))


class RaggedLinear(nn.Module):
    """Per-task dense layers whose input or output sizes differ between tasks (MNIST's 784 pixels beside USPS' 256):
    one weight each, on the zero-padded [T', B, max size] layout; a loop over the (two or three) tasks."""

    def __init__(self, ins: list[int], outs: list[int]):
        super().__init__()
        self.ins, self.outs = ins, outs
        self.layers = nn.ModuleList(BankedLinear(1, i, o, init="glorot-uniform") for i, o in zip(ins, outs))

    def forward(self, h: Tensor, tasks: Tensor) -> Tensor:
        slot = torch.zeros(1, dtype=torch.long, device=h.device)
        return torch.stack([F.pad(self.layers[t](h[i:i + 1, :, :self.ins[t]], slot)[0], (0, max(self.outs) -
                                                                                       self.outs[t]))
                            for i, t in enumerate(tasks.tolist())])


def dense_layer(tasks: int, ins: list[int], outs: list[int]) -> nn.Module:
    """A banked layer (one batched matmul) where every task has the same sizes, a ragged one where they differ."""
    if len(set(ins)) == 1 and len(set(outs)) == 1:
        return BankedLinear(tasks, ins[0], outs[0], init="glorot-uniform")
    return RaggedLinear(ins, outs)


class DenseBranch(nn.Module):
    """One branch per task as banked dense layers (slot t = task t); `shared` layers hold one slot used by all."""

    def __init__(self, dims: list[int], hidden: list[int], shared: tuple[int, ...] = ()):
        super().__init__()
        tasks = len(dims)
        if 1 in shared and len(set(dims)) > 1:
            raise ValueError(f"the first layer cannot be shared between inputs of different sizes {dims}: \"when "
                             "the input dimensions differ, early sharing is impossible\"")
        self.shared = shared  # 1-based depths of the hidden layers whose producing weight is shared
        self.layers = nn.ModuleList(
            [BankedLinear(1, dims[0], hidden[0], init="glorot-uniform") if 1 in shared else
             dense_layer(tasks, dims, [hidden[0]] * tasks)] +
            [BankedLinear(1 if i + 1 in shared else tasks, hidden[i - 1], hidden[i], init="glorot-uniform")
             for i in range(1, len(hidden))])

    def forward(self, h: Tensor, tasks: Tensor) -> list[Tensor]:
        """h [T', B, d] for the tasks `tasks` -> every hidden layer's activation [T', B, w]."""
        out = []
        for i, layer in enumerate(self.layers):
            slots = torch.zeros_like(tasks) if i + 1 in self.shared else tasks
            h = F.relu(layer(h, slots))
            out.append(h)
        return out


class Autoencoders(Method):
    """What `ae` and `jae` share: flattening, the reconstruction loss, Adam, the state, reconstruct()."""

    # classifier: "per-task" (a linear head per task, the spec's reading of Fig. 1(c)) or "shared" (one head for
    # every task on its code; tasks must label the same things: the suite extra asking whether the source's labels
    # then reach the target)
    HPARAMS: ClassVar[dict[str, Any]] = {**OPTIM_HPARAMS, "recon_weight": 1.0, "classify": False, "ce_weight": 1.0,
                                         "classifier": "per-task"}
    BACKBONES: ClassVar[tuple[str, ...]] = ("jae-mlp",)  # the branches are built here from its `hidden`
    NATIVE_SHAPES: ClassVar[bool] = True  # each task's input and output layers have its own image's size
    CODE_MODULES: ClassVar[tuple[str, ...]] = ("sharebench.methods.hard_sharing", "sharebench.methods.jae_analysis")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        check_optim_hparams(self.hparams, f"method {self.name!r}")
        self.hidden = list(self.backbone_options.get("hidden", [500, 250, 32, 250, 500]))
        if len(self.hidden) % 2 == 0:
            raise ValueError(f"method {self.name!r}: hidden needs an odd number of widths around the bottleneck, got "
                             f"{self.hidden}")
        self.shapes = [self.tasks.native_shape(t) for t in range(self.tasks.num_tasks)]
        self.dims = [h * w * c for h, w, c in self.shapes]
        self.ragged = len(set(self.shapes)) > 1
        self.all_tasks = torch.arange(self.tasks.num_tasks, device=self.device)
        self.build()
        if self.hparams["classifier"] not in ("per-task", "shared"):
            raise ValueError(f"method {self.name!r}: classifier must be 'per-task' or 'shared', got "
                             f"{self.hparams['classifier']!r}")
        if self.hparams["classify"]:
            shared = self.hparams["classifier"] == "shared"
            semantics = set(self.tasks.label_semantics)
            if shared and (len(semantics) != 1 or "" in semantics):
                raise ValueError(f"method {self.name!r}: a shared classifier needs tasks whose labels mean the same "
                                 f"things (the suite's label_semantics: {self.tasks.label_semantics})")
            self.head = HeadBank(self.code_width(), self.tasks.num_classes, init="glorot-uniform", shared=shared)
        self.to(self.device)
        self.optimizer, self.scheduler = make_optimizer(self.parameters(), self.hparams, self.total_iterations)

    # -- what subclasses decide
    def build(self) -> None:
        raise NotImplementedError

    def code_width(self) -> int:
        raise NotImplementedError

    def forward(self, x: Tensor, tasks: Tensor) -> tuple[Tensor, Tensor]:
        """x [T', B, d] in [0, 1] -> the reconstruction [T', B, d] (after the sigmoid) and the code [T', B, c]."""
        raise NotImplementedError

    def decode(self, x: Tensor, tasks: Tensor) -> Tensor:
        return self.forward(x, tasks)[0]

    def output_layer(self, width: int) -> nn.Module:
        return dense_layer(self.tasks.num_tasks, [width] * self.tasks.num_tasks, self.dims)

    def squash(self, out: Tensor, tasks: Tensor) -> Tensor:
        """The sigmoid output; with tasks of different sizes, zero beyond each task's own pixels."""
        out = torch.sigmoid(out)
        if self.ragged:
            width = torch.arange(out.shape[-1], device=out.device)
            out = out * (width < torch.tensor(self.dims, device=out.device)[tasks].unsqueeze(1)).unsqueeze(1)
        return out

    def flatten(self, x: Tensor, tasks: Tensor) -> Tensor:
        """Images [T', B, C, H, W] -> [T', B, d]; a task on a canvas is cropped to its own pixels, zero-padded."""
        if not self.ragged:
            return x.flatten(2)
        width = max(self.dims)
        return torch.stack([F.pad(x[i, :, :c, :h, :w].flatten(1), (0, width - h * w * c))
                            for i, (h, w, c) in enumerate(self.shapes[t] for t in tasks.tolist())])

    def unflatten(self, flat: Tensor, task: int, like: Tensor) -> Tensor:
        """[B, d] of one task -> images shaped like `like` [B, C, H, W] (zero outside the task's own corner)."""
        if not self.ragged:
            return flat.reshape(like.shape)
        h, w, c = self.shapes[task]
        out = torch.zeros_like(like)
        out[:, :c, :h, :w] = flat[:, :h * w * c].reshape(-1, c, h, w)
        return out

    # -- shared machinery
    def modules_(self) -> list[nn.Module]:
        return [m for m in vars(self).values() if isinstance(m, nn.Module)]

    def parameters(self) -> list[nn.Parameter]:
        return [p for m in self.modules_() for p in m.parameters()]

    def to(self, device: torch.device) -> None:
        for m in self.modules_():
            m.to(device)

    def reconstruction_loss(self, x: Tensor, tasks: Tensor) -> tuple[Tensor, Tensor, dict[str, float]]:
        """Eq. 1 for `tasks`: the sum of each task's per-pixel MSE; also the codes, for a classifier."""
        flat = self.flatten(x, tasks)
        recon, code = self.forward(flat, tasks)
        if self.ragged:  # per-pixel MSE over each task's own pixels (the padding is zero in both)
            dims = torch.tensor(self.dims, device=x.device)[tasks]
            per_task = (recon - flat).pow(2).sum(dim=(1, 2)) / (dims * x.shape[1])
        else:
            per_task = (recon - flat).pow(2).mean(dim=(1, 2))  # per-pixel MSE per task
        logs = {f"recon/{self.tasks.names[t]}": float(v) for t, v in zip(tasks.tolist(), per_task.detach())}
        return self.hparams["recon_weight"] * per_task.sum(), code, logs

    def objective(self, x: Tensor, y: Tensor, iteration: int) -> tuple[Tensor | None, dict[str, float]]:
        """The loss of one step (None: no update). End to end: Eq. 1, plus Eq. 2's classification term."""
        loss, code, logs = self.reconstruction_loss(x, self.all_tasks)
        if self.hparams["classify"]:
            ce = multitask_loss(self.head(code, self.all_tasks), y)  # Eq. 2; labels hidden from the method are -1
            loss = loss + self.hparams["ce_weight"] * ce
            logs["ce"] = float(ce.detach())
        return loss, logs

    def update(self, x: Tensor, y: Tensor, iteration: int) -> dict[str, float]:
        loss, logs = self.objective(x, y, iteration)
        if loss is None:
            return {"loss": 0.0, **logs}
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        return {"loss": float(loss.detach()), **logs}

    @torch.no_grad()
    def predict(self, x: Tensor, task: int) -> Tensor:
        if not self.hparams["classify"]:
            raise ValueError(f"method {self.name!r} has no classifier: set `classify: true` to score accuracy")
        for m in self.modules_():
            m.eval()
        t = self.all_tasks[task:task + 1]
        code = self.forward(self.flatten(x.unsqueeze(0), t), t)[1]
        return self.head(code, t)[0, :, : self.tasks.num_classes[task]]

    @torch.no_grad()
    def reconstruct(self, x: Tensor, task: int) -> Tensor:
        for m in self.modules_():
            m.eval()
        t = self.all_tasks[task:task + 1]
        return self.unflatten(self.decode(self.flatten(x.unsqueeze(0), t), t)[0], task, x)

    def state_dict(self) -> dict[str, Any]:
        return {"modules": [m.state_dict() for m in self.modules_()], "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for m, s in zip(self.modules_(), state["modules"]):
            m.load_state_dict(s)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])

    def describe(self) -> dict[str, Any]:
        return {"params": sum(p.numel() for p in self.parameters()), "input_dims": self.dims}


@register("ae")
class AutoencoderPerTask(Autoencoders):
    """The baseline: one autoencoder per task, bottleneck = the JAE's private + shared codes (Sec. 4.1)."""

    def build(self) -> None:
        self.widths = ae_widths(self.hidden)
        self.branch = DenseBranch(self.dims, self.widths)
        self.output = self.output_layer(self.widths[-1])

    def code_width(self) -> int:
        return self.widths[len(self.widths) // 2]

    def forward(self, x: Tensor, tasks: Tensor) -> tuple[Tensor, Tensor]:
        hidden = self.branch(x, tasks)
        return self.squash(self.output(hidden[-1], tasks), tasks), hidden[len(hidden) // 2]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "widths": self.widths}


@register("jae")
class JointAutoencoder(Autoencoders):
    """Private and shared branches per task, one shared layer at `shared_depth`, concatenated tops (Fig. 1)."""

    HPARAMS: ClassVar[dict[str, Any]] = {
        **Autoencoders.HPARAMS, "shared_depth": 3,
        "width_scale": None,  # None: full widths; a number; or "match-ae"
        "procedure": "end-to-end",  # or "common-branch" (Sec. 3.2): three phases, shares of the budget in `phases`
        "phases": [0.6, 0.2, 0.2],
        "freeze_at": 0,  # Fig. 3(d): from this iteration on (0: never) only `after_freeze` trains
        "after_freeze": "source-recon",  # the source's reconstruction alone, or "none" (no update: the control)
        "fig2_points": 0,  # > 0: Fig. 2's t-SNE / Fisher analysis on this many test images of both tasks at the end
    }
    PROCEDURES: ClassVar[tuple[str, ...]] = ("end-to-end", "common-branch")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        hp, where = self.hparams, f"method {self.name!r}"
        self.phase = 0
        self.detach_shared = False
        if hp["procedure"] not in self.PROCEDURES:
            raise ValueError(f"{where}: procedure must be one of {self.PROCEDURES}, got {hp['procedure']!r}")
        if hp["after_freeze"] not in ("source-recon", "none"):
            raise ValueError(f"{where}: after_freeze must be 'source-recon' or 'none', got {hp['after_freeze']!r}")
        phases = hp["phases"]
        if not (isinstance(phases, list) and len(phases) == 3 and all(isinstance(p, (int, float)) and p > 0
                                                                      for p in phases)
                and abs(sum(phases) - 1) < 1e-9):
            raise ValueError(f"{where}: phases must be three positive shares of the budget summing to 1, got {phases}")
        if not isinstance(hp["freeze_at"], int) or hp["freeze_at"] < 0:
            raise ValueError(f"{where}: freeze_at must be an iteration >= 0, got {hp['freeze_at']!r}")
        staged = hp["procedure"] == "common-branch" or hp["freeze_at"] > 0
        if staged:
            if not hp["classify"] or not self.tasks.with_role("source") or not self.tasks.with_role("target"):
                raise ValueError(f"{where}: the common-branch procedure and freeze_at need `classify: true` and "
                                 "tasks with the roles source and target")
            if hp["classifier"] == "shared":  # phase 3 would move the source's classifier
                raise ValueError(f"{where}: the common-branch procedure and freeze_at need per-task classifiers")
            if hp["weight_decay"]:  # weight decay would move the parameters a phase leaves alone
                raise ValueError(f"{where}: the common-branch procedure and freeze_at need weight_decay 0")
        self.sources = torch.tensor(self.tasks.with_role("source"), device=self.device)
        self.targets = torch.tensor(self.tasks.with_role("target"), device=self.device)

    def build(self) -> None:
        depth = self.hparams["shared_depth"]
        scale = 1.0 if self.hparams["width_scale"] is None else self.hparams["width_scale"]
        if not isinstance(depth, int) or not 1 <= depth <= len(self.hidden):
            raise ValueError(f"method {self.name!r}: shared_depth must be a hidden layer 1..{len(self.hidden)}, got "
                             f"{depth!r}")
        if scale == "match-ae":
            scale = matching_scale(self.dims, self.hidden, depth)
        elif not isinstance(scale, (int, float)) or not 0 < scale <= 4:
            raise ValueError(f"method {self.name!r}: width_scale must be a number in (0, 4] or 'match-ae', got "
                             f"{scale!r}")
        self.scale, self.widths = float(scale), scaled(self.hidden, float(scale))
        self.private = DenseBranch(self.dims, self.widths)
        self.shared = DenseBranch(self.dims, self.widths, shared=(depth,))
        self.output = self.output_layer(2 * self.widths[-1])

    def code_width(self) -> int:
        return 2 * self.widths[len(self.widths) // 2]

    def forward(self, x: Tensor, tasks: Tensor) -> tuple[Tensor, Tensor]:
        private = self.private(x, tasks)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.detach_shared):
            shared = self.shared(x, tasks)
        middle = len(private) // 2
        top = torch.cat([private[-1], shared[-1]], dim=-1)
        return self.squash(self.output(top, tasks), tasks), torch.cat([private[middle], shared[middle]], dim=-1)

    def phase_of(self, iteration: int) -> int:
        """Common-branch: 0 unsupervised, 1 source supervised, 2 target supervised. Freeze: 0 before, 1 after."""
        hp = self.hparams
        if hp["procedure"] == "common-branch":
            ends = [round(sum(hp["phases"][:i + 1]) * self.total_iterations) for i in range(2)]
            return sum(iteration >= e for e in ends)
        return int(0 < hp["freeze_at"] <= iteration)

    def objective(self, x: Tensor, y: Tensor, iteration: int) -> tuple[Tensor | None, dict[str, float]]:
        """Sec. 3.2's common-branch transfer and Fig. 3(d)'s freeze as phases of one run. At a phase switch the
        optimiser's state is dropped (a fresh Adam, as a new phase's optimiser): parameters outside the phase's
        loss then get exactly zero updates, even the other tasks' rows of a banked weight."""
        phase = self.phase_of(iteration)
        if phase != self.phase:
            self.optimizer.state.clear()
            self.phase = phase
        hp = self.hparams
        if phase == 0 and hp["procedure"] == "end-to-end":
            return super().objective(x, y, iteration)
        if phase == 0:  # common-branch phase 1: Eq. 1 alone
            loss, _, logs = self.reconstruction_loss(x, self.all_tasks)
            return loss, logs
        if hp["procedure"] == "end-to-end":  # after the freeze
            if hp["after_freeze"] == "none":
                return None, {}
            loss, _, logs = self.reconstruction_loss(x[self.sources], self.sources)
            return loss, logs
        tasks = self.sources if phase == 1 else self.targets  # phase 2 trains the source path and W_c, then 3 ...
        self.detach_shared = phase == 2  # ... the target's private branch and head, its shared code fixed
        try:
            code = self.forward(self.flatten(x[tasks], tasks), tasks)[1]
        finally:
            self.detach_shared = False
        ce = multitask_loss(self.head(code, tasks), y[tasks])
        return self.hparams["ce_weight"] * ce, {"ce": float(ce.detach())}

    @torch.no_grad()
    def final_analysis(self, x_test: list[Tensor], y_test: list[Tensor]) -> dict[str, float]:
        """Fig. 2(a): the halves' separation in each bottleneck (methods/jae_analysis.py), on `fig2_points` test
        images drawn evenly from both tasks (RandomState(0)); two tasks of one image size only."""
        from sharebench.methods.jae_analysis import separation_metrics

        n = self.hparams["fig2_points"]
        if not n or self.tasks.num_tasks != 2 or self.ragged:
            return {}
        rng = np.random.RandomState(0)
        picks = [rng.permutation(len(x))[: n // 2] for x in x_test]
        images = torch.cat([x[torch.from_numpy(p).to(x.device)] for x, p in zip(x_test, picks)])
        groups = np.concatenate([np.full(len(p), t) for t, p in enumerate(picks)])
        for m in self.modules_():
            m.eval()
        middle = len(self.widths) // 2
        codes = {}
        for t in range(2):
            tasks = self.all_tasks[t:t + 1]
            flat = self.flatten(images.unsqueeze(0), tasks)
            for kind, branch in (("private", self.private), ("shared", self.shared)):
                codes[(kind, t)] = branch(flat, tasks)[middle][0].cpu().numpy()
        return separation_metrics(codes, groups)

    def final_artifacts(self, x_test: list[Tensor], y_test: list[Tensor]) -> dict[str, Any]:
        """Fig. 2(b)-(c) (methods/jae_analysis.py): per digit of the pairs, its typical test image, the
        reconstructions (full, private branch alone, shared branch alone) and both bottlenecks' saliency maps."""
        from sharebench.methods import jae_analysis as ja

        offsets = [ja.digit_offset(s) for s in self.tasks.label_semantics]
        if not self.hparams["fig2_points"] or self.tasks.num_tasks != 2 or self.ragged or None in offsets \
                or self.shapes[0][2] != 1:
            return {}
        for m in self.modules_():
            m.eval()
        middle = len(self.widths) // 2
        digits = [d for pair in ja.FIG2_PAIRS for d in pair]
        panels, saliency = [], []
        for digit in digits:
            t = next(i for i, o in enumerate(offsets) if o <= digit < o + self.tasks.num_classes[i])
            tasks = self.all_tasks[t:t + 1]
            index = ja.typical_image(x_test[t].cpu().numpy(), y_test[t].cpu().numpy(), digit - offsets[t])
            image = x_test[t][index:index + 1]
            flat = self.flatten(image.unsqueeze(0), tasks)
            with torch.no_grad():
                top_p, top_s = self.private(flat, tasks)[-1], self.shared(flat, tasks)[-1]
                outs = [self.squash(self.output(torch.cat(parts, dim=-1), tasks), tasks)
                        for parts in ((top_p, top_s), (top_p, torch.zeros_like(top_s)),
                                      (torch.zeros_like(top_p), top_s))]
            panels.append([flat[0, 0]] + [o[0, 0] for o in outs])
            maps = []
            for branch in (self.private, self.shared):
                with torch.enable_grad():
                    x = flat.detach().clone().requires_grad_(True)
                    code = branch(x, tasks)[middle][0, 0]
                    grad, = torch.autograd.grad(code[int(code.argmax())], x)
                    s = (grad * x).abs()[0, 0].detach()
                maps.append(s / s.max().clamp_min(1e-12))
            saliency.append(maps)
        h, w, _ = self.shapes[0]

        def as_array(rows: list[list[Tensor]]) -> np.ndarray:
            return torch.stack([torch.stack(r) for r in rows]).reshape(len(rows), -1, h, w).cpu().numpy()
        return {"fig2": {"digits": digits, "shape": [h, w], "panels": ja.to_uint8(as_array(panels)),
                         "panel_names": ["original", "JAE", "private branch alone", "shared branch alone"],
                         "saliency": ja.to_uint8(as_array(saliency)), "saliency_names": ["private", "shared"]}}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "phase": self.phase}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.phase = state.get("phase", 0)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "widths": self.widths, "width_scale": self.scale,
                "shared_depth": self.hparams["shared_depth"],
                "ae_pair_params": ae_params(self.dims, self.hidden)}
