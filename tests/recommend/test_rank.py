"""`rank.pareto()`, `rank.best_per_config()`, `work_hours` and `break_even_hours` on stand-in
candidates (only the fields they read), with hand-checked answers."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest

from dlrig.recommend import rank
from dlrig.recommend.request import parse_workload


def cand(
    price: float,
    rate: float,
    gpu: str = "G",
    n: int = 1,
    pf: str = "p",
    cpu: str = "c",
    memory_gb: float = 24.0,
):
    return SimpleNamespace(
        price_usd=price,
        throughput=rate,
        config=SimpleNamespace(
            gpu=SimpleNamespace(name=gpu, memory_gb=memory_gb), n=n, tokens_per_sample=None
        ),
        host=SimpleNamespace(platform=SimpleNamespace(id=pf), cpu=SimpleNamespace(name=cpu)),
    )


def pts(cands) -> list[tuple[float, float]]:
    return [(c.price_usd, c.throughput) for c in cands]


def test_pareto_simple():
    cs = [cand(100, 10, "a"), cand(200, 5, "b"), cand(300, 30, "c"), cand(250, 20, "d")]
    # 200 @ 5 is dominated by 100 @ 10.
    assert pts(rank.pareto(cs)) == [(100, 10), (250, 20), (300, 30)]


def test_pareto_empty_and_zero_throughput():
    assert rank.pareto([]) == []
    assert rank.pareto([cand(100, 0.0)]) == []


def test_pareto_same_price_keeps_the_faster():
    cs = [cand(100, 10, "slow"), cand(100, 12, "fast"), cand(150, 11, "mid")]
    front = rank.pareto(cs)
    assert [c.config.gpu.name for c in front] == ["fast"]


def test_pareto_same_throughput_keeps_the_cheaper():
    cs = [cand(120, 10, "dear"), cand(100, 10, "cheap"), cand(130, 11, "next")]
    front = rank.pareto(cs)
    assert [c.config.gpu.name for c in front] == ["cheap", "next"]


def test_pareto_exact_tie_broken_by_name_gpu_count_platform_cpu():
    cs = [
        cand(100, 10, "b"),
        cand(100, 10, "a", 2),
        cand(100, 10, "a", 1, "q"),
        cand(100, 10, "a", 1, "p", "y"),
        cand(100, 10, "a", 1, "p", "x"),
    ]
    for order in itertools.permutations(cs):
        (only,) = rank.pareto(list(order))
        assert (only.config.gpu.name, only.config.n) == ("a", 1)
        assert (only.host.platform.id, only.host.cpu.name) == ("p", "x")


def test_pareto_independent_of_input_order():
    cs = [cand(p, t, f"g{i}") for i, (p, t) in enumerate([(5, 1), (3, 2), (4, 2), (9, 9), (8, 9)])]
    want = [(3, 2), (8, 9)]
    for order in itertools.permutations(cs):
        assert pts(rank.pareto(list(order))) == want


def test_best_per_config_one_per_gpu_and_count_by_score():
    cs = [
        cand(1000, 100, "a", 1, "p1"),  # score 100
        cand(800, 100, "a", 1, "p2"),  # score 125: wins for (a, 1)
        cand(2000, 300, "a", 2, "p1"),  # score 150
        cand(500, 40, "b", 1, "p1"),  # score 80
    ]
    got = rank.best_per_config(cs, _req(rank="value"))
    assert [(c.config.gpu.name, c.config.n, c.host.platform.id) for c in got] == [
        ("a", 2, "p1"),
        ("a", 1, "p2"),
        ("b", 1, "p1"),
    ]
    assert rank.score(got[0]) == pytest.approx(150.0)


def test_best_per_config_by_speed_fastest_first_then_cheapest():
    cs = [
        cand(1000, 100, "a", 1, "p1"),
        cand(800, 100, "a", 1, "p2"),  # as fast, cheaper: wins for (a, 1)
        cand(2000, 300, "a", 2, "p1"),  # fastest: first
        cand(500, 40, "b", 1, "p1"),
        cand(600, 40, "c", 1, "p1"),  # as fast as b, dearer: after it
    ]
    got = rank.best_per_config(cs, _req())
    assert [(c.config.gpu.name, c.config.n, c.host.platform.id) for c in got] == [
        ("a", 2, "p1"),
        ("a", 1, "p2"),
        ("b", 1, "p1"),
        ("c", 1, "p1"),
    ]


def test_dominates_needs_no_worse_in_all_three_and_better_in_one():
    base = cand(1000, 100, memory_gb=24)
    assert rank.dominates(cand(900, 100, memory_gb=24), base)  # cheaper
    assert rank.dominates(cand(1000, 120, memory_gb=24), base)  # faster
    assert rank.dominates(cand(1000, 100, memory_gb=32), base)  # more memory
    assert not rank.dominates(cand(1000, 100, memory_gb=24), base)  # identical
    assert not rank.dominates(cand(900, 120, memory_gb=16), base)  # less memory
    assert not rank.dominates(cand(1100, 200, memory_gb=48), base)  # dearer
    # Two cards of 16 GB hold 32 GB: memory is per build, not per card.
    assert rank.dominates(cand(900, 100, n=2, memory_gb=16), base)


def test_dominates_ignores_memory_the_job_does_not_need():
    """Extra GPU memory counts only while the job needs it: a cheaper, as fast build on which
    the job fits with room to spare dominates one with more memory."""
    base = cand(2000, 100, n=2, memory_gb=24)  # 48 GB
    roomy = cand(1000, 100, memory_gb=32)
    roomy.config.roomy = True
    assert rank.dominates(roomy, base)
    tight = cand(1000, 100, memory_gb=32)
    tight.config.roomy = False
    assert not rank.dominates(tight, base)


def test_best_per_config_equal_scores_prefers_the_cheaper():
    cs = [cand(2000, 200, "a", 1, "dear"), cand(1000, 100, "a", 1, "cheap")]
    for order in (cs, cs[::-1]):
        (only,) = rank.best_per_config(order, _req(rank="value"))
        assert only.host.platform.id == "cheap"


def _req(**kw):
    from dlrig.recommend import Request

    model, task = parse_workload("llama-3-8b:lora")
    return Request(workload="w", model=model, task=task, budget=1000, **kw)


def test_work_hours_from_tokens():
    # 3.6e9 tokens at 1000 tokens/s = 3.6e6 s = 1000 h.
    assert rank.work_hours(cand(1, 1000.0), _req(tokens=3.6e9)) == pytest.approx(1000.0)
    assert rank.work_hours(cand(1, 1000.0), _req()) is None
    assert rank.work_hours(cand(1, 0.0), _req(tokens=1e9)) is None


def test_work_hours_from_epochs_counts_tokens_per_sample():
    c = cand(1, 1000.0)
    c.config.tokens_per_sample = 2048
    # 2 epochs x 1000 samples x 2048 tokens / 1000 tokens/s = 4096 s.
    got = rank.work_hours(c, _req(epochs=2, dataset_size=1000))
    assert got == pytest.approx(4096 / 3600)


def test_break_even_hours():
    # 3000 to buy; renting 2 GPUs at 1.0 per GPU-hour = 2.0/h, own power 0.5 kWh/h x 0.4 = 0.2/h;
    # buying wins after 3000 / 1.8 = 1666.7 h.
    req = _req(cloud_price_per_gpu_hour=1.0, electricity_price=0.4)
    assert rank.break_even_hours(3000, 2, 0.5, req) == pytest.approx(3000 / 1.8)
    # Electricity dearer than the cloud: never.
    req = _req(cloud_price_per_gpu_hour=0.1, electricity_price=1.0)
    assert rank.break_even_hours(3000, 1, 0.5, req) is None
    assert rank.break_even_hours(3000, 1, 0.5, _req()) is None


def test_cloud_cost_is_hours_times_gpus_times_price():
    # 3.6e9 tokens at 1000 tokens/s = 1000 h; 2 GPUs at 2.5/h = 5000.
    c = cand(1, 1000.0, n=2)
    assert rank.cloud_cost(c, _req(tokens=3.6e9, cloud_price_per_gpu_hour=2.5)) == 5000.0
    assert rank.cloud_cost(c, _req(tokens=3.6e9)) is None
    assert rank.cloud_cost(c, _req(cloud_price_per_gpu_hour=2.5)) is None


def test_rank_option_is_validated():
    from dlrig.errors import DlrigError

    with pytest.raises(DlrigError, match="--rank: expected one of speed, value"):
        _req(rank="cheapest")


def _fastest(price: float, rate: float, n: int = 1):
    return SimpleNamespace(price=price, throughput=rate, n_gpus=n)


def _found(*cheapest):
    from dlrig.recommend.search import Cheapest, SearchResult

    return SearchResult(
        [],
        0,
        {},
        None,
        tuple(
            Cheapest(SimpleNamespace(gpu=SimpleNamespace(name=g), n=n), price, rate)
            for g, n, price, rate in cheapest
        ),
    )


MARKET = SimpleNamespace(per_usd=1.0, currency="USD")


def test_budget_note_names_the_cheapest_faster_step_up():
    req = _req(max_gpus=4)  # budget 1000
    found = _found(("a", 1, 500, 100), ("a", 2, 1900, 180), ("b", 1, 1500, 150))
    note, up = rank.budget_note(_fastest(500, 100), found, req, MARKET)
    # Spends 50 % < 2/3; faster configs: 2 x a (1900) and 1 x b (1500): b is the cheaper.
    assert (up.gpu, up.n_gpus, up.price, up.throughput) == ("b", 1, 1500, 150)
    assert note.startswith("the fastest build uses 50% of the budget: the next step up, 1 x b")
    assert "+50%" in note and "over the budget" in note


def test_budget_note_absent_when_two_thirds_are_spent():
    found = _found(("b", 1, 1500, 150))
    assert rank.budget_note(_fastest(700, 100), found, _req(), MARKET) == (None, None)
    assert rank.budget_note(None, found, _req(), MARKET) == (None, None)


def test_budget_note_without_a_faster_build_says_what_bounds_it():
    found = _found(("a", 1, 500, 100))
    note, up = rank.budget_note(_fastest(500, 100, n=1), found, _req(max_gpus=1), MARKET)
    assert up is None and "--max-gpus 1 caps it" in note
    note, up = rank.budget_note(_fastest(500, 100, n=1), found, _req(max_gpus=4), MARKET)
    assert up is None and "no faster build exists in the catalog at any price" in note


def _maker(front, monkeypatch):
    monkeypatch.setattr(rank, "local_price", lambda c, market: c.price_usd)
    keys = {rank._key(c) for c in front}
    return rank._Maker(None, MARKET, None, keys, {}, front)


def _with_interval(c, frac: float):
    from dlrig.model.estimate import Interval

    c.config.throughput_interval = Interval.band(c.throughput, frac, "g", "s")
    return c


def test_fastest_build_names_a_cheaper_one_within_the_estimators_error(monkeypatch):
    cheap = _with_interval(cand(2000, 900.0, gpu="a"), 0.25)
    fast = _with_interval(cand(3000, 1000.0, gpu="b"), 0.25)
    note = _maker([cheap, fast], monkeypatch).within_error_below(fast)
    # 900 / 0.75 = 1200 >= 1000: the cheaper one's measured rate may reach this one's; 1000
    # USD saved
    assert note == (
        "1 x a is within the estimator's ± 25% of its rate (90% of it) for 1,000 USD less"
    )


def test_no_such_note_when_the_cheaper_build_is_clearly_slower_or_absent(monkeypatch):
    slow = _with_interval(cand(2000, 700.0, gpu="a"), 0.25)
    fast = _with_interval(cand(3000, 1000.0, gpu="b"), 0.25)
    maker = _maker([slow, fast], monkeypatch)
    assert maker.within_error_below(fast) is None  # 700 / 0.75 = 933 < 1000
    assert maker.within_error_below(slow) is None  # nothing cheaper on the front
    slow.config.throughput_interval = None
    assert maker.within_error_below(fast) is None  # no interval: nothing to claim


def test_the_cheaper_builds_band_decides_not_its_rate_times_one_plus_the_error(monkeypatch):
    # 760 predicted, its error within ± 25 %: measured up to 760 / 0.75 = 1013 >= 1000, so
    # within (760 x 1.25 = 950 would have said clearly slower)
    cheap = _with_interval(cand(2000, 760.0, gpu="a"), 0.25)
    fast = _with_interval(cand(3000, 1000.0, gpu="b"), 0.25)
    assert _maker([cheap, fast], monkeypatch).within_error_below(fast) is not None
