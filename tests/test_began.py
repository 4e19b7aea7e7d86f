"""BEGAN learned jointly (Zhang et al., Figure 6's groups G2 and G3): the architecture, the losses and Eq. 4's k
control by hand, the sharing schemes on both chains, resume, CelebA as 64 px faces, the GAN suites' offline errors
and the paper-profile experiments."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from sharebench.benchmarks.config import load_params, resolve_experiment
from sharebench.datasets.errors import MissingDataError
from sharebench.datasets.suites import build_suite
from sharebench.methods import TaskSpec, create_method
from sharebench.methods.began import EluBlock
from tests.test_jae_transfer import _celeba_files

REPO = Path(__file__).resolve().parents[1]
SPEC = TaskSpec(["a", "b"], [1, 1], (16, 16, 3))


def _began(name: str = "began-isolated", iterations: int = 10, spec: TaskSpec = SPEC, **hparams):
    torch.manual_seed(0)
    return create_method(name, spec, "began", {"width": 4, "latent": 8, **hparams}, total_iterations=iterations)


def _batch(seed: int = 0, spec: TaskSpec = SPEC) -> torch.Tensor:
    h, w, c = spec.image_shape
    return torch.rand(spec.num_tasks, 5, c, h, w, generator=torch.Generator().manual_seed(seed))


def test_the_networks_follow_began_at_64_px():
    """G: z -> 8 x 8 x n, blocks up to 64 px, a 3x3 convolution to RGB; D: encoder with n, 2n, 3n, 4n channels and
    stride-2 convolutions between its blocks, a linear code of h, then a decoder like G."""
    m = _began(spec=TaskSpec(["a"], [1], (64, 64, 3)), width=8, latent=16)
    assert m.g.names == ["fc", "block1", "block2", "block3", "block4", "out"]
    assert m.d.names == ["enc_in", "enc_block1", "enc_block2", "enc_block3", "enc_block4", "enc_fc",
                         "dec_fc", "dec_block1", "dec_block2", "dec_block3", "dec_block4", "dec_out"]
    blocks = [u for u in m.d.layers[1:5]]
    assert all(isinstance(b, EluBlock) for b in blocks)
    assert [b.convs[-1].weight.shape[1] for b in blocks] == [8, 16, 24, 32]  # n, 2n, 3n, 4n channels
    assert [b.down is not None for b in blocks] == [True, True, True, False]
    z = torch.randn(1, 3, 16)
    images = m.g(z, m.slots)
    assert images.shape == (1, 3, 3, 64, 64)
    assert m.d(images, m.slots).shape == images.shape
    assert m.d.layers[5].linear.weight.shape[1:] == (16, 32 * 8 * 8)  # 4n x 8 x 8 -> h


def test_losses_and_the_k_control_by_hand():
    """L(v) = mean |v - D(v)|; D loss sum_t L(x_t) - k_t L(G(z_t)); k <- clip(k + lambda_k (gamma L(x) - L(G(z))))."""
    m = _began(lambda_k=0.1)
    x = _batch()
    v = m.from_pixels(x)
    assert v.min() >= -1 and v.max() <= 1 and torch.allclose(m.to_pixels(v), x)
    expected = (v - m.d(v, m.slots)).abs().mean(dim=(1, 2, 3, 4))
    torch.testing.assert_close(m.reconstruction_loss(v), expected)
    m.k = torch.tensor([0.25, 0.5])
    z = torch.randn(2, 5, 8)
    with torch.no_grad():
        real, fake = m.reconstruction_loss(v), m.reconstruction_loss(m.g(z, m.slots))
        torch.testing.assert_close(m.d_loss(v, z), (real - m.k * fake).sum())
        torch.testing.assert_close(m.g_loss(z), fake.sum())
    out = m.after_step()
    torch.testing.assert_close(m.k, (torch.tensor([0.25, 0.5]) + 0.1 * (0.5 * real - fake)).clamp(0, 1))
    assert out["convergence_m"] == pytest.approx(float((real + (0.5 * real - fake).abs()).sum()), rel=1e-6)
    m._last = (torch.tensor([100.0, -100.0]), torch.tensor([0.0, 0.0]))
    m.after_step()
    assert m.k.tolist() == [1.0, 0.0]  # clipped to [0, 1]


def test_the_d_step_moves_only_d_and_the_g_step_only_g():
    m = _began()
    g0, d0 = copy.deepcopy(m.g.state_dict()), copy.deepcopy(m.d.state_dict())
    out = m.update(_batch(), torch.zeros(2, 5, dtype=torch.long), 0)
    assert set(out) >= {"loss_d", "loss_g", "loss", "k_mean", "convergence_m"}
    assert any(not torch.equal(d0[k], v) for k, v in m.d.state_dict().items())
    assert any(not torch.equal(g0[k], v) for k, v in m.g.state_dict().items())
    assert m.k.gt(0).all()  # k_0 = 0, then gamma L(x) - L(G(z)) > 0 for an untrained G


def _steps(m, iterations: range) -> None:
    for it in iterations:
        torch.manual_seed(100 + it)  # the step's z
        m.update(_batch(it), None, it)


@pytest.mark.parametrize("sharing", ["isolated", "shareall", "finetune", "l2", "irls"])
def test_every_sharing_scheme_trains_and_resumes_exactly(sharing):
    """Five steps, a checkpoint, five more: the same networks and k as ten steps in one go (finetune switches and
    IRLS reweights inside the second half)."""
    name = f"began-{sharing}"
    whole = _began(name, reweight_every=2)
    _steps(whole, range(10))
    part = _began(name, reweight_every=2)
    _steps(part, range(5))
    resumed = _began(name, reweight_every=2)
    resumed.load_state_dict(copy.deepcopy(part.state_dict()))  # Adam's load keeps the tensors it is given
    _steps(resumed, range(5, 10))
    torch.testing.assert_close(resumed.k, whole.k)
    torch.testing.assert_close(resumed.generate(0, 4), whole.generate(0, 4))
    samples = resumed.generate(1, 4)
    assert samples.min() >= 0 and samples.max() <= 1
    if sharing in ("l2", "irls"):
        assert "penalty_d" in whole.update(_batch(), None, 10)
    assert whole.describe()["sharing"] == sharing


def test_began_refuses_sides_that_are_not_powers_of_two():
    with pytest.raises(ValueError, match="power of two"):
        _began(spec=TaskSpec(["a"], [1], (24, 24, 3)))


def test_celeba_faces_are_the_centre_108_pixels_at_64(tmp_path):
    from sharebench.datasets.parsers import parse_celeba_faces

    files = _celeba_files(tmp_path)
    out = parse_celeba_faces(files, {"count": None, "crop": 108, "size": 64})
    assert out["x"].shape == (6, 64, 64, 3) and out["y"].tolist() == [0] * 6
    assert out["x"].std(axis=(1, 2, 3)).max() < 3  # only the uniform centre survives the crop
    assert parse_celeba_faces(files, {"count": 2, "crop": 108, "size": 64})["x"].shape[0] == 2


@pytest.mark.parametrize("suite, names", [
    ("gan-walking", ["zhang-walking"]),
    ("gan-dress-faces", ["zhang-dresses", "celeba-faces"]),
    ("gan-flowers-birds-faces", ["flowers102", "cub", "celeba-faces"]),
])
def test_paper_gan_suites_name_every_missing_dataset_offline(suite, names, monkeypatch, tmp_path):
    monkeypatch.setenv("SHAREBENCH_DATA", str(tmp_path))
    monkeypatch.delenv("SHAREBENCH_MIRROR", raising=False)
    with pytest.raises(MissingDataError) as err:
        build_suite(suite, offline=True)
    for name in names:
        assert f"source {name!r}" in str(err.value)
    assert "sharebench import" in str(err.value)


def test_gan_tasks_hold_out_their_test_images():
    from sharebench.datasets.zhang_suites import _gan_task

    x = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1).repeat(2, axis=1).repeat(2, axis=2)
    task = _gan_task("d", x, 3, 666, "s")
    assert len(task.x_train) == 7 and len(task.x_test) == 3 and task.num_classes == 1
    assert sorted(np.concatenate([task.x_train, task.x_test])[:, 0, 0, 0].tolist()) == list(range(10))
    official = _gan_task("d", x, 2, 666, "s", x_test=x[:5])
    assert len(official.x_train) == 10 and len(official.x_test) == 2


def test_figure6_experiments_of_the_paper_profile():
    params = load_params(REPO / "params.yaml")

    def resolve(name: str, profile: str):
        return resolve_experiment(name, params["experiments"][name], profile, params)

    g1 = resolve("zhang-gan-digits", "paper")
    assert g1.suite == "gan-walking" and g1.backbone == "dcgan"
    for name, suite in (("zhang-gan-dress", "gan-dress-faces"), ("zhang-gan-flowers", "gan-flowers-birds-faces")):
        exp = resolve(name, "paper")
        assert exp.suite == suite and exp.backbone == "began" and exp.seeds == [0]
        assert list(exp.arms) == [f"began-{s}" for s in ("isolated", "shareall", "finetune", "l2", "irls")]
        assert resolve(name, "quick") is None


def test_a_began_job_records_samples_resumes_and_draws_figure6(tmp_path):
    """Through the runner on the embedded digits (16 px): samples in the record, a job killed after 6 of 8
    iterations resumes to the same record (IRLS reweighting in between), Figure 6 drawn with BEGAN's rows."""
    from sharebench.benchmarks.papers import zhang, zhang_figures
    from sharebench.benchmarks.runner import Job, run_job
    from sharebench.datasets.suites import save_suite
    from tests.test_runner import assert_resumes_exactly

    save_suite(build_suite("embedded"))
    raw = {"suite": "embedded", "backbone": "began", "reference": "began-irls",
           "metrics": ["sample_coverage_mse"], "methods": {"began-irls": {"width": 4, "reweight_every": 2}},
           "profiles": {"quick": {"iterations": 8, "eval_interval": 2, "seeds": 1}}}
    exp = resolve_experiment("tiny-began", raw, "quick", {})
    whole = run_job(Job(exp, "began-irls", 0), progress=False)
    assert 0 < whole["metrics"]["sample_coverage_mse"] < 1 and len(whole["artifacts"]["samples"]) == 5
    assert whole["curves"]["method"]["k_plain"][-1] > 0  # k per domain, recorded at every evaluation
    assert_resumes_exactly(exp, "began-irls", whole, 6)
    text = "\n".join(zhang_figures.figure6(exp, tmp_path, zhang.LABELS))
    assert "Ours (IRLS)" in zhang.LABELS["began-irls"] and "### Figure 6: samples, `tiny-began`" in text
    assert (tmp_path / "figures" / "tiny-began-fig6.png").stat().st_size > 1000
