"""`gpu-choice` values a card at the price the user would pay today, never at launch MSRP."""

from __future__ import annotations

import pytest

from dlrig.catalog.lookup import find_gpu
from dlrig.rules.gpu import tflops_per_kusd, today_price
from helpers import one, run_check


def build(model: str) -> dict:
    return {"gpus": [{"model": model}], "psu": {"watts": 1600}}


def test_street_price_not_msrp() -> None:
    # RTX 5090: 209.5 dense TFLOPS; street 2,699 USD (2026-06), launch MSRP 1,999 USD.
    f = one(run_check(build("RTX 5090")), "gpu-choice")
    assert f.numbers["tflops_per_1000_usd"].value == pytest.approx(209.5 / 2699 * 1000, rel=1e-3)
    assert "2,699 USD, street, 2026-06" in f.message


def test_a_used_card_is_valued_at_its_used_price() -> None:
    f = one(run_check(build("RTX 3090")), "gpu-choice")
    assert f.numbers["tflops_per_1000_usd"].value == pytest.approx(71 / 850 * 1000, rel=1e-3)
    assert "used price" in f.message


def test_a_card_with_only_a_launch_price_gets_no_value_rank() -> None:
    # The RTX 4080 SUPER has only its 2024 MSRP in the market file: not a price anyone pays.
    spec = find_gpu("RTX 4080 SUPER")
    assert today_price(spec).price_kind == "msrp"
    assert tflops_per_kusd(spec) is None
    f = one(run_check(build("RTX 4080 SUPER")), "gpu-choice")
    assert "tflops_per_1000_usd" not in f.numbers and "launch" not in f.message
