"""The method interface (in the spirit of DomainBed's `Algorithm`) and the registry of methods.

A method is built from the suite's task description (names, classes, roles), a backbone, hyperparameters
and the trained networks it requires (`models`, from the model store), and offers
`step(batches, iteration) -> losses` over the named batch streams it declares in `STREAMS`
(default: one `train` stream of every task, handed to `update(x, y, iteration)`), `predict(x, task) ->
logits`, `reconstruct(x, task) -> images` and/or `generate(task, n) -> images` (what the experiment's metrics
read), `state_dict()` / `load_state_dict()` (optimiser included, so a job resumes exactly) and `describe()` (facts worth
recording, such as the assignment). Multi-phase procedures live inside the method. Labels the runner
hides (target tasks) arrive as -1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

METHODS: dict[str, type[Method]] = {}


@dataclass(frozen=True)
class TaskSpec:
    """What a method needs to know about the suite."""

    names: list[str]
    num_classes: list[int]
    image_shape: tuple[int, int, int]  # H, W, C
    roles: tuple[str, ...] = ()  # per task: "task" (default), "source" or "target"
    label_semantics: tuple[str, ...] = ()  # per task: what its labels mean ("digits"), from the suite; "" unknown
    native_shapes: tuple[tuple[int, int, int], ...] = ()  # per task, where a task sits on a canvas (suites.py)
    holes: tuple[int, ...] = ()  # per task, the side of its images' holes: an image completion task (holes.py)
    train_sizes: tuple[int, ...] = ()  # per task, its training images (per-dataset epochs: methods/round_robin.py)

    @property
    def completion(self) -> bool:
        """Image completion: labels are hole positions and the method fills the holes (datasets/holes.py)."""
        return any(self.holes)

    def native_shape(self, task: int) -> tuple[int, int, int]:
        return self.native_shapes[task] if self.native_shapes else self.image_shape

    @property
    def mixed_shapes(self) -> bool:
        return any(self.native_shape(t) != self.image_shape for t in range(self.num_tasks))

    @property
    def num_tasks(self) -> int:
        return len(self.names)

    def role(self, task: int) -> str:
        return self.roles[task] if self.roles else "task"

    def with_role(self, role: str) -> list[int]:
        return [t for t in range(self.num_tasks) if self.role(t) == role]


class Method:
    HPARAMS: ClassVar[dict[str, Any]] = {}
    name: ClassVar[str] = ""
    # named batch streams drawn every iteration (see benchmarks/sampling.py for the specs)
    STREAMS: ClassVar[dict[str, str]] = {"train": "all"}
    REQUIRES: ClassVar[tuple[str, ...]] = ()  # names of the trained networks the method needs (`models`)
    BACKBONES: ClassVar[tuple[str, ...]] = ()  # the backbones the method can build on; empty = any
    CODE_MODULES: ClassVar[tuple[str, ...]] = ()  # further sharebench modules its numbers depend on (provenance)
    NATIVE_SHAPES: ClassVar[bool] = False  # reads tasks of different native sizes (cropping them off the canvas)

    def __init__(self, tasks: TaskSpec, backbone: str, hparams: dict[str, Any] | None = None,
                 backbone_options: dict[str, Any] | None = None, total_iterations: int = 1,
                 device: str | torch.device = "cpu", models: dict[str, Any] | None = None):
        if self.BACKBONES and backbone not in self.BACKBONES:
            raise ValueError(f"method {self.name!r} builds on backbone {' or '.join(map(repr, self.BACKBONES))}, "
                             f"got {backbone!r}")
        if tasks.mixed_shapes and not self.NATIVE_SHAPES:
            sizes = ", ".join(f"{n} {tasks.native_shape(t)}" for t, n in enumerate(tasks.names))
            raise ValueError(f"method {self.name!r} needs tasks of one image size; this suite keeps each task at its "
                             f"own ({sizes}) on a {tasks.image_shape} canvas: use a method with NATIVE_SHAPES (ae, "
                             f"jae) or the suite's resizing option")
        self.tasks, self.backbone = tasks, backbone
        self.backbone_options = dict(backbone_options or {})
        self.hparams = resolve_hparams(type(self), hparams or {})
        self.total_iterations, self.device = total_iterations, torch.device(device)
        self.models = dict(models or {})
        missing = [m for m in self.REQUIRES if m not in self.models]
        if missing:
            raise ValueError(f"method {self.name!r} needs trained network(s) {missing}: name them under the "
                             f"experiment's `requires:`")

    def update(self, x: Tensor, y: Tensor, iteration: int) -> dict[str, float]:
        raise NotImplementedError

    def step(self, batches: dict[str, Any], iteration: int) -> dict[str, float]:
        """One training iteration on one fresh batch per declared stream (`Batch`: x, y, tasks)."""
        b = batches["train"]
        return self.update(b.x, b.y, iteration)

    def reconstruct(self, x: Tensor, task: int) -> Tensor:
        """Images [B, C, H, W] -> their reconstruction (autoencoders; read by the MSE metrics)."""
        raise NotImplementedError

    def generate(self, task: int, n: int = 64) -> Tensor:
        """n images [n, C, H, W] of domain `task` from the method's fixed latent codes (generative models)."""
        raise NotImplementedError

    def snapshot(self) -> dict[str, float]:
        """Scalars worth following over training, recorded at every evaluation (LWS: routing entropy)."""
        return {}

    def predict(self, x: Tensor, task: int) -> Tensor:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {}

    def final_analysis(self, x_test: list[Tensor], y_test: list[Tensor]) -> dict[str, float]:
        """Scalars computed once on the trained model from the test sets (the JAE's Fisher criterion of Fig. 2),
        added to the record's final metrics; none by default."""
        return {}

    def final_artifacts(self, x_test: list[Tensor], y_test: list[Tensor]) -> dict[str, Any]:
        """Small non-scalar results computed once at the end (the JAE's Fig. 2 example images), kept in the
        record under `artifacts` for the report's figures; none by default."""
        return {}

    # -- evaluation variants: one trained model scored several ways (Bilen Table 4: which BN moments at test)
    def eval_variants(self) -> list[str]:
        """Names of the ways this model is evaluated; the first is the arm's own result, every other one
        becomes the arm `<arm>@<variant>` in the analysis. Default: one unnamed way."""
        return [""]

    def set_eval_variant(self, variant: str) -> None:
        """Switch to one of `eval_variants()` before an evaluation."""

    def needs_pure_test_batches(self) -> bool:
        """True when predictions depend on the other images of the batch (BN+ uses the test batch's statistics):
        the runner then feeds each task's test set in fixed pure batches of the training batch size."""
        return False


