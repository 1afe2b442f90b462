"""CLI start-up: wall time of `dlrig check <example>` against `python -c "import pydantic, rich"`.

Prints the median of several alternating runs of each and their ratio (target: <= 2). Ratios,
not absolute times, are comparable across machines.

    python benchmarks/cli_start.py [--runs 15] [--example examples/guide-2015-4gpu.toml]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 2.0
FLOOR_JSON = "import typer, pydantic\nclass A(pydantic.BaseModel):\n    x: int\nA(x=1)"
FLOOR_TERMINAL = FLOOR_JSON + "\nimport rich.console"


def wall_s(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--example", default=str(ROOT / "examples" / "guide-2015-4gpu.toml"))
    args = parser.parse_args()
    py = sys.executable
    commands = {
        "baseline: python -c 'import pydantic, rich'": [py, "-c", "import pydantic, rich"],
        "dlrig check (terminal)": [py, "-m", "dlrig", "check", args.example],
        "dlrig check --format json": [py, "-m", "dlrig", "check", args.example, "-f", "json"],
    }
    # Floors: what the mandated stack costs before any dlrig code runs. A CLI that validates its
    # input with one pydantic model, parses arguments with typer and prints with rich cannot
    # start faster than these.
    floors = {
        "floor: python -c pass": [py, "-c", "pass"],
        "floor: typer + one pydantic model": [py, "-c", FLOOR_JSON],
        "floor: typer + one pydantic model + rich.console": [py, "-c", FLOOR_TERMINAL],
    }
    everything = {**commands, **floors}
    times: dict[str, list[float]] = {name: [] for name in everything}
    for cmd in everything.values():  # warm the file cache once
        wall_s(cmd)
    for _ in range(args.runs):
        for name, cmd in everything.items():
            times[name].append(wall_s(cmd))
    base_name = next(iter(commands))
    base = statistics.median(times[base_name])
    print(f"median of {args.runs} runs each, on {sys.platform}, Python {sys.version.split()[0]}")
    worst = 0.0
    for name, samples in times.items():
        med = statistics.median(samples)
        ratio = med / base
        if name != base_name and name in commands:
            worst = max(worst, ratio)
        print(f"  {name:50s} {med * 1000:7.1f} ms  ratio {ratio:4.2f}")
    verdict = "meets" if worst <= TARGET_RATIO else "misses"
    print(f"worst ratio {worst:.2f}: {verdict} the target of <= {TARGET_RATIO}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
