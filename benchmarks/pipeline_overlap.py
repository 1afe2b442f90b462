"""Prefetcher overlap and profiler accuracy: the ratios issue 6 sets as targets.

1. Sleep-based load and compute (both release the GIL): prefetched throughput against the ideal
   1 / max(load, compute) (target >= 0.97), and the plain loop against 1 / (load + compute).
2. The same with real CPU work that releases the GIL (hashlib on large buffers), against the
   ideal from each stage timed alone.
3. The profiler's predicted step rate against the rate measured after applying its top
   recommendation (target: within 10 %).
4. `dlrig pipeline bench`'s own ratios over several runs (moved here from the test suite, where
   `prefetched_vs_ideal > 0.7` failed 1 run in 4 on a 2-core box): prefetched against ideal,
   plain against serial, prefetched against plain, and each check's prediction error.
5. On a GPU: H2D throughput through the prefetcher from pinned batches against a plain pinned
   copy (target >= 0.9), and the copy hidden behind compute (prefetched step / compute alone).

Ratios, not absolute times, are comparable across machines.

    python benchmarks/pipeline_overlap.py [--steps 200]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import threading
import time

from dlrig.pipeline import Prefetcher
from dlrig.pipeline.bench import BenchParams, run_bench, timed_loop
from dlrig.pipeline.profile import BatchMover
from dlrig.pipeline.synthetic import SyntheticLoader, SyntheticStep

OVERLAP_TARGET = 0.97
PREDICTION_TARGET = 0.10
H2D_TARGET = 0.90
CPU_MOVER = BatchMover("cpu")


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def sleep_overlap(steps: int) -> None:
    print("1. sleep-based load and compute (GIL released); ideal from each stage timed alone")
    for load_ms, compute_ms in ((20, 30), (30, 20), (25, 25), (5, 5)):
        loader = SyntheticLoader(steps, load_ms / 1e3, batch_bytes=1024)
        step = SyntheticStep(compute_ms / 1e3)
        plain = timed_loop(loader, step, CPU_MOVER)
        fetched = timed_loop(Prefetcher(loader, depth=2), step, CPU_MOVER)
        load_s = timed_loop(SyntheticLoader(50, load_ms / 1e3, batch_bytes=1024), len, CPU_MOVER)
        compute_s = alone_s(step)
        ideal, serial = max(load_s, compute_s), load_s + compute_s
        nominal = max(load_ms, compute_ms) / 1e3
        r = ideal / fetched
        print(
            f"   load {load_ms:>2} ms, compute {compute_ms:>2} ms: prefetched {1 / fetched:6.1f}/s "
            f"= {r:.3f} of ideal {1 / ideal:.1f}/s [{verdict(r >= OVERLAP_TARGET)}] "
            f"({nominal / fetched:.3f} of the nominal {1 / nominal:.0f}/s); "
            f"plain {1 / plain:5.1f}/s = {serial / plain:.3f} of 1/(load+compute)"
        )


class HashWork:
    """CPU work that releases the GIL: hashlib drops it for buffers over 2047 bytes."""

    def __init__(self, mb: float) -> None:
        self.buf = os.urandom(int(mb * 1e6))

    def __call__(self, *_: object) -> bytes:
        return hashlib.sha256(self.buf).digest()


class HashLoader:
    def __init__(self, steps: int, work: HashWork) -> None:
        self.steps, self.work = steps, work

    def __iter__(self):
        for i in range(self.steps):
            self.work()
            yield i


def alone_s(fn, n: int = 20) -> float:
    fn(None)
    start = time.perf_counter()
    for _ in range(n):
        fn(None)
    return (time.perf_counter() - start) / n


def side_by_side_s(a, b, n: int = 10) -> float:
    """Seconds per step with `a` and `b` running at once in two threads: what this machine
    can actually overlap (vCPUs sharing a core or memory bandwidth run slower side by side)."""

    def loop(fn) -> None:
        for _ in range(n):
            fn(None)

    threads = [threading.Thread(target=loop, args=(fn,)) for fn in (a, b)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return (time.perf_counter() - start) / n


def hash_overlap(steps: int, trials: int = 5) -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"2. real CPU work releasing the GIL (sha256 of large buffers; {cores} cores; "
        f"median of {trials} alternating trials)"
    )
    for load_mb, compute_mb in ((16, 24), (24, 16)):
        load, compute = HashWork(load_mb), HashWork(compute_mb)
        runs: dict[str, list[float]] = {"load": [], "compute": [], "both": [], "fetched": []}
        runs["plain"] = []
        for _ in range(trials):
            runs["load"].append(alone_s(load, 5))
            runs["compute"].append(alone_s(compute, 5))
            runs["both"].append(side_by_side_s(load, compute, 5))
            runs["fetched"].append(
                timed_loop(Prefetcher(HashLoader(steps, load)), compute, CPU_MOVER)
            )
            runs["plain"].append(timed_loop(HashLoader(steps, load), compute, CPU_MOVER))
        m = {k: statistics.median(v) for k, v in runs.items()}
        ideal = max(m["load"], m["compute"])
        r = m["both"] / m["fetched"]
        print(
            f"   load {m['load'] * 1e3:.1f} ms, compute {m['compute'] * 1e3:.1f} ms alone, "
            f"{m['both'] * 1e3:.1f} ms side by side ({ideal / m['both']:.2f} of perfect overlap "
            f"on this machine): prefetched = {r:.3f} of side by side "
            f"[{verdict(r >= OVERLAP_TARGET)}], {ideal / m['fetched']:.3f} of max(load, compute);"
            f" plain = {(m['load'] + m['compute']) / m['plain']:.3f} of 1/(load+compute)"
        )


def prediction_accuracy(steps: int) -> None:
    print("3. profiler: predicted step rate vs measured after applying its top recommendation")
    cases = [
        BenchParams(load_ms=20, compute_ms=30, steps=steps),
        BenchParams(load_ms=30, compute_ms=10, steps=steps),
        BenchParams(load_ms=30, compute_ms=20, read_ms=20, workers=1, steps=steps, cores=2),
        BenchParams(load_ms=40, compute_ms=10, workers=1, steps=steps, cores=4),
    ]
    for p in cases:
        result = run_bench(p)
        top = result.profile.top
        check = next((c for c in result.checks if top is not None and c.fix == top.fix), None)
        label = (
            f"load {p.load_ms:g} (read {p.read_ms:g}) ms, compute {p.compute_ms:g} ms, "
            f"{p.workers} workers, {p.cores or 'all'} cores"
        )
        if check is None:
            print(f"   {label}: no applicable recommendation")
            continue
        err = check.error
        print(
            f"   {label}: top = {check.fix}: predicted {1 / check.predicted_step_s:.1f}/s, "
            f"measured {1 / check.measured_step_s:.1f}/s, error {err:+.1%} "
            f"[{verdict(abs(err) <= PREDICTION_TARGET)}]"
        )


# What tests/pipeline/test_pipeline_cli.py asserted before issue 16; printed, never asserted.
BENCH_BOUNDS = {
    "prefetched_vs_ideal": (0.7, None),
    "plain_vs_serial": (0.7, 1.1),
    "prefetched_vs_plain": (1.2, None),
}
CHECK_ERROR_BOUND = 0.5


def bench_ratios(runs: int = 8) -> None:
    print(f"4. dlrig pipeline bench (load 4 ms, read 2 ms, compute 6 ms, 3 cores), {runs} runs")
    p = BenchParams(load_ms=4, read_ms=2, compute_ms=6, steps=12, batch_mb=0.01, cores=3)
    seen: dict[str, list[float]] = {k: [] for k in BENCH_BOUNDS}
    errors: list[float] = []
    for _ in range(runs):
        d = run_bench(p).to_dict()
        for k in BENCH_BOUNDS:
            seen[k].append(d["ratios"][k])
        errors += [abs(c["error"]) for c in d["checks"]]
    for k, (lo, hi) in BENCH_BOUNDS.items():
        inside = sum((lo is None or v > lo) and (hi is None or v < hi) for v in seen[k])
        print(
            f"   {k}: median {statistics.median(seen[k]):.3f}, min {min(seen[k]):.3f}, "
            f"max {max(seen[k]):.3f}; within ({lo}, {hi}) in {inside} of {runs} runs"
        )
    if errors:
        worst = max(errors)
        print(f"   worst |prediction error| {worst:.3f} [{verdict(worst < CHECK_ERROR_BOUND)}]")


def gpu(steps: int) -> None:
    try:
        import torch
    except ImportError:
        print("5. GPU: skipped (PyTorch not installed)")
        return
    if not torch.cuda.is_available():
        print("5. GPU: skipped (no CUDA device)")
        return
    from dlrig.probe.torch_bench import best_seconds

    n = 256 * 1024 * 1024
    print(f"5. GPU: {torch.cuda.get_device_name(0)}, {n / 1e6:.0f} MB batches")
    pinned = torch.empty(n, dtype=torch.uint8, pin_memory=True)
    dev = torch.empty(n, dtype=torch.uint8, device="cuda")
    ref_gbs = n / 1e9 / best_seconds(torch, lambda: dev.copy_(pinned, non_blocking=True), 10)
    mover = BatchMover("cuda")
    touch = SyntheticStep(0.0, "cuda")
    batches = [{"x": pinned}] * steps
    through = timed_loop(Prefetcher(batches, device="cuda", depth=2), touch, mover)
    got_gbs = n / 1e9 / through
    r = got_gbs / ref_gbs
    print(
        f"   H2D through the prefetcher {got_gbs:.1f} GB/s vs plain pinned copy {ref_gbs:.1f} "
        f"GB/s = {r:.3f} [{verdict(r >= H2D_TARGET)}]"
    )
    copy_s = n / 1e9 / ref_gbs
    compute = SyntheticStep(2 * copy_s, "cuda")
    compute_s = timed_loop([{"x": torch.zeros(1, device="cuda")}] * steps, compute, mover)
    fetched = timed_loop(Prefetcher(batches, device="cuda", depth=2), compute, mover)
    plain = timed_loop(batches, compute, mover)
    hidden = compute_s / fetched
    print(
        f"   copy {copy_s * 1e3:.1f} ms, compute {compute_s * 1e3:.1f} ms: prefetched step "
        f"{fetched * 1e3:.1f} ms = {hidden:.3f} of compute alone (1.0: copy fully hidden) "
        f"[{verdict(hidden >= OVERLAP_TARGET)}]; plain {plain * 1e3:.1f} ms"
    )
    pageable = [{"x": torch.empty(n, dtype=torch.uint8)}] * steps
    fetched_pageable = timed_loop(Prefetcher(pageable, device="cuda", depth=2), compute, mover)
    print(
        f"   from pageable batches (pinned in the prefetcher's thread): step "
        f"{fetched_pageable * 1e3:.1f} ms = {compute_s / fetched_pageable:.3f} of compute alone"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"python {sys.version.split()[0]}, {cores} cores, {args.steps} steps per run")
    sleep_overlap(args.steps)
    hash_overlap(max(args.steps // 4, 20))
    prediction_accuracy(max(args.steps // 2, 20))
    bench_ratios()
    gpu(max(args.steps // 4, 20))
    return 0


if __name__ == "__main__":
    sys.exit(main())
