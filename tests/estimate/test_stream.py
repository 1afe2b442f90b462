"""The streaming fraction per card (estimate/stream.py): hand-computed lookups and fallbacks on
a small table, the shipped table's fallback, and the training step that uses it."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from dlrig.catalog import load
from dlrig.catalog import stream_bandwidth as sb
from dlrig.catalog.lookup import find_gpu, find_model
from dlrig.estimate import perf, stream
from dlrig.estimate.job import shape, throughput
from estimate_helpers import job

OK = Path(__file__).parents[1] / "data" / "stream_bandwidth_ok.csv"
PRIOR = 0.8


def rows():
    return sb.parse(OK.read_text(), load.gpus())


def frac(name: str) -> stream.Stream:
    return stream.fraction_from(find_gpu(name), load.gpus(), rows(), PRIOR)


def test_a_measured_card_takes_the_median_of_its_rows_over_its_datasheet():
    # 900, 950, 1000 GB/s: median 950 of the RTX 4090's 1008
    assert frac("RTX 4090").fraction == pytest.approx(950 / 1008)
    assert "median of 3" in frac("RTX 4090").basis
    assert frac("RTX 3090").fraction == pytest.approx(800 / 936)


def test_an_unmeasured_card_takes_its_memory_familys_median():
    # HBM: H100 SXM 3015/3350 = 0.9 and V100 720/900 = 0.8 (HBM3 and HBM2 are one family):
    # an A100 80GB SXM (HBM2e) gets their median, 0.85
    a100 = frac("A100 80GB SXM")
    assert a100.fraction == pytest.approx(0.85)
    assert "2 measured HBM cards" in a100.basis
    # GDDR6X: the median of two cards is their mean
    assert frac("RTX 3090 Ti").fraction == pytest.approx((950 / 1008 + 800 / 936) / 2)


def test_a_family_with_too_few_measured_cards_falls_back_to_the_prior():
    # one GDDR7 card measured (RTX 5090): an RTX 5080 does not copy it
    assert frac("RTX 5080").fraction == PRIOR
    assert "elementwise_bandwidth_fraction" in frac("RTX 5080").basis
    assert frac("RTX A6000").fraction == PRIOR  # GDDR6: none measured
    assert frac("RTX 5090").fraction == pytest.approx(1600 / 1792)  # measured itself


def test_memory_families():
    assert [
        stream.memory_family(find_gpu(n)) for n in ("Tesla V100 SXM2 16GB", "H100 SXM", "RTX 4090")
    ] == [
        "HBM",
        "HBM",
        "GDDR6X",
    ]
    assert stream.memory_family(find_gpu("DGX Spark")) == "LPDDR"


def test_the_shipped_fallback_is_the_median_of_the_measured_cards_of_the_family():
    shipped = sb.rates()
    gpus = load.gpus()
    gddr6x = [
        stream.card_fraction(g, shipped)[0]
        for g in gpus
        if g.memory_type == "GDDR6X" and stream.card_fraction(g, shipped)
    ]
    assert len(gddr6x) >= 2
    assert stream.fraction(find_gpu("RTX 3090 Ti")) == pytest.approx(statistics.median(gddr6x))
    for g in gpus:  # every card gets a physical fraction
        assert 0 < stream.fraction(g) <= sb.MAX_OVER_DATASHEET


def test_a_training_steps_memory_bound_work_streams_at_the_cards_fraction():
    m = find_model("llama-2-7b")
    for name in ("RTX 4090", "RTX 3090", "RTX A6000"):
        gpu = find_gpu(name)
        s = shape(m, job(name, task="lora", seq_len=512, batch_size=1))
        assert perf.streaming_s(s.job, 1e9) == pytest.approx(
            1e9 / (gpu.memory_bandwidth_gbs * 1e9 * stream.fraction(gpu))
        )


def test_a_slower_stream_slows_training_and_leaves_decode_alone(monkeypatch):
    # decode's bandwidth efficiency is fitted separately (decode_bw) and prefill keeps its own
    # path: halving every card's streaming fraction slows a training step's element-wise work
    # and optimizer step, and changes no decode rate.
    m = find_model("llama-2-7b")
    train = job("RTX 4090", task="lora", seq_len=512, batch_size=1)
    infer = job("RTX 4090", task="infer", quant="int4", context=512, engine="llama.cpp")
    before_train, before_decode = throughput(m, train), throughput(m, infer)
    monkeypatch.setattr(stream, "fraction", lambda gpu: 0.4)
    after_train, after_decode = throughput(m, train), throughput(m, infer)
    assert after_train.tokens_per_s < before_train.tokens_per_s
    ratio = stream.stream(find_gpu("RTX 4090")).fraction / 0.4
    assert after_train.step_parts_s["optimizer step"] == pytest.approx(
        before_train.step_parts_s["optimizer step"] * ratio
    )
    assert after_decode.tokens_per_s == before_decode.tokens_per_s
