"""Fisher information, relative Fisher, generalised Fisher information and DWA (Chen et al., CETL, Eqs. 9-11).

Two losses L_a ("the task whose weights are remembered") and L_b share the parameters theta_i of one network:
- per-sample (empirical) Fisher contributions f_{a,i}^(n) = (d l_a(x_n) / d theta_i)^2, by `torch.func` (the
  network in eval mode, so that a sample's gradient does not depend on the others: specs/cetl.md 2.3);
  F_{a,i} = mean over n;
- relative Fisher (Eq. 9): RF_i = the normalised mutual information of f_{a,i}^(n) and f_{b,i}^(n) over the same N
  samples, each variable cut into B equal-frequency bins (quantiles k / B; ties share a bin), NMI = 2 I / (H_a +
  H_b) with scikit-learn's conventions (1 when both variables are constant, 0 when only one is, or when I = 0);
- GFI (Eq. 10, as the text reads; the printed equation is garbled): a parameter with RF_i >= u ("shared") keeps
  F_{a,i} with probability p, one with RF_i < u ("private") keeps it with probability 1 - p (u = 0.5, p = 0.9);
  F_a is first divided by its maximum over the network, so that lambda means the same for every loss (a choice);
- DWA (Eq. 11): sum_i lambda / 2 * GFI_i * (theta_i - theta*_i)^2, theta* the weights when GFI was computed.
  With GFI_i = F_{a,i} (no RF, no mask) it is EWC's penalty (Kirkpatrick et al.): CETL_fi of Table 2.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap


def per_sample_sq_grads(module: nn.Module, names: list[str], loss_of: Callable[..., Tensor],
                        *batch: Tensor) -> Tensor:
    """[N, P]: the squared gradient of `loss_of(module_output_fn, *sample)` for each of the N samples, over the
    parameters `names` of `module` flattened in that order. `loss_of(call, *sample)` gets `call(x)` = the module
    with the parameters being differentiated, and one sample of each batch tensor (without its batch dimension).
    The module is put in eval mode for the computation and restored."""
    params = dict(module.named_parameters())
    chosen = {n: params[n].detach() for n in names}
    fixed = {n: p.detach() for n, p in params.items() if n not in chosen}
    buffers = dict(module.named_buffers())
    was_training = module.training
    module.eval()

    def sample_loss(theta: dict[str, Tensor], *sample: Tensor) -> Tensor:
        def call(x: Tensor) -> Tensor:
            return functional_call(module, {**fixed, **theta, **buffers}, (x,))
        return loss_of(call, *sample)

    try:
        grads = vmap(grad(sample_loss), in_dims=(None, *[0] * len(batch)))(chosen, *batch)
    finally:
        module.train(was_training)
    return torch.cat([grads[n].flatten(1) for n in names], dim=1) ** 2


def equal_frequency_bins(values: Tensor, bins: int) -> Tensor:
    """[N, P] -> bin indices [N, P] in 0..bins-1, per column: edges at the k / bins quantiles (linear
    interpolation, as numpy and torch.quantile), bin = the number of edges <= value (ties share a bin)."""
    n = values.shape[0]
    ordered = values.sort(dim=0).values.double()
    q = torch.arange(1, bins, dtype=torch.float64, device=values.device) / bins * (n - 1)
    lo, frac = q.floor().long(), (q - q.floor()).unsqueeze(1)
    hi = (lo + 1).clamp(max=n - 1)
    edges = ordered[lo] + (ordered[hi] - ordered[lo]) * frac  # [bins - 1, P]
    return torch.searchsorted(edges.t().contiguous(), values.double().t().contiguous(), right=True).t()


def _entropy(counts: Tensor, n: int) -> Tensor:
    p = counts / n
    return -(p * torch.where(p > 0, p.log(), torch.zeros_like(p))).sum(dim=1)


def normalized_mutual_information(a: Tensor, b: Tensor, bins: int) -> Tensor:
    """Per column of two [N, P] integer label arrays in 0..bins-1: scikit-learn's
    `normalized_mutual_info_score` (average_method "arithmetic", natural logs), vectorised over the columns."""
    n, cols = a.shape
    joint = torch.zeros(cols, bins * bins, dtype=torch.float64, device=a.device)
    joint.scatter_add_(1, (a * bins + b).t().long(), torch.ones(cols, n, dtype=torch.float64, device=a.device))
    pa, pb = joint.view(cols, bins, bins).sum(2), joint.view(cols, bins, bins).sum(1)
    h_a, h_b = _entropy(pa, n), _entropy(pb, n)
    expected = (pa.unsqueeze(2) * pb.unsqueeze(1)).view(cols, -1) / n  # n p_j p_k, in counts
    ratio = torch.where(joint > 0, joint / expected.clamp_min(1e-300), torch.ones_like(joint))
    mi = ((joint / n) * ratio.log()).sum(dim=1).clamp_min(0)
    nmi = torch.where(mi > 1e-15, 2 * mi / (h_a + h_b).clamp_min(1e-300), torch.zeros_like(mi))
    one_label_each = ((pa > 0).sum(1) == 1) & ((pb > 0).sum(1) == 1)
    return torch.where(one_label_each, torch.ones_like(nmi), nmi)


def relative_fisher(f_a: Tensor, f_b: Tensor, bins: int = 4) -> Tensor:
    """Eq. 9 per parameter: NMI of the per-sample Fisher contributions [N, P] of the two losses."""
    return normalized_mutual_information(equal_frequency_bins(f_a, bins), equal_frequency_bins(f_b, bins), bins)


def normalised(fisher: Tensor) -> Tensor:
    """F / max F over the network (all zeros stay zeros)."""
    top = fisher.max()
    return fisher / top if top > 0 else fisher


def gfi(fisher_a: Tensor, rf: Tensor, u: float, p: float, generator: torch.Generator) -> Tensor:
    """Eq. 10: normalised F_a kept with probability p where RF >= u ("shared"), with probability 1 - p where
    RF < u ("private"); one Bernoulli draw per parameter from the method's own generator."""
    keep_prob = torch.where(rf >= u, torch.full_like(rf, p), torch.full_like(rf, 1 - p))
    draws = torch.rand(rf.shape, generator=generator, dtype=torch.float64).to(rf.device)
    return normalised(fisher_a).float() * (draws < keep_prob).float()


def flat_params(params: list[Tensor]) -> Tensor:
    return torch.cat([p.reshape(-1) for p in params])


def dwa_penalty(params: list[Tensor], anchor: Tensor, weights: Tensor, lam: float) -> Tensor:
    """Eq. 11: sum_i lambda / 2 * GFI_i * (theta_i - theta*_i)^2 over the flattened parameters."""
    return lam / 2 * (weights * (flat_params(params) - anchor) ** 2).sum()
