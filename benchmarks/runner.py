"""One job = (experiment, arm, seed): train, evaluate at the interval, write one JSON record.

Jobs are deterministic on CPU for a given seed (one thread, seeded torch/numpy/python), checkpoint
at every evaluation and resume from there after being killed, stop with the iteration number on a
non-finite loss, and write their record atomically. A record whose config hash matches is never
recomputed, so changing one arm's settings retrains that arm only; the hash covers the code that
computes the job (`provenance.py`), so a record made by other code is retrained, not reused.

The runner, not the method, decides what a method may see: target tasks' hidden training labels are
handed over as -1 (`sampling.labelled_mask`), batches come from the streams the method declares, and only
the experiment's `eval_tasks` are scored, with its declared metrics.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import platform
import random
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm import tqdm

from sharebench.benchmarks.config import Experiment, config_hash, results_root  # noqa: F401 (re-exported)
from sharebench.benchmarks.inputs import InputPipeline
from sharebench.benchmarks.metrics import evaluate
from sharebench.benchmarks.sampling import Batch, StreamSet, labelled_mask
from sharebench.benchmarks.store import model_path, provide_models
from sharebench.datasets.atomic import atomic_write, atomic_write_text
from sharebench.datasets.fetch import data_root
from sharebench.datasets.suites import Suite, load_suite, read_suite_meta
from sharebench.methods import Method, TaskSpec, create_method

if TYPE_CHECKING:
    from sharebench.benchmarks.job_order import Plan

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """Training produced NaN or inf; the job stops and says at which iteration."""


@dataclass(frozen=True)
class Job:
    experiment: Experiment
    method: str  # the arm label
    seed: int

    @property
    def label(self) -> str:
        return f"{self.experiment.name}/{self.method}/seed-{self.seed}"

    def config(self) -> dict[str, Any]:
        suite_hash = read_suite_meta(self.experiment.suite)["content_hash"]
        return self.experiment.job_config(self.method, self.seed, suite_hash)

    @property
    def hash(self) -> str:
        return config_hash(self.config())


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
    """The job's device; on CUDA cuDNN searches the fastest convolution algorithm per shape (a job repeats the
    same shapes thousands of times; see benchmarks/gpu_speed.py for the measured effect)."""
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       "cpu" if device == "auto" else device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return dev


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


def to_tensors(suite: Suite, device: torch.device,
               inputs: InputPipeline | None = None) -> dict[str, list[torch.Tensor]]:
    """uint8 [N,H,W,C] -> float [N,C,H,W] in [0, 1] (the LWS and Zhang papers' only preprocessing). With an input
    pipeline, training images stay uint8 (whitened and augmented per batch) and test images are whitened."""
    def nchw(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).permute(0, 3, 1, 2).to(device)

    def conv(a: np.ndarray, task: int) -> torch.Tensor:
        return nchw(a).float().div_(255.0) if inputs is None else inputs.test(nchw(a), task)
    return {"x_train": [conv(t.x_train, i) if inputs is None else nchw(t.x_train) for i, t in enumerate(suite.tasks)],
            "y_train": [torch.from_numpy(t.y_train).to(device) for t in suite.tasks],
            "x_test": [conv(t.x_test, i) for i, t in enumerate(suite.tasks)],
            "y_test": [torch.from_numpy(t.y_test).to(device) for t in suite.tasks]}


def task_roles(exp: Experiment, names: list[str]) -> tuple[str, ...]:
    unknown = set(exp.roles) - set(names)
    if unknown:
        raise ValueError(f"{exp.name}: roles name unknown task(s) {sorted(unknown)}; tasks: {names}")
    return tuple(exp.roles.get(n, "task") for n in names)


def eval_task_indices(exp: Experiment, names: list[str], roles: tuple[str, ...]) -> list[int]:
    """`eval_tasks` lists task names or roles (`target`); default every task."""
    if not exp.eval_tasks:
        return list(range(len(names)))
    chosen = [t for t, (n, r) in enumerate(zip(names, roles)) if n in exp.eval_tasks or r in exp.eval_tasks]
    if not chosen:
        raise ValueError(f"{exp.name}: eval_tasks {exp.eval_tasks} match no task; tasks: {names}")
    return chosen


def visible_labels(exp: Experiment, arm: str, suite: Suite, roles: tuple[str, ...]) -> list[np.ndarray]:
    """Per task, which training labels the arm's method may see: all, except for target tasks (`target_labels`),
    drawn from `label_seed` and the task index, the same for every seed and arm (so that the first k per class
    of a larger budget include those of a smaller one)."""
    rule = exp.labels_rule(arm)
    return [labelled_mask(t.y_train, rule if r == "target" else "all", exp.label_seed + 1009 * i)
            for i, (t, r) in enumerate(zip(suite.tasks, roles))]


def build_method(job: Job, device: torch.device, spec: TaskSpec, models: dict[str, Any] | None = None) -> Method:
    arm = job.experiment.arms[job.method]
    return create_method(arm.method, spec, arm.backbone, arm.hparams, backbone_options=arm.backbone_options,
                         total_iterations=job.experiment.iterations, device=device, models=models)


def task_spec(exp: Experiment, suite: Suite) -> TaskSpec:
    names = [t.name for t in suite.tasks]
    return TaskSpec(names, [t.num_classes for t in suite.tasks], suite.image_shape, task_roles(exp, names),
                    tuple(str(t.meta.get("label_semantics", "")) for t in suite.tasks), suite.native_shapes,
                    tuple(int(t.meta.get("hole", 0)) for t in suite.tasks), tuple(len(t.x_train) for t in suite.tasks))


def required_models(exp: Experiment, arm: str, device: torch.device) -> dict[str, Any]:
    """The arm's trained networks from the model store (training missing ones first) and pretrained weights."""
    requires = exp.requirements(arm)
    if not requires:
        return {}

    def build(job: Job) -> tuple[str, Method]:
        seed_everything(job.seed)
        spec = task_spec(job.experiment, load_suite(job.experiment.suite))
        return job.hash, build_method(job, device, spec, required_models(job.experiment, job.method, device))

    return provide_models(requires, build, lambda job: run_job(job, str(device), progress=False,
                                                                   keep_model=True))


@dataclass
class Prepared:
    """What every seed of one (experiment, arm) reads: the suite, its tensors, the visible labels."""

    suite_meta: dict[str, Any]
    spec: TaskSpec
    data: dict[str, list[torch.Tensor]]  # x_train, x_test, y_test (true labels of hidden samples removed)
    masks: list[np.ndarray]  # per task, which training labels the method sees
    y_visible: list[torch.Tensor]
    eval_tasks: list[int]


def prepare(job: Job, dev: torch.device, inputs_for_seed: bool = True) -> tuple[Prepared, InputPipeline | None]:
    """Load the job's suite onto the device and hide the labels its arm may not see."""
    exp = job.experiment
    suite_meta = read_suite_meta(exp.suite)
    suite = load_suite(exp.suite)
    spec = task_spec(exp, suite)
    inputs = InputPipeline(exp.input, [t.x_train for t in suite.tasks], spec.names, job.seed, dev) \
        if exp.input and inputs_for_seed else None
    data = to_tensors(suite, dev, inputs)
    masks = visible_labels(exp, job.method, suite, spec.roles)
    y_visible = [y.masked_fill(~torch.from_numpy(m).to(y.device), -1) for y, m in zip(data["y_train"], masks)]
    del data["y_train"]  # the method never gets the true labels of hidden samples
    return Prepared(suite_meta, spec, data, masks, y_visible, eval_task_indices(exp, spec.names, spec.roles)), inputs


def new_curves() -> dict[str, Any]:
    return {"iteration": [], "train_loss": [], "metrics": {}, "method": {}}


def record_evaluation(method: Method, curves: dict[str, Any], iteration: int, losses: list[float], exp: Experiment,
                      prep: Prepared) -> None:
    """Evaluate the model in every evaluation variant and append the results to its curves."""
    curves["iteration"].append(iteration)
    curves["train_loss"].append(float(np.mean(losses)) if losses else None)
    variants = method.eval_variants()
    for variant in variants:  # the first is the arm's own result; others become `<arm>@<variant>`
        method.set_eval_variant(variant)
        pure = exp.batch_per_task if method.needs_pure_test_batches() else None
        m = evaluate(method, prep.data, prep.spec.names, exp.metrics, prep.eval_tasks, pure_batch=pure)
        target = curves["metrics"] if variant == variants[0] else \
            curves.setdefault("variants", {}).setdefault(variant, {})
        for key, value in m.items():
            target.setdefault(key, []).append(value)
    method.set_eval_variant(variants[0])
    snapshot = method.snapshot()  # e.g. LWS' routing entropy over time
    done = len(curves["iteration"]) - 1  # evaluations before this one: a series is None where it had no value
    for key in dict.fromkeys([*curves["method"], *snapshot]):
        series = curves["method"].setdefault(key, [None] * done)
        series.append(snapshot.get(key))


def check_finite(out: dict[str, float], label: str, iteration: int, ckpt: Path) -> None:
    if not np.isfinite(out["loss"]) or not np.isfinite(out.get("penalty", 0.0)):
        kept = f"; the last good checkpoint is kept at {ckpt}" if ckpt.exists() else ""
        raise NonFiniteLossError(f"{label}: non-finite loss {out} at iteration {iteration}{kept}")


def is_eval_point(exp: Experiment, done: int) -> bool:
    return done % exp.eval_interval == 0 or done == exp.iterations


def parameter_counts(method: Method, info: dict[str, Any] | None = None) -> dict[str, int]:
    """The parameters of every network the method holds (attributes that are modules, or lists / dicts of them),
    each counted once: trainable (requires_grad) and frozen (a stored source network, a teacher); for a weight bank
    also the hidden parameters in use (the slots some task is assigned to; heads excluded) and the fraction of them
    in slots shared by two or more tasks (from `info`, the method's `describe()`, when the caller has it)."""
    seen: dict[int, torch.nn.Parameter] = {}
    for value in vars(method).values():
        values = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else [value]
        for module in values:
            if isinstance(module, torch.nn.Module):
                seen.update({id(p): p for p in module.parameters()})
    trainable = sum(p.numel() for p in seen.values() if p.requires_grad)
    counts = {"parameters_trainable": trainable, "parameters_frozen": sum(p.numel() for p in seen.values()) - trainable}
    info = method.describe() if info is None else info
    if "hidden_params_in_use" in info:  # a weight bank: the slots the tasks use, and the part two or more share
        counts["parameters_in_use"] = info["hidden_params_in_use"]
        counts["shared_fraction"] = round(info.get("hidden_params_shared", 0) / max(1, info["hidden_params_in_use"]),
                                          4)
    return counts


def build_record(job: Job, method: Method, prep: Prepared, curves: dict[str, Any], dev: torch.device,
                 wall_time_s: float, resumed_from: int | None, inputs: InputPipeline | None = None,
                 train_s: float | None = None, **extra: Any) -> dict[str, Any]:
    """The job's record: its configuration, the last evaluation (no checkpoint is selected on the test set),
    the curves, what the method reports of itself, versions, device and cost (parameters, seconds per training
    step: the steps alone, evaluations excluded; on a GPU synchronised at each evaluation)."""
    exp, cfg = job.experiment, job.config()
    names, roles = prep.spec.names, prep.spec.roles
    metrics = {key: values[-1] for key, values in curves["metrics"].items()}
    metrics.update(method.final_analysis(prep.data["x_test"], prep.data["y_test"]))
    metrics_variants = {v: {key: values[-1] for key, values in m.items()}
                        for v, m in curves.get("variants", {}).items()}
    artifacts = method.final_artifacts(prep.data["x_test"], prep.data["y_test"])
    info = method.describe()
    return {
        "experiment": exp.name, "method": job.method, "method_name": exp.arms[job.method].method, "seed": job.seed,
        "profile": exp.profile, "config_hash": config_hash(cfg), "config": cfg, "hparams_resolved": method.hparams,
        "suite": {"name": exp.suite, "content_hash": prep.suite_meta["content_hash"],
                  "checksum_verified": prep.suite_meta["checksum_verified"], "notes": prep.suite_meta["notes"],
                  "tasks": prep.suite_meta["tasks"]},
        "roles": dict(zip(names, roles)), "eval_tasks": [names[t] for t in prep.eval_tasks],
        **({"input_whitening": inputs.stats()} if inputs is not None else {}),
        "labels_visible": {n: int(m.sum()) for n, m in zip(names, prep.masks)},
        "metrics": metrics, "metrics_variants": metrics_variants, "curves": curves,
        "method_info": info, **({"artifacts": artifacts} if artifacts else {}),
        "versions": versions(), "device": str(dev) if dev.type != "cuda" else torch.cuda.get_device_name(dev),
        "wall_time_s": round(wall_time_s, 3), "resumed_from": resumed_from,
        "cost": {**parameter_counts(method, info), "train_s_per_step":
                 None if train_s is None else round(train_s / max(1, job.experiment.iterations), 6)},
        "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **extra,
    }


def write_record(job: Job, record: dict[str, Any], method: Method | None = None) -> None:
    """Atomically into the record store and the DVC output; with `method`, its final state into the model store."""
    if method is not None:
        atomic_torch_save(method.state_dict(), model_path(record["config_hash"]))
    text = json.dumps(record, indent=1)
    atomic_write_text(store_path(record["config_hash"]), text)
    atomic_write_text(record_path(job.experiment, job.method, job.seed), text)


def run_job(job: Job, device: str = "auto", progress: bool = True, stop_after: int | None = None,
            keep_model: bool = False) -> dict[str, Any]:
    """Train one job to completion (or resume it) and return its record.

    `keep_model` also stores the final method state in the model store (for jobs that require it).
    `stop_after` (tests only) stops right after the checkpoint at that iteration, as a kill would.
    """
    exp = job.experiment
    torch.set_num_threads(1)  # the same record whatever the number of parallel jobs
    dev = resolve_device(device)
    job_hash = job.hash
    prep, inputs = prepare(job, dev)
    models = required_models(exp, job.method, dev)
    seed_everything(job.seed)
    method = build_method(job, dev, prep.spec, models)
    streams = StreamSet(type(method).STREAMS, list(prep.spec.roles), prep.masks, prep.data["x_train"],
                        prep.y_visible, exp.batch_per_task, seed=job.seed)
    curves = new_curves()
    start, elapsed, resumed_from, train_s = 0, 0.0, None, 0.0
    ckpt = checkpoint_path(job_hash)
    if ckpt.exists():
        state = torch.load(ckpt, map_location=dev, weights_only=False)
        method.load_state_dict(state["method"])
        streams.load_state(state["streams"])
        if inputs is not None:
            inputs.load_state(state["inputs"])
        torch.set_rng_state(state["torch_rng"])
        curves, start, elapsed = state["curves"], state["iteration"], state["elapsed"]
        train_s = state.get("train_s", 0.0)
        resumed_from = start
        log.info("%s: resuming from iteration %d", job.label, start)

    def checkpoint(iteration: int) -> None:
        atomic_torch_save({"method": method.state_dict(), "streams": streams.state(),
                           "inputs": None if inputs is None else inputs.state(),
                           "torch_rng": torch.get_rng_state(), "curves": curves, "iteration": iteration,
                           "elapsed": elapsed + time.perf_counter() - t0, "train_s": train_s,
                           "config_hash": job_hash}, ckpt)

    t0 = time.perf_counter()
    if start == 0 and not curves["iteration"]:
        record_evaluation(method, curves, 0, [], exp, prep)
    losses: list[float] = []
    bar = tqdm(range(start, exp.iterations), desc=job.label, disable=not progress, leave=False,
               mininterval=2.0, initial=start, total=exp.iterations)
    step_start = time.perf_counter()
    for it in bar:
        batches = streams.draw()
        if inputs is not None:
            batches = {k: Batch(inputs.train(b.x, b.tasks), b.y, b.tasks) for k, b in batches.items()}
        out = method.step(batches, it)
        check_finite(out, job.label, it + 1, ckpt)
        losses.append(out["loss"])
        done = it + 1
        if is_eval_point(exp, done):
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            train_s += time.perf_counter() - step_start
            record_evaluation(method, curves, done, losses, exp, prep)
            losses = []
            checkpoint(done)
            if stop_after is not None and done >= stop_after and done < exp.iterations:
                raise KeyboardInterrupt(f"stopped after iteration {done} (test hook)")
            step_start = time.perf_counter()
    bar.close()

    record = build_record(job, method, prep, curves, dev, elapsed + time.perf_counter() - t0, resumed_from, inputs,
                          train_s=train_s)
    write_record(job, record, method if keep_model else None)
    if ckpt.exists():
        ckpt.unlink()
    return record


def is_done(job: Job) -> bool:
    """A record exists for exactly this configuration (restored from the record store if needed)."""
    job_hash = job.hash
    path = record_path(job.experiment, job.method, job.seed)
    try:
        old = json.loads(path.read_text())
        if old.get("config_hash") == job_hash:
            return True
        if old.get("config", {}).get("code") != job.config()["code"]:
            log.info("%s: the record at %s was made by other code; retraining", job.label, path)
    except (FileNotFoundError, json.JSONDecodeError):
        pass
    stored = store_path(job_hash)
    if stored.exists():
        atomic_write_text(path, stored.read_text())
        log.info("%s: record restored from %s", job.label, stored)
        return True
    return False


def _worker(jobs: list[Job], device: str, keep_model: bool = False) -> str:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    return "; ".join(_run_group(jobs, device, progress=False, keep_model=keep_model))


def _headline(job: Job, rec: dict[str, Any]) -> str:
    metric = job.experiment.primary_metric
    return f"{metric} {rec['metrics'][metric]:.4f}"


def _run_group(jobs: list[Job], device: str, progress: bool = True, keep_model: bool = False) -> list[str]:
    """One job, or the seeds of one arm packed into one model (`benchmarks/packed_runs.py`)."""
    if len(jobs) == 1:
        rec = run_job(jobs[0], device, progress=progress, keep_model=keep_model)
        return [f"{jobs[0].label}: {_headline(jobs[0], rec)} in {rec['wall_time_s']:.1f}s"]
    from sharebench.benchmarks.packed_runs import run_packed

    recs = run_packed(jobs, device, progress=progress)
    return [f"{j.label}: {_headline(j, r)} in {r['wall_time_s']:.1f}s (packed x{len(jobs)})"
            for j, r in zip(jobs, recs)]


def has_model(job: Job) -> bool:
    """The model store holds this job's trained network."""
    return model_path(job.hash).exists()


def run_jobs(jobs: list[Job], n_parallel: int = 1, device: str = "auto", executor: str = "local",
             slurm: dict[str, Any] | None = None, pack: int = 1) -> list[str]:
    """Run the jobs that have no matching record; returns the failures (empty when all succeeded).

    Source networks the jobs need and the model store lacks are trained first, once (`benchmarks/job_order.py`).
    `executor`: "local" (this machine, `n_parallel` processes), "slurm" or "submitit-local" (one submitit job
    per group, `benchmarks/executors.py`, with the options `slurm`). `pack` > 1: up to that many seeds of one
    arm train as one packed model, one group (`benchmarks/packed_runs.py`; the GPU path)."""
    from sharebench.benchmarks.job_order import plan

    todo = [j for j in jobs if not is_done(j)]
    run = plan(todo, pack, has_model)
    extra = sum(len(g) for g in run.groups) - len(todo)
    sources = f", {extra} source network(s) first" if extra else ""
    if executor != "local":
        from sharebench.benchmarks.executors import run_with_submitit, slurm_options

        log.info("%d job(s), %d already done, %d to submit as %d array element(s) (%s%s)", len(jobs),
                 len(jobs) - len(todo), len(todo), len(run.groups), executor, sources)
        return run_with_submitit(run, device, executor, slurm_options(slurm)) if run.groups else []
    log.info("%d job(s), %d already done, %d to run as %d group(s) (%d at a time%s)", len(jobs),
             len(jobs) - len(todo), len(todo), len(run.groups), n_parallel, sources)
    if n_parallel <= 1 or len(run.groups) <= 1:  # in this process (a worker would import torch again)
        return _run_in_process(run, device)
    return _run_in_pool(run, device, n_parallel)


def _run_in_process(run: Plan, device: str) -> list[str]:
    """The groups one after the other (sources come first in the plan)."""
    failures: list[str] = []
    failed: set[str] = set()
    for group, waits in tqdm(zip(run.groups, run.waits_for), total=len(run.groups), desc="jobs",
                             disable=len(run.groups) < 2):
        if waits & failed:
            failures.append(_blocked(group, waits & failed, failed))
            continue
        try:
            for line in _run_group(group, device, keep_model=_keeps(run, group)):
                log.info("%s", line)
        except (NonFiniteLossError, RuntimeError, ValueError) as err:
            log.error("%s failed: %s", _group_label(group), err)
            failures.append(f"{_group_label(group)}: {err}")
            failed.update(j.label for j in group)
    return failures


def _run_in_pool(run: Plan, device: str, n_parallel: int) -> list[str]:
    """The groups in `n_parallel` worker processes; a group starts once the sources it waits for are done."""
    failures: list[str] = []
    done: set[str] = set()
    failed: set[str] = set()
    waiting = list(range(len(run.groups)))
    running: dict[Future, int] = {}
    with ProcessPoolExecutor(min(n_parallel, len(run.groups)), mp_context=worker_context()) as pool, \
            tqdm(total=len(run.groups), desc="jobs") as bar:
        while waiting or running:
            for i in list(waiting):
                group, waits = run.groups[i], run.waits_for[i]
                if waits & failed:
                    waiting.remove(i)
                    failures.append(_blocked(group, waits & failed, failed))
                    bar.update()
                elif waits <= done:
                    waiting.remove(i)
                    running[pool.submit(_worker, group, device, _keeps(run, group))] = i
            if not running:
                break  # nothing can start: cannot happen with a plan's order, but never wait forever
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                group = run.groups[running.pop(fut)]
                bar.update()
                try:
                    log.info("%s", fut.result())
                    done.update(j.label for j in group)
                except Exception as err:  # noqa: BLE001 - report every failure, keep the others running
                    log.error("%s failed: %s", _group_label(group), err)
                    failures.append(f"{_group_label(group)}: {err}")
                    failed.update(j.label for j in group)
    failures += [f"{_group_label(run.groups[i])}: not started (waits for {sorted(run.waits_for[i] - done)})"
                 for i in waiting]
    return failures


def _keeps(run: Plan, group: list[Job]) -> bool:
    return len(group) == 1 and group[0].label in run.keep_model


def _blocked(group: list[Job], missing: set[str], failed: set[str]) -> str:
    """A group not started because a source it needs failed (its own jobs count as failed for their dependents)."""
    failed.update(j.label for j in group)
    message = f"{_group_label(group)}: not started, its source network(s) {', '.join(sorted(missing))} failed"
    log.error("%s", message)
    return message


def worker_context():
    """fork on a machine without CUDA: a worker starts with this process's imports (torch and the suite code:
    about 5 s saved per worker and stage, measured); spawn where CUDA is available, since a forked CUDA context
    cannot be used. Every job sets its own threads (1) and seeds, so the records are the same either way (tested)."""
    if sys.platform.startswith("linux") and not torch.cuda.is_available():
        return get_context("fork")
    return get_context("spawn")


def _group_label(jobs: list[Job]) -> str:
    return jobs[0].label if len(jobs) == 1 else ", ".join(j.label for j in jobs)
