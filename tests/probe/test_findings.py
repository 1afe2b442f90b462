"""Findings from each NVML scenario and from host measurements, with their thresholds."""

from __future__ import annotations

import pytest

from dlrig.model.finding import Finding, Severity
from dlrig.probe import findings as fnd
from dlrig.probe import thresholds as t
from dlrig.probe.gpu_findings import pageable, pcie_link, power_limit, throttling
from dlrig.probe.models import GpuInfo
from dlrig.probe.result import CpuInfo, DiskInfo, MemoryInfo, ProbeResult, TorchBench
from probe_helpers import backend, result_for

GPU_IDS = {
    "pcie-link-degraded",
    "gpu-throttling",
    "power-limit-lowered",
    "persistence-off",
    "p2p-unavailable",
    "pageable-copies-slow",
}


def problems(result: ProbeResult) -> dict[str, list[Severity]]:
    out: dict[str, list[Severity]] = {}
    for f in fnd.probe_findings(result):
        if f.severity != Severity.OK:
            out.setdefault(f.id, []).append(f.severity)
    return out


def test_healthy_box_has_no_problems():
    r = result_for("healthy-4gpu")
    assert problems(r) == {}
    ok = {f.id for f in fnd.probe_findings(r)}
    assert {"pcie-link-degraded", "gpu-throttling", "p2p-unavailable", "disk-slow"} <= ok


def test_x4_link_scenario():
    found = problems(result_for("x4-link"))
    assert found == {
        "pcie-link-degraded": [Severity.WARNING],
        "p2p-unavailable": [Severity.WARNING],
        "persistence-off": [Severity.INFO],
    }
    f = next(
        f
        for f in fnd.probe_findings(result_for("x4-link"))
        if f.id == "pcie-link-degraded" and f.severity == Severity.WARNING
    )
    assert "GPU 1" in f.message and "x4 of gen 4 x16" in f.message
    assert f.numbers["width_current"].value == 4


def test_throttling_scenario():
    found = problems(result_for("throttling"))
    assert found == {
        "gpu-throttling": [Severity.WARNING],
        "power-limit-lowered": [Severity.WARNING],
    }
    f = next(f for f in fnd.probe_findings(result_for("throttling")) if f.id == "gpu-throttling")
    assert "hw_thermal_slowdown" in f.message and "91 °C" in f.message
    p = next(
        f for f in fnd.probe_findings(result_for("throttling")) if f.id == "power-limit-lowered"
    )
    assert "250 W of its 350 W default (71%)" in p.message
    assert "-pl 280" in p.fix  # 80 % of the default


def test_nvml_missing_scenario_gives_host_findings_only():
    r = result_for("nvml-missing")
    assert r.gpu_status.startswith("unavailable: NVML")
    assert not {f.id for f in fnd.probe_findings(r)} & GPU_IDS


def test_permission_scenario_reports_unreadable_p2p():
    found = problems(result_for("permission-denied"))
    assert found == {"p2p-unavailable": [Severity.INFO]}


def test_unsupported_counter_scenario():
    assert problems(result_for("unsupported-counter")) == {}


def gpu(**fields: object) -> GpuInfo:
    base = dict(
        index=0,
        name="NVIDIA GeForce RTX 4090",
        pcie_gen_current=4,
        pcie_gen_max=4,
        pcie_width_current=16,
        pcie_width_max=16,
        utilization_pct=95.0,
    )
    return GpuInfo(**(base | fields))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "severity"),
    [
        ({}, Severity.OK),
        ({"pcie_width_current": 8, "pcie_width_max": 8}, Severity.OK),  # an x8 slot, trained x8
        ({"pcie_width_current": 8}, Severity.WARNING),  # x16 card trained at x8
        ({"pcie_width_current": 4, "pcie_width_max": 4}, Severity.WARNING),  # x4: 5-10 % loss
        ({"pcie_width_current": 1}, Severity.ERROR),  # below x4
        ({"pcie_gen_current": 1}, Severity.WARNING),  # gen 1 while busy
        ({"pcie_gen_current": 1, "utilization_pct": 0.0}, Severity.INFO),  # idle downshift
    ],
)
def test_pcie_link_thresholds(fields: dict[str, object], severity: Severity):
    f = pcie_link(gpu(**fields))
    assert f is not None and f.severity == severity


def test_pcie_link_uses_the_under_load_reading():
    idle = gpu(pcie_gen_current=1, utilization_pct=0.0)
    loaded = TorchBench(sustained_pcie_gen=1, sustained_pcie_width=16, loaded_gpu_index=0)
    f = pcie_link(idle, loaded)
    assert f is not None and f.severity == Severity.WARNING and "under load" in f.message


