"""Measured DRAM streaming bandwidth per GPU: `catalog/data/stream_bandwidth.csv`.

Each row is one published measurement of how fast a card streams large arrays through its DRAM
(a device-local copy as cuda-samples' p2pBandwidthLatencyTest or nvbandwidth time it, a
BabelStream copy/triad, clpeak's read kernel): what the element-wise work between a training
step's GEMMs can reach. Rows carry the kernel, the tool, what was measured, the source, a date
and a [V]/[R] mark. The estimator's streaming fraction per card is built from these rows
(estimate/stream.py); this module only loads and validates them.

The file is shipped, but read as hostile input all the same: every row must name a card of
gpus.csv, a known kernel, a finite positive rate no larger than MAX_OVER_DATASHEET x the card's
datasheet bandwidth, an https source, a date, a [V]/[R] mark and no control characters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from dlrig.catalog import load, sourced_rows
from dlrig.errors import CatalogDataError
from dlrig.model.parts import GpuSpec

FILE = "stream_bandwidth.csv"
COLUMNS = (
    "gpu",
    "gbs",
    "kernel",
    "tool",
    "source_id",
    "measured",
    "source",
    "date",
    "confidence",
    "notes",
)
# copy: read one array, write another (cudaMemcpy D2D, STREAM copy); read: a read-only
# reduction (clpeak); scale/add/triad: the other STREAM kernels (BabelStream).
KERNELS = ("copy", "read", "scale", "add", "triad")
# A streaming kernel cannot move more bytes than the memory's pin rate: the datasheet figure.
# 5 % above it is allowed for boards whose memory ships above the reference clock (one RTX 4090
# here streams 1008.06 GB/s of its 1008); more is a typo or a cache-resident array (mli/
# transformers-benchmarks#4: "3868 GB/s" on an RTX 4090 from an array that fits its L2).
MAX_OVER_DATASHEET = 1.05


@dataclass(frozen=True)
class StreamRate:
    gpu: str
    gbs: float
    kernel: str
    tool: str
    source_id: str
    measured: str
    source: str
    date: str
    confidence: str


def _fail(line: int, key: str, expected: str, value: str) -> CatalogDataError:
    return sourced_rows.fail(FILE, line, key, expected, value)


def _row(line: int, raw: dict[str, str], gpus: dict[str, GpuSpec]) -> StreamRate:
    name = raw["gpu"]
    sourced_rows.check_gpu(FILE, line, name, gpus)
    gpu = gpus[name]
    sheet = gpu.memory_bandwidth_gbs
    if not sheet:
        raise _fail(line, "gpu", "a card with a datasheet memory bandwidth", name)
    limit = f"{MAX_OVER_DATASHEET:g} x the datasheet {sheet:g}"
    gbs = sourced_rows.check_rate(FILE, line, "gbs", raw["gbs"], MAX_OVER_DATASHEET * sheet, limit)
    if raw["kernel"] not in KERNELS:
        raise _fail(line, "kernel", f"one of {', '.join(KERNELS)}", raw["kernel"])
    if not raw["tool"]:
        raise _fail(line, "tool", "the benchmark that measured it", "")
    sourced_rows.check_measurement(FILE, line, raw, "kernel, size, timing")
    return StreamRate(
        gpu=name,
        gbs=gbs,
        kernel=raw["kernel"],
        tool=raw["tool"],
        source_id=raw["source_id"],
        measured=raw["measured"],
        source=raw["source"],
        date=raw["date"],
        confidence=raw["confidence"],
    )


def parse(text: str, gpus: Iterable[GpuSpec]) -> tuple[StreamRate, ...]:
    """Validate a streaming-bandwidth table's text against the GPU catalog; an exact duplicate
    row is refused."""
    by_name = {g.name: g for g in gpus}
    return sourced_rows.unique_rows(
        FILE,
        text,
        COLUMNS,
        lambda line, row: _row(line, row, by_name),
        key=lambda r: (r.gpu, r.gbs, r.source_id, r.measured),
        label=lambda r: r.gpu,
    )


@cache
def rates() -> tuple[StreamRate, ...]:
    """The shipped table (parsed once per process)."""
    return parse(sourced_rows.shipped_text(FILE), load.gpus())


def measured(gpu: str) -> tuple[StreamRate, ...]:
    """The rows that measured `gpu` (its gpus.csv name)."""
    return tuple(r for r in rates() if r.gpu == gpu)
