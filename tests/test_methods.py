"""Every registered method trains on a tiny suite; the bank mechanism computes what a loop would."""

from __future__ import annotations

import copy

import pytest
import torch

import tests.fixture_methods  # noqa: F401  (registers the transfer and reconstruction fixtures)
from sharebench.benchmarks.sampling import StreamSet, labelled_mask, parse_stream
from sharebench.methods import Method, TaskSpec, create_method, get_method, method_names
from sharebench.methods.hard_sharing import BankedMethod
from sharebench.methods.l2 import hard_shared_prefix, pairwise_sq_distance
from sharebench.methods.networks import BankedNet, backbone_layers

TINY = TaskSpec(["a", "b", "c"], [4, 6, 2], (8, 8, 1))


def tiny_batch(seed: int = 0, spec: TaskSpec = TINY, b: int = 5):
    g = torch.Generator().manual_seed(seed)
    h, w, c = spec.image_shape
    x = torch.rand(spec.num_tasks, b, c, h, w, generator=g)
    y = torch.stack([torch.randint(0, k, (b,), generator=g) for k in spec.num_classes])
    return x, y


TRANSFER = TaskSpec(["src", "tgt"], [4, 4], (8, 8, 1), ("source", "target"))
EQUAL_CLASSES = TaskSpec(["a", "b", "c"], [4, 4, 4], (8, 8, 1), label_semantics=("digits", "", ""))


GENERATIVE = TaskSpec(["a", "b"], [4, 4], (16, 16, 1))  # DCGAN and BEGAN need a side of at least 16


def tiny_spec(cls) -> TaskSpec:
    """Tasks of different widths, unless the method shares one classifier (equal widths), transfers, or generates."""
    if {"dcgan", "began"} & set(cls.BACKBONES):
        return GENERATIVE
    if uses_roles(cls):
        return TRANSFER
    return EQUAL_CLASSES if getattr(cls, "SHARED_HEAD", False) else TINY


def uses_roles(cls) -> bool:
    """Transfer methods: they read source / target streams, or networks trained on a source (the model store)."""
    return bool(cls.REQUIRES) or any(parse_stream(spec)[0] in ("source", "target") for spec in cls.STREAMS.values())


def tiny_streams(cls, spec: TaskSpec, n: int = 12) -> StreamSet:
    """The streams the method declares over tiny tasks; targets keep a third of their labels (the rest -1)."""
    g = torch.Generator().manual_seed(0)
    h, w, c = spec.image_shape
    xs = [torch.rand(n, c, h, w, generator=g) for _ in spec.names]
    ys = [torch.randint(0, k, (n,), generator=g) for k in spec.num_classes]
    masks = [labelled_mask(y.numpy(), {"fraction": 1 / 3} if spec.role(t) == "target" else "all", t)
             for t, y in enumerate(ys)]
    visible = [y.masked_fill(~torch.from_numpy(m), -1) for y, m in zip(ys, masks)]
    return StreamSet(cls.STREAMS, [spec.role(t) for t in range(spec.num_tasks)], masks, xs, visible, 5, seed=0)


