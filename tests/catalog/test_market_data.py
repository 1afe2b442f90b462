"""Checks of the market data files that `dlrig recommend` enumerates builds from.

The files are read with the `csv` module only (the loader is written separately); names are
resolved with the catalog lookup so that every priced part is a real catalog row.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from functools import cache
from importlib import resources

import pytest

from dlrig.catalog.lookup import find_cpu, find_gpu

HEADERS = {
    "market_prices.csv": [
        "kind",
        "name",
        "price_usd",
        "price_date",
        "condition",
        "price_kind",
        "source",
        "confidence",
        "notes",
    ],
    "platforms.csv": [
        "id",
        "name",
        "socket",
        "board",
        "board_price_usd",
        "memory_type",
        "memory_slots",
        "memory_channels",
        "memory_modules_min",
        "max_memory_gb",
        "pcie_gen",
        "gpu_lanes",
        "gpu_mount",
        "board_expansion_slots",
        "case",
        "case_price_usd",
        "case_expansion_slots",
        "case_max_gpu_length_mm",
        "cpu_cooler_price_usd",
        "psu_included_w",
        "psu_included_rating",
        "psu_included_pcie_8pin",
        "psu_included_pcie_16pin",
        "price_date",
        "price_kind",
        "source",
        "confidence",
        "notes",
        "cpus",
    ],
    "psus.csv": [
        "name",
        "watts",
        "rating",
        "atx3",
        "atx_version",
        "pcie_8pin",
        "pcie_16pin",
        "price_usd",
        "price_date",
        "price_kind",
        "source",
        "confidence",
        "notes",
    ],
    "memory_kits.csv": [
        "name",
        "memory_type",
        "size_gb",
        "modules",
        "speed_mts",
        "price_usd",
        "price_date",
        "price_kind",
        "source",
        "confidence",
        "notes",
    ],
    "drives.csv": [
        "name",
        "kind",
        "size_tb",
        "read_mbs",
        "price_usd",
        "price_date",
        "price_kind",
        "source",
        "confidence",
        "notes",
    ],
    "currencies.csv": ["code", "per_usd", "date", "source", "confidence", "notes"],
    "cases.csv": [
        "name",
        "kind",
        "expansion_slots",
        "max_gpu_length_mm",
        "gpu_mount",
        "max_gpus",
        "psu_bays",
        "price_usd",
        "price_date",
        "price_kind",
        "source",
        "confidence",
        "notes",
    ],
    "risers.csv": [
        "name",
        "pcie_gen",
        "lanes",
        "length_mm",
        "price_usd",
        "price_date",
        "price_kind",
        "source",
        "confidence",
        "notes",
    ],
    "dual_psu.csv": [
        "name",
        "psu",
        "count",
        "sync",
        "sync_price_usd",
        "combined_w",
        "price_date",
        "price_kind",
        "source",
        "confidence",
        "notes",
    ],
    "vat_rates.csv": [
        "region",
        "country",
        "currency",
        "vat_pct",
        "date",
        "source",
        "confidence",
        "notes",
    ],
}

DATE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
# The data was compiled on 2026-11-25: no price may be dated later than that month.
LATEST_DATE = "2026-11"
RATINGS = {"white", "bronze", "silver", "gold", "platinum", "titanium"}
MEMORY_TYPES = {"ddr5-udimm", "ddr5-rdimm"}
LANE_WIDTHS = {1, 2, 4, 8, 16}
CONFIDENCE = re.compile(r"\[(V|R)\]")

# GPUs and CPUs the recommender must be able to price (the brief's list).
REQUIRED_GPUS = [
    "GeForce RTX 5090",
    "GeForce RTX 5080",
    "GeForce RTX 5070 Ti",
    "GeForce RTX 4090",
    "GeForce RTX 4080 SUPER",
    "GeForce RTX 4070 Ti SUPER",
    "GeForce RTX 4060 Ti 16GB",
    "GeForce RTX 3090",
    "GeForce RTX 3060 12GB",
    "RTX A6000",
    "RTX 6000 Ada Generation",
    "RTX PRO 6000 Blackwell Workstation Edition",
    "L40S",
    "L4",
    "H100 PCIe",
    "A100 80GB PCIe",
]
REQUIRED_CPUS = [
    "Ryzen 9 9950X",
    "Ryzen 9 7950X",
    "Ryzen 9 7900X",
    "Core Ultra 9 285K",
    "Core i9-14900K",
    "Ryzen Threadripper 7960X",
    "Ryzen Threadripper 7980X",
    "Ryzen Threadripper PRO 7975WX",
    "Ryzen Threadripper PRO 7985WX",
    "EPYC 9554",
    "EPYC 9654",
    "Xeon w7-2495X",
]
REQUIRED_SOCKETS = {"AM5", "LGA1851", "sTR5", "SP5", "LGA4677"}
REQUIRED_CURRENCIES = {"USD", "EUR", "GBP", "CHF", "JPY", "CNY", "CAD", "AUD", "INR"}


@cache
def read(filename: str) -> tuple[list[str], list[dict[str, str]]]:
    text = resources.files("dlrig.catalog").joinpath("data", filename).read_text("utf-8")
    reader = csv.DictReader(text.splitlines())
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def rows(filename: str) -> list[dict[str, str]]:
    return read(filename)[1]


def number(text: str) -> float:
    return float(text)


def lane_layouts(text: str) -> list[list[int]]:
    """`"16|8;8"` -> [[16], [8, 8]]."""
    return [[int(lanes) for lanes in layout.split(";")] for layout in text.split("|")]


@pytest.mark.parametrize("filename", sorted(HEADERS))
def test_header_is_exact(filename: str) -> None:
    header, _ = read(filename)
    assert header == HEADERS[filename]


@pytest.mark.parametrize("filename", sorted(HEADERS))
def test_every_row_is_complete_and_sourced(filename: str) -> None:
    data = rows(filename)
    assert data, f"{filename} is empty"
    for row in data:
        # A row with more cells than the header puts the extras under the key None.
        assert None not in row, f"{filename}: too many cells in {row}"
        assert all(value is not None for value in row.values()), f"{filename}: short row {row}"
        assert row["source"].strip(), f"{filename}: no source in {row}"
        assert CONFIDENCE.search(row["confidence"]), f"{filename}: bad confidence {row}"


@pytest.mark.parametrize(
    ("filename", "column"),
    [
        ("market_prices.csv", "price_date"),
        ("platforms.csv", "price_date"),
        ("psus.csv", "price_date"),
        ("memory_kits.csv", "price_date"),
        ("drives.csv", "price_date"),
        ("currencies.csv", "date"),
        ("cases.csv", "price_date"),
        ("risers.csv", "price_date"),
        ("dual_psu.csv", "price_date"),
        ("vat_rates.csv", "date"),
    ],
)
def test_dates_are_year_month_and_not_in_the_future(filename: str, column: str) -> None:
    for row in rows(filename):
        date = row[column]
        match = DATE.match(date)
        assert match, f"{filename}: {column}={date!r} is not YYYY-MM"
        assert "2012-01" <= date <= LATEST_DATE, f"{filename}: implausible date {date}"


@pytest.mark.parametrize(
    ("filename", "column"),
    [
        ("market_prices.csv", "price_usd"),
        ("platforms.csv", "board_price_usd"),
        ("psus.csv", "price_usd"),
        ("psus.csv", "watts"),
        ("memory_kits.csv", "price_usd"),
        ("drives.csv", "price_usd"),
        ("drives.csv", "read_mbs"),
        ("drives.csv", "size_tb"),
        ("currencies.csv", "per_usd"),
    ],
)
def test_amounts_are_positive_numbers(filename: str, column: str) -> None:
    for row in rows(filename):
        assert number(row[column]) > 0, f"{filename}: {column} of {row}"


# --- market_prices.csv ---------------------------------------------------------------------


def test_market_price_names_resolve_to_their_canonical_catalog_row() -> None:
    for row in rows("market_prices.csv"):
        assert row["kind"] in ("gpu", "cpu")
        part = find_gpu(row["name"]) if row["kind"] == "gpu" else find_cpu(row["name"])
        # The exact canonical name, so a loader keyed on `name` finds the row too.
        assert part.name == row["name"]


def test_market_prices_have_at_most_one_row_per_part() -> None:
    keys = Counter((row["kind"], row["name"]) for row in rows("market_prices.csv"))
    assert [key for key, count in keys.items() if count > 1] == []


def test_market_price_condition_is_an_enumeration() -> None:
    for row in rows("market_prices.csv"):
        assert row["condition"] in ("new", "used", "refurbished"), row


def test_required_parts_are_priced() -> None:
    priced = {(row["kind"], row["name"]) for row in rows("market_prices.csv")}
    assert [g for g in REQUIRED_GPUS if ("gpu", g) not in priced] == []
    assert [c for c in REQUIRED_CPUS if ("cpu", c) not in priced] == []


def test_no_sxm_or_oam_module_is_sold_as_a_part() -> None:
    for row in rows("market_prices.csv"):
        if row["kind"] == "gpu":
            assert find_gpu(row["name"]).form_factor == "pcie", row["name"]


def test_market_prices_are_plausible_against_launch_prices() -> None:
    # A street or used price far outside 0.1x-5x of the catalog launch price is a typo.
    for row in rows("market_prices.csv"):
        part = find_gpu(row["name"]) if row["kind"] == "gpu" else find_cpu(row["name"])
        if part.price_usd:
            ratio = number(row["price_usd"]) / part.price_usd
            assert 0.1 <= ratio <= 5, f"{row['name']}: {row['price_usd']} vs {part.price_usd}"


def test_ordering_of_gpu_prices_within_a_generation() -> None:
    price = {row["name"]: number(row["price_usd"]) for row in rows("market_prices.csv")}
    assert price["GeForce RTX 5090"] > price["GeForce RTX 5080"] > price["GeForce RTX 5070 Ti"]
    assert price["RTX PRO 6000 Blackwell Workstation Edition"] > price["GeForce RTX 5090"]
    assert price["GeForce RTX 3090"] < price["GeForce RTX 4090"]


# --- platforms.csv -------------------------------------------------------------------------


def platform_rows() -> list[dict[str, str]]:
    return rows("platforms.csv")


def test_platform_ids_are_unique_slugs() -> None:
    ids = [row["id"] for row in platform_rows()]
    assert len(ids) == len(set(ids))
    for platform_id in ids:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", platform_id), platform_id


def test_platform_enumerations_and_integers() -> None:
    for row in platform_rows():
        assert row["memory_type"] in MEMORY_TYPES, row["id"]
        assert row["pcie_gen"] in ("3", "4", "5"), row["id"]
        for column in (
            "memory_slots",
            "memory_channels",
            "max_memory_gb",
            "board_expansion_slots",
            "case_expansion_slots",
            "case_max_gpu_length_mm",
        ):
            assert row[column].isdigit() and int(row[column]) > 0, (row["id"], column)
        for column in ("case_price_usd", "cpu_cooler_price_usd"):
            assert number(row[column]) >= 0, (row["id"], column)
        assert int(row["memory_slots"]) >= int(row["memory_channels"]), row["id"]
        assert 150 <= int(row["case_max_gpu_length_mm"]) <= 600, row["id"]


def test_platform_memory_type_matches_the_socket() -> None:
    desktop = {"AM5", "LGA1851", "LGA1700"}
    for row in platform_rows():
        expected = "ddr5-udimm" if row["socket"] in desktop else "ddr5-rdimm"
        assert row["memory_type"] == expected, row["id"]


def test_gpu_lane_layouts_parse_and_grow_by_one_gpu() -> None:
    for row in platform_rows():
        layouts = lane_layouts(row["gpu_lanes"])
        for n, layout in enumerate(layouts, start=1):
            assert len(layout) == n, f"{row['id']}: layout {n} has {len(layout)} slots"
            assert set(layout) <= LANE_WIDTHS, f"{row['id']}: bad width in {layout}"


def test_lane_parser_rejects_malformed_layouts() -> None:
    # The parser the tests rely on must fail on malformed cells, not silently accept them.
    with pytest.raises(ValueError):
        lane_layouts("16|8;x")
    assert lane_layouts("16|8;8") == [[16], [8, 8]]


def test_layouts_fit_double_width_cards() -> None:
    # Every layout must be physically possible with 2-slot cards: the board's slot positions
    # plus one overhang slot, and the case's slots.
    for row in platform_rows():
        if row["gpu_mount"] == "risers":  # cards stand on a frame, not in adjacent slots
            continue
        max_gpus = len(lane_layouts(row["gpu_lanes"]))
        width = 2 * max_gpus
        assert width <= int(row["board_expansion_slots"]) + 1, row["id"]
        assert width <= int(row["case_expansion_slots"]), row["id"]


def test_layouts_do_not_exceed_the_cpu_lanes() -> None:
    # The GPU lanes of a full layout must be wired from some catalog CPU of that socket
    # (server platforms behind PCIe switches are exempt: their notes say so).
    for row in platform_rows():
        if "switch" in row["notes"].lower():
            continue
        lanes = max(sum(layout) for layout in lane_layouts(row["gpu_lanes"]))
        best = max(
            (cpu.pcie_lanes for cpu in priced_cpus() if cpu.socket == row["socket"]),
            default=0,
        )
        assert lanes <= best, f"{row['id']}: {lanes} GPU lanes, best CPU has {best}"


def test_psu_included_cells_are_all_blank_or_all_filled() -> None:
    columns = (
        "psu_included_w",
        "psu_included_rating",
        "psu_included_pcie_8pin",
        "psu_included_pcie_16pin",
    )
    for row in platform_rows():
        filled = [bool(row[c]) for c in columns]
        assert all(filled) or not any(filled), row["id"]
        if all(filled):
            assert int(row["psu_included_w"]) >= 1000, row["id"]
            assert row["psu_included_rating"] in RATINGS, row["id"]
            assert row["psu_included_pcie_8pin"].isdigit(), row["id"]
            assert row["psu_included_pcie_16pin"].isdigit(), row["id"]
            # A barebone carries its price on the board; its chassis costs nothing extra.
            assert number(row["case_price_usd"]) == 0, row["id"]
            assert number(row["cpu_cooler_price_usd"]) == 0, row["id"]


def priced_cpus() -> list:
    return [find_cpu(row["name"]) for row in rows("market_prices.csv") if row["kind"] == "cpu"]


def test_every_platform_socket_has_a_priced_catalog_cpu() -> None:
    sockets = {cpu.socket for cpu in priced_cpus()}
    for row in platform_rows():
        assert row["socket"] in sockets, f"{row['id']}: no priced CPU for {row['socket']}"


def test_required_sockets_and_platform_kinds_are_covered() -> None:
    data = platform_rows()
    assert {row["socket"] for row in data} >= REQUIRED_SOCKETS
    max_gpus = [len(lane_layouts(row["gpu_lanes"])) for row in data]
    assert 1 in max_gpus, "no single-GPU budget platform"
    assert any(n >= 4 for n in max_gpus), "no 4-GPU workstation"
    assert any(row["psu_included_w"] for row in data), "no server barebone with PSUs"


def test_platform_max_memory_fits_its_slots_and_a_kit_exists() -> None:
    kits = rows("memory_kits.csv")
    for row in platform_rows():
        fitting = [
            kit
            for kit in kits
            if kit["memory_type"] == row["memory_type"]
            and int(kit["modules"]) <= int(row["memory_slots"])
            and int(kit["size_gb"]) <= int(row["max_memory_gb"])
        ]
        assert fitting, f"{row['id']}: no memory kit fits"


# --- psus, memory, drives, currencies -----------------------------------------------------


def test_psu_enumerations() -> None:
    data = rows("psus.csv")
    assert 8 <= len(data) <= 20
    names = [row["name"] for row in data]
    assert len(names) == len(set(names))
    for row in data:
        assert row["rating"] in RATINGS, row["name"]
        assert row["atx3"] in ("yes", "no"), row["name"]
        assert row["pcie_8pin"].isdigit() and row["pcie_16pin"].isdigit(), row["name"]
        assert 650 <= int(row["watts"]) <= 3000, row["name"]
    watts = [int(row["watts"]) for row in data]
    assert min(watts) <= 650 and max(watts) >= 2000


def test_memory_kit_enumerations_and_sizes() -> None:
    data = rows("memory_kits.csv")
    assert 8 <= len(data) <= 14
    for row in data:
        assert row["memory_type"] in MEMORY_TYPES, row["name"]
        size, modules = int(row["size_gb"]), int(row["modules"])
        # size_gb is the whole kit: a whole number of GB per module, 16-256 GB each.
        assert size % modules == 0 and 16 <= size // modules <= 256, row["name"]
        assert 4000 <= int(row["speed_mts"]) <= 9000, row["name"]
    assert {row["memory_type"] for row in data} == MEMORY_TYPES


def test_drive_enumerations_and_read_speeds() -> None:
    data = rows("drives.csv")
    assert 5 <= len(data) <= 8
    limits = {"hdd": (80, 400), "sata-ssd": (400, 600), "nvme": (1500, 16000)}
    for row in data:
        assert row["kind"] in limits, row["name"]
        low, high = limits[row["kind"]]
        assert low <= int(row["read_mbs"]) <= high, row["name"]
    assert {row["kind"] for row in data} == set(limits)


def test_currencies() -> None:
    data = rows("currencies.csv")
    codes = [row["code"] for row in data]
    assert len(codes) == len(set(codes))
    assert set(codes) >= REQUIRED_CURRENCIES
    rate = {row["code"]: number(row["per_usd"]) for row in data}
    assert rate["USD"] == 1
    for code in codes:
        assert re.fullmatch(r"[A-Z]{3}", code)
    # Loose sanity bands: a rate entered the wrong way round (USD per unit) falls outside.
    bands = {"EUR": (0.6, 1.2), "GBP": (0.5, 1.0), "CHF": (0.6, 1.2), "JPY": (80, 250)}
    bands |= {"CNY": (5, 9), "CAD": (1.0, 1.8), "AUD": (1.1, 2.0), "INR": (60, 120)}
    for code, (low, high) in bands.items():
        assert low <= rate[code] <= high, code


def test_platform_cpus_name_catalog_cpus_of_its_socket() -> None:
    _, rows = read("platforms.csv")
    for row in rows:
        for name in filter(None, (row["cpus"] or "").split(";")):
            cpu = find_cpu(name)
            assert cpu.socket == row["socket"], (row["id"], name)


# --- issue 17: price kinds, used parts, new parts, VAT ------------------------------------

PRICE_KINDS = {"msrp", "street", "used"}
PRICED_FILES = [
    "market_prices.csv",
    "platforms.csv",
    "psus.csv",
    "memory_kits.csv",
    "drives.csv",
    "cases.csv",
    "risers.csv",
    "dual_psu.csv",
]


@pytest.mark.parametrize("filename", PRICED_FILES)
def test_every_price_has_a_kind_a_date_and_a_source(filename: str) -> None:
    for row in rows(filename):
        assert row["price_kind"] in PRICE_KINDS, (filename, row)
        assert DATE.match(row["price_date"]), (filename, row)
        assert row["source"].strip(), (filename, row)


def test_used_condition_and_used_price_kind_agree() -> None:
    for row in rows("market_prices.csv"):
        assert (row["condition"] == "used") == (row["price_kind"] == "used"), row["name"]


def gpu_support_rows() -> dict[str, dict[str, str]]:
    return {row["name"]: row for row in rows("gpu_support.csv")}


def test_used_only_gpus_are_priced_used_and_used_prices_are_used_only_gpus() -> None:
    support = gpu_support_rows()
    for row in rows("market_prices.csv"):
        if row["kind"] != "gpu":
            continue
        used_only = support[row["name"]]["availability"] == "used-only"
        assert used_only == (row["condition"] == "used"), row["name"]
    # The used parts: RTX 3090, A100, V100, P40.
    for name in ("GeForce RTX 3090", "A100 80GB PCIe", "Tesla V100 PCIe 16GB", "Tesla P40"):
        assert support[name]["availability"] == "used-only", name


NEW_GPUS = [
    "RTX 5070",
    "RTX 5060 Ti 16GB",
    "RTX 4070 SUPER",
    "RTX 4070 Ti",
    "RTX 3080 Ti",
    "RTX 4000 Ada",
    "RTX 4500 Ada",
    "RTX 5000 Ada",
    "RTX PRO 4000",
    "RTX PRO 4500",
    "RTX PRO 5000",
    "RTX PRO 6000 Max-Q",
    "RTX PRO 6000 Server",
    "H100 NVL",
    "H200 NVL",
    "GB200",
    "B300",
    "DGX Spark",
    "Jetson AGX Thor",
    "Jetson AGX Orin",
    "L40",
    "MI210",
    "MI325X",
    "MI355X",
    "Radeon PRO W7900",
    "RX 7900 XTX",
    "Arc B580",
    "Arc Pro B60",
    "Gaudi 3",
    "Tesla P40",
    "Tesla P100",
    "Titan V",
]
NEW_CPUS = [
    "Threadripper 9960X",
    "Threadripper 9970X",
    "Threadripper 9980X",
    "Threadripper 7970X",
    "Threadripper PRO 7955WX",
    "Threadripper PRO 7965WX",
    "Xeon w9-3595X",
    "Xeon w7-3565X",
    "Xeon w7-2595X",
    "EPYC 9124",
    "EPYC 9354",
    "EPYC 9135",
    "EPYC 9355",
    "Xeon Gold 6530",
    "Ryzen 5 9600X",
    "Ryzen 7 9700X",
    "Core Ultra 5 245K",
    "Core Ultra 7 265K",
    "Ryzen 9 5900X",
]


@pytest.mark.parametrize("name", NEW_GPUS)
def test_every_new_gpu_resolves_and_has_a_stack(name: str) -> None:
    gpu = find_gpu(name)
    assert gpu.name in gpu_support_rows(), gpu.name


@pytest.mark.parametrize("name", NEW_CPUS)
def test_every_new_cpu_resolves(name: str) -> None:
    assert find_cpu(name).source


def test_unified_memory_systems_are_systems() -> None:
    for name in ("DGX Spark", "Jetson AGX Thor", "Jetson AGX Orin"):
        gpu = find_gpu(name)
        assert gpu.form_factor == "system" and gpu.memory_type.startswith("LPDDR"), name


def test_gpu_support_covers_every_catalog_gpu_once() -> None:
    names = [row["name"] for row in rows("gpu_support.csv")]
    gpus = [row["name"] for row in rows("gpus.csv")]
    assert sorted(names) == sorted(gpus)
    stacks = {"cuda": r"sm_\d+", "rocm": r"gfx\w+", "oneapi": r"xe2-bmg", "synapseai": r"gaudi3"}
    for row in rows("gpu_support.csv"):
        assert re.fullmatch(stacks[row["stack"]], row["target"]), row
        assert row["availability"] in {"new", "used-only", "oem-only", "system"}, row


def test_p2p_fixes() -> None:
    # GeForce drivers never enable P2P over PCIe: the 2080 Ti peers only over its NVLink bridge.
    ti = find_gpu("RTX 2080 Ti")
    assert ti.p2p == "no" and ti.nvlink
    # No source says whether RTX PRO 6000 cards P2P over PCIe: unknown, not a guess.
    # "RTX PRO 6000" alone names three cards (workstation, Max-Q, server): each by its name.
    for edition in ("Workstation", "Max-Q Workstation", "Server"):
        assert find_gpu(f"RTX PRO 6000 Blackwell {edition} Edition").p2p == "unknown"


def test_platform_memory_modules_fill_every_channel() -> None:
    for row in platform_rows():
        assert int(row["memory_modules_min"]) == int(row["memory_channels"]), row["id"]
        assert int(row["memory_modules_min"]) <= int(row["memory_slots"]), row["id"]
        kits = [
            k
            for k in rows("memory_kits.csv")
            if k["memory_type"] == row["memory_type"]
            and int(row["memory_modules_min"]) <= int(k["modules"]) <= int(row["memory_slots"])
        ]
        assert kits, f"{row['id']}: no kit fills its channels"
    sp5 = [row for row in platform_rows() if row["socket"] == "SP5"]
    assert sp5 and all(row["memory_modules_min"] == "12" for row in sp5)


def test_w790_accepts_the_w7_2495x() -> None:
    boards = [
        row
        for row in platform_rows()
        if "W790" in row["board"] and "Xeon w7-2495X" in row["cpus"].split(";")
    ]
    assert boards, "no W790 platform lists the w7-2495X"
    for row in boards:  # its 64 lanes must feed the layout with lanes to spare for M.2
        assert max(sum(layout) for layout in lane_layouts(row["gpu_lanes"])) < 64


def test_platform_gpu_mount_and_case_kinds() -> None:
    assert {row["gpu_mount"] for row in platform_rows()} == {"slots", "risers"}
    kinds = {row["kind"] for row in rows("cases.csv")}
    assert kinds >= {"open-frame", "mesh-tower", "4u-chassis", "2u-server"}
    for row in rows("cases.csv"):
        assert row["gpu_mount"] in ("slots", "risers"), row
        assert int(row["psu_bays"]) in (1, 2, 4), row
    servers = [row for row in platform_rows() if row["psu_included_w"]]
    assert any(len(lane_layouts(row["gpu_lanes"])) <= 2 for row in servers), "no 1-2 GPU server"


def test_current_cheap_atx31_psus_and_1200_1300_w_units() -> None:
    data = rows("psus.csv")
    for row in data:
        assert row["atx_version"] in ("2.x", "3.0", "3.1"), row["name"]
        assert (row["atx3"] == "yes") == row["atx_version"].startswith("3"), row["name"]
    cheap = [
        r
        for r in data
        if 850 <= int(r["watts"]) <= 1000 and r["atx_version"] == "3.1" and int(r["pcie_16pin"])
    ]
    assert len(cheap) >= 3 and min(number(r["price_usd"]) for r in cheap) <= 120
    assert any(1200 <= int(r["watts"]) <= 1300 for r in data)


def test_dual_psu_rows_name_real_psus_and_add_up() -> None:
    psus = {row["name"]: row for row in rows("psus.csv")}
    for row in rows("dual_psu.csv"):
        psu = psus[row["psu"]]
        assert number(row["combined_w"]) == int(row["count"]) * number(psu["watts"]), row
        assert "ground" in row["notes"], "the shared-ground caveat must be stated"


def test_risers() -> None:
    for row in rows("risers.csv"):
        assert 1 <= int(row["pcie_gen"]) <= 5 and int(row["lanes"]) in LANE_WIDTHS, row
        assert 100 <= int(row["length_mm"]) <= 1000, row


def test_vat_rates() -> None:
    vat = {row["region"]: row for row in rows("vat_rates.csv")}
    assert number(vat["DE"]["vat_pct"]) == 19
    assert number(vat["FR"]["vat_pct"]) == 20
    assert number(vat["UK"]["vat_pct"]) == 20 and vat["UK"]["currency"] == "GBP"
    assert number(vat["US"]["vat_pct"]) == 0
    for row in vat.values():
        assert re.fullmatch(r"[A-Z]{2}", row["region"]) and 0 <= number(row["vat_pct"]) < 30
