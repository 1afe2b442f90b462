"""`dlrig parts`: every kind of part, names as JSON and --gpu give them, prices with their
currency, kind and date, and a mark on prices more than 6 months old (issues 16 and 17)."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest

from dlrig.catalog import load
from dlrig.catalog.lookup import find_cpu, find_gpu
from dlrig.cli import run
from dlrig.report import parts
from dlrig.report.parts import PriceContext

TODAY = date(2026, 12, 6)
CTX = PriceContext(today=TODAY)
KINDS = ["gpus", "cpus", "psus", "cases", "platforms", "boards", "memory", "drives", "models"]
# A price cell: an amount followed by its currency code.
MONEY = re.compile(r"\b\d[\d,]* (USD|EUR|GBP)\b")


def table_names(text: str) -> list[str]:
    """The first column of every body row of a rich table."""
    names = []
    for line in text.splitlines():
        if line.startswith("│"):
            cell = line.split("│")[1].strip()
            if cell:
                names.append(cell)
    return names


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_lists_as_table_and_json(kind: str, capsys) -> None:
    assert run(["parts", kind]) == 0
    out, err = capsys.readouterr()
    assert err == "" and len(out.splitlines()) > 5
    assert run(["parts", kind, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all("name" in r or "id" in r for r in rows)


def test_gpu_table_names_are_the_json_names_and_resolve(capsys) -> None:
    market = {p.name: p for p in load.market_prices() if p.kind == "gpu"}
    table = parts.gpus_table(load.gpus(), market, CTX)
    records = json.loads(parts.gpus_json(load.gpus(), market, CTX))
    assert table_names(table) == [r["name"] for r in records]
    for name in table_names(table):
        assert find_gpu(name).name == name  # exactly what --gpu takes


def test_cpu_table_names_are_the_json_names_and_resolve() -> None:
    market = {p.name: p for p in load.market_prices() if p.kind == "cpu"}
    table = parts.cpus_table(load.cpus(), market, CTX)
    records = json.loads(parts.cpus_json(load.cpus(), market, CTX))
    assert table_names(table) == [r["name"] for r in records]
    assert all(find_cpu(n).name == n for n in table_names(table))


def test_platform_table_names_are_the_ids_a_prices_file_takes() -> None:
    table = parts.platforms_table(load.platforms(), CTX)
    assert table_names(table) == [p.id for p in load.platforms()]
    assert table_names(table)[:2] == ["am5-b650-1gpu", "am5-a620-1gpu"]
    assert "[platforms]" in table  # caption text is printed as written, not as rich markup


def test_every_shown_price_has_its_currency() -> None:
    market = {p.name: p for p in load.market_prices() if p.kind == "gpu"}
    table = parts.gpus_table(load.gpus(), market, CTX)
    row = next(line for line in table.splitlines() if "│ GeForce RTX 3090 " in line)
    assert "1,499 USD" in row and "850 USD" in row and "used, 2026-05" in row
    for render, rows in (
        (parts.psus_table, load.psus()),
        (parts.memory_table, load.memory_kits()),
        (parts.drives_table, load.drives()),
        (parts.cases_table, load.cases()),
    ):
        body = [line for line in render(rows, CTX).splitlines() if line.startswith("│")]
        assert body and all(MONEY.search(line) for line in body), render
    # No bare number sits in a price column: every price cell of the PSU table has a unit.
    psus = parts.psus_table(load.psus(), CTX)
    for line in psus.splitlines():
        if line.startswith("│"):
            assert MONEY.search(line.split("│")[-3]), line


def test_old_prices_are_marked_and_counted() -> None:
    psus = parts.psus_table(load.psus(), CTX)
    # Every PSU price is dated 2025-06: 18 months before TODAY.
    assert "launch MSRP, 2025-06 !" in psus
    assert f"! {len(load.psus())} prices are more than 6 months old on 2026-12-06" in " ".join(
        psus.split()
    )
    fresh = parts.psus_table(load.psus(), PriceContext(today=date(2025, 7, 1)))
    assert " !" not in fresh and "months old" not in fresh


def test_json_prices_carry_kind_date_and_age() -> None:
    records = json.loads(parts.psus_json(load.psus(), CTX))
    p = records[0]["price"]
    assert p["currency"] == "USD" and p["kind"] == "msrp" and p["date"] == "2025-06"
    assert p["older_than_6_months"] is True and p["source"]


def test_vat_and_region_in_the_parts_table(capsys) -> None:
    # RTX 5090: 2,699 USD street x 0.8615 x 1.19 = 2,766.97 EUR in Germany.
    assert run(["parts", "gpus", "--region", "DE", "--format", "json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    now = rows["GeForce RTX 5090"]["market_price"]
    assert now["currency"] == "EUR" and now["amount"] == pytest.approx(2766.97, abs=0.01)
    assert run(["parts", "gpus", "--currency", "EUR", "--vat", "0", "--format", "json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["GeForce RTX 5090"]["market_price"]["amount"] == pytest.approx(2325.19, abs=0.01)


def test_used_only_gpus_are_marked(capsys) -> None:
    assert run(["parts", "gpus", "--format", "json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    for name in ("GeForce RTX 3090", "A100 80GB PCIe", "Tesla V100 PCIe 16GB", "Tesla P40"):
        assert rows[name]["sold_used_only"] is True, name
    assert rows["GeForce RTX 3090"]["market_price"]["condition"] == "used"
    assert rows["GeForce RTX 5090"]["sold_used_only"] is False


def test_unknown_region_is_bad_input(capsys) -> None:
    assert run(["parts", "psus", "--region", "XX"]) == 2
    assert "--region" in capsys.readouterr().err


def test_gpus_name_their_software_stack(capsys) -> None:
    assert run(["parts", "gpus", "--format", "json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert (
        rows["GeForce RTX 4090"]["software_stack"],
        rows["GeForce RTX 4090"]["software_target"],
    ) == ("cuda", "sm_89")
    assert rows["Instinct MI300X"]["software_stack"] == "rocm"
    assert rows["Arc B580"]["software_stack"] == "oneapi"
    assert rows["Gaudi 3"]["software_stack"] == "synapseai"


def test_cli_parts_listings_are_the_reports():
    """`dlrig parts NAME` (cli/parts.py, spelled out to keep --help cheap) and /api/parts/NAME
    (report/parts_listing.py) list the same things with the same help."""
    from dlrig.cli.parts import _LISTINGS
    from dlrig.report.parts_listing import LISTINGS

    assert {n: doc for n, (_, _, doc) in LISTINGS.items() if n != "models"} == _LISTINGS
