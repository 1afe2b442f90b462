"""Options that change what a proposal reports or may be: --tokens, --electricity-price,
--cloud-price-per-gpu-hour, --energy-hours, a wall circuit, --gpu, --top."""

from __future__ import annotations

import pytest

from dlrig.recommend.cloud import cloud_prices
from dlrig.rules.energy import circuit_limit_w

LORA = {"job": {"seq_len": 2048}}
EXTRAS = {
    "tokens": 3.6e9,
    "electricity_price": 0.3,
    "cloud_price_per_gpu_hour": 2.0,
    "energy_hours": 1000.0,
}


@pytest.fixture(scope="module")
def limited(rec):
    return rec("llama-3-8b:lora", 40000, mains_voltage=115, circuit_amps=15, **LORA, **EXTRAS)


def test_time_energy_and_break_even(limited):
    assert limited.proposals
    for p in [*limited.proposals, *limited.pareto_front]:
        # 3.6e9 tokens / rate tokens/s / 3600 s/h.
        assert p.time_hours == pytest.approx(3.6e9 / p.throughput / 3600, rel=1e-12)
        # kWh over 1000 h under load = wall W x 1000 h / 1000.
        assert p.energy_kwh == pytest.approx(p.wall_power_w, abs=0.1)
        assert p.energy_cost == pytest.approx(p.energy_kwh * 0.3, abs=0.05)
        # price / (2.0 per GPU-hour x n - kWh per hour x 0.3).
        saved = 2.0 * p.n_gpus - p.energy_kwh / 1000 * 0.3
        assert p.cloud_break_even_hours == pytest.approx(p.price / saved, rel=1e-3)


def test_wall_circuit_limit_holds(rec, limited):
    # 115 V x 15 A at 80 % continuous = 1380 W.
    limit = circuit_limit_w(115, 15)
    assert limit == 1380.0
    for p in [*limited.proposals, *limited.pareto_front]:
        assert p.wall_power_w <= limit, p.name
    free = rec("llama-3-8b:lora", 40000, **LORA)
    assert max(p.wall_power_w for p in [*free.proposals, *free.pareto_front]) > limit
    best = max(p.throughput for p in limited.pareto_front)
    assert best <= max(p.throughput for p in free.pareto_front)


def test_without_extras_nothing_is_made_up(rec):
    r = rec("llama-3-8b:lora", 5000, **LORA)
    for p in r.proposals:
        assert p.time_hours is None
        assert p.energy_cost is None
        assert p.cloud_cost is None  # no --tokens: no work to rent for
        # A break-even only from a dated, sourced GPU-hour price of this very GPU.
        listed = cloud_prices().get(p.gpu)
        if listed is None:
            assert p.cloud_break_even_hours is None and p.cloud_price_source is None
        else:
            assert p.cloud_price_per_gpu_hour == listed.usd_per_gpu_hour
            assert p.cloud_price_source == listed.describe()
            assert listed.price_date in p.cloud_price_source
    assert r.electricity_price is None and r.cloud_price_per_gpu_hour is None


def test_cloud_prices_are_dated_and_sourced_and_name_catalog_gpus():
    from dlrig.catalog import load

    names = {g.name for g in load.gpus()}
    prices = cloud_prices()
    assert len(prices) >= 10
    for gpu, price in prices.items():
        assert gpu in names
        assert price.price_date[:4].isdigit() and price.source


def test_shipped_cloud_price_and_user_override(rec):
    r = rec("llama-3-8b:lora", 5000, tokens=3.6e9, gpus=("GeForce RTX 5090",), **LORA)
    p = r.proposals[0]
    rate = cloud_prices()[p.gpu].usd_per_gpu_hour
    # 3.6e9 tokens at T tokens/s = 1e6/T h on n GPUs at rate per GPU-hour.
    assert p.cloud_cost == pytest.approx(3.6e9 / p.throughput / 3600 * p.n_gpus * rate, abs=0.01)
    assert p.cloud_break_even_months == pytest.approx(
        p.cloud_break_even_hours / (24 * 365 / 12), abs=0.05
    )
    mine = rec("llama-3-8b:lora", 5000, tokens=3.6e9, cloud_price_per_gpu_hour=9.0, **LORA)
    assert mine.proposals
    assert {q.cloud_price_per_gpu_hour for q in mine.proposals} == {9.0}
    assert {q.cloud_price_source for q in mine.proposals} == {"--cloud-price-per-gpu-hour"}


def test_gpu_filter_and_top(rec):
    r = rec("llama-3-8b:lora", 12000, gpus=("4090",), top=2, **LORA)
    assert [v.gpu for v in r.gpu_value] == ["GeForce RTX 4090"]
    assert len(r.proposals) == 2
    assert {p.gpu for p in [*r.proposals, *r.pareto_front]} == {"GeForce RTX 4090"}
    # Asking for one GPU, the unpriced catalog GPUs are not listed as left out.
    assert not any("no current price" in x.reason for x in r.rejected)
