"""Joint learning by iteratively reweighted least squares (Zhang et al., "Joint" in Figure 4; Sec. 4, Eqs. 3-8).

Per-task copies of every hidden layer (as `l2`), tied by the robust Geman-McClure norm of the distances between
copies of adjacent layer pairs (Eq. 4, lambda = 10, pairs i < j: specs/zhang.md 2.1). The robust problem is solved
by IRLS within one fixed training budget (the suite's schedule, specs/zhang.md 2.6):

1. the first `init_fraction` of the iterations solve Eq. 5 (every weight 1: exactly the `l2` baseline);
2. at I0 = round(init_fraction * N): sigma_p = mean_i min_{j != i} d_ij^p, computed once (Sec. 4.2.1), and the
   first weights by Eq. 7, w = sigma^2 / (sigma^2 + d^2);
3. every R iterations (R = (1 - init_fraction) * N / max_reweights unless `reweight_every`) the weights are
   recomputed from the current copies; once the largest change is at most `tol` (1e-2, "typically 4-8 iterations")
   or after `max_reweights` rounds, the weights stay fixed to the end of the budget.

Between reweightings every copy takes one Adam step on its loss plus the weighted penalty (Eq. 8): the gradient of
the joint penalty for copy i is exactly that of Eq. 9 at the other copies' current values, so one simultaneous step
is one Jacobi block-coordinate step for every network (specs/zhang.md 2.4). The paper's copies all start from one
pretrained network: experiments set `same_init: true`. Not built: the round-robin block schedule of the paper profile.
`irls-code` below is the released code's variant, not the paper's method.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from sharebench.methods.coupling import (
    WEIGHT_RULES,
    adjacent_pair_sq_distances,
    eq7_weights,
    geman_mcclure,
    layer_sq_distances,
    max_change,
    median_threshold_weights,
    mutual_knn_edges,
    pair_indices,
    sigma_from,
    weighted_penalty,
)
from sharebench.methods.l2 import L2Reg
from sharebench.methods.registry import register

IRLS_HPARAMS: dict[str, Any] = {"init_fraction": 0.1, "max_reweights": 8, "reweight_every": 0, "tol": 0.01,
                                "weight_rule": "paper"}


class IRLSSchedule:
    """The IRLS weights of one chain of per-task copies and when they change (specs/zhang.md 2.6): w = 1 until I0
    (the L2 stage, Eq. 5); at I0 sigma is fixed (Sec. 4.2.1) and the first Eq. 7 weights computed; then every R
    iterations new weights, until the largest change is at most `tol` (converged) or `max_reweights` rounds
    (stopped); the weights then stay fixed to the end of the budget."""

    def __init__(self, shape: torch.Size, hparams: dict[str, Any], total_iterations: int, tasks: int,
                 who: str = "irls"):
        h = hparams
        if not 0 < h["init_fraction"] < 1 or h["max_reweights"] < 1 or h["reweight_every"] < 0 or h["tol"] < 0 \
                or h["weight_rule"] not in WEIGHT_RULES:
            raise ValueError(f"method {who!r}: need 0 < init_fraction < 1, max_reweights >= 1, reweight_every >= 0, "
                             f"tol >= 0 and weight_rule in {WEIGHT_RULES}")
        self.hparams, self.total, self.tasks = h, total_iterations, tasks
        self.phase, self.sigma, self.k = "l2", None, 0
        self.weights = torch.ones(shape, dtype=torch.float64)
        self.history: dict[str, list] = {"iterations": [], "weights": [], "deltas": []}

    @property
    def start(self) -> int:
        """I0: the iteration at which the L2 stage ends and sigma is fixed."""
        n = self.total
        return min(max(round(self.hparams["init_fraction"] * n), 1), max(n - 1, 1))

    @property
    def every(self) -> int:
        h = self.hparams
        return h["reweight_every"] or max(1, round((1 - h["init_fraction"]) * self.total / h["max_reweights"]))

    def due(self, iteration: int) -> bool:
        if self.phase == "l2":
            return iteration == self.start
        return self.phase == "irls" and iteration == self.start + self.k * self.every

    def reweight(self, d2: Tensor, iteration: int) -> None:
        """Eq. 7 from the current squared distances; the first time also sigma; then the stopping rule."""
        if self.sigma is None:
            self.sigma = sigma_from(d2, self.tasks)
        new = eq7_weights(d2, self.sigma, self.hparams["weight_rule"])
        delta = max_change(new, self.weights)
        self.weights, self.k = new, self.k + 1
        self.history["iterations"].append(iteration)
        self.history["weights"].append(new.tolist())
        self.history["deltas"].append(delta)
        if self.k == 1:
            self.phase = "irls"
        elif delta <= self.hparams["tol"]:
            self.phase = "converged"
        elif self.k >= self.hparams["max_reweights"]:
            self.phase = "stopped"

    def robust_loss(self, d2: Tensor) -> float | None:
        """f_cons = sum_p sum_{i<j} rho(d, sigma_p) (Eq. 3), once sigma exists."""
        if self.sigma is None:
            return None
        d2 = d2.detach().double()
        return float(sum(geman_mcclure(row.clamp_min(0).sqrt(), s).sum() for row, s in zip(d2, self.sigma)))

    def describe(self, pairs: list[list[str]]) -> dict[str, Any]:
        return {"pairs": pairs, "irls_phase": self.phase, "sigma": None if self.sigma is None else self.sigma.tolist(),
                "k": self.k, "converged": self.phase == "converged", "reweight_iterations": self.history["iterations"],
                "delta_history": self.history["deltas"], "weights_history": self.history["weights"],
                "final_weights": self.weights.tolist(),
                "mutual_knn_edges": [mutual_knn_edges(row, self.tasks) for row in self.weights]}

    def state_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, "sigma": self.sigma, "k": self.k, "weights": self.weights.clone(),
                "history": self.history}

    def load_state_dict(self, s: dict[str, Any]) -> None:
        self.phase, self.sigma, self.k = s["phase"], s["sigma"], s["k"]
        self.weights, self.history = s["weights"].clone(), s["history"]


def adjacent_pairs(names: list[str]) -> list[list[str]]:
    return [[names[p], names[p + 1]] for p in range(len(names) - 1)] or [names[:1]]


@register("irls")
class RobustIRLS(L2Reg):
    HPARAMS: ClassVar[dict[str, Any]] = {**L2Reg.HPARAMS, **IRLS_HPARAMS}
    CODE_MODULES: ClassVar[tuple[str, ...]] = ("sharebench.methods.coupling",)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        shape = adjacent_pair_sq_distances(self._layer_distances()).shape
        self.schedule = IRLSSchedule(shape, self.hparams, self.total_iterations, self.tasks.num_tasks)

    # read-only views of the schedule (records, tests)
    phase = property(lambda self: self.schedule.phase)
    sigma = property(lambda self: self.schedule.sigma)
    k = property(lambda self: self.schedule.k)
    weights = property(lambda self: self.schedule.weights)
    history = property(lambda self: self.schedule.history)
    start = property(lambda self: self.schedule.start)
    every = property(lambda self: self.schedule.every)

    def _layer_distances(self) -> list[Tensor]:
        return [layer_sq_distances(layer.core_parameters(), self.tasks.num_tasks) for layer in self.net.layers]

    def pair_sq_distances(self) -> Tensor:
        """d_ijp^2 of every adjacent pair p and copies i < j: [P, pairs], differentiable."""
        return adjacent_pair_sq_distances(self._layer_distances())

    def reweight(self, iteration: int) -> None:
        with torch.no_grad():
            d2 = self.pair_sq_distances()
        self.schedule.reweight(d2, iteration)

    def update(self, x: Tensor, y: Tensor, iteration: int) -> dict[str, float]:
        if self.schedule.due(iteration):
            self.reweight(iteration)
        return super().update(x, y, iteration)

    def penalty(self) -> Tensor:
        """Eq. 8; in the L2 stage (every w = 1) the `l2` baseline's own Eq. 5, so that the two runs are identical
        up to I0 (the weighted form equals it up to float rounding)."""
        if self.phase == "l2":
            return super().penalty()
        return weighted_penalty(self.pair_sq_distances(), self.weights, self.hparams["lambda"])

    # -- records
    def snapshot(self) -> dict[str, float | None]:
        with torch.no_grad():
            d2 = self.pair_sq_distances().double()
        return {"penalty": float(weighted_penalty(d2, self.weights, self.hparams["lambda"])),
                "closs_robust": self.schedule.robust_loss(d2), "mean_weight": float(self.weights.mean()),
                "irls_k": self.k, "delta": self.history["deltas"][-1] if self.history["deltas"] else None}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), **self.schedule.describe(adjacent_pairs(self.net.layer_names))}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "irls": self.schedule.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.schedule.load_state_dict(state["irls"])


@register("irls-code")
class ReleasedCodeCoupling(L2Reg):
    """The released TF1 code's variant, **not the paper's method** (specs/zhang.md 6; official-code-notes A).

    Per parameter *tensor* v of every tied hidden layer (conv weights; a dense layer's weight and bias), not per
    adjacent-layer pair: (mu / 2) sum_v sum_{i<j} w_v,ij ||theta_i,v - theta_j,v||^2 with mu = 0.005. For the first
    `init_fraction` (0.05, the code's 1,500 of 31,500 steps) every w = 1; at the switch the weights are fixed once by
    a median threshold on D_v = 1/2 ||.||^2 (`median_threshold_weights`: 1 below, 1/2 at, 0 above; the code's LP
    returns the analytic centre 1/2 for a zero-cost coordinate) and never recomputed (the code's reweighting loop is
    disabled). With `restart` (the code's stage 1), every copy, head and batch norm is then reset to its initial
    state and the optimiser restarted. `lambda` is not used (the code's mu replaces it)."""

    HPARAMS: ClassVar[dict[str, Any]] = {**L2Reg.HPARAMS, "mu": 0.005, "init_fraction": 0.05, "restart": True}
    CODE_MODULES: ClassVar[tuple[str, ...]] = ("sharebench.methods.coupling",)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if not 0 < self.hparams["init_fraction"] < 1 or self.hparams["mu"] < 0:
            raise ValueError("method 'irls-code': need 0 < init_fraction < 1 and mu >= 0")
        self.initial_state = {k: v.clone() for k, v in self.net.state_dict().items()}
        self.switched = False
        self.weights = torch.ones(len(self.tied_tensors()), len(pair_indices(self.tasks.num_tasks)[0]),
                                  dtype=torch.float64)

    @property
    def start(self) -> int:
        n = self.total_iterations
        return min(max(round(self.hparams["init_fraction"] * n), 1), max(n - 1, 1))

    def tied_tensors(self) -> list[Tensor]:
        return [t for i, layer in enumerate(self.net.layers) if i >= self.num_hard_shared
                for t in layer.core_parameters()]

    def distances(self) -> Tensor:
        """||theta_i,v - theta_j,v||^2 per tied tensor and pair: [V, pairs], differentiable."""
        return torch.stack([layer_sq_distances([t], self.tasks.num_tasks) for t in self.tied_tensors()])

    def switch(self, iteration: int) -> None:
        with torch.no_grad():
            half = 0.5 * self.distances()
        self.weights = torch.stack([median_threshold_weights(row, self.tasks.num_tasks) for row in half])
        self.switched = True
        if self.hparams["restart"]:
            self.net.load_state_dict(self.initial_state)
            self.optimizer, self.scheduler = self.make_optimizer(start=iteration)

    def update(self, x: Tensor, y: Tensor, iteration: int) -> dict[str, float]:
        if not self.switched and iteration == self.start:
            self.switch(iteration)
        return super().update(x, y, iteration)

    def penalty(self) -> Tensor:
        return weighted_penalty(self.distances(), self.weights, self.hparams["mu"] / 2)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "variant": "released code, not the paper", "switched": self.switched,
                "final_weights": self.weights.tolist()}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "code": {"switched": self.switched, "weights": self.weights.clone(),
                                                 "initial_state": self.initial_state}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        s = state["code"]
        self.switched, self.weights, self.initial_state = s["switched"], s["weights"].clone(), s["initial_state"]
