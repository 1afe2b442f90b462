"""How long oversized hostile input takes to be refused (issue 16: 33 000 [[gpus]] tables took
56 s to reject). Writes the inputs to a temporary directory, runs `dlrig check` on each in a
fresh process, and prints the exit code, the wall time and the one error line. The tests
(tests/test_hostile_input.py) assert the refusal only; times belong here (target: < 1 s).

    python benchmarks/hostile_reject.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 1.0
CASES = {
    # 33 000 tables of 28 bytes: 0.92 MB, under the 1 MB cap on a build file.
    "33000 [[gpus]] tables": '[[gpus]]\nmodel = "RTX 4090"\n' * 33_000,
    "30000 [[storage]] tables": '[[storage]]\nkind = "nvme"\n' * 30_000,
    "60000-slot gpu_slot_lanes": "[motherboard]\ngpu_slot_lanes = [" + "16," * 60_000 + "]\n",
}


def run_once(path: Path) -> tuple[float, int, str]:
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "dlrig", "check", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
    )
    return time.perf_counter() - start, out.returncode, out.stderr.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for label, text in CASES.items():
            path = Path(tmp) / "hostile.toml"
            path.write_text(text)
            times, code, line = [], 0, ""
            for _ in range(args.runs):
                seconds, code, line = run_once(path)
                times.append(seconds)
            median = statistics.median(times)
            worst = max(worst, median)
            print(f"{label:28s} {len(text) / 1e6:5.2f} MB  exit {code}  {median:6.3f} s  {line}")
    print(f"slowest median {worst:.3f} s (target < {TARGET_S} s, process start included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
