"""Forgiving part-name lookup: exact match after normalisation, then whole words; never a
substring guess.

Every row is reachable by its full name, its explicit `aliases`, its name without leading brand
words ("GeForce RTX 4090" → "4090"), and its last word when that is a model number
("Ryzen 9 7950X" → "7950x"). Generated keys that would fit two rows are dropped; names and
explicit aliases must be unique (a catalog test checks it). A name that is none of these but whose
words (brand words aside, one with a digit among them) all appear in one row's name or alias finds
that row ("4060 Ti" → "GeForce RTX 4060 Ti 16GB"); in several rows, it raises with the choices
("H100" → "H100 PCIe", "H100 SXM"), and so does an alias that names a family rather than a row.
A miss raises `CatalogLookupError` with the three closest names.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections import defaultdict
from collections.abc import Sequence
from functools import cache, cached_property
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


def words(name: str) -> list[str]:
    """Normalised words: "GeForce RTX-4060 Ti" → ["geforce", "rtx", "4060", "ti"]."""
    return [w for w in (normalize(p) for p in re.split(r"[\s\-_/]+", name)) if w]


def word_set(name: str) -> frozenset[str]:
    """A name's words plus each pair of neighbours run together ("4060ti", "rtx4090"), so that a
    user's spacing does not matter."""
    ws = words(name)
    return frozenset(ws) | {a + b for a, b in itertools.pairwise(ws)}


def query_words(name: str) -> frozenset[str]:
    """The words a query must find in a row: brand words are optional, so they are dropped."""
    return frozenset(w for w in words(name) if w not in BRAND_PREFIXES)


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

    def __init__(self, kind: str, rows: Sequence[Named], family_aliases: bool = False) -> None:
        """`family_aliases`: an explicit alias whose words fit other rows too ("H100") is
        treated as ambiguous rather than as a name for its row."""
        self.kind = kind
        self.rows = list(rows)
        self.family_aliases = family_aliases
        self.names = {
            k for r in self.rows for k in (normalize(r.name), strip_brands(normalize(r.name)))
        }
        self.word_sets = [[word_set(r.name), *(word_set(a) for a in r.aliases)] for r in self.rows]
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
            if row is None:
                continue
            if self.family_aliases and strip_brands(candidate) not in self.names:
                fits = self.fitting(name)
                if len(fits) > 1:  # an alias such as "H100" that names a family
                    raise CatalogLookupError(self.kind, name, [], [r.name for r in fits])
            return row
        fits = self.fitting(name)
        if len(fits) == 1:
            return fits[0]
        if fits:
            raise CatalogLookupError(self.kind, name, [], [r.name for r in fits])
        raise CatalogLookupError(self.kind, name, self.closest(name))

    @cached_property
    def word_sets(self) -> list[list[frozenset[str]]]:
        """Each row's name and aliases as word sets; built on the first word lookup only, as
        exact names (the common case, and every `check` of a catalog build) never need them."""
        return [[word_set(r.name), *(word_set(a) for a in r.aliases)] for r in self.rows]

    def fitting(self, name: str) -> list[Named]:
        """Rows with a name or alias holding every word of `name` (brand words aside); none
        unless one of those words carries a digit, as model numbers do ("Ti" alone is no name)."""
        want = query_words(name)
        if not any(re.search(r"\d", w) for w in want):
            return []
        return [
            row
            for row, sets in zip(self.rows, self.word_sets, strict=True)
            if any(want <= s for s in sets)
        ]

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
    return Index("GPU", load.gpus(), family_aliases=True)


@cache
def cpu_index() -> Index:
    return Index("CPU", load.cpus(), family_aliases=True)


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
