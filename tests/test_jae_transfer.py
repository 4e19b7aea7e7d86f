"""JAE transfer (Epstein et al. Sec. 3.2-4.2): tasks at their native sizes (MNIST 28 x 28 beside USPS 16 x 16), the
USPS version the paper's comparisons used, labelled-sample budgets as arms, the common-branch procedure and the
Fig. 3(d) freeze."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import torch

from sharebench.benchmarks.config import ConfigError, resolve_experiment
from sharebench.benchmarks.runner import Job, run_job
from sharebench.datasets.errors import DataError
from sharebench.datasets.parsers import parse_esl_usps
from sharebench.datasets.suites import SUITE_BUILDERS, Suite, Task, build_suite, on_canvas, save_suite
from sharebench.methods import TaskSpec, create_method
from tests.conftest import MIRROR, needs_mirror

MU = TaskSpec(["mnist", "usps"], [10, 10], (28, 28, 1), ("source", "target"), native_shapes=((28, 28, 1), (16, 16, 1)))
PAIR = TaskSpec(["src", "tgt"], [4, 4], (8, 8, 1), ("source", "target"))
TINY = {"hidden": [16, 8, 4, 8, 16]}


def test_esl_usps_text_becomes_16_px_uint8_digits(tmp_path):
    rng = np.random.RandomState(0)
    values = np.round(rng.uniform(-1, 1, (3, 256)), 3)
    path = tmp_path / "zip.train.gz"
    path.write_bytes(gzip.compress("\n".join(" ".join([f"{d}.0000"] + [f"{v:.3f}" for v in row])
                                             for d, row in zip([7, 0, 9], values)).encode()))
    out = parse_esl_usps([path], {})
    assert out["x"].shape == (3, 16, 16, 1) and out["y"].tolist() == [7, 0, 9]
    assert out["x"][0, 0, 0, 0] == round((values[0, 0] + 1) / 2 * 255)
    path.write_bytes(gzip.compress(b"1 0.5 0.5\n"))
    with pytest.raises(DataError, match="257 columns"):
        parse_esl_usps([path], {})


@needs_mirror("usps/usps-kaggle.npz", "mnist/train-images-idx3-ubyte.gz")
def test_digits_mu_holds_adda_s_2000_mnist_and_1800_esl_usps_at_native_size(monkeypatch):
    from sharebench.datasets.importer import import_source
    from sharebench.datasets.sources import get_source

    monkeypatch.setenv("SHAREBENCH_MIRROR", str(MIRROR))
    assert (MIRROR / get_source("usps-esl").mirror_import).exists()  # what `import_from_mirror` imports
    import_source("usps-esl", MIRROR / "usps" / "usps-kaggle.npz")
    suite = build_suite("digits-mu")
    assert [(t.name, len(t.y_train), len(t.y_test)) for t in suite.tasks] == [
        ("mnist", 2000, 10000), ("usps", 1800, 2007)]
    assert suite.native_shapes == ((28, 28, 1), (16, 16, 1)) and suite.image_shape == (28, 28, 1)
    assert not suite.checksum_verified  # the imported USPS arrays carry no official checksum
    usps = suite.tasks[1].x_train
    assert usps[:, 16:].max() == 0 and usps[:, :, 16:].max() == 0 and usps[:, :16, :16].max() > 0
    assert build_suite("digits-mu", usps_size=28).native_shapes == ((28, 28, 1),) * 2


def test_the_papers_mnist_usps_model_has_1_36_million_parameters():
    """Sec. 4.2: "the models used for MNIST -> USPS and USPS -> MNIST have 1.36M parameters"; branches
    [256, 128, 32, 128, 256] with 784 and 256 inputs and a linear classifier per task give exactly 1,361,284
    (specs/jae.md 2.1)."""
    m = create_method("jae", MU, "jae-mlp", {"classify": True}, backbone_options={"hidden": [256, 128, 32, 128, 256]})
    assert m.describe()["params"] == 1_361_284
    assert m.describe()["input_dims"] == [784, 256]


def test_a_task_on_a_canvas_is_read_and_reconstructed_at_its_own_size():
    torch.manual_seed(0)
    m = create_method("jae", MU, "jae-mlp", {"classify": True}, backbone_options=TINY)
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, :16, :16] = torch.rand(4, 1, 16, 16)
    out = m.reconstruct(x, 1)
    assert out.shape == x.shape and out[:, :, 16:].abs().sum() == 0 and out[:, :, :, 16:].abs().sum() == 0
    assert m.predict(x, 1).shape == (4, 10)
    noise = x.clone()
    noise[:, :, 20:, 20:] = 1.0  # pixels outside USPS' corner never reach its branch
    assert torch.equal(m.reconstruct(noise, 1), out)
    batch = torch.rand(2, 3, 1, 28, 28) * torch.tensor([1.0, 0.0]).view(2, 1, 1, 1, 1)
    batch[1, :, :, :16, :16] = torch.rand(3, 1, 16, 16)
    assert np.isfinite(m.update(batch, torch.randint(0, 10, (2, 3)), 0)["loss"])
    with pytest.raises(ValueError, match="early sharing is impossible"):
        create_method("jae", MU, "jae-mlp", {"shared_depth": 1}, backbone_options=TINY)
    with pytest.raises(ValueError, match="one image size"):
        create_method("isolated", MU, "mlp")


def test_a_suite_with_pixels_outside_a_tasks_native_corner_is_refused():
    x = on_canvas(np.full((2, 4, 4, 1), 9, np.uint8), (8, 8, 1))
    y = np.zeros(2, np.int64)
    task = Task("small", x.copy(), y, x.copy(), y, 1, {"native_shape": [4, 4, 1]})
    Suite("s", [task]).validate()
    task.x_test[0, 6, 6, 0] = 1
    with pytest.raises(DataError, match="outside its native"):
        Suite("s", [task]).validate()


def _weights(m) -> dict[str, torch.Tensor]:
    return {f"{name}.{i}": layer.weight.detach().clone()
            for name, branch in (("private", m.private), ("shared", m.shared))
            for i, layer in enumerate(branch.layers)} | {"output": m.output.weight.detach().clone(),
                                                         "head": m.head.linear.weight.detach().clone()}


def _train(m, steps: range) -> None:
    g = torch.Generator().manual_seed(steps.start)
    for it in steps:
        m.update(torch.rand(2, 6, 1, 8, 8, generator=g), torch.randint(0, 4, (2, 6), generator=g), it)


def test_common_branch_trains_the_source_path_then_only_the_targets_private_encoder_and_head():
    """Sec. 3.2: (1) reconstruction of both tasks; (2) source labels train the source branches up to the shared
    layer W_c and the source head; (3) with W_c fixed, target labels train the target's private branch and head.
    Adam's momentum from an earlier phase moves nothing (a fresh optimiser state per phase)."""
    torch.manual_seed(0)
    m = create_method("jae", PAIR, "jae-mlp", {"classify": True, "procedure": "common-branch",
                                               "phases": [0.4, 0.3, 0.3]}, backbone_options=TINY, total_iterations=10)
    assert [m.phase_of(i) for i in range(10)] == [0] * 4 + [1] * 3 + [2] * 3
    _train(m, range(0, 4))
    before = _weights(m)
    _train(m, range(4, 7))
    after = _weights(m)
    moved = {k for k in before if not torch.equal(before[k][0], after[k][0])}  # the source's row (slot 0)
    assert moved == {"private.0", "private.1", "private.2", "shared.0", "shared.1", "shared.2", "head"}
    assert all(torch.equal(before[k][1], after[k][1]) for k in before if before[k].shape[0] == 2)  # target rows
    _train(m, range(7, 10))
    final = _weights(m)
    assert torch.equal(after["shared.2"], final["shared.2"])  # W_c stays fixed in phase 3
    moved = {k for k in after if after[k].shape[0] == 2 and not torch.equal(after[k][1], final[k][1])}
    assert moved == {"private.0", "private.1", "private.2", "head"}
    assert all(torch.equal(after[k][0], final[k][0]) for k in after if after[k].shape[0] == 2)  # source rows


