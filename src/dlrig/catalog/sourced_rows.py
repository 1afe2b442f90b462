"""What every per-card measurement table in catalog/data shares: one CSV row per published
figure, naming a card of gpus.csv, with an https source, a date and a [V]/[R] confidence mark.

These tables are shipped, but read as hostile input all the same (a contributor's typo must not
become a faster GPU): `rows` checks the header and each row's column count and refuses control
characters; `check_gpu` and `check_provenance` the parts every table has. Each refusal is one
line naming the file, the line, the key and what was expected.
"""

from __future__ import annotations

import csv
import difflib
import math
import re
from collections.abc import Callable, Collection, Hashable, Iterator
from importlib import resources
from typing import TypeVar

from dlrig.errors import CatalogDataError

T = TypeVar("T")
_SOURCE_ID = re.compile(r"^[a-z0-9][a-z0-9.-]{0,63}$")
_DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")
_CONFIDENCE = re.compile(r"^\[(V|R)\]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def fail(file: str, line: int, key: str, expected: str, value: str) -> CatalogDataError:
    shown = _CONTROL.sub("?", value)[:80]
    return CatalogDataError(f"catalog {file}: line {line}: {key} {shown!r}: expected {expected}")


def rows(file: str, text: str, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, stripped row) for each data row, after checking the header names every
    column, each row has exactly that many cells and no cell holds a control character."""
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise CatalogDataError(f"catalog {file}: header: missing column(s) {', '.join(missing)}")
    for line, raw in enumerate(reader, start=2):
        if None in raw:
            raise fail(file, line, "row", f"{len(columns)} columns", str(raw[None]))  # type: ignore[index]
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        for key in columns:
            value = row.get(key)
            if value is None:
                raise fail(file, line, key, "a value (the column is missing)", "")
            if _CONTROL.search(value):
                raise fail(file, line, key, "no control characters", value)
        yield line, row


def check_gpu(file: str, line: int, name: str, names: Collection[str]) -> None:
    """The row's card is a gpus.csv name; else the closest names as a suggestion."""
    if name not in names:
        close = difflib.get_close_matches(name, list(names), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise fail(file, line, "gpu", f"a name from gpus.csv{hint}", name)


def check_provenance(file: str, line: int, row: dict[str, str]) -> None:
    """An https source, a YYYY-MM(-DD) date and a [V] seen / [R] derived mark."""
    if not row["source"].startswith("https://"):
        raise fail(file, line, "source", "an https:// address", row["source"])
    if not _DATE.match(row["date"]):
        raise fail(file, line, "date", "YYYY-MM or YYYY-MM-DD", row["date"])
    if not _CONFIDENCE.match(row["confidence"]):
        raise fail(file, line, "confidence", "[V] (seen) or [R] (derived)", row["confidence"])


def check_rate(file: str, line: int, key: str, value: str, ceiling: float, limit: str) -> float:
    """A finite rate above 0 and at most `ceiling` (described by `limit` in the refusal)."""
    try:
        rate = float(value)
    except ValueError:
        raise fail(file, line, key, "a number", value) from None
    if not (math.isfinite(rate) and 0 < rate <= ceiling):
        raise fail(file, line, key, f"a finite rate above 0 and at most {limit}", value)
    return rate


def check_measurement(file: str, line: int, row: dict[str, str], what: str) -> None:
    """A measurement row's source slug, provenance and what the source measured (`what`
    names what that description should say)."""
    if not _SOURCE_ID.match(row["source_id"]):
        raise fail(file, line, "source_id", "a lower-case slug", row["source_id"])
    check_provenance(file, line, row)
    if not row["measured"]:
        raise fail(file, line, "measured", f"what the source measured ({what})", "")


def unique_rows(
    file: str,
    text: str,
    columns: tuple[str, ...],
    build: Callable[[int, dict[str, str]], T],
    key: Callable[[T], Hashable],
    label: Callable[[T], str],
) -> tuple[T, ...]:
    """Each row built by `build`; a row whose `key` repeats an earlier one is refused (one
    measurement entered twice would count twice in a median)."""
    out: list[T] = []
    seen: set[Hashable] = set()
    for line, row in rows(file, text, columns):
        built = build(line, row)
        if key(built) in seen:
            repeats = "one row per measurement (this one repeats)"
            raise fail(file, line, "row", repeats, label(built))
        seen.add(key(built))
        out.append(built)
    return tuple(out)


def card_counts(
    file: str,
    text: str,
    columns: tuple[str, ...],
    names: Collection[str],
    maximum: int,
    unit: str = "",
) -> dict[str, int]:
    """A table of one whole number per card (its second column, in `unit`), 1 to `maximum`,
    each row naming a card of `names` once, with its provenance: card name -> the number."""
    key = columns[1]
    out: dict[str, int] = {}
    for line, row in rows(file, text, columns):
        name = row["gpu"]
        check_gpu(file, line, name, names)
        if name in out:
            raise fail(file, line, "gpu", "one row per card (this one repeats)", name)
        value = row[key]
        if not (value.isdigit() and 0 < int(value) <= maximum):
            raise fail(file, line, key, f"a whole number{unit} from 1 to {maximum}", value)
        check_provenance(file, line, row)
        out[name] = int(value)
    return out


def shipped_text(file: str) -> str:
    """The text of a table shipped in catalog/data."""
    return resources.files("dlrig.catalog").joinpath("data", file).read_text("utf-8")
