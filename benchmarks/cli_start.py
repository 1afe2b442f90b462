"""CLI start-up: wall time of `dlrig check <example>` against importing its own CLI stack,
`python -c "import typer, pydantic, rich.console"` (issue 16: within 1.3x of it).

Prints the median of several alternating runs of each and their ratio (target: <= 1.3). Ratios,
not absolute times, are comparable across machines. `--importtime` also lists the modules
`dlrig check` imports beyond that stack, costliest first (from `python -X importtime`).

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
TARGET_RATIO = 1.3
STACK = "import typer, pydantic, rich.console"
FLOOR_JSON = "import typer, pydantic\nclass A(pydantic.BaseModel):\n    x: int\nA(x=1)"
FLOOR_TERMINAL = FLOOR_JSON + "\nimport rich.console"


def wall_s(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def _cumulative_us(py: str, argv: list[str]) -> dict[str, int]:
    """Module -> cumulative import time in microseconds, top-level imports only."""
    out = subprocess.run(
        [py, "-X", "importtime", *argv], capture_output=True, text=True, check=False
    ).stderr
    times: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].rstrip()
            if not name.startswith("  "):  # only what was imported at the top of the tree
                times[name.strip()] = int(parts[1])
    return times


def print_importtime(py: str, example: str) -> None:
    stack = _cumulative_us(py, ["-c", STACK])
    check = _cumulative_us(py, ["-m", "dlrig", "check", example])
    extra = sorted(((us, m) for m, us in check.items() if m not in stack), reverse=True)
    print("imported by `dlrig check` beyond the CLI stack (cumulative, one run):")
    for us, module in extra[:15]:
        print(f"  {us / 1000:7.1f} ms  {module}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--example", default=str(ROOT / "examples" / "guide-2015-4gpu.toml"))
    parser.add_argument("--importtime", action="store_true", help="list dlrig's own imports")
    parser.add_argument("--probe", action="store_true", help="time dlrig probe, full and --quick")
    args = parser.parse_args()
    py = sys.executable
    if args.importtime:
        print_importtime(py, args.example)
    if args.probe:
        for extra in ([], ["--quick"]):
            cmd = [py, "-m", "dlrig", "probe", "--format", "json", *extra]
            print(f"{' '.join(['dlrig probe', *extra]):28s} {wall_s(cmd):6.1f} s (one run)")
    commands = {
        f"baseline: python -c '{STACK}'": [py, "-c", STACK],
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
