"""Helpers for the probe tests (on pytest's pythonpath): NVML scenarios replayed by FakeNvml,
tiny measurement sizes, and probe results built from a scenario plus a healthy host."""

from __future__ import annotations

from pathlib import Path

from dlrig.probe import run
from dlrig.probe.backend import Unavailable
from dlrig.probe.fake import FakeNvml
from dlrig.probe.nvml import NvmlBackend, open_backend
from dlrig.probe.result import CpuInfo, DiskInfo, MemoryInfo, ProbeResult

DATA = Path(__file__).resolve().parent / "data"
NVML = DATA / "nvml"
SCENARIOS = sorted(p.stem for p in NVML.glob("*.json"))
# Sizes small enough that a whole probe runs in well under a second.
TINY = run.Sizes(
    memory_buffer_mb=4,
    memory_runs=1,
    disk_test_mb=4,
    disk_iops_s=None,
    disk_write_budget_s=None,
    copy_mb=1,
    matmul_n=64,
    gpu_runs=1,
    sustained_s=None,
)


def fake(name: str) -> FakeNvml:
    return FakeNvml.from_file(NVML / f"{name}.json")


def backend(name: str) -> NvmlBackend:
    b = open_backend(fake(name))
    assert isinstance(b, NvmlBackend), b
    return b


def host(**changes: object) -> dict[str, object]:
    """A healthy 64-thread host with a fast NVMe data disk; `changes` replace sections."""
    parts: dict[str, object] = {
        "cpu": CpuInfo(
            model="AMD Ryzen Threadripper PRO 5975WX 32-Cores",
            sockets=1,
            cores_physical=32,
            threads=64,
            affinity=64,
            usable=64.0,
            freq_mhz=3600.0,
            l3_mb=128.0,
            numa_nodes=1,
        ),
        "memory": MemoryInfo(
            total_gb=256, available_gb=240, swap_total_gb=8, swap_used_gb=0.0, bandwidth_gbs=80.5
        ),
        "disk": DiskInfo(
            path="/data", kind="nvme", read_mbs=3000.0, read_method="o_direct", shm_gb=128.0
        ),
    }
    return parts | changes


def result_for(scenario: str, **changes: object) -> ProbeResult:
    """A probe result: the scenario's GPUs as NVML reports them, on the healthy host."""
    b = open_backend(fake(scenario))
    if isinstance(b, Unavailable):
        gpus, system, status = [], None, str(b)
    else:
        gpus = [b.gpu(i) for i in range(b.device_count())]
        system, status = b.system(), "ok"
    return ProbeResult(
        quick=True,
        duration_s=0.0,
        gpu_status=status,
        gpus=gpus,
        gpu_system=system,
        **host(**changes),  # type: ignore[arg-type]
    )
