"""ResNet-38 (Bilen & Vedaldi) and the normalisation modes of Table 4 against plain PyTorch loops."""

import pytest
import torch
from torch import nn

from sharebench.methods.networks import BankedNet, final_map_size, resnet18, resnet38
from sharebench.methods.norms import BankedNorm


def weighted_layers(specs) -> int:
    """Convolutions and linear layers, the FC head included (the paper's "38")."""
    n = 1  # the head
    for s in specs:
        n += 1 if s.kind in ("conv", "dense") else 2 + int(s.stride != 1 or s.in_features != s.out_features)
    return n


def test_resnet38_has_38_layers_and_the_reconstructed_parameter_count():
    specs = resnet38((64, 64, 3))
    assert weighted_layers(specs) == 38
    assert sum(s.num_params() for s in specs) == 5_919_152
    assert final_map_size(specs, (64, 64, 3)) == 8
    base = sum(s.num_params() for s in specs)
    for mult, ratio in ((2, 4.0), (4, 16.0)):
        wide = sum(s.num_params() for s in resnet38((64, 64, 3), width_multiplier=mult))
        assert wide / base == pytest.approx(ratio, rel=0.01)
    assert [s.name for s in specs][:3] == ["stem", "stage1.unit1", "stage1.unit2"]


def test_resnet18_is_one_call_of_the_generic_builder():
    specs = resnet18((32, 32, 3))
    assert [s.name for s in specs][:3] == ["stem", "block1.1", "block1.2"] and len(specs) == 9
    assert not specs[0].shareable and specs[-1].global_pool and specs[-1].kind == "block"


def test_new_norm_modes_need_preact_units():
    with pytest.raises(ValueError, match="pre-activation"):
        BankedNet(resnet18((32, 32, 3), width=4), [10], [1] * 9, norm="in")


def _rows(n_tasks=3, B=5, C=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n_tasks, B, C, 6, 6, generator=g) * 2 + 1


def _random_affine_norm(mode: str, num_slots: int) -> BankedNorm:
    """A norm over 3 tasks and 4 channels with scales and shifts away from the identity."""
    norm = BankedNorm(mode, num_slots=num_slots, num_tasks=3, channels=4)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-1, 1)
    return norm


@pytest.mark.parametrize("mode", ["task-bn", "bn-shared-affine"])
def test_batch_norm_trains_with_each_domains_own_statistics(mode):
    x = _rows()
    norm = _random_affine_norm(mode, num_slots=1)
    slots, tasks = torch.zeros(3, dtype=torch.long), torch.arange(3)
    out = norm(x, slots, tasks)
    for t in range(3):
        row = t if mode == "task-bn" else 0
        ref = nn.BatchNorm2d(4)
        with torch.no_grad():
            ref.weight.copy_(norm.weight[row])
            ref.bias.copy_(norm.bias[row])
        torch.testing.assert_close(out[t], ref(x[t]))
        torch.testing.assert_close(norm.task_mean[t], ref.running_mean)
        torch.testing.assert_close(norm.task_var[t], ref.running_var)


def test_universal_moments_follow_the_mean_rule_and_bn_plus_leaves_them_alone():
    x = _rows()
    norm = BankedNorm("bn-shared-affine", num_slots=1, num_tasks=3, channels=4)
    norm(x, torch.zeros(3, dtype=torch.long), torch.arange(3))
    means = torch.stack([x[t].mean(dim=(0, 2, 3)) for t in range(3)])
    variances = torch.stack([x[t].var(dim=(0, 2, 3), unbiased=True) for t in range(3)])
    torch.testing.assert_close(norm.slot_mean[0], 0.1 * means.mean(0))
    torch.testing.assert_close(norm.slot_var[0], 0.9 + 0.1 * variances.mean(0))
    norm.eval()
    buffers = [b.clone() for b in norm.buffers()]
    outs = {}
    for moments in ("universal", "domain", "batch"):
        norm.eval_moments = moments
        outs[moments] = norm(x, torch.zeros(3, dtype=torch.long), torch.arange(3))
    for before, after in zip(buffers, norm.buffers()):
        assert torch.equal(before, after)
    # BN+: each test batch normalised by its own statistics (zero mean per channel, before the affine)
    torch.testing.assert_close(outs["batch"].mean(dim=(1, 3, 4)), torch.zeros(3, 4), atol=1e-5, rtol=0)
    assert not torch.allclose(outs["universal"], outs["domain"])


@pytest.mark.parametrize("mode", ["in", "task-in"])
def test_instance_norm_equals_a_loop_of_instance_norm_with_the_right_scale(mode):
    x = _rows()
    norm = _random_affine_norm(mode, num_slots=2)
    slots, tasks = torch.tensor([0, 1, 1]), torch.arange(3)
    out = norm(x, slots, tasks)
    for t in range(3):
        row = int(slots[t]) if mode == "in" else t
        ref = nn.InstanceNorm2d(4, affine=True)
        with torch.no_grad():
            ref.weight.copy_(norm.weight[row])
            ref.bias.copy_(norm.bias[row])
        torch.testing.assert_close(out[t], ref(x[t]))
    norm.eval()
    torch.testing.assert_close(norm(x, slots, tasks), out)  # no running moments: the same at test time


def test_preact_network_isolated_equals_separate_networks():
    """Isolated slots: each task's logits equal a one-task network holding that slot's weights."""
    torch.manual_seed(0)
    specs = resnet38((16, 16, 1), stem_width=4, widths=(4, 8, 8, 16), units_per_stage=1,
                     stage_strides=(1, 1, 2, 2))
    net = BankedNet(specs, [10, 10], [2] * len(specs), norm="task-bn")
    x = torch.randn(2, 6, 1, 16, 16)
    a = torch.arange(2).unsqueeze(1).repeat(1, len(specs))
    out = net(x, a, torch.arange(2))
    for t in range(2):
        single = BankedNet(specs, [10], [1] * len(specs), norm="task-bn")
        with torch.no_grad():
            for dst, src in zip(single.layers, net.layers):
                for p_dst, p_src in zip(dst.parameters(), src.parameters()):
                    p_dst.copy_(p_src[t:t + 1])
            single.head.linear.weight.copy_(net.head.linear.weight[t:t + 1])
            single.head.linear.bias.copy_(net.head.linear.bias[t:t + 1])
        torch.testing.assert_close(single(x[t:t + 1], torch.zeros(1, len(specs), dtype=torch.long),
                                          torch.zeros(1, dtype=torch.long))[0], out[t])
