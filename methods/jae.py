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


def jae_params(d: int, tasks: int, hidden: list[int], shared_depth: int) -> int:
    """T private and T shared branches (the shared layer counted once) and T output layers 2 h1 -> d."""
    sizes = [d, *hidden]
    shared_layer = sizes[shared_depth - 1] * sizes[shared_depth] + sizes[shared_depth]
    return 2 * tasks * stack_params(d, hidden) - (tasks - 1) * shared_layer + tasks * (2 * hidden[-1] * d + d)


def ae_widths(hidden: list[int]) -> list[int]:
    """The AE's branch: the JAE branch with the cumulative bottleneck (private + shared codes)."""
    middle = len(hidden) // 2
    return [*hidden[:middle], 2 * hidden[middle], *hidden[middle + 1:]]


def ae_params(d: int, tasks: int, hidden: list[int]) -> int:
    return tasks * (stack_params(d, ae_widths(hidden)) + hidden[-1] * d + d)


def matching_scale(d: int, tasks: int, hidden: list[int], shared_depth: int) -> float:
    """The common width factor whose (rounded) JAE has the AE pair's parameter count, closest over a fine grid."""
    target = ae_params(d, tasks, hidden)
    grid = [i / 10000 for i in range(1000, 10001)]
    return min(grid, key=lambda s: abs(jae_params(d, tasks, scaled(hidden, s), shared_depth) - target))


class DenseBranch(nn.Module):
    """One branch per task as banked dense layers (slot t = task t); `shared` layers hold one slot used by all."""

    def __init__(self, tasks: int, d: int, hidden: list[int], shared: tuple[int, ...] = ()):
        super().__init__()
        sizes = [d, *hidden]
        self.shared = shared  # 1-based depths of the hidden layers whose producing weight is shared
        self.layers = nn.ModuleList(
            BankedLinear(1 if i + 1 in shared else tasks, sizes[i], sizes[i + 1], init="glorot-uniform")
            for i in range(len(hidden)))

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

    HPARAMS: ClassVar[dict[str, Any]] = {**OPTIM_HPARAMS, "recon_weight": 1.0, "classify": False, "ce_weight": 1.0}
    BACKBONES: ClassVar[tuple[str, ...]] = ("jae-mlp",)  # the branches are built here from its `hidden`

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        check_optim_hparams(self.hparams, f"method {self.name!r}")
        self.hidden = list(self.backbone_options.get("hidden", [500, 250, 32, 250, 500]))
        if len(self.hidden) % 2 == 0:
            raise ValueError(f"method {self.name!r}: hidden needs an odd number of widths around the bottleneck, got "
                             f"{self.hidden}")
        h, w, c = self.tasks.image_shape
        self.dim = h * w * c
        self.all_tasks = torch.arange(self.tasks.num_tasks, device=self.device)
        self.build()
        if self.hparams["classify"]:
            self.head = HeadBank(self.code_width(), self.tasks.num_classes, init="glorot-uniform")
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

    # -- shared machinery
    def modules_(self) -> list[nn.Module]:
        return [m for m in vars(self).values() if isinstance(m, nn.Module)]

    def parameters(self) -> list[nn.Parameter]:
        return [p for m in self.modules_() for p in m.parameters()]

    def to(self, device: torch.device) -> None:
        for m in self.modules_():
            m.to(device)

    def update(self, x: Tensor, y: Tensor, iteration: int) -> dict[str, float]:
        flat = x.flatten(2)
        recon, code = self.forward(flat, self.all_tasks)
        per_task = (recon - flat).pow(2).mean(dim=(1, 2))  # per-pixel MSE per task
        loss = self.hparams["recon_weight"] * per_task.sum()
        out = {f"recon/{n}": float(v) for n, v in zip(self.tasks.names, per_task.detach())}
        if self.hparams["classify"]:
            ce = multitask_loss(self.head(code, self.all_tasks), y)  # Eq. 2; labels hidden from the method are -1
            loss = loss + self.hparams["ce_weight"] * ce
            out["ce"] = float(ce.detach())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        return {"loss": float(loss.detach()), **out}

    @torch.no_grad()
    def predict(self, x: Tensor, task: int) -> Tensor:
        if not self.hparams["classify"]:
            raise ValueError(f"method {self.name!r} has no classifier: set `classify: true` to score accuracy")
        for m in self.modules_():
            m.eval()
        t = self.all_tasks[task:task + 1]
        code = self.forward(x.flatten(1).unsqueeze(0), t)[1]
        return self.head(code, t)[0, :, : self.tasks.num_classes[task]]

    @torch.no_grad()
    def reconstruct(self, x: Tensor, task: int) -> Tensor:
        for m in self.modules_():
            m.eval()
        out = self.decode(x.flatten(1).unsqueeze(0), self.all_tasks[task:task + 1])[0]
        return out.reshape(x.shape)

    def state_dict(self) -> dict[str, Any]:
        return {"modules": [m.state_dict() for m in self.modules_()], "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for m, s in zip(self.modules_(), state["modules"]):
            m.load_state_dict(s)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])

    def describe(self) -> dict[str, Any]:
        return {"params": sum(p.numel() for p in self.parameters()), "input_dim": self.dim}


