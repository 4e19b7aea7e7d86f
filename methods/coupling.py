"""Couplings between per-task copies of a network (Zhang et al., Sec. 4): distances, the robust norm, IRLS weights.

Every task keeps its own copy of each hidden layer (a bank with one slot per task; a hard-shared layer has one slot,
hence distance zero). The consistency terms compare copies i < j of *adjacent layer pairs*: the distance of the
concatenations (theta_i^l, theta_i^{l+1}) and (theta_j^l, theta_j^{l+1}), so d^2 = D^l_ij + D^{l+1}_ij (Eq. 3).
Pairs (i, j) are kept as a vector in `torch.triu_indices(T, T, 1)` order. Differences are taken directly, never by
the |a|^2 + |b|^2 - 2ab Gram form, which cancels when copies are nearly equal (specs/zhang.md 3.2).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def pair_indices(tasks: int) -> tuple[Tensor, Tensor]:
    """(i, j) of every pair i < j, in the order used by every pair vector here."""
    i, j = torch.triu_indices(tasks, tasks, 1)
    return i, j


def layer_sq_distances(core: list[Tensor], tasks: int) -> Tensor:
    """||theta_i^l - theta_j^l||^2 summed over the layer's core tensors (each [slots, ...]), for every pair i < j:
    [T(T-1)/2], differentiable. A bank with one slot (hard-shared) gives zeros."""
    i, j = pair_indices(tasks)
    if all(t.shape[0] == 1 for t in core):
        return core[0].new_zeros(len(i))
    rows = torch.cat([t.reshape(t.shape[0], -1) for t in core], dim=1)  # [T, n]
    i, j = i.to(rows.device), j.to(rows.device)
    return (rows[i] - rows[j]).pow(2).sum(dim=1)  # direct differences, all pairs in one kernel


def adjacent_pair_sq_distances(per_layer: list[Tensor]) -> Tensor:
    """Squared distances of the concatenated adjacent layers (Eq. 3): [P, pairs] with P = L - 1 (one layer: [1, pairs],
    the layer alone, as the `l2` baseline does)."""
    if len(per_layer) == 1:
        return per_layer[0].unsqueeze(0)
    return torch.stack([per_layer[p] + per_layer[p + 1] for p in range(len(per_layer) - 1)])


def weighted_penalty(d2: Tensor, weights: Tensor, lam: float) -> Tensor:
    """lambda * sum_p sum_{i<j} w_ijp d_ijp^2 (Eq. 8; w = 1 is Eq. 5, the `l2` baseline)."""
    return lam * (weights.to(d2.dtype) * d2).sum()


def geman_mcclure(x: Tensor, sigma: Tensor | float) -> Tensor:
    """The robust norm rho(x, sigma) = sigma^2 x^2 / (sigma^2 + x^2) (Sec. 4.1): ~x^2 for x << sigma, -> sigma^2."""
    s2 = torch.as_tensor(sigma, dtype=x.dtype) ** 2
    return s2 * x * x / (s2 + x * x)


def pair_matrix(values: Tensor, tasks: int) -> Tensor:
    """A pair vector [pairs] as the symmetric [T, T] matrix (zero diagonal)."""
    i, j = pair_indices(tasks)
    out = values.new_zeros(tasks, tasks)
    out[i, j] = values
    out[j, i] = values
    return out


def sigma_from(d2: Tensor, tasks: int) -> Tensor:
    """sigma_p = mean_i min_{j != i} d_ij^p (Sec. 4.2.1), one value per adjacent pair, in float64: [P]."""
    sigmas = []
    for row in d2.detach().double():
        d = pair_matrix(row.clamp_min(0).sqrt(), tasks)
        d.fill_diagonal_(float("inf"))
        sigmas.append(d.min(dim=1).values.mean())
    return torch.stack(sigmas)


WEIGHT_RULES = ("paper", "mm")


def eq7_weights(d2: Tensor, sigma: Tensor, rule: str = "paper") -> Tensor:
    """IRLS weights (Eq. 7): w = sigma^2 / (sigma^2 + d^2), in (0, 1], 1/2 at d = sigma; float64 [P, pairs].

    `rule: mm` squares them (sigma^4 / (sigma^2 + d^2)^2 = rho'(d) / 2d, the majorise-minimise weight; not the
    paper's). Where sigma_p = 0 (every copy identical, e.g. a hard-shared pair), w = 1 where d = 0 and 0 elsewhere."""
    if rule not in WEIGHT_RULES:
        raise ValueError(f"weight_rule must be one of {WEIGHT_RULES}, got {rule!r}")
    d2 = d2.detach().double().clamp_min(0)
    s2 = sigma.double().pow(2).unsqueeze(1)
    w = torch.where(s2 > 0, s2 / (s2 + d2).clamp_min(1e-300), (d2 == 0).double())
    return w * w if rule == "mm" else w


def max_change(new: Tensor, old: Tensor) -> float:
    """delta = max_{i<j, p} |w_new - w_old| (the stopping rule's measure)."""
    return float((new.double() - old.double()).abs().max()) if new.numel() else 0.0


def median_threshold_weights(half_sq: Tensor, tasks: int) -> Tensor:
    """The released code's fixed weights (specs/zhang.md 6): D = 1/2 ||.||^2 per pair, med = numpy.median over all
    T^2 entries of the symmetric matrix *with its zero diagonal*; w = 1 below the median, 1/2 at it, 0 above.
    half_sq [pairs] -> [pairs] (float64)."""
    d = half_sq.detach().double().cpu()
    med = float(np.median(pair_matrix(d, tasks).numpy()))
    return torch.where(d < med, 1.0, torch.where(d == med, 0.5, 0.0)).double()


def mutual_knn_edges(weights: Tensor, tasks: int, k: int = 3) -> list[tuple[int, int]]:
    """Zhang et al. Fig. 2's graph for one adjacent pair: i and j are joined when each is among the other's k "most
    influential neighbours", read as the k largest IRLS weights w_ij (the closest copies; specs/zhang.md 7 #19);
    ties go to the lower index. weights [pairs] -> sorted edges (i, j), i < j, 0-based."""
    w = pair_matrix(weights.detach().double().cpu(), tasks)
    w.fill_diagonal_(-float("inf"))
    order = [sorted(range(tasks), key=lambda j, i=i: (-float(w[i, j]), j))[: min(k, tasks - 1)]
             for i in range(tasks)]
    return [(i, j) for i in range(tasks) for j in range(i + 1, tasks) if j in order[i] and i in order[j]]