@pytest.mark.parametrize("backbone", ["dkl-convnet", "mlp"])
@pytest.mark.parametrize("name", method_names())
def test_every_method_runs_a_few_steps(name, backbone):
    """Every registered method, driven through the streams it declares: a transfer method gets a labelled
    source and an unlabelled target, a reconstruction method is checked on `reconstruct`."""
    cls = get_method(name)
    if cls.BACKBONES and backbone not in cls.BACKBONES:  # a method that builds on its own backbone only
        backbone = cls.BACKBONES[0]
    spec = tiny_spec(cls)
    hparams = {"classify": True} if "classify" in cls.HPARAMS else {}  # autoencoders: with their classifiers
    if "lambda_k" in cls.HPARAMS:  # BEGAN: a narrow one (n = 128 by default)
        hparams["width"] = 8
    torch.manual_seed(0)
    models = {"source": create_method("source-only", spec, backbone)} if cls.REQUIRES else None  # CETL's S
    method = create_method(name, spec, backbone, hparams, total_iterations=6, models=models)
    streams = tiny_streams(cls, spec)
    losses = [method.step(streams.draw(), it)["loss"] for it in range(6)]
    assert all(torch.isfinite(torch.tensor(losses)))
    x = torch.rand(5, spec.image_shape[2], spec.image_shape[0], spec.image_shape[1])
    produces = {out: getattr(cls, out) is not getattr(Method, out) for out in ("predict", "reconstruct", "generate")}
    if isinstance(method, BankedMethod):  # a banked network classifies or, on ae9, outputs images
        produces = {"predict": not method.net.image_output, "reconstruct": method.net.image_output, "generate": False}
    assert any(produces.values()), f"{name} produces neither predictions, reconstructions nor samples"
    for t, k in enumerate(spec.num_classes):
        if produces["predict"]:
            assert method.predict(x, t).shape == (5, k)
        if produces["reconstruct"]:
            assert method.reconstruct(x, t).shape == x.shape
    state = copy.deepcopy(method.state_dict())
    clone = create_method(name, spec, backbone, hparams, total_iterations=6, models=models)
    clone.load_state_dict(state)
    if produces["generate"]:
        assert method.generate(1, 3).shape == (3, *x.shape[1:])
        torch.testing.assert_close(clone.generate(1, 3), method.generate(1, 3))
        return
    out = "predict" if produces["predict"] else "reconstruct"
    torch.testing.assert_close(getattr(clone, out)(x, 1), getattr(method, out)(x, 1))


def test_the_transfer_fixture_sees_hidden_target_labels_as_minus_one():
    from tests.fixture_methods import FixtureTransfer

    FixtureTransfer.seen_target_labels.clear()
    method = create_method("fixture-transfer", TRANSFER, "mlp")
    streams = tiny_streams(FixtureTransfer, TRANSFER)
    for it in range(8):
        method.step(streams.draw(), it)
    assert -1 in FixtureTransfer.seen_target_labels


def test_training_reduces_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    method = create_method("isolated", TINY, "dkl-convnet")
    x, y = tiny_batch()
    first = method.update(x, y, 0)["loss"]
    for it in range(1, 40):
        last = method.update(x, y, it)["loss"]
    assert last < 0.5 * first


def test_unknown_method_and_bad_hparams():
    with pytest.raises(KeyError, match="unknown method 'nope'"):
        create_method("nope", TINY, "mlp")
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        create_method("isolated", TINY, "mlp", {"learning_rate": 1})
    with pytest.raises(ValueError, match="must be a number"):
        create_method("isolated", TINY, "mlp", {"lr": "fast"})
    with pytest.raises(ValueError, match="positive"):
        create_method("isolated", TINY, "mlp", {"lr": -1.0})
    with pytest.raises(ValueError, match="shared_layers"):
        create_method("partial", TINY, "mlp", {"shared_layers": [7]})
    with pytest.raises(KeyError, match="unknown backbone"):
        create_method("isolated", TINY, "resnet-9000")


def test_assignments_of_the_hard_sharing_methods():
    described = {n: create_method(n, TINY, "dkl-convnet").describe() for n in ("isolated", "shareall", "partial")}
    assert described["isolated"]["distinct_slots_per_layer"] == [3, 3, 3, 3]
    assert described["shareall"]["distinct_slots_per_layer"] == [1, 1, 1, 1]
    assert described["partial"]["distinct_slots_per_layer"] == [1, 1, 3, 3]
    deep = create_method("deep", TINY, "dkl-convnet")
    assert deep.net.layers[0].norm.weight.shape[0] == 3  # one BN row per task (domain-specific)


def test_finetune_copies_shared_weights_at_the_switch():
    torch.manual_seed(0)
    m = create_method("finetune", TINY, "dkl-convnet", total_iterations=4)
    x, y = tiny_batch()
    for it in range(2):
        m.update(x, y, it)
    assert not m.finetuning
    w0 = m.net.layers[0].conv.weight[0].detach().clone()
    m.update(x, y, 2)  # switch happens before this step
    assert m.finetuning and m.describe()["distinct_slots_per_layer"] == [3, 3, 3, 3]
    assert torch.allclose(m.net.layers[0].conv.weight[1], m.net.layers[0].conv.weight[2], atol=1e-2)
    assert (m.net.layers[0].conv.weight[1] - w0).abs().max() < 1e-2  # started from the shared weights


