"""One job = (experiment, method, seed): train, evaluate at the interval, write one JSON record.

Jobs are deterministic on CPU for a given seed (one thread, seeded torch/numpy/python), checkpoint
at every evaluation and resume from there after being killed, stop with the iteration number on a
non-finite loss, and write their record atomically. A record whose config hash matches is never
recomputed, so changing one method's settings retrains that method only.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import platform
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from sharebench.benchmarks.config import Experiment, config_hash
from sharebench.benchmarks.sampling import MultitaskSampler, stack_batch
from sharebench.datasets.atomic import atomic_write, atomic_write_text
from sharebench.datasets.fetch import data_root
from sharebench.datasets.suites import Suite, load_suite, read_suite_meta
from sharebench.methods import Method, TaskSpec, create_method

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """Training produced NaN or inf; the job stops and says at which iteration."""


@dataclass(frozen=True)
class Job:
    experiment: Experiment
    method: str
    seed: int

    @property
    def label(self) -> str:
        return f"{self.experiment.name}/{self.method}/seed-{self.seed}"


def results_root() -> Path:
    return Path(os.environ.get("SHAREBENCH_RESULTS", "results"))


def record_path(exp: Experiment, method: str, seed: int, root: Path | None = None) -> Path:
    return (root or results_root()) / "runs" / exp.name / exp.profile / method / f"seed-{seed}.json"


def checkpoint_path(job_hash: str) -> Path:
    return data_root() / "checkpoints" / f"{job_hash}.pt"


def store_path(job_hash: str) -> Path:
    """Every finished record is also kept here, by configuration hash, outside DVC's outputs: when an
    interrupted `dvc exp run` restarts, DVC restores the train stage's output folder from its cache
    and drops records finished meanwhile; `train` then copies them back instead of retraining."""
    return data_root() / "records" / f"{job_hash}.json"


def atomic_torch_save(obj: Any, path: Path) -> None:
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def versions() -> dict[str, str]:
    import scipy
    import sklearn

    from sharebench.benchmarks import __version__

    return {"sharebench": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "scipy": scipy.__version__, "scikit-learn": sklearn.__version__,
            "platform": platform.platform()}


def to_tensors(suite: Suite, device: torch.device) -> dict[str, list[torch.Tensor]]:
    """uint8 [N,H,W,C] -> float [N,C,H,W] in [0, 1] (the papers' only preprocessing)."""
    def conv(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).permute(0, 3, 1, 2).float().div_(255.0).to(device)
    return {"x_train": [conv(t.x_train) for t in suite.tasks], "y_train": [torch.from_numpy(t.y_train).to(device)
                                                                           for t in suite.tasks],
            "x_test": [conv(t.x_test) for t in suite.tasks], "y_test": [torch.from_numpy(t.y_test).to(device)
                                                                        for t in suite.tasks]}


@torch.no_grad()
def evaluate(method: Method, data: dict[str, list[torch.Tensor]], names: list[str],
             chunk: int = 2048) -> dict[str, Any]:
    """Test accuracy per task, pooled over all test samples (as the LWS code) and task-averaged."""
    per_task, correct, total = {}, 0, 0
    for t, (x, y) in enumerate(zip(data["x_test"], data["y_test"])):
        hits = sum(int((method.predict(x[i:i + chunk], t).argmax(1) == y[i:i + chunk]).sum())
                   for i in range(0, len(y), chunk))
        per_task[names[t]] = hits / len(y)
        correct, total = correct + hits, total + len(y)
    return {"accuracy": correct / total, "accuracy_task_mean": float(np.mean(list(per_task.values()))),
            "per_task": per_task}


def run_job(job: Job, device: str = "auto", progress: bool = True, stop_after: int | None = None) -> dict[str, Any]:
    """Train one job to completion (or resume it) and return its record.

    `stop_after` (tests only) stops right after the checkpoint at that iteration, as a kill would.
    """
    exp = job.experiment
    torch.set_num_threads(1)  # the same record whatever the number of parallel jobs
    dev = resolve_device(device)
    suite_meta = read_suite_meta(exp.suite)
    cfg = exp.job_config(job.method, job.seed, suite_meta["content_hash"])
    job_hash = config_hash(cfg)
    suite = load_suite(exp.suite)
    names = [t.name for t in suite.tasks]
    spec = TaskSpec(names, [t.num_classes for t in suite.tasks], suite.image_shape)
    data = to_tensors(suite, dev)

    seed_everything(job.seed)
    method = create_method(job.method, spec, exp.backbone, exp.methods[job.method],
                           backbone_options=exp.backbone_options, total_iterations=exp.iterations, device=dev)
    sampler = MultitaskSampler([len(y) for y in data["y_train"]], exp.batch_per_task, seed=job.seed)
    curves: dict[str, Any] = {"iteration": [], "accuracy": [], "accuracy_task_mean": [], "train_loss": [],
                              "per_task": {n: [] for n in names}, "method": {}}
    start, elapsed, resumed_from = 0, 0.0, None
    ckpt = checkpoint_path(job_hash)
    if ckpt.exists():
        state = torch.load(ckpt, map_location=dev, weights_only=False)
        method.load_state_dict(state["method"])
        sampler.load_state(state["sampler"])
        torch.set_rng_state(state["torch_rng"])
        curves, start, elapsed = state["curves"], state["iteration"], state["elapsed"]
        resumed_from = start
        log.info("%s: resuming from iteration %d", job.label, start)

    def checkpoint(iteration: int) -> None:
        atomic_torch_save({"method": method.state_dict(), "sampler": sampler.state(),
                           "torch_rng": torch.get_rng_state(), "curves": curves, "iteration": iteration,
                           "elapsed": elapsed + time.perf_counter() - t0, "config_hash": job_hash}, ckpt)

    def record_eval(iteration: int, losses: list[float]) -> None:
        m = evaluate(method, data, names)
        curves["iteration"].append(iteration)
        curves["accuracy"].append(m["accuracy"])
        curves["accuracy_task_mean"].append(m["accuracy_task_mean"])
        curves["train_loss"].append(float(np.mean(losses)) if losses else None)
        for n in names:
            curves["per_task"][n].append(m["per_task"][n])
        for key, value in method.snapshot().items():  # e.g. LWS' routing entropy over time
            curves["method"].setdefault(key, []).append(value)

    t0 = time.perf_counter()
    if start == 0 and not curves["iteration"]:
        record_eval(0, [])
    losses: list[float] = []
    bar = tqdm(range(start, exp.iterations), desc=job.label, disable=not progress, leave=False,
               mininterval=2.0, initial=start, total=exp.iterations)
    for it in bar:
        batches = [stack_batch(data["x_train"], data["y_train"], sampler.next_indices())
                   for _ in range(method.batches_per_iteration)]
        out = method.step(batches, it)
        if not np.isfinite(out["loss"]) or not np.isfinite(out.get("penalty", 0.0)):
            kept = f"; the last good checkpoint is kept at {ckpt}" if ckpt.exists() else ""
            raise NonFiniteLossError(f"{job.label}: non-finite loss {out} at iteration {it + 1}{kept}")
        losses.append(out["loss"])
        done = it + 1
        if done % exp.eval_interval == 0 or done == exp.iterations:
            record_eval(done, losses)
            losses = []
            checkpoint(done)
            if stop_after is not None and done >= stop_after and done < exp.iterations:
                raise KeyboardInterrupt(f"stopped after iteration {done} (test hook)")
    bar.close()

    # the last evaluation (always at the last iteration): no checkpoint is selected on the test set
    final = {"accuracy": curves["accuracy"][-1], "accuracy_task_mean": curves["accuracy_task_mean"][-1],
             "per_task": {n: curves["per_task"][n][-1] for n in names}}
    metrics = {**final, "error": 1.0 - final["accuracy"], "error_task_mean": 1.0 - final["accuracy_task_mean"]}
    record = {
        "experiment": exp.name, "method": job.method, "seed": job.seed, "profile": exp.profile,
        "config_hash": job_hash, "config": cfg, "hparams_resolved": method.hparams,
        "suite": {"name": exp.suite, "content_hash": suite_meta["content_hash"],
                  "checksum_verified": suite_meta["checksum_verified"], "notes": suite_meta["notes"],
                  "tasks": suite_meta["tasks"]},
        "metrics": metrics, "curves": curves, "method_info": method.describe(),
        "versions": versions(), "device": str(dev) if dev.type != "cuda" else torch.cuda.get_device_name(dev),
        "wall_time_s": round(elapsed + time.perf_counter() - t0, 3), "resumed_from": resumed_from,
        "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    text = json.dumps(record, indent=1)
    atomic_write_text(store_path(job_hash), text)
    atomic_write_text(record_path(exp, job.method, job.seed), text)
    if ckpt.exists():
        ckpt.unlink()
    return record


def is_done(job: Job) -> bool:
    """A record exists for exactly this configuration (restored from the record store if needed)."""
    cfg = job.experiment.job_config(job.method, job.seed, read_suite_meta(job.experiment.suite)["content_hash"])
    job_hash = config_hash(cfg)
    path = record_path(job.experiment, job.method, job.seed)
    try:
        if json.loads(path.read_text()).get("config_hash") == job_hash:
            return True
    except (FileNotFoundError, json.JSONDecodeError):
        pass
    stored = store_path(job_hash)
    if stored.exists():
        atomic_write_text(path, stored.read_text())
        log.info("%s: record restored from %s", job.label, stored)
        return True
    return False


def _worker(job: Job, device: str) -> str:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    rec = run_job(job, device, progress=False)
    return f"{job.label}: accuracy {rec['metrics']['accuracy']:.4f} in {rec['wall_time_s']:.1f}s"


def run_jobs(jobs: list[Job], n_parallel: int = 1, device: str = "auto") -> list[str]:
    """Run the jobs that have no matching record; returns the failures (empty when all succeeded)."""
    todo = [j for j in jobs if not is_done(j)]
    log.info("%d job(s), %d already done, %d to run (%d at a time)", len(jobs), len(jobs) - len(todo),
             len(todo), n_parallel)
    failures = []
    if n_parallel <= 1:
        for job in tqdm(todo, desc="jobs", disable=len(todo) < 2):
            try:
                rec = run_job(job, device)
                log.info("%s: accuracy %.4f (%.1fs)", job.label, rec["metrics"]["accuracy"], rec["wall_time_s"])
            except (NonFiniteLossError, RuntimeError, ValueError) as err:
                log.error("%s failed: %s", job.label, err)
                failures.append(f"{job.label}: {err}")
        return failures
    with ProcessPoolExecutor(n_parallel, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_worker, job, device): job for job in todo}
        for fut in tqdm(as_completed(futures), total=len(futures), desc="jobs"):
            job = futures[fut]
            try:
                log.info("%s", fut.result())
            except Exception as err:  # noqa: BLE001 - report every failure, keep the others running
                log.error("%s failed: %s", job.label, err)
                failures.append(f"{job.label}: {err}")
    return failures
