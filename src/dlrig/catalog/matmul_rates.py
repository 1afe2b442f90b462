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

import csv
import difflib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

from dlrig.catalog import load
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
# BF16 tensor cores arrived with Ampere (NVIDIA A100 Tensor Core GPU Architecture whitepaper,
# 2020: "BF16 ... new in A100"); Volta and Turing run BF16 matmuls emulated at a fraction of the
# FP16 rate (Tesla T4 BF16 2.0-2.5 vs FP16 42 TFLOPS in zzc0721/torch-performance-test-data),
# so a BF16 row there is not a tensor rate and would be pooled with the FP16 ones by mistake.
NO_BF16_ARCHITECTURES = ("Kepler", "Maxwell", "Pascal", "Volta", "Turing")
_DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")
_SOURCE_ID = re.compile(r"^[a-z0-9][a-z0-9.-]{0,63}$")
_CONFIDENCE = re.compile(r"^\[(V|R)\]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


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
    shown = _CONTROL.sub("?", value)[:80]
    return CatalogDataError(f"catalog {FILE}: line {line}: {key} {shown!r}: expected {expected}")


def _row(line: int, raw: dict[str, str], gpus: dict[str, GpuSpec]) -> MatmulRate:
    for key in COLUMNS:
        value = raw.get(key)
        if value is None:
            raise _fail(line, key, "a value (the column is missing)", "")
        if _CONTROL.search(value):
            raise _fail(line, key, "no control characters", value)
    name = raw["gpu"]
    gpu = gpus.get(name)
    if gpu is None:
        close = difflib.get_close_matches(name, list(gpus), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise _fail(line, "gpu", f"a name from gpus.csv{hint}", name)
    precision = raw["precision"]
    if precision not in PRECISIONS:
        raise _fail(line, "precision", f"one of {', '.join(PRECISIONS)}", precision)
    try:
        tflops = float(raw["tflops"])
    except ValueError:
        raise _fail(line, "tflops", "a number", raw["tflops"]) from None
    sheet = datasheet_tflops(gpu, precision)
    if precision == "bf16" and gpu.architecture.startswith(NO_BF16_ARCHITECTURES):
        raise _fail(line, "precision", f"fp16 ({name} has no BF16 tensor cores)", precision)
    if sheet is None:
        raise _fail(line, "precision", f"a rate {name} has tensor cores for", precision)
    if not (math.isfinite(tflops) and 0 < tflops <= MAX_OVER_DATASHEET * sheet):
        limit = f"{MAX_OVER_DATASHEET:g} x the datasheet {sheet:g}"
        raise _fail(line, "tflops", f"a finite rate above 0 and at most {limit}", raw["tflops"])
    if not _SOURCE_ID.match(raw["source_id"]):
        raise _fail(line, "source_id", "a lower-case slug", raw["source_id"])
    if not raw["source"].startswith("https://"):
        raise _fail(line, "source", "an https:// address", raw["source"])
    if not _DATE.match(raw["date"]):
        raise _fail(line, "date", "YYYY-MM or YYYY-MM-DD", raw["date"])
    if not _CONFIDENCE.match(raw["confidence"]):
        raise _fail(line, "confidence", "[V] (seen) or [R] (derived)", raw["confidence"])
    if not raw["measured"]:
        raise _fail(line, "measured", "what the source measured (shape, dtype, timing)", "")
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
    """Validate a matmul-rate table's text against the GPU catalog; exact duplicate rows (one
    measurement entered twice would count twice in a median) are refused."""
    by_name = {g.name: g for g in gpus}
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise CatalogDataError(f"catalog {FILE}: header: missing column(s) {', '.join(missing)}")
    out: list[MatmulRate] = []
    seen: set[tuple[str, str, float, str, str]] = set()
    for line, raw in enumerate(reader, start=2):
        clean = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        if None in raw:
            raise _fail(line, "row", f"{len(COLUMNS)} columns", str(raw[None]))  # type: ignore[index]
        row = _row(line, clean, by_name)
        key = (row.gpu, row.precision, row.tflops, row.source_id, row.measured)
        if key in seen:
            raise _fail(line, "row", "one row per measurement (this one repeats)", row.gpu)
        seen.add(key)
        out.append(row)
    return tuple(out)


@cache
def rates() -> tuple[MatmulRate, ...]:
    """The shipped table (parsed once per process)."""
    text = resources.files("dlrig.catalog").joinpath("data", FILE).read_text("utf-8")
    return parse(text, load.gpus())


def measured(gpu: str, precision: str) -> tuple[MatmulRate, ...]:
    """The rows that measured `gpu` (its gpus.csv name) at `precision`."""
    return tuple(r for r in rates() if r.gpu == gpu and r.precision == precision)
