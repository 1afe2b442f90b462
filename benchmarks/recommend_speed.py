"""Recommender speed: candidate builds evaluated per second, and the wall time of a typical
`dlrig recommend` call against `python -c "import pydantic, rich"` (target: >= 1e5 /s).

The search (recommend/search.py) prices and masks every GPU configuration x host x PSU x RAM
kit x drive combination with numpy. Timed here alone, on the whole catalog, after the estimator
has run once (the estimator calls are timed apart). Ratios and rates, not absolute wall times,
compare across machines.

    python benchmarks/recommend_speed.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from dlrig.recommend import Request, buyable_gpus, recommend
from dlrig.recommend.configs import configure_all
from dlrig.recommend.market import catalog_market
from dlrig.recommend.request import parse_workload
from dlrig.recommend.search import search

TARGET_PER_S = 1e5
WORKLOADS = (
    ("llama-3-8b:lora", 5000, {"seq_len": 2048}),
    ("resnet50:train", 20000, {}),
    ("llama-3-70b:infer", 40000, {"quant": "int4"}),
)
CLI = ["recommend", "--budget", "5000", "--workload", "llama-3-8b:lora", "--seq-len", "2048"]


def wall_s(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    market = catalog_market()
    worst = float("inf")
    print(
        f"{'workload':<22} {'candidates':>12} {'search s':>9} {'per s':>12} {'configs s':>10} "
        f"{'recommend s':>12}"
    )
    for workload, budget, job in WORKLOADS:
        model, task = parse_workload(workload)
        req = Request(workload, model, task, budget, job=job)
        gpus = buyable_gpus(market, req)
        t0 = time.perf_counter()
        configs = configure_all(model, gpus, req)
        configs_s = time.perf_counter() - t0
        times, evaluated = [], 0
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            evaluated = search(configs, market, req).evaluated
            times.append(time.perf_counter() - t0)
        search_s = statistics.median(times)
        t0 = time.perf_counter()
        recommend(req, market)
        total_s = time.perf_counter() - t0
        rate = evaluated / search_s
        worst = min(worst, rate)
        print(
            f"{workload:<22} {evaluated:>12,} {search_s:>9.3f} {rate:>12,.0f} {configs_s:>10.3f} "
            f"{total_s:>12.3f}"
        )
    py = sys.executable
    base = statistics.median(wall_s([py, "-c", "import pydantic, rich"]) for _ in range(3))
    cli = statistics.median(wall_s([py, "-m", "dlrig", *CLI]) for _ in range(3))
    print(
        f"\ndlrig {' '.join(CLI)}: {cli:.2f} s wall = {cli / base:.1f} x "
        f"`import pydantic, rich` ({base:.2f} s)"
    )
    verdict = "meets" if worst >= TARGET_PER_S else "MISSES"
    print(
        f"slowest search rate {worst:,.0f} candidates/s: {verdict} the "
        f"{TARGET_PER_S:,.0f}/s target ({worst / TARGET_PER_S:.0f} x)"
    )
    return 0 if worst >= TARGET_PER_S else 1


if __name__ == "__main__":
    sys.exit(main())