@pytest.mark.parametrize("after_freeze", ["source-recon", "none"])
def test_after_the_freeze_only_the_source_reconstruction_trains(after_freeze):
    """Fig. 3(d): from `freeze_at` on, the target's weights stay bit-identical (20 steps, despite Adam's momentum);
    the source reconstruction keeps training the shared layer; the control updates nothing."""
    torch.manual_seed(0)
    m = create_method("jae", PAIR, "jae-mlp", {"classify": True, "freeze_at": 5, "after_freeze": after_freeze},
                      backbone_options=TINY, total_iterations=25)
    _train(m, range(0, 5))
    before = _weights(m)
    _train(m, range(5, 25))
    after = _weights(m)
    assert all(torch.equal(before[k][1], after[k][1]) for k in before if before[k].shape[0] == 2)
    assert torch.equal(before["head"], after["head"])
    assert torch.equal(before["shared.2"], after["shared.2"]) == (after_freeze == "none")


def test_staged_procedures_refuse_what_they_cannot_do():
    for hparams, match in [({"procedure": "common-branch"}, "classify"),
                           ({"classify": True, "procedure": "common-branch", "weight_decay": 1e-4}, "weight_decay"),
                           ({"classify": True, "procedure": "both"}, "procedure"),
                           ({"classify": True, "phases": [0.5, 0.5]}, "phases"),
                           ({"classify": True, "freeze_at": 3, "after_freeze": "target"}, "after_freeze")]:
        with pytest.raises(ValueError, match=match):
            create_method("jae", PAIR, "jae-mlp", hparams, backbone_options=TINY)
    with pytest.raises(ValueError, match="roles"):
        create_method("jae", TaskSpec(["a", "b"], [4, 4], (8, 8, 1)), "jae-mlp",
                      {"classify": True, "freeze_at": 3}, backbone_options=TINY)


