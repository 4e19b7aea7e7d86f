"""Zhang et al.'s paper profile end to end on CPU, in miniature: the `zhang-classification` paper settings from
params.yaml (fine-grained-5, the banked InceptionV3, Inception preprocessing, round-robin momentum SGD with
per-dataset decay) run as written, except for sizes: tiny archives in the official layouts, 75 px instead of 299,
random instead of ImageNet weights, 2 iterations."""

from __future__ import annotations

import dataclasses

import pytest

from sharebench.benchmarks.config import load_params, resolve_experiment
from sharebench.benchmarks.runner import Job, run_job
from sharebench.datasets.fetch import data_root
from sharebench.datasets.importer import import_source
from sharebench.datasets.sources import SOURCES
from sharebench.datasets.suites import build_suite, save_suite
from tests.conftest import REPO
from tests.test_fine_grained import (
    COLOURS,
    _unchecked,
    aircraft_archive,
    cub_archive,
    dogs_files,
    flowers_files,
    jpeg,
)

pytestmark = pytest.mark.slow
OPTIONS = {"store_size": 80, "square": True}


def tiny_fine_grained(tmp_path, monkeypatch) -> None:
    raw = data_root() / "raw"
    for name, make in (("cub", cub_archive), ("flowers102", flowers_files), ("stanford-dogs", dogs_files),
                       ("fgvc-aircraft", aircraft_archive)):
        (raw / name).mkdir(parents=True)
        make(raw / name)
        _unchecked(monkeypatch, name)
        monkeypatch.setitem(SOURCES, name, dataclasses.replace(SOURCES[name], options=OPTIONS))
    monkeypatch.setitem(SOURCES, "stanford-cars", dataclasses.replace(SOURCES["stanford-cars"], options=OPTIONS))
    for split in ("train", "test"):
        for c in (0, 1):
            folder = tmp_path / "cars" / split / f"Model {c}"
            folder.mkdir(parents=True)
            (folder / f"{split}.jpg").write_bytes(jpeg(COLOURS[c], size=(24, 12)))
    import_source("stanford-cars", tmp_path / "cars")
    save_suite(build_suite("fine-grained-5"))


def test_the_paper_profile_trains_the_banked_inception_round_robin(tmp_path, monkeypatch):
    tiny_fine_grained(tmp_path, monkeypatch)
    raw = load_params(REPO / "params.yaml")["experiments"]["zhang-classification"]
    paper = raw["profiles"]["paper"]
    paper.update(iterations=2, eval_interval=2, seeds=1, batch_per_task=2, backbone_options={"pretrained": False})
    paper["input"]["test_crop"]["size"] = paper["input"]["augment"]["resized_crop"]["size"] = 75
    exp = resolve_experiment("zhang-classification", raw, "paper", {})
    record = run_job(Job(exp, "irls", 0), device="cpu", progress=False)
    assert record["method_info"]["layers"][-1] == "Mixed_7c"
    assert set(record["metrics"]) >= {"accuracy", "accuracy/birds", "accuracy/aircraft"}
    assert record["hparams_resolved"]["block_schedule"] == "round-robin"
    assert record["method_info"]["reweight_iterations"] == [1]  # the L2 stage, then one IRLS round
    assert len(record["method_info"]["final_weights"]) == 15  # 16 blocks: 15 adjacent pairs
