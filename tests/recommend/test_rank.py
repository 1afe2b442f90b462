"""`rank.pareto()`, `rank.best_per_config()`, `work_hours` and `break_even_hours` on stand-in
candidates (only the fields they read), with hand-checked answers."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest

from dlrig.recommend import rank
from dlrig.recommend.request import parse_workload


def cand(price: float, rate: float, gpu: str = "G", n: int = 1, pf: str = "p", cpu: str = "c"):
    return SimpleNamespace(
        price_usd=price,
        throughput=rate,
        config=SimpleNamespace(gpu=SimpleNamespace(name=gpu), n=n, tokens_per_sample=None),
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
    got = rank.best_per_config(cs)
    assert [(c.config.gpu.name, c.config.n, c.host.platform.id) for c in got] == [
        ("a", 2, "p1"),
        ("a", 1, "p2"),
        ("b", 1, "p1"),
    ]
    assert rank.score(got[0]) == pytest.approx(150.0)


def test_best_per_config_equal_scores_prefers_the_cheaper():
    cs = [cand(2000, 200, "a", 1, "dear"), cand(1000, 100, "a", 1, "cheap")]
    for order in (cs, cs[::-1]):
        (only,) = rank.best_per_config(order)
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
