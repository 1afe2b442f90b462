"""Every shipped example checks, and gives the findings its comments promise."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlrig.catalog.resolve import resolve
from dlrig.model.load import read_build_file
from dlrig.model.report import CheckReport
from dlrig.rules import check

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def report_for(name: str) -> CheckReport:
    path = EXAMPLES / name
    return check(resolve(read_build_file(path), str(path)))


def severities(report: CheckReport) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in report.findings:
        out.setdefault(f.id, set()).add(f.severity.value)
    return out


def test_every_example_file_is_tested():
    tested = {
        "guide-2015-4gpu.toml",
        "rtx4090-2x-workstation.toml",
        "rtx3090-4x-power-limited.toml",
        "h100-8x-sxm-server.toml",
        "budget-1gpu.toml",
        "llama3-8b-lora-4090.toml",  # tests/rules/test_workload.py
        "cluster-8x-h100.toml",  # a cluster file: tests/cluster/test_cluster_file.py
        "cluster-8x-h100-node.toml",  # its node build: tests/cluster/test_cluster_file.py
        "rtx3090-2x-nvlink-z590.toml",
        "open-frame-4x3090-risers.toml",
    }
    assert {p.name for p in EXAMPLES.glob("*.toml")} == tested


def test_guide_2015_build():
    r = report_for("guide-2015-4gpu.toml")
    s = severities(r)
    # Four GPUs each reading 128 JPEGs of 110 KB per 0.3 s need 188 MB/s: more than the HDD.
    assert s["disk-throughput"] == {"error"}
    disk = next(f for f in r.findings if f.id == "disk-throughput")
    assert disk.numbers["required_mbs"].value == pytest.approx(187.7, abs=0.1)
    assert disk.numbers["available_mbs"].value == 150
    # Six cores cannot run 4 x (4 + 1) + 4 = 24 loader processes.
    assert s["cpu-cores"] == {"warning"}
    assert s["gpu-choice"] == {"warning"}  # Maxwell: no tensor cores
    # 16/8/8/8 lanes: all at least x8, as the guide's 40-lane CPU promises.
    lanes = next(f for f in r.findings if f.id == "pcie-lanes")
    assert lanes.severity == "ok" and lanes.numbers["lanes_per_gpu"].value == 8
    # 4 x 250 + 140 + 100 = 1240 W; / 0.8 = 1550 W <= 1600 W.
    psu = next(f for f in r.findings if f.id == "psu-capacity")
    assert psu.severity == "ok" and psu.numbers["required_w"].value == pytest.approx(1550)
    # Two weeks at 1240 W DC is in the guide's 300-500 kWh band.
    energy = next(f for f in r.findings if f.id == "energy-cost")
    assert 300 <= energy.numbers["kwh"].value <= 500
    assert 60 <= energy.numbers["cost"].value <= 100
    # Seven-slot board in an eight-slot case: four 2-slot cards fit exactly.
    slots = next(f for f in r.findings if f.id == "slot-spacing")
    assert slots.severity == "ok"
    assert (slots.numbers["slots_needed"].value, slots.numbers["slots_available"].value) == (8, 8)
    # The 2015 build names no model, so the estimator-backed gpu-memory rule is skipped, as are
    # the rules for what the 2015 file does not describe (slot map, BIOS, displays, ...).
    skipped = [x.rule for x in r.skipped]
    assert r.summary().errors == 1 and "gpu-memory" in skipped
    assert {"psu-capacity", "pcie-lanes", "slot-spacing", "cooling"}.isdisjoint(skipped)


def test_rtx4090_workstation():
    r = report_for("rtx4090-2x-workstation.toml")
    s = severities(r)
    assert s["gpu-p2p"] == {"warning"}  # GeForce 40: no P2P, no NVLink
    assert s["psu-transients"] == {"ok"}  # 450 W cards on an ATX 3 PSU
    assert s["psu-connectors"] == {"ok"}
    assert s["power-limit"] == {"info"}
    assert r.summary().errors == 0


def test_rtx3090_power_limited():
    r = report_for("rtx3090-4x-power-limited.toml")
    s = severities(r)
    assert s["power-limit"] == {"ok"}
    assert s["psu-capacity"] == {"ok"}
    assert s["gpu-p2p"] == {"info"}  # NVLink bridges join pairs
    assert s["cooling"] == {"ok"}  # blowers
    assert r.summary().errors == 0 and r.summary().warnings == 0


def test_rtx3090_without_power_limit_overloads_the_psu(tmp_path):
    text = (EXAMPLES / "rtx3090-4x-power-limited.toml").read_text().replace("power_w = 280\n", "")
    path = tmp_path / "stock.toml"
    path.write_text(text)
    r = check(resolve(read_build_file(path), str(path)))
    psu = next(f for f in r.findings if f.id == "psu-capacity")
    # 4 x 350 + 280 + 100 = 1780 W; / 0.8 = 2225 W > 2000 W.
    assert psu.severity == "error"
    assert psu.numbers["load_w"].value == pytest.approx(1780)


def test_h100_server():
    r = report_for("h100-8x-sxm-server.toml")
    s = severities(r)
    assert s["gpu-p2p"] == {"ok"}
    assert s["cpu-cores"] == {"ok"}
    assert r.summary().errors == 0 and r.summary().warnings == 0
    skipped = {x.rule for x in r.skipped}
    assert {"slot-spacing", "cooling", "psu-transients"} <= skipped


def test_budget_build():
    r = report_for("budget-1gpu.toml")
    s = severities(r)
    # 6 cores < 1 x (4 + 1) + 4 = 9, but the 5 loader and main processes have a core each: only
    # the OS reserve is short, which one GPU does not make a problem (info, not warning).
    assert s["cpu-cores"] == {"info"}
    assert r.build.cpu is not None and r.build.cpu.name == "custom CPU"
    assert s["wall-circuit"] == {"ok"}
    assert r.summary().errors == 0


def test_rtx3090_nvlink_z590_from_the_asus_manual():
    r = report_for("rtx3090-2x-nvlink-z590.toml")
    s = severities(r)
    # A 4-slot bridge across slots 1 and 5, one empty slot of air between 3-slot FE cards.
    assert s["nvlink-bridge"] == {"ok"} and s["cooling"] == {"ok"} and s["slot-spacing"] == {"ok"}
    # The NVMe drive in M.2_1 shares nothing; x8/x8 from the 20-lane CPU (16 + 4 for M.2_1).
    assert s["lane-sharing"] == {"ok"}
    lanes = next(f for f in r.findings if f.id == "pcie-lanes")
    assert lanes.numbers["lanes_per_gpu"].value == 8 and lanes.severity == "ok"
    assert s["display-gpu"] == {"ok"} and s["bar-space"] == {"ok"} and s["iommu-acs"] == {"ok"}
    assert r.summary().errors == 0 and r.summary().warnings == 0


def test_rtx3090_nvlink_z590_with_the_drive_moved_to_m2_2(tmp_path):
    text = (EXAMPLES / "rtx3090-2x-nvlink-z590.toml").read_text()
    path = tmp_path / "m2_2.toml"
    path.write_text(text.replace('m2_slot = "M.2_1"', 'm2_slot = "M.2_2"'))
    r = check(resolve(read_build_file(path), str(path)))
    # Manual p. viii: with M.2_2 in use PCIEX16_2 runs x4.
    lanes = next(f for f in r.findings if f.id == "pcie-lanes")
    assert lanes.numbers["lanes_per_gpu"].value == 4 and lanes.severity == "warning"
    assert severities(r)["lane-sharing"] == {"warning"}


def test_open_frame_with_risers_and_a_second_psu():
    r = report_for("open-frame-4x3090-risers.toml")
    s = severities(r)
    assert s["risers"] == {"ok", "warning"}  # the one PCIe 3.0 riser on a PCIe 4.0 link
    assert s["dual-psu"] == {"ok"} and s["psu-connectors"] == {"ok"}
    dual = next(f for f in r.findings if f.id == "dual-psu")
    # Second PSU: 2 x (350 - 75) W; main: 280 + 2 x 350 + 2 x 75 + 100 W.
    assert dual.numbers["second_load_w"].value == 550
    assert dual.numbers["main_load_w"].value == 1230
    assert s["ecc"] == {"ok"} and s["display-gpu"] == {"ok"} and s["ram-channels"] == {"ok"}
    assert r.summary().errors == 0
