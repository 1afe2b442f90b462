"""CLI start-up: wall time of `dlrig check <example>` against importing its own CLI stack,
`python -c "import typer, pydantic, rich.console"` (issue 16: within 1.3x of it).

Prints the median of several alternating runs of each and their ratio (target: <= 1.3). Ratios,
not absolute times, are comparable across machines. `--importtime` also lists the modules
`dlrig check` imports beyond that stack, costliest first (from `python -X importtime`).

Every run uses the same interpreter and finds its bytecode cached, as an installed dlrig does
(pip compiles it on install): the runs get a fresh PYTHONPYCACHEPREFIX that the first, unmeasured
round fills. Without that, a PYTHONDONTWRITEBYTECODE=1 in the environment would make dlrig's own
modules compile from source on every run while the libraries' bytecode came with their install,
charging dlrig for a compile no user pays. `--no-bytecode-cache` measures the environment as is.

`--against SRC` times `dlrig check` from another source tree (say, main's `src/`) in the same
alternating runs: a before/after comparison that a busy machine skews the least.

    python benchmarks/cli_start.py [--runs 15] [--example examples/guide-2015-4gpu.toml]
        [--against /path/to/other/checkout/src]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.3
STACK = "import typer, pydantic, rich.console"
FLOOR_JSON = "import typer, pydantic\nclass A(pydantic.BaseModel):\n    x: int\nA(x=1)"
FLOOR_TERMINAL = FLOOR_JSON + "\nimport rich.console"
# The smallest program built like `dlrig check`: a typer app with a root callback and one command
# taking a file argument and a format option (typer >= 0.2x coerces each parameter through a
# pydantic TypeAdapter), one pydantic model validated, one line printed through a rich Console.
FLOOR_CLI = """
import enum, pathlib, sys, typer, pydantic
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
class Fmt(str, enum.Enum):
    terminal = "terminal"
    json = "json"
class A(pydantic.BaseModel):
    x: int
@app.callback()
def root(debug: bool = False) -> None: pass
@app.command()
def check(path: pathlib.Path, fmt: Fmt = typer.Option(Fmt.terminal, "--format")) -> None:
    from rich.console import Console
    Console().print(A(x=len(str(path))).x)
app(args=sys.argv[1:], prog_name="floor", standalone_mode=False)
"""


ENV: dict[str, str] | None = None  # the environment of every timed run (main() sets it)


def wall_s(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=ENV)
    return time.perf_counter() - start


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds user + system) of one run of `cmd`. The CPU time varies less
    than the wall time on a machine that other work shares; the target is on the wall time."""
    env = ENV if env is None else env
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait again
    if proc.returncode not in (0, 1):  # 1: the example build has errors; anything else failed
        raise SystemExit(f"{cmd[:3]}... exited {proc.returncode}: not a run worth timing")
    return wall, usage.ru_utime + usage.ru_stime


def _cumulative_us(py: str, argv: list[str]) -> dict[str, int]:
    """Module -> cumulative import time in microseconds, top-level imports only."""
    subprocess.run([py, *argv], capture_output=True, check=False, env=ENV)  # cache bytecode
    out = subprocess.run(
        [py, "-X", "importtime", *argv], capture_output=True, text=True, check=False, env=ENV
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
    parser.add_argument("--against", help="also time dlrig check from this src/ directory")
    parser.add_argument("--probe", action="store_true", help="time dlrig probe, full and --quick")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="keep the environment's bytecode setting (PYTHONDONTWRITEBYTECODE) as it is",
    )
    args = parser.parse_args()
    if args.no_bytecode_cache:
        return measure(args)
    global ENV
    cache = tempfile.mkdtemp(prefix="dlrig-cli-start-")
    ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    ENV["PYTHONPYCACHEPREFIX"] = cache
    try:
        return measure(args)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def measure(args: argparse.Namespace) -> int:
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
    floor_cli = [py, "-c", FLOOR_CLI, "check", args.example]
    # Floors: what the mandated stack costs before any dlrig code runs. A CLI that validates its
    # input with one pydantic model, parses arguments with typer and prints with rich cannot
    # start faster than these.
    floors = {
        "floor: python -c pass": [py, "-c", "pass"],
        "floor: typer + one pydantic model": [py, "-c", FLOOR_JSON],
        "floor: typer + one pydantic model + rich.console": [py, "-c", FLOOR_TERMINAL],
        "floor: a typer command + one model + rich print": floor_cli,
    }
    everything = {**commands, **floors}
    envs: dict[str, dict[str, str]] = {}
    if args.against:
        name = "dlrig check (terminal) of --against"
        everything[name] = commands["dlrig check (terminal)"]
        envs[name] = dict(ENV if ENV is not None else os.environ, PYTHONPATH=args.against)
    times: dict[str, list[float]] = {name: [] for name in everything}
    cpu: dict[str, list[float]] = {name: [] for name in everything}
    for name, cmd in everything.items():  # warm the file cache and the bytecode cache once
        timed(cmd, envs.get(name))
    for _ in range(args.runs):
        for name, cmd in everything.items():
            wall, cpu_s = timed(cmd, envs.get(name))
            times[name].append(wall)
            cpu[name].append(cpu_s)
    base_name = next(iter(commands))
    base = statistics.median(times[base_name])
    base_cpu = statistics.median(cpu[base_name])
    cached = "as the environment has it" if ENV is None else "cached in a fresh prefix"
    print(
        f"median of {args.runs} alternating runs each, on {sys.platform}, "
        f"Python {sys.version.split()[0]} ({py}), bytecode {cached}"
    )
    if args.against:
        print(f"--against: {args.against}")
    print(f"  {'':50s} {'wall':>7s}          {'CPU (user+sys)':>22s}")
    worst = 0.0
    for name, samples in times.items():
        med = statistics.median(samples)
        ratio = med / base
        med_cpu = statistics.median(cpu[name])
        if name != base_name and name in commands:
            worst = max(worst, ratio)
        print(
            f"  {name:50s} {med * 1000:7.1f} ms  ratio {ratio:4.2f}"
            f"   {med_cpu * 1000:7.1f} ms  ratio {med_cpu / base_cpu:4.2f}"
        )
    verdict = "meets" if worst <= TARGET_RATIO else "misses"
    print(f"worst wall-time ratio {worst:.2f}: {verdict} the target of <= {TARGET_RATIO}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
