"""Forgiving part-name lookup: exact match after normalisation, never a substring guess.

Every row is reachable by its full name, its explicit `aliases`, its name without leading brand
words ("GeForce RTX 4090" → "4090"), and its last word ("Ryzen 9 7950X" → "7950x"). Generated
keys that would fit two rows are dropped; names and explicit aliases must be unique (a catalog
test checks it). A miss raises `CatalogLookupError` with the three closest names.
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

# Words a user may add or leave out in front of a model number.
BRAND_PREFIXES = ("nvidia", "geforce", "amd", "intel", "tesla", "instinct", "radeon", "rtx", "gtx")
SUGGESTIONS = 3


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
    if len(words) > 1:
        keys.add(normalize(words[-1]))
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
        key = normalize(name)
        for candidate in (key, strip_brands(key)):
            row = self.exact.get(candidate) or self.generated.get(candidate)
            if row is not None:
                return row
        raise CatalogLookupError(self.kind, name, self.closest(name))

    def closest(self, name: str, n: int = SUGGESTIONS) -> list[str]:
        """The n row names whose keys look most like `name`."""
        key = strip_brands(normalize(name))
        best: dict[str, float] = {}
        keys = {**self.generated, **self.exact}
        for k, row in keys.items():
            score = difflib.SequenceMatcher(None, key, strip_brands(k)).ratio()
            best[row.name] = max(best.get(row.name, 0.0), score)
        return sorted(best, key=lambda nm: (-best[nm], nm))[:n]


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
