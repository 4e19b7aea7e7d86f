"""The pieces Bilen's experiments add to the pipeline: input pipeline, evaluation variants, Holm families,
equality claims, experiment-level method defaults, and the paper module's consistency."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from sharebench.benchmarks.analysis import mann_whitney_tests, runs_frame
from sharebench.benchmarks.config import ConfigError, Experiment, experiments, load_params, resolve_experiment
from sharebench.benchmarks.inputs import InputPipeline, channel_stats, check_input_config
from sharebench.benchmarks.metrics import eval_batches
from sharebench.benchmarks.papers import bilen
from tests.conftest import MIRROR, REPO, needs_mirror

INPUT = {"normalize": "per-domain", "augment": {"pad_fraction": 0.25, "flip": True, "no_flip": ["digits"]}}


def test_whitening_uses_the_training_split_only_and_test_images_are_not_augmented():
    rng = np.random.RandomState(0)
    train = [rng.randint(0, 256, (50, 8, 8, 3)).astype(np.uint8), rng.randint(0, 100, (40, 8, 8, 3)).astype(np.uint8)]
    pipe = InputPipeline(check_input_config(INPUT), train, ["photos", "digits"], seed=0, device=torch.device("cpu"))
    x = torch.from_numpy(train[1]).permute(0, 3, 1, 2)
    white = pipe.test(x, 1)
    torch.testing.assert_close(white.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    mean, std = channel_stats(train[1])
    assert np.allclose(pipe.stats()[1]["mean"], mean) and np.allclose(pipe.stats()[1]["std"], std)
    torch.testing.assert_close(pipe.test(x, 1), white)  # deterministic


def test_augmentation_crops_within_the_padding_flips_only_allowed_tasks_and_resumes():
    x = torch.arange(2 * 64 * 3 * 8 * 8, dtype=torch.float32).remainder(256).to(torch.uint8).view(2, 64, 3, 8, 8)
    pipe = InputPipeline(check_input_config({"augment": {"pad_fraction": 0.25, "flip": True, "no_flip": ["b"]}}),
                         [np.zeros((1, 8, 8, 3), np.uint8)] * 2, ["a", "b"], seed=1, device=torch.device("cpu"))
    state = pipe.state()
    out = pipe.train(x, torch.tensor([0, 1]))
    plain = x.float() / 255
    # every crop of task b (no flips) is its image shifted by at most 2 px, zeros where it came from the padding
    for i in range(64):
        found = any(torch.equal(out[1, i], _shifted(plain[1, i], dy, dx)) for dy in range(-2, 3) for dx in range(-2, 3))
        assert found
    flipped = sum(not any(torch.equal(out[0, i], _shifted(plain[0, i], dy, dx)) for dy in range(-2, 3)
                          for dx in range(-2, 3)) for i in range(64))
    assert 10 < flipped < 54  # about half of task a's images are mirrored
    pipe.load_state(state)
    assert torch.equal(pipe.train(x, torch.tensor([0, 1])), out)


def _shifted(img: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    padded = torch.nn.functional.pad(img, (2, 2, 2, 2))
    return padded[:, 2 + dy:2 + dy + 8, 2 + dx:2 + dx + 8]


def test_bad_input_blocks_are_config_errors():
    for bad in ({"normalize": "global"}, {"augment": {"pad_fraction": 0.9}}, {"augment": {"zoom": 1}}):
        with pytest.raises(ValueError):
            check_input_config(bad)


def test_bn_plus_test_batches_are_fixed_near_equal_and_cover_every_image():
    parts = eval_batches(500, 2048, 128)
    sizes = [len(p) for p in parts]
    assert len(parts) == 4 and max(sizes) - min(sizes) <= 1
    assert sorted(torch.cat(parts).tolist()) == list(range(500))
    assert all(torch.equal(a, b) for a, b in zip(parts, eval_batches(500, 2048, 128)))


def _exp(comparisons) -> Experiment:
    params = load_params(REPO / "params.yaml")
    raw = dict(params["experiments"]["bilen-domains"], comparisons=comparisons)
    params["experiments"]["x"] = raw
    exp = resolve_experiment("x", raw, "quick", params)
    assert exp is not None
    return exp


def test_method_defaults_reach_every_arm_and_arms_override_them():
    exps, _ = experiments(load_params(REPO / "params.yaml"), "quick", ["bilen-domains"])
    arms = exps[0].arms
    assert all(a.hparams["optimizer"] == "sgd" and a.hparams["lr"] == 0.1 for a in arms.values())
    assert arms["bn-universal"].hparams["norm"] == "bn-shared-affine" and arms["deep"].hparams["norm"] == "task-bn"
    assert "deep-x4" not in arms  # drop_methods
    assert arms["deep-x2"].backbone_options["width_multiplier"] == 2
    assert arms["deep-x2"].backbone_options["units_per_stage"] == 1  # the profile's options kept


def test_variant_arms_in_comparisons_and_bad_margins():
    exp = _exp([{"a": "bn-universal@batch", "b": "bn-universal", "alternative": "less"}])
    assert exp.comparisons[0].method_a == "bn-universal@batch"
    with pytest.raises(ConfigError):
        _exp([{"a": "deep@batch", "b": "deep"}])  # deep is evaluated one way only
    with pytest.raises(ConfigError):
        _exp([{"a": "deep", "b": "isolated", "alternative": "less", "margin": 0.01}])


def test_variants_become_arms_and_families_and_equality_are_adjusted_apart():
    records = [{"experiment": "x", "method": "bn-universal", "seed": s, "metrics": {"error_task_mean": 0.5 + s / 100},
                "metrics_variants": {"batch": {"error_task_mean": 0.2 + s / 100}}} for s in range(5)]
    records += [{"experiment": "x", "method": arm, "seed": s, "metrics": {"error_task_mean": v + s / 1000}}
                for s in range(5) for arm, v in (("deep", 0.1), ("isolated", 0.105), ("in-universal", 0.3))]
    runs = runs_frame(records)
    assert set(runs.method) == {"bn-universal", "bn-universal@batch", "deep", "isolated", "in-universal"}
    exp = _exp([
        {"a": "bn-universal@batch", "b": "bn-universal", "alternative": "less", "metrics": ["error_task_mean"],
         "family": "table4"},
        {"a": "deep", "b": "in-universal", "alternative": "less", "metrics": ["error_task_mean"], "family": "table4"},
        {"a": "deep", "b": "isolated", "alternative": "less", "metrics": ["error_task_mean"], "family": "table3"},
        {"a": "deep", "b": "isolated", "metrics": ["error_task_mean"], "margin": 0.01}])
    tests = mann_whitney_tests(exp, runs)
    p = 1 / 252  # 5 vs 5, complete separation, one-sided
    assert tests.p.iloc[:3].tolist() == pytest.approx([p, p, p])
    assert tests.p_holm.iloc[:3].tolist() == pytest.approx([2 * p, 2 * p, p])  # Holm within each family
    eq = tests.iloc[3]
    assert eq.p_holm == eq.p and eq.delta == pytest.approx(-0.005) and eq.p < 0.05  # separated: they differ
    # ... but by 0.5 points, within the 1-point margin on both sides of every run: TOST shows equivalence
    assert eq.p_tost == pytest.approx(p) and eq.consistent and eq.hl_shift == pytest.approx(-0.005)


def test_paper_module_is_self_consistent():
    for arm, (values, mean) in bilen.TABLE3.items():
        assert abs(np.mean(values) - mean) < 0.1, arm  # the printed means (partial-last: 25.36 printed 25.3)
    exps, _ = experiments(load_params(REPO / "params.yaml"), "paper",
                          ["bilen-table2", "bilen-domains", "bilen-decathlon"])
    arms = {e.name: set(e.arms) for e in exps}
    for claim in bilen.CLAIMS:
        for label in (claim.a, claim.b):
            assert label.split("@")[0] in arms[claim.experiment], (claim.text, label)
    cells = pd.DataFrame([(t.title, r, c) for t in bilen.TABLES for (r, c) in t.paper])
    assert len(cells) == 3 * 4 + 2 * (6 * 11 + 5)  # Tables 3-4 for the offline domains and the paper's ten
    assert {c.experiment for c in bilen.CLAIMS} == set(arms)


def test_embedded_trio_is_three_digit_domains():
    from sharebench.datasets.suites import build_suite

    suite = build_suite("embedded-trio")
    assert [t.name for t in suite.tasks] == ["plain", "inverted", "rotated"]
    assert {t.meta["label_semantics"] for t in suite.tasks} == {"digits"} and suite.image_shape == (16, 16, 1)


@pytest.mark.slow  # decodes seven mirrored datasets (about 20 s)
@needs_mirror("cifar10/data_batch_1.webp", "fashion-mnist/t10k-images-idx3-ubyte.gz", "omniglot/images_background.zip",
              "mnist/train-images-idx3-ubyte.gz", "usps/usps.t.bz2", "kmnist/t10k-images-idx3-ubyte.gz")
def test_mini_decathlon_32_from_the_mirror(monkeypatch):
    """Six domains at 32 px RGB with caps; CIFAR-10 decoded from the mirror's mosaics and marked unverified; KMNIST
    and USPS carved 80/20 from their test splits, with notes."""
    from sharebench.datasets.importer import import_source
    from sharebench.datasets.suites import build_suite

    monkeypatch.setenv("SHAREBENCH_MIRROR", str(MIRROR))
    for name in ("cifar10", "fashion-mnist", "omniglot"):
        import_source(name, MIRROR / name)
    suite = build_suite("mini-decathlon-32", train_cap=2000, test_cap=100, omniglot_characters=20)
    assert [t.name for t in suite.tasks] == ["cifar10", "mnist", "fashion-mnist", "omniglot", "usps", "kmnist"]
    assert suite.image_shape == (32, 32, 3) and not suite.checksum_verified
    sizes = {t.name: (len(t.y_train), len(t.y_test), t.num_classes) for t in suite.tasks}
    assert sizes["cifar10"] == (2000, 100, 10) and sizes["omniglot"] == (320, 80, 20)
    assert sizes["usps"] == (1605, 100, 10)
    assert any("kmnist: no official training split" in n for n in suite.notes)
    assert [t.meta["label_semantics"] for t in suite.tasks] == ["", "digits", "", "", "digits", ""]
