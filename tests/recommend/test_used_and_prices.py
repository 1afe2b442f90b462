"""Recommend output marks used GPUs everywhere and shows each price's kind and date; --region
and --vat price builds as sold there (issue 17)."""

from __future__ import annotations

import json
import re

from dlrig.catalog.stacks import gpu_support
from dlrig.cli import run

ARGS = ["recommend", "--budget", "5000", "--workload", "llama-3-8b:qlora", "--used"]


def used_names() -> set[str]:
    return {n for n, r in gpu_support().items() if r.availability == "used-only"}


def test_every_markdown_line_naming_a_used_gpu_says_used(capsys) -> None:
    assert run([*ARGS, "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    names = used_names()
    hits = 0
    for line in out.splitlines():
        if line.startswith("- **"):  # a `dlrig check` finding about the card's hardware
            continue
        for name in names:
            # The whole name: "GeForce RTX 4080" must not match "GeForce RTX 4080 SUPER".
            if re.search(rf"{re.escape(name)}(?=\s*(?:\(|\||·|—|,|$))", line):
                hits += 1
                assert "used" in line, line
    assert hits >= 5, "the case must show used cards for the test to mean anything"


def test_json_price_lines_carry_condition_kind_and_date(capsys) -> None:
    # Pinned to a card sold only used, so every proposal is a used-GPU build.
    assert run([*ARGS, "--gpu", "RTX 3090", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    seen_used = False
    for p in doc["proposals"]:
        gpu_line = next(line for line in p["price_lines"] if line["part"] == "gpu")
        if p["gpu"] in used_names():
            seen_used = True
            assert p["gpu_condition"] == "used" and gpu_line["condition"] == "used"
            assert "(used)" in p["name"]
        for line in p["price_lines"]:
            assert line["price_kind"] in ("msrp", "street", "used", "user")
            assert re.fullmatch(r"\d{4}-\d\d", line["price_date"]), line
    assert seen_used


def test_build_file_header_prices_have_units(capsys, tmp_path) -> None:
    assert run([*ARGS, "--top", "1", "--write-dir", str(tmp_path)]) == 0
    capsys.readouterr()
    (f,) = tmp_path.iterdir()
    header = next(
        line for line in f.read_text(encoding="utf-8").splitlines() if line.startswith("# price ")
    )
    for part in header.split(":", 1)[1].split(";"):
        assert re.search(r"\d USD \(", part), part  # amount, unit, (kind, date)


def test_region_prices_include_vat_in_the_local_currency(capsys) -> None:
    pin = ["--gpu", "RTX 5090", "--top", "1", "--format", "json"]
    assert run(["recommend", "--budget", "9000", "--workload", "llama-3-8b:qlora", *pin]) == 0
    usd = json.loads(capsys.readouterr().out)
    de_args = ["recommend", "--budget", "9000", "--workload", "llama-3-8b:qlora", "--region", "DE"]
    assert run([*de_args, *pin]) == 0
    de = json.loads(capsys.readouterr().out)
    assert usd["currency"] == "USD" and de["currency"] == "EUR"
    assert any("Germany VAT 19 %" in a for a in de["assumptions"])
    gpu_usd = next(x for x in usd["proposals"][0]["price_lines"] if x["part"] == "gpu")
    gpu_de = next(x for x in de["proposals"][0]["price_lines"] if x["part"] == "gpu")
    # By hand: 2,699 USD x 0.8615 EUR/USD x 1.19 = 2,766.97 EUR.
    assert gpu_usd["unit_price"] == 2699
    assert gpu_de["unit_price"] == 2766.97


def test_stale_prices_are_listed_in_the_assumptions(capsys) -> None:
    assert run([*ARGS, "--top", "1", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    stale = [line for p in doc["proposals"] for line in p["price_lines"] if line["stale"]]
    notes = [a for a in doc["assumptions"] if "more than 6 months old" in a]
    assert bool(stale) == bool(notes)


def test_bad_vat_and_region_are_bad_input(capsys) -> None:
    for extra in (["--vat", "-5"], ["--vat", "nan"], ["--region", "Atlantis"]):
        assert run([*ARGS, *extra]) == 2, extra
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and ("--vat" in err or "--region" in err), err
