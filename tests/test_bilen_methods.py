"""Bilen & Vedaldi's training pieces: the schedule, no decay on norms, partial sharing by stage, full sharing."""

from __future__ import annotations

import pytest
import torch

from sharebench.methods import TaskSpec, create_method
from sharebench.methods.full_sharing import class_pairing
from sharebench.methods.optim import lr_factor

SPEC = TaskSpec(["mnist", "cifar10", "fashion-mnist"], [10, 10, 10], (16, 16, 1),
                label_semantics=("digits", "", ""))
SMALL = {"stem_width": 4, "widths": [4, 8, 8, 8], "units_per_stage": 1, "stage_strides": [1, 1, 2, 2]}
BILEN_SGD = {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4, "schedule": "step",
             "milestones": [0.5, 0.75, 0.9], "gamma": 0.1, "warmup": 0.02, "warmup_factor": 0.1,
             "decay_norms": False}


def batch(spec: TaskSpec = SPEC, b: int = 6, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(spec.num_tasks, b, 1, 16, 16, generator=g)
    y = torch.randint(0, 10, (spec.num_tasks, b), generator=g)
    return x, y


def test_bilen_schedule_warm_up_at_a_tenth_then_steps_down_to_1e_4():
    f = lr_factor(BILEN_SGD, 1000)
    assert [f(i) for i in (0, 19)] == [0.1, 0.1]  # "a short warm-up with 0.01" (2 %)
    assert f(20) == 1.0 and f(499) == 1.0
    assert f(500) == pytest.approx(0.1) and f(750) == pytest.approx(0.01) and f(999) == pytest.approx(1e-3)


def test_no_weight_decay_on_norm_scales_when_asked():
    m = create_method("deep", SPEC, "resnet38", dict(BILEN_SGD, norm="task-bn"), backbone_options=SMALL)
    groups = m.optimizer.param_groups
    assert [g["weight_decay"] for g in groups] == [1e-4, 0.0]
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in m.norm_parameters()}


def test_partial_sharing_by_stage_shares_the_stem_and_the_named_stages():
    m = create_method("partial", SPEC, "resnet38", {"norm": "task-bn", "shared_stages": [2, 3, 4]},
                      backbone_options=SMALL)
    a = m.assignment
    assert a[:, 0].tolist() == [0, 0, 0]  # stem shared
    assert a[:, 1].tolist() == [0, 1, 2]  # stage 1 domain-specific ("partial-first")
    assert (a[:, 2:] == 0).all()
    with pytest.raises(ValueError, match="shared_stages"):
        create_method("partial", SPEC, "resnet38", {"shared_stages": [5]}, backbone_options=SMALL)


def test_instance_norm_refuses_maps_below_4x4():
    with pytest.raises(ValueError, match="at least 4x4"):
        create_method("deep", SPEC, "resnet38", {"norm": "in"},
                      backbone_options={**SMALL, "stage_strides": [2, 2, 2, 2]})


def test_class_pairing_keeps_digits_and_permutes_the_others():
    pairing = class_pairing(SPEC, seed=0)
    assert pairing[0] == list(range(10))
    assert sorted(pairing[1]) == list(range(10)) and pairing[1] != list(range(10))
    assert pairing[1] != pairing[2]


def test_full_sharing_predicts_in_each_domains_own_label_order():
    torch.manual_seed(0)
    m = create_method("full", SPEC, "resnet38", {"norm": "task-bn"}, backbone_options=SMALL)
    assert m.net.head.linear.weight.shape[0] == 1  # one classifier for every domain
    x, _ = batch()
    own = m.predict(x[1], 1)
    shared = m.net.eval()(x[1:2], m.assignment, torch.tensor([1]))[0]
    for c in range(10):  # class c of domain 1 reads shared output pairing[1][c]
        torch.testing.assert_close(own[:, c], shared[:, m.pairing[1][c]])


def test_shared_weights_get_the_mean_of_the_domains_gradients():
    """Usage normalisation (specs/bilen.md 2.5): a weight every domain uses gets the average of the domains'
    gradients, including the shared classifier of full sharing."""
    x, y = batch()
    torch.manual_seed(0)
    m = create_method("full", SPEC, "resnet38", {"norm": "task-bn", "optimizer": "sgd", "lr": 1.0,
                                                 "momentum": 0.0}, backbone_options=SMALL)
    start = {k: v.clone() for k, v in m.net.state_dict().items()}
    m.update(x, y, 0)
    joint = {n: start[n] - p.detach() for n, p in m.net.named_parameters()}  # = the averaged gradient (lr 1)
    single = []
    for t in range(3):
        m.net.load_state_dict(start)
        m.optimizer.zero_grad()
        paired = torch.gather(m.pairing_table[t:t + 1], 1, y[t:t + 1])
        logits = m.net(x[t:t + 1], m.assignment, torch.tensor([t]))
        torch.nn.functional.cross_entropy(logits[0], paired[0]).backward()
        single.append({n: p.grad.clone() for n, p in m.net.named_parameters() if p.grad is not None})
    stem = "layers.0.conv.weight"
    torch.testing.assert_close(joint[stem], sum(g[stem] for g in single) / 3)
    torch.testing.assert_close(joint["head.linear.weight"], sum(g["head.linear.weight"] for g in single) / 3)


@pytest.mark.parametrize("norm", ["task-bn", "bn", "task-in"])
def test_domains_per_pass_takes_the_same_step_in_pieces(norm):
    """Accumulating the gradients of groups of domains (less memory for deep-x4 at 64 px) gives the step of one
    pass: parameters and running moments after two steps agree."""
    x, y = batch()
    nets = []
    for per_pass in (0, 2):
        torch.manual_seed(0)
        m = create_method("deep", SPEC, "resnet38", dict(BILEN_SGD, norm=norm, domains_per_pass=per_pass),
                          backbone_options=SMALL)
        assert len(m.domain_passes()) == (1 if per_pass == 0 else 2)
        for it in range(2):
            m.update(x, y, it)
        nets.append(m.net.state_dict())
    for key in nets[0]:
        torch.testing.assert_close(nets[1][key], nets[0][key], rtol=1e-5, atol=1e-6, msg=key)


def test_domains_per_pass_refuses_bad_values_and_universal_moments():
    with pytest.raises(ValueError, match="domains_per_pass must be"):
        create_method("deep", SPEC, "resnet38", {"domains_per_pass": -1}, backbone_options=SMALL)
    with pytest.raises(ValueError, match="cannot be split"):
        create_method("deep", SPEC, "resnet38", {"norm": "bn-shared-affine", "domains_per_pass": 1},
                      backbone_options=SMALL)
