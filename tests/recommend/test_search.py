"""`search()` on a tiny hand-made market: one or two platforms, a few PSUs, kits and a drive.

The GPU configurations are built by hand (fits, a throughput, no data-rate estimate), so the
search is the only thing under test: prices are hand sums, PSUs are sized by hand.
"""

from __future__ import annotations

from typing import Any

import pytest

from dlrig.catalog.lookup import find_gpu
from dlrig.model.market import Drive, Market, MarketPrice, MemoryKit, Platform, Psu
from dlrig.recommend import Request
from dlrig.recommend.configs import GpuConfig
from dlrig.recommend.request import parse_workload
from dlrig.recommend.search import search

DATE = "2026-01"
SRC = "test"

RTX4090 = find_gpu("RTX 4090")  # 450 W, 16-pin, recommended PSU 850 W, 24 GB
RTX3090 = find_gpu("RTX 3090")  # 350 W, 2 x 8-pin, recommended PSU 750 W, 24 GB
CPU = "Ryzen 9 9950X"  # AM5, 16 cores, 24 lanes, max_power_w 230 W
CPU_USD = 649.0


def platform(**kw: Any) -> Platform:
    row: dict[str, Any] = {
        "id": "am5-one",
        "name": "AM5 one-GPU test desktop",
        "socket": "AM5",
        "board": "Test B650",
        "board_price_usd": 180.0,
        "memory_type": "ddr5-udimm",
        "memory_slots": 4,
        "memory_channels": 2,
        "max_memory_gb": 192.0,
        "pcie_gen": 4,
        "gpu_lanes": ((16,),),
        "board_expansion_slots": 7,
        "case": "Test case",
        "case_price_usd": 105.0,
        "case_expansion_slots": 7,
        "case_max_gpu_length_mm": 360.0,
        "cpu_cooler_price_usd": 35.0,
        "price_date": DATE,
        "source": SRC,
    }
    return Platform(**{**row, **kw})


PLATFORM_USD = 180.0 + 105.0 + 35.0  # board + case + cooler = 320


def psu(name: str, watts: float, usd: float, *, atx3=True, p8=4, p16=1) -> Psu:
    return Psu(
        name=name,
        watts=watts,
        rating="gold",
        atx3=atx3,
        pcie_8pin=p8,
        pcie_16pin=p16,
        price_usd=usd,
        price_date=DATE,
        source=SRC,
    )


def kit(name: str, gb: float, usd: float) -> MemoryKit:
    return MemoryKit(
        name=name,
        memory_type="ddr5-udimm",
        size_gb=gb,
        modules=2,
        speed_mts=6000,
        price_usd=usd,
        price_date=DATE,
        source=SRC,
    )


DRIVE = Drive(
    name="Test NVMe 1TB",
    kind="nvme",
    size_tb=1,
    read_mbs=7000,
    price_usd=118.0,
    price_date=DATE,
    source=SRC,
)
PSU_850 = psu("850 W", 850, 130.0, p8=3)
PSU_1000 = psu("1000 W", 1000, 190.0)
PSU_1000_DEAR = psu("1000 W dear", 1000, 270.0)
KIT_16 = kit("16 GB kit", 16, 100.0)  # less than a 24 GB card: never used
KIT_32 = kit("32 GB kit", 32, 375.0)
KIT_64 = kit("64 GB kit", 64, 680.0)


def market(
    *,
    gpus: dict[str, float] | None = None,
    platforms: tuple[Platform, ...] | None = None,
    psus: tuple[Psu, ...] = (PSU_850, PSU_1000, PSU_1000_DEAR),
    kits: tuple[MemoryKit, ...] = (KIT_16, KIT_32),
) -> Market:
    gpus = gpus if gpus is not None else {RTX4090.name: 1550.0}
    return Market(
        gpu_prices={
            n: MarketPrice(kind="gpu", name=n, price_usd=u, price_date=DATE, source=SRC)
            for n, u in gpus.items()
        },
        cpu_prices={
            CPU: MarketPrice(kind="cpu", name=CPU, price_usd=CPU_USD, price_date=DATE, source=SRC)
        },
        platforms=platforms if platforms is not None else (platform(),),
        psus=psus,
        memory_kits=kits,
        drives=(DRIVE,),
    )


