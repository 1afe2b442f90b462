"""The one check every per-card measurement table's hostile rows get (catalog/sourced_rows.py):
refused with one line that names the file, the line and the key, and what was expected."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dlrig.catalog import load
from dlrig.errors import CatalogDataError


def assert_refused(parse: Callable, file: str, path: Path, key: str, expected: str) -> None:
    """`parse` refuses the table at `path` in one line: `catalog FILE: line N: KEY ...`, with
    `expected` in it; a repeated row is refused at line 3 (its second copy), others at 2."""
    with pytest.raises(CatalogDataError) as exc:
        parse(path.read_text(), load.gpus())
    msg = str(exc.value)
    assert "\n" not in msg and "\x1b" not in msg
    line = 3 if path.stem == "duplicate" else 2
    assert msg.startswith(f"catalog {file}: line {line}: {key} ")
    assert expected in msg
