"""Train several seeds of one (experiment, arm) in one process as one packed model (`--pack N`).

The GPU path of issue 8: a small ConvNet leaves a GPU idle, so the seeds of an arm are packed into one banked
model (`methods/packing.py`): each copy starts from its own seed's weights, reads its own seed's batch
streams, and is evaluated and recorded on its own, exactly as an unpacked job would be. One record per seed
lands in the same places (`runner.write_record`), with `packed` saying which seeds trained together.
A packed group checkpoints at every evaluation under the hash of its jobs and resumes from there.

What differs from unpacked runs: LWS draws the assignments of all copies in one call of the generator seeded
with the first seed, so its runs are other draws from the same distributions (statistically equivalent,
not bitwise); the baselines (isolated, shareall, partial) draw nothing and compute the same steps.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch
from tqdm import tqdm

from sharebench.benchmarks.config import config_hash
from sharebench.benchmarks.runner import (
    Job,
    atomic_torch_save,
    build_method,
    build_record,
    check_finite,
    checkpoint_path,
    is_eval_point,
    new_curves,
    prepare,
    record_evaluation,
    resolve_device,
    seed_everything,
    write_record,
)
from sharebench.benchmarks.sampling import Batch, StreamSet
from sharebench.methods.packing import pack, packable, unpack_into

log = logging.getLogger(__name__)


def can_pack(job: Job) -> bool:
    """Packing needs a packable method, the same data for every seed (no per-seed input pipeline) and no
    trained networks to start from."""
    from sharebench.methods import get_method

    exp = job.experiment
    return packable(get_method(exp.arms[job.method].method)) and not exp.input and not exp.requirements(job.method)


def pack_groups(jobs: list[Job], size: int) -> list[list[Job]]:
    """Jobs in groups of at most `size` seeds of one (experiment, arm); jobs that cannot pack stay alone."""
    groups: list[list[Job]] = []
    open_groups: dict[tuple[str, str, str], list[Job]] = {}
    for job in jobs:
        if size <= 1 or not can_pack(job):
            groups.append([job])
            continue
        key = (job.experiment.name, job.experiment.profile, job.method)
        group = open_groups.get(key)
        if group is None or len(group) >= size:
            group = open_groups[key] = []
            groups.append(group)
        group.append(job)
    return groups


def concat_batches(per_copy: list[dict[str, Batch]], tasks_per_copy: int) -> dict[str, Batch]:
    """Copy s's batch of every stream becomes rows s*T .. s*T + T - 1 of the packed batch."""
    out = {}
    for name in per_copy[0]:
        parts = [b[name] for b in per_copy]
        if any(len(p.tasks) != tasks_per_copy for p in parts):
            raise ValueError(f"stream {name!r} does not draw every task; packing needs full task batches")
        out[name] = Batch(torch.cat([p.x for p in parts]), torch.cat([p.y for p in parts]),
                          torch.cat([p.tasks + s * tasks_per_copy for s, p in enumerate(parts)]))
    return out


def run_packed(jobs: list[Job], device: str = "auto", progress: bool = True,
               stop_after: int | None = None) -> list[dict[str, Any]]:
    """Train the jobs (seeds of one arm) as one packed model; returns their records, in order."""
    first = jobs[0]
    exp = first.experiment
    if any(j.experiment != exp or j.method != first.method for j in jobs):
        raise ValueError("a packed group holds seeds of one experiment and arm")
    if len({j.seed for j in jobs}) != len(jobs):
        raise ValueError("a packed group holds distinct seeds")
    if not can_pack(first):
        raise ValueError(f"{first.label}: this arm cannot be packed (see packed_runs.can_pack)")
    torch.set_num_threads(1)
    dev = resolve_device(device)
    prep, _ = prepare(first, dev, inputs_for_seed=False)
    copies, streams = [], []
    for job in jobs:  # each copy starts from the weights its own seed gives, and reads its own seed's batches
        seed_everything(job.seed)
        copies.append(build_method(job, dev, prep.spec))
        streams.append(StreamSet(type(copies[-1]).STREAMS, list(prep.spec.roles), prep.masks, prep.data["x_train"],
                                 prep.y_visible, exp.batch_per_task, seed=job.seed))
    packed = pack(copies)
    seed_everything(first.seed)  # the packed model's own draws (LWS assignments)
    labels = f"{exp.name}/{first.method}/seeds-{','.join(str(j.seed) for j in jobs)}"
    group_hash = config_hash({"packed": [j.hash for j in jobs]})
    ckpt = checkpoint_path(group_hash)
    curves = [new_curves() for _ in jobs]
    start, elapsed, resumed_from = 0, 0.0, None
    if ckpt.exists():
        state = torch.load(ckpt, map_location=dev, weights_only=False)
        packed.load_state_dict(state["method"])
        for s, st in zip(streams, state["streams"]):
            s.load_state(st)
        torch.set_rng_state(state["torch_rng"])
        curves, start, elapsed = state["curves"], state["iteration"], state["elapsed"]
        resumed_from = start
        log.info("%s: resuming from iteration %d", labels, start)

    def evaluate_all(iteration: int, losses: list[list[float]]) -> None:
        unpack_into(packed, copies)
        for method, c, lost in zip(copies, curves, losses):
            record_evaluation(method, c, iteration, lost, exp, prep)

    t0 = time.perf_counter()
    if start == 0 and not curves[0]["iteration"]:
        evaluate_all(0, [[] for _ in jobs])
    losses: list[float] = []
    T = copies[0].tasks.num_tasks
    bar = tqdm(range(start, exp.iterations), desc=labels, disable=not progress, leave=False, mininterval=2.0,
               initial=start, total=exp.iterations)
    for it in bar:
        batches = concat_batches([s.draw() for s in streams], T)
        out = packed.step(batches, it)
        check_finite(out, labels, it + 1, ckpt)
        losses.append(out["loss"] / len(jobs))  # the packed loss sums the copies'
        done = it + 1
        if is_eval_point(exp, done):
            evaluate_all(done, [losses] * len(jobs))  # per-copy losses are not separated: the group's mean
            losses = []
            atomic_torch_save({"method": packed.state_dict(), "streams": [s.state() for s in streams],
                               "torch_rng": torch.get_rng_state(), "curves": curves, "iteration": done,
                               "elapsed": elapsed + time.perf_counter() - t0, "jobs": [j.hash for j in jobs]}, ckpt)
            if stop_after is not None and done >= stop_after and done < exp.iterations:
                raise KeyboardInterrupt(f"stopped after iteration {done} (test hook)")
    bar.close()
    wall = elapsed + time.perf_counter() - t0
    records = []
    for job, method, c in zip(jobs, copies, curves):
        record = build_record(job, method, prep, c, dev, wall, resumed_from,
                              packed={"seeds": [j.seed for j in jobs], "copies": len(jobs),
                                      "note": "trained as one packed model: wall_time_s and the train_loss curve are "
                                              "the group's (mean over its copies)"})
        write_record(job, record)
        records.append(record)
    if ckpt.exists():
        ckpt.unlink()
    return records
