"""The shipped catalog CSVs, read with the csv module (only the name normaliser comes from dlrig).

Every row must carry a source and a confidence note, numbers must parse and lie in sane
ranges, enumerated columns may only hold their allowed values, and a handful of golden rows
must match the datasheet numbers they were taken from. See src/dlrig/catalog/data/SOURCES.md.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from dlrig.catalog.lookup import normalize, strip_brands

DATA = Path(__file__).resolve().parents[2] / "src" / "dlrig" / "catalog" / "data"

HEADERS = {
    "gpus.csv": "name,aliases,vendor,architecture,year,memory_gb,memory_type,memory_bandwidth_gbs,fp32_tflops,"
    "fp16_tensor_tflops,fp16_tensor_fp16acc_tflops,fp8_tensor_tflops,int8_tensor_tops,tdp_w,pcie_gen,pcie_lanes,"
    "form_factor,slot_width,length_mm,cooler,power_connectors,nvlink,nvlink_gbs,p2p,recommended_psu_w,price_usd,"
    "price_date,notes,source,confidence",
    "cpus.csv": "name,aliases,vendor,socket,year,cores,threads,base_ghz,boost_ghz,l3_cache_mb,pcie_lanes,pcie_gen,"
    "memory_channels,max_memory_mts,max_memory_gb,tdp_w,max_power_w,price_usd,price_date,notes,source,confidence",
    "pcie.csv": "gen,transfer_rate_gts,encoding,per_lane_gbs,x16_gbs,year,notes,source,confidence",
    "psu_efficiency.csv": "tier,input,load_10pct,load_20pct,load_50pct,load_100pct,source,confidence",
    "connectors.csv": "connector,max_w,notes,source,confidence",
    "storage.csv": "kind,typical_read_mbs,range_mbs,notes,source,confidence",
    "gpu_fabrics.csv": "gpu,fabric,peer_links,link_gbs,usable_fraction,latency_us,notes,source,confidence",
}

REQUIRED_GPUS = [
    "GeForce GTX 680",
    "GeForce GTX Titan",
    "GeForce GTX 780",
    "GeForce GTX 980",
    "GeForce GTX Titan X",
    "GeForce GTX 1080 Ti",
    "Titan Xp",
    "GeForce RTX 2080 Ti",
    "Titan RTX",
    "Tesla T4",
    "Tesla V100 PCIe 16GB",
    "Tesla V100 SXM2 16GB",
    "GeForce RTX 3060 12GB",
    "GeForce RTX 3070",
    "GeForce RTX 3080 10GB",
    "GeForce RTX 3090",
    "GeForce RTX 3090 Ti",
    "RTX A4000",
    "RTX A5000",
    "RTX A6000",
    "A40",
    "A10",
    "A100 40GB PCIe",
    "A100 80GB PCIe",
    "A100 80GB SXM",
    "GeForce RTX 4060 Ti 16GB",
    "GeForce RTX 4070",
    "GeForce RTX 4070 Ti SUPER",
    "GeForce RTX 4080",
    "GeForce RTX 4080 SUPER",
    "GeForce RTX 4090",
    "RTX 6000 Ada Generation",
    "L4",
    "L40S",
    "H100 PCIe",
    "H100 SXM",
    "H200 SXM",
    "B200",
    "GeForce RTX 5070 Ti",
    "GeForce RTX 5080",
    "GeForce RTX 5090",
    "RTX PRO 6000 Blackwell Workstation Edition",
    "Instinct MI250X",
    "Instinct MI300X",
]

REQUIRED_CPUS = [
    "Core i7-5930K",
    "Core i7-5820K",
    "Ryzen 9 7950X",
    "Ryzen 9 9950X",
    "Core i9-14900K",
    "Core Ultra 9 285K",
    "Ryzen Threadripper 7960X",
    "Ryzen Threadripper PRO 7985WX",
    "EPYC 9554",
    "EPYC 9654",
    "Xeon w7-2495X",
    "Ryzen 9 7900X",
    "Core i9-12900K",
]

GPU_NUMERIC = {  # column: (low, high, required); a low bound of 0 is exclusive
    "year": (2010, 2030, True),
    "memory_gb": (0, 300, True),
    "memory_bandwidth_gbs": (100, 20000, True),
    "fp32_tflops": (1, 500, True),
    "fp16_tensor_tflops": (0, 10000, False),
    "fp16_tensor_fp16acc_tflops": (0, 10000, False),
    "fp8_tensor_tflops": (0, 20000, False),
    "int8_tensor_tops": (0, 20000, False),
    "tdp_w": (30, 1500, True),
    "pcie_gen": (1, 6, True),
    "pcie_lanes": (1, 16, True),
    "slot_width": (1, 4, False),
    "length_mm": (100, 400, False),
    "nvlink_gbs": (10, 5000, False),
    "recommended_psu_w": (300, 2000, False),
    "price_usd": (50, 50000, False),
}

CPU_NUMERIC = {
    "year": (2010, 2030, True),
    "cores": (2, 256, True),
    "threads": (2, 512, True),
    "base_ghz": (1, 6.5, False),
    "boost_ghz": (1, 7, False),
    "l3_cache_mb": (1, 1200, False),
    "pcie_lanes": (16, 160, True),
    "pcie_gen": (1, 6, True),
    "memory_channels": (2, 12, True),
    "max_memory_mts": (1000, 10000, False),
    "max_memory_gb": (16, 12288, False),
    "tdp_w": (30, 600, True),
    "price_usd": (50, 20000, False),
}

GPU_ENUMS = {
    "vendor": {"NVIDIA", "AMD", "Intel"},
    "memory_type": {
        "GDDR5",
        "GDDR5X",
        "GDDR6",
        "GDDR6X",
        "GDDR7",
        "HBM2",
        "HBM2e",
        "HBM3",
        "HBM3e",
        "LPDDR5",
        "LPDDR5X",
    },
    # `system`: a unified-memory machine (DGX Spark, Jetson) whose GPU shares the CPU's memory.
    "form_factor": {"pcie", "sxm", "oam", "system"},
    "cooler": {"open-air", "blower", "passive", "liquid"},
    "nvlink": {"yes", "no"},
    "p2p": {"yes", "no", "unknown"},
}

CONNECTOR_TOKEN = re.compile(r"^[1-9]x(6pin|8pin|16pin|eps8pin)$")


def rows(filename: str) -> list[dict[str, str]]:
    with (DATA / filename).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def by_name(filename: str) -> dict[str, dict[str, str]]:
    return {r["name"]: r for r in rows(filename)}


def num(text: str) -> float:
    return float(text)


def connectors_ok(text: str) -> bool:
    if text in ("none", "board"):
        return True
    return bool(text) and all(CONNECTOR_TOKEN.match(tok) for tok in text.split("+"))


# ---------------------------------------------------------------- every file


@pytest.mark.parametrize("filename", sorted(HEADERS))
def test_header_is_exact(filename):
    with (DATA / filename).open(encoding="utf-8", newline="") as f:
        header = next(csv.reader(f))
    assert header == HEADERS[filename].split(",")


@pytest.mark.parametrize("filename", sorted(HEADERS))
def test_every_row_has_source_and_confidence(filename):
    data = rows(filename)
    assert data
    for r in data:
        assert None not in r, f"{filename}: row has more cells than the header: {r}"
        assert all(v is not None for v in r.values()), f"{filename}: short row {r}"
        assert r["source"].strip(), f"{filename}: empty source in {r}"
        assert re.search(r"\[[VR]\]", r["confidence"]), f"{filename}: confidence lacks [V]/[R]: {r}"


# ---------------------------------------------------------------- GPUs


def test_gpu_row_count_and_required_models():
    gpus = by_name("gpus.csv")
    assert len(rows("gpus.csv")) >= 44
    # the README's count (dlrig parts gpus)
    assert len(rows("gpus.csv")) == 80
    missing = [n for n in REQUIRED_GPUS if n not in gpus]
    assert not missing


def test_gpu_numbers_parse_and_are_in_range():
    for r in rows("gpus.csv"):
        for col, (low, high, required) in GPU_NUMERIC.items():
            cell = r[col]
            if not cell:
                assert not required, f"{r['name']}: {col} is blank"
                continue
            value = num(cell)
            inside = (low < value if low == 0 else low <= value) and value <= high
            assert inside, f"{r['name']}: {col}={value} outside [{low}, {high}] (0 is exclusive)"
        assert float(r["pcie_gen"]).is_integer() and int(r["pcie_gen"]) in range(1, 7)
        assert r["pcie_lanes"] in {"8", "16"}


def test_gpu_enumerations():
    for r in rows("gpus.csv"):
        for col, allowed in GPU_ENUMS.items():
            # A unified-memory system has no card cooler of its own.
            blank_system_cooler = col == "cooler" and r[col] == "" and r["form_factor"] == "system"
            ok = r[col] in allowed or blank_system_cooler
            assert ok, f"{r['name']}: {col}={r[col]!r}"


def test_gpu_names_and_aliases_are_unique():
    owner: dict[str, str] = {}
    for r in rows("gpus.csv"):
        keys = {normalize(r["name"])} | {normalize(a) for a in r["aliases"].split(";") if a.strip()}
        for key in keys:
            assert key, f"{r['name']}: empty alias"
            assert owner.setdefault(key, r["name"]) == r["name"], (
                f"{key!r} fits {owner[key]} and {r['name']}"
            )
    # the brand-stripped forms of names and aliases must not collide either
    stripped: dict[str, str] = {}
    for r in rows("gpus.csv"):
        keys = {strip_brands(normalize(r["name"]))} | {
            strip_brands(normalize(a)) for a in r["aliases"].split(";") if a.strip()
        }
        for key in keys:
            assert stripped.setdefault(key, r["name"]) == r["name"], (
                f"{key!r} fits {stripped[key]} and {r['name']}"
            )


def test_bare_datacenter_aliases_point_at_one_row_each():
    for bare in ("v100", "a100", "h100", "h200"):
        holders = [
            r["name"]
            for r in rows("gpus.csv")
            if bare in {normalize(a) for a in r["aliases"].split(";")}
        ]
        assert len(holders) <= 1, (bare, holders)


def test_power_connectors_follow_the_grammar():
    for r in rows("gpus.csv"):
        text = r["power_connectors"]
        assert connectors_ok(text), f"{r['name']}: {text!r}"
        if r["form_factor"] in ("sxm", "oam", "system"):
            assert text == "board" and r["slot_width"] == "" and r["length_mm"] == "", r["name"]
        else:
            assert text != "board", r["name"]


def test_tensor_columns_are_consistent():
    for r in rows("gpus.csv"):
        f32acc, f16acc = r["fp16_tensor_tflops"], r["fp16_tensor_fp16acc_tflops"]
        assert bool(f32acc) == bool(f16acc), r["name"]
        if not f32acc:
            assert not r["fp8_tensor_tflops"], r["name"]
            continue
        a, b = num(f32acc), num(f16acc)
        if r["name"].startswith("GeForce"):
            # GeForce Turing, Ampere, Ada and Blackwell: FP32 accumulate runs at half rate
            assert abs(a - b / 2) <= 0.15, f"{r['name']}: {a} vs {b}/2"
        else:
            assert a == b, f"{r['name']}: pro/datacenter parts are not halved ({a} vs {b})"
        if r["fp8_tensor_tflops"]:
            assert num(r["fp8_tensor_tflops"]) >= b, r["name"]


def test_pre_volta_cards_have_no_tensor_numbers():
    for r in rows("gpus.csv"):
        if r["architecture"].split()[0] in ("Kepler", "Maxwell", "Pascal"):
            assert not r["fp16_tensor_tflops"] and not r["int8_tensor_tops"], r["name"]


def test_nvlink_bandwidth_only_with_nvlink():
    for r in rows("gpus.csv"):
        if r["nvlink"] == "no":
            assert r["nvlink_gbs"] == "", r["name"]
        else:
            assert r["nvlink_gbs"], r["name"]


def test_gpu_fabrics_are_meshes_of_modules_without_nvlink():
    """A gpu_fabrics.csv row names a catalog OAM module that has no NVLink (estimate/comm.py
    takes NVLink first), with a peer link to each of the other 7 GPUs of its platform."""
    gpus = by_name("gpus.csv")
    fabrics = rows("gpu_fabrics.csv")
    assert {r["gpu"] for r in fabrics} >= {"Instinct MI300X", "Instinct MI325X"}
    for r in fabrics:
        g = gpus[r["gpu"]]
        assert g["form_factor"] == "oam" and g["nvlink"] == "no", r["gpu"]
        assert int(r["peer_links"]) == 7
        assert 0 < num(r["usable_fraction"]) <= 1 and num(r["link_gbs"]) > 0
        assert num(r["latency_us"]) > 0


def test_geforce_30_to_50_have_no_pcie_p2p():
    for r in rows("gpus.csv"):
        if re.match(r"GeForce RTX [345]0\d0", r["name"]):
            assert r["p2p"] == "no", r["name"]


def test_price_has_a_launch_month():
    for r in rows("gpus.csv") + rows("cpus.csv"):
        if r["price_usd"]:
            assert re.fullmatch(r"20[0-3]\d-(0[1-9]|1[0-2])", r["price_date"]), (
                f"{r['name']}: {r['price_date']!r}"
            )
        else:
            assert r["price_date"] == "", r["name"]


@pytest.mark.parametrize(
    ("name", "column", "value"),
    [
        ("GeForce RTX 4090", "memory_gb", 24),
        ("GeForce RTX 4090", "memory_bandwidth_gbs", 1008),
        ("GeForce RTX 4090", "fp16_tensor_tflops", 165.2),
        ("GeForce RTX 4090", "fp16_tensor_fp16acc_tflops", 330.3),
        ("GeForce RTX 4090", "tdp_w", 450),
        ("GeForce RTX 4090", "recommended_psu_w", 850),
        ("GeForce RTX 3090", "fp16_tensor_tflops", 71.0),
        ("GeForce RTX 3090", "memory_bandwidth_gbs", 936),
        ("GeForce RTX 3090", "tdp_w", 350),
        ("GeForce RTX 3090", "nvlink_gbs", 112.5),
        ("GeForce RTX 5090", "fp16_tensor_tflops", 209.5),
        ("GeForce RTX 5090", "tdp_w", 575),
        ("GeForce RTX 5090", "recommended_psu_w", 1000),
        ("H100 SXM", "fp16_tensor_tflops", 989),
        ("H100 SXM", "memory_bandwidth_gbs", 3350),
        ("H100 SXM", "tdp_w", 700),
        ("A100 80GB SXM", "fp16_tensor_tflops", 312),
        ("A100 80GB SXM", "memory_bandwidth_gbs", 2039),
        ("A40", "fp16_tensor_tflops", 149.7),
        ("GeForce GTX Titan X", "memory_gb", 12),
        ("GeForce GTX Titan X", "memory_bandwidth_gbs", 336.5),
        ("GeForce GTX Titan X", "tdp_w", 250),
        ("GeForce RTX 4060 Ti 16GB", "pcie_lanes", 8),
    ],
)
def test_golden_gpu_cells(name, column, value):
    assert num(by_name("gpus.csv")[name][column]) == pytest.approx(value)


def test_golden_gpu_text_cells():
    gpus = by_name("gpus.csv")
    assert gpus["GeForce RTX 4090"]["power_connectors"] == "1x16pin"
    assert gpus["GeForce RTX 3090"]["power_connectors"] == "2x8pin"
    assert gpus["GeForce GTX Titan X"]["power_connectors"] == "1x6pin+1x8pin"
    assert gpus["GeForce GTX Titan X"]["cooler"] == "blower"
    assert gpus["Tesla T4"]["power_connectors"] == "none"
    assert gpus["H100 SXM"]["form_factor"] == "sxm"
    assert "NVIDIA A100-SXM4-80GB" in gpus["A100 80GB SXM"]["aliases"].split(";")
    assert "NVIDIA H100 80GB HBM3" in gpus["H100 SXM"]["aliases"].split(";")


# ---------------------------------------------------------------- CPUs


def test_cpu_row_count_and_required_models():
    cpus = by_name("cpus.csv")
    assert len(cpus) >= 22
    assert not [n for n in REQUIRED_CPUS if n not in cpus]


def test_cpu_numbers_parse_and_are_in_range():
    for r in rows("cpus.csv"):
        for col, (low, high, required) in CPU_NUMERIC.items():
            if not r[col]:
                assert not required, f"{r['name']}: {col} is blank"
                continue
            value = num(r[col])
            assert low <= value <= high, f"{r['name']}: {col}={value}"
        assert int(r["threads"]) >= int(r["cores"]), r["name"]
        if r["base_ghz"] and r["boost_ghz"]:
            assert num(r["boost_ghz"]) >= num(r["base_ghz"]), r["name"]
        assert r["vendor"] in {"Intel", "AMD"}
        assert r["pcie_gen"] in {"3", "4", "5"}


def test_cpu_names_and_aliases_are_unique():
    owner: dict[str, str] = {}
    for r in rows("cpus.csv"):
        for key in {normalize(r["name"])} | {
            normalize(a) for a in r["aliases"].split(";") if a.strip()
        }:
            assert owner.setdefault(key, r["name"]) == r["name"], (
                f"{key!r} fits {owner[key]} and {r['name']}"
            )


@pytest.mark.parametrize(
    ("name", "column", "value"),
    [
        ("Core i7-5930K", "pcie_lanes", 40),
        ("Core i7-5930K", "cores", 6),
        ("Core i7-5930K", "pcie_gen", 3),
        ("Core i7-5930K", "memory_channels", 4),
        ("Core i7-5820K", "pcie_lanes", 28),
        ("Ryzen 9 7950X", "cores", 16),
        ("Ryzen 9 7950X", "pcie_lanes", 24),
        ("Core i9-14900K", "pcie_lanes", 20),
        ("Core Ultra 9 285K", "threads", 24),
        ("Xeon w9-3495X", "pcie_lanes", 112),
        ("EPYC 9554", "memory_channels", 12),
    ],
)
def test_golden_cpu_cells(name, column, value):
    assert num(by_name("cpus.csv")[name][column]) == pytest.approx(value)


# ---------------------------------------------------------------- PCIe


def test_pcie_generations():
    gens = {int(r["gen"]): r for r in rows("pcie.csv")}
    assert sorted(gens) == [1, 2, 3, 4, 5, 6]
    assert num(gens[3]["x16_gbs"]) == pytest.approx(15.75)
    assert num(gens[2]["x16_gbs"]) == pytest.approx(8.0)
    for gen, r in gens.items():
        assert num(r["per_lane_gbs"]) * 16 == pytest.approx(num(r["x16_gbs"]), abs=0.1), gen
        if gen > 1:
            assert num(r["x16_gbs"]) > num(gens[gen - 1]["x16_gbs"])
    # 3.0 from first principles: 8 GT/s, 128b/130b, 16 lanes
    assert pytest.approx(num(gens[3]["x16_gbs"]), abs=0.01) == 8e9 * 128 / 130 / 8 * 16 / 1e9


# ---------------------------------------------------------------- PSU efficiency


def test_psu_efficiency_table():
    table = {(r["tier"], r["input"]): r for r in rows("psu_efficiency.csv")}
    tiers = ["none", "white", "bronze", "silver", "gold", "platinum", "titanium"]
    for tier, inp in table:
        assert tier in tiers and inp in {"115v", "230v-eu", "230v-redundant"}
    for inp in ("115v", "230v-eu"):
        for tier in tiers:
            assert (tier, inp) in table, (tier, inp)
        # higher tiers are at least as efficient at 50 % load
        at50 = [num(table[(t, inp)]["load_50pct"]) for t in tiers]
        assert at50 == sorted(at50), inp
    for r in table.values():
        for col in ("load_20pct", "load_50pct", "load_100pct"):
            assert 50 <= num(r[col]) <= 100
        if r["load_10pct"]:
            assert 50 <= num(r["load_10pct"]) <= 100
    assert [
        num(table[("white", "115v")][c]) for c in ("load_20pct", "load_50pct", "load_100pct")
    ] == [80, 80, 80]
    assert [
        num(table[("gold", "115v")][c]) for c in ("load_20pct", "load_50pct", "load_100pct")
    ] == [87, 90, 87]
    assert num(table[("titanium", "115v")]["load_10pct"]) == 90
    for inp in ("115v", "230v-eu"):
        assert "assum" in table[("none", inp)]["confidence"].lower()


# ---------------------------------------------------------------- connectors and storage


def test_connectors():
    table = {r["connector"]: num(r["max_w"]) for r in rows("connectors.csv")}
    assert table == {"slot": 75, "6pin": 75, "8pin": 150, "eps8pin": 300, "16pin": 600}


def test_storage_kinds():
    table = {r["kind"]: r for r in rows("storage.csv")}
    assert set(table) == {"hdd", "sata-ssd", "nvme", "network"}
    assert num(table["hdd"]["typical_read_mbs"]) == 150
    speeds = [num(table[k]["typical_read_mbs"]) for k in ("hdd", "sata-ssd", "nvme")]
    assert speeds == sorted(speeds)
    for r in table.values():
        low, high = (num(x) for x in r["range_mbs"].split("-"))
        assert low <= num(r["typical_read_mbs"]) <= high, r["kind"]


def test_v100_32gb_is_the_16gb_die_with_twice_the_memory():
    """NVIDIA's V100 datasheet gives the SXM2 card one column for 16 and 32 GB: the same
    GV100, clocks and HBM2 interface; only the stack height (capacity) differs."""
    gpus = by_name("gpus.csv")
    small, big = gpus["Tesla V100 SXM2 16GB"], gpus["Tesla V100 SXM2 32GB"]
    for key in ("memory_bandwidth_gbs", "fp32_tflops", "fp16_tensor_tflops", "tdp_w", "nvlink"):
        assert big[key] == small[key], key
    assert float(big["memory_gb"]) == 2 * float(small["memory_gb"])
