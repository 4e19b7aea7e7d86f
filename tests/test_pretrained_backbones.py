"""The banked InceptionV3 (Zhang et al.'s paper profile): timm's network cut into 16 blocks, one copy per slot.

Built with random weights (`pretrained: False`) at 75 px, the smallest input InceptionV3 takes; the pretrained path is
checked for its offline error only (no network in tests).
"""

from __future__ import annotations

import copy

import pytest
import torch

from sharebench.datasets.errors import DataError
from sharebench.methods import pretrained_backbones
from sharebench.methods.l2 import hard_shared_prefix
from sharebench.methods.networks import BankedNet, backbone_layers
from sharebench.methods.registry import TaskSpec, create_method

timm = pytest.importorskip("timm")

SHAPE = (75, 75, 3)  # (H, W, C)
# specs/zhang.md 2.8: the conv weights of the 16 blocks, computed there from the TF-slim network
SPEC_BLOCK_SIZES = [864, 9216, 18432, 5120, 138240, 254976, 276480, 284160, 1152000, 1294336, 1687552, 1687552,
                    2138112, 1695744, 5038080, 6070272]


@pytest.fixture(scope="module")
def layers():
    torch.manual_seed(0)
    return backbone_layers("inception-v3", SHAPE, pretrained=False)


def test_the_16_blocks_have_the_spec_s_sizes_and_l2_25_50_share_11_and_14_of_them(layers):
    assert [spec.num_params() for spec in layers] == SPEC_BLOCK_SIZES
    assert [spec.name for spec in layers][-3:] == ["Mixed_7a", "Mixed_7b", "Mixed_7c"]
    assert layers[-1].out_features == 2048 and layers[-1].global_pool and layers[-1].dropout == 0.2
    total = sum(SPEC_BLOCK_SIZES)
    assert hard_shared_prefix(layers, 0.25) == 11 and round(sum(SPEC_BLOCK_SIZES[:11]) / total, 3) == 0.235
    assert hard_shared_prefix(layers, 0.5) == 14 and round(sum(SPEC_BLOCK_SIZES[:14]) / total, 3) == 0.489


def test_each_slot_computes_timm_s_own_network(monkeypatch):
    """Built from a timm network (its weights in every slot) and with the head set to its classifier, the banked
    network's logits equal timm's in eval mode."""
    torch.manual_seed(0)
    reference = timm.create_model("inception_v3.tf_in1k", pretrained=False, num_classes=5).eval()
    monkeypatch.setattr(pretrained_backbones, "timm_model", lambda name, pretrained: copy.deepcopy(reference))
    layers = backbone_layers("inception-v3", SHAPE)
    net = BankedNet(layers, [5, 5], [2] * len(layers)).eval()
    with torch.no_grad():
        net.head.linear.weight[1].copy_(reference.fc.weight)
        net.head.linear.bias[1].copy_(reference.fc.bias)
    x = torch.rand(3, 3, 75, 75)
    assignment = torch.tensor([[0] * 16, [1] * 16])
    with torch.no_grad():
        ours = net(x.unsqueeze(0), assignment, torch.tensor([1]))[0]
        expected = reference(x)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-4)


def test_slots_train_their_own_batch_norm_and_get_their_own_gradients(layers):
    torch.manual_seed(1)
    net = BankedNet(layers, [3, 4], [2] * len(layers)).train()
    first = net.layers[0]
    moments_before = first.stacked_buffers[0].clone()  # Conv2d_1a's BN running mean, [2, 32]
    x = torch.rand(2, 2, 3, 75, 75)
    x[1] += 1.0  # task 1's images are brighter: its moments differ
    logits = net(x, torch.tensor([[0] * 16, [1] * 16]), torch.tensor([0, 1]))
    logits[0].logsumexp(-1).sum().backward()  # task 0's loss only
    moments = first.stacked_buffers[0]
    assert not torch.equal(moments[0], moments_before[0]) and not torch.equal(moments[1], moments_before[1])
    assert not torch.allclose(moments[0], moments[1])
    grad = first.weights[0].grad  # Conv2d_1a's kernel, [2, 32, 3, 3, 3]
    assert grad[0].abs().sum() > 0 and grad[1].abs().sum() == 0


def test_l2_on_inception_starts_at_zero_distance_and_ties_only_conv_weights(layers):
    spec = TaskSpec(["birds", "dogs"], [4, 3], SHAPE)
    method = create_method("l2", spec, "inception-v3", {"same_init": True, "optimizer": "sgd", "lr": 0.01},
                           backbone_options={"pretrained": False})
    assert float(method.penalty().detach()) == 0.0
    unit = method.net.layers[5]  # Mixed_5b
    assert sum(p[0].numel() for p in unit.core_parameters()) == SPEC_BLOCK_SIZES[5]
    assert len(unit.norm_parameters()) == 2 * len(unit.core_parameters())  # every conv has a BN (scale, shift)
    x = torch.rand(2, 2, 3, 75, 75)
    out = method.update(x, torch.tensor([[0, 1], [2, 0]]), 0)
    assert out["penalty"] == 0.0 and float(method.penalty().detach()) > 0  # one step apart, the copies now differ


def test_pretrained_weights_offline_name_the_weights_and_how_to_get_them(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))  # an empty cache
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # as before any offline run
    with pytest.raises(DataError, match="timm:inception_v3.tf_in1k.*Hugging Face"):
        backbone_layers("inception-v3", (299, 299, 3))


def test_inception_refuses_grey_or_tiny_images():
    with pytest.raises(ValueError, match="at least 75"):
        backbone_layers("inception-v3", (28, 28, 1), pretrained=False)
