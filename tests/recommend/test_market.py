"""The market the recommender buys from: catalog prices in another currency, a user prices
file laid over them, and the one-line errors of a bad prices file (tests/data/prices/bad.*)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from dlrig.catalog.lookup import find_gpu
from dlrig.cli import run
from dlrig.errors import BuildFileError, DlrigError
from dlrig.model.load import read_toml
from dlrig.recommend.market import apply_prices, catalog_market

ROOT = Path(__file__).resolve().parents[2]
PRICES = ROOT / "tests" / "data" / "prices"
DATA = ROOT / "src" / "dlrig" / "catalog" / "data"


def csv_rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def per_usd(code: str) -> float:
    (row,) = [r for r in csv_rows("currencies.csv") if r["code"] == code]
    return float(row["per_usd"])


def usd_price(name: str) -> float:
    (row,) = [r for r in csv_rows("market_prices.csv") if r["name"] == name]
    return float(row["price_usd"])


RTX4090 = "GeForce RTX 4090"
RTX3090 = "GeForce RTX 3090"


def test_catalog_market_usd():
    m = catalog_market("USD")
    assert (m.currency, m.per_usd) == ("USD", 1.0)
    assert m.gpu_prices[RTX4090].price_usd == usd_price(RTX4090) == 1550.0
    # Every priced GPU and CPU in the csv is in the market, none more.
    rows = csv_rows("market_prices.csv")
    assert set(m.gpu_prices) == {r["name"] for r in rows if r["kind"] == "gpu"}
    assert set(m.cpu_prices) == {r["name"] for r in rows if r["kind"] == "cpu"}
    assert len(m.platforms) == len(csv_rows("platforms.csv"))
    assert len(m.psus) == len(csv_rows("psus.csv"))


def test_catalog_market_eur_uses_the_currencies_csv_rate():
    m = catalog_market("eur")
    assert m.currency == "EUR"
    assert m.per_usd == per_usd("EUR") == 0.8615
    # Prices stay in USD inside the market; shown in EUR as USD x per_usd.
    assert m.gpu_prices[RTX4090].price_usd == 1550.0
    assert "0.8615" in m.rate_note and "2025-10" in m.rate_note


def test_unknown_currency():
    with pytest.raises(DlrigError, match=r"--currency: no exchange rate for 'XYZ'.*EUR"):
        catalog_market("XYZ")


def test_eur_proposal_prices_gpu_at_usd_times_rate(rec):
    r = rec("llama-3-8b:lora", 5000 * 0.8615, currency="EUR", job={"seq_len": 2048})
    assert r.currency == "EUR" and r.proposals
    lines = [line for p in r.proposals for line in p.price_lines if line.part == "gpu"]
    assert lines
    for line in lines:
        usd = usd_price(line.name)
        # 1 x RTX 4090: 1550 x 0.8615 = 1335.325 -> 1335.33 (or .32 by float rounding).
        assert line.unit_price == pytest.approx(usd * 0.8615, abs=0.005)
    # Same builds and order as in USD at the same real budget.
    usd = rec("llama-3-8b:lora", 5000, job={"seq_len": 2048})
    assert [p.name for p in r.proposals] == [p.name for p in usd.proposals]


def apply(name: str, market=None):
    path = PRICES / name
    return apply_prices(market or catalog_market("EUR"), read_toml(path, "prices"), str(path))


def test_eur_prices_file_round_trips_exactly():
    m = apply("good.eur-used.toml")
    row = m.gpu_prices[RTX3090]
    assert row.price_usd == pytest.approx(650 / 0.8615, rel=1e-12)
    assert round(row.price_usd * m.per_usd, 2) == 650.00
    assert row.source == f"prices file {PRICES / 'good.eur-used.toml'}"
    # The catalog's condition stays; the date is the user's, not the catalog's.
    assert (row.price_date, row.condition) == ("user", "used")


def test_prices_file_makes_an_unpriced_gpu_buyable():
    before = catalog_market("EUR")
    for name in ("RTX 3080 10GB", "GTX 1080 Ti"):
        assert find_gpu(name).name not in before.gpu_prices
    m = apply("good.eur-used.toml", before)
    row = m.gpu_prices["GeForce RTX 3080 10GB"]
    assert round(row.price_usd * 0.8615, 2) == 400.00
    assert row.price_date == "user"
    assert "GeForce GTX 1080 Ti" in m.gpu_prices
    # Everything else is untouched.
    assert m.gpu_prices[RTX4090] == before.gpu_prices[RTX4090]
    assert m.psus == before.psus


def test_prices_file_in_another_currency_than_the_market():
    # A EUR file laid over a USD market: 650 EUR / 0.8615 = 754.50 USD.
    m = apply("good.eur-used.toml", catalog_market("USD"))
    assert m.currency == "USD"
    assert round(m.gpu_prices[RTX3090].price_usd, 2) == 754.50


def test_prices_file_platform_price_replaces_board_case_and_cooler():
    m = apply("good.used-3090.toml", catalog_market("USD"))
    (pf,) = [p for p in m.platforms if p.id == "am5-x870e-2gpu"]
    assert pf.price_usd == 400.0
    assert (pf.case_price_usd, pf.cpu_cooler_price_usd) == (0.0, 0.0)
    # The other platforms keep their catalog prices: B650 180 + 105 + 35 = 320.
    (b650,) = [p for p in m.platforms if p.id == "am5-b650-1gpu"]
    assert b650.price_usd == 320.0


def test_eur_recommend_shows_the_user_price(rec):
    prices = read_toml(PRICES / "good.eur-used.toml", "prices")
    r = rec(
        "llama-3-8b:lora",
        3000,
        currency="EUR",
        job={"seq_len": 2048},
        prices=prices,
        gpus=("RTX 3080 10GB",),
    )
    # Only the 3080 was asked for; 10 GB takes LoRA of 8B at 2048 only with memory savers, if
    # at all: either way the table lists it with its EUR price.
    (value,) = r.gpu_value
    assert value.gpu == "GeForce RTX 3080 10GB" and value.price == 400.0


@pytest.mark.parametrize(
    ("section", "name", "want_key", "want_suggestion"),
    [
        ("gpus", "RTX 3099", "gpus.RTX 3099", "GeForce RTX 3090"),
        ("cpus", "Ryzen 9 9950", "cpus.Ryzen 9 9950", "Ryzen 9 9950X"),
        ("platforms", "am5-b650-1gp", "platforms.am5-b650-1gp", "am5-b650-1gpu"),
        ("psus", "Corsair RM1000", "psus.Corsair RM1000", "Corsair RM1000x (2024)"),
        ("memory_kits", "DDR5-6000 2x32 kit", "memory_kits.DDR5-6000 2x32 kit", "DDR5-6000"),
        ("drives", "Lexar NM790", "drives.Lexar NM790", "Lexar NM790 1TB"),
    ],
)
def test_unknown_name_names_file_and_key_with_suggestions(section, name, want_key, want_suggestion):
    data = {"currency": "USD", section: {name: 100}}
    with pytest.raises(BuildFileError) as err:
        apply_prices(catalog_market("USD"), data, "my-prices.toml")
    e = err.value
    assert (e.path, e.key) == ("my-prices.toml", want_key)
    assert any(s.startswith(want_suggestion) for s in e.suggestions), e.suggestions
    assert e.one_line().startswith(f"my-prices.toml: {want_key}: unknown ")
    assert "did you mean" in e.one_line()


def test_names_match_case_insensitively():
    data = {"currency": "USD", "memory_kits": {"ddr5-6000 2x32gb kit": 10}}
    m = apply_prices(catalog_market("USD"), data, "p.toml")
    (kit,) = [k for k in m.memory_kits if k.name == "DDR5-6000 2x32GB kit"]
    assert kit.price_usd == 10


# Bad prices files: file -> regex the one stderr line matches after "dlrig: error: <path>: ".
BAD: dict[str, str] = {
    "bad.negative.toml": r"gpus\.RTX 3090: expected more than 0, got -600$",
    "bad.zero.toml": r"drives\.Lexar NM790 1TB: expected more than 0, got 0$",
    "bad.string.toml": r"gpus\.RTX 3090: expected a number, got '600'",
    "bad.bool.toml": r"gpus\.RTX 3090: expected a number, got true$",
    "bad.nan.toml": r"gpus\.RTX 3090: expected a finite number, got nan$",
    "bad.too-large.toml": r"gpus\.RTX 3090: expected at most 10000000, got 60000000$",
    "bad.unknown-section.toml": r"gpu: unknown section; did you mean 'gpus'\?$",
    "bad.gpus-not-table.toml": r"gpus: expected a table \[gpus\], got 600$",
    "bad.missing-currency.toml": r"currency: required key is missing$",
    "bad.bad-toml.toml": r"line 5, column \d+: not valid TOML: invalid value",
    "bad.unknown-gpu.toml": r"gpus\.RTX 3099: unknown gpu 'RTX 3099'; did you mean 'GeForce RTX 3090'",
    "bad.unknown-platform.toml": (
        r"platforms\.am5-b650-1gp: unknown platform 'am5-b650-1gp'; did you mean 'am5-b650-1gpu'"
    ),
    "bad.unknown-psu.toml": r"psus\.Corsair RM1000: unknown PSU .*'Corsair RM1000x \(2024\)'",
    "bad.unknown-currency.toml": r"currency: .*'XYZ'.*EUR",
}
XFAIL: dict[str, str] = {}


def bad_cases():
    for name in sorted(BAD):
        marks = [pytest.mark.xfail(strict=True, reason=XFAIL[name])] if name in XFAIL else []
        yield pytest.param(name, BAD[name], marks=marks, id=name)


def test_every_bad_fixture_has_a_case():
    assert {p.name for p in PRICES.glob("bad.*.toml")} == set(BAD) | {"bad.duplicate-gpu.toml"}


@pytest.mark.parametrize(("name", "pattern"), list(bad_cases()))
def test_bad_prices_file_one_line_exit_2(name, pattern, capsys):
    path = PRICES / name
    argv = ["recommend", "--budget", "3000", "--workload", "llama-3-8b:lora", "--prices", str(path)]
    assert run(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"dlrig: error: {path}: ")
    assert re.search(pattern, lines[0].removeprefix(f"dlrig: error: {path}: ")), lines[0]


def test_two_names_for_one_gpu_is_an_error():
    path = PRICES / "bad.duplicate-gpu.toml"
    with pytest.raises(BuildFileError, match=r"RTX 3090"):
        apply_prices(catalog_market("USD"), read_toml(path, "prices"), str(path))


def test_missing_prices_file(tmp_path, capsys):
    path = tmp_path / "nope.toml"
    argv = ["recommend", "--budget", "3000", "--workload", "llama-3-8b:lora", "--prices", str(path)]
    assert run(argv) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("dlrig: error: ") and "nope.toml" in line
