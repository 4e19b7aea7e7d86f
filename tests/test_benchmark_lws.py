"""One training step of the suite vs the released code's structure (benchmarks/released.py), same weights and batches.

    pytest tests/test_benchmark_lws.py --benchmark-enable --benchmark-group-by=param:step
    sharebench speed        # the same pairs, alternating calls, as a table of ratios at 1 and 2 threads

"released" is written as `jprellberg/learned-weight-sharing` is: one nn.Module per slot, NCHW, float32, a Python
loop over samples and tasks (tests/test_fidelity.py checks that one iteration of both gives the same weights).
The suite runs with benchmarks disabled (each step runs once, so both code paths are still exercised).
"""

from __future__ import annotations

import pytest

from sharebench.benchmarks import speed

# T20-K20 (160 rows) is too slow for the suite: time it with `sharebench speed --case T20-K20`
STEPS = {f"lws-{case}": (lambda case=case: speed.lws_pair(case)) for case in ("dkl", "quick")}
STEPS.update({f"{m}-dkl": (lambda m=m: speed.baseline_pair(m, "dkl")) for m in ("isolated", "shareall", "partial")})


@pytest.mark.parametrize("side", ["ours", "released"])
@pytest.mark.parametrize("step", list(STEPS))
def test_training_step(benchmark, step, side):
    pair = STEPS[step]()
    run = getattr(pair, side)
    run()  # warm-up
    benchmark(run)


def test_speed_table_and_profile_run():
    rows = speed.speed_table(["quick"], [1], repeats=1, methods=["isolated"])
    assert [r["step"] for r in rows] == ["lws quick", "isolated quick"]
    assert all(r["speedup"] > 0 for r in rows)
    table = speed.profile_table(speed.baseline_pair("shareall", "quick").ours, iterations=1, rows=5)
    assert "Self CPU" in table
    assert speed.eval_seconds("isolated", images=300) > 0