def _tiny_mu_suite() -> Suite:
    rng = np.random.RandomState(0)
    tasks = []
    for name, size in (("big", 8), ("small", 4)):
        x = rng.randint(0, 256, (40, size, size, 1)).astype(np.uint8)
        y = np.tile(np.arange(4), 10)
        meta = {"native_shape": [size, size, 1]} if size == 4 else {}
        tasks.append(Task(name, on_canvas(x[:24], (8, 8, 1)), y[:24], on_canvas(x[24:], (8, 8, 1)), y[24:], 4, meta))
    return Suite("tiny-mu", tasks)


TRANSFER = {"suite": "tiny-mu", "backbone": "jae-mlp", "backbone_options": TINY, "batch_per_task": 4,
            "roles": {"big": "source", "small": "target"}, "eval_tasks": ["target"], "metrics": ["accuracy",
                                                                                              "recon_sse"],
            "method_defaults": {"classify": True}, "target_labels": {"per_class": 2}, "reference": "k2",
            "methods": {"k2": {"method": "jae"}, "k4": {"method": "jae", "target_labels": {"per_class": 4}},
                        "cb": {"method": "jae", "procedure": "common-branch", "phases": [0.5, 0.3, 0.2]}},
            "profiles": {"quick": {"iterations": 10, "eval_interval": 2, "seeds": 1}}}


@pytest.fixture
def tiny_mu(monkeypatch):
    monkeypatch.setitem(SUITE_BUILDERS, "tiny-mu", _tiny_mu_suite)
    save_suite(_tiny_mu_suite())
    return resolve_experiment("e", TRANSFER, "quick", {"experiments": {"e": TRANSFER}})


def test_an_arm_sees_its_own_labelled_target_budget(tiny_mu):
    records = {arm: run_job(Job(tiny_mu, arm, 0), progress=False) for arm in ("k2", "k4")}
    assert records["k2"]["labels_visible"] == {"big": 24, "small": 8}  # 2 per class of the target
    assert records["k4"]["labels_visible"] == {"big": 24, "small": 16}
    assert records["k4"]["config"]["target_labels"] == {"per_class": 4}
    bad = {**TRANSFER, "methods": {"k2": {"method": "jae", "target_labels": {"per_class": 1, "fraction": 1}}}}
    with pytest.raises(ConfigError, match="target_labels"):
        resolve_experiment("e", bad, "quick", {"experiments": {"e": bad}})


