"""Why bitsandbytes' T4 rows are slower than modelled: the three machines of one source.

Run:  python benchmarks/bnb_settings.py

bitsandbytes' benchmarking/README.md (source_id bnb-benchmarking-readme in
catalog/data/calibration_points.csv) measured one script (optimum-benchmark, transformers
4.46.3, torch 2.5.1) on three machines: an RTX 4090, an H100 SXM and a T4. It names their GPUs,
not their host CPUs. For each weight format this prints, per machine, the published decode step
(batch / tokens per second) at batch 1, 8 and 32, that step per transformer layer at batch 1,
and the weights' read time at the card's datasheet bandwidth (the least a step can take on the
GPU). Where the step is many times that read time and barely grows with the batch, the GPU is
waiting on the host (Python, per-op dispatch); the per-layer step of such a format, compared
across the machines, is then a ratio of the hosts, not of the cards.

Only numbers read from the shipped CSVs are printed: the published rows, the models' shapes
and the cards' datasheet bandwidth. No fitted constant is used.
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from dlrig.catalog.lookup import find_gpu, find_model  # noqa: E402

POINTS = ROOT / "src" / "dlrig" / "catalog" / "data" / "calibration_points.csv"
SOURCE = "bnb-benchmarking-readme"
VERSION = "045"  # the v0.45.0.dev columns (v0.44.1 is the same for the 16-bit rows)
# Bits per weight stored by each format (bitsandbytes: NF4 4 bits plus a 16-bit absmax per
# 64 weights, 4.25; double quantisation stores that absmax in 8 bits, about 4.127; LLM.int8()
# 8 bits plus a 16-bit scale per row, about 8): only to size the read time printed.
BITS = {"16bit": 16.0, "nf4": 4.25, "nf4-dq": 4.127, "int8": 8.0, "int8-decomp": 8.0}


def fmt_of(row_id: str, quant: str) -> str:
    if quant == "none":
        return "16bit"
    for name in ("int8-decomp", "nf4-dq"):
        if f"-{name}-" in row_id:
            return name
    return quant


def main() -> None:
    steps: dict[tuple[str, str, str], dict[int, float]] = defaultdict(dict)
    for row in csv.DictReader(POINTS.open(encoding="utf-8")):
        if row["source_id"] != SOURCE or not row["id"].endswith(VERSION):
            continue
        batch = int(row["batch_size"])
        key = (row["gpu"], row["model"], fmt_of(row["id"], row["quant"]))
        steps[key][batch] = batch / float(row["value"])  # seconds per decode step
    print(f"{SOURCE}: decode step per machine (published, v0.45.0.dev columns)\n")
    head = f"{'gpu':<22}{'model':<14}{'format':<12}"
    head += f"{'b1 ms':>8}{'b8 ms':>8}{'b32 ms':>8}{'ms/layer':>10}{'read ms':>9}{'step/read':>10}"
    print(head)
    per_layer: dict[tuple[str, str], float] = {}
    for (gpu, model, fmt), by_batch in sorted(steps.items()):
        if 1 not in by_batch:
            continue
        m, g = find_model(model), find_gpu(gpu)
        read_s = m.params_total * BITS[fmt] / 8 / (g.memory_bandwidth_gbs * 1e9)
        layer_ms = by_batch[1] * 1e3 / (m.n_layers or 1)
        per_layer[(gpu, fmt)] = layer_ms
        cells = "".join(
            f"{by_batch[b] * 1e3:>8.1f}" if b in by_batch else f"{'-':>8}" for b in (1, 8, 32)
        )
        print(
            f"{gpu:<22}{model:<14}{fmt:<12}{cells}{layer_ms:>10.2f}{read_s * 1e3:>9.1f}"
            f"{by_batch[1] / read_s:>10.1f}"
        )
    print("\nper-layer batch-1 step of each machine over the RTX 4090 machine's, same format:")
    for fmt in BITS:
        base = per_layer.get(("GeForce RTX 4090", fmt))
        if not base:
            continue
        ratios = [
            f"{gpu} {per_layer[(gpu, fmt)] / base:.2f}x"
            for gpu in ("H100 SXM", "Tesla T4")
            if (gpu, fmt) in per_layer
        ]
        print(f"  {fmt:<12}" + "; ".join(ratios))


if __name__ == "__main__":
    main()
