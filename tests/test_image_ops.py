"""Inception-style preprocessing (benchmarks/image_ops.py) against slicing and Python's colorsys, and the input block
that turns it on."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest
import torch

from sharebench.benchmarks.image_ops import (
    adjust_saturation,
    central_crop_resize,
    crop_resize,
    sample_boxes,
)
from sharebench.benchmarks.inputs import InputPipeline, check_input_config

INCEPTION = {"normalize": "inception", "test_crop": {"fraction": 0.875, "size": 20},
             "augment": {"resized_crop": {"size": 20}, "flip": True, "colour": "slim-fast"}}


def test_boxes_stay_inside_cover_at_least_min_covered_and_keep_the_aspect_range():
    g = torch.Generator().manual_seed(0)
    boxes = sample_boxes(2000, 32, 40, (0.05, 1.0), (0.75, 1.33), 0.1, g)
    top, left, h, w = boxes.unbind(1)
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 32).all() and (left + w <= 40).all()
    area = h * w / (32 * 40)
    assert area.min() >= 0.08 and area.max() <= 1.0  # >= 0.1 up to the rounding of small boxes
    ratio = w / h
    assert ratio.min() > 0.6 and ratio.max() < 1.6 and ratio.std() > 0.1
    assert area.std() > 0.1  # scale varies


def test_a_box_resized_to_its_own_size_is_the_slice():
    x = torch.rand(2, 3, 12, 10)
    boxes = torch.tensor([[2.0, 3.0, 4.0, 4.0], [0.0, 0.0, 12.0, 10.0]])
    torch.testing.assert_close(crop_resize(x[:1], boxes[:1], 4), x[:1, :, 2:6, 3:7])
    whole = crop_resize(x[1:], boxes[1:], 6)  # the whole image, bilinear as torch's (and TF's) resize
    torch.testing.assert_close(whole, torch.nn.functional.interpolate(x[1:], size=(6, 6), mode="bilinear",
                                                                      align_corners=False))


def test_central_crop_is_slim_s_87_5_percent():
    x = torch.rand(1, 3, 320, 320)
    torch.testing.assert_close(central_crop_resize(x, 0.875, 280), x[..., 20:300, 20:300])


def test_saturation_is_scaled_in_hsv_as_colorsys_does():
    rng = np.random.RandomState(0)
    pixels = rng.rand(200, 3)
    factors = rng.uniform(0.5, 1.5, 200)
    expected = []
    for (r, g, b), f in zip(pixels, factors):
        h, s, v = colorsys.rgb_to_hsv(r, g, b)
        expected.append(colorsys.hsv_to_rgb(h, min(1.0, s * f), v))
    x = torch.tensor(pixels, dtype=torch.float64).view(200, 3, 1, 1)
    out = adjust_saturation(x, torch.tensor(factors)).view(200, 3)
    np.testing.assert_allclose(out.numpy(), np.array(expected), atol=1e-12)


def test_the_inception_input_block_crops_distorts_and_resumes():
    config = check_input_config(INCEPTION)
    train = [np.random.RandomState(1).randint(0, 256, (10, 24, 24, 3)).astype(np.uint8)]
    pipe = InputPipeline(config, train, ["birds"], seed=0, device=torch.device("cpu"))
    x = torch.from_numpy(train[0]).permute(0, 3, 1, 2).unsqueeze(0)
    state = pipe.state()
    out = pipe.train(x, torch.tensor([0]))
    assert out.shape == (1, 10, 3, 20, 20) and out.min() >= -1 and out.max() <= 1
    pipe.load_state(state)
    assert torch.equal(pipe.train(x, torch.tensor([0])), out)
    test = pipe.test(x[0], 0)
    expected = central_crop_resize(x[0].float() / 255, 0.875, 20) * 2 - 1
    torch.testing.assert_close(test, expected)


@pytest.mark.parametrize("bad", [{"augment": {"resized_crop": {"area": [0.5, 0.2]}}},
                                 {"augment": {"resized_crop": {"zoom": 2}}}, {"augment": {"colour": "vivid"}},
                                 {"test_crop": {"fraction": 1.5, "size": 299}}, {"normalize": "imagenet"}])
def test_bad_inception_blocks_are_config_errors(bad):
    with pytest.raises(ValueError):
        check_input_config(bad)


def test_older_input_blocks_keep_their_validated_form():
    """Blocks without the new keys validate to what they did before (their configuration hashes are unchanged)."""
    assert check_input_config({"normalize": "per-domain", "augment": {"pad_fraction": 0.125, "flip": True}}) == {
        "normalize": "per-domain", "augment": {"pad_fraction": 0.125, "flip": True, "no_flip": []}}
