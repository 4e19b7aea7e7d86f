"""The CPU path over distinct row prefixes (methods/rowplan.py): the plan, the running moments, the results."""

from __future__ import annotations

import copy

import pytest
import torch

from sharebench.methods.banks import BankedBatchNorm
from sharebench.methods.networks import BankedNet, backbone_layers
from sharebench.methods.rowplan import plan_rows


def test_plan_shares_prefixes_and_maps_every_row():
    # 4 rows over 2 inputs: rows 0 and 2 read input 0 and agree on layer 0's slot, then part at layer 1
    plan = plan_rows([0, 1, 0, 1], [[0, 0], [0, 1], [0, 1], [0, 1]], [[0, 0], [0, 1], [0, 1], [0, 1]])
    assert plan[0].row_key == [0, 1, 0, 1] and plan[0].parent == [0, 1] and plan[0].num_keys == 2
    assert plan[1].row_key == [0, 1, 2, 1] and plan[1].parent == [0, 1, 0] and plan[1].slot == [0, 1, 1]
    assert plan[1].keys_by_slot() == [(0, [0]), (1, [1, 2])]
    assert plan[1].row_norm_rows() == [0, 1, 1, 1]


def test_folded_running_moments_equal_the_sequential_update():
    torch.manual_seed(0)
    bn = BankedBatchNorm(3, 4)
    bn.running_mean.normal_()
    bn.running_var.uniform_(0.5, 2)
    ref = copy.deepcopy(bn)
    rows = [2, 0, 2, 2, 1, 0]
    means, variances = torch.randn(6, 4), torch.rand(6, 4)
    bn.fold_running_moments(rows, means, variances)
    for r, m, v in zip(rows, means, variances):  # what F.batch_norm does call after call
        ref.running_mean[r] = 0.9 * ref.running_mean[r] + 0.1 * m
        ref.running_var[r] = 0.9 * ref.running_var[r] + 0.1 * v
    torch.testing.assert_close(bn.running_mean, ref.running_mean)
    torch.testing.assert_close(bn.running_var, ref.running_var)


@pytest.mark.parametrize("norm", ["bn", "task-bn"])
def test_repeated_rows_give_the_results_and_gradients_of_separate_rows(norm):
    """LWS' rows repeat inputs: sharing their prefixes must equal running every row on its own copy."""
    torch.manual_seed(0)
    net = BankedNet(backbone_layers("dkl-convnet", (16, 16, 1)), [10, 10], [3, 3, 3, 3], norm=norm)
    ref = copy.deepcopy(net)
    ref.conv_strategy = "per-slot"  # the other path, one row at a time: the sequential semantics
    x = torch.rand(2, 8, 1, 16, 16)
    row_slots = torch.tensor([[0, 1, 2, 0], [0, 1, 2, 1], [0, 1, 0, 0], [2, 2, 2, 2], [0, 1, 2, 0], [0, 1, 2, 0]])
    row_inputs = torch.tensor([0, 0, 0, 1, 1, 0])
    tasks = row_inputs.clone()
    out = net.forward_rows(x, row_slots, tasks, row_inputs)
    out_ref = torch.cat([ref.forward_rows(x[i:i + 1], row_slots[r:r + 1], tasks[r:r + 1])
                         for r, i in enumerate(row_inputs.tolist())])
    torch.testing.assert_close(out, out_ref, rtol=1e-4, atol=1e-5)
    out.pow(2).sum().backward()
    out_ref.pow(2).sum().backward()
    for (name, p), q in zip(net.named_parameters(), ref.parameters()):
        scale = float(q.grad.abs().max()) + 1e-12
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5 * scale, msg=name)
    for b, c in zip(net.buffers(), ref.buffers()):
        torch.testing.assert_close(b, c)