def test_a_common_branch_run_resumed_inside_phase_two_equals_an_uninterrupted_one(tiny_mu, tmp_path, monkeypatch):
    whole = run_job(Job(tiny_mu, "cb", 0), progress=False)
    monkeypatch.setenv("SHAREBENCH_RESULTS", str(tmp_path / "again"))
    with pytest.raises(KeyboardInterrupt):
        run_job(Job(tiny_mu, "cb", 0), progress=False, stop_after=6)  # phase 2 runs iterations 5-7
    resumed = run_job(Job(tiny_mu, "cb", 0), progress=False)
    assert resumed["resumed_from"] == 6
    assert json.dumps(whole["curves"]) == json.dumps(resumed["curves"])


def test_the_svhn_suites_say_offline_what_is_missing_and_how_to_import_it():
    from sharebench.datasets.digit_transfer import gray28
    from sharebench.datasets.errors import MissingDataError

    for name in ("svhn-mnist", "svhn-usps", "svhn-mnist-usps"):
        with pytest.raises(MissingDataError, match=r"(?s)svhn.*train_32x32\.mat.*sharebench import svhn"):
            build_suite(name)
    rgb = np.zeros((2, 32, 32, 3), np.uint8)
    rgb[..., 1] = 255  # pure green: PIL's "L" weighs it 0.587
    out = gray28(rgb)
    assert out.shape == (2, 28, 28, 1) and abs(int(out[0, 5, 5, 0]) - 150) <= 1


def test_fisher_criterion_matches_the_closed_form_and_n_times_j_is_size_free():
    from sharebench.methods.jae_analysis import fisher_criterion

    rng = np.random.RandomState(0)
    for n in (200, 2000):
        a, b = rng.randn(n, 2), rng.randn(n, 2) + [3.0, 0.0]
        points, groups = np.concatenate([a, b]), np.repeat([0, 1], n)
        scatter = sum((g - g.mean(0)).T @ (g - g.mean(0)) for g in (a, b))
        delta = b.mean(0) - a.mean(0)
        assert fisher_criterion(points, groups) == pytest.approx(delta @ np.linalg.solve(scatter, delta))
        assert 2 * n * fisher_criterion(points, groups) == pytest.approx(9, rel=0.15)  # N d^2 / (N s^2), s = 1


def test_the_jae_reports_figure_2_separation_for_two_tasks_and_the_fingerprint_covers_it():
    from sharebench.benchmarks.provenance import method_modules

    torch.manual_seed(0)
    m = create_method("jae", PAIR, "jae-mlp", {"fig2_points": 60}, backbone_options=TINY)
    x = [torch.rand(40, 1, 8, 8), torch.rand(40, 1, 8, 8) * 0.2]
    out = m.final_analysis(x, [torch.zeros(40, dtype=torch.long)] * 2)
    assert {"fisher/private", "fisher/shared", "fisher_ratio", "varratio/private", "varratio/shared",
            "fisher_n/private", "fisher_raw/shared"} <= set(out)
    assert all(np.isfinite(v) for v in out.values())
    assert create_method("jae", PAIR, "jae-mlp", {}, backbone_options=TINY).final_analysis(x, x) == {}
    assert "sharebench.methods.jae_analysis" in method_modules("jae")
    assert "sharebench.methods.hard_sharing" in method_modules("ae")


