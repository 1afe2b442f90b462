"""Probe accuracy: `dlrig probe`'s memory bandwidth and disk read against reference tools.

- Memory: the probe's single-threaded NumPy copy against mbw's best copy method (MEMCPY, DUMB,
  MCBLOCK; all single-threaded) on the same buffer size; mbw counts copied bytes once, so its
  MiB/s is converted to the STREAM convention the probe reports (x 2 x 1.048576 / 1000 -> GB/s).
  Without mbw: a STREAM-like copy (`a[:] = b`).
- Disk: the probe's O_DIRECT sequential read against `fio --rw=read --bs=4M --direct=1
  --ioengine=psync` on the same file, and its 4 KiB random-read IOPS against `fio --rw=randread
  --bs=4k --direct=1 --iodepth=1`.

Memory keeps the best run of each (as STREAM does); disk runs alternate fio and the probe and
compare medians (a virtual disk's occasional cache bursts make the best run an outlier). Prints
each pair and the ratio probe / reference (target >= 0.9).

    python benchmarks/probe_accuracy.py [--data-dir .] [--size-mb 512] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from dlrig.probe import disk, memory

TARGET_RATIO = 0.9
MIB = 1.048576  # MB per MiB


def mbw_gbs(size_mb: int, runs: int) -> dict[str, float] | None:
    """Best run of each mbw copy method (memcpy, dumb loop, blocked memcpy), converted to GB/s
    in the STREAM convention."""
    if shutil.which("mbw") is None:
        return None
    mib = max(1, round(size_mb / MIB))
    out = subprocess.run(
        ["mbw", "-q", "-n", str(runs), str(mib)], capture_output=True, text=True, check=True
    ).stdout
    best: dict[str, float] = {}
    for method, rate in re.findall(r"^\d+\s+Method: (\w+).*Copy: ([\d.]+) MiB/s", out, re.M):
        best[method] = max(best.get(method, 0.0), 2 * float(rate) * MIB / 1000)
    return best


def stream_copy_gbs(size_mb: int, runs: int) -> float:
    import numpy as np

    a = np.zeros(int(size_mb * 1e6), dtype=np.uint8)
    b = np.ones_like(a)
    best = float("inf")
    for _ in range(runs + 1):
        t0 = time.perf_counter()
        a[:] = b
        best = min(best, time.perf_counter() - t0)
    return memory.copy_gbs(a.nbytes, best)


def fio_json(args: list[str]) -> dict:
    out = subprocess.run(
        ["fio", "--output-format=json", *args], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)["jobs"][0]["read"]


def row(name: str, probe: float, ref: float | None, ref_name: str, unit: str) -> None:
    if ref is None:
        print(f"{name:<24} probe {probe:>10.1f} {unit:<5} {ref_name}: not installed")
        return
    ratio = probe / ref
    flag = "ok" if ratio >= TARGET_RATIO else "BELOW TARGET"
    print(
        f"{name:<24} probe {probe:>10.1f} {unit:<5} {ref_name} {ref:>10.1f} {unit:<5} "
        f"ratio {ratio:5.2f}  {flag}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("."))
    parser.add_argument("--size-mb", type=int, default=512)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--iops-s", type=float, default=1.0)
    args = parser.parse_args()

    # Memory: best single-threaded copy, probe against mbw (or a STREAM-like copy).
    probe_1t = max(memory.measure_copy(args.size_mb, args.runs, 1)[0] for _ in range(2))
    ref = mbw_gbs(args.size_mb, args.runs)
    if ref:
        print("mbw, GB/s (STREAM convention): " + ", ".join(f"{k} {v:.1f}" for k, v in ref.items()))
        method = max(ref, key=lambda k: ref[k])
        row("memory copy (1 thread)", probe_1t, ref[method], f"mbw {method}", "GB/s")
    else:
        row(
            "memory copy (1 thread)",
            probe_1t,
            stream_copy_gbs(args.size_mb, args.runs),
            "stream-like",
            "GB/s",
        )

    # Disk: the same file read by fio and by the probe, alternating.
    target = args.data_dir / f".dlrig-accuracy-{os.getpid()}.tmp"
    nbytes = args.size_mb * 1_000_000 // disk.BLOCK_BYTES * disk.BLOCK_BYTES
    try:
        disk._write_test_file(target, nbytes)
        have_fio = shutil.which("fio") is not None
        probe_runs, fio_runs = [], []
        for _ in range(args.runs):
            if have_fio:
                r = fio_json(
                    [
                        "--name=seq",
                        f"--filename={target}",
                        "--rw=read",
                        "--bs=4M",
                        "--direct=1",
                        "--ioengine=psync",
                        f"--size={nbytes}",
                    ]
                )
                fio_runs.append(r["bw_bytes"] / 1e6)
            mbs, method, _ = disk.read_uncached(str(target), nbytes, None)
            probe_runs.append(mbs)
        print(
            "disk seq read, MB/s: probe "
            + " ".join(f"{v:.0f}" for v in probe_runs)
            + (" | fio " + " ".join(f"{v:.0f}" for v in fio_runs) if fio_runs else "")
        )
        fio_median = statistics.median(fio_runs) if fio_runs else None
        row(f"disk seq read ({method})", statistics.median(probe_runs), fio_median, "fio", "MB/s")
        if method == "o_direct":
            probe_iops, fio_iops = [], []
            for _ in range(args.runs):
                probe_iops.append(disk.random_read_iops(str(target), nbytes, args.iops_s))
                if have_fio:
                    r = fio_json(
                        [
                            "--name=rand",
                            f"--filename={target}",
                            "--rw=randread",
                            "--bs=4k",
                            "--direct=1",
                            "--ioengine=psync",
                            "--iodepth=1",
                            f"--size={nbytes}",
                            "--time_based",
                            f"--runtime={args.iops_s}",
                        ]
                    )
                    fio_iops.append(r["iops"])
            fio_median = statistics.median(fio_iops) if fio_iops else None
            row("disk 4 KiB random read", statistics.median(probe_iops), fio_median, "fio", "IOPS")
    finally:
        target.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
