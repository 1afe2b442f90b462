"""Prices: kinds, dates older than 6 months, VAT by region, used parts (issue 17)."""

from __future__ import annotations

from datetime import date

import pytest

from dlrig.catalog import load
from dlrig.errors import DlrigError
from dlrig.model.market import is_stale, price_age_months, price_label
from dlrig.recommend.market import (
    apply_prices,
    catalog_market,
    default_condition,
    region_currency,
    vat_choice,
    with_vat,
)

TODAY = date(2026, 12, 6)


@pytest.mark.parametrize(
    ("when", "months", "stale"),
    [
        ("2026-12", 0, False),
        ("2026-06", 6, False),  # exactly six months: not yet "older than 6 months"
        ("2026-05", 7, True),
        ("2024-08", 28, True),
        ("user", None, False),
        (None, None, False),
    ],
)
def test_price_age(when, months, stale) -> None:
    assert price_age_months(when, TODAY) == months
    assert is_stale(when, TODAY) is stale


def test_price_labels() -> None:
    assert price_label("msrp") == "launch MSRP"
    assert price_label("street") == "new street"
    assert price_label("used", "used") == "used"
    assert price_label("user", "used") == "used, your price"


def test_vat_by_hand() -> None:
    # A 2,699 USD RTX 5090 in Germany: 2,699 x 0.8615 EUR/USD = 2,325.19 EUR before VAT,
    # x 1.19 = 2,766.97 EUR as sold there (MARKET.md).
    assert load.currencies()["EUR"].per_usd == 0.8615
    assert with_vat(2699, 0.8615, 0) == 2325.19
    assert with_vat(2699, 0.8615, 19) == 2766.97
    # The UK: 20 % on a GBP price. 1,000 USD x 0.7477 = 747.70 GBP; x 1.2 = 897.24 GBP.
    assert with_vat(1000, 0.7477, 20) == 897.24


def test_region_vat_and_currency() -> None:
    assert vat_choice("DE", None)[0] == 19
    assert vat_choice("fr", None)[0] == 20
    assert vat_choice("UK", None)[0] == 20 and vat_choice("GB", None)[0] == 20
    assert vat_choice(None, None)[0] == 0
    assert vat_choice("DE", 0)[0] == 0  # --vat 0: prices before VAT, even for a region
    assert vat_choice(None, 21)[0] == 21
    assert region_currency("DE") == "EUR" and region_currency("UK") == "GBP"
    assert region_currency("SE") == "EUR"  # no SEK rate: shown in EUR
    with pytest.raises(DlrigError, match="--region"):
        vat_choice("XX", None)
    with pytest.raises(DlrigError, match="--vat"):
        vat_choice(None, 120)


def test_the_market_folds_vat_into_the_rate() -> None:
    plain = catalog_market("EUR")
    de = catalog_market("EUR", region="DE", today=TODAY)
    assert de.per_usd == pytest.approx(plain.per_usd * 1.19)
    assert de.vat_pct == 19 and "Germany" in de.vat_note and de.today == TODAY


def test_a_prices_file_with_a_region_is_taken_as_vat_included() -> None:
    de = catalog_market("EUR", region="DE")
    m = apply_prices(de, {"currency": "EUR", "gpus": {"RTX 3090": 595}}, "p.toml")
    # 595 EUR as sold in Germany is shown back as 595 EUR, not 595 x 1.19.
    assert m.gpu_prices["GeForce RTX 3090"].price_usd * de.per_usd == pytest.approx(595)
    assert m.gpu_prices["GeForce RTX 3090"].price_kind == "user"


def test_a_used_only_gpu_priced_by_the_user_is_marked_used() -> None:
    m = apply_prices(catalog_market(), {"currency": "USD", "gpus": {"V100 PCIe": 250}}, "p")
    row = m.gpu_prices["Tesla V100 PCIe 16GB"]
    assert row.condition == "used" and row.price_kind == "user"
    assert default_condition("gpu", "GeForce RTX 5090") == "new"


def test_every_market_gpu_price_has_kind_date_and_source() -> None:
    for row in load.market_prices():
        assert row.price_kind in ("msrp", "street", "used")
        assert price_age_months(row.price_date, TODAY) is not None
        assert row.source
