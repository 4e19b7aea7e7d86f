"""Two small methods of the kinds the coming papers add, registered so that the registry-wide test drives them:

- `fixture-transfer`: labelled source + unlabelled target streams, scored on the target (CETL, JAE transfer);
- `fixture-autoencoder`: reconstruction only, no classifier (JAE, Zhang's image completion).
They are deliberately tiny; what they prove is that the runner's streams, hidden labels and metrics reach a
method of that shape.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sharebench.methods.registry import METHODS, Method, register


class _Fixture(Method):
    HPARAMS: ClassVar[dict[str, Any]] = {"lr": 1e-2}

    def _finish(self, net: nn.Module) -> None:
        self.net = net.to(self.device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=self.hparams["lr"])

    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])

    def _descend(self, loss: Tensor) -> dict[str, float]:
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {"loss": float(loss.detach())}


class FixtureTransfer(_Fixture):
    """Cross-entropy on the labelled source and on whatever target labels are visible, plus entropy minimisation
    on the target images whose labels are hidden (-1). It uses every label it is handed, so a label that leaked
    would change its training."""

    STREAMS: ClassVar[dict[str, str]] = {"source": "source:labelled", "target": "target"}
    seen_target_labels: ClassVar[set[int]] = set()

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        h, w, c = self.tasks.image_shape
        self._finish(nn.Sequential(nn.Flatten(), nn.Linear(h * w * c, 16), nn.ReLU(), nn.Linear(16, max(
            self.tasks.num_classes))))

    def step(self, batches: dict[str, Any], iteration: int) -> dict[str, float]:
        src, tgt = batches["source"], batches["target"]
        type(self).seen_target_labels |= set(tgt.y.unique().tolist())
        logits_t, y_t = self.net(tgt.x.flatten(0, 1)), tgt.y.flatten()
        hidden = y_t < 0
        entropy = -(logits_t.softmax(1) * logits_t.log_softmax(1)).sum(1)[hidden].sum() / hidden.sum().clamp_min(1)
        target_ce = F.cross_entropy(logits_t, y_t, ignore_index=-1) if (~hidden).any() else logits_t.sum() * 0
        loss = F.cross_entropy(self.net(src.x.flatten(0, 1)), src.y.flatten()) + target_ce + 0.1 * entropy
        return self._descend(loss)

    def predict(self, x: Tensor, task: int) -> Tensor:
        with torch.no_grad():
            return self.net(x)[:, : self.tasks.num_classes[task]]


class FixtureAutoencoder(_Fixture):
    STREAMS: ClassVar[dict[str, str]] = {"train": "all"}

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        h, w, c = self.tasks.image_shape
        self._finish(nn.Sequential(nn.Flatten(), nn.Linear(h * w * c, 8), nn.ReLU(), nn.Linear(8, h * w * c),
                                   nn.Sigmoid()))

    def update(self, x: Tensor, y: Tensor, iteration: int) -> dict[str, float]:
        flat = x.flatten(0, 1)
        return self._descend(F.mse_loss(self.net(flat).view_as(flat), flat))

    def reconstruct(self, x: Tensor, task: int) -> Tensor:
        with torch.no_grad():
            return self.net(x).view_as(x)


for _name, _cls in (("fixture-transfer", FixtureTransfer), ("fixture-autoencoder", FixtureAutoencoder)):
    if _name not in METHODS:
        register(_name)(_cls)
