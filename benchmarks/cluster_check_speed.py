"""`dlrig check` of a 1,024-node cluster file (target: under 1 s in-process, issue 18).

Three shapes of the same 1,024 nodes, written to a temporary folder next to a copy of the DGX
H100 node build: one group of 1,024; 1,024 groups of one named node, all naming the same build
file; 1,024 groups with identical inline nodes. Each is checked in-process (the CLI's `run`,
output to a file) after one warm-up call, so the time is the check, not Python start-up.

    python benchmarks/cluster_check_speed.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
import tomllib
from pathlib import Path

from dlrig.cli import run

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 1.0
NETWORK = """
[network]
fabric = "ib-ndr"
nics_per_node = 8
gpudirect_rdma = true
topology = "rail-optimized"
"""
HEAD = "[cluster]\nracks = 256\nrack_power_kw = 60\nrack_cooling_kw = 45\ntrain_tokens = 1e12\n"
WORKLOAD = '\n[workload]\nmodel = "llama-3.1-8b"\ntask = "train"\nzero = 1\ncheckpointing = true\n'


def shapes(folder: Path) -> dict[str, Path]:
    shutil.copy(ROOT / "examples" / "cluster-8x-h100-node.toml", folder / "node.toml")
    one = HEAD + '\n[[cluster.nodes]]\ncount = 1024\nbuild = "node.toml"\n'
    named = HEAD + "".join(
        f'\n[[cluster.nodes]]\nbuild = "node.toml"\nnames = ["gpu{i:04d}"]\n' for i in range(1024)
    )
    node = tomllib.loads((folder / "node.toml").read_text())
    inline = HEAD + "".join(
        "\n[[cluster.nodes]]\n[cluster.nodes.node]\n"
        f"[cluster.nodes.node.cpu]\ncount = 2\ncores = 56\npcie_lanes = 80\npcie_gen = 5\n"
        f'tdp_w = 350\n[[cluster.nodes.node.gpus]]\nmodel = "H100 SXM"\ncount = 8\n'
        f"[cluster.nodes.node.power]\nother_w = {node['power']['other_w']}\n"
        for _ in range(1024)
    )
    out = {}
    for name, text in (
        ("1 group of 1024", one),
        ("1024 named groups", named),
        ("1024 inline", inline),
    ):
        path = folder / f"{name.replace(' ', '-')}.toml"
        path.write_text(text + NETWORK + WORKLOAD)
        out[name] = path
    return out


def time_toml(path: Path, repeats: int) -> float:
    """tomllib alone (pure Python; it dominates for large inline files)."""
    text = path.read_text()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        tomllib.loads(text)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_check(path: Path, repeats: int) -> tuple[float, int]:
    report = path.with_suffix(".txt")
    code = run(["check", str(path), "-o", str(report)])  # warm-up: imports, catalog caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(["check", str(path), "-o", str(report)])
        times.append(time.perf_counter() - start)
    return statistics.median(times), code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in shapes(Path(tmp)).items():
            seconds, code = time_check(path, args.repeats)
            toml_s = time_toml(path, args.repeats)
            size = path.stat().st_size
            verdict = "ok" if seconds < TARGET_S else "SLOWER THAN TARGET"
            print(
                f"{name:>18}: {size:>7,} bytes, check {seconds * 1000:7.1f} ms, of which "
                f"tomllib {toml_s * 1000:6.1f} ms (median of {args.repeats}, exit {code}); "
                f"target < {TARGET_S:g} s: {verdict}"
            )


if __name__ == "__main__":
    main()
