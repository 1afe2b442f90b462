"""The time-to-first-token line of `dlrig estimate`'s terminal report (hand-computable)."""

from __future__ import annotations

from types import SimpleNamespace

from dlrig.model.estimate import Interval
from dlrig.report.estimate import _ttft


def _iv(low: float, high: float, frac: float) -> Interval:
    return Interval(low=low, high=high, frac=frac, group="prefill_mfu:x", source="test")


def test_a_bounded_prefill_rate_gives_the_time_its_range():
    # 200 ms at a rate known to ± 25 %: 200 / 1.25 = 160 ms to 200 / 0.75 = 267 ms.
    t = SimpleNamespace(
        ttft_s=0.2, ttft_interval=_iv(0.16, 0.2 / 0.75, 0.25), prefill_interval=_iv(1, 2, 0.25)
    )
    assert _ttft(t) == "200 ms [160–267 ms]"


def test_a_prefill_rate_known_only_to_100_percent_or_worse_says_the_time_has_no_upper_bound():
    # ± 300 %: the rate may be near zero, so the time has no upper bound; its lower one is
    # 200 / (1 + 3) = 50 ms.
    t = SimpleNamespace(ttft_s=0.2, ttft_interval=None, prefill_interval=_iv(0.0, 4.0, 3.0))
    assert _ttft(t) == "200 ms [50 ms – no upper bound: prefill ± 300%]"


def test_no_interval_at_all_leaves_the_number():
    t = SimpleNamespace(ttft_s=0.2, ttft_interval=None, prefill_interval=None)
    assert _ttft(t) == "200 ms"
