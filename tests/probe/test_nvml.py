"""The NVML wrapper over recorded scenarios: decoding, per-field failures, whole-backend failures."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import pytest

from dlrig.probe.backend import GpuBackend, Unavailable
from dlrig.probe.fake import FakeNvml
from dlrig.probe.nvml import NvmlBackend, cuda_version_text, decode_throttle, open_backend
from probe_helpers import NVML, SCENARIOS, backend, fake

# Fields a GeForce card does not have: NVML answers Not Supported.
GEFORCE_MISSING = {"ecc_enabled", "mig_enabled"}


def test_scenarios_are_documented():
    assert set(SCENARIOS) >= {
        "healthy-4gpu",
        "x4-link",
        "throttling",
        "nvml-missing",
        "permission-denied",
        "unsupported-counter",
    }
    for name in SCENARIOS:
        data = json.loads((NVML / f"{name}.json").read_text())
        assert data["scenario"] == name
        assert data["description"] and data["provenance"]


def test_healthy_box_reads_every_field():
    b = backend("healthy-4gpu")
    assert isinstance(b, GpuBackend)
    assert b.device_count() == 4
    for i in range(4):
        g = b.gpu(i)
        assert g.name == "NVIDIA RTX A6000"
        assert set(g.unavailable) == {"mig_enabled"}  # RTX A6000 has no MIG
        assert g.memory_total_gb == pytest.approx(51.53, abs=0.01)
        assert (g.pcie_gen_current, g.pcie_width_current, g.pcie_width_max) == (4, 16, 16)
        assert g.power_limit_w == 300.0 and g.power_max_limit_w == 300.0
        assert g.persistence_mode is True and g.ecc_enabled is False
        assert g.nvlink_active_links == 4
        assert g.throttle_reasons == []
    s = b.system()
    assert (s.driver_version, s.cuda_driver_version) == ("550.54.15", "12.4")
    assert s.p2p_read[0] == ["X", "OK", "OK", "OK"]
    assert s.topology[0] == ["X", "NODE", "SYS", "SYS"]


def test_x4_link_and_geforce_gaps():
    b = backend("x4-link")
    g0, g1 = b.gpu(0), b.gpu(1)
    assert (g0.pcie_width_current, g1.pcie_width_current, g1.pcie_width_max) == (16, 4, 16)
    assert set(g1.unavailable) == GEFORCE_MISSING
    assert g1.unavailable["ecc_enabled"] == "nvmlDeviceGetEccMode: Not Supported"
    assert g1.nvlink_active_links == 0  # Not Supported on link 0 means no NVLink, not unknown
    assert b.system().p2p_read == [["X", "not supported"], ["not supported", "X"]]


def test_throttle_reasons_decoded():
    g = backend("throttling").gpu(0)
    assert g.throttle_reasons == ["sw_power_cap", "sw_thermal_slowdown", "hw_thermal_slowdown"]
    assert (g.temperature_c, g.slowdown_temp_c, g.shutdown_temp_c) == (91.0, 93.0, 98.0)
    assert (g.power_limit_w, g.power_default_limit_w, g.power_max_limit_w) == (250.0, 350.0, 400.0)
    assert backend("throttling").system().cuda_driver_version == "12.2"


def test_decode_throttle_keeps_unknown_bits():
    assert decode_throttle(0) == []
    assert decode_throttle(0x1 | 0x4) == ["gpu_idle", "sw_power_cap"]
    assert decode_throttle(0x40 | 0x800) == ["hw_thermal_slowdown", "0x800"]
    assert cuda_version_text(12040) == "12.4" and cuda_version_text(11080) == "11.8"


def test_nvml_missing_is_unavailable_not_an_exception():
    result = open_backend(fake("nvml-missing"))
    assert isinstance(result, Unavailable)
    assert str(result).startswith("unavailable: NVML: NVML Shared Library Not Found")


def test_permission_errors_stay_per_field():
    b = backend("permission-denied")
    g0 = b.gpu(0)
    assert g0.name == "NVIDIA GeForce RTX 4090" and g0.pcie_width_current == 16
    assert g0.power_draw_w is None and g0.persistence_mode is None
    assert g0.unavailable["power_limit_w"].endswith("Insufficient Permissions")
    assert g0.unavailable["throttle_reasons"].endswith("Insufficient Permissions")
    g1 = b.gpu(1)  # the handle itself is refused: a row with the reason, not a crash
    assert g1.index == 1 and g1.name is None
    assert g1.unavailable["name"] == "nvmlDeviceGetHandleByIndex: Insufficient Permissions"
    s = b.system()
    assert s.driver_version == "550.54.15" and s.cuda_driver_version is None
    assert s.p2p_read[0][1] == "unavailable: nvmlDeviceGetP2PStatus: Insufficient Permissions"


def test_one_unsupported_counter_keeps_the_row():
    g = backend("unsupported-counter").gpu(0)
    assert set(g.unavailable) == GEFORCE_MISSING | {"power_draw_w"}
    assert g.unavailable["power_draw_w"] == "nvmlDeviceGetPowerUsage: Not Supported"
    assert g.power_limit_w == 450.0 and g.temperature_c == 66.0 and g.utilization_pct == 99.0


def test_utilization_and_close():
    nv = fake("x4-link")
    with open_backend(nv) as b:
        assert [b.utilization_pct(i) for i in range(b.device_count())] == [99.0, 99.0]
        assert b.utilization_pct(7) is None  # no such GPU: None, not an exception
    assert nv.shutdowns == 1


def test_function_missing_from_old_nvidia_ml_py():
    class Error(Exception):
        value = 999

    nv = SimpleNamespace(
        NVMLError=Error,
        nvmlInit=lambda: None,
        nvmlShutdown=lambda: None,
        nvmlDeviceGetCount=lambda: 1,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=lambda h: b"Tesla T4",
    )
    b = NvmlBackend(nv)
    g = b.gpu(0)
    assert g.name == "Tesla T4"  # bytes decoded
    assert g.unavailable["uuid"] == "nvmlDeviceGetUUID: not in this nvidia-ml-py version"
    assert "not in this nvidia-ml-py version" in g.unavailable["throttle_reasons"]


def test_without_nvidia_ml_py(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml raises ImportError
    result = open_backend()
    assert isinstance(result, Unavailable)
    assert "nvidia-ml-py is not installed" in result.reason


def test_real_nvml_never_raises():
    result = open_backend()  # on this machine: no driver; on a GPU box: a backend
    if isinstance(result, NvmlBackend):
        result.close()
    else:
        assert result.reason


def test_fake_refuses_calls_before_init():
    nv = FakeNvml.from_file(NVML / "x4-link.json")
    with pytest.raises(nv.NVMLError):
        nv.nvmlDeviceGetCount()


def test_malformed_replies_lose_one_field_each():
    """A reply of the wrong shape is that field unavailable, never the whole GPU list."""
    nv = fake("x4-link")
    nv.devices[0].update(
        {
            "nvmlDeviceGetPowerManagementLimitConstraints": [0],  # IndexError
            "nvmlDeviceGetMemoryInfo": 5,  # AttributeError: no .total
            "nvmlDeviceGetPowerUsage": "abc",  # ValueError
            "nvmlDeviceGetEccMode": [],  # IndexError
        }
    )
    del nv.scenario["p2p_read"]  # KeyError in the fake's table
    b = open_backend(nv)
    assert isinstance(b, NvmlBackend)
    g0, g1 = b.gpu(0), b.gpu(1)
    bad = {"power_max_limit_w", "memory_total_gb", "memory_used_gb", "power_draw_w", "ecc_enabled"}
    for name in bad:
        assert getattr(g0, name) is None
        assert "malformed reply (" in g0.unavailable[name], (name, g0.unavailable[name])
    assert g0.unavailable["power_max_limit_w"] == (
        "nvmlDeviceGetPowerManagementLimitConstraints: malformed reply"
        " (IndexError: tuple index out of range)"
    )
    assert g0.name == g1.name and g0.power_limit_w == g1.power_limit_w is not None
    assert g1.power_max_limit_w is not None and g1.memory_total_gb is not None
    s = b.system()
    assert s.p2p_read[0][1] == (
        "unavailable: nvmlDeviceGetP2PStatus: malformed reply (KeyError: 'p2p_read')"
    )
    assert s.topology[0][1] != "X" and not s.topology[0][1].startswith("unavailable")


def test_replies_of_the_wrong_type_lose_their_field_not_the_probe(tmp_path):
    from dlrig.probe.gpu_findings import pcie_link, power_limit, throttling

    data = json.loads((NVML / "healthy-4gpu.json").read_text())
    for dev in data["devices"]:
        for fn in dev:
            if fn != "nvmlDeviceGetName":
                dev[fn] = "garbage"
    path = tmp_path / "garbage.json"
    path.write_text(json.dumps(data))
    backend = open_backend(FakeNvml.from_file(path))
    assert isinstance(backend, NvmlBackend)
    gpu = backend.gpu(0)
    assert gpu.name == "NVIDIA RTX A6000"
    assert gpu.pcie_width_current is None and gpu.temperature_c is None
    assert "pcie_width_current" in gpu.unavailable and "temperature_c" in gpu.unavailable
    # The findings see None, with reasons, and do not raise.
    for finding in (pcie_link(gpu), throttling(gpu), power_limit(gpu)):
        assert finding is None or finding.message
