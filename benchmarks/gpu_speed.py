"""Seed packing on a GPU: S seeds' training steps as S separate models vs one packed model (issue 8).

    python -m sharebench.benchmarks.gpu_speed --seeds 10 --repeats 20

The baseline is what unpacked jobs cost: S models of the suite, each stepped on its own batches (the runner's
path for one job, on CUDA), one after the other in one process. The packed side steps the same S copies as one
banked model (`methods/packing.py`). Both sides alternate, step for step, under the same load; times are
medians of synchronised wall clock per iteration (one step of every seed). The DKL setting: 3 tasks, K = 3,
28 px, 16 images per task; LWS with 8 NES and 8 SGD samples.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from sharebench.benchmarks.sampling import Batch
from sharebench.benchmarks.speed import BATCH_PER_TASK, CASES, _spec
from sharebench.methods import create_method
from sharebench.methods.packing import pack

HPARAMS = {"lws": {"num_slots": 3}, "isolated": {}, "shareall": {}, "partial": {"shared_layers": [0, 1]}}


def _copies(method: str, case: str, seeds: int, device: torch.device) -> list:
    tasks, slots, size = CASES[case]
    hp = dict(HPARAMS[method])
    if method == "lws":
        hp["num_slots"] = slots
    out = []
    for s in range(seeds):
        torch.manual_seed(s)
        out.append(create_method(method, _spec(tasks, size), "dkl-convnet", hp, device=device))
    return out


def _streams(tasks: int, size: int, device: torch.device, seed: int) -> dict[str, Batch]:
    g = torch.Generator().manual_seed(seed)
    return {name: Batch(torch.rand(tasks, BATCH_PER_TASK, 1, size, size, generator=g).to(device),
                        torch.randint(0, 10, (tasks, BATCH_PER_TASK), generator=g).to(device),
                        torch.arange(tasks, device=device)) for name in ("nes", "sgd", "train")}


def time_packing(method: str, seeds: int, case: str = "dkl", repeats: int = 20, warmup: int = 3,
                 device: str = "cuda") -> dict[str, float]:
    """Median ms per iteration of all seeds: separate models vs one packed model, and the speed-up."""
    dev = torch.device(device)
    tasks, _, size = CASES[case]
    alone = _copies(method, case, seeds, dev)
    packed = pack(_copies(method, case, seeds, dev))
    streams = [_streams(tasks, size, dev, s) for s in range(seeds)]
    joint = {k: Batch(torch.cat([s[k].x for s in streams]), torch.cat([s[k].y for s in streams]),
                      torch.arange(tasks * seeds, device=dev)) for k in streams[0]}

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    def separate() -> None:
        for m, b in zip(alone, streams):
            m.step(b, 0)

    times: dict[str, list[float]] = {"separate": [], "packed": []}
    for i in range(warmup + repeats):
        for name, fn in (("separate", separate), ("packed", lambda: packed.step(joint, 0))):
            sync()
            start = time.perf_counter()
            fn()
            sync()
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    sep, pk = statistics.median(times["separate"]), statistics.median(times["packed"])
    return {"separate_ms": 1000 * sep, "packed_ms": 1000 * pk, "speedup": sep / pk}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, action="append", help="copies per model (default: 1, 5 and 10)")
    parser.add_argument("--method", action="append", help="lws, isolated, shareall, partial (default: the first 3)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--cudnn-benchmark", choices=["on", "off", "both"], default="on",
                        help="cuDNN's algorithm search (the runner turns it on for CUDA jobs)")
    args = parser.parse_args()
    print(f"device: {torch.cuda.get_device_name() if args.device.startswith('cuda') else args.device}; "
          f"torch {torch.__version__}")
    print("| method | seeds | cudnn.benchmark | separate models, ms / iteration | packed, ms / iteration | speed-up |")
    print("|---|---|---|---|---|---|")
    for mode in (["off", "on"] if args.cudnn_benchmark == "both" else [args.cudnn_benchmark]):
        torch.backends.cudnn.benchmark = mode == "on"
        for method in args.method or ["lws", "isolated", "shareall"]:
            for seeds in args.seeds or [1, 5, 10]:
                r = time_packing(method, seeds, repeats=args.repeats, device=args.device)
                print(f"| {method} | {seeds} | {mode} | {r['separate_ms']:.1f} | {r['packed_ms']:.1f} | "
                      f"{r['speedup']:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
