"""Measured dense-matmul rates per GPU and precision: `catalog/data/matmul_rates.csv`.

Each row is one published measurement of the largest GEMM rate a card sustains (a cuBLAS/
hipBLAS matmul of large matrices through PyTorch: what a training step's GEMMs can reach), with
its source, the method it states and a confidence mark. The estimator's compute roof is built
from these rows (estimate/roof.py); this module only loads and validates them and answers
"which rows measured this card at this precision".

The file is shipped, but it is read as hostile input all the same (a contributor's typo must not
become a 10x faster GPU): every row must name a card of gpus.csv, a known precision, a finite
positive rate no larger than MAX_OVER_DATASHEET x the card's datasheet rate at that precision,
an https source, a date, a [V]/[R] confidence mark, and no control characters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from dlrig.catalog import load, sourced_rows
from dlrig.errors import CatalogDataError
from dlrig.model.parts import GpuSpec

FILE = "matmul_rates.csv"
COLUMNS = (
    "gpu",
    "precision",
    "tflops",
    "source_id",
    "measured",
    "software",
    "source",
    "date",
    "confidence",
    "notes",
)
PRECISIONS = ("fp16", "bf16", "tf32", "fp8")
# A measured rate above the datasheet is real on GeForce cards (they boost above their rated
# clock: RTX 5090 242 of 209.5, 1.16x, in this file), but not by half again: anything above
# 1.5x the datasheet is a typo or a sparse/FP16-accumulate figure in the wrong column.
MAX_OVER_DATASHEET = 1.5
# Volta and Turing run BF16 matmuls emulated at a fraction of the FP16 rate (GpuSpec.has_bf16),
# so a BF16 row there is not a tensor rate and would be pooled with the FP16 ones by mistake.


@dataclass(frozen=True)
class MatmulRate:
    gpu: str
    precision: str
    tflops: float
    source_id: str
    measured: str
    source: str
    date: str
    confidence: str


def datasheet_tflops(gpu: GpuSpec, precision: str) -> float | None:
    """The datasheet dense rate a row of `precision` is measured against: FP16/BF16 with FP32
    accumulate (what PyTorch's matmul runs), TF32 at half that from Ampere on, FP8 as listed."""
    if precision in ("fp16", "bf16"):
        return gpu.fp16_tensor_tflops
    if precision == "tf32":
        return gpu.fp16_tensor_tflops / 2 if gpu.fp16_tensor_tflops else None
    return gpu.fp8_tensor_tflops


def _fail(line: int, key: str, expected: str, value: str) -> CatalogDataError:
    return sourced_rows.fail(FILE, line, key, expected, value)


def _row(line: int, raw: dict[str, str], gpus: dict[str, GpuSpec]) -> MatmulRate:
    name = raw["gpu"]
    sourced_rows.check_gpu(FILE, line, name, gpus)
    gpu = gpus[name]
    precision = raw["precision"]
    if precision not in PRECISIONS:
        raise _fail(line, "precision", f"one of {', '.join(PRECISIONS)}", precision)
    sheet = datasheet_tflops(gpu, precision)
    if precision == "bf16" and not gpu.has_bf16:
        raise _fail(line, "precision", f"fp16 ({name} has no BF16 tensor cores)", precision)
    if sheet is None:
        raise _fail(line, "precision", f"a rate {name} has tensor cores for", precision)
    limit = f"{MAX_OVER_DATASHEET:g} x the datasheet {sheet:g}"
    tflops = sourced_rows.check_rate(
        FILE, line, "tflops", raw["tflops"], MAX_OVER_DATASHEET * sheet, limit
    )
    sourced_rows.check_measurement(FILE, line, raw, "shape, dtype, timing")
    return MatmulRate(
        gpu=name,
        precision=precision,
        tflops=tflops,
        source_id=raw["source_id"],
        measured=raw["measured"],
        source=raw["source"],
        date=raw["date"],
        confidence=raw["confidence"],
    )


def parse(text: str, gpus: Iterable[GpuSpec]) -> tuple[MatmulRate, ...]:
    """Validate a matmul-rate table's text against the GPU catalog; exact duplicate rows are
    refused."""
    by_name = {g.name: g for g in gpus}
    return sourced_rows.unique_rows(
        FILE,
        text,
        COLUMNS,
        lambda line, row: _row(line, row, by_name),
        key=lambda r: (r.gpu, r.precision, r.tflops, r.source_id, r.measured),
        label=lambda r: r.gpu,
    )


@cache
def rates() -> tuple[MatmulRate, ...]:
    """The shipped table (parsed once per process)."""
    return parse(sourced_rows.shipped_text(FILE), load.gpus())


def measured(gpu: str, precision: str) -> tuple[MatmulRate, ...]:
    """The rows that measured `gpu` (its gpus.csv name) at `precision`."""
    return tuple(r for r in rates() if r.gpu == gpu and r.precision == precision)
