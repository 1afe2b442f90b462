"""The L2-size table: the shipped rows valid and sourced, hostile rows refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog_helpers import assert_refused
from dlrig.catalog import l2_caches as l2
from dlrig.catalog import load
from dlrig.errors import CatalogDataError

HOSTILE = Path(__file__).parents[1] / "data" / "l2_caches_hostile"


def test_the_shipped_table_gives_the_whitepapers_sizes_in_bytes():
    # Ada whitepaper: RTX 4090 73728 KB; GA102 whitepaper: RTX 3090 6144 KB; A100 40 MB
    assert l2.l2_bytes("GeForce RTX 4090") == 73728 * 1024
    assert l2.l2_bytes("GeForce RTX 3090") == 6144 * 1024
    assert l2.l2_bytes("A100 80GB SXM") == 40 * 1024 * 1024
    assert l2.l2_bytes("H100 SXM") == 50 * 1024 * 1024


def test_a_card_without_a_sourced_row_has_no_l2_size():
    assert l2.l2_bytes("Instinct MI300X") is None


CASES = [
    ("unknown-gpu", "gpu", "did you mean GeForce RTX 4090"),
    ("unit-in-value", "l2_kib", "whole number of KiB"),
    ("zero", "l2_kib", "whole number of KiB"),
    ("too-large", "l2_kib", "from 1 to 1048576"),
    ("duplicate", "gpu", "one row per card"),
    ("http-source", "source", "https://"),
    ("extra-column", "row", "6 columns"),
    ("no-confidence", "confidence", "[V]"),
    ("control-chars", "gpu", "no control characters"),
]


@pytest.mark.parametrize(("name", "key", "expected"), CASES)
def test_a_hostile_row_is_refused_naming_its_line_and_key(name, key, expected):
    assert_refused(l2.parse, l2.FILE, HOSTILE / f"{name}.csv", key, expected)


def test_a_file_without_the_columns_is_refused_at_its_header():
    with pytest.raises(CatalogDataError) as err:
        l2.parse((HOSTILE / "missing-column.csv").read_text(), load.gpus())
    message = str(err.value)
    assert "l2_caches.csv" in message and "header" in message and "confidence" in message
    assert "\n" not in message and "\x1b" not in message
