"""params.yaml validation and the command line: clear errors, every subcommand has --help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sharebench.benchmarks.cli import main
from sharebench.benchmarks.config import ConfigError, experiments, load_params
from tests.conftest import REPO


def params_with(**experiment_overrides) -> dict:
    params = load_params(REPO / "params.yaml")
    params["experiments"]["baselines-digits"].update(experiment_overrides)
    return params


def test_repository_params_resolve_for_every_profile():
    params = load_params(REPO / "params.yaml")
    for profile in ("quick", "small", "paper"):
        active, skipped = experiments(params, profile)
        assert active, profile
        for exp in active:
            assert exp.reference in exp.methods and exp.seeds
    quick, skipped = experiments(params, "quick")
    assert [e.name for e in quick] == ["baselines-digits", "lws-dkl-mnist", "bilen-table2", "bilen-domains",
                                       "jae-mnist-halves", "jae-transfer-04-59", "jae-transfer-59-04",
                                       "zhang-classification", "zhang-completion", "cetl-source-mn", "cetl-source-us",
                                       "cetl-da-mn-us", "cetl-da-us-mn", "cetl-source-tl", "cetl-source-tl-rot",
                                       "cetl-tl", "cetl-teacher", "cetl-kd"]
    assert "baselines-mnist" in skipped and "lws-cifar100-resnet18" in skipped
    assert len(quick[0].seeds) == 3
    paper, skipped = experiments(params, "paper")
    assert skipped == []  # every experiment has a paper profile
    assert all(len(e.seeds) == (5 if e.benchmark == "bilen" else 10) for e in paper
               if e.benchmark not in ("zhang", "cetl"))
    assert all(len(e.seeds) == (1 if "-source-" in e.name or "-teacher" in e.name else 5)  # trained-once networks
               for e in paper if e.benchmark == "cetl")
    lws = {e.name: e for e in paper if e.benchmark == "lws"}
    assert {e.name: e.iterations for e in lws.values()} == {
        "lws-dkl-mnist": 5000, "lws-cifar100": 4000, "lws-cifar100-resnet18": 20000, "lws-omniglot": 20000,
        "lws-omniglot-resnet18": 20000}
    from sharebench.benchmarks.analysis import scipy_alternative, with_claims

    for name in ("lws-dkl-mnist", "lws-cifar100-resnet18", "lws-omniglot-resnet18"):  # the paper's claims are
        tests = with_claims(lws[name]).comparisons                                    # tested one-sided on error
        assert ("lws", "less") in {(c.method_a, scipy_alternative(c.metric, c.alternative)) for c in tests
                                   if c.metric == "error"}


@pytest.mark.parametrize("change, message", [
    ({"methods": {"isolated": {}, "nope": {}}}, "unknown method 'nope'"),
    ({"suite": "imagenet"}, "unknown suite"),
    ({"backbone": "vgg"}, "unknown backbone"),
    ({"reference": "shareall-typo"}, "reference"),
    ({"seeds": 0}, "seeds"),
    ({"iterations": -3}, "iterations"),
    ({"colour": "blue"}, "unknown key"),
    ({"comparisons": [{"a": "isolated", "b": "shareall", "alternative": "smaller"}]}, "comparisons"),
])
def test_bad_params_are_named(change, message):
    params = params_with(**change)
    if "iterations" in change or "seeds" in change:
        params["experiments"]["baselines-digits"]["profiles"]["quick"].update(change)
    with pytest.raises(ConfigError, match=message):
        experiments(params, "quick")


def test_unknown_profile():
    with pytest.raises(ConfigError, match="unknown profile"):
        experiments(load_params(REPO / "params.yaml"), "huge")


@pytest.mark.parametrize("command", ["prepare", "train", "analyze", "report", "import", "list"])
def test_every_subcommand_has_help(command):
    out = subprocess.run([sys.executable, "-m", "sharebench.benchmarks.cli", command, "--help"],
                         capture_output=True, text=True, check=True)
    assert "usage: sharebench " + command in out.stdout


def test_cli_errors_are_clear_and_exit_2(tmp_path: Path, capsys):
    params = load_params(REPO / "params.yaml")
    params["experiments"]["baselines-digits"]["methods"]["bogus"] = {}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    assert main(["train", "--params", str(path)]) == 2
    assert "unknown method 'bogus'" in capsys.readouterr().err
    assert main(["import", "nosuchsource", str(tmp_path)]) == 2
    assert "unknown source" in capsys.readouterr().err
    assert main(["train", "--params", str(tmp_path / "missing.yaml")]) == 2


def test_prepare_with_corrupt_mirror_file_writes_no_suite(tmp_path: Path, monkeypatch, capsys):
    """A checksum failure stops `prepare` with file + md5s, and leaves no processed output behind."""
    import os

    mirror = tmp_path / "mirror" / "mnist"
    mirror.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        (mirror / name).write_bytes(b"not the real file")
    monkeypatch.setenv("SHAREBENCH_MIRROR", str(tmp_path / "mirror"))
    assert main(["prepare", "--params", str(REPO / "params.yaml"), "--suite", "mnist-halves"]) == 2
    err = capsys.readouterr().err
    assert "checksum mismatch" in err and "f68b3c2dcbeaaa9fbdd348bbdeb94873" in err  # official train-images md5
    processed = Path(os.environ["SHAREBENCH_DATA"]) / "processed"
    assert not list(processed.glob("mnist-halves*")) if processed.exists() else True


def test_a_train_stage_outside_the_profile_returns_without_importing_torch(tmp_path):
    """dvc runs one train stage per experiment; those the profile does not run must cost nothing (no torch)."""
    code = ("import sys; from sharebench.benchmarks.cli import main; "
            f"rc = main(['train', '--params', {str(REPO / 'params.yaml')!r}, '--profile', 'quick', "
            "'-e', 'cetl-da-sv-mn']); assert rc == 0 and 'torch' not in sys.modules, rc")
    env = {"SHAREBENCH_RESULTS": str(tmp_path / "results"), "PATH": ""}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=tmp_path)
    status = (tmp_path / "results" / "runs" / "cetl-da-sv-mn" / "status.json").read_text()
    assert '"active": false' in status
    assert main(["train", "--params", str(REPO / "params.yaml"), "-e", "no-such-experiment"]) == 2
