"""Training batches as named streams, and the runner's hiding of target labels.

A method declares the streams it draws each iteration (`Method.STREAMS`, e.g. LWS `{nes: all, sgd: all}`,
domain adaptation `{source: "source:labelled", target: "target:unlabelled"}`, block-coordinate
`{train: round-robin}`). A stream spec is `<tasks>[:<labels>]`:

- tasks: `all` (B images from every task), `source` / `target` (every task of that role), `round-robin`
  (one task per draw, in turn);
- labels: `any` (default: every training image, hidden labels handed as -1), `labelled`, `unlabelled`.

Streams with the same spec share one sampler and are drawn in declared order, so LWS' NES and SGD batches
are consecutive draws of one stream, as in the released code. Each task is reshuffled per its own epoch
(the LWS code's `MultitaskProductDataset`). The state is small and picklable, so a resumed job draws
exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

TASK_SELECTIONS = ("all", "source", "target", "round-robin")
LABEL_SELECTIONS = ("any", "labelled", "unlabelled")
ROLES = ("task", "source", "target")  # "task": an ordinary labelled task (multi-task learning)


@dataclass
class Batch:
    x: Tensor  # [T', B, C, H, W]
    y: Tensor  # [T', B]; -1 where the label is hidden
    tasks: Tensor  # [T'] task indices


def parse_stream(spec: str) -> tuple[str, str]:
    tasks, _, labels = spec.partition(":")
    labels = labels or "any"
    if tasks not in TASK_SELECTIONS or labels not in LABEL_SELECTIONS:
        raise ValueError(f"bad stream {spec!r}: want <tasks>[:<labels>] with tasks in {TASK_SELECTIONS} and labels "
                         f"in {LABEL_SELECTIONS}")
    return tasks, labels


class MultitaskSampler:
    """B indices per task per draw from per-task pools, each reshuffled per its own epoch."""

    def __init__(self, pools: list[np.ndarray], batch_per_task: int, seed: int):
        self.pools, self.batch = pools, batch_per_task
        self.rng = np.random.RandomState(seed)
        self.perms = [self.rng.permutation(len(p)) for p in pools]
        self.pos = [0] * len(pools)

    def take(self, t: int) -> np.ndarray:
        out, need, n = [], self.batch, len(self.pools[t])
        while need:
            if self.pos[t] == n:
                self.perms[t] = self.rng.permutation(n)
                self.pos[t] = 0
            chunk = self.perms[t][self.pos[t]: self.pos[t] + need]
            self.pos[t] += len(chunk)
            need -= len(chunk)
            out.append(chunk)
        return self.pools[t][np.concatenate(out)]

    def next_indices(self) -> list[np.ndarray]:
        return [self.take(t) for t in range(len(self.pools))]

    def state(self) -> dict[str, Any]:
        return {"rng": self.rng.get_state(), "perms": self.perms, "pos": list(self.pos)}

    def load_state(self, state: dict[str, Any]) -> None:
        self.rng.set_state(state["rng"])
        self.perms, self.pos = state["perms"], list(state["pos"])


class StreamSet:
    """The samplers behind a method's streams; `draw()` gives one batch per stream for one iteration."""

    def __init__(self, streams: dict[str, str], roles: list[str], labelled: list[np.ndarray],
                 x: list[Tensor], y: list[Tensor], batch_per_task: int, seed: int):
        self.streams, self.x, self.y = streams, x, y
        self.samplers: dict[str, MultitaskSampler] = {}
        self.tasks: dict[str, list[int]] = {}
        self.turn: dict[str, int] = {}
        for spec in dict.fromkeys(streams.values()):  # distinct specs, in declared order
            which, labels = parse_stream(spec)
            chosen = [t for t, r in enumerate(roles) if which in ("all", "round-robin") or r == which]
            pools = [self._pool(labelled[t], labels) for t in chosen]
            empty = [t for t, p in zip(chosen, pools) if len(p) == 0]
            if not chosen or empty:
                raise ValueError(f"stream {spec!r} has no training images to draw (tasks {empty or 'none'})")
            index = len(self.samplers)
            self.samplers[spec] = MultitaskSampler(pools, batch_per_task, seed + 7919 * index)
            self.tasks[spec] = chosen
            self.turn[spec] = 0

    @staticmethod
    def _pool(labelled: np.ndarray, labels: str) -> np.ndarray:
        everything = np.arange(len(labelled))
        if labels == "any":
            return everything
        return everything[labelled] if labels == "labelled" else everything[~labelled]

    def _draw(self, spec: str) -> Batch:
        sampler, chosen = self.samplers[spec], self.tasks[spec]
        if spec.startswith("round-robin"):
            i = self.turn[spec] % len(chosen)
            self.turn[spec] += 1
            picks = [(chosen[i], sampler.take(i))]
        else:
            picks = list(zip(chosen, sampler.next_indices()))
        x = torch.stack([self.x[t][torch.from_numpy(idx)] for t, idx in picks])
        y = torch.stack([self.y[t][torch.from_numpy(idx)] for t, idx in picks])
        return Batch(x, y, torch.tensor([t for t, _ in picks], device=x.device))

    def draw(self) -> dict[str, Batch]:
        return {name: self._draw(spec) for name, spec in self.streams.items()}

    def state(self) -> dict[str, Any]:
        return {"samplers": {k: s.state() for k, s in self.samplers.items()}, "turn": dict(self.turn)}

    def load_state(self, state: dict[str, Any]) -> None:
        for k, s in state["samplers"].items():
            self.samplers[k].load_state(s)
        self.turn = dict(state["turn"])


def labelled_mask(y: np.ndarray, rule: Any, seed: int) -> np.ndarray:
    """Which training labels of a target task a method may see: `all`, `none`, `{per_class: k}` (the first k
    of each class in a fixed permutation) or `{fraction: f}` (a fixed random share, drawn without looking at
    the labels). The draw depends only on `seed` and the task, never on the job's seed."""
    n = len(y)
    perm = np.random.RandomState(seed).permutation(n)
    mask = np.zeros(n, dtype=bool)
    if rule == "all":
        mask[:] = True
    elif rule == "none":
        pass
    elif isinstance(rule, dict) and set(rule) == {"per_class"}:
        k = rule["per_class"]
        for c in np.unique(y):
            mask[perm[y[perm] == c][:k]] = True
    elif isinstance(rule, dict) and set(rule) == {"fraction"}:
        mask[perm[: int(round(rule["fraction"] * n))]] = True
    else:
        raise ValueError(f"bad target_labels {rule!r}: want all, none, {{per_class: k}} or {{fraction: f}}")
    return mask