def test_l2_penalty_matches_eq5_by_hand():
    torch.manual_seed(0)
    m = create_method("l2", TaskSpec(["a", "b"], [2, 2], (8, 8, 1)), "mlp", {"lambda": 2.0},
                      backbone_options={"hidden": (3, 3)})
    l1, l2 = m.net.layers
    d = [sum(((p[0] - p[1]) ** 2).sum() for p in layer.parameters()) for layer in (l1, l2)]
    expected = 2.0 * (d[0] + d[1])  # one adjacent pair (fc1, fc2): ||(θ1, θ2)_a - (θ1, θ2)_b||^2
    torch.testing.assert_close(m.penalty(), expected)


def test_pairwise_distance_identity():
    bank = torch.randn(4, 5, 3)
    direct = sum(((bank[i] - bank[j]) ** 2).sum() for i in range(4) for j in range(i + 1, 4))
    torch.testing.assert_close(pairwise_sq_distance(bank), direct)


def test_hard_shared_prefix_on_the_dkl_convnet():
    layers = backbone_layers("dkl-convnet", (28, 28, 1))  # 288, 9216, 9216, 36992 weights
    assert hard_shared_prefix(layers, 0.0) == 0
    assert hard_shared_prefix(layers, 0.25) == 2  # 17% is closer to 25% than 34%
    assert hard_shared_prefix(layers, 0.5) == 3
    assert create_method("l2-50", TaskSpec(["a", "b"], [2, 2], (28, 28, 1)), "dkl-convnet").describe()[
        "hard_shared_param_fraction"] == pytest.approx(18720 / 55712, abs=1e-4)


@pytest.mark.parametrize("assignment", [[[0, 0, 0, 0], [1, 1, 1, 1], [2, 2, 2, 2]],
                                        [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
                                        [[0, 1, 2, 0], [0, 0, 1, 1], [2, 1, 0, 1]]])
@pytest.mark.parametrize("norm", ["bn", "task-bn"])
@pytest.mark.parametrize("strategy", ["auto", "grouped", "per-slot"])
def test_batched_forward_equals_a_loop_over_tasks(assignment, norm, strategy):
    torch.manual_seed(0)
    layers = backbone_layers("dkl-convnet", (16, 16, 1))
    net = BankedNet(layers, [10, 26, 10], [3, 3, 3, 3], norm=norm)
    net.conv_strategy = strategy
    ref = copy.deepcopy(net)
    a, tasks = torch.tensor(assignment), torch.arange(3)
    x = torch.rand(3, 8, 1, 16, 16)
    for _ in range(2):  # twice, so the running moments diverge if updated differently
        out, out_ref = net(x, a, tasks), ref.forward_loop(x, a, tasks)
    finite = torch.isfinite(out_ref)
    assert torch.equal(torch.isfinite(out), finite)
    torch.testing.assert_close(out[finite], out_ref[finite])
    out[finite].pow(2).sum().backward()
    out_ref[finite].pow(2).sum().backward()
    for (name, p), q in zip(net.named_parameters(), ref.parameters()):
        scale = float(q.grad.abs().max()) + 1e-12  # summation order differs: compare relative to scale
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5 * scale, msg=name)
    for b, c in zip(net.buffers(), ref.buffers()):
        torch.testing.assert_close(b, c)
    net.eval()
    ref.eval()
    torch.testing.assert_close(net(x, a, tasks)[finite], ref.forward_loop(x, a, tasks)[finite])


def test_auto_strategy_with_many_distinct_slots_equals_the_loop():
    """12 distinct slots: `auto` takes the grouped convolution on CPU too; same result as a loop."""
    torch.manual_seed(0)
    T = 12
    net = BankedNet(backbone_layers("dkl-convnet", (8, 8, 1)), [3] * T, [T] * 4)
    ref = copy.deepcopy(net)
    a, tasks = torch.arange(T)[:, None].repeat(1, 4), torch.arange(T)
    x = torch.rand(T, 4, 1, 8, 8)
    out, out_ref = net(x, a, tasks), ref.forward_loop(x, a, tasks)
    torch.testing.assert_close(out, out_ref)
    for b, c in zip(net.buffers(), ref.buffers()):
        torch.testing.assert_close(b, c)
