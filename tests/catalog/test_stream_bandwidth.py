"""The measured streaming-bandwidth table: every shipped row valid and sourced, hostile rows
refused with one line naming the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog_helpers import assert_refused
from dlrig.catalog import load
from dlrig.catalog import stream_bandwidth as sb
from dlrig.errors import CatalogDataError

HOSTILE = Path(__file__).parents[1] / "data" / "stream_bandwidth_hostile"


def test_the_shipped_table_loads_and_every_row_cites_what_it_measured():
    rows = sb.rates()
    assert len(rows) >= 8
    by_name = {g.name: g for g in load.gpus()}
    for r in rows:
        assert r.source.startswith("https://") and r.measured and r.tool
        assert r.confidence[:3] in ("[V]", "[R]") and r.kernel in sb.KERNELS
        # a stream never beats the pins by more than a factory memory overclock
        assert 0 < r.gbs <= sb.MAX_OVER_DATASHEET * by_name[r.gpu].memory_bandwidth_gbs
    # the cards of the RTX 4090 / RTX 3090 relation are measured, not assumed
    assert sb.measured("GeForce RTX 4090") and sb.measured("GeForce RTX 3090")


def test_a_row_is_found_by_card():
    rows = sb.parse((HOSTILE.parent / "stream_bandwidth_ok.csv").read_text(), load.gpus())
    assert [r.gbs for r in rows if r.gpu == "GeForce RTX 4090"] == [900.0, 950.0, 1000.0]
    assert [r.kernel for r in rows if r.gpu == "GeForce RTX 4090"] == ["copy", "triad", "read"]


# (file, the key the one-line error must name, a word of what it expected)
CASES = [
    ("unknown-gpu", "gpu", "did you mean H100 SXM"),
    ("nan-rate", "gbs", "finite"),
    ("inf-rate", "gbs", "finite"),
    ("negative-rate", "gbs", "above 0"),
    ("not-a-number", "gbs", "a number"),
    # mli/transformers-benchmarks#4's RTX 4090 figure: an array that fits the L2, not DRAM
    ("cache-resident", "gbs", "at most 1.05 x the datasheet 1008"),
    ("bad-kernel", "kernel", "one of copy, read, scale, add, triad"),
    ("empty-tool", "tool", "the benchmark"),
    ("http-source", "source", "https://"),
    ("bad-date", "date", "YYYY-MM"),
    ("no-confidence", "confidence", "[V]"),
    ("bad-source-id", "source_id", "slug"),
    ("empty-measured", "measured", "what the source measured"),
    ("extra-column", "row", "10 columns"),
    ("duplicate", "row", "repeats"),
    ("control-chars", "measured", "no control characters"),
]


@pytest.mark.parametrize(("name", "key", "expected"), CASES)
def test_a_hostile_row_is_refused_with_one_line_naming_file_line_and_key(name, key, expected):
    assert_refused(sb.parse, sb.FILE, HOSTILE / f"{name}.csv", key, expected)


def test_every_hostile_file_is_exercised():
    assert {p.stem for p in HOSTILE.glob("*.csv")} == {c[0] for c in CASES} | {"missing-columns"}


def test_a_file_without_the_columns_is_refused_at_its_header():
    with pytest.raises(CatalogDataError, match="header: missing column"):
        sb.parse((HOSTILE / "missing-columns.csv").read_text(), load.gpus())