def config(gpu=RTX4090, n: int = 1, *, fits: bool = True, rate: float = 1000.0) -> GpuConfig:
    return GpuConfig(gpu, n, fits, {}, rate if fits else 0.0, 20.0, 1, None)


def request(budget: float = 100_000, **kw: Any) -> Request:
    model, task = parse_workload("llama-3-8b:lora")
    return Request(workload="llama-3-8b:lora", model=model, task=task, budget=budget, **kw)


def run_search(configs, m: Market, budget: float = 100_000):
    return search(configs, m, request(budget))


# Hand sum for 1 x RTX 4090: GPU 1550 + CPU 649 + platform 320 + 1000 W PSU 190 + 32 GB kit 375
# + drive 118 = 3202 USD.
HAND_4090_USD = 1550.0 + CPU_USD + PLATFORM_USD + 190.0 + 375.0 + 118.0


def test_one_candidate_priced_as_the_hand_sum():
    found = run_search([config()], market())
    assert len(found.candidates) == 1
    c = found.candidates[0]
    assert HAND_4090_USD == 3202.0
    assert c.price_usd == HAND_4090_USD
    assert c.gpu_price_usd == 1550.0
    assert c.host.cpu.name == CPU
    assert c.throughput == 1000.0
    assert found.cheapest_usd == HAND_4090_USD
    assert found.rejected == {}


def test_psu_is_the_cheapest_that_carries_the_load():
    # RTX 4090 450 W + Ryzen 9 9950X 230 W + 100 W other = 780 W; / 0.8 = 975 W, above the
    # card's recommended 850 W: the 1000 W unit at 190, not the 850 W (130) nor the dear 1000 W.
    c = run_search([config()], market()).candidates[0]
    assert c.psu.name == "1000 W"
    assert c.psu.price_usd == 190.0


def test_psu_meets_the_cards_recommended_watts():
    # RTX 3090 350 W + 230 W + 100 W = 680 W; / 0.8 = 850 W, and recommended 750 W:
    # the 850 W unit is enough for a 3090.
    m = market(gpus={RTX3090.name: 850.0})
    c = run_search([config(RTX3090)], m).candidates[0]
    assert c.psu.name == "850 W"
    # A card whose recommended PSU is above the load's need: the recommendation wins.
    big = RTX3090.model_copy(update={"recommended_psu_w": 990.0})
    c = run_search([config(big)], m).candidates[0]
    assert c.psu.name == "1000 W"


def test_sixteen_pin_card_on_8_pins_needs_three():
    # No PSU with a 16-pin cable: the 4090's adapter needs ceil(450 / 150) = 3 8-pin cables.
    two = psu("1000 W 2x8", 1000, 100.0, p8=2, p16=0)
    three = psu("1000 W 3x8", 1000, 150.0, p8=3, p16=0)
    native = psu("1000 W 16-pin", 1000, 190.0, p8=0, p16=1)
    c = run_search([config()], market(psus=(two, three, native))).candidates[0]
    assert c.psu.name == "1000 W 3x8"
    c = run_search([config()], market(psus=(two, native))).candidates[0]
    assert c.psu.name == "1000 W 16-pin"
    found = run_search([config()], market(psus=(two,)))
    assert found.candidates == []
    assert "PSU" in found.rejected["1 x GeForce RTX 4090"]


def test_non_atx3_psu_not_used_for_a_450_w_card():
    cheap_old = psu("1200 W pre-ATX 3", 1200, 50.0, atx3=False)
    c = run_search([config()], market(psus=(cheap_old, PSU_1000))).candidates[0]
    assert c.psu.name == "1000 W"
    # A 350 W card may use it.
    m = market(gpus={RTX3090.name: 850.0}, psus=(cheap_old, PSU_1000))
    assert run_search([config(RTX3090)], m).candidates[0].psu.name == "1200 W pre-ATX 3"


