"""The probe's result: one section per device class plus the findings (`--format json`).

Like `models.py`, every None value has its reason in the section's `unavailable` map, and every
field's description names the command that cross-checks it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from dlrig.model.finding import Finding
from dlrig.probe.models import PROBE_SCHEMA, GpuInfo, GpuSystem, Section, _d


class CpuInfo(Section):
    model: str | None = Field(None, description=_d("CPU model string", "lscpu: Model name"))
    sockets: int | None = Field(None, description=_d("CPU packages", "lscpu: Socket(s)"))
    cores_physical: int | None = Field(None, description=_d("physical cores, all sockets", "lscpu"))
    threads: int | None = Field(None, description=_d("logical CPUs", "nproc --all"))
    affinity: int | None = Field(None, description=_d("CPUs this process may run on", "nproc"))
    cgroup_cpus: float | None = Field(
        None, description=_d("cgroup CPU quota in CPUs", "cat /sys/fs/cgroup/cpu.max")
    )
    usable: float | None = Field(
        None, description=_d("min(affinity, cgroup quota): CPUs training can use", "nproc")
    )
    freq_mhz: float | None = Field(None, description=_d("current clock", "lscpu: CPU MHz"))
    freq_max_mhz: float | None = Field(None, description=_d("highest clock", "lscpu: CPU max MHz"))
    l1d_kb: float | None = Field(None, description=_d("L1 data cache per core", "lscpu --caches"))
    l2_kb: float | None = Field(None, description=_d("L2 cache per instance", "lscpu --caches"))
    l3_mb: float | None = Field(None, description=_d("L3 cache per instance", "lscpu --caches"))
    numa_nodes: int | None = Field(None, description=_d("NUMA nodes", "numactl --hardware"))


class MemoryInfo(Section):
    total_gb: float | None = Field(None, description=_d("installed RAM the OS sees", "free -g"))
    available_gb: float | None = Field(None, description=_d("available now", "free -g"))
    cgroup_limit_gb: float | None = Field(
        None, description=_d("cgroup memory limit", "cat /sys/fs/cgroup/memory.max")
    )
    swap_total_gb: float | None = Field(None, description=_d("swap size", "swapon --show"))
    swap_used_gb: float | None = Field(None, description=_d("swap in use", "free -g"))
    dimm_speed_mts: float | None = Field(
        None, description=_d("configured DIMM speed", "sudo dmidecode -t memory")
    )
    dimms_populated: int | None = Field(
        None, description=_d("DIMM slots with a module", "sudo dmidecode -t memory")
    )
    channels_populated: int | None = Field(
        None,
        description=_d("memory channels with a DIMM, from slot names", "sudo dmidecode -t memory"),
    )
    bandwidth_gbs: float | None = Field(
        None,
        description=_d(
            "best of the 1- and n-thread copies, (read + written bytes) / s (STREAM)",
            "stream; mbw -t1 SIZE_MiB (x 2.1: mbw counts bytes once)",
        ),
    )
    bandwidth_1t_gbs: float | None = Field(
        None, description=_d("best single-threaded copy, STREAM convention", "mbw -t1 SIZE_MiB")
    )
    bandwidth_threads: int | None = None
    bandwidth_buffer_mb: float | None = None


class DiskInfo(Section):
    path: str = Field(description="the directory measured (--data-dir)")
    filesystem: str | None = Field(None, description=_d("filesystem type", "findmnt -T PATH"))
    mountpoint: str | None = Field(None, description=_d("mount point", "findmnt -T PATH"))
    device: str | None = Field(None, description=_d("block device", "lsblk; findmnt -T PATH"))
    rotational: bool | None = Field(None, description=_d("spinning disk", "lsblk -d -o NAME,ROTA"))
    network: bool | None = Field(None, description=_d("network filesystem", "findmnt -T PATH"))
    kind: str | None = Field(None, description="hdd | sata-ssd | nvme | network, as the build file")
    kind_basis: str | None = Field(None, description="how the kind was told, or why it is unknown")
    size_tb: float | None = Field(None, description=_d("filesystem size", "df -h PATH"))
    read_mbs: float | None = Field(
        None,
        description=_d(
            "sequential read, MB/s (1e6 B)",
            "fio --name=r --rw=read --bs=4M --direct=1 --size=256M --directory=PATH",
        ),
    )
    read_method: str | None = Field(
        None, description="o_direct | fadvise_dontneed | cached: how the page cache was avoided"
    )
    read_note: str | None = None
    read_test_mb: float | None = None
    iops_4k: float | None = Field(
        None,
        description=_d(
            "random 4 KiB reads per second, queue depth 1",
            "fio --rw=randread --bs=4k --direct=1 --iodepth=1",
        ),
    )
    shm_gb: float | None = Field(None, description=_d("/dev/shm size", "df -h /dev/shm"))


class TorchBench(Section):
    """Measurements that need PyTorch with CUDA (`python -m torch.utils.collect_env`)."""

    torch_version: str | None = None
    loaded_gpu_index: int | None = Field(
        None, description="NVML index of the GPU PyTorch calls cuda:0 (matched by UUID)"
    )
    h2d_pinned_gbs: float | None = Field(
        None,
        description=_d(
            "host->device from pinned memory", "nvbandwidth; cuda-samples bandwidthTest"
        ),
    )
    h2d_pageable_gbs: float | None = Field(
        None, description=_d("host->device from pageable memory", "bandwidthTest --memory=pageable")
    )
    d2h_pinned_gbs: float | None = Field(
        None, description=_d("device->host, pinned", "bandwidthTest")
    )
    d2h_pageable_gbs: float | None = Field(
        None, description=_d("device->host, pageable", "bandwidthTest --memory=pageable")
    )
    p2p_gbs: float | None = Field(
        None, description=_d("GPU 0 -> GPU 1 copy", "p2pBandwidthLatencyTest; nvbandwidth")
    )
    p2p_direct: bool | None = Field(
        None, description=_d("GPU 0 and 1 have peer access", "nvidia-smi topo -p2p r")
    )
    device_bandwidth_gbs: float | None = Field(
        None, description=_d("on-device copy, read + write", "nvbandwidth; cuda-samples")
    )
    matmul_tflops: dict[str, float] = Field(
        default_factory=dict, description=_d("dense matmul TFLOPS per dtype", "cuBLAS gemm bench")
    )
    matmul_pct_of_peak: dict[str, float] = Field(
        default_factory=dict,
        description=_d("measured / catalog dense peak, %", "dlrig parts gpus; the datasheet"),
    )
    sustained_s: float | None = Field(None, description="length of the full-mode matmul load")
    sustained_sm_clock_min_mhz: float | None = Field(
        None, description=_d("lowest SM clock under load", "nvidia-smi dmon -s c")
    )
    sustained_sm_clock_max_mhz: float | None = Field(
        None, description=_d("highest SM clock under load", "nvidia-smi dmon -s c")
    )
    sustained_temp_max_c: float | None = Field(
        None, description=_d("hottest under load", "nvidia-smi dmon -s p")
    )
    sustained_throttle_reasons: list[str] | None = Field(
        None, description=_d("reasons seen under load", "nvidia-smi -q -d PERFORMANCE")
    )
    sustained_pcie_gen: int | None = Field(
        None, description=_d("GPU 0's link generation under load", "lspci -vv: LnkSta")
    )
    sustained_pcie_width: int | None = Field(
        None, description=_d("GPU 0's link width under load", "lspci -vv: LnkSta")
    )


class ProbeResult(BaseModel):
    """Everything `dlrig probe` measured, in the JSON schema `dlrig.probe/1`."""

    quick: bool
    duration_s: float
    cpu: CpuInfo
    memory: MemoryInfo
    disk: DiskInfo
    gpu_status: str = Field(description='"ok" or "unavailable: <reason>"')
    gpu_system: GpuSystem | None = None
    gpus: list[GpuInfo] = Field(default_factory=list)
    torch: TorchBench = Field(default_factory=TorchBench)
    findings: list[Finding] = Field(default_factory=list)

    def to_json_dict(self) -> dict[str, Any]:
        return {"schema": PROBE_SCHEMA, **self.model_dump(mode="json")}
