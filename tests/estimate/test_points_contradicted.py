"""A published figure its own source contradicts is kept and reported, never fitted."""

from __future__ import annotations

import csv
from pathlib import Path

from dlrig.estimate import points

TABLE = Path(__file__).resolve().parents[2] / "src/dlrig/catalog/data/calibration_points.csv"


def _row(rid: str) -> dict[str, str]:
    with TABLE.open(newline="") as f:
        return next(r for r in csv.DictReader(f) if r["id"] == rid)


def test_a_row_marked_contradicted_in_its_source_is_not_expressible():
    row = _row("xjd-l3-8b-f16-a100pciex1-pp1024")  # a normal cell of the same table
    assert points.why_not(row) is None
    marked = dict(row, confidence=points.CONTRADICTED_IN_SOURCE)
    reason = points.why_not(marked)
    assert reason is not None and "contradicts" in reason


def test_the_xiongjiedai_f16_cells_that_rise_with_the_prompt_are_marked():
    # A100 SXM F16: pp512 603.76, pp1024 681.47 (the rate rises with the prompt; every other
    # single-GPU F16 row falls): kept in the table, marked [X], not expressible.
    for rid in ("xjd-l3-8b-f16-a100sxmx1-pp1024", "xjd-l3-8b-f16-l40sx1-pp1024"):
        row = _row(rid)
        assert row["confidence"] == "[X]" and "Contradicted" in row["notes"]
        assert points.why_not(row) is not None
