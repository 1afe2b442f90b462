"""Walk a batch's structure: tensors inside tuples, lists, dicts, dataclasses and namedtuples.

Pure Python (no torch): `map_leaves(fn, batch)` rebuilds the same structure with `fn` applied to
every leaf; strings and bytes are leaves, not sequences. `fn` decides what to do with a leaf
(the prefetcher moves tensors and returns anything else unchanged).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

Leaf = Any


def _is_namedtuple(obj: object) -> bool:
    return isinstance(obj, tuple) and hasattr(type(obj), "_fields")


def map_leaves(fn: Callable[[Leaf], Any], obj: Any) -> Any:
    """The same structure as `obj`, with `fn(leaf)` in place of each leaf."""
    if isinstance(obj, str | bytes | bytearray):
        return fn(obj)
    if type(obj) is dict:
        return {k: map_leaves(fn, v) for k, v in obj.items()}
    if isinstance(obj, Mapping):
        items = {k: map_leaves(fn, v) for k, v in obj.items()}
        try:
            return type(obj)(items)
        except TypeError:  # a mapping type whose constructor takes something else
            return items
    if _is_namedtuple(obj):
        return type(obj)(*(map_leaves(fn, v) for v in obj))
    if isinstance(obj, tuple | list):
        return type(obj)(map_leaves(fn, v) for v in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = copy.copy(obj)  # keeps init=False fields; works for frozen dataclasses too
        for field in dataclasses.fields(obj):
            object.__setattr__(out, field.name, map_leaves(fn, getattr(obj, field.name)))
        return out
    return fn(obj)


def leaves(obj: Any) -> list[Leaf]:
    """Every leaf of `obj`, in the order `map_leaves` visits them."""
    found: list[Leaf] = []

    def keep(leaf: Leaf) -> Leaf:
        found.append(leaf)
        return leaf

    map_leaves(keep, obj)
    return found