@register("ae")
class AutoencoderPerTask(Autoencoders):
    """The baseline: one autoencoder per task, bottleneck = the JAE's private + shared codes (Sec. 4.1)."""

    def build(self) -> None:
        self.widths = ae_widths(self.hidden)
        self.branch = DenseBranch(self.tasks.num_tasks, self.dim, self.widths)
        self.output = BankedLinear(self.tasks.num_tasks, self.widths[-1], self.dim, init="glorot-uniform")

    def code_width(self) -> int:
        return self.widths[len(self.widths) // 2]

    def forward(self, x: Tensor, tasks: Tensor) -> tuple[Tensor, Tensor]:
        hidden = self.branch(x, tasks)
        return torch.sigmoid(self.output(hidden[-1], tasks)), hidden[len(hidden) // 2]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "widths": self.widths}


@register("jae")
class JointAutoencoder(Autoencoders):
    """Private and shared branches per task, one shared layer at `shared_depth`, concatenated tops (Fig. 1)."""

    HPARAMS: ClassVar[dict[str, Any]] = {**Autoencoders.HPARAMS, "shared_depth": 3,
                                         "width_scale": None}  # None: full widths; a number; or "match-ae"

    def build(self) -> None:
        depth = self.hparams["shared_depth"]
        scale = 1.0 if self.hparams["width_scale"] is None else self.hparams["width_scale"]
        if not isinstance(depth, int) or not 1 <= depth <= len(self.hidden):
            raise ValueError(f"method {self.name!r}: shared_depth must be a hidden layer 1..{len(self.hidden)}, got "
                             f"{depth!r}")
        if scale == "match-ae":
            scale = matching_scale(self.dim, self.tasks.num_tasks, self.hidden, depth)
        elif not isinstance(scale, (int, float)) or not 0 < scale <= 4:
            raise ValueError(f"method {self.name!r}: width_scale must be a number in (0, 4] or 'match-ae', got "
                             f"{scale!r}")
        self.scale, self.widths = float(scale), scaled(self.hidden, float(scale))
        self.private = DenseBranch(self.tasks.num_tasks, self.dim, self.widths)
        self.shared = DenseBranch(self.tasks.num_tasks, self.dim, self.widths, shared=(depth,))
        self.output = BankedLinear(self.tasks.num_tasks, 2 * self.widths[-1], self.dim, init="glorot-uniform")

    def code_width(self) -> int:
        return 2 * self.widths[len(self.widths) // 2]

    def forward(self, x: Tensor, tasks: Tensor) -> tuple[Tensor, Tensor]:
        private, shared = self.private(x, tasks), self.shared(x, tasks)
        middle = len(private) // 2
        top = torch.cat([private[-1], shared[-1]], dim=-1)
        return torch.sigmoid(self.output(top, tasks)), torch.cat([private[middle], shared[middle]], dim=-1)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "widths": self.widths, "width_scale": self.scale,
                "shared_depth": self.hparams["shared_depth"],
                "ae_pair_params": ae_params(self.dim, self.tasks.num_tasks, self.hidden)}
