"""Last-level (L2) cache size per GPU: `catalog/data/l2_caches.csv`.

One row per card: its L2 size in KiB as the vendor's architecture whitepaper states it, with the
source and a confidence mark. The CNN step (estimate/convnet.py) serves an element-wise read
from L2 instead of DRAM when the tensor was touched recently enough to still be there; a card
without a row keeps the DRAM-only count.

Shipped, but read as hostile input (a typo must not turn DRAM traffic into free cache hits):
every row names a card of gpus.csv once, a whole number of KiB above 0 and at most
MAX_L2_KIB, an https source, a date, a [V]/[R] mark, and no control characters.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from dlrig.catalog import load, sourced_rows
from dlrig.model.parts import GpuSpec

FILE = "l2_caches.csv"
COLUMNS = ("gpu", "l2_kib", "source", "date", "confidence", "notes")
KIB = 1024
# The largest L2 of any card in gpus.csv is AD102's/GB202's 96-128 MB; 1 GiB is far above
# any GPU's last-level cache, so a value past it is a unit mistake (bytes or KB for MB).
MAX_L2_KIB = 1024 * 1024


def parse(text: str, gpus: Iterable[GpuSpec]) -> dict[str, int]:
    """Validate the table's text against the GPU catalog: card name -> L2 bytes."""
    names = {g.name for g in gpus}
    kib = sourced_rows.card_counts(FILE, text, COLUMNS, names, MAX_L2_KIB, " of KiB")
    return {name: n * KIB for name, n in kib.items()}


@cache
def sizes() -> dict[str, int]:
    """The shipped table (parsed once per process): card name -> L2 bytes."""
    return parse(sourced_rows.shipped_text(FILE), load.gpus())


def l2_bytes(gpu: str) -> int | None:
    """The card's L2 size in bytes, None when the table has no sourced value for it."""
    return sizes().get(gpu)
