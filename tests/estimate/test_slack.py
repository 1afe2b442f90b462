"""The allocator-slack fit (estimate/slack.py, benchmarks/calibrate.py) on hand-computable pairs,
and how the memory model uses it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from dlrig.catalog.lookup import find_model
from dlrig.errors import CatalogDataError
from dlrig.estimate import calibration as cal
from dlrig.estimate import memory as mem
from dlrig.estimate import slack as slk
from dlrig.estimate.job import memory_of
from dlrig.estimate.shape import derive
from estimate_helpers import job

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("calibrate", ROOT / "benchmarks" / "calibrate.py")
calibrate = importlib.util.module_from_spec(_spec)
sys.modules["calibrate"] = calibrate
_spec.loader.exec_module(calibrate)


def pair(src: str, group: str, allocated: float, reserved: float, use: str = "fit") -> slk.Pair:
    return slk.Pair(src, f"{src}-{allocated}", group, allocated, reserved, use)


# Sharded slack 0.1, 0.2, 0.3 from three sources; unsharded 0 and 0.02 from two; one held-out
# sharded pair at 0.5 that no fit may see.
PAIRS = [
    pair("a", "sharded", 10, 11),
    pair("b", "sharded", 10, 12),
    pair("c", "sharded", 10, 13),
    pair("d", "unsharded", 50, 50),
    pair("e", "unsharded", 50, 51),
    pair("h", "sharded", 10, 15, use="holdout"),
]


def test_each_group_takes_the_median_slack_of_its_fit_pairs():
    f = slk.fit(PAIRS)
    assert f["sharded"].value == pytest.approx(0.2)  # median of 0.1, 0.2, 0.3 (not 0.5)
    assert (f["sharded"].n_points, f["sharded"].n_sources) == (3, 3)
    assert f["unsharded"].value == pytest.approx(0.01)  # median of 0 and 0.02
    assert f["*"].value == pytest.approx(0.1)  # median of 0, 0.02, 0.1, 0.2, 0.3
    assert f["*"].n_points == 5


def test_loso_predicts_each_source_from_the_others_and_holdout_from_the_full_fit():
    e = slk.loso_errors(PAIRS)
    # Without "a" the sharded median is 0.25: 10 x 1.25 = 12.5 against 11.
    assert e[("a", "a-10")] == pytest.approx(12.5 / 11 - 1)
    # Without "d" the unsharded group has only "e" (0.02): 50 x 1.02 = 51 against 50.
    assert e[("d", "d-50")] == pytest.approx(0.02)
    # The held-out pair gets the full sharded fit, 0.2: 12 against 15.
    assert e[("h", "h-10")] == pytest.approx(12 / 15 - 1)


def test_calibrate_writes_the_fit_with_its_loso_errors():
    rows = calibrate.slack_rows(PAIRS, "2026-01-01")
    sharded = rows[("allocator_slack", "sharded")]
    assert sharded.value == pytest.approx(0.2)
    # LOSO errors of a, b, c: 12.5/11 - 1, 12/12 - 1 (median of 0.1 and 0.3), 11.5/13 - 1.
    errs = sorted([abs(12.5 / 11 - 1), 0.0, abs(11.5 / 13 - 1)])
    assert sharded.loso_median_err == pytest.approx(errs[1])
    assert "only 2 source(s)" in rows[("allocator_slack", "unsharded")].fit_rule
    table = calibrate.slack_table(PAIRS, cal.Constants(rows))
    assert "held-out pairs (use=holdout, never fitted): 1, median |error| 20.0%" in table


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("reserved", "9"),
        ("group", "fsdp"),
        ("use", "maybe"),
        ("url", "http://x"),
        ("allocated", ""),
    ],
)
def test_a_bad_pair_is_refused_with_its_line(field, value):
    row = dict(
        source_id="s", run="r", group="sharded", allocated="10", reserved="12", use="fit",
        url="https://example.org/run",
    )  # fmt: skip
    row[field] = value
    with pytest.raises(CatalogDataError, match=r"allocator_pairs\.csv: line 2"):
        slk.parse([row])


def test_the_shipped_constants_are_the_fit_of_the_shipped_pairs():
    fitted = slk.fit(slk.load())
    c = cal.constants()
    for group in ("*", "sharded", "unsharded"):
        row = c.get("allocator_slack", (group,) if group != "*" else ())
        assert row.group == group
        assert row.value == pytest.approx(fitted[group].value, abs=1e-4)
        assert row.n_sources >= 3


def test_fsdp_training_takes_the_sharded_slack_and_one_gpu_the_unsharded():
    m = find_model("llama-3.1-8b")
    c = cal.constants()
    one = derive(m, job("H100 SXM", task="lora", batch_size=1, seq_len=2048))
    assert mem.slack_group(one) == "unsharded"
    fsdp = derive(m, job("H100 SXM", task="train", n_gpus=8, zero=3, batch_size=1, seq_len=2048))
    assert mem.slack_group(fsdp) == "sharded"
    for s in (one, fsdp):
        parts = mem.parts(s)
        frac = c.value("allocator_slack", (mem.slack_group(s),))
        assert parts.allocator_slack == pytest.approx(parts.allocated * frac)
    # ZeRO-3 on one GPU gathers nothing: unsharded.
    z3_one = derive(m, job("H100 SXM", task="train", zero=3, batch_size=1, seq_len=2048))
    assert mem.slack_group(z3_one) == "unsharded"


def test_the_slack_never_takes_memory_the_gpu_does_not_have():
    # A full fine-tune whose tensors nearly fill an 80 GB card: the allocator frees its cache
    # and retries before it fails, so reserved stops at what the GPU has left.
    m = find_model("llama-3.1-8b")
    s = derive(m, job("H100 SXM", task="train", n_gpus=8, zero=3, batch_size=1, seq_len=8192))
    parts = mem.parts(s)
    capacity = mem.capacity_gb(s.job.gpu.memory_gb) * 1e9
    # the uncapped slack (allocated x 1.3) would not fit
    assert parts.allocated * 1.3 + parts.outside_allocator > capacity
    assert parts.allocated + parts.outside_allocator < capacity
    assert parts.nvidia_smi == pytest.approx(capacity)
    assert memory_of(s).verdict != "does not fit"
