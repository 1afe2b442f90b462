"""Which engine prices a job that names none: a weight format only one engine runs names it
(choices.FORMAT_ENGINES), and --tp without --engine spans the engines that run tensor
parallelism (estimate/engine_spread.py)."""

from __future__ import annotations

import pytest

from dlrig.catalog.lookup import find_model
from dlrig.estimate import applicable, engine_spread, perf
from dlrig.estimate.job import throughput
from dlrig.model.choices import DecodeEngine, Quant
from dlrig.model.estimate import Interval
from estimate_helpers import job


def _iv(low: float, high: float | None) -> Interval:
    return Interval(low=low, high=high, frac=0.1, group="g", source="s")


def test_median_engine_is_the_middle_one_and_the_lower_middle_for_an_even_count():
    assert engine_spread.median_engine({"a": 1.0, "b": 3.0, "c": 2.0}) == "c"
    assert engine_spread.median_engine({"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}) == "b"


def test_span_runs_from_the_lowest_low_to_the_highest_high():
    # 20 tokens/s; engines' intervals [15, 25] and [18, 40]: [15, 40], the larger side 20/20
    iv = engine_spread.span(20.0, [_iv(15, 25), None, _iv(18, 40)], "decode_bw", ["x", "y"])
    assert (iv.low, iv.high, iv.frac) == pytest.approx((15.0, 40.0, 1.0))
    assert iv.group == "decode_bw:" + engine_spread.GROUP and iv.kind == "span"
    assert "x, y" in iv.source
    assert engine_spread.span(20.0, [None], "decode_bw", []) is None
    # one engine's interval without a top (a ± of 100 % or more): the span has none either
    open_top = engine_spread.span(20.0, [_iv(15, 25), _iv(8, None)], "decode_bw", ["x", "y"])
    assert (open_top.low, open_top.high) == (8, None)


def test_a_time_from_a_span_of_rates_uses_its_ends():
    # 10 h at 100 tokens/s, the rate within [50, 200]: the time within [5, 20] h
    span = Interval(low=50, high=200, frac=1.0, group="g", source="s", kind="span")
    t = perf.inverse_interval(10.0, span, 100)
    assert (t.low, t.high, t.frac) == pytest.approx((5.0, 20.0, 1.0))
    # a span reaching a rate of 0 leaves the time no top
    zero = span.model_copy(update={"low": 0.0})
    assert perf.inverse_interval(10.0, zero, 100).high is None
    # a band keeps t(1 ± f) and its fraction, given the rate or not
    band = Interval.band(100.0, 0.25, "g", "s")
    assert perf.inverse_interval(10.0, band, 100) == perf.inverse_interval(10.0, band)


@pytest.mark.parametrize(
    ("quant", "engine"),
    [("q4_k_m", "llama.cpp"), ("q8_0", "llama.cpp"), ("q4_0", "llama.cpp"), ("exl2", "exllamav2")],
)
def test_a_format_one_engine_runs_names_it_when_no_engine_is_given(quant, engine):
    kw = {"weight_bits": 4.0} if quant == "exl2" else {}
    assert job("RTX 3090", task="infer", quant=quant, **kw).engine == engine


def test_a_given_engine_or_a_shared_format_is_kept():
    assert job("RTX 3090", task="infer", quant="q4_k_m", engine="vllm").engine == "vllm"
    assert job("RTX 3090", task="infer", quant="q4_k_m", engine="optimized").engine == "optimized"
    assert job("RTX 3090", task="infer", quant="awq").engine == DecodeEngine.OPTIMIZED
    # training with a GGUF quant is refused for the quant alone, not for an engine it implied
    j = job("RTX 3090", task="train", quant="q4_k_m")
    assert j.engine == DecodeEngine.OPTIMIZED
    flags = {p.options for p in applicable.inapplicable(None, j)}
    assert flags == {("quant", "task")}


def test_gguf_under_tp_without_an_engine_is_llama_cpps_row_split_not_a_spread():
    m = find_model("llama-2-70b")
    t = throughput(m, job("RTX 3090", task="infer", n_gpus=2, tp=2, quant="q4_k_m", context=512))
    assert t.engine == "llama.cpp" and t.engine_rates_tok_s is None
    assert t.interval.group.startswith("decode_bw:llama.cpp")


def test_the_spread_holds_only_engines_that_load_the_format():
    m = find_model("llama-2-70b")
    awq = throughput(m, job("RTX 3090", task="infer", n_gpus=2, tp=2, quant="awq", context=512))
    assert set(awq.engine_rates_tok_s) == {"vllm", "sglang", "tensorrt-llm"}
    int4 = throughput(m, job("RTX 3090", task="infer", n_gpus=2, tp=2, quant="int4", context=512))
    assert set(int4.engine_rates_tok_s) == {e.value for e in engine_spread.TP_ENGINES}
    assert engine_spread.engines_for(job("RTX 3090", task="infer", quant="none")) == (
        engine_spread.TP_ENGINES
    )
    for q, engines in engine_spread.FORMAT_TP_ENGINES.items():
        assert set(engines) <= set(engine_spread.TP_ENGINES), q
        assert q != Quant.NONE


def test_autoawq_has_no_tensor_parallelism():
    j = job("RTX 3090", task="infer", n_gpus=2, tp=2, quant="awq", engine="autoawq")
    assert ("tp", "engine") in {p.options for p in applicable.inapplicable(None, j)}
