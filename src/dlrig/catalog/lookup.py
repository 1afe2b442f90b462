"""Forgiving part-name lookup: exact match after normalisation, never a substring guess.

Every row is reachable by its full name, its explicit `aliases`, its name without leading brand
words ("GeForce RTX 4090" → "4090"), and its last word when that is a model number
("Ryzen 9 7950X" → "7950x"). Generated keys that would fit two rows are dropped; names and
explicit aliases must be unique (a catalog test checks it). A miss raises `CatalogLookupError`
with the three closest names.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Sequence
from functools import cache
from typing import Protocol, TypeVar

from dlrig.catalog import load
from dlrig.errors import CatalogLookupError
from dlrig.model.parts import CpuSpec, GpuSpec
from dlrig.model.workload import ModelSpec

# Words a user may add or leave out in front of a model number.
BRAND_PREFIXES = ("nvidia", "geforce", "amd", "intel", "tesla", "instinct", "radeon", "rtx", "gtx")
SUGGESTIONS = 3
# Longest name looked up: real part and model names are under 60 characters; the edit-distance
# suggestions grow with the square of the length.
MAX_NAME_CHARS = 200


class Named(Protocol):
    name: str
    aliases: tuple[str, ...]


Part = TypeVar("Part", bound=Named)


def normalize(name: str) -> str:
    """Lower case, letters and digits only: "GeForce RTX-4090" → "geforcertx4090"."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def strip_brands(key: str) -> str:
    """Remove leading brand words repeatedly: "geforcertx4090" → "4090"."""
    changed = True
    while changed:
        changed = False
        for prefix in BRAND_PREFIXES:
            if key.startswith(prefix) and len(key) > len(prefix):
                key = key[len(prefix) :]
                changed = True
    return key


def _generated_keys(name: str) -> set[str]:
    full = normalize(name)
    words = [w for w in re.split(r"[\s\-_/]+", name) if w]
    keys = {strip_brands(full)}
    last = normalize(words[-1]) if len(words) > 1 else ""
    # Only a model number stands alone ("7950x", "9554"): not "x", "edition" or a size ("12gb").
    if re.search(r"\d", last) and not re.fullmatch(r"\d+gb", last):
        keys.add(last)
    return keys - {full}


class Index:
    """Key → row for one kind of part."""

    def __init__(self, kind: str, rows: Sequence[Named]) -> None:
        self.kind = kind
        self.rows = list(rows)
        self.exact: dict[str, Named] = {}
        self.conflicts: list[str] = []
        for row in self.rows:
            for key in [normalize(row.name), *(normalize(a) for a in row.aliases)]:
                if key in self.exact and self.exact[key] is not row:
                    self.conflicts.append(key)
                self.exact.setdefault(key, row)
        generated: dict[str, set[int]] = defaultdict(set)
        for i, row in enumerate(self.rows):
            for key in _generated_keys(row.name):
                generated[key].add(i)
        self.generated = {
            k: self.rows[next(iter(ids))]
            for k, ids in generated.items()
            if len(ids) == 1 and k not in self.exact and k
        }

    def find(self, name: str) -> Named:
        if len(name) > MAX_NAME_CHARS:  # no part is named like this; spare the fuzzy search
            shown = name[:MAX_NAME_CHARS] + "…"
            raise CatalogLookupError(self.kind, shown, [])
        key = normalize(name)
        for candidate in (key, strip_brands(key)):
            row = self.exact.get(candidate) or self.generated.get(candidate)
            if row is not None:
                return row
        raise CatalogLookupError(self.kind, name, self.closest(name))

    def closest(self, name: str, n: int = SUGGESTIONS) -> list[str]:
        """The n row names whose keys look most like `name` (typos and swapped digits first)."""
        key = strip_brands(normalize(name))
        best: dict[str, tuple[float, float]] = {}
        keys = {**self.generated, **self.exact}
        for k, row in keys.items():
            other = strip_brands(k)
            edits = 1 - osa_distance(key, other) / max(len(key), len(other), 1)
            score = (edits, difflib.SequenceMatcher(None, key, other).ratio())
            best[row.name] = max(best.get(row.name, (0.0, 0.0)), score)
        return sorted(best, key=lambda nm: (-best[nm][0], -best[nm][1], nm))[:n]


def osa_distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) from a to b: "4009" → "4090" is 1.

    difflib scores a swapped pair of digits no better than two wrong ones; this does.
    """
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


@cache
def gpu_index() -> Index:
    return Index("GPU", load.gpus())


@cache
def cpu_index() -> Index:
    return Index("CPU", load.cpus())


def find_gpu(name: str) -> GpuSpec:
    row = gpu_index().find(name)
    assert isinstance(row, GpuSpec)
    return row


def find_cpu(name: str) -> CpuSpec:
    row = cpu_index().find(name)
    assert isinstance(row, CpuSpec)
    return row


@cache
def model_index() -> Index:
    return Index("model", load.models())


def find_model(name: str) -> ModelSpec:
    row = model_index().find(name)
    assert isinstance(row, ModelSpec)
    return row
