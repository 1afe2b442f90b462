"""Streaming multiprocessors per GPU: `catalog/data/sm_counts.csv`.

One row per card: how many SMs it has enabled, as the vendor's architecture whitepaper states
it, with the source and a confidence mark. A tiled GEMM kernel that runs one CUDA block per SM
(llama.cpp's stream-k MMQ: estimate/mmq_traffic.py) keeps that many tiles' operands in flight
at once, which decides what its L2 can hold between two reads of the same weights; a card
without a row keeps the count that reads the weights once.

Shipped, but read as hostile input: every row names a card of gpus.csv once, a whole number of
SMs from 1 to MAX_SMS, an https source, a date, a [V]/[R] mark, and no control characters.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from dlrig.catalog import load, sourced_rows
from dlrig.model.parts import GpuSpec

FILE = "sm_counts.csv"
COLUMNS = ("gpu", "sms", "source", "date", "confidence", "notes")
# The largest GPUs in gpus.csv have under 200 SMs (GB202: 192); 1024 is far above any, so a
# value past it is a core count entered as SMs.
MAX_SMS = 1024


def parse(text: str, gpus: Iterable[GpuSpec]) -> dict[str, int]:
    """Validate the table's text against the GPU catalog: card name -> SMs."""
    names = {g.name for g in gpus}
    return sourced_rows.card_counts(FILE, text, COLUMNS, names, MAX_SMS)


@cache
def counts() -> dict[str, int]:
    """The shipped table (parsed once per process): card name -> SMs."""
    return parse(sourced_rows.shipped_text(FILE), load.gpus())


def sm_count(gpu: str) -> int | None:
    """The card's SM count, None when the table has no sourced value for it."""
    return counts().get(gpu)
