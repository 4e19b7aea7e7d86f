"""Training batches: B images from every task per step, each task reshuffled per its own epoch.

This is the LWS code's `MultitaskProductDataset` stream (16 images per task per step). The state is
small and picklable, so a resumed job draws exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor


class MultitaskSampler:
    def __init__(self, train_sizes: list[int], batch_per_task: int, seed: int):
        self.sizes, self.batch = train_sizes, batch_per_task
        self.rng = np.random.RandomState(seed)
        self.perms = [self.rng.permutation(n) for n in train_sizes]
        self.pos = [0] * len(train_sizes)

    def _take(self, t: int) -> np.ndarray:
        out = []
        need = self.batch
        while need:
            if self.pos[t] == self.sizes[t]:
                self.perms[t] = self.rng.permutation(self.sizes[t])
                self.pos[t] = 0
            chunk = self.perms[t][self.pos[t]: self.pos[t] + need]
            self.pos[t] += len(chunk)
            need -= len(chunk)
            out.append(chunk)
        return np.concatenate(out)

    def next_indices(self) -> list[np.ndarray]:
        return [self._take(t) for t in range(len(self.sizes))]

    def state(self) -> dict[str, Any]:
        return {"rng": self.rng.get_state(), "perms": self.perms, "pos": list(self.pos)}

    def load_state(self, state: dict[str, Any]) -> None:
        self.rng.set_state(state["rng"])
        self.perms, self.pos = state["perms"], list(state["pos"])


def stack_batch(xs: list[Tensor], ys: list[Tensor], indices: list[np.ndarray]) -> tuple[Tensor, Tensor]:
    """Per-task image tensors [N_t, C, H, W] -> batch x [T, B, C, H, W], y [T, B]."""
    x = torch.stack([xt[torch.from_numpy(i)] for xt, i in zip(xs, indices)])
    y = torch.stack([yt[torch.from_numpy(i)] for yt, i in zip(ys, indices)])
    return x, y