def test_ram_kit_smaller_than_gpu_memory_not_used():
    # 24 GB of GPU memory: the 16 GB kit (100) is cheaper but too small; the 32 GB kit is used.
    c = run_search([config()], market()).candidates[0]
    assert c.kit.name == "32 GB kit"
    found = run_search([config()], market(kits=(KIT_16,)))
    assert found.candidates == []
    assert "RAM" in found.rejected["1 x GeForce RTX 4090"]


def test_two_cards_need_the_kit_for_both():
    two_gpu = platform(id="am5-two", name="AM5 two-GPU test", gpu_lanes=((16,), (8, 8)))
    two_gpu = two_gpu.model_copy(update={"board_expansion_slots": 7, "case_expansion_slots": 9})
    big = psu("1600 W", 1600, 480.0, p8=6, p16=2)
    m = market(platforms=(two_gpu,), kits=(KIT_16, KIT_32, KIT_64), psus=(PSU_1000, big))
    found = run_search([config(n=2)], m)
    # 2 x 24 GB = 48 GB of GPU memory: the 64 GB kit; 2 x 450 W + 230 W + 100 W = 1230 W,
    # / 0.8 = 1537.5 W: the 1600 W unit.
    assert [(c.kit.name, c.psu.name) for c in found.candidates] == [("64 GB kit", "1600 W")]
    # Hand sum: 2 x 1550 + 649 + 320 + 480 + 680 + 118 = 5347.
    assert found.candidates[0].price_usd == 5347.0
    # Without the big PSU nothing carries two 4090s.
    found = run_search([config(n=2)], market(platforms=(two_gpu,), kits=(KIT_64,)))
    assert found.candidates == []
    assert "PSU" in found.rejected["2 x GeForce RTX 4090"]


def test_platform_with_one_x16_slot_holds_one_gpu():
    found = run_search([config(n=1), config(n=2)], market())
    assert [c.config.n for c in found.candidates] == [1]
    assert "holds at most 1 GPUs" in found.rejected["2 x GeForce RTX 4090"]


def test_budget_filter_is_inclusive():
    at = run_search([config()], market(), budget=HAND_4090_USD)
    assert [c.price_usd for c in at.candidates] == [HAND_4090_USD]
    below = run_search([config()], market(), budget=HAND_4090_USD - 1)
    assert below.candidates == []
    assert below.cheapest_usd == HAND_4090_USD
    assert "3,202 USD, over the budget" in below.rejected["1 x GeForce RTX 4090"]


def test_budget_may_pick_a_cheaper_host():
    """One candidate per host: each host's cheapest valid build within the budget."""
    dear = platform(id="am5-dear", name="AM5 dear", board_price_usd=1180.0)
    found = run_search([config()], market(platforms=(platform(), dear)))
    assert sorted(c.price_usd for c in found.candidates) == [HAND_4090_USD, HAND_4090_USD + 1000]
    found = run_search([config()], market(platforms=(platform(), dear)), budget=4000)
    assert [c.host.platform.id for c in found.candidates] == ["am5-one"]


def test_evaluated_is_the_product_of_option_counts():
    # Hosts 1 (one platform x one CPU) x PSUs 3 x kits 2 x drives 1 = 6 per fitting config;
    # the 2-card config fits the estimator (counted) though no platform takes it; the config
    # that does not fit is not counted.
    configs = [config(n=1), config(n=2), config(RTX4090, 3, fits=False)]
    found = run_search(configs, market())
    assert found.evaluated == 2 * (1 * 3 * 2 * 1)
    # Two platforms double the hosts.
    two = market(platforms=(platform(), platform(id="am5-b", name="AM5 b")))
    assert run_search([config()], two).evaluated == 2 * 3 * 2 * 1


def test_config_that_does_not_fit_is_skipped():
    found = run_search([config(fits=False)], market())
    assert found.candidates == [] and found.evaluated == 0 and found.rejected == {}


@pytest.mark.parametrize("length_mm", [359.0, 361.0])
def test_card_longer_than_the_case_is_rejected(length_mm):
    long = RTX4090.model_copy(update={"length_mm": length_mm})
    found = run_search([config(long)], market())
    assert bool(found.candidates) == (length_mm <= 360.0)
