"""How fast one training step and one evaluation run, against the released code's structure.

    sharebench speed                  # LWS and baseline steps vs the released code, 1 and 2 threads; evaluation
    sharebench profile --method lws   # where one step's time goes (torch.profiler table)

The yardstick is `benchmarks/released.py`: one `nn.Module` per slot, NCHW, float32, Python loops over samples
and tasks, as `jprellberg/learned-weight-sharing` is written. Both sides start from the same weights and see
the same batches; timings alternate between the two (ours, released, ours, ...) so that load on the machine
hits both alike, and the ratio of medians is what counts, never an absolute time from another run.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from sharebench.benchmarks.released import ReleasedLWS, ReleasedNet
from sharebench.benchmarks.sampling import Batch
from sharebench.methods import TaskSpec, create_method

CASES = {  # name -> (tasks, slots K, image size); "dkl" is the DKL-MNIST setting
    "dkl": (3, 3, 28),
    "quick": (5, 3, 16),
    "T20-K20": (20, 20, 16),
}
BATCH_PER_TASK = 16


@dataclass
class StepPair:
    """One training step of the suite and of the released code, on the same weights and batches."""

    name: str
    ours: Callable[[], object]
    released: Callable[[], object]


def _spec(tasks: int, size: int) -> TaskSpec:
    return TaskSpec([f"t{i}" for i in range(tasks)], [10] * tasks, (size, size, 1))


def _batches(tasks: int, size: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.rand(tasks, BATCH_PER_TASK, 1, size, size, generator=g),
             torch.randint(0, 10, (tasks, BATCH_PER_TASK), generator=g)) for _ in range(2)]


def lws_pair(case: str = "dkl", seed: int = 0) -> StepPair:
    """An LWS iteration (NES with 8 samples, then SGD with 8 samples) in both code bases."""
    tasks, slots, size = CASES[case]
    torch.manual_seed(seed)
    ours = create_method("lws", _spec(tasks, size), "dkl-convnet", {"num_slots": slots})
    released = ReleasedLWS(ReleasedNet(ours.net), ours.probs, nes_samples=ours.hparams["nes_samples"],
                           sgd_samples=ours.hparams["sgd_samples"])
    batches = _batches(tasks, size, seed)
    streams = {name: Batch(x, y, torch.arange(tasks)) for name, (x, y) in zip(("nes", "sgd"), batches)}
    return StepPair(f"lws {case}", lambda: ours.step(streams, 0), lambda: released.trainstep(*batches))


def baseline_pair(method: str = "isolated", case: str = "dkl", seed: int = 0) -> StepPair:
    """A fixed-assignment step (no / full / prior sharing) in both code bases."""
    tasks, _, size = CASES[case]
    torch.manual_seed(seed)
    ours = create_method(method, _spec(tasks, size), "dkl-convnet")
    released = ReleasedNet(ours.net)
    optimizer = torch.optim.Adam(released.parameters(), lr=ours.hparams["lr"])
    x, y = _batches(tasks, size, seed)[0]
    assignment = ours.assignment.cpu()
    return StepPair(f"{method} {case}", lambda: ours.update(x, y, 0),
                    lambda: released.baseline_step(x, y, assignment, optimizer))


def time_pair(pair: StepPair, repeats: int = 10, warmup: int = 2) -> dict[str, float]:
    """Median seconds of each side, alternating calls, and the speed-up released / ours."""
    times: dict[str, list[float]] = {"ours": [], "released": []}
    for i in range(warmup + repeats):
        for side in ("ours", "released"):
            start = time.perf_counter()
            getattr(pair, side)()
            if i >= warmup:
                times[side].append(time.perf_counter() - start)
    ours, released = statistics.median(times["ours"]), statistics.median(times["released"])
    return {"ours_ms": 1000 * ours, "released_ms": 1000 * released, "speedup": released / ours}


def eval_seconds(method: str = "lws", images: int = 29_500, chunk: int | None = None, seed: int = 0) -> float:
    """Seconds to predict `images` 28 px images of the DKL setting (one task at a time, as the runner does)."""
    torch.manual_seed(seed)
    m = create_method(method, _spec(3, 28), "dkl-convnet")
    if chunk is not None:
        m.cpu_predict_chunk = chunk
    x = torch.rand(min(images, 10_000), 1, 28, 28)
    m.predict(x[:256], 0)  # warm-up
    start, done, task = time.perf_counter(), 0, 0
    while done < images:
        n = min(len(x), images - done)
        for i in range(0, n, 2048):  # the runner's evaluation chunk (benchmarks/metrics.py)
            m.predict(x[i:min(n, i + 2048)], task % 3).argmax(1)
        done, task = done + n, task + 1
    return time.perf_counter() - start


def profile_table(step: Callable[[], object], iterations: int = 5, rows: int = 25) -> str:
    """torch.profiler's table of one step's operators, sorted by their own CPU time."""
    from torch.profiler import ProfilerActivity, profile

    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(iterations):
            step()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def speed_table(cases: list[str], threads: list[int], repeats: int, methods: list[str]) -> list[dict[str, object]]:
    """Every (step, threads) pair timed in one process: the rows of `sharebench speed`."""
    rows = []
    before = torch.get_num_threads()
    try:
        for n in threads:
            torch.set_num_threads(n)
            for case in cases:
                pairs = [lws_pair(case)] + [baseline_pair(m, case) for m in methods]
                for pair in pairs:
                    rows.append({"step": pair.name, "threads": n, **time_pair(pair, repeats)})
    finally:
        torch.set_num_threads(before)
    return rows
