"""The compute roof: the dense-matmul rate a card actually sustains, per card and precision.

Datasheet tensor rates assume the rated boost clock on every SM. Cards with a low power limit
for their silicon do not hold it under a long GEMM (H100 PCIe, 350 W: 449-496 of 756 TFLOPS;
A10, 150 W: 54-56 of 125; L4, 72 W: 65-71 of 121), while GeForce cards clock above their
rating and reach or pass their FP32-accumulate figure (RTX 4090 150-173 of 165.2, RTX 3090
75.5-76.7 of 71). catalog/data/matmul_rates.csv holds the published measurements (stas00's
MAMF table, mli/transformers-benchmarks, zzc0721/torch-performance-test-data,
chsasank/device-benchmarks), one row each, with what was measured.

roof(gpu, precision) = the datasheet dense rate at the precision (compute.peak) x a fraction:
1. The card measured at the precision (16-bit: its FP16 and BF16 rows together, one tensor
   rate on every card with both): the median of its rows over the datasheet rate those rows are
   measured against. The median, because the sources disagree in method (a 3 s sustained run vs
   a burst of 30 calls vs single calls) and one outlier must not set the roof.
2. A precision the card was not measured at (TF32, FP8, FP16 accumulate): the card's 16-bit
   fraction, capped at 1 when the precision runs at another rate than the measured one (a
   faster path draws more power for the same work, so headroom above the datasheet is not
   assumed to carry over). Where the table has both, a card's TF32 fraction is close to its
   16-bit one: H100 PCIe 0.64 vs 0.62, L4 0.53 vs 0.58, RTX A4000 0.89 vs 0.84, H100 SXM
   0.81 vs 0.80.
3. A card never measured: the median 16-bit fraction of the measured cards of its class (at
   most 1 for a precision other than 16-bit, as in 2). Classes, from gpus.csv alone:
   "half-rate" (GeForce: FP32 accumulate at half the FP16-accumulate rate; they run at or above
   the datasheet), "module" (SXM/OAM: power budgets of 400-1400 W), "board" (PCIe cards and
   small systems: the power-limited ones). Power limit, not architecture, is what separates the
   measured fractions: Ada spans 0.58 (L4) to 1.02 (RTX 4090) and Ampere 0.45 (A10) to 1.07
   (RTX 3090), while each class's spread is much narrower.
FP32 on CUDA cores and cards without tensor cores keep their datasheet rate (fraction 1): no
source here measured them.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from functools import cache

from dlrig.catalog import load
from dlrig.catalog import matmul_rates as mr
from dlrig.model.parts import GpuSpec

SIXTEEN_BIT = ("bf16", "fp16")
# A class with fewer measured cards than this takes the median over every measured card.
MIN_CLASS_CARDS = 3
HALF_RATE_RATIO = 1.5  # FP16-accumulate over FP32-accumulate rate above this: a GeForce card


@dataclass(frozen=True)
class Roof:
    fraction: float  # of the datasheet dense rate at the precision
    basis: str  # where the fraction comes from, for the estimate's sources


def card_class(gpu: GpuSpec) -> str:
    fp16, acc16 = gpu.fp16_tensor_tflops, gpu.fp16_tensor_fp16acc_tflops
    if fp16 and acc16 and acc16 > HALF_RATE_RATIO * fp16:
        return "half-rate"
    return "module" if gpu.form_factor in ("sxm", "oam") else "board"


def _median_fraction(gpu: GpuSpec, precisions: tuple[str, ...]) -> tuple[float, int] | None:
    """Median measured rate over the datasheet rate the rows are measured against, and the
    number of rows; None when the table has no row for the card at these precisions."""
    rows = [r for p in precisions for r in mr.measured(gpu.name, p)]
    sheet = mr.datasheet_tflops(gpu, precisions[0])
    if not rows or not sheet:
        return None
    return statistics.median(r.tflops for r in rows) / sheet, len(rows)


def sixteen_bit_fraction(gpu: GpuSpec) -> tuple[float, str] | None:
    """The card's measured 16-bit fraction: FP16 and BF16 rows together (one tensor rate on
    every card with both; the loader refuses BF16 rows for cards without BF16 tensor cores)."""
    found = _median_fraction(gpu, SIXTEEN_BIT)
    if found:
        return found[0], f"median of {found[1]} measured 16-bit matmul rate(s)"
    return None


@cache
def class_fractions() -> dict[str, tuple[float, int]]:
    """Median 16-bit fraction per class over the measured cards (one value per card), and
    "*" over all of them: derived from the table each run, never typed in."""
    per_class: dict[str, list[float]] = {}
    for gpu in load.gpus():
        found = sixteen_bit_fraction(gpu)
        if found:
            per_class.setdefault(card_class(gpu), []).append(found[0])
    out = {k: (statistics.median(v), len(v)) for k, v in per_class.items()}
    every = [f for v in per_class.values() for f in v]
    out["*"] = (statistics.median(every), len(every)) if every else (1.0, 0)
    return out


def roof(gpu: GpuSpec, precision: str, same_rate: bool = True) -> Roof:
    """The fraction of `gpu`'s datasheet dense rate at `precision` that its GEMMs sustain.
    `same_rate`: whether `precision`'s datasheet rate equals the 16-bit FP32-accumulate one
    (False for FP16 accumulate on GeForce, where it is twice that)."""
    if precision == "fp32" or not gpu.fp16_tensor_tflops:
        return Roof(1.0, "datasheet (no measured rate for CUDA-core FP32)")
    if precision in ("tf32", "fp8"):
        found = _median_fraction(gpu, (precision,))
        if found:
            return Roof(found[0], f"median of {found[1]} measured {precision.upper()} rate(s)")
    capped = not (precision in SIXTEEN_BIT or (precision == "fp16-acc" and same_rate))
    sixteen = sixteen_bit_fraction(gpu)
    if sixteen:
        frac, basis = sixteen
        return Roof(min(frac, 1.0) if capped else frac, f"{basis}{', at most 1' if capped else ''}")
    cls = card_class(gpu)
    frac, n = class_fractions().get(cls, (0.0, 0))
    where = f"the {n} measured {cls} cards"
    if n < MIN_CLASS_CARDS:
        frac, n = class_fractions()["*"]
        where = f"all {n} measured cards ({cls} has too few)"
    basis = f"not measured: median 16-bit fraction of {where}"
    return Roof(min(frac, 1.0) if capped else frac, basis)
