"""The measured dense-matmul table: every shipped row valid and sourced, hostile rows refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog_helpers import assert_refused
from dlrig.catalog import load
from dlrig.catalog import matmul_rates as mr
from dlrig.errors import CatalogDataError
from dlrig.estimate import roof

HALF_RATE = 0.5  # a GeForce card's FP32-accumulate share of its FP16-accumulate rate

HOSTILE = Path(__file__).parents[1] / "data" / "matmul_rates_hostile"


def test_the_shipped_table_loads_and_every_row_cites_what_it_measured():
    rows = mr.rates()
    assert len(rows) > 50
    for r in rows:
        assert r.source.startswith("https://") and r.measured and r.confidence[:3] in ("[V]", "[R]")
    # the power-limited cards the estimator got wrong by their datasheet are in it
    for name in ("H100 PCIe", "A10", "L40S", "L4", "RTX A6000", "GeForce RTX 4090"):
        assert mr.measured(name, "bf16") or mr.measured(name, "fp16"), name


def test_no_measured_rate_is_beyond_what_boost_clocks_explain_of_its_datasheet_rate():
    """A measurement 1.5x its datasheet rate or more is not a card clocking above its rating
    (the table's highest is the RTX 5090's 242 of 209.5, 1.16x) but a datasheet rate read at
    half what the card does: a full-rate FP32-accumulate card entered as a GeForce-style
    half-rate one. DGX Spark (GB10) is such a check: its torch FP16 matmuls sustain 96.8 TFLOPS
    (github.com/GuigsEvt/dgx_spark_config issue 1), 1.55x the 62.5 a half rate would give."""
    gpus = {g.name: g for g in load.gpus()}
    for r in mr.rates():
        sheet = mr.datasheet_tflops(gpus[r.gpu], r.precision)
        assert sheet and r.tflops / sheet < roof.HALF_RATE_RATIO, (r.gpu, r.precision, r.tflops)
    spark = gpus["DGX Spark"]
    assert roof.card_class(spark) == "board"
    assert (
        max(r.tflops for r in mr.measured("DGX Spark", "fp16"))
        > HALF_RATE * spark.fp16_tensor_tflops
    )


def test_a_row_is_found_by_card_and_precision():
    text = (HOSTILE.parent / "matmul_rates_ok.csv").read_text()
    rows = mr.parse(text, load.gpus())
    assert [r.tflops for r in rows if r.gpu == "H100 PCIe" and r.precision == "bf16"] == [
        378.0,
        453.6,
    ]


# (file, the key the one-line error must name, a word of what it expected)
CASES = [
    ("unknown-gpu", "gpu", "did you mean H100 PCIe"),
    ("bad-precision", "precision", "one of fp16, bf16, tf32, fp8"),
    ("nan-rate", "tflops", "finite"),
    ("inf-rate", "tflops", "finite"),
    ("negative-rate", "tflops", "above 0"),
    ("sparse-rate", "tflops", "at most 1.5 x the datasheet 756"),
    ("not-a-number", "tflops", "a number"),
    ("http-source", "source", "https://"),
    ("bad-date", "date", "YYYY-MM"),
    ("no-confidence", "confidence", "[V]"),
    ("bf16-on-volta", "precision", "no BF16 tensor cores"),
    ("fp8-without-fp8", "precision", "tensor cores for"),
    ("bad-source-id", "source_id", "slug"),
    ("empty-measured", "measured", "what the source measured"),
    ("extra-column", "row", "10 columns"),
    ("duplicate", "row", "repeats"),
    ("control-chars", "measured", "no control characters"),
]


@pytest.mark.parametrize(("name", "key", "expected"), CASES)
def test_a_hostile_row_is_refused_with_one_line_naming_file_line_and_key(name, key, expected):
    assert_refused(mr.parse, mr.FILE, HOSTILE / f"{name}.csv", key, expected)


def test_a_file_without_the_columns_is_refused_at_its_header():
    with pytest.raises(CatalogDataError, match="header: missing column"):
        mr.parse((HOSTILE / "missing-columns.csv").read_text(), load.gpus())
