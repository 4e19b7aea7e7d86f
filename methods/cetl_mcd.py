"""The CETL authors' released code: an MCD-style domain adaptation without GFI (released code, not the paper).

`RankingCNN/Coupled-End-to-End-Transfer-Learning-...` (Sept 2019, PyTorch 0.2, `CETL.py`, `model/svhn2mnist.py`;
specs/cetl.md 6, official-code-notes E) shares one encoder G between two classifiers C1, C2 and two decoders D1,
D2; there is no source network S, no T1 / T2 coupling and no Fisher information anywhere. Per epoch of E =
floor(min(N_source, N_target) / B) batch pairs:
1. a denoising pass (E pairs): x~_t = x_t * m, m ~ Bernoulli(0.5) per element; MSE(D1(G(x~_t)), x_t) +
   MSE(D2(G(x~_t)), x_t); step G, D1, D2;
2. then min(E, 502) pairs of three steps: (a) CE(C1(G(x_s)), y_s) + CE(C2(G(x_s)), y_s), step all five networks;
   (b) the same classification losses + MSE(D1(G(x_t)), x_t) + MSE(D2(G(x_t)), x_t) - [disc(C1(G(x_t)), C2(G(x_t)))
   + disc2(D1(G(x_s)), D2(G(x_s)))], step C1, C2, D1, D2; (c) `num_k` = 4 times disc + disc2, step G only.
disc = mean |softmax(a) - softmax(b)| over the classes, disc2 the same with the softmax over each reconstruction's
pixels. Five Adam optimisers, lr 2e-4, weight decay 5e-4. The prediction is the ensemble C1 + C2 (evaluation
variants `c1`, `c2` give each classifier alone).
Faithful details: every forward pass of the released code is kept (in train mode they move G's batch-norm
statistics); gradients are zeroed, not freed, as PyTorch 0.2's `zero_grad()` did, so (a)'s decoder steps apply
Adam's weight decay alone, as the released code's did. Adaptations: the suite's image size and channels (the code:
32 x 32 RGB; any side divisible by 4 works), `width` scales every layer (1 = the released sizes), one iteration of
the runner is one batch pair (its sampler, not the code's two shuffled loaders), and the budget is the experiment's
iterations (the code: until 20,000 pairs of phase 2).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sharebench.methods.registry import Method, register


def _scaled(n: int, width: float) -> int:
    return max(1, round(n * width))


class Encoder(nn.Module):
    """G (`Feature`): 3 x (5x5 conv, BN, ReLU), max-pool 3/2 after the first two, Linear to 3072, BN1d, ReLU,
    dropout 0.5."""

    def __init__(self, shape: tuple[int, int, int], width: float):
        super().__init__()
        h, w, c = shape
        c1, c3 = _scaled(64, width), _scaled(128, width)
        self.convs = nn.Sequential(
            nn.Conv2d(c, c1, 5, padding=2), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
            nn.Conv2d(c1, c1, 5, padding=2), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
            nn.Conv2d(c1, c3, 5, padding=2), nn.BatchNorm2d(c3), nn.ReLU(), nn.Flatten())
        self.code = (c3, h // 4, w // 4)
        self.dim = _scaled(3072, width)
        self.fc = nn.Sequential(nn.Linear(c3 * (h // 4) * (w // 4), self.dim), nn.BatchNorm1d(self.dim), nn.ReLU(),
                                nn.Dropout(0.5))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.convs(x))


class Classifier(nn.Module):
    """C (`Predictor`, the used layers only): Linear 3072 -> 2048, BN1d, ReLU, Linear -> classes."""

    def __init__(self, dim: int, classes: int, width: float):
        super().__init__()
        hidden = _scaled(2048, width)
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, classes))

    def forward(self, f: Tensor) -> Tensor:
        return self.net(f)


class Decoder(nn.Module):
    """D: Linear 3072 -> 8192, BN1d, ReLU, reshape, ConvT(k4, s2, p1), BN, ReLU, ConvT(k2, s2), clamp to [0, 1]."""

    def __init__(self, dim: int, code: tuple[int, int, int], channels: int, width: float):
        super().__init__()
        c3, h, w = code
        c2 = _scaled(64, width)
        self.code = code
        self.fc = nn.Sequential(nn.Linear(dim, c3 * h * w), nn.BatchNorm1d(c3 * h * w), nn.ReLU())
        self.up = nn.Sequential(nn.ConvTranspose2d(c3, c2, 4, stride=2, padding=1), nn.BatchNorm2d(c2), nn.ReLU(),
                                nn.ConvTranspose2d(c2, channels, 2, stride=2))

    def forward(self, f: Tensor) -> Tensor:
        return self.up(self.fc(f).reshape(len(f), *self.code)).clamp(0, 1)


def discrepancy(a: Tensor, b: Tensor) -> Tensor:
    """disc (and disc2 on flattened reconstructions): mean |softmax(a) - softmax(b)|, softmax over dim 1."""
    return (F.softmax(a.flatten(1), dim=1) - F.softmax(b.flatten(1), dim=1)).abs().mean()


@register("cetl-mcd")
class CETLReleasedCode(Method):
    STREAMS: ClassVar[dict[str, str]] = {"source": "source:labelled", "target": "target"}
    HPARAMS: ClassVar[dict[str, Any]] = {"lr": 2e-4, "weight_decay": 5e-4, "num_k": 4, "width": 1.0,
                                         "max_pairs_per_epoch": 502, "noise_keep": 0.5}

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        sources, targets = self.tasks.with_role("source"), self.tasks.with_role("target")
        if len(targets) != 1 or not sources:
            raise ValueError(f"method {self.name!r} adapts labelled source task(s) to one target; roles "
                             f"{self.tasks.roles or '(none)'}")
        h, w, c = self.tasks.image_shape
        if h % 4 or w % 4:
            raise ValueError(f"method {self.name!r}: the released networks pool twice and upsample x4; image sides "
                             f"must be divisible by 4, got {h}x{w}")
        self.target = targets[0]
        classes = self.tasks.num_classes[self.target]
        width = float(self.hparams["width"])
        self.g = Encoder((h, w, c), width)
        self.c1, self.c2 = Classifier(self.g.dim, classes, width), Classifier(self.g.dim, classes, width)
        self.d1, self.d2 = (Decoder(self.g.dim, self.g.code, c, width) for _ in range(2))
        self.nets = nn.ModuleDict({"g": self.g, "c1": self.c1, "c2": self.c2, "d1": self.d1, "d2": self.d2})
        self.nets.to(self.device)
        self.opts = {k: torch.optim.Adam(net.parameters(), self.hparams["lr"],
                                         weight_decay=self.hparams["weight_decay"]) for k, net in self.nets.items()}
        self.variant = ""
        self.noise = torch.Generator().manual_seed(0)

    def phase_at(self, iteration: int, batch: int) -> str:
        """'denoise' for the first E iterations of an epoch, then 'mcd' for min(E, max_pairs_per_epoch)."""
        sizes = self.tasks.train_sizes
        roles = [*self.tasks.with_role("source"), self.target]
        e = max(1, min(sizes[t] for t in roles) // batch) if sizes else 1
        length = e + min(e, self.hparams["max_pairs_per_epoch"])
        return "denoise" if iteration % length < e else "mcd"

    def _zero(self) -> None:
        for opt in self.opts.values():
            opt.zero_grad(set_to_none=False)  # PyTorch 0.2's zero_grad: zeroed gradients stay (see the docstring)

    def _step(self, *names: str) -> None:
        for name in names:
            self.opts[name].step()

    def step(self, batches: dict[str, Any], iteration: int) -> dict[str, float]:
        xs, ys = batches["source"].x.flatten(0, 1), batches["source"].y.flatten()
        xt = batches["target"].x.flatten(0, 1)
        self.nets.train()
        if self.phase_at(iteration, len(xt)) == "denoise":
            mask = torch.bernoulli(torch.full(xt.shape, self.hparams["noise_keep"]), generator=self.noise)
            feat = self.g(xt * mask.to(xt.device))
            loss = F.mse_loss(self.d1(feat), xt) + F.mse_loss(self.d2(feat), xt)
            self._zero()
            loss.backward()
            self._step("g", "d1", "d2")
            return {"loss": float(loss.detach()), "denoise": float(loss.detach())}
        # (a) classification of the source by both classifiers; every network steps
        self._zero()
        fs = self.g(xs)
        self.g(xt)  # computed and discarded by the released code: it moves G's batch-norm statistics
        loss_a = F.cross_entropy(self.c1(fs), ys) + F.cross_entropy(self.c2(fs), ys)
        loss_a.backward()
        self._step("g", "d1", "d2", "c1", "c2")
        self._zero()
        # (b) classifiers and decoders: classify and reconstruct, maximise the two discrepancies
        fs, ft = self.g(xs), self.g(xt)
        out_t1, out_t2 = self.c1(ft), self.c2(ft)
        ft_dec = self.g(xt)  # a second pass (a new dropout mask) feeds the decoders
        re_s1, re_s2 = self.d1(fs), self.d2(fs)
        loss_cls = F.cross_entropy(self.c1(fs), ys) + F.cross_entropy(self.c2(fs), ys)
        loss_rec = F.mse_loss(self.d2(ft_dec), xt) + F.mse_loss(self.d1(ft_dec), xt)
        dis_b = discrepancy(out_t1, out_t2) + discrepancy(re_s1, re_s2)
        (loss_cls + loss_rec - dis_b).backward()
        self._step("c1", "c2", "d1", "d2")
        self._zero()
        # (c) the encoder minimises the discrepancies, num_k times
        for _ in range(self.hparams["num_k"]):
            fs, ft = self.g(xs), self.g(xt)
            dis_c = discrepancy(self.c1(ft), self.c2(ft)) + discrepancy(self.d1(fs), self.d2(fs))
            dis_c.backward()
            self._step("g")
            self._zero()
        return {"loss": float(loss_a.detach()), "classification": float(loss_cls.detach()),
                "reconstruction": float(loss_rec.detach()), "discrepancy": float(dis_c.detach())}

    def eval_variants(self) -> list[str]:
        return ["", "c1", "c2"]  # the ensemble (headline, specs/cetl.md A26), then each classifier alone

    def set_eval_variant(self, variant: str) -> None:
        self.variant = variant

    @torch.no_grad()
    def predict(self, x: Tensor, task: int) -> Tensor:
        self.nets.eval()
        f = self.g(x)
        if self.variant == "c1":
            return self.c1(f)
        if self.variant == "c2":
            return self.c2(f)
        return self.c1(f) + self.c2(f)

    @torch.no_grad()
    def reconstruct(self, x: Tensor, task: int) -> Tensor:
        self.nets.eval()
        return self.d1(self.g(x))

    def describe(self) -> dict[str, Any]:
        return {"released_code": True, "params": {k: sum(p.numel() for p in n.parameters())
                                                  for k, n in self.nets.items()}}

    def state_dict(self) -> dict[str, Any]:
        return {"nets": self.nets.state_dict(), "opts": {k: o.state_dict() for k, o in self.opts.items()},
                "noise": self.noise.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.nets.load_state_dict(state["nets"])
        for k, o in self.opts.items():
            o.load_state_dict(state["opts"][k])
        self.noise.set_state(state["noise"])
