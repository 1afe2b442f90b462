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

import csv
import difflib
import re
from collections.abc import Iterable
from functools import cache
from importlib import resources

from dlrig.catalog import load
from dlrig.errors import CatalogDataError
from dlrig.model.parts import GpuSpec

FILE = "l2_caches.csv"
COLUMNS = ("gpu", "l2_kib", "source", "date", "confidence", "notes")
KIB = 1024
# The largest L2 of any card in gpus.csv is AD102's/GB202's 96-128 MB; 1 GiB is far above
# any GPU's last-level cache, so a value past it is a unit mistake (bytes or KB for MB).
MAX_L2_KIB = 1024 * 1024
_DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")
_CONFIDENCE = re.compile(r"^\[(V|R)\]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _fail(line: int, key: str, expected: str, value: str) -> CatalogDataError:
    shown = _CONTROL.sub("?", value)[:80]
    return CatalogDataError(f"catalog {FILE}: line {line}: {key} {shown!r}: expected {expected}")


def parse(text: str, gpus: Iterable[GpuSpec]) -> dict[str, int]:
    """Validate the table's text against the GPU catalog: card name -> L2 bytes."""
    names = [g.name for g in gpus]
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise CatalogDataError(f"catalog {FILE}: header: missing column(s) {', '.join(missing)}")
    out: dict[str, int] = {}
    for line, raw in enumerate(reader, start=2):
        if None in raw:
            raise _fail(line, "row", f"{len(COLUMNS)} columns", str(raw[None]))  # type: ignore[index]
        row = {k.strip(): (v or "").strip() for k, v in raw.items()}
        for key in COLUMNS:
            if _CONTROL.search(row[key]):
                raise _fail(line, key, "no control characters", row[key])
        name = row["gpu"]
        if name not in names:
            close = difflib.get_close_matches(name, names, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise _fail(line, "gpu", f"a name from gpus.csv{hint}", name)
        if name in out:
            raise _fail(line, "gpu", "one row per card (this one repeats)", name)
        kib = row["l2_kib"]
        if not (kib.isdigit() and 0 < int(kib) <= MAX_L2_KIB):
            raise _fail(line, "l2_kib", f"a whole number of KiB from 1 to {MAX_L2_KIB}", kib)
        if not row["source"].startswith("https://"):
            raise _fail(line, "source", "an https:// address", row["source"])
        if not _DATE.match(row["date"]):
            raise _fail(line, "date", "YYYY-MM or YYYY-MM-DD", row["date"])
        if not _CONFIDENCE.match(row["confidence"]):
            raise _fail(line, "confidence", "[V] (seen) or [R] (derived)", row["confidence"])
        out[name] = int(kib) * KIB
    return out


@cache
def sizes() -> dict[str, int]:
    """The shipped table (parsed once per process): card name -> L2 bytes."""
    text = resources.files("dlrig.catalog").joinpath("data", FILE).read_text("utf-8")
    return parse(text, load.gpus())


def l2_bytes(gpu: str) -> int | None:
    """The card's L2 size in bytes, None when the table has no sourced value for it."""
    return sizes().get(gpu)
