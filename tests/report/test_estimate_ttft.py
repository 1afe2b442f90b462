"""The time-to-first-token line of `dlrig estimate`'s terminal report and recommend's time range
(hand-computable)."""

from __future__ import annotations

from types import SimpleNamespace

from dlrig.model.estimate import Interval
from dlrig.report.estimate import _ttft


def _iv(low: float, high: float | None, frac: float) -> Interval:
    return Interval(low=low, high=high, frac=frac, group="prefill_mfu:x", source="test")


def test_a_bounded_prefill_rate_gives_the_time_its_range():
    # 200 ms at a rate whose error is within ± 25 %: 200 x 0.75 = 150 ms to 200 x 1.25 = 250
    t = SimpleNamespace(
        ttft_s=0.2,
        ttft_interval=Interval.inverse_band(0.2, 0.25, "prefill_mfu:x", "test"),
        prefill_interval=Interval.band(10_000, 0.25, "prefill_mfu:x", "test"),
    )
    assert _ttft(t) == "200 ms [150–250 ms]"


def test_a_time_whose_rate_span_reaches_zero_says_it_has_no_upper_bound():
    # the span over engines reaching a rate of 0 (estimate/engine_spread.py): no top for the
    # time; its bottom 200 x 100 / 400 = 50 ms
    t = SimpleNamespace(ttft_s=0.2, ttft_interval=_iv(0.05, None, 3.0), prefill_interval=None)
    assert _ttft(t) == "200 ms [50 ms – no upper bound]"


def test_no_interval_at_all_leaves_the_number():
    t = SimpleNamespace(ttft_s=0.2, ttft_interval=None, prefill_interval=None)
    assert _ttft(t) == "200 ms"


def test_a_time_whose_rate_has_no_top_says_up_to():
    # a rate at most 149 % too high: the time at most 2.49 x 200 ms, and no bottom but zero
    t = SimpleNamespace(
        ttft_s=0.2,
        ttft_interval=Interval.inverse_band(0.2, 1.49, "prefill_mfu:x", "test"),
        prefill_interval=None,
    )
    assert _ttft(t) == "200 ms [up to 498 ms]"


def test_recommends_time_range_says_up_to_where_the_rate_has_no_top():
    from dlrig.report.recommend import hours_range

    band = Interval.inverse_band(10.0, 0.25, "mfu:x", "test")
    assert hours_range(10.0, band) == "10.0 h (7.5 h to 12.5 h)"
    assert hours_range(10.0, Interval.inverse_band(10.0, 1.49, "mfu:x", "test")) == (
        "10.0 h (up to 24.9 h)"
    )


def test_every_renderer_writes_an_intervals_ends_one_way():
    from dlrig.report.common import interval_ends

    def text(x: float) -> str:
        return f"{x:,.0f} USD"

    band = Interval.inverse_band(100.0, 0.25, "mfu:x", "test")
    assert interval_ends(band, text, between=" to ") == "75 USD to 125 USD"
    # a cost whose rate has no top: no bottom but zero, as the time's
    open_rate = Interval.inverse_band(100.0, 1.49, "mfu:x", "test")
    assert interval_ends(open_rate, text, between=" to ") == "up to 249 USD"
    # a rate at most 149 % too high: 10 / 2.49 = 4.02 at least, no top
    one_place = "{:.2f}".format
    assert interval_ends(Interval.band(10.0, 1.49, "g", "s"), one_place, " tok/s") == (
        "4.02 tok/s – no upper bound"
    )


def test_a_vision_models_images_per_second_carry_the_interval():
    """A CNN counts no tokens: its samples/s line is the headline rate and carries the ±."""
    from dlrig.catalog.lookup import find_model
    from dlrig.estimate import estimate
    from dlrig.report.estimate import throughput_rows
    from estimate_helpers import job

    est = estimate(find_model("resnet50"), job("RTX 4090", task="infer", batch_size=256))
    rows = dict(throughput_rows(est))
    assert est.throughput.interval is not None
    assert "±" in rows["samples/s (job)"]
    assert rows.get("tokens/s (job)") is None
    llm = estimate(find_model("llama-3-8b"), job("RTX 4090", task="infer", quant="q4_k_m"))
    llm_rows = dict(throughput_rows(llm))
    assert "±" in llm_rows["tokens/s (job)"] and "±" not in (llm_rows.get("samples/s (job)") or "")
