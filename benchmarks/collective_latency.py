"""Is a fixed per-collective cost missing from comm.allreduce_s? Fits the published 8-byte
NCCL all-reduce times on PCIe GeForce cards (benchmarks/collective_latency.csv, each row
quoting its source) as t = a + 2(n-1)·b, least squares, with and without the one-GPU row,
and prints them next to what comm.py's ring latency (efficiencies.csv
latency_us_pcie_nop2p_hop) says for the same rank counts. An analysis for the report: no
constant is written from it (the estimator keeps its sourced per-step latency)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from dlrig.estimate import params as p  # noqa: E402


def fit(rows: list[dict[str, str]]) -> tuple[float, float]:
    """(a, b) of t = a + 2(n-1)·b by least squares."""
    xs = [2 * (int(r["n_gpus"]) - 1) for r in rows]
    ys = [float(r["time_us"]) for r in rows]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    return my - b * mx, b


def main() -> None:
    with (ROOT / "benchmarks" / "collective_latency.csv").open() as f:
        rows = list(csv.DictReader(f))
    hop = p.value("latency_us_pcie_nop2p_hop")
    print("published 8-byte all-reduce times, PCIe GeForce cards without P2P:")
    for r in rows:
        n = int(r["n_gpus"])
        print(
            f"  {r['id']:26s} n={n}  {float(r['time_us']):6.2f} us   "
            f"comm.py's ring: {2 * (n - 1) * hop:6.2f} us"
        )
    for label, sel in (
        ("all rows", rows),
        ("without the one-GPU row", [r for r in rows if int(r["n_gpus"]) > 1]),
    ):
        a, b = fit(sel)
        print(f"fit over {label} ({len(sel)}): fixed {a:+.2f} us + {b:.2f} us per ring step")


if __name__ == "__main__":
    main()
