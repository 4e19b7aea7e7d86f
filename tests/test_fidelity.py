"""The baselines are the released code's baselines: same initialisation, same step (issue 7, Part 1).

The released LWS code builds plain `nn.Module`s (never calling an init function), runs one module per
(task, layer) in a Python loop, sums every task's mean cross-entropy, divides each module's gradient by
its number of users and takes one Adam step. Our banks must do exactly that.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sharebench.benchmarks.released import ReleasedLWS, ReleasedNet
from sharebench.methods import TaskSpec, create_method
from sharebench.methods.banks import BankedConv2d, BankedLinear, HeadBank
from sharebench.methods.networks import BankedNet, backbone_layers


@pytest.mark.parametrize("bias", [False, True])
def test_conv_slots_are_drawn_exactly_as_nn_conv2d(bias):
    torch.manual_seed(3)
    bank = BankedConv2d(3, 5, 7, kernel_size=3, bias=bias)
    torch.manual_seed(3)
    plain = [nn.Conv2d(5, 7, 3, padding=1, bias=bias) for _ in range(3)]
    for k, layer in enumerate(plain):
        torch.testing.assert_close(bank.weight[k], layer.weight, rtol=0, atol=0)
        if bias:
            torch.testing.assert_close(bank.bias[k], layer.bias, rtol=0, atol=0)


def test_linear_slots_and_heads_are_drawn_exactly_as_nn_linear():
    torch.manual_seed(4)
    bank = BankedLinear(2, 11, 6)
    torch.manual_seed(4)
    plain = [nn.Linear(11, 6) for _ in range(2)]
    for k, layer in enumerate(plain):
        torch.testing.assert_close(bank.weight[k], layer.weight, rtol=0, atol=0)
        torch.testing.assert_close(bank.bias[k], layer.bias, rtol=0, atol=0)
    head = HeadBank(11, [3, 6])  # padded to 6 rows; the fan-in (11) is what sets the bound
    bound = 1 / math.sqrt(11)
    assert float(head.linear.weight.detach().abs().max()) <= bound
    assert float(head.linear.bias.detach().abs().max()) <= bound


@pytest.mark.parametrize("make_bank, make_plain", [
    (lambda: BankedConv2d(64, 32, 32, bias=True), lambda: nn.Conv2d(32, 32, 3, padding=1)),
    (lambda: BankedLinear(64, 288, 128), lambda: nn.Linear(288, 128)),
])
def test_init_bounds_and_moments_equal_the_torch_layer(make_bank, make_plain):
    """Bounds U(+-1/sqrt(fan_in)) and the first two moments, over many slots, as torch.nn's layer."""
    torch.manual_seed(0)
    bank = make_bank()
    plain = [make_plain() for _ in range(64)]
    for name in ("weight", "bias"):
        ours = getattr(bank, name).detach().flatten()
        theirs = torch.cat([getattr(m, name).detach().flatten() for m in plain])
        bound = float(theirs.abs().max())
        assert float(ours.abs().max()) <= bound * 1.01 and float(ours.abs().max()) >= bound * 0.95
        assert abs(float(ours.mean())) < 0.05 * bound
        torch.testing.assert_close(ours.std(), theirs.std(), rtol=0.03, atol=0)


def test_he_uniform_is_still_available_for_a_paper_that_asks_for_it():
    torch.manual_seed(0)
    bank = BankedLinear(8, 100, 50, init="he-uniform")
    assert float(bank.weight.detach().abs().max()) > 1 / math.sqrt(100) * 1.5  # sqrt(6/100) = 0.245 vs 0.1
    assert float(bank.bias.detach().abs().max()) == 0.0
    keras = BankedLinear(1, 100, 50, init="glorot-uniform")
    assert float(keras.weight.detach().abs().max()) <= math.sqrt(6 / 150)
    assert float(keras.bias.detach().abs().max()) == 0
    with pytest.raises(ValueError, match="unknown init"):
        BankedLinear(1, 2, 2, init="xavier")