def test_throttling_thresholds():
    near = throttling(gpu(temperature_c=88.0, slowdown_temp_c=90.0))
    assert near is not None and near.severity == Severity.WARNING  # within 5 °C of slowdown
    hot = throttling(gpu(temperature_c=80.0, slowdown_temp_c=90.0))
    assert hot is not None and hot.severity == Severity.INFO  # above the 75 °C target
    cool = throttling(
        gpu(temperature_c=60.0, slowdown_temp_c=90.0, throttle_reasons=["sw_power_cap"])
    )
    assert cool is not None and cool.severity == Severity.OK  # a power cap is not heat
    dips = TorchBench(
        sustained_sm_clock_min_mhz=1500.0, sustained_sm_clock_max_mhz=2500.0, loaded_gpu_index=0
    )
    f = throttling(gpu(temperature_c=70.0), dips)
    assert f is not None and f.severity == Severity.WARNING and "dipped" in f.message


def test_power_limit_thresholds():
    assert power_limit(gpu(power_limit_w=450.0, power_default_limit_w=450.0)) is None
    mild = power_limit(gpu(power_limit_w=400.0, power_default_limit_w=450.0))
    assert mild is not None and mild.severity == Severity.INFO  # >= 80 %: deliberate and cheap
    low = power_limit(gpu(power_limit_w=300.0, power_default_limit_w=450.0))
    assert low is not None and low.severity == Severity.WARNING


def test_pageable_copies():
    slow = pageable(TorchBench(h2d_pinned_gbs=24.0, h2d_pageable_gbs=6.0))
    assert slow is not None and slow.severity == Severity.WARNING and "25%" in slow.message
    fine = pageable(TorchBench(h2d_pinned_gbs=24.0, h2d_pageable_gbs=20.0))
    assert fine is not None and fine.severity == Severity.OK
    assert pageable(TorchBench()) is None


def one(findings: list[Finding], rule_id: str) -> Finding:
    found = [f for f in findings if f.id == rule_id]
    assert len(found) == 1, found
    return found[0]


def test_cgroup_cpu_limit():
    limited = CpuInfo(threads=64, affinity=64, cgroup_cpus=4.0, usable=4.0)
    f = fnd.cpu_limit(limited, n_gpus=2)
    assert f is not None and f.severity == Severity.WARNING
    assert "cgroup quota of 4 CPUs" in f.message and f.numbers["needed"].value == 14  # 2 x 5 + 4
    roomy = fnd.cpu_limit(CpuInfo(threads=64, affinity=32, usable=32.0), n_gpus=2)
    assert roomy is not None and roomy.severity == Severity.INFO
    assert fnd.cpu_limit(CpuInfo(), n_gpus=1) is None


def test_shm_small():
    docker_default = fnd.shm(DiskInfo(path="/", shm_gb=0.067), n_gpus=1)
    assert docker_default is not None and docker_default.severity == Severity.WARNING
    assert fnd.shm(DiskInfo(path="/", shm_gb=2.0), n_gpus=1).severity == Severity.OK  # type: ignore[union-attr]
    assert fnd.shm(DiskInfo(path="/", shm_gb=2.0), n_gpus=4).severity == Severity.WARNING  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("read_mbs", "n_gpus", "severity"),
    [
        (40.0, 1, Severity.ERROR),
        (60.0, 1, Severity.WARNING),
        (500.0, 1, Severity.OK),
        (150.0, 4, Severity.ERROR),
    ],
)
def test_disk_slow(read_mbs: float, n_gpus: int, severity: Severity):
    f = fnd.disk_speed(DiskInfo(path="/data", read_mbs=read_mbs, read_method="o_direct"), n_gpus)
    assert f is not None and f.severity == severity


def test_disk_read_from_cache_is_only_info():
    f = fnd.disk_speed(
        DiskInfo(path="/dev/shm", read_mbs=40.0, read_method="cached", read_note="tmpfs"), 1
    )
    assert f is not None and f.severity == Severity.INFO


def test_swap_active():
    assert fnd.swap(MemoryInfo(swap_used_gb=2.0, swap_total_gb=8.0)).severity == Severity.WARNING  # type: ignore[union-attr]
    assert fnd.swap(MemoryInfo(swap_used_gb=0.01)).severity == Severity.OK  # type: ignore[union-attr]
    assert fnd.swap(MemoryInfo()) is None


def test_threshold_arithmetic():
    assert pytest.approx(46.93, abs=0.01) == t.GUIDE_JPEG_MBS_PER_GPU  # 128 x 110 KB / 0.3 s
    assert pytest.approx(0.616) == t.SHM_PER_GPU_GB  # 4 workers x 2 batches x 77 MB
    assert fnd.required_cores(0) == 9 and fnd.required_cores(4) == 24


def test_every_probe_finding_has_a_source():
    r = result_for("throttling")
    for f in fnd.probe_findings(r):
        assert f.source and f.why
    assert backend("throttling").device_count() == 1


def test_throttling_without_a_temperature_reading_does_not_crash():
    # NVML gave the slowdown threshold but not the temperature: report, never raise.
    f = throttling(gpu(temperature_c=None, slowdown_temp_c=90.0))
    assert f is not None and f.severity == Severity.OK
    assert "temperature unavailable" in f.message


def test_a_disk_that_read_nothing_is_an_error_not_a_crash():
    f = fnd.disk_speed(DiskInfo(path="/mnt/share", read_mbs=0.0, read_method="o_direct"), 1)
    assert f is not None and f.severity == Severity.ERROR and "read nothing" in f.message
