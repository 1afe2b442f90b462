"""Options that change what a proposal reports or may be: --tokens, --electricity-price,
--cloud-price-per-gpu-hour, --energy-hours, a wall circuit, --gpu, --top."""

from __future__ import annotations

import pytest

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
        assert p.cloud_break_even_hours is None
    assert r.electricity_price is None and r.cloud_price_per_gpu_hour is None


def test_gpu_filter_and_top(rec):
    r = rec("llama-3-8b:lora", 12000, gpus=("4090",), top=2, **LORA)
    assert [v.gpu for v in r.gpu_value] == ["GeForce RTX 4090"]
    assert len(r.proposals) == 2
    assert {p.gpu for p in [*r.proposals, *r.pareto_front]} == {"GeForce RTX 4090"}
    # Asking for one GPU, the unpriced catalog GPUs are not listed as left out.
    assert not any("no current price" in x.reason for x in r.rejected)