def test_the_report_draws_figure_3_and_counts_seeds_above_the_quoted_literature(tmp_path):
    import pandas as pd

    from sharebench.benchmarks.config import experiments, load_params
    from sharebench.benchmarks.papers import jae
    from tests.conftest import REPO

    exps = {e.name: e for e in experiments(load_params(REPO / "params.yaml"), "small")[0] if e.name in jae.DIGITS}
    runs = pd.DataFrame([{"experiment": name, "method": arm, "seed": s, "metric": "accuracy",
                          "value": 0.80 + 0.002 * int(arm.rsplit("k", 1)[1].split("-")[0]) + 0.001 * s}
                         for name, exp in exps.items() for arm in exp.arms if "-k" in arm for s in range(5)])
    curves = pd.DataFrame([{"experiment": "jae-mnist-usps", "method": arm, "seed": 0, "iteration": it,
                            "accuracy": 0.8 + it / 1e4} for arm in ("fig3d-continue", "fig3d-stop", "jae-k50")
                           for it in (0, 128, 1280)])
    summary = pd.DataFrame(columns=["experiment", "method", "metric", "mean", "std", "n"])
    lines = jae._digit_figures(exps, {"runs": runs, "curves": curves, "summary": summary}, tmp_path)
    text = "\n".join(lines)
    assert (tmp_path / "figures" / "jae-mnist-usps-fig3.png").exists()
    assert (tmp_path / "figures" / "jae-mnist-usps-fig3d.png").exists()
    assert "> CoGAN 91.2" in text and "> ADDA fine-tuned at 50 per digit 92.6" in text
    assert "| jae-k50 | 90.2 ± 0.2 (5) | 0 / 5" in text  # 90.0-90.4 % beats no quoted method above 90


def test_a_shared_classifier_needs_tasks_that_label_the_same_things():
    digits = TaskSpec(["src", "tgt"], [4, 4], (8, 8, 1), ("source", "target"), ("digits", "digits"))
    m = create_method("jae", digits, "jae-mlp", {"classify": True, "classifier": "shared"}, backbone_options=TINY)
    assert m.head.linear.weight.shape[0] == 1  # one output layer for both tasks
    halves = TaskSpec(["a", "b"], [4, 4], (8, 8, 1), label_semantics=("digits 0-4 as 0-4", "digits 5-9 as 0-4"))
    for spec in (PAIR, halves):
        with pytest.raises(ValueError, match="label"):
            create_method("jae", spec, "jae-mlp", {"classify": True, "classifier": "shared"}, backbone_options=TINY)
    with pytest.raises(ValueError, match="per-task classifiers"):
        create_method("jae", digits, "jae-mlp", {"classify": True, "classifier": "shared", "freeze_at": 3},
                      backbone_options=TINY)
    with pytest.raises(ValueError, match="classifier must be"):
        create_method("jae", digits, "jae-mlp", {"classifier": "both"}, backbone_options=TINY)


def _celeba_files(tmp_path, n: int = 6):
    """img_align_celeba.zip (178 x 218 JPEGs in img_align_celeba/) and list_attr_celeba.txt, the official layout."""
    import io
    import zipfile

    from PIL import Image

    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    with zipfile.ZipFile(tmp_path / "img_align_celeba.zip", "w") as zf:
        for i, name in enumerate(names):
            img = np.zeros((218, 178, 3), np.uint8)
            img[39:179, 19:159] = 40 * i  # the 140 x 140 centre the crop keeps
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="JPEG", quality=95)
            zf.writestr(f"img_align_celeba/{name}", buf.getvalue())
    attributes = ["5_o_Clock_Shadow", "Male", "Young"]
    lines = [str(n), " ".join(attributes)] + [f"{name} -1 {1 if i % 2 else -1} 1" for i, name in enumerate(names)]
    (tmp_path / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    return [tmp_path / "img_align_celeba.zip", tmp_path / "list_attr_celeba.txt"]


def test_celeba_gives_centre_cropped_faces_of_each_gender_and_says_how_to_import_them(tmp_path):
    from sharebench.datasets.errors import MissingDataError
    from sharebench.datasets.parsers import parse_celeba_gender

    out = parse_celeba_gender(_celeba_files(tmp_path), {"per_gender": 2, "seed": 666, "crop": 140, "size": 32})
    assert out["x"].shape == (4, 32, 32, 3) and out["y"].tolist() == [0, 0, 1, 1]
    assert out["x"].std(axis=(1, 2, 3)).max() < 3  # only the uniform centre survives the crop
    levels = sorted(int(v) for v in out["x"].mean(axis=(1, 2, 3)).round())
    assert all(abs(v - 40 * round(v / 40)) <= 3 for v in levels)
    with pytest.raises(MissingDataError, match=r"(?s)img_align_celeba\.zip.*sharebench import celeba"):
        build_suite("celeba-gender")