def resolve_hparams(cls: type[Method], given: dict[str, Any]) -> dict[str, Any]:
    """Defaults overridden by `given`; unknown names and wrongly typed values are errors."""
    unknown = set(given) - set(cls.HPARAMS)
    if unknown:
        raise ValueError(f"method {cls.name!r}: unknown hyperparameter(s) {sorted(unknown)}; "
                         f"known: {sorted(cls.HPARAMS)}")
    out = dict(cls.HPARAMS)
    for key, value in given.items():
        default = cls.HPARAMS[key]
        if isinstance(default, bool) or default is None or isinstance(default, (list, tuple, str)):
            out[key] = value
        elif isinstance(default, (int, float)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"method {cls.name!r}: hyperparameter {key} must be a number, got {value!r}")
            out[key] = type(default)(value) if isinstance(default, float) else value
        else:
            out[key] = value
    return out


def register(name: str):
    def wrap(cls: type[Method]) -> type[Method]:
        if name in METHODS:
            raise ValueError(f"method {name!r} registered twice")
        cls.name = name
        METHODS[name] = cls
        return cls
    return wrap


def method_names() -> list[str]:
    return sorted(METHODS)


def get_method(name: str) -> type[Method]:
    try:
        return METHODS[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; registered: {', '.join(method_names())}") from None


def create_method(name: str, tasks: TaskSpec, backbone: str, hparams: dict[str, Any] | None = None,
                  **kwargs: Any) -> Method:
    return get_method(name)(tasks, backbone, hparams, **kwargs)