@pytest.fixture
def float64():
    """Adam's first steps are nearly sign(g): float32 summation-order noise in a near-zero gradient moves a
    weight by up to lr. In float64 the two code bases agree to 1e-15, which is the check that matters."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


@pytest.mark.parametrize("method", ["isolated", "shareall", "partial"])
def test_one_baseline_step_equals_the_released_codes_step(method, float64):
    torch.manual_seed(0)
    spec = TaskSpec(["a", "b", "c"], [10, 26, 10], (28, 28, 1))
    ours = create_method(method, spec, "dkl-convnet")
    ref = ReleasedNet(ours.net)
    optimizer = torch.optim.Adam(ref.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(1)
    for it in range(3):  # three steps, so Adam's moments and BN's running moments matter
        x = torch.rand(3, 16, 1, 28, 28, generator=g)
        y = torch.stack([torch.randint(0, k, (16,), generator=g) for k in spec.num_classes])
        ours.update(x, y, it)
        ref.baseline_step(x, y, ours.assignment, optimizer)
    assert_same_weights(ours.net, ref, [torch.unique(ours.assignment[:, layer]).tolist()
                                        for layer in range(len(ours.net.layers))])
    x = torch.rand(5, 1, 28, 28, generator=g)
    ref.eval()
    torch.testing.assert_close(ours.predict(x, 1), ref(x, 1, ours.assignment[1].tolist()), rtol=1e-9, atol=1e-12)


def assert_same_weights(net: BankedNet, ref: ReleasedNet, used: list[list[int]]) -> None:
    """Every used slot's weights, BN scale and running moments, and every head, equal the released modules'."""
    close = {"rtol": 1e-9, "atol": 1e-12}
    for layer, (unit, mods) in enumerate(zip(net.layers, ref.slots)):
        for k in used[layer]:
            if unit.kind == "conv":
                torch.testing.assert_close(unit.conv.weight[k], mods[k][0].weight, **close)
                torch.testing.assert_close(unit.norm.weight[k], mods[k][1].weight, **close)
                torch.testing.assert_close(unit.norm.running_mean[k], mods[k][1].running_mean, **close)
                torch.testing.assert_close(unit.norm.running_var[k], mods[k][1].running_var, **close)
            else:
                torch.testing.assert_close(unit.linear.weight[k], mods[k][1].weight, **close)
    for t, head in enumerate(ref.heads):
        torch.testing.assert_close(net.head.linear.weight[t, : head.out_features], head.weight, **close)


def test_one_lws_iteration_equals_the_released_codes_trainstep(float64):
    """NES then SGD with the same sampled routings: the same probabilities, weights, BN moments and heads.

    From uniform probabilities, as a run starts: every slot is drawn in the first SGD step (a slot missed
    would keep its Adam step count at 0 in the released code, one module per slot, while a bank counts
    steps per layer; at the start of a run that happens with probability (2/3)^24 per layer)."""
    torch.manual_seed(0)
    spec = TaskSpec(["a", "b", "c"], [10, 26, 10], (28, 28, 1))
    ours = create_method("lws", spec, "dkl-convnet", {"num_slots": 3})
    ref = ReleasedLWS(ReleasedNet(ours.net), ours.probs)
    g = torch.Generator().manual_seed(1)
    for it in range(2):
        (xn, yn), (xs, ys) = [(torch.rand(3, 16, 1, 28, 28, generator=g),
                               torch.stack([torch.randint(0, k, (16,), generator=g) for k in spec.num_classes]))
                              for _ in range(2)]
        torch.manual_seed(10 + it)
        nes_routes = list(ours.sample(8))  # the draws ours makes next, replayed into the released step
        torch.manual_seed(10 + it)
        ours.nes_step(xn, yn)
        ref.nes_step(xn, yn, nes_routes)
        torch.testing.assert_close(ours.probs, ref.probs, rtol=1e-12, atol=1e-14)
        torch.manual_seed(20 + it)
        sgd_routes = list(ours.sample(8))
        torch.manual_seed(20 + it)
        ours.sgd_step(xs, ys)
        ref.sgd_step(xs, ys, sgd_routes)
    assert_same_weights(ours.net, ref.net, [list(range(3))] * len(ours.net.layers))


def test_shared_slot_gradient_is_divided_by_its_users():
    """Without the division, the shared slot's first Adam step would be the same (Adam is scale-free up to
    epsilon), so check the gradient itself: shareall's slot-0 gradient is the mean over tasks."""
    torch.manual_seed(0)
    spec = TaskSpec(["a", "b", "c"], [4, 4, 4], (8, 8, 1))
    m = create_method("shareall", spec, "mlp", backbone_options={"hidden": (5,)})
    x, y = torch.rand(3, 4, 1, 8, 8), torch.randint(0, 4, (3, 4))
    m.net.zero_grad()
    from sharebench.methods.hard_sharing import multitask_loss

    multitask_loss(m.net(x, m.assignment, m.all_tasks), y).backward()
    summed = m.net.layers[0].linear.weight.grad.clone()
    m.net.average_gradients_over_users(m.slot_users())
    torch.testing.assert_close(m.net.layers[0].linear.weight.grad, summed / 3)


def test_backbone_layers_all_use_torch_defaults():
    net = BankedNet(backbone_layers("dkl-convnet", (28, 28, 1)), [10, 10], [2, 2, 2, 2])
    assert net.init == "torch"
    bound = 1 / math.sqrt(288)
    assert float(net.layers[3].linear.weight.detach().abs().max()) <= bound
