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

import math
import re
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
_SOURCE_ID = re.compile(r"^[a-z0-9][a-z0-9.-]{0,63}$")


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
    try:
        gbs = float(raw["gbs"])
    except ValueError:
        raise _fail(line, "gbs", "a number", raw["gbs"]) from None
    sheet = gpu.memory_bandwidth_gbs
    if not sheet:
        raise _fail(line, "gpu", "a card with a datasheet memory bandwidth", name)
    if not (math.isfinite(gbs) and 0 < gbs <= MAX_OVER_DATASHEET * sheet):
        limit = f"{MAX_OVER_DATASHEET:g} x the datasheet {sheet:g}"
        raise _fail(line, "gbs", f"a finite rate above 0 and at most {limit}", raw["gbs"])
    if raw["kernel"] not in KERNELS:
        raise _fail(line, "kernel", f"one of {', '.join(KERNELS)}", raw["kernel"])
    if not raw["tool"]:
        raise _fail(line, "tool", "the benchmark that measured it", "")
    if not _SOURCE_ID.match(raw["source_id"]):
        raise _fail(line, "source_id", "a lower-case slug", raw["source_id"])
    sourced_rows.check_provenance(FILE, line, raw)
    if not raw["measured"]:
        raise _fail(line, "measured", "what the source measured (kernel, size, timing)", "")
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
    row (one measurement entered twice would count twice in a median) is refused."""
    by_name = {g.name: g for g in gpus}
    out: list[StreamRate] = []
    seen: set[tuple[str, float, str, str]] = set()
    for line, clean in sourced_rows.rows(FILE, text, COLUMNS):
        row = _row(line, clean, by_name)
        key = (row.gpu, row.gbs, row.source_id, row.measured)
        if key in seen:
            raise _fail(line, "row", "one row per measurement (this one repeats)", row.gpu)
        seen.add(key)
        out.append(row)
    return tuple(out)


@cache
def rates() -> tuple[StreamRate, ...]:
    """The shipped table (parsed once per process)."""
    return parse(sourced_rows.shipped_text(FILE), load.gpus())


def measured(gpu: str) -> tuple[StreamRate, ...]:
    """The rows that measured `gpu` (its gpus.csv name)."""
    return tuple(r for r in rates() if r.gpu == gpu)
